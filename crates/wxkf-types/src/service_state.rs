//! Session state (会话分配): read a customer's session state and move the session to the bot, the
//! waiting pool, a servicer, or end it (kf-api.md §4).
//!
//! ```
//! use wxkf_types::service_state::{ServiceState, ServiceStateTransRequest};
//!
//! assert!(ServiceState::New.can_send_msg());
//! assert!(!ServiceState::Human.can_send_msg());
//! assert!(ServiceState::Queued.can_transition_to(ServiceState::Human));
//! assert!(!ServiceState::Ended.can_transition_to(ServiceState::New));
//!
//! let req = ServiceStateTransRequest::to_servicer("wkAAA", "wmBBB", "zhangsan");
//! assert_eq!(
//!     serde_json::to_string(&req).unwrap(),
//!     r#"{"open_kfid":"wkAAA","external_userid":"wmBBB","service_state":3,"servicer_userid":"zhangsan"}"#
//! );
//! ```

use serde::{Deserialize, Serialize};

/// State of a customer's session (`service_state`, kf-api.md §4.0).
///
/// A session lasts from the customer's first message until 48 h later or until it is ended.
/// The API may move it along [`can_transition_to`](Self::can_transition_to); forbidden moves
/// fail with 95016. Messages can be sent by API only in [`New`](Self::New) and [`Bot`](Self::Bot)
/// (else 95018).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
#[non_exhaustive]
pub enum ServiceState {
    /// 0 — 未处理, new and unhandled: the customer has just written. The API may reply (making it
    /// the bot's session), queue it in the pool, hand it to a receiving servicer, or end it.
    New,
    /// 1 — 由智能助手接待, handled by the bot/API: the API may send messages, queue the session or
    /// hand it to a servicer.
    Bot,
    /// 2 — 待接入池排队中, queued in the waiting pool until a servicer takes it.
    Queued,
    /// 3 — 由人工接待, handled by a human servicer: may be transferred to another servicer or ended.
    Human,
    /// 4 — 已结束/未开始, ended, or entered but not written yet. No API move leaves this state; a new
    /// customer message makes it [`New`](Self::New).
    Ended,
    /// A state this crate does not know; no transition to or from it is assumed allowed.
    Unknown(u32),
}

impl ServiceState {
    /// Whether `send_msg` works in this state: only [`New`](Self::New) and [`Bot`](Self::Bot)
    /// (kf-api.md §4.0, §13).
    pub fn can_send_msg(self) -> bool {
        matches!(self, ServiceState::New | ServiceState::Bot)
    }

    /// Whether `service_state/trans` may move a session from `self` to `target` (kf-api.md §4.0):
    ///
    /// | from | allowed targets |
    /// |---|---|
    /// | 0 New | 1, 2, 3, 4 |
    /// | 1 Bot | 2, 3, 4 |
    /// | 2 Queued | 3, 4 |
    /// | 3 Human | 3 (transfer to another servicer), 4 |
    /// | 4 Ended | none |
    ///
    /// UNCERTAIN in the reference: whether 0→1 needs a `trans` call or happens implicitly when the
    /// API sends a message (both work with this matrix), and whether 0/1/2→4 are accepted (listed by
    /// one third-party summary only; allowed here, WeCom answers 95016 if not). Unknown states allow
    /// nothing.
    pub fn can_transition_to(self, target: ServiceState) -> bool {
        use ServiceState::*;
        match self {
            New => matches!(target, Bot | Queued | Human | Ended),
            Bot => matches!(target, Queued | Human | Ended),
            Queued | Human => matches!(target, Human | Ended),
            Ended | Unknown(_) => false,
        }
    }
}

impl From<u32> for ServiceState {
    fn from(v: u32) -> Self {
        match v {
            0 => ServiceState::New,
            1 => ServiceState::Bot,
            2 => ServiceState::Queued,
            3 => ServiceState::Human,
            4 => ServiceState::Ended,
            other => ServiceState::Unknown(other),
        }
    }
}

