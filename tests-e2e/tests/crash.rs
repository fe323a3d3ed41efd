//! `kill -9` while handlers run, with the durable default store: one bot instance as a separate
//! OS process (this test binary started again in child mode) with `BotBuilder::data_dir` (the
//! redb `LocalStore`), answering the simulator's customers through a load balancer. The parent
//! kills it six times, each time once the run has answered half a round of messages and a handler
//! has just started (so handlers are in the middle of their work), and starts it again on the
//! same data directory each time. One customer's handlers are twice as slow and still run at each
//! kill, so the saved cursor is held back behind messages that finished: the restart pulls those
//! again, and only the store's record of handled msgids keeps their handlers from running again.
//! (Checked by making the child's `LocalStore::seen` answer "not seen": this test then fails.)
//!
//! What it shows, exactly:
//!
//! - **No message is skipped:** every customer message gets both of its replies.
//! - **No handler runs again for a finished message.** A message is *finished* at a kill when its
//!   msgid is in the store's handled msgids as read from the data directory right after the
//!   process died. The runtime records a msgid only after its handler returned, in batches, so a
//!   handler that returned just before the kill may not be recorded yet: that message is not
//!   finished and its handler may run again (at-least-once). The test checks that every recorded
//!   msgid's handler had returned (the child prints `FINISH` before returning), and that no
//!   handler of a recorded msgid starts again in any later run.
//! - **The customer sees no duplicate:** every reply text is stored by the simulator exactly once.
//!   A re-run handler's replies get the same derived msgids, and the simulator, like WeCom,
//!   refuses a msgid it has seen (the runtime counts that refusal as "already sent").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Balancer, Instance, Line, doubles, say, sent_texts, temp_dir};
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_bot::{Bot, BotConfig, DedupeStore, HandlerError, LocalStore, ReplyContext, handler_fn};
use wxkf_crypto::{CallbackCrypto, generate_credentials};
use wxkf_types::message::{Message, MessageContent};

/// Set only in a child process.
const CHILD: &str = "WXKF_CRASH_CHILD";
const KF: &str = "wkCRASH";
/// How long each half of a handler takes (it replies after each).
const STEP: Duration = Duration::from_millis(400);
/// The customer whose handlers take twice as long.
const SLOW: &str = "wmCRASH0";
/// The child's reconcile pull: it catches the callbacks the balancer refused (502) while no
/// instance was up. Within the simulator's tokenless budget set below.
const RECONCILE: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// child mode: the bot

/// The entry point of a child process; ignored in normal runs, started by the test below.
#[test]
#[ignore = "a bot instance run as a child process by the crash test"]
fn crash_child() {
    if std::env::var(CHILD).is_err() {
        panic!("crash_child is started by the crash test in this file, not by hand");
    }
    support::exit_with_parent();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run_child());
}

async fn run_child() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let corp = var("WXKF_T_CORP");
    let client = wxkf_client::Client::builder(&corp, var("WXKF_T_SECRET"))
        .base_url(var("WXKF_T_SIM"))
        .build()
        .unwrap();
    // a handler that takes a while and answers in two parts: "START" when it begins, "FINISH"
    // just before it returns. The first customer's take twice as long: while one of them runs,
    // the cursor cannot pass it, so messages of others that finished after it was pulled are
    // pulled again after a restart, and only the store's record keeps them from a second run.
    let handler = handler_fn(|ctx: ReplyContext, msg: Message| async move {
        if let MessageContent::Text(t) = &msg.content {
            say(&format!("START {}", msg.msgid));
            let step = if ctx.external_userid() == SLOW { STEP * 2 } else { STEP };
            tokio::time::sleep(step).await;
            ctx.reply_text(&format!("1/2 {}", t.content)).await?;
            tokio::time::sleep(step).await;
            ctx.reply_text(&format!("2/2 {}", t.content)).await?;
            say(&format!("FINISH {}", msg.msgid));
        }
        Ok::<(), HandlerError>(())
    });
    let config = BotConfig::default()
        .with_retries(2, Duration::from_millis(100))
        .with_pull_retry(Duration::from_millis(200), Duration::from_secs(2))
        .with_reconcile_interval(Some(RECONCILE));
    let bot = Bot::builder(client, handler).data_dir(var("WXKF_T_DATA")).config(config).build().unwrap();
    let crypto = CallbackCrypto::new(&var("WXKF_T_CB_TOKEN"), &var("WXKF_T_CB_KEY"), &corp).unwrap();
    let app = bot_router(CallbackConfig::new(crypto), bot);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    say(&format!("READY {}", listener.local_addr().unwrap()));
    axum::serve(listener, app).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// parent side

/// Every line the child's runs printed, in order per run.
#[derive(Default)]
struct Log {
    lines: Vec<Line>,
}

