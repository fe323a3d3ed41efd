//! One lane per customer: a customer's messages are handled one at a time, in order; different
//! customers' lanes run at the same time, up to [`BotConfig::max_concurrent_handlers`](crate::BotConfig).
//! Events without a customer and servicer items have a lane of their own per account.
//!
//! A message is done when its handler returned (or it was dead-lettered) and its msgid was
//! recorded in the dedupe store; only then does the pull loop count it for the cursor.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{Instrument, debug, warn};
use wxkf_types::message::{Event, Message, Origin};

use crate::context::ReplyContext;
use crate::error::{DeadLetter, DeadLetterReason, HandlerTimedOut, is_permanent};
use crate::handler::HandlerError;
use crate::runtime::{Inner, backoff};

/// Whom a message's lane belongs to, within one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Lane {
    /// A customer's messages and the events about that customer.
    Customer(String),
    /// Events that concern no customer (e.g. `servicer_status_change`).
    System,
    /// What servicers or the API sent (origin 5), and origins this crate does not know.
    Servicer,
}

fn lane_of(msg: &Message) -> Lane {
    let user = msg.external_userid().unwrap_or_default();
    match msg.origin {
        Origin::Customer | Origin::Event if !user.is_empty() => Lane::Customer(user.to_owned()),
        Origin::Event => Lane::System,
        _ => Lane::Servicer,
    }
}

/// Tells a pull loop that one message of its page `page` is done.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    pub(crate) tx: mpsc::UnboundedSender<u64>,
    pub(crate) page: u64,
}

struct Job {
    msg: Message,
    // history from before the first start: recorded, not handled
    skip: bool,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
}

type LaneKey = (String, Lane);
type MsgKey = (String, String);

/// Every lane of the runtime, and who waits for each message in flight.
#[derive(Default)]
pub(crate) struct Lanes {
    lanes: Mutex<HashMap<LaneKey, Queue>>,
    // (open_kfid, msgid) → the pull loops' pages waiting for it; a message pulled again while it
    // is in flight (after a pull loop restarted) waits for the same run instead of a second one
    waiting: Mutex<HashMap<MsgKey, Vec<Done>>>,
}

impl Lanes {
    /// Queues `msg` on its lane (starting the lane's task if idle), or, if the same message is
    /// already in flight, waits for that run.
    pub(crate) fn push(&self, inner: &Arc<Inner>, open_kfid: &str, msg: Message, skip: bool, done: Done) {
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            let key = (open_kfid.to_owned(), msg.msgid.clone());
            if let Some(w) = waiting.get_mut(&key) {
                w.push(done);
                return;
            }
            waiting.insert(key, vec![done]);
        }
        let key = (open_kfid.to_owned(), lane_of(&msg));
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let start = !lanes.contains_key(&key);
        lanes.entry(key.clone()).or_default().jobs.push_back(Job { msg, skip });
        drop(lanes);
        if start {
            let inner = Arc::clone(inner);
            tokio::spawn(async move { run_lane(inner, key).await });
        }
    }

    /// Whether any message of `open_kfid` is queued or running.
    pub(crate) fn busy(&self, open_kfid: &str) -> bool {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.keys().any(|(k, _)| k == open_kfid)
    }

    /// `msgid` of `open_kfid` is done: tells every page that waits for it.
    fn finish(&self, open_kfid: &str, msgid: &str) {
        let waiters = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            waiting.remove(&(open_kfid.to_owned(), msgid.to_owned())).unwrap_or_default()
        };
        for d in waiters {
            // a pull loop that is gone (panicked) re-pulls from the saved cursor
            let _ = d.tx.send(d.page);
        }
    }
}

/// Pops and handles the lane's messages one by one until it is empty.
async fn run_lane(inner: Arc<Inner>, key: LaneKey) {
    // if this task dies (a panic in the runtime's own code), the lane's queue is not stranded:
    // the guard hands what is left to a new task
    struct Restart(Option<(Arc<Inner>, LaneKey)>);
    impl Drop for Restart {
        fn drop(&mut self) {
            if let Some((inner, key)) = self.0.take()
                && let Ok(rt) = tokio::runtime::Handle::try_current()
            {
                rt.spawn(async move { run_lane(inner, key).await });
            }
        }
    }
    let mut restart = Restart(Some((Arc::clone(&inner), key.clone())));
    loop {
        let job = {
            let mut lanes = inner.lanes.lanes.lock().unwrap_or_else(|e| e.into_inner());
            match lanes.get_mut(&key).and_then(|q| q.jobs.pop_front()) {
                Some(job) => job,
                None => {
                    lanes.remove(&key);
                    restart.0 = None;
                    return;
                }
            }
        };
        let open_kfid = &key.0;
        if job.skip {
            debug!(msgid = %job.msg.msgid, "history from before the first start: skipped");
        } else {
            handle(&inner, open_kfid, &job.msg).await;
        }
        inner.recorder().record(open_kfid, &job.msg.msgid);
    }
}

