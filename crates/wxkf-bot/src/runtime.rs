//! The runtime: callbacks in, serialized coalesced pulls per open_kfid, messages out to the handler.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::time::Instant;

use tokio::sync::{Notify, watch};
use tracing::{Instrument, debug, info, warn};
use wxkf_client::Client;
use wxkf_types::callback::CallbackEvent;
use wxkf_types::message::{Event, Message, Origin, SyncMsgRequest};

use crate::budget::{BudgetStore, MemoryBudgets};
use crate::context::{ReplyContext, now_secs};
use crate::coordinate::{Coordinator, DedupeStore, LeaseAttempt, MemoryDedupe, PendingPull};
use crate::error::BotError;
use crate::handler::{Handler, HandlerError};
use crate::store::{CursorStore, FileCursorStore};

/// Tuning of the runtime; `BotConfig::default()` suits most bots.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BotConfig {
    /// Retries of a failing handler before the message goes to the dead-letter hook (default 3).
    pub handler_retries: u32,
    /// Delay before the first retry, doubled for each further one (default 500 ms).
    pub retry_backoff: Duration,
    /// On first start without a cursor, messages sent before start minus this grace are skipped
    /// (default 60 s).
    pub history_grace: Duration,
    /// How long a handled msgid is remembered (default and minimum 3 days).
    pub dedupe_ttl: Duration,
    /// At most this many msgids are remembered (default 200 000).
    pub dedupe_capacity: usize,
    /// `sync_msg` page size, 1–1000 (default 1000).
    pub page_limit: u32,
    /// Safety stop for one pull (default 10 000 pages).
    pub max_pages_per_pull: usize,
    /// With a [`Coordinator`]: how long an instance's pull lease on one open_kfid lasts without
    /// renewal (default 30 s). The holder renews it every third of that while it pulls; if the
    /// holder dies, another instance takes over once it runs out.
    pub lease_ttl: Duration,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            handler_retries: 3,
            retry_backoff: Duration::from_millis(500),
            history_grace: Duration::from_secs(60),
            dedupe_ttl: Duration::from_secs(3 * 24 * 3600),
            dedupe_capacity: 200_000,
            page_limit: 1000,
            max_pages_per_pull: 10_000,
            lease_ttl: Duration::from_secs(30),
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

    /// Sets [`history_grace`](Self::history_grace).
    pub fn with_history_grace(mut self, grace: Duration) -> Self {
        self.history_grace = grace;
        self
    }

    /// Sets [`lease_ttl`](Self::lease_ttl) (at least 300 ms).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(300));
        self
    }

    /// Sets [`page_limit`](Self::page_limit) (clamped to 1–1000).
    pub fn with_page_limit(mut self, limit: u32) -> Self {
        self.page_limit = limit.clamp(1, 1000);
        self
    }
}

/// What [`Bot::dispatch`] did with a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dispatch {
    /// A pull was started for the callback's open_kfid (with a [`Coordinator`]: the callback
    /// is being recorded, and this instance pulls unless another one holds the account's lease).
    Started,
    /// A pull for that open_kfid is running; one more pull will follow it.
    Coalesced,
    /// Not a `kf_msg_or_event` with a token and an open_kfid: nothing to pull.
    Ignored,
    /// The runtime is shutting down.
    ShuttingDown,
}

/// Builds a [`Bot`].
pub struct BotBuilder {
    client: Client,
    handler: Arc<dyn Handler>,
    store: Option<Arc<dyn CursorStore>>,
    coordinator: Option<Arc<dyn Coordinator>>,
    dedupe: Option<Arc<dyn DedupeStore>>,
    budgets: Option<Arc<dyn BudgetStore>>,
    config: BotConfig,
}

impl std::fmt::Debug for BotBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

