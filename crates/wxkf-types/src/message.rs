//! Messages: pulling what customers, servicers and the system produced (`sync_msg`), sending
//! (`send_msg`, `send_msg_on_event`) and recalling (`recall_msg`) — kf-api.md §5 and Appendix A.1/A.2.
//!
//! The endpoint types live here; the message models live in the submodules and are re-exported:
//! - [`received`]: one `msg_list` item ([`Message`]) and its content ([`MessageContent`]);
//! - [`event`]: the system events carried by `msgtype` = `event` ([`Event`]);
//! - [`send`]: what you can send ([`SendMessage`], [`EventMessage`]);
//! - [`menu`]: the `msgmenu` menu shared by sending and receiving ([`MsgMenu`], [`MenuItem`]).
//!
//! Reading is forgiving by design: a `msg_list` item that does not match its `msgtype` becomes
//! [`MessageContent::Malformed`] and the rest of the page is still delivered, so a bad item never
//! stalls the cursor.
//!
//! ```
//! use wxkf_types::message::{MessageContent, SendMsgRequest, SyncMsgResponse};
//!
//! let page: SyncMsgResponse = serde_json::from_str(r#"{
//!     "next_cursor": "4gw7MepFLfgF2VC5npN", "has_more": 0,
//!     "msg_list": [
//!         {"msgid": "m1", "open_kfid": "wk1", "external_userid": "wm1", "send_time": 1615478585,
//!          "origin": 3, "msgtype": "text", "text": {"content": "hello"}},
//!         {"msgid": "m2", "send_time": 1615478586, "origin": 3, "msgtype": "text", "text": {"content": 5}}
//!     ]}"#).unwrap();
//! assert!(!page.has_more);
//! assert!(matches!(&page.msg_list[0].content, MessageContent::Text(t) if t.content == "hello"));
//! assert!(page.msg_list[1].content.is_malformed());
//!
//! // Answer the customer in one line.
//! let reply = SendMsgRequest::text("wm1", "wk1", "hi").with_msgid("reply-m1");
//! let json = serde_json::to_value(&reply).unwrap();
//! assert_eq!(json["msgtype"], "text");
//! assert_eq!(json["text"]["content"], "hi");
//! ```

use serde::{Deserialize, Deserializer, Serialize};

