//! One lane per customer: a customer's messages are handled one at a time, in order; different
//! customers' lanes run at the same time, up to [`BotConfig::max_concurrent_handlers`](crate::BotConfig).
//! Events without a customer and servicer items have a lane of their own per account.
//!
//! A message is done when its handler returned (or it was dead-lettered) and its msgid was
//! recorded in the dedupe store; only then does the pull loop count it for the cursor.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tracing::{Instrument, debug, info, warn};
use wxkf_types::message::{Event, Message, Origin};
use wxkf_types::service_state::ServiceState;

use crate::conversation::{Turn, TurnConfig, with_people};
use crate::dead_letter::reason_name;
use crate::error::HandlerError;
use crate::error::{DeadLetter, DeadLetterReason, HandlerTimedOut, is_permanent, is_session_left};
use crate::reply::context::ReplyContext;
use crate::runtime::state::{Done, Failure, Handling, Job, Lane, LaneKey, Lanes, Recorder, Replay};
use crate::runtime::util::backoff;

fn lane_of(msg: &Message) -> Lane {
    let user = msg.external_userid().unwrap_or_default();
    match msg.origin {
        Origin::Customer | Origin::Event if !user.is_empty() => Lane::Customer(user.to_owned()),
        Origin::Event => Lane::System,
        _ => Lane::Servicer,
    }
}

impl Lanes {
    /// Queues `msg` on its lane (starting the lane's task if idle), or, if the same message is
    /// already in flight, waits for that run.
    pub(crate) fn push(&self, inner: &Arc<Handling>, open_kfid: &str, msg: Message, skip: bool, done: Done) {
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
        let q = lanes.entry(key.clone()).or_default();
        q.jobs.push_back(Job { msg, replay: None, skip, at: Instant::now() });
        q.notify.notify_one();
        drop(lanes);
        if start {
            crate::telemetry::lane(open_kfid, 1.0);
            let inner = Arc::clone(inner);
            tokio::spawn(async move { run_lane(inner, key).await });
        }
    }

