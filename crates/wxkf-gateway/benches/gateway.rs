//! Messages per second through simulator → gateway → webhook → reply, beside the same load through
//! an in-process echo bot (wxkf-bot behind `wxkf_axum::bot_router`, no HTTP hop to a backend).
//!
//! 200 customers of one account each write 5 messages at once; one iteration is the time until
//! the simulator has accepted one reply per message. Both bots keep their state in a `data_dir`
//! (the durable default of one instance); the gateway runs with `turn_quiet_ms = 0`, so each
//! message is a delivery and a reply, like the echo bot's. The simulator, the bots and the
//! webhook share this process and its cores.
//!
//! ```sh
//! cargo bench -p wxkf-gateway --bench gateway
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_bot::{Bot, HandlerError, ReplyContext, handler_fn};
use wxkf_crypto::CallbackCrypto;
use wxkf_gateway::{Config, Gateway};
use wxkf_sim::{Customer, SimHandle};
use wxkf_types::message::{Message, MessageContent};

const KF: &str = "wkBENCH";
const CUSTOMERS: usize = 200;
const PER_CUSTOMER: usize = 5;

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wxkf-bench-gateway-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn start_sim() -> (SimHandle, Vec<Customer>) {
    let sim = wxkf_sim::Sim::builder().account(KF, "bench").start().await.expect("the simulator starts");
    let customers = (0..CUSTOMERS).map(|i| sim.customer(KF, &format!("wmBENCH{i:04}"))).collect();
    (sim, customers)
}

/// The webhook: echoes each turn's texts, at once.
async fn echo_webhook(body: Bytes) -> ([(&'static str, &'static str); 1], String) {
    let d: Value = serde_json::from_slice(&body).unwrap_or_default();
    let text: Vec<&str> =
        d["messages"].as_array().into_iter().flatten().filter_map(|m| m["text"].as_str()).collect();
    let answer = if d["kind"] == "turn" {
        json!({"replies": [{"type": "text", "text": text.join("\n")}], "action": null})
    } else {
        json!({})
    };
    ([("content-type", "application/json")], answer.to_string())
}

/// Starts the gateway in front of the echo webhook; returns what stops both.
async fn start_gateway(sim: &SimHandle, dir: &std::path::Path) -> tokio::sync::oneshot::Sender<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let hook = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, Router::new().route("/kf", post(echo_webhook))).await });
    let (token, key) = wxkf_crypto::generate_credentials().expect("credentials");
    let config = Config::parse(&format!(
        r#"
[wecom]
corp_id = "{corp}"
secret = "{secret}"
token = "{token}"
encoding_aes_key = "{key}"
base_url = "{base}"

[server]
listen = "127.0.0.1:0"
api_token = "bench-token"
data_dir = {dir:?}

[conversation]
turn_quiet_ms = 0

[[routes]]
open_kfid = "*"
backend = "hook"

[backends.hook]
type = "webhook"
url = "http://{hook}/kf"
secret = "bench-secret"
"#,
        corp = sim.corp_id(),
        secret = sim.secret(),
        token = token.expose_secret(),
        key = key.expose_secret(),
        base = sim.base_url(),
        dir = dir.display().to_string(),
    ))
    .expect("the bench's config is valid");
    let gateway = Gateway::start(config).await.expect("the gateway starts");
    let addr = gateway.local_addr();
    gateway.bot().idle().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gateway.serve(async {
        let _ = stopped.await;
    }));
    sim.set_callback(&format!("http://{addr}/wxkf/callback"), token.expose_secret(), key.expose_secret())
        .expect("callback set");
    stop
}

/// Starts the in-process echo bot; returns it (shut it down to stop).
async fn start_echo_bot(sim: &SimHandle, dir: &std::path::Path) -> Bot {
    let (token, key) = wxkf_crypto::generate_credentials().expect("credentials");
    let client = wxkf_client::Client::builder(sim.corp_id(), sim.secret())
        .base_url(sim.base_url())
        .build()
        .expect("client");
    let echo = handler_fn(|ctx: ReplyContext, msg: Message| async move {
        if let MessageContent::Text(t) = &msg.content {
            ctx.reply_text(&t.content).await?;
        }
        Ok::<(), HandlerError>(())
    });
    let bot = Bot::builder(client, echo).data_dir(dir).build().expect("the bot builds");
    let crypto =
        CallbackCrypto::new(token.expose_secret(), key.expose_secret(), &sim.corp_id()).expect("crypto");
    let app = bot_router(CallbackConfig::new(crypto), bot.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move { axum::serve(listener, app).await });
    sim.set_callback(&format!("http://{addr}/wxkf/callback"), token.expose_secret(), key.expose_secret())
        .expect("callback set");
    bot.idle().await;
    bot
}

/// Every customer writes `PER_CUSTOMER` messages; the time until every one was answered.
async fn round(sim: &SimHandle, customers: &[Customer], round_no: usize) -> Duration {
    let want = sim.sent().len() + customers.len() * PER_CUSTOMER;
    let start = Instant::now();
    for m in 0..PER_CUSTOMER {
        for c in customers {
            c.say(&format!("r{round_no} m{m}"));
        }
    }
    let got = sim.wait_for_sent(want, Duration::from_secs(120)).await.len();
    assert!(got >= want, "only {got} of {want} replies within 120 s");
    start.elapsed()
}

fn gateway(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let mut group = c.benchmark_group("gateway");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements((CUSTOMERS * PER_CUSTOMER) as u64));

    for name in ["echo_bot_200x5", "gateway_webhook_200x5"] {
        let dir = tempdir(name);
        let (sim, customers) = rt.block_on(start_sim());
        let (bot, stop) = if name.starts_with("echo") {
            (Some(rt.block_on(start_echo_bot(&sim, &dir))), None)
        } else {
            (None, Some(rt.block_on(start_gateway(&sim, &dir))))
        };
        let mut round_no = 0;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round_no += 1;
                    total += rt.block_on(round(&sim, &customers, round_no));
                }
                total
            })
        });
        if let Some(bot) = bot {
            rt.block_on(bot.shutdown());
        }
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        sim.shutdown();
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

criterion_group!(benches, gateway);
criterion_main!(benches);