/// Defines a numeric code enum (`origin`, `fail_type`, …): known values as variants plus
/// `Unknown(u32)`, converted through `u32` both ways and serialized as the number.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "u32", into = "u32")]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know (yet); kept as sent.
            Unknown(u32),
        }

        impl From<u32> for $name {
            fn from(v: u32) -> Self {
                match v {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for u32 {
            fn from(v: $name) -> u32 {
                match v {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

pub mod event;
pub mod menu;
pub mod received;
pub mod send;

pub use event::{
    ChangeType, ChannelsScene, EnterSession, Event, FailType, MsgSendFail, RejectCustomerMsgSwitchChange,
    ServicerEventStatus, ServicerRecallMsg, ServicerStatusChange, SessionStatusChange, StopType,
    UserRecallMsg, WechatChannels,
};
pub use menu::{
    MAX_MENU_ITEMS, MenuClick, MenuItem, MenuMiniprogram, MenuText, MenuView, MsgMenu, MsgMenuBuilder,
};
pub use received::{
    BusinessCardContent, ChannelsContent, ChannelsShopOrderContent, ChannelsShopProductContent,
    ChannelsSubType, LinkContent, LocationContent, MediaContent, MergedMsgContent, MergedMsgItem, Message,
    MessageContent, MiniprogramContent, Origin, SalesPrice, TextContent,
};
pub use send::{CaLinkContent, EventMessage, MAX_TEXT_BYTES, SendLink, SendMessage};

mod lenient;

use crate::serde_util::non_empty;

code_enum! {
    /// Format of the voice media ids `sync_msg` returns (`voice_format`, kf-api.md §5.1).
    pub enum VoiceFormat {
        /// 0: AMR, the default.
        Amr = 0,
        /// 1: SILK.
        Silk = 1,
    }
}

/// `POST /cgi-bin/kf/sync_msg`: pull messages and events of the last 3 days, page by page
/// (kf-api.md §5.1).
///
/// `open_kfid` is required here although older pages call it optional (DISAGREEMENT in the
/// reference; the 2024 page requires it): we always send it. On input a request without it is
/// accepted (the field reads as an empty string, which is then not written back).
///
/// Repeating a pull with the same cursor is harmless, hence [`Endpoint::IDEMPOTENT`](crate::Endpoint::IDEMPOTENT).
#[doc(alias = "/cgi-bin/kf/sync_msg")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncMsgRequest {
    /// The previous response's `next_cursor`; omit on the very first pull. ≤64 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The `Token` of the callback that announced new messages (valid 10 minutes). Without it the
    /// call is subject to a strict frequency limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Wanted batch size; default and maximum 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Format of returned voice media (AMR by default).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "lenient::opt_code")]
    pub voice_format: Option<VoiceFormat>,
    /// The Kf account whose messages to pull.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub open_kfid: String,
}

impl SyncMsgRequest {
    /// The first pull of `open_kfid`'s messages (no cursor, no token).
    pub fn new(open_kfid: impl Into<String>) -> Self {
        SyncMsgRequest {
            cursor: None,
            token: None,
            limit: None,
            voice_format: None,
            open_kfid: open_kfid.into(),
        }
    }

    /// Continue after a previous page (`next_cursor`); an empty cursor is not sent.
    pub fn with_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = non_empty(cursor);
        self
    }

    /// Pass the callback's `Token`; an empty token is not sent.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = non_empty(token);
        self
    }

    /// Ask for at most `limit` items (WeCom caps it at 1000).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Choose the format of returned voice media.
    pub fn with_voice_format(mut self, voice_format: VoiceFormat) -> Self {
        self.voice_format = Some(voice_format);
        self
    }
}

/// One page of `sync_msg` (kf-api.md §5.1).
///
/// Store `next_cursor` after processing each page and keep pulling while `has_more` — even when
/// `msg_list` is empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncMsgResponse {
    /// The cursor for the next call.
    #[serde(default)]
    pub next_cursor: String,
    /// `has_more` (0/1 on the wire): more messages are waiting.
    #[serde(default, with = "crate::serde_util::int_bool")]
    pub has_more: bool,
    /// Messages and events. Every JSON item becomes a [`Message`]; an item that does not fit its
    /// `msgtype` is a [`MessageContent::Malformed`] and does not fail the page.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub msg_list: Vec<Message>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Message>, D::Error> {
    Ok(Option::<Vec<Message>>::deserialize(d)?.unwrap_or_default())
}

/// `POST /cgi-bin/kf/send_msg`: send a message to a customer (kf-api.md §5.4).
///
/// Serialized flat as WeCom expects: `{"touser", "open_kfid", "msgid"?, "msgtype": T, T: {...}}`.
/// Not idempotent unless you set `msgid`: WeCom rejects a duplicate `msgid`, so a retry with the same
/// `msgid` cannot deliver twice.
///
/// ```
/// use wxkf_types::message::{MsgMenu, SendMsgRequest};
///
/// let menu = MsgMenu::builder().head_content("Happy?").click("101", "Yes").click("102", "No").build();
/// let req = SendMsgRequest::menu("wmCUSTOMER", "wkACCOUNT", menu);
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["msgmenu"]["list"][1]["click"]["id"], "102");
/// assert!(json.get("msgid").is_none());
/// ```
#[doc(alias = "/cgi-bin/kf/send_msg")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendMsgRequest {
    /// The customer's `external_userid`.
    pub touser: String,
    /// The sending Kf account.
    pub open_kfid: String,
    /// Your own message id (≤32 bytes, `[0-9a-zA-Z_-]`), unique within the account; makes retries safe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid: Option<String>,
    /// The message: `msgtype` and its payload.
    #[serde(flatten)]
    pub message: SendMessage,
}

