//! The runtime: callbacks in, serialized coalesced pulls per open_kfid, messages out to the handler.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{debug, info, warn};
use wxkf_client::Client;
use wxkf_types::callback::CallbackEvent;
use wxkf_types::message::{Event, Message, Origin, SyncMsgRequest};

use crate::context::{Budgets, ReplyContext, now_secs};
use crate::dedupe::Dedupe;
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
    /// A pull was started for the callback's open_kfid.
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
        Bot {
            inner: Arc::new(Inner {
                client: self.client,
                handler: self.handler,
                store,
                started_at: now_secs(),
                slots: Mutex::new(HashMap::new()),
                dedupe: Mutex::new(Dedupe::new(config.dedupe_ttl, config.dedupe_capacity)),
                budgets: Arc::new(Budgets::default()),
                closing: AtomicBool::new(false),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
                config,
            }),
        }
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
    config: BotConfig,
    started_at: u64,
    slots: Mutex<HashMap<String, Slot>>,
    dedupe: Mutex<Dedupe>,
    budgets: Arc<Budgets>,
    closing: AtomicBool,
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
        BotBuilder { client, handler: Arc::new(handler), store: None, config: BotConfig::default() }
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
        let inner = &self.inner;
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

    /// Graceful shutdown: takes no new callbacks, waits until every running pull (and the one
    /// more pull it owes) finished; cursors are persisted after every page, so none is lost.
    pub async fn shutdown(&self) {
        {
            let _slots = self.inner.slots.lock().unwrap_or_else(|e| e.into_inner());
            self.inner.closing.store(true, Ordering::SeqCst);
        }
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
            if let Err(e) = self.pull(&open_kfid, &wake).await {
                warn!(open_kfid = %open_kfid, error = %e, source = ?std::error::Error::source(&e).map(|s| s.to_string()), "sync_msg pull failed; the next callback retries it");
            }
        }
        self.active.fetch_sub(1, Ordering::SeqCst);
        self.idle.notify_waiters();
    }

    async fn pull(&self, open_kfid: &str, wake: &Wake) -> Result<(), BotError> {
        let mut cursor = self.store.load(open_kfid).await.map_err(BotError::Store)?;
        let skip_before = if cursor.is_none() {
            let woke = if wake.create_time == 0 { self.started_at } else { wake.create_time };
            self.started_at.min(woke).saturating_sub(self.config.history_grace.as_secs())
        } else {
            0
        };
        for _ in 0..self.config.max_pages_per_pull {
            let mut req = SyncMsgRequest::new(open_kfid)
                .with_token(wake.token.as_str())
                .with_limit(self.config.page_limit);
            if let Some(c) = &cursor {
                req = req.with_cursor(c.as_str());
            }
            let page = self.client.message().sync_msg(req).await?;
            debug!(open_kfid, messages = page.msg_list.len(), has_more = page.has_more, "sync_msg page");
            for msg in &page.msg_list {
                self.deliver(open_kfid, msg, skip_before).await;
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

    fn seen(&self, msgid: &str) -> bool {
        !msgid.is_empty() && self.dedupe.lock().unwrap_or_else(|e| e.into_inner()).contains(msgid)
    }

    fn remember(&self, msgid: &str) {
        if !msgid.is_empty() {
            self.dedupe.lock().unwrap_or_else(|e| e.into_inner()).insert(msgid);
        }
    }

    async fn deliver(&self, open_kfid: &str, msg: &Message, skip_before: u64) {
        if self.seen(&msg.msgid) {
            debug!(msgid = %msg.msgid, "already handled");
            return;
        }
        let kfid = msg.open_kfid().unwrap_or(open_kfid);
        let user = msg.external_userid().unwrap_or_default();
        if msg.origin == Origin::Customer && !user.is_empty() {
            self.budgets.customer_spoke(kfid, user, msg.send_time);
        }
        if msg.send_time < skip_before {
            debug!(msgid = %msg.msgid, "history from before the first start: skipped");
            self.remember(&msg.msgid);
            return;
        }
        let mut attempt = 0u32;
        loop {
            let ctx = self.context(kfid, user, msg);
            let handler = Arc::clone(&self.handler);
            let owned = msg.clone();
            // on its own task, so that a panicking handler counts as a failure instead of
            // killing the pull (which would stall this open_kfid for good)
            let run = tokio::spawn(async move {
                match (owned.origin, owned.event()) {
                    (Origin::Customer, _) => handler.on_customer_message(&ctx, &owned).await,
                    (Origin::Event, Some(event)) => handler.on_event(&ctx, &owned, event).await,
                    _ => handler.on_servicer_message(&owned).await,
                }
            });
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
        self.remember(&msg.msgid);
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
