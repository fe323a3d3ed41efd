//! The echo bot (handler in `echo/mod.rs`) ready to run as several instances behind one load
//! balancer: the access token, the refresh lock, the `sync_msg` cursors, the per-open_kfid pull
//! leases, pending callbacks, handled msgids and reply budgets all live in Redis, so the instances
//! behave as one
//! (docs/scaling.md). Start as many as you like with the same settings.
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_TOKEN`, `WXKF_ENCODING_AES_KEY` (required),
//! `WXKF_BASE_URL` (optional, e.g. a simulator), `WXKF_LISTEN` (default `127.0.0.1:9899`),
//! `REDIS_URL` (default `redis://127.0.0.1:6379`), `WXKF_REDIS_PREFIX` (default `wxkf:`; the
//! instances of one bot share it, different bots on one Redis use different ones).
//!
//! ```sh
//! WXKF_LISTEN=127.0.0.1:9901 cargo run --example redis_bot &
//! WXKF_LISTEN=127.0.0.1:9902 cargo run --example redis_bot &
//! ```
//!
//! Without WeChat credentials, against the built-in simulator (a Redis server on 127.0.0.1):
//!
//! ```sh
//! export WXKF_CORP_ID=wwsimcorp WXKF_APP_SECRET=sim-secret WXKF_BASE_URL=http://127.0.0.1:8787 \
//!        WXKF_TOKEN=QDG6eK WXKF_ENCODING_AES_KEY=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C
//! WXKF_LISTEN=127.0.0.1:9901 cargo run --example redis_bot &
//! WXKF_LISTEN=127.0.0.1:9902 cargo run --example redis_bot &
//! # chat as a customer; callbacks go to the first instance (put a load balancer in front of
//! # both to spread them), the pulls and replies are shared through Redis
//! cargo run -p wxkf-sim -- --callback-url http://127.0.0.1:9901/wxkf/callback \
//!     --token "$WXKF_TOKEN" --aes-key "$WXKF_ENCODING_AES_KEY" --interactive
//! ```

#[path = "echo/mod.rs"]
mod echo;

use std::sync::Arc;

use echo::Echo;
use wxkf_axum::bot::Bot;
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_client::{ClientBuilder, RedisTokenStore};
use wxkf_crypto::CallbackCrypto;

fn required(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let listen = std::env::var("WXKF_LISTEN").unwrap_or_else(|_| "127.0.0.1:9899".to_owned());
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = std::env::var("WXKF_REDIS_PREFIX").unwrap_or_else(|_| "wxkf:".to_owned());

    // one connection (it reconnects by itself) for everything the instances share
    let redis = redis::aio::ConnectionManager::new(redis::Client::open(redis_url.as_str())?).await?;
    let tokens = RedisTokenStore::from_connection(redis.clone()).with_prefix(&prefix);
    // reads WXKF_CORP_ID, WXKF_APP_SECRET and the optional WXKF_BASE_URL
    let client = ClientBuilder::from_env()?.token_store(Arc::new(tokens)).build()?;
    let crypto = CallbackCrypto::new(
        &required("WXKF_TOKEN")?,
        &required("WXKF_ENCODING_AES_KEY")?,
        &required("WXKF_CORP_ID")?,
    )?;
    // cursors, pull leases, pending callbacks, handled msgids and reply budgets under the same prefix
    let bot = Bot::builder(client, Echo).redis(redis, &prefix).build()?;
    tracing::info!(instance = bot.instance_id(), %listen, %prefix, "echo bot instance listening on /wxkf/callback");
    let app = bot_router(CallbackConfig::new(crypto), bot.clone());

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // finish the pulls this instance holds leases for; callbacks it could not take are marked in
    // Redis and the other instances pull them
    bot.shutdown().await;
    Ok(())
}
