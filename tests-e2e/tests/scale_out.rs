//! Several bot instances behave as one (docs/scaling.md): each instance is its own OS process
//! (this test binary started again in child mode), all share one Redis server (`REDIS_URL`,
//! default `redis://127.0.0.1:6379`) and one simulator, and the simulator's callbacks reach them
//! through a round-robin load balancer, as in production.
//!
//! Separate processes matter: clients in one process would also share the in-process token lock,
//! so only separate processes show that the Redis lock alone keeps `gettoken` to one call.
//!
//! With no Redis answering the tests fail; `WXKF_SKIP_REDIS=1` skips them on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Balancer, Instance, Line, doubles, prefix, redis_required, redis_url, say, sent_texts};
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_bot::{Bot, BotConfig, HandlerError, ReplyContext, handler_fn};
use wxkf_client::RedisTokenStore;
use wxkf_crypto::{CallbackCrypto, generate_credentials};
use wxkf_sim::{Fault, FaultRule, SimHandle};
use wxkf_types::message::{Message, MessageContent};

/// Set (to the child's number) only in a child process.
const CHILD: &str = "WXKF_SCALE_CHILD";

/// The tests of this file run one at a time: each starts several processes, and timings (lease
/// takeover) should not depend on the other test's load on a small CI machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn redis_up(test: &str) -> bool {
    redis_required(test, &redis_url()).await
}

// ---------------------------------------------------------------------------------------------
// child mode: one bot instance

/// The entry point of a child process; it is ignored in normal runs and started by the tests
/// below with `--ignored --exact child_instance` and its settings in the environment.
#[test]
#[ignore = "a bot instance run as a child process by the scale-out tests"]
fn child_instance() {
    let Ok(id) = std::env::var(CHILD) else {
        panic!("child_instance is started by the scale-out tests in this file, not by hand");
    };
    // the parent holds our stdin: when it goes away (test over, or it panicked), so do we
    support::exit_with_parent();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run_child(id));
}

async fn run_child(id: String) {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let (corp, prefix) = (var("WXKF_T_CORP"), var("WXKF_T_PREFIX"));
    let lease = Duration::from_millis(var("WXKF_T_LEASE_MS").parse().unwrap());
    let redis = redis::Client::open(var("WXKF_T_REDIS")).unwrap();
    let conn = redis::aio::ConnectionManager::new(redis).await.unwrap();

    let tokens = RedisTokenStore::from_connection(conn.clone()).with_prefix(&prefix);
    let client = wxkf_client::Client::builder(&corp, var("WXKF_T_SECRET"))
        .base_url(var("WXKF_T_SIM"))
        .token_store(Arc::new(tokens))
        .build()
        .unwrap();

    // echoes texts; the first instance to see a "hang:" text (decided in Redis) announces it and
    // never returns, so the parent can kill it in the middle of a pull
    let hang = (conn.clone(), format!("{prefix}test-hung:"), id.clone());
    let handler = handler_fn(move |ctx: ReplyContext, msg: Message| {
        let (mut conn, hung_key, id) = (hang.0.clone(), format!("{}{}", hang.1, msg.msgid), hang.2.clone());
        async move {
            if let MessageContent::Text(t) = &msg.content {
                if t.content.starts_with("hang:") {
                    let first: Option<String> =
                        redis::cmd("SET").arg(&hung_key).arg(&id).arg("NX").query_async(&mut conn).await?;
                    if first.is_some() {
                        say(&format!("HANG {}", msg.msgid));
                        std::future::pending::<()>().await;
                    }
                }
                ctx.reply_text(&format!("echo: {}", t.content)).await?;
            }
            Ok::<(), HandlerError>(())
        }
    });
    let bot = Bot::builder(client, handler)
        .redis(conn, &prefix)
        .config(BotConfig::default().with_lease_ttl(lease).with_retries(2, Duration::from_millis(100)))
        .build()
        .expect("valid bot config");
    let crypto = CallbackCrypto::new(&var("WXKF_T_CB_TOKEN"), &var("WXKF_T_CB_KEY"), &corp).unwrap();
    let app = bot_router(CallbackConfig::new(crypto), bot);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    say(&format!("READY {}", listener.local_addr().unwrap()));
    axum::serve(listener, app).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// parent side: the instances, and a load balancer in front of them

struct Fleet {
    instances: Vec<Instance>,
    balancer: Arc<Balancer>,
    hangs: tokio::sync::mpsc::UnboundedReceiver<(usize, String)>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.balancer.stop();
    }
}

