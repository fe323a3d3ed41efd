//! System events: `msg_list` items with `msgtype` = `event` and the payload under `event`
//! (kf-api.md §5.3).
//!
//! Each event kind is its own struct carrying its own `open_kfid`/`external_userid` (they are not
//! the same in every kind: `servicer_status_change` has no customer), and [`Event::open_kfid()`] /
//! [`Event::external_userid()`] read them across kinds.
//!
//! ```
//! use wxkf_types::message::{Event, FailType};
//!
//! let e: Event = serde_json::from_str(r#"{"event_type": "msg_send_fail", "open_kfid": "wk1",
//!     "external_userid": "wm1", "fail_msgid": "M1", "fail_type": 10}"#).unwrap();
//! let Event::MsgSendFail(fail) = &e else { panic!("{e:?}") };
//! assert_eq!(fail.fail_type, FailType::CustomerRefused);
//! assert_eq!(e.external_userid(), Some("wm1"));
//! ```

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::lenient;

code_enum! {
    /// Where a customer entered from WeChat Channels (`wechat_channels.scene`, kf-api.md §5.3).
    pub enum ChannelsScene {
        /// 1: the Channels home page.
        HomePage = 1,
        /// 2: the product list in a live room.
        LiveProductList = 2,
        /// 3: the product showcase (橱窗).
        Showcase = 3,
        /// 4: a Channels-shop product detail page.
        ShopProductDetail = 4,
        /// 5: a Channels-shop order page.
        ShopOrder = 5,
    }
}

code_enum! {
    /// Why a sent message was not delivered (`fail_type` of `msg_send_fail`, kf-api.md §5.3).
    ///
    /// 7 and 9 appear only in older text (DISAGREEMENT); both are kept.
    pub enum FailType {
        /// 0: reason not known.
        UnknownReason = 0,
        /// 1: the Kf account was deleted.
        AccountDeleted = 1,
        /// 2: the app was closed.
        AppClosed = 2,
        /// 4: the session expired (more than 48 h since the customer's last message).
        SessionExpired = 4,
        /// 5: the session was closed.
        SessionClosed = 5,
        /// 6: over the limit of 5 messages per customer message.
        TooManyMessages = 6,
        /// 7: WeChat Channels not bound (older text only).
        ChannelsNotBound = 7,
        /// 8: the corp is not verified.
        CorpNotVerified = 8,
        /// 9: Channels not bound and the corp not verified (older text only).
        ChannelsNotBoundAndCorpNotVerified = 9,
        /// 10: the customer refuses messages.
        CustomerRefused = 10,
        /// 11: no member of the corp has ever logged into the WeCom app.
        NoMemberLoggedIn = 11,
        /// 12: the message type is forbidden by the Kf component.
        MsgTypeForbidden = 12,
        /// 13: security restriction.
        SecurityRestriction = 13,
    }
}

// `code_enum!` derives for every code enum alike; only this one has a natural default.
#[allow(clippy::derivable_impls)]
impl Default for FailType {
    fn default() -> Self {
        FailType::UnknownReason
    }
}

code_enum! {
    /// A servicer's receiving status in `servicer_status_change` (kf-api.md §5.3).
    ///
    /// Beware: numbered **1 = receiving, 2 = stopped**, unlike `servicer/list`, where 0 = receiving
    /// and 1 = stopped (kf-api.md §3.3, §14 item 9). This is a separate type so the two cannot mix.
    pub enum ServicerEventStatus {
        /// 1: receiving customers.
        Receiving = 1,
        /// 2: stopped receiving (see [`StopType`]).
        Stopped = 2,
    }
}

code_enum! {
    /// How a servicer stopped receiving (`stop_type`, kf-api.md §5.3).
    pub enum StopType {
        /// 0: stopped.
        Stopped = 0,
        /// 1: temporarily suspended.
        Suspended = 1,
    }
}

code_enum! {
    /// How a session changed in `session_status_change` (`change_type`, kf-api.md §5.3).
    pub enum ChangeType {
        /// 1: a servicer took the session from the waiting pool.
        TakenFromPool = 1,
        /// 2: the session was transferred to another servicer.
        Transferred = 2,
        /// 3: the session was ended.
        Ended = 3,
        /// 4: a servicer re-joined an ended or transferred session.
        Rejoined = 4,
    }
}

