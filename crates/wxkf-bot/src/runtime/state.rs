//! The runtime's shared state: [`Inner`] and the data of the lanes and account slots it holds.
//! Only the data lives here; what the engine does with it is in `schedule`, `pull` and `lanes`,
//! which import this file and nothing that imports them back.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::time::Instant;
use wxkf_client::Client;
use wxkf_types::message::Message;

use crate::config::BotConfig;
use crate::conversation::SessionStates;
use crate::error::{DeadLetterReason, HandlerError};
use crate::handler::Handler;
use crate::reply::budget::BudgetStore;
use crate::store::coordinate::{Coordinator, DedupeStore};
use crate::store::cursor::CursorStore;
use crate::store::dead_letter::DeadLetterStore;

/// What [`Bot::dispatch`](crate::Bot::dispatch) did with a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dispatch {
    /// A pull was started for the callback's open_kfid (with a [`Coordinator`]: the callback
    /// is being recorded, and this instance pulls unless another one holds the account's lease).
    Started,
    /// The account's pull loop is running; it pulls again for this callback.
    Coalesced,
    /// Not a `kf_msg_or_event` with a token and an open_kfid: nothing to pull.
    Ignored,
    /// The runtime is shutting down.
    ShuttingDown,
}

/// The account side of the runtime, what `schedule` and `pull` work with: which accounts pull
/// when, their cursors, leases and marks, and the runtime's life (closing, active tasks). The
/// handler side is [`Handling`], which it holds and pushes pulled messages into; the lanes see
/// nothing of this.
pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) store: Arc<dyn CursorStore>,
    pub(crate) coordinator: Option<Arc<dyn Coordinator>>,
    pub(crate) dedupe: Arc<dyn DedupeStore>,
    pub(crate) budgets: Arc<dyn BudgetStore>,
    pub(crate) instance_id: String,
    pub(crate) config: BotConfig,
    pub(crate) started_at: u64,
    pub(crate) accounts: Mutex<HashMap<String, AccountSlot>>,
    // the lanes, the handler and what its replies touch
    pub(crate) handling: Arc<Handling>,
    // shared with `handling`
    pub(crate) closing: Arc<AtomicBool>,
    // flips to true on shutdown, waking every wait
    pub(crate) closed: watch::Sender<bool>,
    pub(crate) background: AtomicBool,
    // pull loops and other tasks that shutdown waits for
    pub(crate) active: AtomicUsize,
    pub(crate) idle: Notify,
    // the session-state cache of the conversation layer (docs/ai-bot.md)
    pub(crate) sessions: Arc<SessionStates>,
    // per open_kfid: the cursor after the last pull that found no more messages, and when that
    // pull was sent (unix ms); a message pulled from that cursor was written after then
    pub(crate) drained: Mutex<HashMap<String, (String, u64)>>,
}

/// The handler side of the runtime, all that `lanes` and `dead_letters` are given: the handler
/// and what its replies touch (client, budgets, session states), the lanes, the handler permits,
/// and the recorder of finished msgids. Nothing in it knows of accounts, cursors or leases.
pub(crate) struct Handling {
    pub(crate) client: Client,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) dedupe: Arc<dyn DedupeStore>,
    pub(crate) budgets: Arc<dyn BudgetStore>,
    // where dead letters are kept
    pub(crate) dead_letters: Arc<dyn DeadLetterStore>,
    pub(crate) config: BotConfig,
    pub(crate) lanes: Lanes,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) recorder: OnceLock<Recorder>,
    // shared with `Inner`: shutdown began
    pub(crate) closing: Arc<AtomicBool>,
    pub(crate) sessions: Arc<SessionStates>,
    pub(crate) cut_marker: Arc<str>,
}

/// Counts a task as active until dropped, also when the task panics.
pub(crate) struct ActiveGuard(pub(crate) Arc<Inner>);

impl ActiveGuard {
    pub(crate) fn new(inner: &Arc<Inner>) -> Self {
        inner.active.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(Arc::clone(inner))
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        self.0.idle.notify_waiters();
    }
}