impl Fleet {
    /// Starts `n` instances against `sim`, all with the Redis `prefix`, and points the
    /// simulator's callbacks at a load balancer in front of them.
    async fn start(sim: &SimHandle, n: usize, prefix: &str, lease: Duration) -> Fleet {
        let (token, key) = generate_credentials().unwrap();
        let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<Line>();
        let (hang_tx, hangs) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(l) = lines.recv().await {
                if let Some(msgid) = l.text.strip_prefix("HANG ") {
                    let _ = hang_tx.send((l.id, msgid.to_owned()));
                }
            }
        });
        let balancer = Balancer::start().await;
        let mut instances = Vec::new();
        for id in 0..n {
            let env: Vec<(String, String)> = [
                (CHILD, id.to_string()),
                ("WXKF_T_CORP", sim.corp_id()),
                ("WXKF_T_SECRET", sim.secret()),
                ("WXKF_T_SIM", sim.base_url()),
                ("WXKF_T_REDIS", redis_url()),
                ("WXKF_T_PREFIX", prefix.to_owned()),
                ("WXKF_T_LEASE_MS", lease.as_millis().to_string()),
                ("WXKF_T_CB_TOKEN", token.expose_secret().to_owned()),
                ("WXKF_T_CB_KEY", key.expose_secret().to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let instance = Instance::start("child_instance", id, 0, &env, line_tx.clone()).await;
            balancer.set(id, instance.addr);
            instances.push(instance);
        }
        sim.set_callback(&balancer.url, token.expose_secret(), key.expose_secret()).unwrap();
        Fleet { instances, balancer, hangs }
    }

    /// `kill -9` of instance `id`; the balancer stops sending to it.
    fn kill(&mut self, id: usize) {
        self.balancer.remove(id);
        self.instances[id].kill();
    }

    fn served(&self) -> std::collections::HashMap<usize, usize> {
        self.balancer.served()
    }
}

/// `send_msg` calls refused as a duplicate msgid. The bot derives reply msgids from the incoming
/// msgid, so each is a handler run again for a message it had answered: in these tests, which
/// inject no lost answers ([`Fault::AfterHandle`]), nothing else makes one. (With lost answers a
/// retried send legitimately meets the refusal; chaos.rs counts doubles with [`doubles`] only.)
fn reruns(sim: &SimHandle) -> usize {
    sim.calls().iter().filter(|c| c.path == "/cgi-bin/kf/send_msg" && c.errcode == Some(40058)).count()
}

// ---------------------------------------------------------------------------------------------

const ACCOUNTS: [&str; 3] = ["wkSCALE1", "wkSCALE2", "wkSCALE3"];
const CUSTOMERS_PER_ACCOUNT: usize = 20;
const MESSAGES: usize = 1000;

