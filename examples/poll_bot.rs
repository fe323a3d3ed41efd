//! The echo bot in poll mode: no public callback URL, no callback Token or EncodingAESKey. The bot
//! pulls every Kf account of the corp (`kf/account/list`, looked up again every 10 minutes) with
//! `sync_msg` every `WXKF_POLL_SECS` seconds ([`Bot::poll`]) and answers like `echo_bot` (the
//! handler is in `echo/mod.rs`).
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET` (required), `WXKF_BASE_URL` (optional, e.g. a
//! simulator), `WXKF_DATA_DIR` (default `wxkf-data`: the durable store of cursors, handled msgids
//! and reply budgets), `WXKF_POLL_SECS` (default 10).
//!
//! # Rate limits
//!
//! - A pull without a callback Token is under a strict frequency limit that WeCom does not publish
//!   (kf-api.md §5.1 `token`). The simulator assumes 10 `sync_msg` calls per 60 s per Kf account
//!   (`wxkf-sim --tokenless-sync-per-minute`), and so does this example: the default of one poll
//!   every 10 s makes 6 calls a minute per account, plus one call per extra page of a busy
//!   account, plus the runtime's start-up pull and its reconcile pull every 5 minutes
//!   ([`BotConfig::reconcile_interval`]).
//! - Polling more often than every 6 s meets that limit. A pull answered 45009 is retried twice
//!   by the client (its throttle backoff), then the runtime waits at least 10 s before pulling the
//!   account again (tests/poll.rs in wxkf-sim shows at most 3 answers of 45009 in 12 s of polling
//!   every 100 ms, instead of one per tick). Customers wait meanwhile.
//! - A customer waits for at most one poll interval plus the handler's time before the bot sees the
//!   message; with callbacks (`echo_bot`) it is one pull after the callback.
//! - Sends are not affected: `send_msg` has WeCom's general limits (10,000 calls/min per corp per
//!   API) and the 5-replies-per-customer-message rule, which the runtime's reply budget enforces.
//!
//! ```sh
//! # against the simulator (its default tokenless limit: 10 per minute per account):
//! # in one terminal, chat as a customer (no --callback-url: nothing is pushed)
//! cargo run -p wxkf-sim -- --interactive
//! # in another, the bot; its echoes show in the first terminal
//! WXKF_CORP_ID=wwsimcorp WXKF_APP_SECRET=sim-secret WXKF_BASE_URL=http://127.0.0.1:8787 \
//!     cargo run --example poll_bot
//! ```

#[path = "echo/mod.rs"]
mod echo;

use std::time::Duration;

use echo::Echo;
use wxkf_axum::bot::{Bot, BotConfig};

/// The shortest interval that stays within 10 tokenless pulls per minute per account.
const MIN_SAFE_SECS: u64 = 6;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init();
    let every = match std::env::var("WXKF_POLL_SECS") {
        Ok(s) => s.parse::<u64>().map_err(|_| format!("WXKF_POLL_SECS must be whole seconds, got {s:?}"))?,
        Err(_) => 10,
    };
    if every < MIN_SAFE_SECS {
        tracing::warn!(
            every,
            "polling more often than every {MIN_SAFE_SECS} s meets WeCom's tokenless sync_msg limit (45009)"
        );
    }
    // reads WXKF_CORP_ID, WXKF_APP_SECRET and the optional WXKF_BASE_URL
    let client = wxkf_client::Client::from_env()?;
    let data_dir = std::env::var("WXKF_DATA_DIR").unwrap_or_else(|_| "wxkf-data".to_owned());
    let bot = Bot::builder(client, Echo).data_dir(data_dir).config(BotConfig::default()).build()?;

    let poller = tokio::spawn({
        let bot = bot.clone();
        async move { bot.poll(&[], Duration::from_secs(every.max(1))).await }
    });
    tracing::info!(every, "echo bot polling every account of the corp; Ctrl-C stops it");
    let _ = tokio::signal::ctrl_c().await;
    // stops polling, finishes the messages pulled so far and saves the cursors
    bot.shutdown().await;
    poller.await?;
    Ok(())
}