impl BotBuilder {
    /// Where cursors are kept; default [`FileCursorStore`] at `wxkf-cursors.json` in the working
    /// directory.
    pub fn cursor_store(mut self, store: impl CursorStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Like [`cursor_store`](Self::cursor_store) for a store shared elsewhere.
    pub fn cursor_store_arc(mut self, store: Arc<dyn CursorStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Shares pull leases and pending callbacks with other instances of the bot (several
    /// instances must also share the cursor store and the dedupe store). Without one, this
    /// instance assumes it is alone.
    pub fn coordinator(mut self, coordinator: impl Coordinator) -> Self {
        self.coordinator = Some(Arc::new(coordinator));
        self
    }

    /// Like [`coordinator`](Self::coordinator) for one shared with other runtimes in this process.
    pub fn coordinator_arc(mut self, coordinator: Arc<dyn Coordinator>) -> Self {
        self.coordinator = Some(coordinator);
        self
    }

    /// Like [`dedupe_store`](Self::dedupe_store) for one shared with other runtimes in this process.
    pub fn dedupe_store_arc(mut self, dedupe: Arc<dyn DedupeStore>) -> Self {
        self.dedupe = Some(dedupe);
        self
    }

    /// Like [`budget_store`](Self::budget_store) for one shared with other runtimes in this process.
    pub fn budget_store_arc(mut self, budgets: Arc<dyn BudgetStore>) -> Self {
        self.budgets = Some(budgets);
        self
    }

    /// Where handled msgids are remembered; default a [`MemoryDedupe`] sized by the config.
    pub fn dedupe_store(mut self, dedupe: impl DedupeStore) -> Self {
        self.dedupe = Some(Arc::new(dedupe));
        self
    }

    /// Where the 48-hour / 5-message reply budgets are counted; default [`MemoryBudgets`].
    /// Instances that share the work should share it too.
    pub fn budget_store(mut self, budgets: impl BudgetStore) -> Self {
        self.budgets = Some(Arc::new(budgets));
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
    /// .build();
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(self, conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        use crate::redis_store::{RedisBudgets, RedisCoordinator, RedisCursorStore, RedisDedupe};
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

    /// The runtime; its start time (for skipping history) is now.
    pub fn build(self) -> Bot {
        let mut config = self.config;
        config.dedupe_ttl = config.dedupe_ttl.max(Duration::from_secs(3 * 24 * 3600));
        let store =
            self.store.unwrap_or_else(|| Arc::new(FileCursorStore::new(PathBuf::from("wxkf-cursors.json"))));
        let dedupe = self
            .dedupe
            .unwrap_or_else(|| Arc::new(MemoryDedupe::new(config.dedupe_ttl, config.dedupe_capacity)));
        let bot = Bot {
            inner: Arc::new(Inner {
                client: self.client,
                handler: self.handler,
                store,
                coordinator: self.coordinator,
                dedupe,
                instance_id: instance_id(),
                started_at: now_secs(),
                slots: Mutex::new(HashMap::new()),
                budgets: self.budgets.unwrap_or_else(|| Arc::new(MemoryBudgets::default())),
                closing: AtomicBool::new(false),
                closed: watch::Sender::new(false),
                sweeping: AtomicBool::new(false),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
                config,
            }),
        };
        // pick up what dead instances left pending as soon as possible (else on the first callback)
        if tokio::runtime::Handle::try_current().is_ok() {
            bot.inner.start_sweeper();
        }
        bot
    }
}

/// The bot runtime; cheap to clone (all clones share one runtime).
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

struct Inner {
    client: Client,
    handler: Arc<dyn Handler>,
    store: Arc<dyn CursorStore>,
    coordinator: Option<Arc<dyn Coordinator>>,
    dedupe: Arc<dyn DedupeStore>,
    instance_id: String,
    config: BotConfig,
    started_at: u64,
    slots: Mutex<HashMap<String, Slot>>,
    budgets: Arc<dyn BudgetStore>,
    closing: AtomicBool,
    // flips to true on shutdown, waking waits for another instance's lease
    closed: watch::Sender<bool>,
    sweeping: AtomicBool,
    active: AtomicUsize,
    idle: Notify,
}

#[derive(Default)]
struct Slot {
    pending: Option<Wake>,
    running: bool,
}

struct Wake {
    token: String,
    create_time: u64,
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
        self.inner.start_sweeper();
        // recorded before this instance tries the lease, so that a holder that is pulling now sees
        // it when it finishes (docs/scaling.md)
        let pull = PendingPull::new(token, create_time, now_secs(), nonce());
        let coordinator = Arc::clone(coordinator);
        let inner = Arc::clone(&self.inner);
        let open_kfid = open_kfid.to_owned();
        inner.active.fetch_add(1, Ordering::SeqCst);
        runtime.spawn(async move {
            match coordinator.mark_pending(&open_kfid, &pull).await {
                Ok(()) => {
                    inner.schedule(&open_kfid, "", create_time);
                }
                Err(e) => {
                    warn!(open_kfid = %open_kfid, error = %e, "could not record the callback in the coordinator; the next callback pulls it");
                }
            }
            inner.finished();
        });
        Dispatch::Started
    }

    /// Like [`dispatch`](Self::dispatch), but returns only once the callback is recorded where
    /// every instance sees it (with a [`Coordinator`]: marked in the shared store). An error
    /// means it was not: answer WeCom with an error status so that it delivers the callback
    /// again, possibly to another instance. `wxkf-axum`'s `bot_router` does this; without a
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
                self.inner.start_sweeper();
                let pull = PendingPull::new(token.as_str(), *create_time, now_secs(), nonce());
                coordinator.mark_pending(open_kfid, &pull).await.map_err(BotError::Coordinator)?;
                Ok(self.inner.schedule(open_kfid, "", *create_time))
            }
            _ => Ok(self.dispatch(event)),
        }
    }

    /// The id under which this instance takes pull leases (unique per [`Bot`]).
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }
}