    /// Queues a dead letter's `messages` (not empty) on the lane of its first one, behind what
    /// the lane already holds; `done` hears how the replay went.
    pub(crate) fn push_replay(
        &self,
        inner: &Arc<Handling>,
        open_kfid: &str,
        messages: Vec<Message>,
        done: tokio::sync::oneshot::Sender<Result<(), Failure>>,
    ) {
        let Some(first) = messages.first().cloned() else { return };
        let key = (open_kfid.to_owned(), lane_of(&first));
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let start = !lanes.contains_key(&key);
        let q = lanes.entry(key.clone()).or_default();
        let replay = Some(Box::new(Replay { messages, done }));
        q.jobs.push_back(Job { msg: first, replay, skip: false, at: Instant::now() });
        q.notify.notify_one();
        drop(lanes);
        if start {
            crate::telemetry::lane(open_kfid, 1.0);
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

/// Pops and handles the lane's messages one by one until it is empty. With turns on, a
/// customer's consecutive messages are taken together (docs/ai-bot.md).
async fn run_lane(inner: Arc<Handling>, key: LaneKey) {
    // if this task dies (a panic in the runtime's own code, not in a handler), the lane is not
    // stranded: the messages in hand count as done (as if dead-lettered, so the account's cursor
    // is not held back for good) and the guard hands what is left to a new task
    struct Restart(Option<(Arc<Handling>, LaneKey)>, Vec<String>);
    impl Drop for Restart {
        fn drop(&mut self) {
            if let Some((inner, key)) = self.0.take() {
                for msgid in self.1.drain(..) {
                    tracing::debug!(msgid = %msgid, "the message in hand when the lane failed");
                    tracing::error!(open_kfid = %key.0, "the lane failed while handling a message; counted as dead-lettered");
                    inner.recorder().record(&key.0, &msgid);
                }
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move { run_lane(inner, key).await });
                }
            }
        }
    }
    let mut restart = Restart(Some((Arc::clone(&inner), key.clone())), Vec::new());
    loop {
        let (job, notify) = {
            let mut lanes = inner.lanes.lanes.lock().unwrap_or_else(|e| e.into_inner());
            match lanes.get_mut(&key).and_then(|q| q.jobs.pop_front().map(|j| (j, Arc::clone(&q.notify)))) {
                Some(popped) => popped,
                None => {
                    lanes.remove(&key);
                    crate::telemetry::lane(&key.0, -1.0);
                    restart.0 = None;
                    return;
                }
            }
        };
        let open_kfid = &key.0;
        if let Some(replay) = job.replay {
            // its msgids were recorded when it was dead-lettered
            restart.1.clear();
            let result = replay_in_lane(&inner, &key, replay.messages).await;
            let _ = replay.done.send(result);
            continue;
        }
        restart.1 = vec![job.msg.msgid.clone()];
        if job.skip {
            debug!(msgid = %job.msg.msgid, "history from before the first start: skipped");
            inner.recorder().record(open_kfid, &job.msg.msgid);
            continue;
        }
        if !is_turn_item(&job) || !matches!(key.1, Lane::Customer(_)) {
            handle(&inner, open_kfid, Call::One(job.msg.clone()), None, false).await;
            inner.recorder().record(open_kfid, &job.msg.msgid);
            continue;
        }
        let mut jobs = vec![job];
        if let Some(turns) = &inner.config.turns {
            collect_turn(&inner, &key, &notify, turns, &mut jobs).await;
        }
        restart.1 = jobs.iter().map(|j| j.msg.msgid.clone()).collect();
        let messages: Vec<Message> = jobs.iter().map(|j| j.msg.clone()).collect();
        let calls = customer_calls(&inner, open_kfid, messages, inner.config.turns.is_some()).await;
        let cancel = inner.config.turns.as_ref().filter(|t| t.cancel_running).map(|_| (&notify, &key));
        let mut cancelled = false;
        for call in calls {
            if let Outcome::Cancelled = handle(&inner, open_kfid, call, cancel, false).await {
                cancelled = true;
            }
        }
        if cancelled {
            // answered together with what came in: back to the front, in order
            debug!(messages = jobs.len(), "a new message stopped the running answer");
            let mut lanes = inner.lanes.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let q = lanes.entry(key.clone()).or_default();
            for j in jobs.into_iter().rev() {
                q.jobs.push_front(j);
            }
            restart.1.clear();
            continue;
        }
        for j in &jobs {
            inner.recorder().record(open_kfid, &j.msg.msgid);
        }
    }
}

/// A customer message to handle (not history, not a replay).
fn is_turn_item(job: &Job) -> bool {
    !job.skip && job.replay.is_none() && job.msg.origin == Origin::Customer
}

/// How a customer's `messages` (in order, not empty) are handed to the handler: one call per
/// message to [`Handler::on_handed_off_message`](crate::Handler::on_handed_off_message) while
/// people have the session, else one turn (`as_turn`) or one call per message.
async fn customer_calls(
    inner: &Arc<Handling>,
    open_kfid: &str,
    messages: Vec<Message>,
    as_turn: bool,
) -> Vec<Call> {
    let Some(first) = messages.first() else { return Vec::new() };
    let kfid = first.open_kfid().unwrap_or(open_kfid).to_owned();
    let user = first.external_userid().unwrap_or_default().to_owned();
    let state = match inner.sessions.current(&inner.client, inner.config.session_lookup, &kfid, &user).await {
        Ok(s) => s,
        Err(e) => {
            // unknown: the handler runs, and each send is checked again
            warn!(open_kfid = %kfid, error = %crate::error::chain(&e), "could not read the session state");
            None
        }
    };
    if let (true, Some(state)) = (with_people(state), state) {
        messages.into_iter().map(|m| Call::HandedOff(m, state)).collect()
    } else if as_turn {
        vec![Call::Turn(Turn::new(messages))]
    } else {
        messages.into_iter().map(Call::One).collect()
    }
}

/// Hands a dead letter's messages to the handler again, once each call (no retries: the
/// operator who asked sees the failure at once). A customer's messages go as they would now (a
/// turn when turns are on or it was one, the hand-off method while people have the session).
async fn replay_in_lane(inner: &Arc<Handling>, key: &LaneKey, messages: Vec<Message>) -> Result<(), Failure> {
    let open_kfid = &key.0;
    let customer =
        matches!(key.1, Lane::Customer(_)) && messages.iter().all(|m| m.origin == Origin::Customer);
    let calls = if customer {
        let as_turn = inner.config.turns.is_some() || messages.len() > 1;
        customer_calls(inner, open_kfid, messages, as_turn).await
    } else {
        messages.into_iter().map(Call::One).collect()
    };
    for call in calls {
        if let Outcome::Failed(failure) = handle(inner, open_kfid, call, None, true).await {
            return Err(failure);
        }
    }
    Ok(())
}

/// Takes the customer's further messages from the front of the lane until the customer has been
/// quiet for `turns.quiet` (counted from when the newest one reached the lane) or `max_total`
/// passed since the first one did.
async fn collect_turn(
    inner: &Arc<Handling>,
    key: &LaneKey,
    notify: &Arc<Notify>,
    turns: &TurnConfig,
    jobs: &mut Vec<Job>,
) {
    let Some(first_at) = jobs.first().map(|j| j.at) else { return };
    let stop_at = first_at + turns.max_total;
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut lanes = inner.lanes.lanes.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(q) = lanes.get_mut(key) {
                while q.jobs.front().is_some_and(is_turn_item) {
                    if let Some(j) = q.jobs.pop_front() {
                        jobs.push(j);
                    }
                }
            }
        }
        let last_at = jobs.iter().map(|j| j.at).max().unwrap_or(first_at);
        let deadline = (last_at + turns.quiet).min(stop_at);
        if Instant::now() >= deadline {
            return;
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(deadline) => return,
        }
    }
}