impl SendMsgRequest {
    /// Send `message` to `touser` from `open_kfid`.
    pub fn new(
        touser: impl Into<String>,
        open_kfid: impl Into<String>,
        message: impl Into<SendMessage>,
    ) -> Self {
        SendMsgRequest {
            touser: touser.into(),
            open_kfid: open_kfid.into(),
            msgid: None,
            message: message.into(),
        }
    }

    /// A text message (≤2048 bytes).
    pub fn text(touser: impl Into<String>, open_kfid: impl Into<String>, content: impl Into<String>) -> Self {
        Self::new(touser, open_kfid, SendMessage::text(content))
    }

    /// An image, by the `media_id` of an uploaded image.
    pub fn image(
        touser: impl Into<String>,
        open_kfid: impl Into<String>,
        media_id: impl Into<String>,
    ) -> Self {
        Self::new(touser, open_kfid, SendMessage::Image(MediaContent::new(media_id)))
    }

    /// A voice message, by the `media_id` of an uploaded AMR voice.
    pub fn voice(
        touser: impl Into<String>,
        open_kfid: impl Into<String>,
        media_id: impl Into<String>,
    ) -> Self {
        Self::new(touser, open_kfid, SendMessage::Voice(MediaContent::new(media_id)))
    }

    /// A video, by the `media_id` of an uploaded video.
    pub fn video(
        touser: impl Into<String>,
        open_kfid: impl Into<String>,
        media_id: impl Into<String>,
    ) -> Self {
        Self::new(touser, open_kfid, SendMessage::Video(MediaContent::new(media_id)))
    }

    /// A file, by the `media_id` of an uploaded file.
    pub fn file(
        touser: impl Into<String>,
        open_kfid: impl Into<String>,
        media_id: impl Into<String>,
    ) -> Self {
        Self::new(touser, open_kfid, SendMessage::File(MediaContent::new(media_id)))
    }

    /// A link card.
    pub fn link(touser: impl Into<String>, open_kfid: impl Into<String>, link: SendLink) -> Self {
        Self::new(touser, open_kfid, SendMessage::Link(link))
    }

    /// A mini program card.
    pub fn miniprogram(
        touser: impl Into<String>,
        open_kfid: impl Into<String>,
        card: MiniprogramContent,
    ) -> Self {
        Self::new(touser, open_kfid, SendMessage::Miniprogram(card))
    }

    /// A menu message.
    pub fn menu(touser: impl Into<String>, open_kfid: impl Into<String>, menu: MsgMenu) -> Self {
        Self::new(touser, open_kfid, SendMessage::Msgmenu(menu))
    }

    /// A location.
    pub fn location(
        touser: impl Into<String>,
        open_kfid: impl Into<String>,
        location: LocationContent,
    ) -> Self {
        Self::new(touser, open_kfid, SendMessage::Location(location))
    }

    /// A WeCom member's business card.
    pub fn business_card(
        touser: impl Into<String>,
        open_kfid: impl Into<String>,
        userid: impl Into<String>,
    ) -> Self {
        Self::new(touser, open_kfid, SendMessage::BusinessCard(BusinessCardContent::new(userid)))
    }

    /// A customer-acquisition link (获客链接).
    pub fn ca_link(
        touser: impl Into<String>,
        open_kfid: impl Into<String>,
        link_url: impl Into<String>,
    ) -> Self {
        Self::new(touser, open_kfid, SendMessage::CaLink(CaLinkContent::new(link_url)))
    }

    /// Set your own `msgid` (an empty one is not sent).
    pub fn with_msgid(mut self, msgid: impl Into<String>) -> Self {
        self.msgid = non_empty(msgid);
        self
    }
}

/// Answer of `send_msg` (kf-api.md §5.4): "accepted", not "delivered" — watch for
/// [`Event::MsgSendFail`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendMsgResponse {
    /// Your `msgid` echoed, or one WeCom generated.
    #[serde(default)]
    pub msgid: String,
}