impl Inner {
    /// Starts or schedules the in-process worker of `open_kfid` (one per account, coalescing).
    fn schedule(self: &Arc<Self>, open_kfid: &str, token: &str, create_time: u64) -> Dispatch {
        let inner = self;
        let mut slots = inner.slots.lock().unwrap_or_else(|e| e.into_inner());
        if inner.closing.load(Ordering::SeqCst) {
            return Dispatch::ShuttingDown;
        }
        let slot = slots.entry(open_kfid.to_owned()).or_default();
        let create_time = match &slot.pending {
            Some(w) if w.create_time != 0 && (create_time == 0 || w.create_time < create_time) => {
                w.create_time
            }
            _ => create_time,
        };
        slot.pending = Some(Wake { token: token.to_owned(), create_time });
        if slot.running {
            return Dispatch::Coalesced;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            warn!("Bot::dispatch called outside a Tokio runtime: the pull waits for the next callback");
            return Dispatch::Ignored;
        };
        slot.running = true;
        inner.active.fetch_add(1, Ordering::SeqCst);
        let inner = Arc::clone(inner);
        let open_kfid = open_kfid.to_owned();
        runtime.spawn(async move { inner.worker(open_kfid).await });
        Dispatch::Started
    }

    fn finished(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
        self.idle.notify_waiters();
    }

    /// With a coordinator: every third of the lease time, schedules a pull of each account that has a mark,
    /// so marks whose instance died before pulling are taken over.
    fn start_sweeper(self: &Arc<Self>) {
        let Some(coordinator) = self.coordinator.clone() else { return };
        if self.sweeping.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::SeqCst);
            return;
        };
        // weak, so a Bot dropped without shutdown does not live on in its sweeper
        let weak = Arc::downgrade(self);
        let mut closed = self.closed.subscribe();
        // a third of the lease time: an instance that dies holding a lease has renewed it at
        // most a third ago, so a survivor's sweep finds the account before the lease runs out
        // and waits for exactly that moment to take over
        let period = self.config.lease_ttl / 3;
        let jitter_ms = u32::try_from((self.config.lease_ttl / 10).as_millis()).unwrap_or(u32::MAX).max(1);
        runtime.spawn(async move {
            let mut first = true;
            loop {
                if !first {
                    let jitter = Duration::from_millis(u64::from(nonce_u32() % jitter_ms));
                    tokio::select! {
                        _ = tokio::time::sleep(period + jitter) => {}
                        _ = closed.wait_for(|c| *c) => return,
                    }
                }
                first = false;
                let accounts = match coordinator.pending_accounts().await {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(error = %e, "could not list pending accounts in the coordinator");
                        continue;
                    }
                };
                let Some(inner) = weak.upgrade() else { return };
                if inner.closing.load(Ordering::SeqCst) {
                    return;
                }
                for open_kfid in accounts {
                    inner.schedule(&open_kfid, "", 0);
                }
            }
        });
    }
}