/// 4 instances, 3 Kf accounts × 20 customers, 1,000 customer messages: every message answered
/// exactly once, and one `gettoken` per token lifetime across all instances (the token is
/// revoked half-way, as when WeCom invalidates it early: exactly one more fetch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_answer_a_thousand_messages_exactly_once_with_one_token_fetch_per_lifetime() {
    let _serial = SERIAL.lock().await;
    if !redis_up("four_instances").await {
        return;
    }
    let mut builder = wxkf_sim::Sim::builder().callback_timeout(Duration::from_secs(3));
    for kf in ACCOUNTS {
        builder = builder.account(kf, kf);
    }
    let sim = builder.start().await.unwrap();
    let fleet = Fleet::start(&sim, 4, &prefix("four"), Duration::from_secs(5)).await;

    // each customer chats as people do: the next message after the answer to the last one
    // (a burst of more than five would also break WeCom's 5-replies-per-message rule)
    let customers: Vec<_> = (0..ACCOUNTS.len() * CUSTOMERS_PER_ACCOUNT)
        .map(|i| {
            let kf = ACCOUNTS[i % ACCOUNTS.len()];
            let share = MESSAGES / (ACCOUNTS.len() * CUSTOMERS_PER_ACCOUNT);
            let extra = usize::from(i < MESSAGES % (ACCOUNTS.len() * CUSTOMERS_PER_ACCOUNT));
            (sim.customer(kf, &format!("wmSCALE{i:03}")), share + extra)
        })
        .collect();
    assert_eq!(customers.iter().map(|(_, n)| n).sum::<usize>(), MESSAGES);

    let chat = |half: usize| {
        let tasks: Vec<_> = customers
            .iter()
            .map(|(c, n)| {
                let (c, n) = (c.clone(), *n);
                let (from, to) = if half == 0 { (0, n / 2) } else { (n / 2, n) };
                tokio::spawn(async move {
                    for i in from..to {
                        c.say(&format!("{}/{}/{i}", c.open_kfid(), c.external_userid()));
                        let got = c.wait_for_replies(i + 1, Duration::from_secs(60)).await.len();
                        assert!(got > i, "{}: no answer to message {i} within 60 s", c.external_userid());
                    }
                })
            })
            .collect();
        async move {
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    let started = Instant::now();
    chat(0).await;
    assert_eq!(sim.call_count("/cgi-bin/gettoken"), 1, "one token for all four instances");
    // WeCom invalidates the token early: every instance's next call fails with 40014
    sim.revoke_tokens();
    chat(1).await;
    let elapsed = started.elapsed();
    // late doubles would show up now
    tokio::time::sleep(Duration::from_secs(1)).await;

    let texts = sent_texts(&sim);
    let mut missing = Vec::new();
    for (c, n) in &customers {
        for i in 0..*n {
            let text = format!("echo: {}/{}/{i}", c.open_kfid(), c.external_userid());
            let key = (c.open_kfid().to_owned(), c.external_userid().to_owned(), text);
            match texts.get(&key) {
                Some(1) => {}
                Some(k) => panic!("{key:?} was answered {k} times"),
                None => missing.push(key),
            }
        }
    }
    assert!(missing.is_empty(), "unanswered: {missing:?}");
    assert_eq!(sim.sent().len(), MESSAGES, "nothing but the answers was sent");
    assert_eq!(doubles(&sim), [], "a customer saw an answer twice");
    assert_eq!(reruns(&sim), 0, "an instance ran the handler again for an answered message");
    assert_eq!(
        sim.call_count("/cgi-bin/gettoken"),
        2,
        "one fetch per token lifetime: the first, and one after the revocation"
    );
    let served = fleet.served();
    assert_eq!(served.len(), 4, "every instance took callbacks: {served:?}");
    println!(
        "{MESSAGES} messages through 4 instances in {elapsed:?}; callbacks per instance {served:?}; \
         sync_msg calls {}",
        sim.call_count("/cgi-bin/kf/sync_msg")
    );
    drop(fleet);
    sim.shutdown();
}

/// An instance is killed (`kill -9`) while it pulls, after answering part of a page and before
/// saving the cursor: another instance takes the account over once the lease runs out, answers
/// the rest, and answers nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_instance_mid_pull_hands_the_account_over_within_the_lease_time() {
    let _serial = SERIAL.lock().await;
    if !redis_up("kill_mid_pull").await {
        return;
    }
    const KF: &str = "wkKILL1";
    const OTHER: &str = "wkKILL2";
    let lease = Duration::from_secs(2);
    let sim = wxkf_sim::Sim::builder()
        .account(KF, "kill")
        .account(OTHER, "other")
        .callback_timeout(Duration::from_secs(3))
        .start()
        .await
        .unwrap();
    let mut fleet = Fleet::start(&sim, 3, &prefix("kill"), lease).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("warm");
    assert_eq!(alice.wait_for_replies(1, Duration::from_secs(20)).await.len(), 1);

    // three messages whose callbacks are lost, then one that is announced: one pull gets all
    // four on one page; the instance answers three and hangs on the fourth, cursor unsaved
    sim.inject(FaultRule::new(Fault::DropCallback).times(3));
    for text in ["a1", "a2", "a3"] {
        alice.say(text);
    }
    alice.say("hang:a4");
    let (victim, msgid) = tokio::time::timeout(Duration::from_secs(20), fleet.hangs.recv())
        .await
        .expect("no instance reached the hanging message within 20 s")
        .unwrap();
    let before: Vec<String> = alice.replies().iter().filter_map(|s| s.text().map(str::to_owned)).collect();
    assert_eq!(before, ["echo: warm", "echo: a1", "echo: a2", "echo: a3"], "answered before the kill");

    // alive, the hanging instance keeps renewing its lease: no one else may pull the account
    tokio::time::sleep(lease * 2).await;
    assert_eq!(alice.replies().len(), 4, "another instance pulled while the holder was alive");

    fleet.kill(victim);
    let killed_at = Instant::now();
    // the other account is not held up meanwhile
    let bob = sim.customer(OTHER, "wmBOB");
    bob.say("still there?");

    let replies = alice.wait_for_replies(5, lease + Duration::from_secs(10)).await;
    let took_over = killed_at.elapsed();
    assert_eq!(replies.len(), 5, "the hanging message {msgid} was not answered after the kill");
    // renewed at most a third of the lease before the kill, so it had at least two thirds left
    assert!(took_over >= lease / 2, "taken over after {took_over:?}, before the lease ({lease:?}) ran out");
    assert!(
        took_over <= lease + Duration::from_secs(2),
        "taken over after {took_over:?}; the lease is {lease:?}"
    );
    assert_eq!(bob.wait_for_replies(1, Duration::from_secs(10)).await.len(), 1);

    // give any double a chance to appear: two more lease times and sweeps
    tokio::time::sleep(lease * 2).await;
    let texts: Vec<String> = alice.replies().iter().filter_map(|s| s.text().map(str::to_owned)).collect();
    assert_eq!(texts, ["echo: warm", "echo: a1", "echo: a2", "echo: a3", "echo: hang:a4"]);
    assert_eq!(doubles(&sim), [], "the new holder answered again what the killed one had answered");
    assert_eq!(reruns(&sim), 0, "the new holder ran the handler again for what the killed one had answered");
    assert_eq!(sim.call_count("/cgi-bin/gettoken"), 1);
    println!("instance {victim} killed mid-pull; account taken over after {took_over:?} (lease {lease:?})");
    drop(fleet);
    sim.shutdown();
}

