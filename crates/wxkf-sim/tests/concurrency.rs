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
    // serialized, this takes 20 s; concurrent, about 1 s plus a pull and a send
    let took =
        all_answered(20, Duration::from_secs(1), Duration::from_millis(3000), BotConfig::default()).await;
    assert!(took >= Duration::from_secs(1), "the handler takes 1 s: {took:?} is too fast to be true");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_customers_with_a_two_second_handler_are_all_answered_in_about_two_seconds() {
    // serialized, this takes 200 s; with lanes, about 2 s plus pulls and 100 sends
    let took =
        all_answered(100, Duration::from_secs(2), Duration::from_millis(4500), BotConfig::default()).await;
    assert!(took >= Duration::from_secs(2), "the handler takes 2 s: {took:?} is too fast to be true");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_whose_handler_never_finishes_delays_no_other_customer() {
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

/// Per customer: the texts echoed and how many sends the local budget refused.
#[derive(Default)]
struct Tally {
    refused: HashMap<String, usize>,
}

#[tokio::test(flavor = "multi_thread")]
async fn bursts_of_eight_get_every_reply_wecom_allows_and_never_a_95001() {
    let sim = sim().await;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let handled = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (tally, handled) = (Arc::clone(&tally), Arc::clone(&handled));
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
    };
    let bot = start_bot(&sim, handler, BotConfig::default()).await;
    let customers: Vec<_> = (0..20).map(|i| sim.customer(KF, &format!("wmB{i:02}"))).collect();
    // people write like this: "在吗" "你好" "我想问…", eight in a row, all twenty at once
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
    let deadline = Instant::now() + Duration::from_secs(20);
    while handled.load(Ordering::SeqCst) < 161 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bot.bot.idle().await;
    assert_eq!(handled.load(Ordering::SeqCst), 161, "every message reached the handler once");

    // WeCom refused none of the runtime's sends
    let refused_by_wecom =
        sim.calls().iter().filter(|c| c.path == "/cgi-bin/kf/send_msg" && c.errcode == Some(95001)).count();
    assert_eq!(refused_by_wecom, 0, "send_msg answered 95001");
    let sends = sim.calls().iter().filter(|c| c.path == "/cgi-bin/kf/send_msg").count();

    // every reply WeCom allows was sent: a customer who did not get all 8 echoes has used the 5
    // replies their latest message allows (the simulator refuses a sixth, with 95001), and the
    // runtime's budget refused exactly the echoes that were not sent
    let probe = support::client(&sim);
    let refused_by_budget = tally.lock().unwrap().refused.clone();
    for c in &customers {
        let user = c.external_userid();
        let echoed = c.replies().len();
        let refused = refused_by_budget.get(user).copied().unwrap_or(0);
        assert_eq!(echoed + refused, 8, "{user}: {echoed} echoed + {refused} refused");
        assert!(echoed >= 5, "{user}: only {echoed} echoes; the latest message alone allows 5");
        if refused > 0 {
            let sixth = probe.message().send_msg(SendMsgRequest::text(user, KF, "one more")).await;
            assert_eq!(
                sixth.err().and_then(|e| e.errcode()),
                Some(95001),
                "{user}: the runtime refused {refused} echo(es) while WeCom still allowed a reply"
            );
        }
    }
    assert_eq!(sends, sim.sent().len(), "every send_msg call was accepted");
    let refused: usize = refused_by_budget.values().sum();
    eprintln!("bursts: {sends} echoes sent, {refused} refused by the local budget, 0 answered 95001");
    assert_eq!(late.replies().len(), 1);
    bot.stop().await;
    sim.shutdown();
}
