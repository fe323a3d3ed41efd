//! The bot runtime (wxkf-bot behind wxkf-axum's router) end to end against the simulator: signed
//! callbacks, real `sync_msg` paging and `send_msg` rules, nothing mocked.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wxkf_axum::bot::{
    Bot, CursorStore, FileCursorStore, HandlerError, MemoryCursorStore, ReplyContext, handler_fn,
};
use wxkf_sim::{Fault, FaultRule, SimHandle};
use wxkf_types::message::{Message, MessageContent};

mod support;
use support::Running;

const KF: &str = "wkE2E";
const WAIT: Duration = Duration::from_secs(10);

/// Starts an echo bot against `sim` with `store` and points the simulator's callbacks at it.
async fn start_bot(sim: &SimHandle, store: Arc<dyn CursorStore>) -> Running {
    let handler = handler_fn(|ctx: ReplyContext, msg: Message| async move {
        if let MessageContent::Text(t) = &msg.content {
            ctx.reply_text(&format!("echo: {}", t.content)).await?;
        }
        Ok::<(), HandlerError>(())
    });
    support::serve(sim, |client| {
        Bot::builder(client, handler).cursor_store(store).memory_store().build().expect("valid bot config")
    })
    .await
}

async fn sim() -> SimHandle {
    wxkf_sim::Sim::builder()
        .account(KF, "e2e")
        .callback_timeout(Duration::from_secs(2))
        .start()
        .await
        .unwrap()
}

fn echoes(sim: &SimHandle, user: &str) -> Vec<String> {
    sim.sent().iter().filter(|s| s.touser == user).filter_map(|s| s.text().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_customer_message_is_answered_once_and_servicers_are_never_echoed() {
    let sim = sim().await;
    let bot = start_bot(&sim, Arc::new(MemoryCursorStore::default())).await;
    let alice = sim.customer(KF, "wmALICE");
    alice.say("你好");
    alice.wait_for_replies(1, WAIT).await;
    alice.say("第二条");
    alice.wait_for_replies(2, WAIT).await;
    // the same callback delivered again, three times: nothing new is answered
    for _ in 0..3 {
        sim.notify(KF);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    bot.bot.idle().await;
    assert_eq!(echoes(&sim, "wmALICE"), ["echo: 你好", "echo: 第二条"]);

    // a servicer writes from the WeCom client (origin 5): the bot must not echo it
    let bob = sim.customer(KF, "wmBOB");
    bob.say("在吗");
    bob.wait_for_replies(1, WAIT).await;
    sim.servicer_says(KF, "wmBOB", "zhangsan", "您好，我是人工客服");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(echoes(&sim, "wmBOB"), ["echo: 在吗"]);
    bot.stop().await;
    sim.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_with_the_file_store_neither_skips_nor_repeats() {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "wxkf-e2e-{}-{:?}.json",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_file(&path);
    let sim = sim().await;
    let alice = sim.customer(KF, "wmALICE");

    let first = start_bot(&sim, Arc::new(FileCursorStore::new(&path))).await;
    alice.say("one");
    alice.wait_for_replies(1, WAIT).await;
    first.stop().await;

    // while no bot runs, the customer writes; the callback finds nobody
    alice.say("two");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let second = start_bot(&sim, Arc::new(FileCursorStore::new(&path))).await;
    alice.say("three");
    alice.wait_for_replies(3, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(echoes(&sim, "wmALICE"), ["echo: one", "echo: two", "echo: three"]);
    second.stop().await;
    sim.shutdown();
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flaky_send_is_retried_and_delivered_once() {
    let sim = sim().await;
    let bot = start_bot(&sim, Arc::new(MemoryCursorStore::default())).await;
    sim.inject(FaultRule::new(Fault::Errcode(-1)).path("/cgi-bin/kf/send_msg").nth(1));
    sim.inject(FaultRule::new(Fault::HttpStatus(502)).path("/cgi-bin/kf/sync_msg").nth(1));
    let alice = sim.customer(KF, "wmALICE");
    alice.say("hello");
    alice.wait_for_replies(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(echoes(&sim, "wmALICE"), ["echo: hello"]);
    bot.stop().await;
    sim.shutdown();
}