/// Runs the handler for one message: with a timeout, retried with backoff unless the error
/// cannot succeed, then dead-lettered.
async fn handle(inner: &Arc<Inner>, open_kfid: &str, msg: &Message) {
    let kfid = msg.open_kfid().unwrap_or(open_kfid);
    let user = msg.external_userid().unwrap_or_default();
    // the msgids of replies already sent for this message, kept across attempts: a retried
    // handler's earlier parts are not sent again
    let sent: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut attempt = 0u32;
    loop {
        let Ok(permit) = Arc::clone(&inner.permits).acquire_owned().await else { return };
        let ctx = ReplyContext::for_message(inner, kfid, user, msg, Arc::clone(&sent));
        let handler = Arc::clone(&inner.handler);
        let owned = msg.clone();
        let span = tracing::info_span!("wxkf.handle", msgid = %msg.msgid, msgtype = msg.msgtype(), attempt);
        // on its own task, so that a panicking handler counts as a failure instead of killing the
        // lane, and a handler past its timeout is dropped
        let run = tokio::spawn(
            async move {
                match (owned.origin, owned.event()) {
                    (Origin::Customer, _) => handler.on_customer_message(&ctx, &owned).await,
                    (Origin::Event, Some(event)) => handler.on_event(&ctx, &owned, event).await,
                    _ => handler.on_servicer_message(&owned).await,
                }
            }
            .instrument(span),
        );
        let abort = run.abort_handle();
        let timeout = inner.config.handler_timeout;
        let result: Result<(), HandlerError> = match tokio::time::timeout(timeout, run).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(format!("handler panicked: {join}").into()),
            Err(_) => {
                abort.abort();
                Err(Box::new(HandlerTimedOut { after: timeout }))
            }
        };
        drop(permit);
        let error = match result {
            Ok(()) => return,
            Err(e) => e,
        };
        let attempts = attempt + 1;
        let reason = if is_permanent(error.as_ref()) {
            DeadLetterReason::Permanent
        } else if attempt < inner.config.handler_retries {
            let delay = backoff(inner.config.retry_backoff, attempts, Duration::from_secs(300));
            warn!(msgid = %msg.msgid, attempt, retry_in = ?delay, error = %crate::error::chain(error.as_ref()), "handler failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
            continue;
        } else {
            DeadLetterReason::RetriesExhausted
        };
        let dead: HandlerError =
            Box::new(DeadLetter { msgid: msg.msgid.clone(), reason, attempts, source: error });
        inner.handler.on_dead_letter(msg, &dead).await;
        return;
    }
}

impl ReplyContext {
    fn for_message(
        inner: &Arc<Inner>,
        open_kfid: &str,
        external_userid: &str,
        msg: &Message,
        sent: Arc<Mutex<HashSet<String>>>,
    ) -> ReplyContext {
        let welcome_code = match msg.event() {
            Some(Event::EnterSession(e)) => e.welcome_code.clone().filter(|c| !c.is_empty()),
            _ => None,
        };
        ReplyContext {
            client: inner.client.clone(),
            budgets: Arc::clone(&inner.budgets),
            open_kfid: open_kfid.to_owned(),
            external_userid: external_userid.to_owned(),
            welcome_code,
            source_msgid: msg.msgid.clone(),
            next: Arc::new(std::sync::atomic::AtomicU32::new(0)),
            sent,
        }
    }
}

/// Records finished msgids in the dedupe store in batches (one write for whatever finished
/// meanwhile), then tells the pull loops.
pub(crate) struct Recorder {
    tx: mpsc::UnboundedSender<(String, String)>,
}

impl Inner {
    pub(crate) fn recorder(self: &Arc<Self>) -> &Recorder {
        self.recorder.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(record_batches(Arc::downgrade(self), rx));
            Recorder { tx }
        })
    }
}

impl Recorder {
    fn record(&self, open_kfid: &str, msgid: &str) {
        let _ = self.tx.send((open_kfid.to_owned(), msgid.to_owned()));
    }
}

async fn record_batches(inner: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<(String, String)>) {
    const BATCH: usize = 4096;
    let mut batch = Vec::with_capacity(64);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let Some(inner) = inner.upgrade() else { return };
        let mut by_account: HashMap<&str, Vec<&str>> = HashMap::new();
        for (kfid, msgid) in &batch {
            if !msgid.is_empty() {
                by_account.entry(kfid.as_str()).or_default().push(msgid.as_str());
            }
        }
        for (kfid, ids) in by_account {
            let mut failures = 0u32;
            while let Err(e) = inner.dedupe.remember_many(kfid, &ids, inner.config.dedupe_ttl).await {
                failures += 1;
                // until it is recorded the cursor does not move past it: a crash re-pulls it
                warn!(open_kfid = kfid, failures, error = %crate::error::chain(&e), "could not record handled msgids; retrying");
                if inner.closing.load(Ordering::SeqCst) && failures >= 3 {
                    // shutting down: the saved cursor still passes it, so it is not pulled again
                    // unless the cursor save fails too
                    break;
                }
                tokio::time::sleep(backoff(Duration::from_millis(100), failures, Duration::from_secs(5)))
                    .await;
            }
        }
        for (kfid, msgid) in batch.drain(..) {
            inner.lanes.finish(&kfid, &msgid);
        }
    }
}
