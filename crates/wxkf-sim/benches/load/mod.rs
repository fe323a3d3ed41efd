//! The runtime load scenario, shared by the `runtime` bench of wxkf-sim and `examples/load.rs`:
//! an echo bot (wxkf-bot behind `wxkf_axum::bot_router`, the real client) against the simulator,
//! many customers of one Kf account each writing a few messages at once, every message pushed as a
//! signed, encrypted callback. A round ends when the simulator has accepted one echo per message.

#![allow(dead_code, unreachable_pub)] // each user of this module uses a part of it

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wxkf_axum::bot::{Bot, BotConfig, HandlerError, ReplyContext, handler_fn};
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_crypto::CallbackCrypto;
use wxkf_sim::{Customer, SimHandle};
use wxkf_types::message::{Message, MessageContent};

/// The Kf account every customer writes to.
pub const KF: &str = "wkLOAD";

/// Where the bot keeps its cursors, handled msgids and reply budgets.
#[derive(Debug, Clone)]
pub enum Store {
    /// `BotBuilder::memory_store`.
    Memory,
    /// `BotBuilder::data_dir`: the durable embedded store (the default for a single instance).
    Dir(PathBuf),
}

/// The simulator, with the account and `customers` customers.
pub async fn start_sim(customers: usize) -> (SimHandle, Vec<Customer>) {
    start_sim_with(customers, wxkf_sim::Sim::builder()).await
}

/// The simulator built from `builder`, with the account and `customers` customers.
pub async fn start_sim_with(customers: usize, builder: wxkf_sim::SimBuilder) -> (SimHandle, Vec<Customer>) {
    let sim = builder.account(KF, "load").start().await.expect("the simulator starts");
    let list = (0..customers).map(|i| sim.customer(KF, &format!("wmLOAD{i:05}"))).collect();
    (sim, list)
}

/// The echo bot's handler: every customer text is answered with the same text.
pub fn echo() -> impl wxkf_axum::bot::Handler {
    handler_fn(|ctx: ReplyContext, msg: Message| async move {
        if let MessageContent::Text(t) = &msg.content {
            ctx.reply_text(&t.content).await?;
        }
        Ok::<(), HandlerError>(())
    })
}

/// An echo bot serving callbacks in this process.
pub struct InProcessBot {
    /// The runtime.
    pub bot: Bot,
    server: tokio::task::JoinHandle<()>,
}

impl InProcessBot {
    /// Shuts the runtime down and stops its server.
    pub async fn stop(self) {
        self.bot.shutdown().await;
        self.server.abort();
    }
}

/// What a bot needs to reach the API and read callbacks.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// CorpID.
    pub corp_id: String,
    /// The app secret.
    pub secret: String,
    /// The API's base URL.
    pub base_url: String,
    /// The callback Token.
    pub token: String,
    /// The callback EncodingAESKey.
    pub aes_key: String,
}

/// Builds a bot with `handler`, serves its callback route on a free port of 127.0.0.1, and
/// returns it with the callback URL.
pub async fn serve_bot(
    handler: impl wxkf_axum::bot::Handler,
    creds: &Credentials,
    store: &Store,
    config: BotConfig,
) -> (InProcessBot, String) {
    let Credentials { corp_id, secret, base_url, token, aes_key } = creds;
    let mut client =
        wxkf_client::Client::builder(corp_id.as_str(), secret.as_str()).base_url(base_url.as_str());
    // `WXKF_LOAD_MAX_REQUESTS=N`: the client's cap on requests in flight (default 64)
    if let Some(n) = std::env::var("WXKF_LOAD_MAX_REQUESTS").ok().and_then(|n| n.parse().ok()) {
        client = client.max_concurrent_requests(n);
    }
    let client = client.build().expect("client");
    let crypto = CallbackCrypto::new(token, aes_key, corp_id).expect("callback crypto");
    let builder = Bot::builder(client, handler).config(config);
    let builder = match store {
        Store::Memory => builder.memory_store(),
        Store::Dir(dir) => builder.data_dir(dir),
    };
    let bot = builder.build().expect("the bot builds");
    let app = bot_router(CallbackConfig::new(crypto), bot.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (InProcessBot { bot, server }, format!("http://{addr}/wxkf/callback"))
}

/// A bot with `handler` in this process, with the simulator's callbacks pointed at it.
pub async fn start_bot(
    sim: &SimHandle,
    store: &Store,
    handler: impl wxkf_axum::bot::Handler,
) -> InProcessBot {
    let (token, key) = wxkf_crypto::generate_credentials().expect("credentials");
    let creds = Credentials {
        corp_id: sim.corp_id(),
        secret: sim.secret(),
        base_url: sim.base_url(),
        token: token.expose_secret().to_owned(),
        aes_key: key.expose_secret().to_owned(),
    };
    let (bot, url) = serve_bot(handler, &creds, store, BotConfig::default()).await;
    sim.set_callback(&url, token.expose_secret(), key.expose_secret()).expect("callback set");
    bot.bot.idle().await;
    bot
}

/// One round: every customer writes `per_customer` messages (all customers' first, then all
/// second, ...), as fast as the simulator takes them; returns the time until the simulator has
/// accepted one echo per message, or `None` if that did not happen within `timeout`.
pub async fn round(
    sim: &SimHandle,
    customers: &[Customer],
    per_customer: usize,
    round_no: usize,
    timeout: Duration,
) -> Option<Duration> {
    let before = sim.sent_count();
    let want = before + customers.len() * per_customer;
    let start = Instant::now();
    for m in 0..per_customer {
        for c in customers {
            c.say(&format!("r{round_no} m{m}"));
        }
    }
    wait_for_count(sim, want, timeout).await.then(|| start.elapsed())
}

/// Waits until the simulator has accepted `want` sends in all, polling its count every 2 ms
/// (clones nothing); false if `timeout` passed first.
pub async fn wait_for_count(sim: &SimHandle, want: usize, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while sim.sent_count() < want {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

/// This process's resident set size in KiB (`VmRSS` of /proc/self/status; Linux only).
pub fn rss_kib() -> Option<u64> {
    rss_kib_of("self")
}

/// A process's resident set size in KiB (`VmRSS` of /proc/`pid`/status; Linux only).
pub fn rss_kib_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