/// Whom a message's lane belongs to, within one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Lane {
    /// A customer's messages and the events about that customer.
    Customer(String),
    /// Events that concern no customer (e.g. `servicer_status_change`).
    System,
    /// What servicers or the API sent (origin 5), and origins this crate does not know.
    Servicer,
}

/// Tells a pull loop that one message of its page `page` is done.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    pub(crate) tx: mpsc::UnboundedSender<u64>,
    pub(crate) page: u64,
}

pub(crate) struct Job {
    pub(crate) msg: Message,
    // a dead letter handed to the handler again (`msg` is its first message)
    pub(crate) replay: Option<Box<Replay>>,
    // history from before the first start: recorded, not handled
    pub(crate) skip: bool,
    // when it reached the lane (the quiet window of turns counts from it)
    pub(crate) at: Instant,
}

/// A dead letter's messages to hand to the handler again in their lane, and where to say how
/// it went ([`Bot::replay`](crate::Bot::replay)).
pub(crate) struct Replay {
    pub(crate) messages: Vec<Message>,
    pub(crate) done: tokio::sync::oneshot::Sender<Result<(), Failure>>,
}

/// Why a handler call was given up on: what a dead letter keeps.
pub(crate) struct Failure {
    pub(crate) error: HandlerError,
    pub(crate) reason: DeadLetterReason,
    // `reason` spelled as the record keeps it (it tells a timeout and a panic apart)
    pub(crate) reason_name: &'static str,
    pub(crate) attempts: u32,
}

#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) jobs: VecDeque<Job>,
    // told of every message pushed (turns wait for it)
    pub(crate) notify: Arc<Notify>,
}

pub(crate) type LaneKey = (String, Lane);
pub(crate) type MsgKey = (String, String);

/// Every lane of the runtime, and who waits for each message in flight.
#[derive(Default)]
pub(crate) struct Lanes {
    pub(crate) lanes: Mutex<HashMap<LaneKey, Queue>>,
    // (open_kfid, msgid) → the pull loops' pages waiting for it; a message pulled again while it
    // is in flight (after a pull loop restarted) waits for the same run instead of a second one
    pub(crate) waiting: Mutex<HashMap<MsgKey, Vec<Done>>>,
}

/// Records finished msgids in the dedupe store in batches (one write for whatever finished
/// meanwhile), then tells the pull loops.
pub(crate) struct Recorder {
    pub(crate) tx: mpsc::UnboundedSender<(String, String)>,
}

/// One account's entry: what woke it since its loop last looked, and whether the loop runs.
#[derive(Default)]
pub(crate) struct AccountSlot {
    pub(crate) pending: Option<Wake>,
    pub(crate) running: bool,
    pub(crate) notify: Arc<Notify>,
}

/// Why an account should pull.
#[derive(Debug, Clone)]
pub(crate) struct Wake {
    /// The newest callback token ("" for none).
    pub(crate) token: String,
    /// The earliest callback create_time (0 if unknown).
    pub(crate) create_time: u64,
    /// A pull without a callback (start-up, reconcile, poll): with a coordinator it pulls even
    /// when no mark is waiting.
    pub(crate) unprompted: bool,
    /// When the earliest callback merged into this wake reached this instance (unix ms; 0: no
    /// callback). A reply completed before then is taken to have reached WeCom before the
    /// messages the callback announced (the reply budget, docs/architecture.md).
    pub(crate) called_at_ms: u64,
}

impl Wake {
    /// What woke the loop when nothing did (a coordinator's mark seen by polling, a retry).
    pub(crate) fn none() -> Self {
        Wake { token: String::new(), create_time: 0, unprompted: false, called_at_ms: 0 }
    }

    /// The earlier of two callbacks' arrival times, where 0 is none.
    pub(crate) fn earliest_call(a: u64, b: u64) -> u64 {
        match (a, b) {
            (0, x) | (x, 0) => x,
            (a, b) => a.min(b),
        }
    }
}
