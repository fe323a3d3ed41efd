//! An echo bot: answers every customer text with the same text, sends images back, and greets
//! customers who enter the chat with a welcome message (the handler is in `echo/mod.rs`). Mount point: `/wxkf/callback` (set it as the callback URL in
//! the WeChat Customer Service admin page).
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_TOKEN`, `WXKF_ENCODING_AES_KEY` (required),
//! `WXKF_BASE_URL` (optional, e.g. a simulator), `WXKF_LISTEN` (default `127.0.0.1:9899`),
//! `WXKF_DATA_DIR` (default `wxkf-data`: the durable store of cursors, handled msgids and reply
//! budgets, so a restart neither skips nor re-answers a message).
//!
//! ```sh
//! cargo run --example echo_bot
//! ```

#[path = "echo/mod.rs"]
mod echo;

use echo::Echo;
use wxkf_axum::bot::Bot;
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_crypto::CallbackCrypto;

fn required(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let listen = std::env::var("WXKF_LISTEN").unwrap_or_else(|_| "127.0.0.1:9899".to_owned());
    // reads WXKF_CORP_ID, WXKF_APP_SECRET and the optional WXKF_BASE_URL
    let client = wxkf_client::Client::from_env()?;
    let crypto = CallbackCrypto::new(
        &required("WXKF_TOKEN")?,
        &required("WXKF_ENCODING_AES_KEY")?,
        &required("WXKF_CORP_ID")?,
    )?;
    let data_dir = std::env::var("WXKF_DATA_DIR").unwrap_or_else(|_| "wxkf-data".to_owned());
    let bot = Bot::builder(client, Echo).data_dir(data_dir).build()?;
    let app = bot_router(CallbackConfig::new(crypto), bot.clone());

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, "echo bot listening on /wxkf/callback");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // the server stopped taking callbacks; finish in-flight pulls and persist cursors
    bot.shutdown().await;
    Ok(())
}
