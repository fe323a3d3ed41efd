//! What can fail, split by who sees it: [`ReplyError`] is what a handler's replies through
//! [`ReplyContext`](crate::ReplyContext) fail with; [`BotError`] is what the runtime itself (its
//! builder, pulls and stores) fails with.

use wxkf_types::service_state::ServiceState;

/// Why a reply through [`ReplyContext`](crate::ReplyContext) was not sent. What a handler sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The send would exceed the 5 messages allowed after the customer's latest message
    /// (kf-api.md §5.4). Nothing was sent.
    #[error(
        "WeCom allows {remaining} more message(s) to this customer until they write again, {needed} needed"
    )]
    BudgetExhausted {
        /// Messages the send needs.
        needed: u32,
        /// Messages left.
        remaining: u32,
    },
    /// The customer has not written within 48 hours (or not since the runtime started), so
    /// WeCom would refuse the send (kf-api.md §5.4).
    #[error("no customer message in the last 48 hours: sending is not allowed")]
    WindowClosed,
    /// An empty text cannot be sent.
    #[error("the reply text is empty")]
    EmptyText,
    /// A welcome or event text is sent in one piece and must fit 2048 bytes.
    #[error("the text is {len} bytes, more than the 2048 a welcome or event message may have")]
    TextTooLong {
        /// Its length.
        len: usize,
    },
    /// This context does not belong to an `enter_session` event with a welcome code.
    #[error("no welcome_code: only an enter_session event carries one, usable once within 20 seconds")]
    NoWelcomeCode,
    /// The session is no longer the bot's: it is queued for a servicer (2), held by one (3) or
    /// ended (4), as the runtime's session-state cache knows right before the send (docs/ai-bot.md).
    /// Nothing was sent, so WeCom never answers 95018. The runtime counts a handler that fails
    /// with it as done, without retries or dead letter.
    #[error(
        "the session is in service state {} ({state:?}), no longer the bot's: the reply was not sent; a servicer has it, or the customer must write again",
        u32::from(*state)
    )]
    SessionLeftBot {
        /// The session's state.
        state: ServiceState,
    },
    /// The API call failed; its Display is the client error's (errcode, errmsg, what to do).
    #[error(transparent)]
    Api(#[from] wxkf_client::Error),
    /// The budget store failed; nothing was sent.
    #[error("budget store failed: nothing was sent; check the connection to the shared store")]
    BudgetStore(#[source] std::io::Error),
}

impl ReplyError {
    /// The WeCom errcode behind this error, if it is an API error.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            ReplyError::Api(e) => e.errcode(),
            _ => None,
        }
    }

    /// Whether retrying the same reply cannot succeed: the budget is spent or the window is
    /// closed, the reply is invalid, the session left the bot, or the API error is one for which
    /// `wxkf_client::Error::is_permanent` holds (caller-bug, permission or quota codes of
    /// errcodes.md, e.g. 95001, 95002, 95013, 95018, 40096; not 45009, whose block lifts). The
    /// runtime does not retry a handler that failed with such an error; it goes to
    /// [`Handler::on_dead_letter`](crate::Handler::on_dead_letter) at once.
    pub fn is_permanent(&self) -> bool {
        match self {
            ReplyError::Api(e) => client_error_is_permanent(e),
            ReplyError::BudgetStore(_) => false,
            _ => true,
        }
    }
}