/// Resolves once a customer message waits in the lane (the turn being answered is then stopped).
async fn new_customer_message(inner: &Arc<Handling>, key: &LaneKey, notify: &Notify) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let lanes = inner.lanes.lanes.lock().unwrap_or_else(|e| e.into_inner());
            if lanes.get(key).is_some_and(|q| q.jobs.iter().any(is_turn_item)) {
                return;
            }
        }
        notified.await;
    }
}

/// What the handler is called with.
enum Call {
    /// One message, to the method of its origin.
    One(Message),
    /// A customer's turn, to [`Handler::on_turn`](crate::Handler::on_turn).
    Turn(Turn),
    /// A customer message while people have the session.
    HandedOff(Message, ServiceState),
}

impl Call {
    /// The message that stands for the call in logs and the dead-letter hook (a turn's newest).
    fn message(&self) -> Option<&Message> {
        match self {
            Call::One(m) | Call::HandedOff(m, _) => Some(m),
            Call::Turn(t) => t.last(),
        }
    }

    /// Whether the placeholder policy applies (an answer to the customer is awaited).
    fn awaits_answer(&self) -> bool {
        match self {
            Call::One(m) => m.origin == Origin::Customer,
            Call::Turn(_) => true,
            Call::HandedOff(..) => false,
        }
    }
}

enum Outcome {
    Done,
    Cancelled,
    /// Given up on, in a replay (a live call keeps its dead letter and answers `Done`).
    Failed(Failure),
}

/// Counts a handler attempt as running until dropped (also when it is cancelled).
struct Running;

impl Running {
    fn start() -> Self {
        crate::telemetry::handler_running(1.0);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        crate::telemetry::handler_running(-1.0);
    }
}

