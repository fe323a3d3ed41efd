//! Poll mode (`Bot::poll`, a bot with no public callback URL) against the simulator with its
//! default limit on `sync_msg` without a callback token (10 calls per 60 s per account,
//! `SimBuilder::tokenless_sync_limit`): customers are answered, and a bot that polls faster than
//! the limit backs off instead of meeting 45009 on every tick.

use std::time::{Duration, Instant};

use wxkf_axum::bot::{Bot, BotConfig, HandlerError, ReplyContext, handler_fn};
use wxkf_sim::SimHandle;
use wxkf_types::message::{Message, MessageContent};

const KF: &str = "wkPOLL";
const SYNC: &str = "/cgi-bin/kf/sync_msg";

async fn sim() -> SimHandle {
    // no callback URL: the simulator pushes nothing, the bot has to poll
    wxkf_sim::Sim::builder().account(KF, "poll").start().await.unwrap()
}

fn echo_bot(sim: &SimHandle) -> Bot {
    let client =
        wxkf_client::Client::builder(sim.corp_id(), sim.secret()).base_url(sim.base_url()).build().unwrap();
    let handler = handler_fn(|ctx: ReplyContext, msg: Message| async move {
        if let MessageContent::Text(t) = &msg.content {
            ctx.reply_text(&format!("echo: {}", t.content)).await?;
        }
        Ok::<(), HandlerError>(())
    });
    Bot::builder(client, handler).memory_store().config(BotConfig::default()).build().unwrap()
}

fn errcodes(sim: &SimHandle, code: i64) -> usize {
    sim.calls().iter().filter(|c| c.path == SYNC && c.errcode == Some(code)).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_mode_answers_customers_within_the_tokenless_limit() {
    let sim = sim().await;
    let bot = echo_bot(&sim);
    let every = Duration::from_secs(3);
    let poller = tokio::spawn({
        let bot = bot.clone();
        async move { bot.poll(&[KF], every).await }
    });
    let customers: Vec<_> = (0..5).map(|i| sim.customer(KF, &format!("wmP{i}"))).collect();
    for c in &customers {
        c.say("你好");
    }
    let written = Instant::now();
    for c in &customers {
        let r = c.wait_for_replies(1, every * 3).await;
        assert_eq!(r.len(), 1, "{} answered by polling", c.external_userid());
    }
    assert!(written.elapsed() <= every + Duration::from_secs(2), "answered after {:?}", written.elapsed());
    // a second round, a few polls later
    tokio::time::sleep(every * 2).await;
    customers[0].say("还在吗");
    let written = Instant::now();
    let r = customers[0].wait_for_replies(2, every * 3).await;
    assert_eq!(r.len(), 2);
    assert!(written.elapsed() <= every + Duration::from_secs(2), "answered after {:?}", written.elapsed());

    // a poll every 3 s (plus the start-up pull) stays within 10 calls per minute: never a 45009
    assert_eq!(errcodes(&sim, 45009), 0, "sync_msg answered 45009");
    let pulls = sim.call_count(SYNC);
    assert!(pulls >= 4, "{pulls} sync_msg calls: the bot did poll");
    bot.shutdown().await;
    poller.await.unwrap();
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_faster_than_wecom_allows_backs_off_instead_of_storming() {
    let sim = sim().await;
    let bot = echo_bot(&sim);
    let alice = sim.customer(KF, "wmALICE");
    alice.say("one");
    // every 100 ms, the fastest poll() allows: 10 tokenless calls use up the minute's budget
    let poller = tokio::spawn({
        let bot = bot.clone();
        async move { bot.poll(&[KF], Duration::from_millis(100)).await }
    });
    alice.wait_for_replies(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let limited = errcodes(&sim, 45009);
    let pulls = sim.call_count(SYNC);
    eprintln!("12 s of polling every 100 ms: {pulls} sync_msg calls, {limited} answered 45009");
    // ~120 ticks. A pull that meets 45009 is retried twice by the client (its throttle backoff,
    // ~1.5 s then ~5 s), then the runtime waits at least 10 s before the account's next pull:
    // at most 3 answers of 45009 in this time, not one per tick
    assert!(limited >= 1, "the budget of 10 per minute was met");
    assert!(limited <= 3, "{limited} 45009 answers in 12 s: the runtime does not back off");
    assert!(pulls <= 10 + limited, "{pulls} sync_msg calls in 12 s");
    assert_eq!(alice.replies().len(), 1);
    bot.shutdown().await;
    poller.await.unwrap();
    sim.shutdown();
}
