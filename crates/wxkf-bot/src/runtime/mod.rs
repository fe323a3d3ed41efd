//! The public face of the runtime: configuration, the builder, and [`Bot`]. How the work is done
//! lives next door: `schedule` (which account pulls when), `pull` (one account's pull loop and its
//! cursor watermark), `lanes` (one lane per customer, running handlers) and `lease` (the shared
//! pull lease of several instances).

mod lanes;
mod lease;
mod pull;
mod schedule;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tracing::{info, warn};
use wxkf_client::Client;
use wxkf_types::callback::CallbackEvent;

use crate::clock::now_secs;
use crate::conversation::{DEFAULT_CUT_MARKER, Placeholder, SessionStates, TurnConfig};
use crate::error::BotError;
use crate::handler::Handler;
use crate::reply::budget::{BudgetStore, MemoryBudgets};
use crate::runtime::lanes::{Lanes, Recorder};
use crate::runtime::schedule::AccountSlot;
use crate::store::coordinate::{Coordinator, DedupeStore, MemoryDedupe, PendingPull};
use crate::store::cursor::{CursorStore, MemoryCursorStore};

/// Tuning of the runtime; `BotConfig::default()` suits most bots. [`BotBuilder::build`] refuses
/// values that cannot work (zero limits, a zero lease).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BotConfig {
    /// Retries of a failing handler before the message goes to the dead-letter hook (default 3).
    /// Errors that cannot succeed on retry (see [`ReplyError::is_permanent`](crate::ReplyError::is_permanent)) are not retried.
    pub handler_retries: u32,
    /// Delay before the first retry, doubled for each further one (default 500 ms).
    pub retry_backoff: Duration,
    /// How long one handler call may take before it counts as failed (default 2 minutes; an LLM
    /// call takes 2–30 s).
    pub handler_timeout: Duration,
    /// How many handlers run at once in this runtime, over all customers and accounts (default
    /// 256). One customer's messages are always handled one at a time, in order.
    pub max_concurrent_handlers: usize,
    /// How many pulled messages of one account may wait or run at once; the pull loop stops
    /// pulling more until some are done (default 5 000).
    pub max_in_flight_per_account: usize,
    /// On first start without a cursor, messages sent before start minus this grace are skipped
    /// (default 60 s).
    pub history_grace: Duration,
    /// How long a handled msgid is remembered (default and minimum 3 days).
    pub dedupe_ttl: Duration,
    /// At most this many msgids are remembered by the in-memory dedupe (default 200 000).
    pub dedupe_capacity: usize,
    /// `sync_msg` page size, 1–1000 (default 1000).
    pub page_limit: u32,
    /// Safety stop for one pull (default 10 000 pages).
    pub max_pages_per_pull: usize,
    /// With a [`Coordinator`]: how long an instance's pull lease on one open_kfid lasts without
    /// renewal (default 30 s). The holder renews it every third of that while it pulls or its
    /// messages are being handled; if the holder dies, another instance takes over once it runs out.
    pub lease_ttl: Duration,
    /// A pull that failed is tried again after this delay, doubled per further failure up to
    /// [`pull_retry_max`](Self::pull_retry_max) (default 1 s).
    pub pull_retry_backoff: Duration,
    /// The longest delay between two tries of a failing pull (default 60 s).
    pub pull_retry_max: Duration,
    /// Every known account is pulled without a callback token this often, to catch callbacks
    /// WeCom gave up on (default 5 minutes; `None` turns it off). Tokenless pulls are rate-limited
    /// by WeCom (kf-api.md §5.1): keep it to minutes.
    pub reconcile_interval: Option<Duration>,
    /// Turns (docs/ai-bot.md): a customer's consecutive messages merged into one call of
    /// [`Handler::on_turn`](crate::Handler::on_turn). `None` (default): one call per message.
    pub turns: Option<TurnConfig>,
    /// The placeholder policy (docs/ai-bot.md): a text sent when a customer's message or turn has
    /// had no reply for a while, only if it leaves a reply for the answer. `None` (default): none.
    pub placeholder: Option<Placeholder>,
    /// Ends the last message of an answer cut to the budget by
    /// [`ReplyContext::reply_parts_fit`](crate::ReplyContext::reply_parts_fit) (default
    /// [`DEFAULT_CUT_MARKER`](crate::DEFAULT_CUT_MARKER), "…（回答过长，已截断）").
    pub cut_marker: String,
    /// Whether a customer whose session state the runtime does not know yet is looked up with
    /// `service_state/get` (one call per customer, then kept current from events and the bot's
    /// own transitions) before the handler runs and before each reply. Default `false`: only
    /// states learned from `session_status_change` events and the bot's own transitions count.
    pub session_lookup: bool,
    /// How far WeCom's clock may run ahead of this machine's (default 2 s). A reply that reached
    /// WeCom up to this long before a customer message's `send_time` may have crossed it, so it
    /// counts against the five replies that message allows, unless the bot knows better (a pull
    /// or the message's callback after the reply; docs/architecture.md, "The reply budget").
    /// Larger is more cautious: a reply may be left unused that WeCom would have taken.
    pub clock_skew: Duration,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            handler_retries: 3,
            retry_backoff: Duration::from_millis(500),
            handler_timeout: Duration::from_secs(120),
            max_concurrent_handlers: 256,
            max_in_flight_per_account: 5_000,
            history_grace: Duration::from_secs(60),
            dedupe_ttl: Duration::from_secs(3 * 24 * 3600),
            dedupe_capacity: 200_000,
            page_limit: 1000,
            max_pages_per_pull: 10_000,
            lease_ttl: Duration::from_secs(30),
            pull_retry_backoff: Duration::from_secs(1),
            pull_retry_max: Duration::from_secs(60),
            reconcile_interval: Some(Duration::from_secs(300)),
            turns: None,
            placeholder: None,
            cut_marker: DEFAULT_CUT_MARKER.to_owned(),
            session_lookup: false,
            clock_skew: Duration::from_secs(2),
        }
    }
}