/// Runs the handler for one call: with a timeout, retried with backoff unless the error
/// cannot succeed, then dead-lettered. With `cancel`, a new customer message in the lane stops it.
/// A `replay` runs once and answers [`Outcome::Failed`] instead of dead-lettering again.
async fn handle(
    inner: &Arc<Handling>,
    open_kfid: &str,
    call: Call,
    cancel: Option<(&Arc<Notify>, &LaneKey)>,
    replay: bool,
) -> Outcome {
    let Some(msg) = call.message().cloned() else { return Outcome::Done };
    let kfid = msg.open_kfid().unwrap_or(open_kfid).to_owned();
    let user = msg.external_userid().unwrap_or_default().to_owned();
    let source = match &call {
        Call::Turn(t) => t.messages().iter().map(|m| m.msgid.as_str()).collect::<Vec<_>>().join(","),
        _ => msg.msgid.clone(),
    };
    let call = Arc::new(call);
    // the msgids of replies already sent for this message, kept across attempts: a retried
    // handler's earlier parts are not sent again
    let sent: Arc<Mutex<HashSet<String>>> = Arc::default();
    let started: Arc<AtomicBool> = Arc::default();
    let mut attempt = 0u32;
    loop {
        let Ok(permit) = Arc::clone(&inner.permits).acquire_owned().await else { return Outcome::Done };
        let ctx = ReplyContext::for_message(
            inner,
            &kfid,
            &user,
            &msg,
            &source,
            Arc::clone(&sent),
            Arc::clone(&started),
        );
        let handler = Arc::clone(&inner.handler);
        let owned = Arc::clone(&call);
        // at debug: its msgid must not reach log lines above debug
        let span = tracing::debug_span!("wxkf.handle", msgid = %msg.msgid, msgtype = msg.msgtype(), attempt);
        // the placeholder waits beside the handler; dropping `answered` ends its wait
        let (answered, mut answered_rx) = tokio::sync::oneshot::channel::<()>();
        if let (Some(p), true) = (inner.config.placeholder.clone(), call.awaits_answer()) {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(p.after) => {}
                    _ = &mut answered_rx => return,
                }
                match ctx.send_placeholder(&p.text).await {
                    Ok(true) => debug!("placeholder sent"),
                    Ok(false) => {}
                    Err(e) => warn!(error = %crate::error::chain(&e), "could not send the placeholder"),
                }
            });
        }
        // on its own task, so that a panicking handler counts as a failure instead of killing the
        // lane, and a handler past its timeout is dropped
        let run = tokio::spawn(
            async move {
                let ctx = &ctx;
                match &*owned {
                    Call::Turn(turn) => handler.on_turn(ctx, turn).await,
                    Call::HandedOff(m, state) => handler.on_handed_off_message(m, *state).await,
                    Call::One(m) => match (m.origin, m.event()) {
                        (Origin::Customer, _) => handler.on_customer_message(ctx, m).await,
                        (Origin::Event, Some(event)) => handler.on_event(ctx, m, event).await,
                        _ => handler.on_servicer_message(m).await,
                    },
                }
            }
            .instrument(span),
        );
        let abort = run.abort_handle();
        let running = Running::start();
        let attempt_started = Instant::now();
        let mut panicked = false;
        let timeout = inner.config.handler_timeout;
        let stop = async {
            match cancel {
                Some((notify, key)) => new_customer_message(inner, key, notify).await,
                None => std::future::pending().await,
            }
        };
        let result: Result<(), HandlerError> = tokio::select! {
            r = tokio::time::timeout(timeout, run) => match r {
                Ok(Ok(r)) => r,
                Ok(Err(join)) => {
                    panicked = join.is_panic();
                    Err(format!("handler panicked: {join}").into())
                }
                Err(_) => {
                    abort.abort();
                    Err(Box::new(HandlerTimedOut { after: timeout }))
                }
            },
            () = stop => {
                abort.abort();
                drop(answered);
                return Outcome::Cancelled;
            }
        };
        drop(answered);
        drop(permit);
        drop(running);
        crate::telemetry::handler_took(open_kfid, attempt_started.elapsed());
        let error = match result {
            Ok(()) => {
                crate::telemetry::handled(open_kfid, "ok");
                return Outcome::Done;
            }
            Err(e) => e,
        };
        if is_session_left(error.as_ref()) {
            info!(open_kfid = %kfid, "reply not sent: people have the session now");
            crate::telemetry::handled(open_kfid, "ok");
            return Outcome::Done;
        }
        let attempts = attempt + 1;
        let reason = if is_permanent(error.as_ref()) {
            DeadLetterReason::Permanent
        } else if attempt < inner.config.handler_retries && !replay {
            let delay = backoff(inner.config.retry_backoff, attempts, Duration::from_secs(300));
            warn!(open_kfid = %kfid, attempt, retry_in = ?delay, error = %crate::error::chain(error.as_ref()), "handler failed; retrying");
            crate::telemetry::handled(open_kfid, "retried");
            tokio::time::sleep(delay).await;
            attempt += 1;
            continue;
        } else {
            DeadLetterReason::RetriesExhausted
        };
        crate::telemetry::handled(open_kfid, "dead_letter");
        let timed_out = error.downcast_ref::<HandlerTimedOut>().is_some();
        let failure =
            Failure { reason_name: reason_name(reason, timed_out, panicked), error, reason, attempts };
        if replay {
            return Outcome::Failed(failure);
        }
        let messages: Vec<&Message> = match &*call {
            Call::Turn(t) => t.messages().iter().collect(),
            Call::One(m) | Call::HandedOff(m, _) => vec![m],
        };
        crate::runtime::dead_letters::keep(inner, &kfid, &messages, &failure).await;
        let Failure { error, reason, attempts, .. } = failure;
        let dead: HandlerError =
            Box::new(DeadLetter { msgid: msg.msgid.clone(), reason, attempts, source: error });
        inner.handler.on_dead_letter(&msg, &dead).await;
        return Outcome::Done;
    }
}

impl ReplyContext {
    fn for_message(
        inner: &Arc<Handling>,
        open_kfid: &str,
        external_userid: &str,
        msg: &Message,
        source_msgid: &str,
        sent: Arc<Mutex<HashSet<String>>>,
        started: Arc<AtomicBool>,
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
            source_msgid: source_msgid.to_owned(),
            next: Arc::new(std::sync::atomic::AtomicU32::new(0)),
            sent,
            sessions: Arc::clone(&inner.sessions),
            lookup: inner.config.session_lookup,
            cut_marker: Arc::clone(&inner.cut_marker),
            started,
        }
    }
}

impl Handling {
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

async fn record_batches(inner: Weak<Handling>, mut rx: mpsc::UnboundedReceiver<(String, String)>) {
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
