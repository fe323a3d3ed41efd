//! Concurrency and bursts of the bot runtime (issue 11), end to end: the simulator, the real
//! `wxkf_axum::bot_router` behind real signed callbacks, the real client, the bot on its memory
//! store. Every customer of one Kf account writes at the same moment; what is measured is the
//! time from the last customer's message to the last answer.
//!
//! The bounds are loose enough for a loaded 2-core machine, and each test fails if customers'
//! lanes were handled one after another: with `max_concurrent_handlers(1)` the first test takes
//! 20 s, the second 200 s (checked by hand, see docs/benchmarks.md).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wxkf_axum::bot::{Bot, BotConfig, HandlerError, ReplyContext, ReplyError, handler_fn};
use wxkf_sim::SimHandle;
use wxkf_types::message::{Message, MessageContent, SendMsgRequest};

mod support;
use support::Running;

const KF: &str = "wkCONC";

/// The tests of this file measure time: they run one at a time, so that none competes with
/// another for the 2 cores of the CI machine.
async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE_AT_A_TIME.lock().await
}

async fn sim() -> SimHandle {
    wxkf_sim::Sim::builder().account(KF, "concurrency").start().await.unwrap()
}

/// Starts `handler` as a bot against `sim` (memory store, `config`) behind `bot_router`, and
/// points the simulator's callbacks at it.
async fn start_bot(sim: &SimHandle, handler: impl wxkf_axum::bot::Handler, config: BotConfig) -> Running {
    let running = support::serve(sim, |client| {
        Bot::builder(client, handler).memory_store().config(config).build().unwrap()
    })
    .await;
    // the start-up pull finds nothing; let it finish so it does not count in the measurement
    support::after_startup_pull(sim, &running).await;
    running
}

fn text(msg: &Message) -> String {
    match &msg.content {
        MessageContent::Text(t) => t.content.clone(),
        _ => String::new(),
    }
}

/// A handler that takes `work`, then answers "done: <text>".
fn slow_handler(work: Duration) -> impl wxkf_axum::bot::Handler {
    handler_fn(move |ctx: ReplyContext, msg: Message| async move {
        tokio::time::sleep(work).await;
        ctx.reply_text(&format!("done: {}", text(&msg))).await?;
        Ok::<(), HandlerError>(())
    })
}

