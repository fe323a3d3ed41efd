//! Bot runtime for WeChat Customer Service (微信客服, WeCom Kf): turns `kf_msg_or_event`
//! callbacks into `sync_msg` pulls (kf-api.md §5.1) and hands every message to your [`Handler`]
//! once — never lost, never repeated.
//!
//! - Pulls for one open_kfid are serialized; callbacks that arrive during a pull are coalesced into
//!   one more pull; different open_kfids run in parallel.
//! - The cursor of each open_kfid lives in a [`CursorStore`] ([`FileCursorStore`] survives
//!   `kill -9`) and is saved only after the handler returned for every message of the page; a
//!   msgid dedupe (3 days, bounded) hides the re-delivery that follows a crash.
//! - On first start (no cursor) history is skipped by time, except the message that woke it.
//! - Customer messages, events and servicer messages reach separate [`Handler`] methods; replies
//!   go through [`ReplyContext`], which splits long text and enforces the 48-hour / 5-message
//!   budget locally.
//! - A failing handler is retried with backoff, then the message goes to
//!   [`Handler::on_dead_letter`] and the cursor moves on.
//! - For AI bots (docs/ai-bot.md): opt-in turns merge a customer's quick messages into one
//!   [`Turn`] ([`Handler::on_turn`]); a session-state cache keeps the AI out of sessions a servicer
//!   holds ([`Handler::on_handed_off_message`], [`ReplyError::SessionLeftBot`]); hand-off with
//!   [`ReplyContext::hand_to_pool`]; a placeholder policy ([`BotConfig::with_placeholder`]); long
//!   answers cut to the budget ([`ReplyContext::reply_text_fit`]).
//! - Several instances behave as one with a shared [`Coordinator`] (pending callbacks and a pull
//!   lease per open_kfid), [`DedupeStore`] and [`BudgetStore`]; feature `redis` has all three
//!   (`BotBuilder::redis`, docs/scaling.md).
//!
//! This crate knows nothing of HTTP servers: `wxkf-axum` wires [`Bot::dispatch`] to a callback
//! route.
//!
//! ```no_run
//! use wxkf_bot::{Bot, handler_fn, ReplyContext};
//! use wxkf_types::message::{Message, MessageContent};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = wxkf_client::Client::from_env()?;
//! let bot = Bot::builder(client, handler_fn(|ctx: ReplyContext, msg: Message| async move {
//!     if let MessageContent::Text(t) = &msg.content {
//!         ctx.reply_text(&t.content).await?;
//!     }
//!     Ok(())
//! }))
//! .data_dir("/var/lib/mybot") // durable: cursors, handled msgids, reply budgets
//! .build()?;
//! // call bot.dispatch(&event) for every decrypted callback; on exit:
//! bot.shutdown().await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod bot;
mod builder;
mod clock;
mod config;
mod conversation;
mod dead_letter;
mod error;
mod handler;
mod reply;
mod runtime;
mod store;
mod telemetry;

pub use async_trait::async_trait;
pub use bot::Bot;
pub use builder::{BotBuilder, IntoShared};
pub use config::BotConfig;
pub use conversation::{DEFAULT_CUT_MARKER, Delivery, Placeholder, Turn, TurnConfig};
pub use dead_letter::DeadLetterRecord;
pub use error::{BotError, DeadLetter, DeadLetterReason, HandlerError, HandlerTimedOut, ReplyError};
pub use handler::{FnHandler, Handler, handler_fn};
pub use reply::budget::{Budget, BudgetStore, MemoryBudgets, REPLIES_PER_WINDOW, REPLY_WINDOW_SECS};
pub use reply::context::ReplyContext;
pub use reply::text::split_text;
pub use runtime::Dispatch;
pub use store::coordinate::{
    Coordinator, DedupeStore, LeaseAttempt, MemoryCoordinator, MemoryDedupe, PendingPull,
};
pub use store::cursor::{CursorStore, FileCursorStore, MemoryCursorStore};
pub use store::dead_letter::{DeadLetterStore, MemoryDeadLetters};
pub use store::local::LocalStore;
#[cfg(feature = "redis")]
pub use store::redis::{RedisBudgets, RedisCoordinator, RedisCursorStore, RedisDeadLetters, RedisDedupe};
pub use telemetry::{METRIC_NAMES, describe_metrics};
/// The API client crate this runtime is built on (its errors appear in [`BotError::Api`] and [`ReplyError::Api`]).
pub use wxkf_client;

#[cfg(feature = "redis")]
#[doc(inline)]
pub use store::redis as redis_store;
