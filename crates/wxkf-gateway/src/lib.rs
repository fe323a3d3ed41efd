//! A ready-to-run WeChat Customer Service (微信客服, WeCom Kf) bot server for bots not written in
//! Rust: one TOML file routes each Kf account to a backend — a webhook (your HTTP service), any
//! OpenAI-compatible chat-completions endpoint, or a Dify app — and the gateway brings
//! wxkf-bot's guarantees to it: one lane per customer, a durable cursor, the 5-reply budget,
//! turns, placeholders and the hand-off to people (docs/gateway.md).
//!
//! The binary `wxkf-gateway` (`run`, `check`) is a thin shell around [`Gateway`], which tests and
//! the `gateway_demo` example start in-process:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = wxkf_gateway::Config::load(std::path::Path::new("gateway.toml"))?;
//! let gateway = wxkf_gateway::Gateway::start(config).await?;
//! println!("listening on {}", gateway.local_addr());
//! gateway.serve(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod backend;
pub mod config;
pub mod delivery;
pub mod media;
pub mod metrics;
mod ops;
mod protocol;
mod server;
mod shared;
pub mod state;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing::{info, warn};
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_bot::{Bot, BotConfig, Handler, HandlerError, ReplyContext, Turn, async_trait};
use wxkf_crypto::CallbackCrypto;
use wxkf_types::message::{Event, Message};
use wxkf_types::service_state::ServiceState;

pub use backend::webhook::WebhookError;
pub use config::{Config, ConfigError, Secret};