/// Tokens that simply run out: with a 4-second token lifetime (refreshed ahead at half of it), the
/// four instances together fetch about one token per half-lifetime while 40 customers chat for
/// several seconds — not one per instance. Every message is still answered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_are_fetched_once_per_lifetime_by_the_whole_fleet() {
    let _serial = SERIAL.lock().await;
    if !redis_up("short_tokens").await {
        return;
    }
    let ttl = Duration::from_secs(4);
    let sim = wxkf_sim::Sim::builder()
        .account("wkTOK1", "one")
        .account("wkTOK2", "two")
        .token_ttl(ttl)
        .callback_timeout(Duration::from_secs(3))
        .start()
        .await
        .unwrap();
    let fleet = Fleet::start(&sim, 4, &prefix("tokens"), Duration::from_secs(5)).await;
    let chat_for = Duration::from_secs(9);
    let started = Instant::now();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let c = sim.customer(["wkTOK1", "wkTOK2"][i % 2], &format!("wmTOK{i:02}"));
            tokio::spawn(async move {
                let mut n = 0;
                while started.elapsed() < chat_for {
                    c.say(&format!("{}/{n}", c.external_userid()));
                    n += 1;
                    assert_eq!(c.wait_for_replies(n, Duration::from_secs(30)).await.len(), n, "no answer");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (c, n)
            })
        })
        .collect();
    let mut chats = Vec::new();
    for t in tasks {
        chats.push(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let texts = sent_texts(&sim);
    let mut total = 0;
    for (c, n) in &chats {
        for i in 0..*n {
            let key = (
                c.open_kfid().to_owned(),
                c.external_userid().to_owned(),
                format!("echo: {}/{i}", c.external_userid()),
            );
            assert_eq!(texts.get(&key), Some(&1), "{key:?}");
        }
        total += n;
    }
    assert_eq!(doubles(&sim), []);
    assert_eq!(reruns(&sim), 0);
    let fetches = sim.call_count("/cgi-bin/gettoken");
    // the first fetch, then one each time the token reaches half its lifetime (2 s; a little
    // less for the time a fetch takes): a second instance fetching too would exceed it
    let half_life = ttl.as_secs_f64() / 2.0 - 0.1;
    let most = (elapsed.as_secs_f64() / half_life).floor() as usize + 1;
    assert!(fetches >= 2, "{fetches} fetches in {elapsed:?}: tokens of {ttl:?} were not renewed");
    assert!(
        fetches <= most,
        "{fetches} gettoken calls in {elapsed:?} with {ttl:?} tokens; at most {most} expected"
    );
    println!("{total} messages in {elapsed:?} with {ttl:?} tokens: {fetches} gettoken calls by 4 instances");
    drop(fleet);
    sim.shutdown();
}
