//! What the user plugs into the runtime.

use std::future::Future;

use async_trait::async_trait;
use wxkf_types::message::{Event, Message};

use crate::context::ReplyContext;

/// The error a handler returns; the runtime retries the message, then gives it to
/// [`Handler::on_dead_letter`].
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The bot's logic. Customer messages (origin 3), events (origin 4) and what servicers or the
/// API sent (origin 5) arrive at separate methods (kf-api.md §5.1 `origin`): only the first two
/// get a [`ReplyContext`], so a servicer's words can never be answered or echoed by mistake.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// A message from the customer (origin 3). Called at most once per `msgid` unless it fails.
    async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError>;

    /// A system event (origin 4), e.g. `enter_session`, whose welcome code is on `ctx`
    /// ([`ReplyContext::send_welcome_text`]). Ignored by default.
    async fn on_event(&self, ctx: &ReplyContext, msg: &Message, event: &Event) -> Result<(), HandlerError> {
        let _ = (ctx, msg, event);
        Ok(())
    }

    /// Everything that is neither a customer message nor a parsed event: what a servicer or the
    /// API sent (origin 5), items of an origin this crate does not know, and origin-4 items whose
    /// event did not parse (`MessageContent::Malformed`). Read-only: there is no reply context.
    /// Ignored by default.
    async fn on_servicer_message(&self, msg: &Message) -> Result<(), HandlerError> {
        let _ = msg;
        Ok(())
    }

    /// A message the runtime gave up on: its handler failed with an error that cannot succeed on
    /// retry ([`BotError::is_permanent`](crate::BotError::is_permanent): spent budget, closed
    /// window, a caller-bug or quota errcode), or failed every attempt. `error` is a
    /// [`DeadLetter`](crate::DeadLetter) (`error.downcast_ref::<wxkf_bot::DeadLetter>()`) whose
    /// source is the last error. The message counts as done after this returns. Logs at error
    /// level, with the whole cause chain, by default.
    async fn on_dead_letter(&self, msg: &Message, error: &HandlerError) {
        tracing::error!(msgid = %msg.msgid, msgtype = msg.msgtype(), error = %crate::error::chain(error.as_ref()), "message handler gave up");
    }
}

/// A [`Handler`] made of one async closure for customer messages (everything else ignored).
///
/// ```
/// use wxkf_bot::{handler_fn, ReplyContext};
/// use wxkf_types::message::{Message, MessageContent};
///
/// let echo = handler_fn(|ctx: ReplyContext, msg: Message| async move {
///     if let MessageContent::Text(t) = &msg.content {
///         ctx.reply_text(&t.content).await?;
///     }
///     Ok(())
/// });
/// # let _ = echo;
/// ```
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(ReplyContext, Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    FnHandler { f }
}

/// See [`handler_fn`].
#[derive(Debug, Clone)]
pub struct FnHandler<F> {
    f: F,
}

#[async_trait]
impl<F, Fut> Handler for FnHandler<F>
where
    F: Fn(ReplyContext, Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
        (self.f)(ctx.clone(), msg.clone()).await
    }
}