/// `n` customers each write one message at the same moment to a handler taking `work`; returns
/// how long until every one of them was answered (panics if not within `limit`).
async fn all_answered(n: usize, work: Duration, limit: Duration, config: BotConfig) -> Duration {
    let sim = sim().await;
    let bot = start_bot(&sim, slow_handler(work), config).await;
    let customers: Vec<_> = (0..n).map(|i| sim.customer(KF, &format!("wmC{i:03}"))).collect();
    for (i, c) in customers.iter().enumerate() {
        c.say(&format!("hello {i}"));
    }
    let written = Instant::now();
    let sent = sim.wait_for_sent(n, limit + Duration::from_secs(5)).await;
    let took = written.elapsed();
    assert_eq!(sent.len(), n, "every customer is answered, once");
    for c in &customers {
        assert_eq!(c.replies().len(), 1, "{} got one answer", c.external_userid());
    }
    assert!(
        took <= limit,
        "{n} customers with a {work:?} handler were all answered after {took:?}, over {limit:?}"
    );
    eprintln!("{n} customers, {work:?} handler: all answered after {took:?}");
    bot.stop().await;
    sim.shutdown();
    took
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_customers_with_a_one_second_handler_are_all_answered_in_about_a_second() {
    let _alone = alone().await;
    // serialized, this takes 20 s; concurrent, about 1 s plus a pull and a send
    let took =
        all_answered(20, Duration::from_secs(1), Duration::from_millis(3000), BotConfig::default()).await;
    assert!(took >= Duration::from_secs(1), "the handler takes 1 s: {took:?} is too fast to be true");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_customers_with_a_two_second_handler_are_all_answered_in_about_two_seconds() {
    let _alone = alone().await;
    // serialized, this takes 200 s; with lanes, about 2 s plus pulls and 100 sends
    let took =
        all_answered(100, Duration::from_secs(2), Duration::from_millis(4500), BotConfig::default()).await;
    assert!(took >= Duration::from_secs(2), "the handler takes 2 s: {took:?} is too fast to be true");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_whose_handler_never_finishes_delays_no_other_customer() {
    let _alone = alone().await;
    let sim = sim().await;
    // the slow customer's first message blocks its handler until the test opens the gate (the
    // stand-in for a 30 s LLM call that is still running when everyone else has been answered)
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
    let started = Arc::new(tokio::sync::Notify::new());
    let handler = {
        let started = Arc::clone(&started);
        handler_fn(move |ctx: ReplyContext, msg: Message| {
            let mut gate = gate_rx.clone();
            let started = Arc::clone(&started);
            async move {
                if ctx.external_userid() == "wmSLOW" && text(&msg) == "first" {
                    started.notify_one();
                    let _ = gate.wait_for(|open| *open).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                ctx.reply_text(&format!("done: {}", text(&msg))).await?;
                Ok::<(), HandlerError>(())
            }
        })
    };
    let bot = start_bot(&sim, handler, BotConfig::default()).await;
    let slow = sim.customer(KF, "wmSLOW");
    slow.say("first");
    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .expect("the slow handler started");
    // the slow customer's next message waits behind the first (one lane per customer, in order)
    slow.say("second");

    let others: Vec<_> = (0..20).map(|i| sim.customer(KF, &format!("wmFAST{i:02}"))).collect();
    for c in &others {
        c.say("hi");
    }
    let written = Instant::now();
    let sent = sim.wait_for_sent(20, Duration::from_secs(10)).await;
    let took = written.elapsed();
    assert_eq!(sent.len(), 20, "every other customer was answered while the slow handler runs");
    eprintln!("20 customers beside a blocked one, 100 ms handler: all answered after {took:?}");
    assert!(took <= Duration::from_secs(2), "the others took {took:?} with a 100 ms handler");
    assert!(slow.replies().is_empty(), "the slow customer's lane is still on its first message");

    // the slow handler finishes: its customer gets both answers, in order
    gate_tx.send_replace(true);
    let replies = slow.wait_for_replies(2, Duration::from_secs(10)).await;
    let texts: Vec<_> = replies.iter().filter_map(|s| s.text().map(str::to_owned)).collect();
    assert_eq!(texts, ["done: first", "done: second"]);
    bot.stop().await;
    sim.shutdown();
}

/// Per customer: how many sends the local budget refused.
#[derive(Default)]
struct Tally {
    refused: HashMap<String, usize>,
}

/// An echo bot that counts, per customer, the echoes its budget refused, and how many messages
/// reached it.
fn counting_echo(tally: &Arc<Mutex<Tally>>, handled: &Arc<AtomicUsize>) -> impl wxkf_axum::bot::Handler {
    let (tally, handled) = (Arc::clone(tally), Arc::clone(handled));
    handler_fn(move |ctx: ReplyContext, msg: Message| {
        let (tally, handled) = (Arc::clone(&tally), Arc::clone(&handled));
        async move {
            let out = ctx.reply_text(&format!("echo: {}", text(&msg))).await;
            handled.fetch_add(1, Ordering::SeqCst);
            match out {
                Ok(_) => Ok(()),
                Err(e @ ReplyError::BudgetExhausted { .. }) => {
                    let mut t = tally.lock().unwrap();
                    *t.refused.entry(ctx.external_userid().to_owned()).or_default() += 1;
                    Err::<(), HandlerError>(e.into())
                }
                Err(e) => Err(e.into()),
            }
        }
    })
}

async fn wait_handled(handled: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while handled.load(Ordering::SeqCst) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(handled.load(Ordering::SeqCst), n, "every message reached the handler once");
}

fn answered_95001(sim: &SimHandle) -> usize {
    sim.calls().iter().filter(|c| c.path == "/cgi-bin/kf/send_msg" && c.errcode == Some(95001)).count()
}

/// How many more messages WeCom (the simulator) accepts for `user` now: a probe outside the bot.
async fn wecom_still_allows(sim: &SimHandle, user: &str) -> usize {
    let probe = support::client(sim);
    for n in 0..5 {
        let sent = probe.message().send_msg(SendMsgRequest::text(user, KF, "probe")).await;
        match sent {
            Ok(_) => {}
            Err(e) if e.errcode() == Some(95001) => return n,
            Err(e) => panic!("probe for {user}: {e}"),
        }
    }
    5
}

#[tokio::test(flavor = "multi_thread")]
async fn bursts_of_eight_while_the_bot_answers_get_at_least_five_replies_and_never_a_95001() {
    let _alone = alone().await;
    let sim = sim().await;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let handled = Arc::new(AtomicUsize::new(0));
    let bot = start_bot(&sim, counting_echo(&tally, &handled), BotConfig::default()).await;
    let customers: Vec<_> = (0..20).map(|i| sim.customer(KF, &format!("wmB{i:02}"))).collect();
    // people write like this: "在吗" "你好" "我想问…", eight in a row, all twenty at once, while
    // the bot answers the first ones: its echoes and their next messages cross
    for round in 0..8 {
        for c in &customers {
            c.say(&format!("{} #{round}", c.external_userid()));
        }
    }
    // someone writes right after the bursts, while they are being answered
    let late = sim.customer(KF, "wmLATE");
    late.say("还在吗");
    let written = Instant::now();
    let reply = late.wait_for_replies(1, Duration::from_secs(10)).await;
    let took = written.elapsed();
    assert_eq!(reply.len(), 1, "the customer who wrote after the bursts is answered");
    eprintln!("the customer who wrote after the bursts was answered after {took:?}");
    assert!(took <= Duration::from_secs(1), "the customer who wrote after the bursts waited {took:?}");

    // every message handled (answered, or refused by the local budget)
    wait_handled(&handled, 161).await;
    bot.bot.idle().await;

    // WeCom refused none of the runtime's sends
    assert_eq!(answered_95001(&sim), 0, "send_msg answered 95001");
    let sends = sim.calls().iter().filter(|c| c.path == "/cgi-bin/kf/send_msg").count();
    assert_eq!(sends, sim.sent().len(), "every send_msg call was accepted");

    // every customer got at least the five replies their latest message allows, and the runtime
    // refused exactly the echoes it did not send. Where an echo and the customer's next message
    // crossed (the echo reached WeCom while the message was on its way to the bot), the runtime
    // cannot tell which came first and counts the echo against the message: it may leave such a
    // reply unused, never sends one too many. `bursts_written_before_the_pull_...` below has no
    // crossing and checks that every allowed reply is sent.
    let refused_by_budget = tally.lock().unwrap().refused.clone();
    let mut unused = 0;
    for c in &customers {
        let user = c.external_userid();
        let echoed = c.replies().len();
        let refused = refused_by_budget.get(user).copied().unwrap_or(0);
        assert_eq!(echoed + refused, 8, "{user}: {echoed} echoed + {refused} refused");
        assert!(echoed >= 5, "{user}: only {echoed} echoes; the latest message alone allows 5");
        if refused > 0 {
            let left = wecom_still_allows(&sim, user).await;
            assert!(left <= refused, "{user}: WeCom allows {left} more, the runtime refused {refused}");
            unused += left;
        }
    }
    let refused: usize = refused_by_budget.values().sum();
    eprintln!(
        "bursts: {sends} echoes sent, {refused} refused by the local budget ({unused} of them crossed a \
         customer message and WeCom would have taken them), 0 answered 95001"
    );
    assert_eq!(late.replies().len(), 1);
    bot.stop().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn bursts_written_before_the_pull_get_exactly_the_five_replies_wecom_allows() {
    let _alone = alone().await;
    let sim = sim().await;
    let customers: Vec<_> = (0..20).map(|i| sim.customer(KF, &format!("wmP{i:02}"))).collect();
    // written while no bot runs (a restart, a deploy): the bot's first pull finds all eight of
    // each customer, so the five replies of the latest message are shared by the eight handlers
    for round in 0..8 {
        for c in &customers {
            c.say(&format!("{} #{round}", c.external_userid()));
        }
    }
    let tally = Arc::new(Mutex::new(Tally::default()));
    let handled = Arc::new(AtomicUsize::new(0));
    let bot = start_bot(&sim, counting_echo(&tally, &handled), BotConfig::default()).await;
    wait_handled(&handled, 160).await;
    bot.bot.idle().await;
    assert_eq!(answered_95001(&sim), 0, "send_msg answered 95001");
    let refused = tally.lock().unwrap().refused.clone();
    for c in &customers {
        let user = c.external_userid();
        let texts: Vec<_> = c.replies().iter().filter_map(|r| r.text().map(str::to_owned)).collect();
        let first_five: Vec<_> = (0..5).map(|i| format!("echo: {user} #{i}")).collect();
        assert_eq!(texts, first_five, "{user}: the first five messages are echoed, in order");
        assert_eq!(refused.get(user).copied(), Some(3), "{user}: the last three are refused locally");
        assert_eq!(wecom_still_allows(&sim, user).await, 0, "{user}: WeCom allows no sixth either");
    }
    bot.stop().await;
    sim.shutdown();
}

/// What the handler of a customer's second message got from each of its sends.
type Outcomes = Arc<Mutex<Vec<Result<(), String>>>>;

/// For customer `wmA`: "first" sends `before` replies, tells the test, waits for the gate, sends
/// `after` more; "second" tries six replies and records each outcome. Anyone else is echoed.
fn crossing_handler(
    before: usize,
    after: usize,
    first_sent: Arc<tokio::sync::Notify>,
    gate: tokio::sync::watch::Receiver<bool>,
    outcomes: Outcomes,
) -> impl wxkf_axum::bot::Handler {
    handler_fn(move |ctx: ReplyContext, msg: Message| {
        let (first_sent, mut gate, outcomes) = (Arc::clone(&first_sent), gate.clone(), Arc::clone(&outcomes));
        async move {
            match (ctx.external_userid(), text(&msg).as_str()) {
                ("wmA", "first") => {
                    for i in 0..before {
                        ctx.reply_text(&format!("before {i}")).await?;
                    }
                    first_sent.notify_one();
                    let _ = gate.wait_for(|open| *open).await;
                    for i in 0..after {
                        ctx.reply_text(&format!("after {i}")).await?;
                    }
                }
                ("wmA", "second") => {
                    for i in 0..6 {
                        let out = ctx.reply_text(&format!("answer {i}")).await;
                        outcomes.lock().unwrap().push(out.map(drop).map_err(|e| e.to_string()));
                    }
                }
                _ => {
                    ctx.reply_text(&format!("echo: {}", text(&msg))).await?;
                }
            }
            Ok::<(), HandlerError>(())
        }
    })
}

/// Another customer writes and is answered: the bot pulled after everything before.
async fn someone_else_is_answered(sim: &SimHandle, who: &str) {
    // the budget compares times in whole milliseconds, and a send completed in the same
    // millisecond as the pull was sent counts as after it: keep them apart
    tokio::time::sleep(Duration::from_millis(5)).await;
    let other = sim.customer(KF, who);
    other.say("hi");
    assert_eq!(other.wait_for_replies(1, Duration::from_secs(10)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_that_crossed_the_customers_next_message_count_against_it() {
    let _alone = alone().await;
    let sim = sim().await;
    let first_sent = Arc::new(tokio::sync::Notify::new());
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
    let outcomes = Outcomes::default();
    let handler = crossing_handler(1, 2, Arc::clone(&first_sent), gate_rx, Arc::clone(&outcomes));
    let bot = start_bot(&sim, handler, BotConfig::default()).await;
    let a = sim.customer(KF, "wmA");
    a.say("first");
    tokio::time::timeout(Duration::from_secs(10), first_sent.notified()).await.expect("first reply sent");
    // the bot pulls again after the first reply, and finds nothing of wmA's
    someone_else_is_answered(&sim, "wmB").await;
    // wmA writes again, and the callback is lost on its way, so the bot does not know yet while
    // the handler of "first" sends two more replies: WeCom counts them against "second"
    sim.inject(wxkf_sim::FaultRule::new(wxkf_sim::Fault::DropCallback));
    a.say("second");
    gate_tx.send_replace(true);
    assert_eq!(a.wait_for_replies(3, Duration::from_secs(10)).await.len(), 3);
    sim.clear_faults();
    bot.bot.pull_now(KF);
    let deadline = Instant::now() + Duration::from_secs(10);
    while outcomes.lock().unwrap().len() < 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outcomes = outcomes.lock().unwrap().clone();
    // the two crossing replies count, the one before the bot's last pull does not: three left
    let sent = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(sent, 3, "{outcomes:?}");
    assert!(
        outcomes[..3].iter().all(Result::is_ok) && outcomes[3..].iter().all(Result::is_err),
        "{outcomes:?}"
    );
    assert_eq!(answered_95001(&sim), 0, "send_msg answered 95001");
    assert_eq!(wecom_still_allows(&sim, "wmA").await, 0, "the runtime sent every reply WeCom allowed");
    bot.stop().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_who_writes_right_after_the_replies_gets_all_five_again() {
    let _alone = alone().await;
    let sim = sim().await;
    let first_sent = Arc::new(tokio::sync::Notify::new());
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(true);
    let outcomes = Outcomes::default();
    let handler = crossing_handler(3, 0, Arc::clone(&first_sent), gate_rx, Arc::clone(&outcomes));
    let bot = start_bot(&sim, handler, BotConfig::default()).await;
    let a = sim.customer(KF, "wmA");
    a.say("first");
    // the handler saw its three sends answered (the simulator stores them a moment earlier)
    tokio::time::timeout(Duration::from_secs(10), first_sent.notified()).await.expect("three replies sent");
    assert_eq!(a.replies().len(), 3);
    // wmA writes a few milliseconds after the three replies: well inside the clock skew, and
    // with no pull of the bot in between. The callback of "second" reached the bot after the
    // replies had completed, which places them before it. (The budget compares whole
    // milliseconds; a reply completed in the same millisecond as the callback came counts
    // against the message.)
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.say("second");
    let deadline = Instant::now() + Duration::from_secs(10);
    while outcomes.lock().unwrap().len() < 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outcomes = outcomes.lock().unwrap().clone();
    assert!(outcomes[..5].iter().all(Result::is_ok), "{outcomes:?}");
    assert!(outcomes[5].is_err(), "the sixth is refused locally: {outcomes:?}");
    assert_eq!(answered_95001(&sim), 0, "send_msg answered 95001");
    assert_eq!(wecom_still_allows(&sim, "wmA").await, 0);
    drop(gate_tx);
    bot.stop().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_whose_answer_was_lost_counts_once() {
    let _alone = alone().await;
    let sim = sim().await;
    let outcomes = Outcomes::default();
    let handler = {
        let outcomes = Arc::clone(&outcomes);
        handler_fn(move |ctx: ReplyContext, _msg: Message| {
            let outcomes = Arc::clone(&outcomes);
            async move {
                // the first time, WeCom stores "a" and the answer is lost: the handler fails and
                // runs again, and WeCom refuses the repeated msgid (already sent)
                ctx.reply_text("a").await?;
                for i in 0..5 {
                    let out = ctx.reply_text(&format!("more {i}")).await;
                    outcomes.lock().unwrap().push(out.map(drop).map_err(|e| e.to_string()));
                }
                Ok::<(), HandlerError>(())
            }
        })
    };
    let (corp, secret, base) = (sim.corp_id(), sim.secret(), sim.base_url());
    let bot = support::serve(&sim, move |_| {
        // no retry inside the client: the lost answer reaches the handler as a transport error
        let client = wxkf_client::Client::builder(corp, secret)
            .base_url(base)
            .retry_policy(wxkf_client::RetryPolicy::none())
            .build()
            .unwrap();
        let config = BotConfig::default().with_retries(1, Duration::from_millis(50));
        Bot::builder(client, handler).memory_store().config(config).build().unwrap()
    })
    .await;
    support::after_startup_pull(&sim, &bot).await;
    sim.inject(
        wxkf_sim::FaultRule::new(wxkf_sim::Fault::AfterHandle(wxkf_sim::LostAnswer::Reset))
            .path("/cgi-bin/kf/send_msg")
            .nth(1),
    );
    let a = sim.customer(KF, "wmLOST");
    a.say("go");
    let deadline = Instant::now() + Duration::from_secs(10);
    while outcomes.lock().unwrap().len() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let outcomes = outcomes.lock().unwrap().clone();
    // "a" reached WeCom once and counts once: four more fit, the fifth is refused locally
    assert!(outcomes[..4].iter().all(Result::is_ok) && outcomes[4].is_err(), "{outcomes:?}");
    let texts: Vec<_> = a.replies().iter().filter_map(|r| r.text().map(str::to_owned)).collect();
    assert_eq!(texts, ["a", "more 0", "more 1", "more 2", "more 3"]);
    assert_eq!(answered_95001(&sim), 0, "send_msg answered 95001");
    assert_eq!(wecom_still_allows(&sim, "wmLOST").await, 0);
    bot.stop().await;
    sim.shutdown();
}