impl Log {
    fn has_eof(&self, run: usize) -> bool {
        self.lines.iter().any(|l| l.run == run && l.text == "EOF")
    }

    /// The msgids whose handler printed `word` ("START" or "FINISH") in `run`.
    fn ids(&self, run: usize, word: &str) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| l.run == run)
            .filter_map(|l| l.text.strip_prefix(word).map(|m| m.trim().to_owned()))
            .collect()
    }
}

/// The msgids of `ids` that the data directory's store has recorded as handled. Opened only
/// while no child runs (the file is locked while a process has it open).
async fn recorded(dir: &std::path::Path, ids: &[String]) -> HashSet<String> {
    let store = LocalStore::open(dir).expect("open the data directory after the kill");
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let seen = store.seen(KF, &refs).await.unwrap();
    drop(store);
    ids.iter().zip(seen).filter(|(_, s)| *s).map(|(id, _)| id.clone()).collect()
}

const CUSTOMERS: usize = 8;
const MESSAGES: usize = 16;
/// The slow customer writes fewer.
const SLOW_MESSAGES: usize = 4;
const TOTAL: usize = (CUSTOMERS - 1) * MESSAGES + SLOW_MESSAGES;
const KILLS: usize = 6;

/// kill -9 six times while handlers run, restarting on the same data directory: no message is
/// skipped, no handler runs again for a finished (recorded) message, and no customer sees a reply
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_handlers_run_skips_nothing_reruns_no_finished_message_and_sends_no_duplicate() {
    let sim = wxkf_sim::Sim::builder()
        .account(KF, "crash")
        .callback_timeout(Duration::from_secs(3))
        // a start-up pull per restart plus a reconcile pull every 2 s stay below this
        .tokenless_sync_limit(60, Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let (token, key) = generate_credentials().unwrap();
    let balancer = Balancer::start().await;
    sim.set_callback(&balancer.url, token.expose_secret(), key.expose_secret()).unwrap();
    let dir = temp_dir("crash");
    let env: Vec<(String, String)> = [
        (CHILD, "1".to_owned()),
        ("WXKF_T_CORP", sim.corp_id()),
        ("WXKF_T_SECRET", sim.secret()),
        ("WXKF_T_SIM", sim.base_url()),
        ("WXKF_T_DATA", dir.display().to_string()),
        ("WXKF_T_CB_TOKEN", token.expose_secret().to_owned()),
        ("WXKF_T_CB_KEY", key.expose_secret().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let log = Arc::new(Mutex::new(Log::default()));
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<Line>();
    {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            while let Some(l) = lines.recv().await {
                log.lock().unwrap().lines.push(l);
            }
        });
    }
    let mut run = 0;
    let mut bot = Instance::start("crash_child", 0, run, &env, line_tx.clone()).await;
    balancer.set(0, bot.addr);

    // customers write as people do: the next message once both parts of the answer came
    let said: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Instant::now();
    let chats: Vec<_> = (0..CUSTOMERS)
        .map(|i| {
            let c = sim.customer(KF, &format!("wmCRASH{i}"));
            let said = Arc::clone(&said);
            tokio::spawn(async move {
                let n = if c.external_userid() == SLOW { SLOW_MESSAGES } else { MESSAGES };
                for m in 0..n {
                    let msgid = c.say(&format!("{}/{m}", c.external_userid()));
                    said.lock().unwrap().push(msgid);
                    let got = c.wait_for_replies(2 * (m + 1), Duration::from_secs(60)).await.len();
                    assert!(
                        got >= 2 * (m + 1),
                        "{}: message {m} not answered within 60 s",
                        c.external_userid()
                    );
                }
            })
        })
        .collect();

    // (run, msgids recorded when that run was killed, handlers running at the kill)
    let mut kills: Vec<(usize, HashSet<String>, usize)> = Vec::new();
    while kills.len() < KILLS && !chats.iter().all(|c| c.is_finished()) {
        // let the run answer half a round of messages first (so that some are finished at the kill),
        // then wait for a handler to start
        let waiting = Instant::now();
        let mut starts_then = None;
        loop {
            let (finished, starts) = {
                let log = log.lock().unwrap();
                (log.ids(run, "FINISH").len(), log.ids(run, "START").len())
            };
            if starts_then.is_none() && finished >= CUSTOMERS / 2 {
                starts_then = Some(starts);
            }
            if starts_then.is_some_and(|s| starts > s) || chats.iter().all(|c| c.is_finished()) {
                break;
            }
            assert!(waiting.elapsed() < Duration::from_secs(30), "run {run}: no progress within 30 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if chats.iter().all(|c| c.is_finished()) {
            break;
        }
        // somewhere in the handler's 800 ms: before, between or after its first reply
        let k = u64::try_from(kills.len()).unwrap();
        tokio::time::sleep(Duration::from_millis(100 + (k * 137) % 500)).await;
        balancer.remove(0);
        bot.kill();
        let eof = Instant::now();
        while !log.lock().unwrap().has_eof(run) {
            assert!(eof.elapsed() < Duration::from_secs(10), "the killed child's stdout did not close");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let running = {
            let log = log.lock().unwrap();
            let finished: HashSet<String> = log.ids(run, "FINISH").into_iter().collect();
            log.ids(run, "START").iter().filter(|m| !finished.contains(*m)).count()
        };
        let ids = said.lock().unwrap().clone();
        let done = recorded(&dir, &ids).await;
        kills.push((run, done, running));
        run += 1;
        bot = Instance::start("crash_child", 0, run, &env, line_tx.clone()).await;
        balancer.set(0, bot.addr);
    }
    for c in chats {
        c.await.unwrap();
    }
    let elapsed = started.elapsed();
    // late re-runs or doubles would show now; then a last look at the store
    tokio::time::sleep(Duration::from_secs(1)).await;
    balancer.remove(0);
    bot.kill();
    let eof = Instant::now();
    while !log.lock().unwrap().has_eof(run) {
        assert!(eof.elapsed() < Duration::from_secs(10), "the last child's stdout did not close");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ids = said.lock().unwrap().clone();
    let last = recorded(&dir, &ids).await;

    assert_eq!(kills.len(), KILLS, "the customers were done before {KILLS} kills");
    for (run, _, running) in &kills {
        assert!(*running > 0, "run {run} was killed while no handler ran");
    }
    let log = log.lock().unwrap();
    // finished means recorded, and the store records only what returned
    let mut returned: HashSet<String> = HashSet::new();
    for (run, done, _) in &kills {
        returned.extend(log.ids(*run, "FINISH"));
        let early: Vec<_> = done.iter().filter(|m| !returned.contains(*m)).collect();
        assert!(
            early.is_empty(),
            "recorded before its handler returned, at the kill of run {run}: {early:?}"
        );
        for later in run + 1..=kills.len() {
            let again: Vec<_> = log.ids(later, "START").into_iter().filter(|m| done.contains(m)).collect();
            assert!(
                again.is_empty(),
                "finished (recorded) when run {run} was killed, handled again in run {later}: {again:?}"
            );
        }
    }
    assert_eq!(last.len(), ids.len(), "every message is recorded as handled in the end");

    // nothing skipped, nothing twice
    assert_eq!(ids.len(), TOTAL);
    let texts = sent_texts(&sim);
    for i in 0..CUSTOMERS {
        let user = format!("wmCRASH{i}");
        for m in 0..if user == SLOW { SLOW_MESSAGES } else { MESSAGES } {
            for part in ["1/2", "2/2"] {
                let key = (KF.to_owned(), format!("wmCRASH{i}"), format!("{part} wmCRASH{i}/{m}"));
                assert_eq!(texts.get(&key), Some(&1), "{key:?}");
            }
        }
    }
    assert_eq!(doubles(&sim), [], "a customer saw a reply twice");
    let limited =
        sim.calls().iter().filter(|c| c.path == "/cgi-bin/kf/sync_msg" && c.errcode == Some(45009)).count();
    assert_eq!(limited, 0, "the reconcile and start-up pulls went over the tokenless sync_msg limit");
    assert_eq!(sim.sent().len(), 2 * TOTAL, "nothing but the answers was sent");

    let mut starts: HashMap<String, usize> = HashMap::new();
    for r in 0..=kills.len() {
        for m in log.ids(r, "START") {
            *starts.entry(m).or_default() += 1;
        }
    }
    let rerun = starts.values().filter(|n| **n > 1).count();
    for r in 0..=kills.len() {
        let recorded = kills.get(r).map(|k| k.1.len().to_string()).unwrap_or_else(|| "-".to_owned());
        println!(
            "run {r}: {} handlers started, {} returned; {recorded} msgids recorded at its kill",
            log.ids(r, "START").len(),
            log.ids(r, "FINISH").len()
        );
    }
    let refused =
        sim.calls().iter().filter(|c| c.path == "/cgi-bin/kf/send_msg" && c.errcode == Some(40058)).count();
    println!(
        "{} messages through {} kills in {elapsed:?}; handlers running at each kill {:?}; {rerun} messages \
         handled again (unfinished at a kill), {refused} re-sent replies refused as duplicates",
        ids.len(),
        kills.len(),
        kills.iter().map(|k| k.2).collect::<Vec<_>>(),
    );
    drop(log);
    balancer.stop();
    sim.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