impl BotConfig {
    /// Sets [`handler_retries`](Self::handler_retries) and [`retry_backoff`](Self::retry_backoff).
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.handler_retries = retries;
        self.retry_backoff = backoff;
        self
    }

    /// Sets [`handler_timeout`](Self::handler_timeout).
    pub fn with_handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// Sets [`max_concurrent_handlers`](Self::max_concurrent_handlers).
    pub fn with_max_concurrent_handlers(mut self, n: usize) -> Self {
        self.max_concurrent_handlers = n;
        self
    }

    /// Sets [`max_in_flight_per_account`](Self::max_in_flight_per_account).
    pub fn with_max_in_flight_per_account(mut self, n: usize) -> Self {
        self.max_in_flight_per_account = n;
        self
    }

    /// Sets [`history_grace`](Self::history_grace).
    pub fn with_history_grace(mut self, grace: Duration) -> Self {
        self.history_grace = grace;
        self
    }

    /// Sets [`lease_ttl`](Self::lease_ttl) (at least 300 ms).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Sets [`page_limit`](Self::page_limit) (1–1000).
    pub fn with_page_limit(mut self, limit: u32) -> Self {
        self.page_limit = limit;
        self
    }

    /// Sets [`pull_retry_backoff`](Self::pull_retry_backoff) and [`pull_retry_max`](Self::pull_retry_max).
    pub fn with_pull_retry(mut self, backoff: Duration, max: Duration) -> Self {
        self.pull_retry_backoff = backoff;
        self.pull_retry_max = max;
        self
    }

    /// Sets [`reconcile_interval`](Self::reconcile_interval).
    pub fn with_reconcile_interval(mut self, every: Option<Duration>) -> Self {
        self.reconcile_interval = every;
        self
    }

    /// Turns on turns: a customer's messages reach [`Handler::on_turn`](crate::Handler::on_turn)
    /// together once the customer was quiet for `quiet` (e.g. 1.5 s), or `max_total` after the
    /// first one; a message that comes while the answer runs goes into the next turn.
    pub fn with_turns(mut self, quiet: Duration, max_total: Duration) -> Self {
        self.turns = Some(TurnConfig::new(quiet, max_total));
        self
    }

    /// Sets [`turns`](Self::turns) (e.g. `TurnConfig::new(quiet, max).cancelling()`).
    pub fn with_turn_config(mut self, turns: TurnConfig) -> Self {
        self.turns = Some(turns);
        self
    }

    /// Sets the [`placeholder`](Self::placeholder) policy: `text` after `after` without a reply.
    pub fn with_placeholder(mut self, after: Duration, text: impl Into<String>) -> Self {
        self.placeholder = Some(Placeholder::new(after, text));
        self
    }

    /// Sets [`cut_marker`](Self::cut_marker).
    pub fn with_cut_marker(mut self, marker: impl Into<String>) -> Self {
        self.cut_marker = marker.into();
        self
    }

    /// Sets [`clock_skew`](Self::clock_skew).
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// Sets [`session_lookup`](Self::session_lookup).
    pub fn with_session_lookup(mut self, lookup: bool) -> Self {
        self.session_lookup = lookup;
        self
    }

    /// The first value that cannot work, as an error naming it.
    fn validate(&self) -> Result<(), BotError> {
        let bad = |field: &'static str, reason: &str| {
            Err(BotError::InvalidConfig { field, reason: reason.to_owned() })
        };
        if self.lease_ttl < Duration::from_millis(300) {
            return bad("lease_ttl", "must be at least 300 ms: the holder renews it every third of it");
        }
        if self.max_concurrent_handlers == 0 {
            return bad("max_concurrent_handlers", "must be at least 1, or no handler ever runs");
        }
        if self.max_in_flight_per_account == 0 {
            return bad("max_in_flight_per_account", "must be at least 1, or nothing is ever pulled");
        }
        if self.handler_timeout.is_zero() {
            return bad("handler_timeout", "must be above zero, or every handler times out");
        }
        if !(1..=1000).contains(&self.page_limit) {
            return bad("page_limit", "must be 1–1000 (kf-api.md §5.1)");
        }
        if self.max_pages_per_pull == 0 {
            return bad("max_pages_per_pull", "must be at least 1");
        }
        if self.dedupe_capacity == 0 {
            return bad("dedupe_capacity", "must be at least 1");
        }
        if self.pull_retry_backoff.is_zero() || self.pull_retry_max < self.pull_retry_backoff {
            return bad("pull_retry_backoff", "must be above zero and at most pull_retry_max");
        }
        if self.reconcile_interval.is_some_and(|d| d < Duration::from_secs(1)) {
            return bad("reconcile_interval", "must be at least 1 s: tokenless pulls are rate-limited");
        }
        if let Some(t) = &self.turns
            && (t.quiet.is_zero() || t.max_total < t.quiet)
        {
            return bad("turns", "quiet must be above zero and max_total at least quiet");
        }
        if let Some(p) = &self.placeholder
            && (p.after.is_zero() || p.text.is_empty() || p.text.len() > 2048)
        {
            return bad("placeholder", "after must be above zero and the text 1–2048 bytes");
        }
        if self.cut_marker.len() >= 2048 {
            return bad("cut_marker", "must be shorter than 2048 bytes, the size of one text message");
        }
        Ok(())
    }
}