/// `POST /cgi-bin/kf/send_msg_on_event`: reply with a one-time event code — `welcome_code` of
/// [`Event::EnterSession`], `msg_code` of [`Event::SessionStatusChange`] or of `service_state/trans`
/// (kf-api.md §5.5).
///
/// The message is an [`EventMessage`], its own enum limited to `text` and `msgmenu`, the only types
/// WeCom accepts here: sending anything else is a compile error rather than a rejected request.
///
/// ```
/// use wxkf_types::message::SendMsgOnEventRequest;
///
/// let req = SendMsgOnEventRequest::text("WELCOME_CODE", "welcome");
/// assert_eq!(
///     serde_json::to_value(&req).unwrap(),
///     serde_json::json!({"code": "WELCOME_CODE", "msgtype": "text", "text": {"content": "welcome"}})
/// );
/// ```
#[doc(alias = "/cgi-bin/kf/send_msg_on_event")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendMsgOnEventRequest {
    /// The event code; valid once, for 20 seconds (welcome/closing) or 48 hours (pool codes).
    pub code: String,
    /// Your own message id (≤32 bytes, `[0-9a-zA-Z_-]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid: Option<String>,
    /// The message: `text` or `msgmenu`.
    #[serde(flatten)]
    pub message: EventMessage,
}

impl SendMsgOnEventRequest {
    /// Reply to `code` with `message`.
    pub fn new(code: impl Into<String>, message: impl Into<EventMessage>) -> Self {
        SendMsgOnEventRequest { code: code.into(), msgid: None, message: message.into() }
    }

    /// A text reply.
    pub fn text(code: impl Into<String>, content: impl Into<String>) -> Self {
        Self::new(code, EventMessage::Text(TextContent::new(content)))
    }

    /// A menu reply (e.g. a satisfaction survey on a closing code).
    pub fn menu(code: impl Into<String>, menu: MsgMenu) -> Self {
        Self::new(code, EventMessage::Msgmenu(menu))
    }

    /// Set your own `msgid` (an empty one is not sent).
    pub fn with_msgid(mut self, msgid: impl Into<String>) -> Self {
        self.msgid = non_empty(msgid);
        self
    }
}

/// Answer of `send_msg_on_event` (kf-api.md §5.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendMsgOnEventResponse {
    /// Your `msgid` echoed, or one WeCom generated.
    #[serde(default)]
    pub msgid: String,
}

/// `POST /cgi-bin/kf/recall_msg`: recall a message sent through the API, within 2 minutes
/// (kf-api.md §5.6). Answered with [`EmptyResponse`](crate::EmptyResponse).
#[doc(alias = "/cgi-bin/kf/recall_msg")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecallMsgRequest {
    /// The account that sent the message.
    pub open_kfid: String,
    /// The `msgid` `send_msg` returned.
    pub msgid: String,
}

impl RecallMsgRequest {
    /// Recall `msgid` sent by `open_kfid`.
    pub fn new(open_kfid: impl Into<String>, msgid: impl Into<String>) -> Self {
        RecallMsgRequest { open_kfid: open_kfid.into(), msgid: msgid.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_format_maps_both_ways() {
        for (n, v) in [(0, VoiceFormat::Amr), (1, VoiceFormat::Silk), (7, VoiceFormat::Unknown(7))] {
            assert_eq!(VoiceFormat::from(n), v);
            assert_eq!(u32::from(v), n);
            assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::json!(n)));
        }
    }

    #[test]
    fn sync_msg_request_skips_empty_optionals() {
        let req =
            SyncMsgRequest::new("wk1").with_cursor("").with_token("T").with_voice_format(VoiceFormat::Silk);
        assert_eq!(
            serde_json::to_value(&req).ok(),
            Some(serde_json::json!({"open_kfid": "wk1", "token": "T", "voice_format": 1}))
        );
    }
}
