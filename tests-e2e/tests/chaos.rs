//! Chaos: four bot instances as separate OS processes (this test binary started again in child
//! mode) behind a round-robin load balancer, sharing a Redis server that the test runs itself
//! (`redis-server` on a free loopback port, append-only file on, in a temp dir). While 60
//! customers on 3 Kf accounts each write 12 messages:
//!
//! - the simulator answers `send_msg` with -1 (system busy) now and then, loses the answer of a
//!   handled `send_msg` now and then (the retry meets the duplicate-msgid refusal), answers
//!   `sync_msg` with HTTP 502 now and then, and adds latency to API calls;
//! - one instance is SIGKILLed and started again every [`KILL_EVERY`] (2 s), in turn;
//! - the Redis server is SIGKILLed once, 8 s in, and started again on its append-only file
//!   [`REDIS_DOWN`] (2 s) later, while the kills go on. Its default `appendfsync everysec` may
//!   lose the last second of writes (leases, marks, handled msgids, budgets) as a real crash
//!   would.
//!
//! Customers write as people do: they wait a few seconds for the answer, and if none comes they
//! write their next message anyway.
//!
//! Shown: every message is answered exactly once (the simulator stored each answer text once and
//! nothing else), no account stalls (every answer came within [`STALL`] of its message), and no
//! send is refused with 95001. A re-sent reply refused as a duplicate msgid (after a lost answer,
//! or a handler run again after a kill) is not a double: the customer saw it once.
//!
//! Needs `redis-server` on the PATH (`.ci/run` installs it); without it the test fails, unless
//! `WXKF_SKIP_REDIS=1` skips the Redis tests on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Balancer, Instance, Line, SKIP_VAR, doubles, prefix, say, sent_texts, temp_dir};
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_bot::{Bot, BotConfig, HandlerError, ReplyContext, handler_fn};
use wxkf_client::RedisTokenStore;
use wxkf_crypto::{CallbackCrypto, generate_credentials};
use wxkf_sim::{Fault, FaultRule, LostAnswer};
use wxkf_types::message::{Message, MessageContent};

/// Set (to the child's number) only in a child process.
const CHILD: &str = "WXKF_CHAOS_CHILD";
const ACCOUNTS: [&str; 3] = ["wkCHAOS1", "wkCHAOS2", "wkCHAOS3"];
const CUSTOMERS: usize = 60;
const MESSAGES: usize = 12;
const INSTANCES: usize = 4;
/// The pull lease: how long an account waits for a killed holder at most.
const LEASE: Duration = Duration::from_secs(3);
/// One instance is killed and started again this often.
const KILL_EVERY: Duration = Duration::from_secs(2);
/// How long the Redis server stays down.
const REDIS_DOWN: Duration = Duration::from_secs(2);
/// How long a customer waits for an answer before writing the next message anyway.
const PATIENCE: Duration = Duration::from_secs(3);
/// Every answer comes within this time of its message: no account stalls.
const STALL: Duration = Duration::from_secs(20);
/// The instances' reconcile pull; with a start-up pull per restart it stays within the
/// simulator's tokenless budget set below (60 per minute per account).
const RECONCILE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// child mode: one bot instance

/// The entry point of a child process; ignored in normal runs, started by the test below.
#[test]
#[ignore = "a bot instance run as a child process by the chaos test"]
fn chaos_child() {
    if std::env::var(CHILD).is_err() {
        panic!("chaos_child is started by the chaos test in this file, not by hand");
    }
    support::exit_with_parent();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run_child());
}

