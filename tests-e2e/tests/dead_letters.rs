//! Dead letters that last (issue 21): a handler failing permanently dead-letters a message; the
//! dead letter survives a restart on the same data_dir and on Redis; a replay once the handler is
//! fixed answers the customer exactly once (also after a partial send); the runtime's metrics
//! move as they should and no label holds a customer id or a msgid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use wxkf_axum::bot::{Bot, BotConfig, BotError, Handler, HandlerError, ReplyContext, async_trait};
use wxkf_sim::SimHandle;
use wxkf_types::message::Message;

mod support;

const WAIT: Duration = Duration::from_secs(15);

// ---- a recorder that keeps every value (the tests read it without resetting it) ----

fn registry() -> &'static Registry<Key, AtomicStorage> {
    static REGISTRY: OnceLock<Registry<Key, AtomicStorage>> = OnceLock::new();
    REGISTRY.get_or_init(Registry::atomic)
}

struct Keep;

impl Recorder for Keep {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        registry().get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        registry().get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        registry().get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}

fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| metrics::set_global_recorder(Keep).expect("the only recorder of this test binary"));
}

fn labels_match(key: &Key, want: &[(&str, &str)]) -> bool {
    want.iter().all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
}

fn counter(name: &str, want: &[(&str, &str)]) -> u64 {
    registry()
        .get_counter_handles()
        .iter()
        .filter(|(k, _)| k.name() == name && labels_match(k, want))
        .map(|(_, c)| c.load(Ordering::SeqCst))
        .sum()
}

fn gauge(name: &str, want: &[(&str, &str)]) -> f64 {
    registry()
        .get_gauge_handles()
        .iter()
        .filter(|(k, _)| k.name() == name && labels_match(k, want))
        .map(|(_, g)| f64::from_bits(g.load(Ordering::SeqCst)))
        .sum()
}

fn samples(name: &str, want: &[(&str, &str)]) -> usize {
    registry()
        .get_histogram_handles()
        .iter()
        .filter(|(k, _)| k.name() == name && labels_match(k, want))
        .map(|(_, h)| h.data().len())
        .sum()
}

/// Every label value of every metric recorded so far.
fn label_values() -> Vec<String> {
    let r = registry();
    let keys: Vec<Key> = r
        .get_counter_handles()
        .into_keys()
        .chain(r.get_gauge_handles().into_keys())
        .chain(r.get_histogram_handles().into_keys())
        .collect();
    keys.iter().flat_map(|k| k.labels().map(|l| l.value().to_owned()).collect::<Vec<_>>()).collect()
}

// ---- the scenario ----

/// Fails every message with an error that cannot succeed while `broken`; once fixed, answers
/// "first part" then "second part". With `fail_after_first`, a broken run sends the first part
/// before failing (a partial send).
#[derive(Clone, Default)]
struct Flaky {
    broken: Arc<AtomicBool>,
    fail_after_first: bool,
    runs: Arc<AtomicU64>,
    hooked: Arc<AtomicU64>,
}

#[async_trait]
impl Handler for Flaky {
    async fn on_customer_message(&self, ctx: &ReplyContext, _msg: &Message) -> Result<(), HandlerError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self.broken.load(Ordering::SeqCst) {
            if self.fail_after_first {
                ctx.reply_text("first part").await?;
            }
            // the kind of error nothing retries: a request WeCom refuses as invalid
            return Err(Box::new(wxkf_client::Error::invalid_argument("the model answered nothing usable")));
        }
        ctx.reply_text("first part").await?;
        ctx.reply_text("second part").await?;
        Ok(())
    }

    async fn on_dead_letter(&self, _msg: &Message, _error: &HandlerError) {
        self.hooked.fetch_add(1, Ordering::SeqCst);
    }
}

async fn sim(kf: &str) -> SimHandle {
    wxkf_sim::Sim::builder().account(kf, "dead letters").start().await.unwrap()
}