/// What [`Bot::dispatch`] did with a callback.
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

/// Where a runtime keeps its state when nothing else was chosen.
enum DefaultStore {
    /// No choice made: `WXKF_DATA_DIR`, else an error at build.
    Unset,
    /// [`BotBuilder::data_dir`].
    Dir(std::path::PathBuf),
    /// [`BotBuilder::memory_store`].
    Memory,
}

/// Builds a [`Bot`].
pub struct BotBuilder {
    client: Client,
    handler: Arc<dyn Handler>,
    store: Option<Arc<dyn CursorStore>>,
    coordinator: Option<Arc<dyn Coordinator>>,
    dedupe: Option<Arc<dyn DedupeStore>>,
    budgets: Option<Arc<dyn BudgetStore>>,
    default_store: DefaultStore,
    config: BotConfig,
}

impl std::fmt::Debug for BotBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

impl BotBuilder {
    /// Keeps cursors, handled msgids and reply budgets in one durable embedded database in `dir`
    /// ([`LocalStore`](crate::LocalStore)): the default for a single instance. Without this call the
    /// directory comes from `WXKF_DATA_DIR`. Stores set one by one (e.g.
    /// [`cursor_store`](Self::cursor_store)) take precedence for their part.
    pub fn data_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.default_store = DefaultStore::Dir(dir.into());
        self
    }

    /// Keeps cursors, handled msgids and reply budgets in memory only: forgotten on restart, so a
    /// restart may skip or re-handle messages. For tests and demos.
    pub fn memory_store(mut self) -> Self {
        self.default_store = DefaultStore::Memory;
        self
    }

    /// Where cursors are kept (default: see [`data_dir`](Self::data_dir)). Takes a store or an
    /// `Arc` of one shared elsewhere.
    pub fn cursor_store(mut self, store: impl IntoShared<dyn CursorStore>) -> Self {
        self.store = Some(store.into_shared());
        self
    }

    /// Shares pull leases and pending callbacks with other instances of the bot (several
    /// instances must also share the cursor store and the dedupe store). Without one, this
    /// instance assumes it is alone.
    pub fn coordinator(mut self, coordinator: impl IntoShared<dyn Coordinator>) -> Self {
        self.coordinator = Some(coordinator.into_shared());
        self
    }

    /// Where handled msgids are remembered (default: see [`data_dir`](Self::data_dir)).
    pub fn dedupe_store(mut self, dedupe: impl IntoShared<dyn DedupeStore>) -> Self {
        self.dedupe = Some(dedupe.into_shared());
        self
    }

    /// Where the 48-hour / 5-message reply budgets are counted (default: see
    /// [`data_dir`](Self::data_dir)). Instances that share the work should share it too.
    pub fn budget_store(mut self, budgets: impl IntoShared<dyn BudgetStore>) -> Self {
        self.budgets = Some(budgets.into_shared());
        self
    }

    /// Cursors, pull leases, pending callbacks, handled msgids and reply budgets in Redis under `prefix`, so that
    /// every instance built this way with the same prefix behaves as one (docs/scaling.md).
    /// Shorthand for [`cursor_store`](Self::cursor_store) + [`coordinator`](Self::coordinator) +
    /// [`dedupe_store`](Self::dedupe_store) + [`budget_store`](Self::budget_store) with the Redis
    /// types. Feature `redis`.
    ///
    /// ```no_run
    /// # async fn run(client: wxkf_client::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use wxkf_bot::{Bot, HandlerError, ReplyContext, handler_fn};
    /// use wxkf_types::message::Message;
    /// let redis = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let conn = redis::aio::ConnectionManager::new(redis).await?;
    /// let bot = Bot::builder(client, handler_fn(|ctx: ReplyContext, _msg: Message| async move {
    ///     ctx.reply_text("received").await?;
    ///     Ok::<(), HandlerError>(())
    /// }))
    /// .redis(conn, "mybot:")
    /// .build()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(self, conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        use crate::store::redis::{RedisBudgets, RedisCoordinator, RedisCursorStore, RedisDedupe};
        self.cursor_store(RedisCursorStore::from_connection(conn.clone()).with_prefix(prefix))
            .coordinator(RedisCoordinator::from_connection(conn.clone()).with_prefix(prefix))
            .dedupe_store(RedisDedupe::from_connection(conn.clone()).with_prefix(prefix))
            .budget_store(RedisBudgets::from_connection(conn).with_prefix(prefix))
    }

    /// Tuning.
    pub fn config(mut self, config: BotConfig) -> Self {
        self.config = config;
        self
    }

    /// The runtime; its start time (for skipping history) is now. When called inside a Tokio
    /// runtime, every known account is pulled once right away (accounts with a saved cursor and
    /// those `kf/account/list` returns), so nothing waits for the next callback.
    ///
    /// # Errors
    /// [`BotError::InvalidConfig`] for a value of [`BotConfig`] that cannot work, and
    /// [`BotError::NoStore`] / [`BotError::Store`] when no store was chosen and the default one
    /// cannot be opened.
    pub fn build(self) -> Result<Bot, BotError> {
        let mut config = self.config;
        config.validate()?;
        config.dedupe_ttl = config.dedupe_ttl.max(Duration::from_secs(3 * 24 * 3600));
        let needs_default = self.store.is_none() || self.dedupe.is_none() || self.budgets.is_none();
        let (store, dedupe, budgets) = if needs_default {
            let dir = match self.default_store {
                DefaultStore::Memory => None,
                DefaultStore::Dir(d) => Some(d),
                DefaultStore::Unset => match std::env::var_os("WXKF_DATA_DIR") {
                    Some(d) if !d.is_empty() => Some(std::path::PathBuf::from(d)),
                    _ => return Err(BotError::NoStore),
                },
            };
            match dir {
                None => (
                    self.store.unwrap_or_else(|| Arc::new(MemoryCursorStore::default())),
                    self.dedupe.unwrap_or_else(|| {
                        Arc::new(MemoryDedupe::new(config.dedupe_ttl, config.dedupe_capacity))
                    }),
                    self.budgets.unwrap_or_else(|| Arc::new(MemoryBudgets::default())),
                ),
                Some(dir) => {
                    let (s, d, b) = open_local(&dir)?;
                    (self.store.unwrap_or(s), self.dedupe.unwrap_or(d), self.budgets.unwrap_or(b))
                }
            }
        } else {
            (
                self.store.unwrap_or_else(|| Arc::new(MemoryCursorStore::default())),
                self.dedupe.unwrap_or_else(|| Arc::new(MemoryDedupe::new(config.dedupe_ttl, 1))),
                self.budgets.unwrap_or_else(|| Arc::new(MemoryBudgets::default())),
            )
        };
        let bot = Bot {
            inner: Arc::new(Inner {
                client: self.client,
                handler: self.handler,
                store,
                coordinator: self.coordinator,
                dedupe,
                budgets,
                instance_id: instance_id(),
                started_at: now_secs(),
                accounts: Mutex::new(HashMap::new()),
                lanes: Lanes::default(),
                permits: Arc::new(Semaphore::new(config.max_concurrent_handlers)),
                recorder: OnceLock::new(),
                closing: AtomicBool::new(false),
                closed: watch::Sender::new(false),
                background: AtomicBool::new(false),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
                sessions: Arc::new(SessionStates::default()),
                cut_marker: Arc::from(config.cut_marker.as_str()),
                drained: Mutex::new(HashMap::new()),
                config,
            }),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            bot.inner.start_background();
        }
        Ok(bot)
    }
}