impl Bot {
    /// Graceful shutdown: takes no new callbacks, waits until every running pull (and the one
    /// more pull it owes) finished; cursors are persisted after every page, so none is lost.
    pub async fn shutdown(&self) {
        {
            let _slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
            self.inner.closing.store(true, Ordering::SeqCst);
        }
        self.inner.closed.send_replace(true);
        self.idle().await;
        info!("wxkf bot stopped");
    }

    /// Whether [`shutdown`](Self::shutdown) was called (callbacks are then refused).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// Waits until no pull is running (tests and orderly restarts).
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

impl Inner {
    async fn worker(self: Arc<Self>, open_kfid: String) {
        loop {
            let wake = {
                let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
                let slot = slots.entry(open_kfid.clone()).or_default();
                match slot.pending.take() {
                    Some(w) => w,
                    None => {
                        slot.running = false;
                        break;
                    }
                }
            };
            let span = tracing::info_span!("wxkf.pull", open_kfid = %open_kfid, instance = %self.instance_id);
            let result = async {
                match &self.coordinator {
                    None => self.pull(&open_kfid, Some(wake.token.as_str()), wake.create_time, None).await,
                    Some(c) => self.coordinated(c, &open_kfid).await,
                }
            }
            .instrument(span)
            .await;
            if let Err(e) = result {
                warn!(open_kfid = %open_kfid, error = %e, source = ?std::error::Error::source(&e).map(|s| s.to_string()), "sync_msg pull failed; the next callback retries it");
            }
        }
        self.finished();
    }

    /// Pulls `open_kfid` while it has a mark, under its lease, or waits for another instance's
    /// lease to run out (docs/scaling.md).
    async fn coordinated(&self, coordinator: &Arc<dyn Coordinator>, open_kfid: &str) -> Result<(), BotError> {
        let ttl = self.config.lease_ttl;
        let mut closed = self.closed.subscribe();
        loop {
            if self.closing.load(Ordering::SeqCst) {
                return Ok(());
            }
            match coordinator
                .try_lease(open_kfid, &self.instance_id, ttl)
                .await
                .map_err(BotError::Coordinator)?
            {
                LeaseAttempt::Acquired => {
                    debug!(open_kfid, "pull lease taken");
                    let lease = HeldLease::start(Arc::clone(coordinator), open_kfid, &self.instance_id, ttl);
                    let pulled = self.pull_marks(coordinator, open_kfid, &lease).await;
                    lease.release().await;
                    pulled?;
                }
                LeaseAttempt::Held { remaining } => {
                    // the holder sees our mark when it finishes; if it died instead, its lease
                    // runs out and we take over. Looking every tenth of the lease time lets this
                    // wait end soon after the holder cleared the mark.
                    debug!(open_kfid, ?remaining, "another instance holds the pull lease");
                    let jitter = Duration::from_millis(20 + u64::from(nonce_u32() % 80));
                    let wait = (remaining + jitter).min((ttl / 10).max(Duration::from_millis(100)));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = closed.wait_for(|c| *c) => return Ok(()),
                    }
                }
            }
            // a mark made while the lease was held by someone who could not take it
            if coordinator.pending(open_kfid).await.map_err(BotError::Coordinator)?.is_none() {
                return Ok(());
            }
        }
    }

    /// Under the lease: pulls for the current mark, clears exactly that mark, and goes again if
    /// a newer one came in meanwhile.
    async fn pull_marks(
        &self,
        coordinator: &Arc<dyn Coordinator>,
        open_kfid: &str,
        lease: &HeldLease,
    ) -> Result<(), BotError> {
        loop {
            let Some(mark) = coordinator.pending(open_kfid).await.map_err(BotError::Coordinator)? else {
                return Ok(());
            };
            self.pull(open_kfid, mark.usable_token(now_secs()), mark.create_time, Some(lease)).await?;
            if !lease.is_held() {
                return Err(BotError::LeaseLost);
            }
            if coordinator.clear_pending(open_kfid, &mark).await.map_err(BotError::Coordinator)? {
                return Ok(());
            }
        }
    }