/// A system event (kf-api.md §5.3). Unknown `event_type`s are kept with their raw JSON.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `enter_session`: the customer entered the chat.
    EnterSession(EnterSession),
    /// `msg_send_fail`: a message you sent was not delivered.
    MsgSendFail(MsgSendFail),
    /// `servicer_status_change`: a servicer's receiving status changed.
    ServicerStatusChange(ServicerStatusChange),
    /// `session_status_change`: a servicer acted on a session in the WeCom client.
    SessionStatusChange(SessionStatusChange),
    /// `user_recall_msg`: the customer recalled a message.
    UserRecallMsg(UserRecallMsg),
    /// `servicer_recall_msg`: a servicer recalled a message.
    ServicerRecallMsg(ServicerRecallMsg),
    /// `reject_customer_msg_switch_change`: a servicer turned "refuse this customer" on or off.
    RejectCustomerMsgSwitchChange(RejectCustomerMsgSwitchChange),
    /// An `event_type` this crate does not know; `raw` is the whole `event` object.
    Unknown {
        /// The `event_type`.
        event_type: String,
        /// The whole `event` object.
        raw: Value,
    },
}

impl Event {
    /// Reads an `event` object. Fails only when a known `event_type`'s fields do not fit (or
    /// `event_type` is missing); the message layer turns that into a malformed item.
    pub fn from_value(value: &Value) -> Result<Event, String> {
        fn de<T: for<'a> Deserialize<'a>>(t: &str, v: &Value) -> Result<T, String> {
            T::deserialize(v).map_err(|e| format!("event {t}: {e}"))
        }
        let Value::Object(obj) = value else {
            return Err("event is not a JSON object".to_owned());
        };
        let event_type = match obj.get("event_type") {
            Some(Value::String(t)) => t.as_str(),
            _ => return Err("event without a string event_type".to_owned()),
        };
        Ok(match event_type {
            "enter_session" => Event::EnterSession(de(event_type, value)?),
            "msg_send_fail" => Event::MsgSendFail(de(event_type, value)?),
            "servicer_status_change" => Event::ServicerStatusChange(de(event_type, value)?),
            "session_status_change" => Event::SessionStatusChange(de(event_type, value)?),
            "user_recall_msg" => Event::UserRecallMsg(de(event_type, value)?),
            "servicer_recall_msg" => Event::ServicerRecallMsg(de(event_type, value)?),
            "reject_customer_msg_switch_change" => {
                Event::RejectCustomerMsgSwitchChange(de(event_type, value)?)
            }
            other => Event::Unknown { event_type: other.to_owned(), raw: value.clone() },
        })
    }

    /// The `event_type`.
    pub fn event_type(&self) -> &str {
        match self {
            Event::EnterSession(_) => "enter_session",
            Event::MsgSendFail(_) => "msg_send_fail",
            Event::ServicerStatusChange(_) => "servicer_status_change",
            Event::SessionStatusChange(_) => "session_status_change",
            Event::UserRecallMsg(_) => "user_recall_msg",
            Event::ServicerRecallMsg(_) => "servicer_recall_msg",
            Event::RejectCustomerMsgSwitchChange(_) => "reject_customer_msg_switch_change",
            Event::Unknown { event_type, .. } => event_type,
        }
    }

    /// The Kf account the event concerns (from the raw object for unknown events).
    pub fn open_kfid(&self) -> Option<&str> {
        let s = match self {
            Event::EnterSession(e) => &e.open_kfid,
            Event::MsgSendFail(e) => &e.open_kfid,
            Event::ServicerStatusChange(e) => &e.open_kfid,
            Event::SessionStatusChange(e) => &e.open_kfid,
            Event::UserRecallMsg(e) => &e.open_kfid,
            Event::ServicerRecallMsg(e) => &e.open_kfid,
            Event::RejectCustomerMsgSwitchChange(e) => &e.open_kfid,
            Event::Unknown { raw, .. } => return raw.get("open_kfid").and_then(Value::as_str),
        };
        (!s.is_empty()).then_some(s.as_str())
    }