type Stores = (Arc<dyn CursorStore>, Arc<dyn DedupeStore>, Arc<dyn BudgetStore>);

/// The durable embedded store in `dir`, as the three stores.
fn open_local(dir: &std::path::Path) -> Result<Stores, BotError> {
    let local = Arc::new(crate::store::local::LocalStore::open(dir).map_err(BotError::Store)?);
    Ok((local.clone(), local.clone(), local))
}

/// A value that can be shared as an `Arc<T>`: a store itself, or an `Arc` of one. Lets the
/// builder take both without `_arc` method pairs.
pub trait IntoShared<T: ?Sized> {
    /// The shared form.
    fn into_shared(self) -> Arc<T>;
}

macro_rules! into_shared {
    ($($trait:ident),*) => {$(
        impl<S: $trait> IntoShared<dyn $trait> for S {
            fn into_shared(self) -> Arc<dyn $trait> {
                Arc::new(self)
            }
        }
        impl<S: $trait> IntoShared<dyn $trait> for Arc<S> {
            fn into_shared(self) -> Arc<dyn $trait> {
                self
            }
        }
        impl IntoShared<dyn $trait> for Arc<dyn $trait> {
            fn into_shared(self) -> Arc<dyn $trait> {
                self
            }
        }
    )*};
}
into_shared!(CursorStore, Coordinator, DedupeStore, BudgetStore);