/// Where a bot of these tests keeps its state.
#[derive(Clone)]
enum Place {
    Dir(std::path::PathBuf),
    Redis(redis::aio::ConnectionManager, String),
}

async fn start(sim: &SimHandle, handler: Flaky, place: &Place) -> support::Running {
    // the store of a bot just stopped is free once the last clone of it (in the aborted
    // server task) is dropped, a moment after
    let deadline = tokio::time::Instant::now() + WAIT;
    let bot = loop {
        let builder = Bot::builder(support::client(sim), handler.clone())
            .config(BotConfig::default().with_retries(2, Duration::from_millis(10)));
        let built = match place.clone() {
            Place::Dir(dir) => builder.data_dir(dir),
            Place::Redis(conn, prefix) => builder.redis(conn, &prefix),
        }
        .build();
        match built {
            Ok(bot) => break bot,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("store not free yet: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("could not build the bot: {e}"),
        }
    };
    let running = support::serve(sim, move |_| bot).await;
    support::after_startup_pull(sim, &running).await;
    running
}

async fn until(mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

fn texts(sim: &SimHandle, kf: &str, user: &str) -> Vec<String> {
    sim.sent_to(kf, user).iter().filter_map(|s| s.text().map(str::to_owned)).collect()
}

/// The whole story on one store: dead-lettered, kept across a restart, replayed once fixed.
async fn story(kf: &str, place: Place, partial: bool) {
    install();
    let sim = sim(kf).await;
    let user = "wmDEADLETTERCUSTOMER";
    let handler = Flaky { fail_after_first: partial, ..Flaky::default() };
    handler.broken.store(true, Ordering::SeqCst);
    let first = start(&sim, handler.clone(), &place).await;
    let msgid = sim.customer(kf, user).say("where is my order?");
    assert!(until(|| handler.hooked.load(Ordering::SeqCst) == 1).await, "the hook saw the dead letter");
    first.bot.idle().await;
    assert_eq!(handler.runs.load(Ordering::SeqCst), 1, "a permanent error is not retried");
    let kept = first.bot.dead_letters().await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let dead = &kept[0];
    assert!(dead.id.starts_with("dl_"));
    assert_eq!(dead.open_kfid, kf);
    assert_eq!(dead.external_userid.as_deref(), Some(user));
    assert_eq!(dead.msgids, std::slice::from_ref(&msgid));
    assert_eq!(dead.reason, "permanent");
    assert_eq!(dead.attempts, 1);
    assert!(dead.error.contains("the model answered nothing usable"), "{}", dead.error);
    assert_eq!(gauge("wxkf_dead_letters", &[("open_kfid", kf)]), 1.0);
    assert_eq!(counter("wxkf_messages_handled_total", &[("open_kfid", kf), ("outcome", "dead_letter")]), 1);
    assert_eq!(texts(&sim, kf, user), if partial { vec!["first part"] } else { Vec::<&str>::new() });

    // a restart on the same store still has it
    first.stop().await;
    let second = start(&sim, handler.clone(), &place).await;
    let kept_again = second.bot.dead_letters().await.unwrap();
    assert_eq!(kept_again, kept, "the dead letter survived the restart unchanged");
    assert_eq!(handler.runs.load(Ordering::SeqCst), 1, "the restart did not handle the message again");

    // replaying while still broken keeps it, one attempt more
    match second.bot.replay(&dead.id).await {
        Err(BotError::ReplayFailed(e)) => assert!(e.to_string().contains("nothing usable"), "{e}"),
        other => panic!("expected ReplayFailed, got {other:?}"),
    }
    let after_failed = second.bot.dead_letters().await.unwrap();
    assert_eq!(after_failed.len(), 1);
    assert_eq!(after_failed[0].attempts, 2);
    assert_eq!(handler.runs.load(Ordering::SeqCst), 2, "a replay runs the handler once, without retries");

    // fixed: the replay answers the customer, exactly once, and the dead letter is gone
    handler.broken.store(false, Ordering::SeqCst);
    second.bot.replay(&dead.id).await.expect("the fixed handler answers");
    assert_eq!(texts(&sim, kf, user), ["first part", "second part"], "each part went out once");
    assert!(second.bot.dead_letters().await.unwrap().is_empty());
    assert!(matches!(second.bot.replay(&dead.id).await, Err(BotError::DeadLetterNotFound(_))));
    assert!(!second.bot.discard(&dead.id).await.unwrap());
    assert_eq!(gauge("wxkf_dead_letters", &[("open_kfid", kf)]), 0.0);
    assert_eq!(counter("wxkf_messages_handled_total", &[("open_kfid", kf), ("outcome", "ok")]), 1);
    assert_eq!(counter("wxkf_messages_handled_total", &[("open_kfid", kf), ("outcome", "dead_letter")]), 2);
    assert_eq!(counter("wxkf_messages_pulled_total", &[("open_kfid", kf)]), 1);
    assert_eq!(counter("wxkf_replies_total", &[("open_kfid", kf), ("outcome", "sent")]), 2);
    assert!(samples("wxkf_handler_seconds", &[("open_kfid", kf)]) >= 3);
    assert!(samples("wxkf_pull_seconds", &[("open_kfid", kf)]) >= 1);
    // nothing waits: the backlog gauges are back to zero, every lane ended
    second.bot.idle().await;
    assert!(until(|| gauge("wxkf_lanes_active", &[("open_kfid", kf)]) == 0.0).await);
    assert_eq!(gauge("wxkf_in_flight", &[("open_kfid", kf)]), 0.0);
    assert_eq!(gauge("wxkf_cursor_lag_seconds", &[("open_kfid", kf)]), 0.0);
    let values = label_values();
    assert!(values.iter().any(|v| v == kf));
    assert!(
        !values.iter().any(|v| v.contains(user) || v.contains(&msgid)),
        "a label holds a customer id or msgid: {values:?}"
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_survives_a_restart_on_the_data_dir_and_a_replay_answers_once() {
    let dir = support::temp_dir("dead-letters");
    story("wkDEADDIR", Place::Dir(dir), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_after_a_partial_send_does_not_send_the_first_part_again() {
    let dir = support::temp_dir("dead-letters-partial");
    story("wkDEADPART", Place::Dir(dir), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_survives_a_restart_on_redis_and_a_replay_answers_once() {
    let url = support::redis_url();
    if !support::redis_required("dead_letters_on_redis", &url).await {
        return;
    }
    let conn = redis::Client::open(url.as_str()).unwrap().get_connection_manager().await.unwrap();
    story("wkDEADREDIS", Place::Redis(conn, support::prefix("dead-letters")), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discarded_dead_letter_is_gone_and_a_retried_one_counts_its_attempts() {
    install();
    let kf = "wkDEADDISCARD";
    let sim = sim(kf).await;
    // a transient failure: retried twice, then given up
    #[derive(Clone, Default)]
    struct Transient(Arc<AtomicU64>);
    #[async_trait]
    impl Handler for Transient {
        async fn on_customer_message(&self, _: &ReplyContext, _: &Message) -> Result<(), HandlerError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err("the model is overloaded".into())
        }
    }
    let runs = Transient::default();
    let dir = support::temp_dir("dead-letters-discard");
    let running = support::serve(&sim, {
        let runs = runs.clone();
        move |client| {
            Bot::builder(client, runs)
                .config(BotConfig::default().with_retries(2, Duration::from_millis(10)))
                .data_dir(dir)
                .build()
                .unwrap()
        }
    })
    .await;
    support::after_startup_pull(&sim, &running).await;
    sim.customer(kf, "wmDISCARD").say("hello?");
    assert!(until(|| runs.0.load(Ordering::SeqCst) == 3).await);
    running.bot.idle().await;
    let kept = running.bot.dead_letters().await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].reason, "retries_exhausted");
    assert_eq!(kept[0].attempts, 3);
    assert_eq!(counter("wxkf_messages_handled_total", &[("open_kfid", kf), ("outcome", "retried")]), 2);
    assert!(running.bot.discard(&kept[0].id).await.unwrap());
    assert!(running.bot.dead_letters().await.unwrap().is_empty());
    assert!(!running.bot.discard(&kept[0].id).await.unwrap(), "discarding twice finds nothing");
    assert_eq!(runs.0.load(Ordering::SeqCst), 3, "discarding never runs the handler");
    running.stop().await;
}

/// The gauges while a handler runs (handlers running, lanes, messages in flight, cursor lag) and
/// after (back to zero); a session a servicer takes counts as held; a sixth reply is a budget
/// refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gauges_follow_a_running_handler_a_held_session_and_a_refused_reply() {
    install();
    let kf = "wkGAUGES";
    let sim = sim(kf).await;
    sim.add_servicer(kf, "zhangsan");
    #[derive(Clone, Default)]
    struct Slow {
        release: Arc<tokio::sync::Notify>,
        running: Arc<AtomicBool>,
    }
    #[async_trait]
    impl Handler for Slow {
        async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
            if matches!(&msg.content, wxkf_types::message::MessageContent::Text(t) if t.content == "six") {
                for i in 0..6 {
                    ctx.reply_text(&format!("part {i}")).await?;
                }
                return Ok(());
            }
            self.running.store(true, Ordering::SeqCst);
            self.release.notified().await;
            Ok(())
        }
    }
    let slow = Slow::default();
    let dir = support::temp_dir("dead-letters-gauges");
    let running = support::serve(&sim, {
        let slow = slow.clone();
        move |client| Bot::builder(client, slow).data_dir(dir).build().unwrap()
    })
    .await;
    support::after_startup_pull(&sim, &running).await;
    sim.customer(kf, "wmGAUGEWAITER").say("slow please");
    assert!(until(|| slow.running.load(Ordering::SeqCst)).await);
    assert!(gauge("wxkf_handlers_running", &[]) >= 1.0);
    assert_eq!(gauge("wxkf_lanes_active", &[("open_kfid", kf)]), 1.0);
    assert_eq!(gauge("wxkf_in_flight", &[("open_kfid", kf)]), 1.0);
    // the lag is refreshed every 5 s while the message waits
    assert!(
        until(|| gauge("wxkf_cursor_lag_seconds", &[("open_kfid", kf)]) >= 4.0).await,
        "the lag grows while it waits"
    );
    slow.release.notify_one();
    running.bot.idle().await;
    assert!(until(|| gauge("wxkf_lanes_active", &[("open_kfid", kf)]) == 0.0).await);
    assert_eq!(gauge("wxkf_in_flight", &[("open_kfid", kf)]), 0.0);
    assert_eq!(gauge("wxkf_cursor_lag_seconds", &[("open_kfid", kf)]), 0.0);

    // six replies to one message: five go out, the sixth is refused by the budget
    let six = sim.customer(kf, "wmGAUGESIX");
    six.say("six");
    assert!(
        until(|| counter("wxkf_replies_total", &[("open_kfid", kf), ("outcome", "budget_refused")]) == 1)
            .await
    );
    running.bot.idle().await;
    assert_eq!(counter("wxkf_replies_total", &[("open_kfid", kf), ("outcome", "sent")]), 5);

    // a servicer takes a session: the pull sees the event and the session counts as held
    sim.servicer_takes(kf, "wmGAUGESIX", "zhangsan");
    assert!(until(|| gauge("wxkf_sessions_held_by_servicer", &[("open_kfid", kf)]) == 1.0).await);
    running.stop().await;
}

/// A dead-letter store that fails: the hook still runs, and the failure is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_that_cannot_be_kept_still_reaches_the_hook_and_is_counted() {
    install();
    let kf = "wkDEADBROKENSTORE";
    let sim = sim(kf).await;
    struct Broken;
    #[async_trait]
    impl wxkf_bot::DeadLetterStore for Broken {
        async fn keep(&self, _: &wxkf_bot::DeadLetterRecord, _: Duration) -> std::io::Result<()> {
            Err(std::io::Error::other("disk full"))
        }
        async fn get(&self, _: &str) -> std::io::Result<Option<wxkf_bot::DeadLetterRecord>> {
            Ok(None)
        }
        async fn list(&self) -> std::io::Result<Vec<wxkf_bot::DeadLetterRecord>> {
            Ok(Vec::new())
        }
        async fn remove(&self, _: &str) -> std::io::Result<bool> {
            Ok(false)
        }
    }
    let handler = Flaky::default();
    handler.broken.store(true, Ordering::SeqCst);
    let running = support::serve(&sim, {
        let handler = handler.clone();
        move |client| Bot::builder(client, handler).memory_store().dead_letter_store(Broken).build().unwrap()
    })
    .await;
    support::after_startup_pull(&sim, &running).await;
    sim.customer(kf, "wmBROKENSTORE").say("hello");
    assert!(until(|| handler.hooked.load(Ordering::SeqCst) == 1).await, "the hook ran");
    assert!(until(|| counter("wxkf_dead_letter_store_errors_total", &[("open_kfid", kf)]) == 1).await);
    running.stop().await;
}

/// `wxkf_replies_total`'s other outcomes: a reply WeCom refuses is `failed`; a reply after a
/// servicer took the session is `session_left_bot` (not sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reply_counts_as_failed_and_one_after_a_hand_off_as_session_left_bot() {
    use wxkf_sim::{Fault, FaultRule};
    install();
    let kf = "wkREPLYOUTCOMES";
    let sim = sim(kf).await;
    sim.add_servicer(kf, "zhangsan");
    #[derive(Clone, Default)]
    struct Waits(Arc<tokio::sync::Notify>, Arc<AtomicBool>);
    #[async_trait]
    impl Handler for Waits {
        async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
            if matches!(&msg.content, wxkf_types::message::MessageContent::Text(t) if t.content == "wait") {
                self.1.store(true, Ordering::SeqCst);
                self.0.notified().await;
            }
            ctx.reply_text("answer").await?;
            Ok(())
        }
    }
    let waits = Waits::default();
    let running = support::serve(&sim, {
        let waits = waits.clone();
        move |client| Bot::builder(client, waits).memory_store().build().unwrap()
    })
    .await;
    support::after_startup_pull(&sim, &running).await;
    // WeCom refuses the send once with an errcode no retry fixes
    sim.inject(FaultRule::new(Fault::Errcode(40003)).path("/cgi-bin/kf/send_msg").times(1));
    sim.customer(kf, "wmREFUSED").say("hello");
    assert!(until(|| counter("wxkf_replies_total", &[("open_kfid", kf), ("outcome", "failed")]) == 1).await);
    running.bot.idle().await;
    // a servicer takes the session while the handler still works on its answer
    sim.customer(kf, "wmTAKEN").say("wait");
    assert!(until(|| waits.1.load(Ordering::SeqCst)).await);
    sim.servicer_takes(kf, "wmTAKEN", "zhangsan");
    assert!(until(|| gauge("wxkf_sessions_held_by_servicer", &[("open_kfid", kf)]) == 1.0).await);
    waits.0.notify_one();
    assert!(
        until(|| counter("wxkf_replies_total", &[("open_kfid", kf), ("outcome", "session_left_bot")]) == 1)
            .await
    );
    running.bot.idle().await;
    assert!(sim.sent_to(kf, "wmTAKEN").is_empty(), "nothing reached the customer a servicer has");
    assert_eq!(counter("wxkf_replies_total", &[("open_kfid", kf), ("outcome", "sent")]), 0);
    running.stop().await;
}
