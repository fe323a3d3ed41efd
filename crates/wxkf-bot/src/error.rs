//! What the runtime and the reply context can fail with.

/// Errors of the bot runtime and of [`ReplyContext`](crate::ReplyContext) sends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The send would exceed the 5 messages allowed per customer message (kf-api.md §5.4).
    #[error("the 48-hour window allows {remaining} more message(s) to this customer, {needed} needed")]
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
    /// A welcome text is sent in one piece and must fit 2048 bytes.
    #[error("the welcome text is {len} bytes, more than 2048")]
    TextTooLong {
        /// Its length.
        len: usize,
    },
    /// This context does not belong to an `enter_session` event with a welcome code.
    #[error("no welcome_code: only an enter_session event carries one, usable once within 20 seconds")]
    NoWelcomeCode,
    /// The runtime is shutting down and takes no new work.
    #[error("the bot runtime is shutting down")]
    ShuttingDown,
    /// The API call failed.
    #[error("API call failed")]
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
    /// The budget store failed; nothing was sent.
    #[error("budget store failed: nothing was sent; check the connection to the shared store")]
    BudgetStore(#[source] std::io::Error),
    /// This instance lost the account's pull lease mid-pull (it was paused or cut off for longer
    /// than the lease time); it stopped, and the instance that took the lease goes on.
    #[error("pull lease lost mid-pull: another instance took over the account")]
    LeaseLost,
}