/// The bot runtime; cheap to clone (all clones share one runtime).
///
/// Each Kf account has one pull loop; each customer of an account has one lane, where that
/// customer's messages are handled one at a time, in order, while other customers' lanes run
/// at the same time (up to [`BotConfig::max_concurrent_handlers`]). docs/architecture.md
/// describes the guarantees.
#[derive(Clone)]
pub struct Bot {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) client: Client,
    pub(crate) handler: Arc<dyn Handler>,
    pub(crate) store: Arc<dyn CursorStore>,
    pub(crate) coordinator: Option<Arc<dyn Coordinator>>,
    pub(crate) dedupe: Arc<dyn DedupeStore>,
    pub(crate) budgets: Arc<dyn BudgetStore>,
    pub(crate) instance_id: String,
    pub(crate) config: BotConfig,
    pub(crate) started_at: u64,
    pub(crate) accounts: Mutex<HashMap<String, AccountSlot>>,
    pub(crate) lanes: Lanes,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) recorder: OnceLock<Recorder>,
    pub(crate) closing: AtomicBool,
    // flips to true on shutdown, waking every wait
    pub(crate) closed: watch::Sender<bool>,
    pub(crate) background: AtomicBool,
    // pull loops and other tasks that shutdown waits for
    pub(crate) active: AtomicUsize,
    pub(crate) idle: Notify,
    // the session-state cache of the conversation layer (docs/ai-bot.md)
    pub(crate) sessions: Arc<SessionStates>,
    pub(crate) cut_marker: Arc<str>,
    // per open_kfid: the cursor after the last pull that found no more messages, and when that
    // pull was sent (unix ms); a message pulled from that cursor was written after then
    pub(crate) drained: Mutex<HashMap<String, (String, u64)>>,
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

