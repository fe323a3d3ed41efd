//! What the user plugs into the runtime.

use std::future::Future;

use async_trait::async_trait;
use wxkf_types::message::{Event, Message};
use wxkf_types::service_state::ServiceState;

use crate::conversation::Turn;
use crate::error::HandlerError;
use crate::reply::context::ReplyContext;

/// The bot's logic. Customer messages (origin 3), events (origin 4) and what servicers or the
/// API sent (origin 5) arrive at separate methods (kf-api.md §5.1 `origin`): only the first two
/// get a [`ReplyContext`], so a servicer's words can never be answered or echoed by mistake.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// A message from the customer (origin 3). Called at most once per `msgid` unless it fails.
    async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError>;

    /// A customer's turn: with [`BotConfig::with_turns`](crate::BotConfig::with_turns), the
    /// runtime calls this instead of [`on_customer_message`](Self::on_customer_message) with the
    /// customer's consecutive messages merged by the quiet window (docs/ai-bot.md). The default
    /// calls `on_customer_message` for each message in order with the same `ctx`, so a
    /// [`handler_fn`] bot keeps working. Retried as a whole if it fails; replies that already went
    /// out are not sent again.
    async fn on_turn(&self, ctx: &ReplyContext, turn: &Turn) -> Result<(), HandlerError> {
        for msg in turn.messages() {
            self.on_customer_message(ctx, msg).await?;
        }
        Ok(())
    }

    /// A customer message that arrived while people have the session: queued for a servicer
    /// (state 2) or held by one (state 3), as the runtime's session-state cache knows it
    /// (docs/ai-bot.md). The AI handlers ([`on_customer_message`](Self::on_customer_message),
    /// [`on_turn`](Self::on_turn)) are not called for it. Read-only (the bot may not send in
    /// these states). Ignored by default.
    async fn on_handed_off_message(&self, msg: &Message, state: ServiceState) -> Result<(), HandlerError> {
        let _ = (msg, state);
        Ok(())
    }

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
    /// retry ([`ReplyError::is_permanent`](crate::ReplyError::is_permanent): spent budget, closed
    /// window, a caller-bug or quota errcode), or failed every attempt. `error` is a
    /// [`DeadLetter`](crate::DeadLetter) (`error.downcast_ref::<wxkf_bot::DeadLetter>()`) whose
    /// source is the last error. The message counts as done after this returns. Logs at error
    /// level, with the whole cause chain, by default.
    async fn on_dead_letter(&self, msg: &Message, error: &HandlerError) {
        tracing::debug!(msgid = %msg.msgid, "the message given up on");
        tracing::error!(open_kfid = msg.open_kfid().unwrap_or_default(), msgtype = msg.msgtype(), error = %crate::error::chain(error.as_ref()), "message handler gave up");
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