    /// The customer the event concerns, if any (none for `servicer_status_change`).
    pub fn external_userid(&self) -> Option<&str> {
        let s = match self {
            Event::EnterSession(e) => &e.external_userid,
            Event::MsgSendFail(e) => &e.external_userid,
            Event::ServicerStatusChange(_) => return None,
            Event::SessionStatusChange(e) => &e.external_userid,
            Event::UserRecallMsg(e) => &e.external_userid,
            Event::ServicerRecallMsg(e) => &e.external_userid,
            Event::RejectCustomerMsgSwitchChange(e) => &e.external_userid,
            Event::Unknown { raw, .. } => return raw.get("external_userid").and_then(Value::as_str),
        };
        (!s.is_empty()).then_some(s.as_str())
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Event::from_value(&v).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Tagged<'a, T> {
            event_type: &'a str,
            #[serde(flatten)]
            body: &'a T,
        }
        let event_type = self.event_type();
        match self {
            Event::EnterSession(body) => Tagged { event_type, body }.serialize(s),
            Event::MsgSendFail(body) => Tagged { event_type, body }.serialize(s),
            Event::ServicerStatusChange(body) => Tagged { event_type, body }.serialize(s),
            Event::SessionStatusChange(body) => Tagged { event_type, body }.serialize(s),
            Event::UserRecallMsg(body) => Tagged { event_type, body }.serialize(s),
            Event::ServicerRecallMsg(body) => Tagged { event_type, body }.serialize(s),
            Event::RejectCustomerMsgSwitchChange(body) => Tagged { event_type, body }.serialize(s),
            Event::Unknown { event_type, raw } => {
                let mut map = s.serialize_map(None)?;
                map.serialize_entry("event_type", event_type)?;
                if let Value::Object(obj) = raw {
                    for (k, v) in obj.iter().filter(|(k, _)| *k != "event_type") {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
        }
    }
}

/// `enter_session`: the customer entered the chat (kf-api.md §5.3).
///
/// `welcome_code`, when present, lets you send one welcome message with
/// [`super::SendMsgOnEventRequest`] within 20 seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnterSession {
    /// The Kf account.
    #[serde(default)]
    pub open_kfid: String,
    /// The customer.
    #[serde(default)]
    pub external_userid: String,
    /// The `scene` given to `add_contact_way`.
    #[serde(default)]
    pub scene: String,
    /// What the developer appended to the link.
    #[serde(default)]
    pub scene_param: String,
    /// One-time code for a welcome message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome_code: Option<String>,
    /// Set when the customer came from WeChat Channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_channels: Option<WechatChannels>,
}

/// Where in WeChat Channels the customer came from (kf-api.md §5.3, also in `customer/batchget`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WechatChannels {
    /// Channels account name (scenes 1–3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// Channels shop name (scenes 4–5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_nickname: Option<String>,
    /// The entry scene.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "lenient::opt_code")]
    pub scene: Option<ChannelsScene>,
}

/// `msg_send_fail`: a message you sent was not delivered (kf-api.md §5.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MsgSendFail {
    /// The Kf account.
    #[serde(default)]
    pub open_kfid: String,
    /// The customer.
    #[serde(default)]
    pub external_userid: String,
    /// The `msgid` of the failed message.
    #[serde(default)]
    pub fail_msgid: String,
    /// Why (absent reads as [`FailType::UnknownReason`]).
    #[serde(default, with = "lenient::code")]
    pub fail_type: FailType,
}

/// `servicer_status_change`: a servicer's receiving status changed (kf-api.md §5.3). No customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServicerStatusChange {
    /// The Kf account.
    #[serde(default)]
    pub open_kfid: String,
    /// The servicer.
    #[serde(default)]
    pub servicer_userid: String,
    /// The new status (1 = receiving, 2 = stopped — not the `servicer/list` numbering).
    #[serde(with = "lenient::code")]
    pub status: ServicerEventStatus,
    /// How it stopped, when stopped.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "lenient::opt_code")]
    pub stop_type: Option<StopType>,
}

/// `session_status_change`: a servicer acted on a session in the WeCom client (kf-api.md §5.3).
///
/// Which of `old_servicer_userid`/`new_servicer_userid` is present per `change_type` differs between
/// versions of the page (DISAGREEMENT), so both are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionStatusChange {
    /// The Kf account.
    #[serde(default)]
    pub open_kfid: String,
    /// The customer.
    #[serde(default)]
    pub external_userid: String,
    /// What happened.
    #[serde(with = "lenient::code")]
    pub change_type: ChangeType,
    /// The servicer before (transferred, ended, re-joined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_servicer_userid: Option<String>,
    /// The servicer after (taken, transferred, re-joined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_servicer_userid: Option<String>,
    /// One-time code for a message via `send_msg_on_event` (change_type 1 and 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_code: Option<String>,
}