impl Bot {
    /// Starts building a runtime that answers with `handler`.
    pub fn builder(client: Client, handler: impl Handler) -> BotBuilder {
        BotBuilder {
            client,
            handler: Arc::new(handler),
            store: None,
            coordinator: None,
            dedupe: None,
            budgets: None,
            default_store: DefaultStore::Unset,
            config: BotConfig::default(),
        }
    }

    /// Hands a decrypted callback to the runtime and returns at once (call it from the callback
    /// route; must run inside a Tokio runtime). A `kf_msg_or_event` starts or schedules a pull
    /// of its open_kfid; other events are [`Dispatch::Ignored`].
    pub fn dispatch(&self, event: &CallbackEvent) -> Dispatch {
        match event {
            CallbackEvent::KfMsgOrEvent { token, open_kfid: Some(open_kfid), create_time, .. }
                if !token.is_empty() && !open_kfid.is_empty() =>
            {
                self.wake(open_kfid, token, *create_time)
            }
            CallbackEvent::KfMsgOrEvent { .. } => {
                warn!("kf_msg_or_event without Token or OpenKfId: nothing to pull");
                Dispatch::Ignored
            }
            _ => Dispatch::Ignored,
        }
    }

    /// Schedules a pull of `open_kfid` with the callback's sync token; `create_time` is the
    /// callback's (unix seconds, 0 if unknown).
    pub fn wake(&self, open_kfid: &str, token: &str, create_time: u64) -> Dispatch {
        let Some(coordinator) = &self.inner.coordinator else {
            return self.inner.schedule(open_kfid, token, create_time);
        };
        if self.inner.closing.load(Ordering::SeqCst) {
            return Dispatch::ShuttingDown;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            warn!("Bot::dispatch called outside a Tokio runtime: the pull waits for the next callback");
            return Dispatch::Ignored;
        };
        self.inner.start_background();
        // recorded before this instance tries the lease, so that a holder that is pulling now sees
        // it when it looks again (docs/scaling.md)
        let pull = PendingPull::new(token, create_time, now_secs(), nonce());
        let coordinator = Arc::clone(coordinator);
        let guard = ActiveGuard::new(&self.inner);
        let open_kfid = open_kfid.to_owned();
        runtime.spawn(async move {
            let inner = Arc::clone(&guard.0);
            match coordinator.mark_pending(&open_kfid, &pull).await {
                Ok(()) => {
                    inner.schedule(&open_kfid, "", create_time);
                }
                Err(e) => {
                    warn!(open_kfid = %open_kfid, error = %crate::error::chain(&e), "could not record the callback in the coordinator; this instance pulls once the coordinator answers again");
                    // pull anyway, without a mark to wait for; the lease still keeps it to one
                    // instance at a time, and the pull is retried with backoff until it answers
                    inner.schedule_unmarked(&open_kfid, create_time);
                }
            }
            drop(guard);
        });
        Dispatch::Started
    }