    async fn pull(
        &self,
        open_kfid: &str,
        mut token: Option<&str>,
        create_time: u64,
        lease: Option<&HeldLease>,
    ) -> Result<(), BotError> {
        let held = || lease.is_none_or(HeldLease::is_held);
        let mut cursor = self.store.load(open_kfid).await.map_err(BotError::Store)?;
        let skip_before = if cursor.is_none() {
            let woke = if create_time == 0 { self.started_at } else { create_time };
            self.started_at.min(woke).saturating_sub(self.config.history_grace.as_secs())
        } else {
            0
        };
        for _ in 0..self.config.max_pages_per_pull {
            let request = |token: Option<&str>| {
                let mut req = SyncMsgRequest::new(open_kfid).with_limit(self.config.page_limit);
                if let Some(t) = token.filter(|t| !t.is_empty()) {
                    req = req.with_token(t);
                }
                if let Some(c) = &cursor {
                    req = req.with_cursor(c.as_str());
                }
                req
            };
            let page = match self.client.message().sync_msg(request(token)).await {
                // 95007: the callback token is no longer accepted (over 10 minutes old, or a
                // clock far off); the pull works without it, only under a stricter rate limit
                Err(e) if token.is_some() && e.errcode() == Some(95007) => {
                    debug!(open_kfid, "callback token refused; pulling without it");
                    token = None;
                    self.client.message().sync_msg(request(None)).await?
                }
                page => page?,
            };
            debug!(open_kfid, messages = page.msg_list.len(), has_more = page.has_more, "sync_msg page");
            let ids: Vec<&str> = page.msg_list.iter().map(|m| m.msgid.as_str()).collect();
            let seen = self.dedupe.seen(open_kfid, &ids).await.map_err(BotError::Dedupe)?;
            for (msg, seen) in page.msg_list.iter().zip(seen) {
                if seen {
                    debug!(msgid = %msg.msgid, "already handled");
                    continue;
                }
                // a lost lease means another instance pulls now: stop before handling more
                if !held() {
                    return Err(BotError::LeaseLost);
                }
                self.deliver(open_kfid, msg, skip_before).await;
            }
            if !held() {
                return Err(BotError::LeaseLost);
            }
            // saved only now: every message of the page was handed off and its handler returned
            if !page.next_cursor.is_empty() && cursor.as_deref() != Some(page.next_cursor.as_str()) {
                self.store.save(open_kfid, &page.next_cursor).await.map_err(BotError::Store)?;
                cursor = Some(page.next_cursor);
            }
            if !page.has_more {
                return Ok(());
            }
        }
        warn!(open_kfid, "stopped a pull after max_pages_per_pull pages");
        Ok(())
    }

    async fn remember(&self, open_kfid: &str, msgid: &str) {
        if msgid.is_empty() {
            return;
        }
        if let Err(e) = self.dedupe.remember(open_kfid, msgid, self.config.dedupe_ttl).await {
            // the cursor still moves past it after the page; only a re-delivery before that
            // would hand it over again
            warn!(msgid, error = %e, "could not remember a handled msgid");
        }
    }