/// `user_recall_msg`: the customer recalled a message (kf-api.md §5.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserRecallMsg {
    /// The Kf account.
    #[serde(default)]
    pub open_kfid: String,
    /// The customer.
    #[serde(default)]
    pub external_userid: String,
    /// The recalled message's `msgid`.
    #[serde(default)]
    pub recall_msgid: String,
}

/// `servicer_recall_msg`: a servicer recalled a message (kf-api.md §5.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServicerRecallMsg {
    /// The Kf account.
    #[serde(default)]
    pub open_kfid: String,
    /// The customer.
    #[serde(default)]
    pub external_userid: String,
    /// The recalled message's `msgid`.
    #[serde(default)]
    pub recall_msgid: String,
    /// The servicer who recalled it.
    #[serde(default)]
    pub servicer_userid: String,
}

/// `reject_customer_msg_switch_change`: a servicer turned "refuse this customer's messages" on or
/// off (kf-api.md §5.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RejectCustomerMsgSwitchChange {
    /// The Kf account.
    #[serde(default)]
    pub open_kfid: String,
    /// The customer.
    #[serde(default)]
    pub external_userid: String,
    /// The servicer.
    #[serde(default)]
    pub servicer_userid: String,
    /// `reject_switch` (0/1 on the wire): the servicer now refuses the customer's messages.
    #[serde(default, with = "crate::serde_util::int_bool")]
    pub reject_switch: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn both_ways<T>(cases: &[(u32, T)])
    where
        T: From<u32> + Into<u32> + Copy + PartialEq + std::fmt::Debug + Serialize + for<'a> Deserialize<'a>,
    {
        for &(n, v) in cases {
            assert_eq!(T::from(n), v);
            assert_eq!(v.into(), n);
            assert_eq!(serde_json::to_value(v).ok(), Some(json!(n)));
            assert_eq!(serde_json::from_value::<T>(json!(n)).ok(), Some(v));
        }
    }

    #[test]
    fn fail_type_maps_every_value() {
        use FailType::*;
        both_ways(&[
            (0, UnknownReason),
            (1, AccountDeleted),
            (2, AppClosed),
            (4, SessionExpired),
            (5, SessionClosed),
            (6, TooManyMessages),
            (7, ChannelsNotBound),
            (8, CorpNotVerified),
            (9, ChannelsNotBoundAndCorpNotVerified),
            (10, CustomerRefused),
            (11, NoMemberLoggedIn),
            (12, MsgTypeForbidden),
            (13, SecurityRestriction),
            (3, Unknown(3)),
            (99, Unknown(99)),
        ]);
    }

    #[test]
    fn small_codes_map_every_value() {
        both_ways(&[
            (1, ChannelsScene::HomePage),
            (2, ChannelsScene::LiveProductList),
            (3, ChannelsScene::Showcase),
            (4, ChannelsScene::ShopProductDetail),
            (5, ChannelsScene::ShopOrder),
            (6, ChannelsScene::Unknown(6)),
        ]);
        both_ways(&[
            (1, ServicerEventStatus::Receiving),
            (2, ServicerEventStatus::Stopped),
            (0, ServicerEventStatus::Unknown(0)),
        ]);
        both_ways(&[(0, StopType::Stopped), (1, StopType::Suspended), (2, StopType::Unknown(2))]);
        both_ways(&[
            (1, ChangeType::TakenFromPool),
            (2, ChangeType::Transferred),
            (3, ChangeType::Ended),
            (4, ChangeType::Rejoined),
            (5, ChangeType::Unknown(5)),
        ]);
    }

    #[test]
    fn codes_accept_numeric_strings() {
        let e: Event = serde_json::from_value(json!({"event_type": "servicer_status_change",
            "servicer_userid": "u", "status": "1", "stop_type": ""}))
        .expect("lenient codes");
        let Event::ServicerStatusChange(c) = e else { panic!("{e:?}") };
        assert_eq!(c.status, ServicerEventStatus::Receiving);
        assert_eq!(c.stop_type, None);
    }

    #[test]
    fn unknown_event_keeps_raw_and_round_trips() {
        let v = json!({"event_type": "future_event", "open_kfid": "wk", "x": [1, 2]});
        let e: Event = serde_json::from_value(v.clone()).expect("unknown events parse");
        assert_eq!(e.event_type(), "future_event");
        assert_eq!(e.open_kfid(), Some("wk"));
        assert_eq!(serde_json::to_value(&e).ok(), Some(v));
    }
}