    /// Like [`dispatch`](Self::dispatch), but returns only once the callback is recorded where
    /// every instance sees it (with a [`Coordinator`]: marked in the shared store). An error
    /// means it was not; call [`dispatch`](Self::dispatch) then, which makes this instance pull
    /// (retrying until the coordinator answers), as `wxkf-axum`'s `bot_router` does. Without a
    /// coordinator it is the same as `dispatch`.
    pub async fn dispatch_recorded(&self, event: &CallbackEvent) -> Result<Dispatch, BotError> {
        let Some(coordinator) = &self.inner.coordinator else { return Ok(self.dispatch(event)) };
        match event {
            CallbackEvent::KfMsgOrEvent { token, open_kfid: Some(open_kfid), create_time, .. }
                if !token.is_empty() && !open_kfid.is_empty() =>
            {
                if self.inner.closing.load(Ordering::SeqCst) {
                    return Ok(Dispatch::ShuttingDown);
                }
                self.inner.start_background();
                let pull = PendingPull::new(token.as_str(), *create_time, now_secs(), nonce());
                coordinator.mark_pending(open_kfid, &pull).await.map_err(BotError::Coordinator)?;
                Ok(self.inner.schedule(open_kfid, "", *create_time))
            }
            _ => Ok(self.dispatch(event)),
        }
    }

    /// Pulls `open_kfid` now, without a callback token (as the reconcile pull does). Tokenless
    /// pulls are rate-limited by WeCom (kf-api.md §5.1).
    pub fn pull_now(&self, open_kfid: &str) -> Dispatch {
        self.inner.schedule_unprompted(open_kfid)
    }

    /// Poll mode, for a bot with no public callback URL: pulls every account of `open_kfids`
    /// (or, if empty, every account `kf/account/list` returns, looked up again every 10 minutes)
    /// every `every`, without a callback token, until [`shutdown`](Self::shutdown). Each pull
    /// is a tokenless `sync_msg`, which WeCom rate-limits (kf-api.md §5.1; the simulator answers
    /// 45009 past its budget): keep `every` to seconds, not milliseconds. A pull that fails is
    /// retried with backoff ([`BotConfig::pull_retry_backoff`]).
    ///
    /// ```no_run
    /// # async fn run(bot: wxkf_bot::Bot) {
    /// // in its own task; returns once the bot shuts down
    /// let poller = tokio::spawn({
    ///     let bot = bot.clone();
    ///     async move { bot.poll(&[], std::time::Duration::from_secs(5)).await }
    /// });
    /// // ... on exit:
    /// bot.shutdown().await;
    /// let _ = poller.await;
    /// # }
    /// ```
    pub async fn poll(&self, open_kfids: &[&str], every: Duration) {
        crate::runtime::schedule::poll(&self.inner, open_kfids, every.max(Duration::from_millis(100))).await;
    }

    /// The id under which this instance takes pull leases (unique per [`Bot`]).
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// Graceful shutdown: takes no new callbacks, stops pulling, and waits until every pulled
    /// message was handled (each handler is bounded by [`BotConfig::handler_timeout`] and its
    /// retries) and every account's cursor saved.
    pub async fn shutdown(&self) {
        {
            let _accounts = self.inner.accounts.lock().unwrap_or_else(|e| e.into_inner());
            self.inner.closing.store(true, Ordering::SeqCst);
        }
        self.inner.closed.send_replace(true);
        self.inner.wake_all();
        self.idle().await;
        info!("wxkf bot stopped");
    }

    /// Whether [`shutdown`](Self::shutdown) was called (callbacks are then refused).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// Waits until no pull loop runs and no pulled message waits or is being handled (tests and
    /// orderly restarts).
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The API client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }
}

/// Random enough to tell instances and marks apart, without a random-number dependency.
pub(crate) fn nonce() -> String {
    format!("{:016x}{:08x}", nonce_u64(), std::process::id())
}

pub(crate) fn nonce_u32() -> u32 {
    (nonce_u64() >> 16) as u32
}

fn nonce_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
    );
    h.finish()
}

fn instance_id() -> String {
    format!("bot-{}", nonce())
}

/// `base` doubled `failures - 1` times, at most `max`, plus up to a tenth of jitter: the one
/// backoff rule of the runtime (handler retries and pull retries).
pub(crate) fn backoff(base: Duration, failures: u32, max: Duration) -> Duration {
    let d = base.saturating_mul(1u32 << failures.saturating_sub(1).min(16)).min(max);
    let tenth = u32::try_from((d / 10).as_millis()).unwrap_or(u32::MAX).max(1);
    d + Duration::from_millis(u64::from(nonce_u32() % tenth))
}