use crate::backend::{Backend, Backends};
use crate::config::BackendConfig;
use crate::metrics::{Metrics, Outcome};
use crate::shared::{Shared, chain};
use crate::state::StateStore;

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The config file is wrong (`wxkf-gateway check` tells the same).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The callback Token / EncodingAESKey / CorpID do not fit together.
    #[error("wecom.token / wecom.encoding_aes_key: {0}")]
    Crypto(#[from] wxkf_crypto::Error),
    /// The API client could not be built.
    #[error("wecom: {0}")]
    Client(#[from] wxkf_client::Error),
    /// The runtime could not be built (its store could not be opened).
    #[error("the bot runtime: {0}")]
    Bot(#[from] wxkf_bot::BotError),
    /// The HTTP client of a backend could not be built.
    #[error("backend HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// Redis (`server.redis_url`) did not answer.
    #[error("server.redis_url: {0}; check that Redis runs and the URL is right")]
    Redis(#[from] redis::RedisError),
    /// Redis (`server.redis_url`) did not answer at start.
    #[error(
        "server.redis_url: Redis did not answer within {secs} s; check that it runs and the URL is right"
    )]
    RedisTimeout {
        /// The wait.
        secs: u64,
    },
    /// Listening or the gateway's own store failed.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The runtime's handler: routes each turn and event to its account's backend.
struct GatewayHandler {
    shared: Arc<Shared>,
    backends: Backends,
}

impl GatewayHandler {
    fn backend_for(&self, open_kfid: &str) -> Option<&Arc<dyn Backend>> {
        self.shared.config.route(open_kfid).and_then(|name| self.backends.get(name))
    }
}

#[async_trait]
impl Handler for GatewayHandler {
    async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
        // without turns (conversation.turn_quiet_ms = 0) every message is a turn of its own
        self.on_turn(ctx, &Turn::new(vec![msg.clone()])).await
    }

    async fn on_turn(&self, ctx: &ReplyContext, turn: &Turn) -> Result<(), HandlerError> {
        let shared = &self.shared;
        let text = turn.text();
        if shared.config.conversation.hand_off_keywords.iter().any(|k| text.contains(k.as_str())) {
            info!(open_kfid = ctx.open_kfid(), "hand-off keyword: the session goes to the waiting pool");
            backend::hand_off(shared, ctx).await?;
            return Ok(());
        }
        let Some(backend) = self.backend_for(ctx.open_kfid()) else {
            warn!(
                open_kfid = ctx.open_kfid(),
                "no route for this account: the turn is not answered (add a [[routes]] entry)"
            );
            return Ok(());
        };
        backend.turn(shared, ctx, turn).await
    }

    async fn on_event(&self, ctx: &ReplyContext, msg: &Message, event: &Event) -> Result<(), HandlerError> {
        let shared = &self.shared;
        if let (Event::EnterSession(_), Some(text)) = (event, &shared.config.conversation.welcome_text)
            && ctx.welcome_code().is_some()
            && let Err(e) = ctx.send_welcome_text(text).await
        {
            warn!(error = %chain(&e), "the welcome text was not sent");
        }
        match self.backend_for(ctx.open_kfid()) {
            Some(backend) => backend.event(shared, ctx, msg, event).await,
            None => Ok(()),
        }
    }

    async fn on_handed_off_message(&self, msg: &Message, state: ServiceState) -> Result<(), HandlerError> {
        // people have the session: the backend does not get it
        tracing::debug!(msgid = %msg.msgid, state = u32::from(state), "message for the servicer: not forwarded");
        Ok(())
    }

    async fn on_dead_letter(&self, msg: &Message, error: &HandlerError) {
        let kfid = msg.open_kfid().unwrap_or_default();
        let backend = self.shared.config.route(kfid).unwrap_or("none");
        let kind = if msg.event().is_some() { "event" } else { "turn" };
        self.shared.metrics.delivery(backend, kind, Outcome::DeadLetter);
        // the delivery id in the error chain identifies the turn; no msgid or customer id above debug
        tracing::debug!(msgid = %msg.msgid, "dead-lettered message");
        tracing::error!(open_kfid = kfid, backend, error = %chain(error.as_ref()), "gave up on a turn: dead-lettered");
    }
}

/// A gateway bound to its listen address, with its runtime started.
pub struct Gateway {
    bot: Bot,
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    grace: Duration,
    app: axum::Router,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// How long the gateway waits for Redis at start.
const REDIS_CONNECT: Duration = Duration::from_secs(10);

/// The runtime settings the config file asks for.
fn bot_config(config: &Config) -> BotConfig {
    let c = &config.conversation;
    let longest = config.backends.values().map(BackendConfig::longest_turn).max().unwrap_or_default();
    let mut bot = BotConfig::default()
        // a turn delivered again after a timeout, a connection error or a 5xx: 1 s, 2 s, 4 s, 8 s, 16 s
        .with_retries(5, Duration::from_secs(1))
        .with_handler_timeout(longest + Duration::from_secs(30))
        // a session a servicer already holds never reaches the backend
        .with_session_lookup(true);
    if c.turn_quiet_ms > 0 {
        bot = bot.with_turns(Duration::from_millis(c.turn_quiet_ms), Duration::from_secs(c.turn_max_s));
    }
    if let Some(after) = c.placeholder_after_s {
        bot = bot.with_placeholder(Duration::from_secs(after), c.placeholder_text.clone());
    }
    bot
}

impl Gateway {
    /// Resolves the secrets, opens the state (data_dir or Redis), binds `server.listen` and starts
    /// the runtime (which pulls every known account once).
    pub async fn start(config: Config) -> Result<Gateway, GatewayError> {
        for key in config.resolve_secrets()? {
            warn!(key = %key, "a secret is written in the config file itself; prefer \"env:NAME\" or \"file:PATH\"");
        }
        let w = &config.wecom;
        let secret = w.secret.resolve("wecom.secret")?;
        let mut builder = wxkf_client::Client::builder(&w.corp_id, secret.expose());
        if let Some(url) = &w.base_url {
            builder = builder.base_url(url);
        }
        let client = builder.build()?;
        let crypto = CallbackCrypto::new(
            w.token.resolve("wecom.token")?.expose(),
            w.encoding_aes_key.resolve("wecom.encoding_aes_key")?.expose(),
            &w.corp_id,
        )?;
        let mut backends: Backends = Backends::new();
        for (name, b) in &config.backends {
            let backend: Arc<dyn Backend> = match b {
                BackendConfig::Webhook(c) => Arc::new(backend::webhook::Webhook::new(
                    name,
                    c,
                    c.secret.resolve(&format!("backends.{name}.secret"))?,
                )?),
                BackendConfig::OpenAi(c) => Arc::new(backend::openai::OpenAi::new(
                    name,
                    c,
                    c.api_key.resolve(&format!("backends.{name}.api_key"))?,
                )?),
                BackendConfig::Dify(c) => Arc::new(backend::dify::Dify::new(
                    name,
                    c,
                    c.api_key.resolve(&format!("backends.{name}.api_key"))?,
                )?),
            };
            backends.insert(name.clone(), backend);
        }
        let (state, redis) = match (&config.server.data_dir, &config.server.redis_url) {
            (_, Some(url)) => {
                let url = url.resolve("server.redis_url")?;
                let client = redis::Client::open(url.expose())?;
                let conn = tokio::time::timeout(REDIS_CONNECT, redis::aio::ConnectionManager::new(client))
                    .await
                    .map_err(|_| GatewayError::RedisTimeout { secs: REDIS_CONNECT.as_secs() })??;
                (StateStore::Redis(conn.clone(), config.server.redis_prefix.clone()), Some(conn))
            }
            (Some(dir), None) => (
                StateStore::open_local(dir).map_err(|source| GatewayError::Io {
                    what: format!("server.data_dir {}", dir.display()),
                    source,
                })?,
                None,
            ),
            (None, None) => unreachable!("Config::parse requires data_dir or redis_url"),
        };
        let api_token = config.server.api_token.resolve("server.api_token")?;
        let grace = Duration::from_secs(config.server.shutdown_grace_s);
        let listen = config.server.listen;
        let shared = Arc::new(Shared {
            metrics: Arc::new(Metrics::default()),
            pending: delivery::Pending::default(),
            state,
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?,
            public_url: OnceLock::new(),
            media: media::MediaCache::default(),
            api_token,
            client: client.clone(),
            config,
        });
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| GatewayError::Io { what: format!("server.listen {listen}"), source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| GatewayError::Io { what: "server.listen".to_owned(), source })?;
        let _ = shared.public_url.set(shared.config.public_url(addr));
        let handler = GatewayHandler { shared: Arc::clone(&shared), backends };
        let mut builder = Bot::builder(client, handler).config(bot_config(&shared.config));
        builder = match (redis, &shared.config.server.data_dir) {
            (Some(conn), _) => builder.redis(conn, &format!("{}bot:", shared.config.server.redis_prefix)),
            (None, Some(dir)) => builder.data_dir(dir),
            (None, None) => unreachable!("Config::parse requires data_dir or redis_url"),
        };
        let bot = builder.build()?;
        let callback = CallbackConfig::new(crypto).with_path(shared.config.server.callback_path.clone());
        let telemetry = telemetry::global();
        let window = Arc::new(ops::Window::default());
        ops::start_sampling(Arc::clone(&window), telemetry);
        let ops = ops::Ops { shared: Arc::clone(&shared), bot: bot.clone(), telemetry, window };
        let app = server::routes(Arc::clone(&shared), telemetry)
            .merge(ops::routes(ops))
            .merge(bot_router(callback, bot.clone()));
        info!(listen = %addr, callback = %shared.config.server.callback_path, "wxkf-gateway started");
        Ok(Gateway { bot, shared, listener, addr, grace, app })
    }

    /// The address the gateway listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The runtime (tests wait on [`Bot::idle`]).
    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    /// The gateway's metrics (what `/metrics` shows).
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Serves until `shutdown` completes; then stops taking callbacks (they get 503), lets running
    /// handlers finish for up to `server.shutdown_grace_s` (a turn waiting for `/v1/replies` can
    /// still get it), saves the cursors and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), GatewayError> {
        let Gateway { bot, listener, grace, app, .. } = self;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        shutdown.await;
        info!(grace_s = grace.as_secs(), "stopping: callbacks now get 503; running handlers may finish");
        match tokio::time::timeout(grace, bot.shutdown()).await {
            Ok(()) => info!("every running handler finished and the cursors are saved"),
            Err(_) => warn!(
                grace_s = grace.as_secs(),
                "handlers still ran at the end of server.shutdown_grace_s: their messages are pulled again on the next start"
            ),
        }
        let _ = stop.send(());
        match tokio::time::timeout(Duration::from_secs(5), server).await {
            Ok(Ok(Ok(()))) | Err(_) => Ok(()),
            Ok(Ok(Err(source))) => Err(GatewayError::Io { what: "serving HTTP".to_owned(), source }),
            Ok(Err(join)) => {
                Err(GatewayError::Io { what: "serving HTTP".to_owned(), source: std::io::Error::other(join) })
            }
        }
    }
}
