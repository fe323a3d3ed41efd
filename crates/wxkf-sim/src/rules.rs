//! The switches that choose between two readings of WeCom where the reference is uncertain, or that
//! keep an older, more forgiving behaviour. Set them on `SimBuilder`; the
//! defaults are the documented readings (the README's rule table names the source of each).

use std::time::Duration;

/// When a session's 48 hours run out (kf-api.md §4.0: "one session = from the customer's first
/// message until 48 h later or until it is ended").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionClock {
    /// 48 h after the customer's first message of the session (kf-api.md §4.0; the default).
    #[default]
    FromFirstMessage,
    /// 48 h after the customer's latest message (the simulator's behaviour before 0.2).
    FromLastMessage,
}

/// What `send_msg` answers once the customer has not written for 48 hours.
///
/// **UNCERTAIN**: kf-api.md §5.4 and errcodes.md give 95002 ("only within 48 h after the customer's
/// message"); errcodes.md's 95018 row ("state is not 0/1, e.g. ... or over 48 h") and LangBot#1547
/// report 95018 for the same situation. A bot must treat both as "cannot send".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExpiredSendAnswer {
    /// 95002, the send-time limit (kf-api.md §5.4; the default).
    #[default]
    TimeLimit,
    /// 95018, "send msg session status invalid".
    SessionStatus,
}

/// A servicer's receiving status (kf-api.md §3.3 and the `servicer_status_change` event, §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ServicerStatus {
    /// 接待中: receiving sessions (the default for a new servicer).
    #[default]
    Receiving,
    /// 停止接待: stopped.
    Stopped,
    /// 暂时挂起: temporarily suspended.
    Suspended,
}

impl ServicerStatus {
    /// `status` and `stop_type` as `servicer/list` reports them (0 receiving, 1 stopped).
    pub(crate) fn list_fields(self) -> (u32, Option<u32>) {
        match self {
            ServicerStatus::Receiving => (0, None),
            ServicerStatus::Stopped => (1, Some(0)),
            ServicerStatus::Suspended => (1, Some(1)),
        }
    }

    /// `status` and `stop_type` as the `servicer_status_change` event carries them (1 receiving,
    /// 2 stopped: a different numbering, kf-api.md §3.3 "Gotcha").
    pub(crate) fn event_fields(self) -> (u32, Option<u32>) {
        match self {
            ServicerStatus::Receiving => (1, None),
            ServicerStatus::Stopped => (2, Some(0)),
            ServicerStatus::Suspended => (2, Some(1)),
        }
    }
}

/// How `sync_msg` cuts its pages. kf-api.md §5.1: "fewer may come back even when more exist", and
/// "`has_more` may be 1 with an empty list".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncPaging {
    /// Every page as full as `limit` allows (the default).
    #[default]
    Full,
    /// At most this many items per page, whatever `limit` says (at least 1).
    Short(usize),
    /// Before each page with items, a page with an empty `msg_list`, `has_more = 1` and a new
    /// cursor; the items then come at most this many per page (at least 1).
    EmptyThenShort(usize),
}

/// The budget of `sync_msg` calls made without the callback's `token`, per Kf account.
///
/// kf-api.md §5.1: without the token "the call is subject to a strict (unpublished) frequency
/// limit". WeCom does not publish the number, so the default is a guess on the safe side:
/// [`TokenlessSyncLimit::DEFAULT_CALLS`] calls per [`TokenlessSyncLimit::DEFAULT_PER`] per account
/// — enough for a pull at start-up, a reconcile pull and a 30-second poll that drains a few pages,
/// and far below WeCom's published general limits (10,000 calls/min per corp per API), so code that
/// lives within it will not meet an unpublished stricter one by surprise. A call over the budget
/// is answered 45009 and does not count; the window slides over the simulated clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenlessSyncLimit {
    /// Calls allowed within `per`.
    pub calls: u32,
    /// The sliding window.
    pub per: Duration,
}

impl TokenlessSyncLimit {
    /// Default calls per window: 10.
    pub const DEFAULT_CALLS: u32 = 10;
    /// Default window: 60 seconds.
    pub const DEFAULT_PER: Duration = Duration::from_secs(60);
}

impl Default for TokenlessSyncLimit {
    fn default() -> Self {
        TokenlessSyncLimit { calls: Self::DEFAULT_CALLS, per: Self::DEFAULT_PER }
    }
}

/// Every switch, as the builder set them.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) session_clock: SessionClock,
    pub(crate) expired_send: ExpiredSendAnswer,
    pub(crate) auto_assign: bool,
    /// `None`: no limit.
    pub(crate) tokenless_sync: Option<TokenlessSyncLimit>,
    pub(crate) sync_open_kfid_optional: bool,
    pub(crate) paging: SyncPaging,
    pub(crate) batchget_any_customer: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            session_clock: SessionClock::default(),
            expired_send: ExpiredSendAnswer::default(),
            auto_assign: false,
            tokenless_sync: Some(TokenlessSyncLimit::default()),
            sync_open_kfid_optional: false,
            paging: SyncPaging::default(),
            batchget_any_customer: false,
        }
    }
}
