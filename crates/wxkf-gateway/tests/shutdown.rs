//! SIGTERM while a 3 s webhook call runs: the gateway process lets the turn finish (the answer
//! is sent), saves the cursor and exits 0; started again on the same data_dir it delivers and
//! sends nothing twice.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::time::{Duration, Instant};

use support::{Hook, World, text_answer, texts, webhook_backend};

const KF: &str = "wkTERM";
const WAIT: Duration = Duration::from_secs(15);
const SLOW: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_a_3s_webhook_call_runs_sends_the_answer_exits_0_and_a_restart_repeats_nothing() {
    let world = World::new("sigterm", &[KF]).await;
    let hook = Hook::start(|_, body| {
        let said = body["messages"][0]["text"].as_str().unwrap_or_default().to_owned();
        (200, text_answer(&format!("答：{said}"), None), SLOW)
    })
    .await;
    let rest = format!("[conversation]\nturn_quiet_ms = 200\n{}", webhook_backend(&hook.url, 10));
    let config = world.config("gateway.toml", "", &rest);
    let mut gw = world.gateway(&config).await;
    let alice = world.sim.customer(KF, "wmALICE");
    alice.say("慢慢来");
    assert_eq!(hook.wait_for_turns(1, WAIT).await.len(), 1);
    // the webhook call has begun and takes 3 s
    let term_at = Instant::now();
    gw.sigterm();
    // callbacks are refused while it drains (WeCom would deliver them again later)
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = gw.wait(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status}");
    assert!(term_at.elapsed() >= SLOW - Duration::from_millis(500), "it waited for the running call");
    assert_eq!(texts(&alice.replies()), ["答：慢慢来"], "the answer was sent before the exit");
    assert!(gw.logged(&["every running handler finished and the cursors are saved"]));
    drop(gw);

    // the same data_dir: the start-up pull finds the handled turn and repeats nothing
    let gw = world.gateway(&config).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.deliveries().len(), 1, "no delivery repeated after the restart");
    assert_eq!(alice.replies().len(), 1, "no reply repeated after the restart");
    // and it works: a new message is delivered, alone
    alice.say("再来一个");
    let turns = hook.wait_for_turns(2, WAIT).await;
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[1].texts(), ["再来一个"]);
    assert_eq!(texts(&alice.wait_for_replies(2, WAIT).await), ["答：慢慢来", "答：再来一个"]);
    drop(gw);
}