    async fn deliver(&self, open_kfid: &str, msg: &Message, skip_before: u64) {
        let kfid = msg.open_kfid().unwrap_or(open_kfid);
        let user = msg.external_userid().unwrap_or_default();
        if msg.origin == Origin::Customer && !user.is_empty() {
            if let Err(e) = self.budgets.customer_spoke(kfid, user, msg.send_time).await {
                // the handler's replies will likely fail on the same store and be retried
                warn!(msgid = %msg.msgid, error = %e, "could not open the reply budget");
            }
        }
        if msg.send_time < skip_before {
            debug!(msgid = %msg.msgid, "history from before the first start: skipped");
            self.remember(open_kfid, &msg.msgid).await;
            return;
        }
        let mut attempt = 0u32;
        loop {
            let ctx = self.context(kfid, user, msg);
            let handler = Arc::clone(&self.handler);
            let owned = msg.clone();
            // on its own task, so that a panicking handler counts as a failure instead of
            // killing the pull (which would stall this open_kfid for good)
            let span =
                tracing::info_span!("wxkf.handle", msgid = %msg.msgid, msgtype = msg.msgtype(), attempt);
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
            let result: Result<(), HandlerError> = match run.await {
                Ok(r) => r,
                Err(join) => Err(format!("handler panicked: {join}").into()),
            };
            match result {
                Ok(()) => break,
                Err(e) if attempt < self.config.handler_retries => {
                    let delay = self.config.retry_backoff.saturating_mul(1u32 << attempt.min(16));
                    warn!(msgid = %msg.msgid, attempt, error = %e, "handler failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => {
                    self.handler.on_dead_letter(msg, &e).await;
                    break;
                }
            }
        }
        self.remember(open_kfid, &msg.msgid).await;
    }

    fn context(&self, open_kfid: &str, external_userid: &str, msg: &Message) -> ReplyContext {
        let welcome_code = match msg.event() {
            Some(Event::EnterSession(e)) => e.welcome_code.clone().filter(|c| !c.is_empty()),
            _ => None,
        };
        ReplyContext {
            client: self.client.clone(),
            budgets: Arc::clone(&self.budgets),
            open_kfid: open_kfid.to_owned(),
            external_userid: external_userid.to_owned(),
            welcome_code,
            source_msgid: msg.msgid.clone(),
            sent: Arc::new(AtomicU32::new(0)),
        }
    }
}

/// This instance's hold on one account's pull lease: renewed in the background every third of
/// the lease time; counted as lost once a renewal is refused or none succeeded for most of it.
struct HeldLease {
    coordinator: Arc<dyn Coordinator>,
    open_kfid: String,
    owner: String,
    state: Arc<LeaseState>,
    heartbeat: tokio::task::JoinHandle<()>,
}

struct LeaseState {
    lost: AtomicBool,
    valid_until: Mutex<Instant>,
}

impl HeldLease {
    fn start(coordinator: Arc<dyn Coordinator>, open_kfid: &str, owner: &str, ttl: Duration) -> Self {
        // a margin for the time a renewal takes to reach the server and for clock drift
        let safe = ttl - ttl / 5;
        let state = Arc::new(LeaseState {
            lost: AtomicBool::new(false),
            valid_until: Mutex::new(Instant::now() + safe),
        });
        let heartbeat = {
            let (coordinator, state) = (Arc::clone(&coordinator), Arc::clone(&state));
            let (open_kfid, owner) = (open_kfid.to_owned(), owner.to_owned());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    let sent = Instant::now();
                    match coordinator.renew_lease(&open_kfid, &owner, ttl).await {
                        Ok(true) => {
                            *state.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = sent + safe;
                        }
                        Ok(false) => {
                            warn!(open_kfid = %open_kfid, "pull lease lost to another instance");
                            state.lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => warn!(open_kfid = %open_kfid, error = %e, "could not renew the pull lease"),
                    }
                }
            })
        };
        HeldLease { coordinator, open_kfid: open_kfid.to_owned(), owner: owner.to_owned(), state, heartbeat }
    }

    fn is_held(&self) -> bool {
        !self.state.lost.load(Ordering::SeqCst)
            && Instant::now() < *self.state.valid_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn release(self) {
        self.heartbeat.abort();
        if let Err(e) = self.coordinator.release_lease(&self.open_kfid, &self.owner).await {
            // it runs out by itself
            warn!(open_kfid = %self.open_kfid, error = %e, "could not release the pull lease");
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Random enough to tell instances and marks apart, without a random-number dependency.
fn nonce() -> String {
    format!("{:016x}{:08x}", nonce_u64(), std::process::id())
}

fn nonce_u32() -> u32 {
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