/// What the runtime fails with: its builder, its pulls and its stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The runtime is shutting down and takes no new work.
    #[error("the bot runtime is shutting down")]
    ShuttingDown,
    /// An API call of the runtime (a pull) failed; its Display is the client error's.
    #[error(transparent)]
    Api(#[from] wxkf_client::Error),
    /// The cursor store failed.
    #[error("cursor store failed")]
    Store(#[source] std::io::Error),
    /// The dedupe store failed; the page is not handled (it comes again with the next pull).
    #[error("dedupe store failed: the page is pulled again later")]
    Dedupe(#[source] std::io::Error),
    /// The coordinator (shared leases and marks) failed; the mark stays and another pull
    /// follows.
    #[error("coordinator failed: check the connection to the shared store")]
    Coordinator(#[source] std::io::Error),
    /// This instance lost the account's pull lease mid-pull (it was paused or cut off for longer
    /// than the lease time); it stopped, and the instance that took the lease goes on.
    #[error("pull lease lost mid-pull: another instance took over the account")]
    LeaseLost,
    /// A [`BotConfig`](crate::BotConfig) value cannot work; [`BotBuilder::build`](crate::BotBuilder::build)
    /// refused it.
    #[error("invalid bot configuration: {field} {reason}")]
    InvalidConfig {
        /// The field of `BotConfig`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No dead letter has this id (it was replayed, discarded, or expired after
    /// [`BotConfig::dead_letter_retention`](crate::BotConfig::dead_letter_retention)); list them
    /// with [`Bot::dead_letters`](crate::Bot::dead_letters).
    #[error(
        "no dead letter {0}: it was replayed, discarded or expired; list the kept ones with Bot::dead_letters"
    )]
    DeadLetterNotFound(String),
    /// The dead-letter store failed; nothing was changed. Check the connection to the store.
    #[error("dead-letter store failed: check the connection to the store")]
    DeadLetters(#[source] std::io::Error),
    /// The replayed dead letter failed again; it stays kept with one more attempt and this
    /// error. Fix the handler (or wait for what it depends on) and replay it again, or discard it.
    #[error("the replayed dead letter failed again (kept, attempts + 1)")]
    ReplayFailed(#[source] HandlerError),
    /// The kept messages of the dead letter cannot be read as messages (the store was edited
    /// by hand); discard it.
    #[error("dead letter {0} holds no readable message: discard it")]
    DeadLetterUnreadable(String),
    /// No store was chosen and `WXKF_DATA_DIR` is not set.
    #[error(
        "choose where the bot keeps cursors, handled msgids and reply budgets: BotBuilder::data_dir(DIR) or WXKF_DATA_DIR for one instance, BotBuilder::redis for several, or BotBuilder::memory_store() for tests (forgotten on restart)"
    )]
    NoStore,
}

impl BotError {
    /// The WeCom errcode behind this error, if it is an API error.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            BotError::Api(e) => e.errcode(),
            _ => None,
        }
    }
}

fn client_error_is_permanent(e: &wxkf_client::Error) -> bool {
    // one classification for the workspace: the client's (errcodes.md categories; 45009 and the
    // like lift by themselves and are retried)
    e.is_permanent()
}

/// Whether a handler's error (or any error in its source chain) is one that cannot succeed on
/// retry: a [`BotError`] or `wxkf_client::Error` for which [`ReplyError::is_permanent`] holds.
pub(crate) fn is_permanent(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<ReplyError>() {
            return r.is_permanent();
        }
        if let Some(c) = e.downcast_ref::<wxkf_client::Error>() {
            return client_error_is_permanent(c);
        }
        next = e.source();
    }
    false
}

/// Whether a handler's error (or any error in its source chain) is
/// [`ReplyError::SessionLeftBot`]: the reply was refused because people have the session.
pub(crate) fn is_session_left(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(ReplyError::SessionLeftBot { .. }) = e.downcast_ref::<ReplyError>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// An error and its whole `source()` chain on one line, for logs: the client's one helper.
pub(crate) use wxkf_client::error::chain;

/// Why the runtime gave up on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// The error cannot succeed on retry ([`ReplyError::is_permanent`]): not retried.
    Permanent,
    /// Every retry failed ([`BotConfig::handler_retries`](crate::BotConfig::handler_retries)).
    RetriesExhausted,
}

/// What [`Handler::on_dead_letter`](crate::Handler::on_dead_letter) receives: the message's
/// last error, why the runtime gave up, and after how many attempts.
/// `error.downcast_ref::<DeadLetter>()` gets it from the `HandlerError`.
#[derive(Debug, thiserror::Error)]
// no msgid in the text: it reaches logs above debug (docs/operations.md)
#[error("gave up after {attempts} attempt(s) ({reason:?})")]
#[non_exhaustive]
pub struct DeadLetter {
    /// The message's msgid.
    pub msgid: String,
    /// Why.
    pub reason: DeadLetterReason,
    /// How many times the handler ran.
    pub attempts: u32,
    /// The last attempt's error.
    #[source]
    pub source: HandlerError,
}

/// A handler ran longer than [`BotConfig::handler_timeout`](crate::BotConfig::handler_timeout)
/// and was stopped.
#[derive(Debug, thiserror::Error)]
#[error("the handler did not finish within {after:?} (BotConfig::handler_timeout)")]
#[non_exhaustive]
pub struct HandlerTimedOut {
    /// The timeout.
    pub after: std::time::Duration,
}

/// The error a handler returns; the runtime retries the message, then gives it to
/// [`Handler::on_dead_letter`](crate::Handler::on_dead_letter).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;
