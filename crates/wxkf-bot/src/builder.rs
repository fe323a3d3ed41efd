//! The builder of a [`Bot`]: where the runtime keeps its state (a data directory, Redis, or
//! memory for tests), the handler and the tuning. It makes the runtime's shared state and hands
//! it to [`Bot`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use wxkf_client::Client;

use crate::bot::Bot;
use crate::clock::now_secs;
use crate::config::BotConfig;
use crate::conversation::SessionStates;
use crate::error::BotError;
use crate::handler::Handler;
use crate::reply::budget::{BudgetStore, MemoryBudgets};
use crate::runtime::state::{Handling, Inner, Lanes};
use crate::runtime::util::nonce;
use crate::store::coordinate::{Coordinator, DedupeStore, MemoryDedupe};
use crate::store::cursor::{CursorStore, MemoryCursorStore};
use crate::store::dead_letter::{DeadLetterStore, MemoryDeadLetters};

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
    dead_letters: Option<Arc<dyn DeadLetterStore>>,
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

    /// Where dead letters are kept for [`Bot::replay`] (default: see [`data_dir`](Self::data_dir);
    /// when the cursor, dedupe and budget stores are all set one by one and this is not, in
    /// memory). Instances that share the work should share it too.
    pub fn dead_letter_store(mut self, dead_letters: impl IntoShared<dyn DeadLetterStore>) -> Self {
        self.dead_letters = Some(dead_letters.into_shared());
        self
    }

    /// Cursors, pull leases, pending callbacks, handled msgids, reply budgets and dead letters in Redis under `prefix`, so that
    /// every instance built this way with the same prefix behaves as one (docs/scaling.md).
    /// Shorthand for [`cursor_store`](Self::cursor_store) + [`coordinator`](Self::coordinator) +
    /// [`dedupe_store`](Self::dedupe_store) + [`budget_store`](Self::budget_store) +
    /// [`dead_letter_store`](Self::dead_letter_store) with the Redis types. Feature `redis`.
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
        use crate::store::redis::{
            RedisBudgets, RedisCoordinator, RedisCursorStore, RedisDeadLetters, RedisDedupe,
        };
        self.cursor_store(RedisCursorStore::from_connection(conn.clone()).with_prefix(prefix))
            .coordinator(RedisCoordinator::from_connection(conn.clone()).with_prefix(prefix))
            .dedupe_store(RedisDedupe::from_connection(conn.clone()).with_prefix(prefix))
            .budget_store(RedisBudgets::from_connection(conn.clone()).with_prefix(prefix))
            .dead_letter_store(RedisDeadLetters::from_connection(conn).with_prefix(prefix))
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
        let mut dead_letters = self.dead_letters;
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
                None => {
                    dead_letters.get_or_insert_with(|| Arc::new(MemoryDeadLetters::default()));
                    (
                        self.store.unwrap_or_else(|| Arc::new(MemoryCursorStore::default())),
                        self.dedupe.unwrap_or_else(|| {
                            Arc::new(MemoryDedupe::new(config.dedupe_ttl, config.dedupe_capacity))
                        }),
                        self.budgets.unwrap_or_else(|| Arc::new(MemoryBudgets::default())),
                    )
                }
                Some(dir) => {
                    let (s, d, b, l) = open_local(&dir)?;
                    dead_letters.get_or_insert(l);
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
        let closing = Arc::new(AtomicBool::new(false));
        let sessions = Arc::new(SessionStates::default());
        let handling = Arc::new(Handling {
            client: self.client.clone(),
            handler: self.handler,
            dedupe: Arc::clone(&dedupe),
            budgets: Arc::clone(&budgets),
            dead_letters: dead_letters.unwrap_or_else(|| Arc::new(MemoryDeadLetters::default())),
            config: config.clone(),
            lanes: Lanes::default(),
            permits: Arc::new(Semaphore::new(config.max_concurrent_handlers)),
            recorder: OnceLock::new(),
            closing: Arc::clone(&closing),
            sessions: Arc::clone(&sessions),
            cut_marker: Arc::from(config.cut_marker.as_str()),
        });
        let bot = Bot {
            inner: Arc::new(Inner {
                client: self.client,
                store,
                coordinator: self.coordinator,
                dedupe,
                budgets,
                instance_id: instance_id(),
                started_at: now_secs(),
                accounts: Mutex::new(HashMap::new()),
                handling,
                closing,
                closed: watch::Sender::new(false),
                background: AtomicBool::new(false),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
                sessions,
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

type Stores = (Arc<dyn CursorStore>, Arc<dyn DedupeStore>, Arc<dyn BudgetStore>, Arc<dyn DeadLetterStore>);

/// The durable embedded store in `dir`, as the four stores.
fn open_local(dir: &std::path::Path) -> Result<Stores, BotError> {
    let local = Arc::new(crate::store::local::LocalStore::open(dir).map_err(BotError::Store)?);
    Ok((local.clone(), local.clone(), local.clone(), local))
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
into_shared!(CursorStore, Coordinator, DedupeStore, BudgetStore, DeadLetterStore);

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
            dead_letters: None,
            default_store: DefaultStore::Unset,
            config: BotConfig::default(),
        }
    }
}

fn instance_id() -> String {
    format!("bot-{}", nonce())
}