impl From<ServiceState> for u32 {
    fn from(v: ServiceState) -> Self {
        match v {
            ServiceState::New => 0,
            ServiceState::Bot => 1,
            ServiceState::Queued => 2,
            ServiceState::Human => 3,
            ServiceState::Ended => 4,
            ServiceState::Unknown(other) => other,
        }
    }
}

/// Body of `POST /cgi-bin/kf/service_state/get` (kf-api.md §4.1): the session state of one
/// customer with one account.
#[doc(alias = "/cgi-bin/kf/service_state/get")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceStateGetRequest {
    /// The account.
    pub open_kfid: String,
    /// The customer.
    pub external_userid: String,
}

impl ServiceStateGetRequest {
    /// Ask for the state of `external_userid`'s session with `open_kfid`.
    pub fn new(open_kfid: impl Into<String>, external_userid: impl Into<String>) -> Self {
        ServiceStateGetRequest { open_kfid: open_kfid.into(), external_userid: external_userid.into() }
    }
}

/// Response of `service_state/get` (kf-api.md §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceStateGetResponse {
    /// Current state.
    pub service_state: ServiceState,
    /// Servicer handling the session (third-party apps: `open_userid`); meaningful only in
    /// [`ServiceState::Human`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servicer_userid: Option<String>,
}

/// Body of `POST /cgi-bin/kf/service_state/trans` (kf-api.md §4.2): move a session to another
/// state. Not idempotent (a repeated transfer may fail with 95016 or issue a second `msg_code`).
#[doc(alias = "/cgi-bin/kf/service_state/trans")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceStateTransRequest {
    /// The account.
    pub open_kfid: String,
    /// The customer.
    pub external_userid: String,
    /// Target state; see [`ServiceState::can_transition_to`].
    pub service_state: ServiceState,
    /// Required when the target is [`ServiceState::Human`]: a servicer who is currently receiving
    /// and has activated WeCom (else 95014 / 95019).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servicer_userid: Option<String>,
}

impl ServiceStateTransRequest {
    /// Move the session to `service_state` (use [`to_servicer`](Self::to_servicer) for state 3).
    pub fn new(
        open_kfid: impl Into<String>,
        external_userid: impl Into<String>,
        service_state: ServiceState,
    ) -> Self {
        ServiceStateTransRequest {
            open_kfid: open_kfid.into(),
            external_userid: external_userid.into(),
            service_state,
            servicer_userid: None,
        }
    }

    /// Hand the session to the bot/API (state 1).
    pub fn to_bot(open_kfid: impl Into<String>, external_userid: impl Into<String>) -> Self {
        Self::new(open_kfid, external_userid, ServiceState::Bot)
    }

    /// Put the session into the waiting pool (state 2).
    pub fn to_pool(open_kfid: impl Into<String>, external_userid: impl Into<String>) -> Self {
        Self::new(open_kfid, external_userid, ServiceState::Queued)
    }

    /// Hand the session to the servicer `servicer_userid` (state 3), also used to transfer it
    /// between servicers.
    pub fn to_servicer(
        open_kfid: impl Into<String>,
        external_userid: impl Into<String>,
        servicer_userid: impl Into<String>,
    ) -> Self {
        let mut req = Self::new(open_kfid, external_userid, ServiceState::Human);
        req.servicer_userid = Some(servicer_userid.into()).filter(|s: &String| !s.is_empty());
        req
    }

    /// End the session (state 4).
    pub fn end(open_kfid: impl Into<String>, external_userid: impl Into<String>) -> Self {
        Self::new(open_kfid, external_userid, ServiceState::Ended)
    }
}

/// Response of `service_state/trans` (kf-api.md §4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceStateTransResponse {
    /// Code for `send_msg_on_event` (§5.5): a "reply" code when the session first enters state 2
    /// or 3, a "closing" code when it enters state 4; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_code: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn states_map_both_ways() {
        use ServiceState::*;
        for (n, s) in [(0, New), (1, Bot), (2, Queued), (3, Human), (4, Ended), (5, Unknown(5))] {
            assert_eq!(ServiceState::from(n), s);
            assert_eq!(u32::from(s), n);
        }
    }
}