async fn run_child() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let (corp, prefix) = (var("WXKF_T_CORP"), var("WXKF_T_PREFIX"));
    // the Redis server may be down right now (the test restarts it): keep trying
    let redis = redis::Client::open(var("WXKF_T_REDIS")).unwrap();
    // (ConnectionManager::new retries with a growing backoff of its own: bounded here)
    let conn = loop {
        let connect = redis::aio::ConnectionManager::new(redis.clone());
        match tokio::time::timeout(Duration::from_millis(500), connect).await {
            Ok(Ok(c)) => break c,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let tokens = RedisTokenStore::from_connection(conn.clone()).with_prefix(&prefix);
    let client = wxkf_client::Client::builder(&corp, var("WXKF_T_SECRET"))
        .base_url(var("WXKF_T_SIM"))
        .token_store(Arc::new(tokens))
        .build()
        .unwrap();
    // echoes texts after "thinking" 50–250 ms
    let handler = handler_fn(|ctx: ReplyContext, msg: Message| async move {
        if let MessageContent::Text(t) = &msg.content {
            let think = 50 + msg.msgid.bytes().map(u64::from).sum::<u64>() % 200;
            tokio::time::sleep(Duration::from_millis(think)).await;
            ctx.reply_text(&format!("echo: {}", t.content)).await?;
        }
        Ok::<(), HandlerError>(())
    });
    let config = BotConfig::default()
        .with_lease_ttl(LEASE)
        // a Redis outage or a run of -1 answers outlasts a few quick retries
        .with_retries(6, Duration::from_millis(250))
        .with_pull_retry(Duration::from_millis(200), Duration::from_secs(2))
        .with_reconcile_interval(Some(RECONCILE));
    let bot = Bot::builder(client, handler).redis(conn, &prefix).config(config).build().unwrap();
    let crypto = CallbackCrypto::new(&var("WXKF_T_CB_TOKEN"), &var("WXKF_T_CB_KEY"), &corp).unwrap();
    let app = bot_router(CallbackConfig::new(crypto), bot);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    say(&format!("READY {}", listener.local_addr().unwrap()));
    axum::serve(listener, app).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// parent side

/// The test's own Redis server, with the append-only file on.
struct RedisServer {
    process: Child,
    port: u16,
}

impl RedisServer {
    async fn start(port: u16, dir: &std::path::Path) -> RedisServer {
        let process = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--appendonly", "yes", "--save", ""])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): install it (`.ci/run` does), or set {SKIP_VAR}=1 to skip \
                     the Redis tests on purpose"
                )
            });
        let server = RedisServer { process, port };
        let url = server.url();
        let up = Instant::now();
        loop {
            let ping = async {
                let client = redis::Client::open(url.as_str())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), ping).await {
                return server;
            }
            assert!(
                up.elapsed() < Duration::from_secs(10),
                "redis-server on port {port} did not answer within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL: whatever the append-only file holds is what survives.
    fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What one customer saw: per message, when it was said and how long until its answer showed
/// (`None`: never).
type Chat = Vec<(Instant, Option<Duration>)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_answer_every_message_exactly_once_through_kills_redis_restart_and_faults() {
    if std::env::var(SKIP_VAR).as_deref() == Ok("1") {
        eprintln!("note: chaos skipped: {SKIP_VAR}=1");
        return;
    }
    let redis_dir = temp_dir("chaos-redis");
    let port = free_port();
    let mut redis = RedisServer::start(port, &redis_dir).await;

    let mut builder = wxkf_sim::Sim::builder()
        .callback_timeout(Duration::from_secs(3))
        .tokenless_sync_limit(60, Duration::from_secs(60));
    for kf in ACCOUNTS {
        builder = builder.account(kf, kf);
    }
    let sim = builder.start().await.unwrap();
    let send = "/cgi-bin/kf/send_msg";
    sim.inject(FaultRule::new(Fault::Errcode(-1)).path(send).rate(0.05));
    sim.inject(FaultRule::new(Fault::AfterHandle(LostAnswer::Reset)).path(send).rate(0.03));
    sim.inject(FaultRule::new(Fault::HttpStatus(502)).path("/cgi-bin/kf/sync_msg").rate(0.05));
    sim.inject(FaultRule::new(Fault::Latency(Duration::from_millis(80))).rate(0.2));

    let (token, key) = generate_credentials().unwrap();
    let env: Vec<(String, String)> = [
        ("WXKF_T_CORP", sim.corp_id()),
        ("WXKF_T_SECRET", sim.secret()),
        ("WXKF_T_SIM", sim.base_url()),
        ("WXKF_T_REDIS", redis.url()),
        ("WXKF_T_PREFIX", prefix("chaos")),
        ("WXKF_T_CB_TOKEN", token.expose_secret().to_owned()),
        ("WXKF_T_CB_KEY", key.expose_secret().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let env_of = |id: usize| {
        let mut e = env.clone();
        e.push((CHILD.to_owned(), id.to_string()));
        e
    };
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<Line>();
    tokio::spawn(async move { while lines.recv().await.is_some() {} });
    let balancer = Balancer::start().await;
    // each instance is running, or starting again (an instance started while Redis is down
    // waits for it before it reports READY; the chaos goes on meanwhile)
    let mut instances: Vec<Option<Instance>> = Vec::new();
    let mut starting: Vec<Option<tokio::task::JoinHandle<Instance>>> = Vec::new();
    for id in 0..INSTANCES {
        let i = Instance::start("chaos_child", id, 0, &env_of(id), line_tx.clone()).await;
        balancer.set(id, i.addr);
        instances.push(Some(i));
        starting.push(None);
    }
    sim.set_callback(&balancer.url, token.expose_secret(), key.expose_secret()).unwrap();

    let started = Instant::now();
    let chats: Vec<_> = (0..CUSTOMERS)
        .map(|i| {
            let c = sim.customer(ACCOUNTS[i % ACCOUNTS.len()], &format!("wmCHAOS{i:02}"));
            tokio::spawn(async move {
                let mut chat: Chat = Vec::new();
                let mut seen = 0;
                for m in 0..MESSAGES {
                    c.say(&format!("{}/{m}", c.external_userid()));
                    chat.push((Instant::now(), None));
                    // wait a few seconds for the answer; without one, write the next message anyway
                    let patience = Instant::now() + PATIENCE;
                    while seen < chat.len() {
                        let left = patience.saturating_duration_since(Instant::now());
                        let got = c.wait_for_replies(seen + 1, left).await.len();
                        let now = Instant::now();
                        for (said, answered) in chat.iter_mut().take(got).skip(seen) {
                            *answered = Some(now - *said);
                        }
                        seen = seen.max(got);
                        if now >= patience {
                            break;
                        }
                    }
                    // read the answer, think, type: a second or two
                    let pause = 500 + (i as u64 * 131 + m as u64 * 71) % 1500;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                // the answers still owed
                let end = Instant::now() + STALL;
                while seen < MESSAGES && Instant::now() < end {
                    let got = c
                        .wait_for_replies(seen + 1, end.saturating_duration_since(Instant::now()))
                        .await
                        .len();
                    let now = Instant::now();
                    for (said, answered) in chat.iter_mut().take(got).skip(seen) {
                        *answered = Some(now - *said);
                    }
                    seen = seen.max(got);
                }
                (c, chat)
            })
        })
        .collect();

    // the chaos: an instance killed and restarted every few seconds, Redis killed once
    let mut kills = 0usize;
    let mut redis_restarted = false;
    // the Redis server is down for REDIS_DOWN from 8 s in, while the instance kills go on
    let mut redis_down: Option<Instant> = None;
    let mut next_kill = Instant::now() + KILL_EVERY;
    while !chats.iter().all(|c| c.is_finished()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if redis_down.is_none() && !redis_restarted && started.elapsed() > Duration::from_secs(8) {
            redis.kill();
            redis_down = Some(Instant::now());
        }
        if redis_down.is_some_and(|t| t.elapsed() >= REDIS_DOWN) {
            redis = RedisServer::start(port, &redis_dir).await;
            redis_down = None;
            redis_restarted = true;
        }
        for id in 0..INSTANCES {
            if starting[id].as_ref().is_some_and(|s| s.is_finished()) {
                let i = starting[id].take().unwrap().await.unwrap();
                balancer.set(id, i.addr);
                instances[id] = Some(i);
            }
        }
        if Instant::now() >= next_kill {
            // the next running instance in turn
            if let Some(victim) =
                (0..INSTANCES).map(|k| (kills + k) % INSTANCES).find(|v| instances[*v].is_some())
            {
                balancer.remove(victim);
                if let Some(mut i) = instances[victim].take() {
                    i.kill();
                }
                kills += 1;
                let (env, lines) = (env_of(victim), line_tx.clone());
                starting[victim] = Some(tokio::spawn(async move {
                    Instance::start("chaos_child", victim, kills, &env, lines).await
                }));
            }
            next_kill = Instant::now() + KILL_EVERY;
        }
    }
    let mut results = Vec::new();
    for c in chats {
        results.push(c.await.unwrap());
    }
    let elapsed = started.elapsed();
    // late doubles would show now
    tokio::time::sleep(Duration::from_secs(2)).await;

    let texts = sent_texts(&sim);
    let mut unanswered = Vec::new();
    let mut slow = Vec::new();
    let mut worst = Duration::ZERO;
    for (c, chat) in &results {
        for (m, (_, latency)) in chat.iter().enumerate() {
            let text = format!("echo: {}/{m}", c.external_userid());
            let key = (c.open_kfid().to_owned(), c.external_userid().to_owned(), text);
            match texts.get(&key) {
                Some(1) => {}
                Some(n) => panic!("{key:?} was answered {n} times"),
                None => unanswered.push(key.clone()),
            }
            match latency {
                Some(l) if *l <= STALL => worst = worst.max(*l),
                _ => slow.push((key, *latency)),
            }
        }
    }
    assert!(unanswered.is_empty(), "{} unanswered: {unanswered:?}", unanswered.len());
    assert!(slow.is_empty(), "answered later than {STALL:?} (an account stalled): {slow:?}");
    assert_eq!(doubles(&sim), [], "a customer saw an answer twice");
    assert_eq!(sim.sent().len(), CUSTOMERS * MESSAGES, "nothing but the answers was sent");
    assert!(kills >= 5, "only {kills} instance kills in {elapsed:?}");
    assert!(redis_restarted, "the Redis server was not restarted");
    let fired: Vec<u64> = sim.faults().iter().map(FaultRule::fired).collect();
    assert!(fired.iter().all(|f| *f > 0), "a fault never fired: {fired:?}");
    let refused = sim.calls().iter().filter(|c| c.path == send && c.errcode == Some(40058)).count();
    let over_budget = sim.calls().iter().filter(|c| c.errcode == Some(95001)).count();
    assert_eq!(over_budget, 0, "WeCom (the simulator) refused sends over the 5-reply budget");
    let limited =
        sim.calls().iter().filter(|c| c.path == "/cgi-bin/kf/sync_msg" && c.errcode == Some(45009)).count();
    assert_eq!(limited, 0, "the reconcile and start-up pulls went over the tokenless sync_msg limit");
    println!(
        "{} messages in {elapsed:?}: {kills} instance kills, Redis restarted once; faults fired \
         (-1, lost answer, 502, latency) {fired:?}; {refused} re-sends refused as duplicates; slowest answer \
         {worst:?}; callbacks per instance {:?}",
        CUSTOMERS * MESSAGES,
        balancer.served()
    );
    for s in starting.into_iter().flatten() {
        drop(s.await);
    }
    drop(instances);
    balancer.stop();
    sim.shutdown();
    drop(redis);
    let _ = std::fs::remove_dir_all(&redis_dir);
}
