//! An AI customer-service bot: answers through any OpenAI-compatible chat-completions endpoint,
//! with a bounded history per customer, a customer's quick messages merged into one question
//! (1.5 s quiet window), a placeholder after 5 s without an answer, and "转人工" handing the chat
//! to people, after which the model stays silent (the handler is in `llm/mod.rs`; the rules in
//! docs/ai-bot.md). Mount point: `/wxkf/callback`.
//!
//! Env: echo_bot's — `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_TOKEN`, `WXKF_ENCODING_AES_KEY`
//! (required), `WXKF_BASE_URL` (optional), `WXKF_LISTEN` (default `127.0.0.1:9899`),
//! `WXKF_DATA_DIR` (default `wxkf-data`) — plus `OPENAI_BASE_URL` (default
//! `https://api.openai.com/v1`), `OPENAI_API_KEY` (required) and `OPENAI_MODEL` (default
//! `gpt-4o-mini`).
//!
//! ```sh
//! cargo run --example llm_bot
//! ```
//!
//! To watch it run with no account: `cargo run --example llm_demo`.

#[path = "llm/mod.rs"]
mod llm;

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
    let model = llm::ChatClient::new(
        &std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".to_owned()),
        &required("OPENAI_API_KEY")?,
        &std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned()),
    )?;
    let data_dir = std::env::var("WXKF_DATA_DIR").unwrap_or_else(|_| "wxkf-data".to_owned());
    let bot =
        Bot::builder(client, llm::LlmBot::new(model)).data_dir(data_dir).config(llm::bot_config()).build()?;
    let app = bot_router(CallbackConfig::new(crypto), bot.clone());

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(%listen, "AI bot listening on /wxkf/callback");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    // the server stopped taking callbacks; finish in-flight pulls and persist cursors
    bot.shutdown().await;
    Ok(())
}
