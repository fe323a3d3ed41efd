//! axum routes for WeChat Customer Service (微信客服, WeCom Kf) callbacks
//! (callback-crypto.md; kf-api.md §5.1 `kf_msg_or_event`).
//!
//! [`callback_router`] gives a [`Router`](axum::Router) for one path (default
//! [`DEFAULT_PATH`]) that you can `merge`, `nest`, `layer` and give your own state:
//! - `GET` answers URL verification with the decrypted echo, as plain text;
//! - `POST` verifies the signature, decrypts (XML or JSON envelope), parses the event, hands a
//!   [`Callback`] (event + raw plaintext) to your [`CallbackHandler`] and answers `success` at
//!   once — WeCom waits only 5 seconds before retrying, so handlers must not block;
//! - a bad signature, body or receive id gets a short plain-text 4xx, logged once at `warn`
//!   without secrets, at most a few lines per interval (then one line with the count of the rest,
//!   [`CallbackConfig::with_rejection_log`]); the body is size-limited; an optional replay window
//!   rejects old timestamps.
//!
//! [`bot_router`] wires the same route to a [`wxkf_bot::Bot`], which pulls and answers the
//! messages in the background.
//!
//! ```
//! use axum::{Router, routing::get};
//! use wxkf_axum::{Callback, CallbackConfig, callback_router};
//! use wxkf_crypto::CallbackCrypto;
//!
//! let crypto = CallbackCrypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")?;
//! let config = CallbackConfig::new(crypto);
//! assert_eq!(config.path(), "/wxkf/callback");
//!
//! #[derive(Clone)]
//! struct AppState { name: &'static str }
//!
//! let app: Router = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .merge(callback_router(config, |cb: Callback| {
//!         // hand it on without blocking (a channel, a spawned task, a bot)
//!         tracing::info!(plaintext_len = cb.plaintext.len(), "callback");
//!     }))
//!     .with_state(AppState { name: "demo" });
//! # let _ = app;
//! # Ok::<(), wxkf_crypto::Error>(())
//! ```

#![deny(missing_docs)]

mod router;
mod telemetry;

pub use router::{
    Callback, CallbackConfig, CallbackHandler, DEFAULT_BODY_LIMIT, DEFAULT_PATH,
    DEFAULT_REJECTION_LOG_INTERVAL, DEFAULT_REJECTION_LOG_LINES, bot_router, bot_router_with,
    callback_router,
};
pub use telemetry::{METRIC_NAMES, describe_metrics};
pub use wxkf_bot as bot;

// The repository's READMEs (English and Chinese) are compiled and run as doc tests here, so their
// examples cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme_en {}

#[cfg(doctest)]
#[doc = include_str!("../../../README.zh-CN.md")]
mod readme_zh_cn {}
