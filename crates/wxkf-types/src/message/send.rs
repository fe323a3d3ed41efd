//! What can be sent: [`SendMessage`] for `send_msg` (kf-api.md §5.4) and [`EventMessage`] for
//! `send_msg_on_event` (§5.5). Both are written as `"msgtype": T, T: {payload}` and read back the same
//! way (the simulator parses requests with them).
//!
//! ```
//! use wxkf_types::message::{SendLink, SendMessage};
//!
//! let link = SendMessage::Link(SendLink::new("Title", "https://example.com", "MEDIA_ID").with_desc("More"));
//! let json = serde_json::to_value(&link).unwrap();
//! assert_eq!(json["msgtype"], "link");
//! assert_eq!(json["link"]["desc"], "More");
//! assert_eq!(serde_json::from_value::<SendMessage>(json).unwrap(), link);
//! ```

use serde::de::Error as _;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::menu::MsgMenu;
use super::received::{BusinessCardContent, LocationContent, MediaContent, MiniprogramContent, TextContent};

/// Most bytes a `text` message may hold.
pub const MAX_TEXT_BYTES: usize = 2048;

/// A message for `send_msg` (kf-api.md §5.4).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SendMessage {
    /// `text` (≤[`MAX_TEXT_BYTES`] bytes).
    Text(TextContent),
    /// `image`: `media_id` of an uploaded image.
    Image(MediaContent),
    /// `voice`: `media_id` of an uploaded AMR voice (≤2 MB, ≤60 s).
    Voice(MediaContent),
    /// `video`: `media_id` of an uploaded video.
    Video(MediaContent),
    /// `file`: `media_id` of an uploaded file.
    File(MediaContent),
    /// `link`: a link card.
    Link(SendLink),
    /// `miniprogram`: a mini program card.
    Miniprogram(MiniprogramContent),
    /// `msgmenu`: a menu.
    Msgmenu(MsgMenu),
    /// `location`.
    Location(LocationContent),
    /// `business_card`: a WeCom member's card.
    BusinessCard(BusinessCardContent),
    /// `ca_link`: a customer-acquisition link (获客链接).
    CaLink(CaLinkContent),
    /// Any other `msgtype`, with its payload as given — for types WeCom adds before this crate does.
    Raw {
        /// The `msgtype`.
        msgtype: String,
        /// The object sent under the key `msgtype`.
        payload: Value,
    },
}

impl SendMessage {
    /// A text message.
    pub fn text(content: impl Into<String>) -> Self {
        SendMessage::Text(TextContent::new(content))
    }

    /// The `msgtype` this message is sent under.
    pub fn msgtype(&self) -> &str {
        match self {
            SendMessage::Text(_) => "text",
            SendMessage::Image(_) => "image",
            SendMessage::Voice(_) => "voice",
            SendMessage::Video(_) => "video",
            SendMessage::File(_) => "file",
            SendMessage::Link(_) => "link",
            SendMessage::Miniprogram(_) => "miniprogram",
            SendMessage::Msgmenu(_) => "msgmenu",
            SendMessage::Location(_) => "location",
            SendMessage::BusinessCard(_) => "business_card",
            SendMessage::CaLink(_) => "ca_link",
            SendMessage::Raw { msgtype, .. } => msgtype,
        }
    }
}

impl From<TextContent> for SendMessage {
    fn from(v: TextContent) -> Self {
        SendMessage::Text(v)
    }
}
impl From<SendLink> for SendMessage {
    fn from(v: SendLink) -> Self {
        SendMessage::Link(v)
    }
}
impl From<MiniprogramContent> for SendMessage {
    fn from(v: MiniprogramContent) -> Self {
        SendMessage::Miniprogram(v)
    }
}
impl From<MsgMenu> for SendMessage {
    fn from(v: MsgMenu) -> Self {
        SendMessage::Msgmenu(v)
    }
}
impl From<LocationContent> for SendMessage {
    fn from(v: LocationContent) -> Self {
        SendMessage::Location(v)
    }
}
impl From<BusinessCardContent> for SendMessage {
    fn from(v: BusinessCardContent) -> Self {
        SendMessage::BusinessCard(v)
    }
}
impl From<CaLinkContent> for SendMessage {
    fn from(v: CaLinkContent) -> Self {
        SendMessage::CaLink(v)
    }
}
impl From<EventMessage> for SendMessage {
    fn from(v: EventMessage) -> Self {
        match v {
            EventMessage::Text(t) => SendMessage::Text(t),
            EventMessage::Msgmenu(m) => SendMessage::Msgmenu(m),
        }
    }
}

impl Serialize for SendMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.msgtype();
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("msgtype", t)?;
        match self {
            SendMessage::Text(p) => map.serialize_entry(t, p)?,
            SendMessage::Image(p) | SendMessage::Voice(p) | SendMessage::Video(p) | SendMessage::File(p) => {
                map.serialize_entry(t, p)?
            }
            SendMessage::Link(p) => map.serialize_entry(t, p)?,
            SendMessage::Miniprogram(p) => map.serialize_entry(t, p)?,
            SendMessage::Msgmenu(p) => map.serialize_entry(t, p)?,
            SendMessage::Location(p) => map.serialize_entry(t, p)?,
            SendMessage::BusinessCard(p) => map.serialize_entry(t, p)?,
            SendMessage::CaLink(p) => map.serialize_entry(t, p)?,
            SendMessage::Raw { payload, .. } => map.serialize_entry(t, payload)?,
        }
        map.end()
    }
}

/// Reads `msgtype` and its payload from a JSON object (other keys ignored).
fn split(v: &Value) -> Result<(&str, &Value), String> {
    let t = match v.get("msgtype") {
        Some(Value::String(t)) => t.as_str(),
        _ => return Err("missing a string `msgtype`".to_owned()),
    };
    let payload = v.get(t).ok_or_else(|| format!("msgtype {t} without a `{t}` object"))?;
    Ok((t, payload))
}

fn de<T: for<'a> Deserialize<'a>>(t: &str, payload: &Value) -> Result<T, String> {
    T::deserialize(payload).map_err(|e| format!("{t}: {e}"))
}

impl<'de> Deserialize<'de> for SendMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let (t, p) = split(&v).map_err(D::Error::custom)?;
        let m = match t {
            "text" => de(t, p).map(SendMessage::Text),
            "image" => de(t, p).map(SendMessage::Image),
            "voice" => de(t, p).map(SendMessage::Voice),
            "video" => de(t, p).map(SendMessage::Video),
            "file" => de(t, p).map(SendMessage::File),
            "link" => de(t, p).map(SendMessage::Link),
            "miniprogram" => de(t, p).map(SendMessage::Miniprogram),
            "msgmenu" => de(t, p).map(SendMessage::Msgmenu),
            "location" => de(t, p).map(SendMessage::Location),
            "business_card" => de(t, p).map(SendMessage::BusinessCard),
            "ca_link" => de(t, p).map(SendMessage::CaLink),
            _ => Ok(SendMessage::Raw { msgtype: t.to_owned(), payload: p.clone() }),
        };
        m.map_err(D::Error::custom)
    }
}

/// A message for `send_msg_on_event`: WeCom accepts only `text` and `msgmenu` there
/// (kf-api.md §5.5), so this enum has only those; convert into [`SendMessage`] with `into()`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventMessage {
    /// `text`.
    Text(TextContent),
    /// `msgmenu`.
    Msgmenu(MsgMenu),
}

impl EventMessage {
    /// The `msgtype` this message is sent under.
    pub fn msgtype(&self) -> &'static str {
        match self {
            EventMessage::Text(_) => "text",
            EventMessage::Msgmenu(_) => "msgmenu",
        }
    }
}

impl From<TextContent> for EventMessage {
    fn from(v: TextContent) -> Self {
        EventMessage::Text(v)
    }
}
impl From<MsgMenu> for EventMessage {
    fn from(v: MsgMenu) -> Self {
        EventMessage::Msgmenu(v)
    }
}

impl Serialize for EventMessage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.msgtype();
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("msgtype", t)?;
        match self {
            EventMessage::Text(p) => map.serialize_entry(t, p)?,
            EventMessage::Msgmenu(p) => map.serialize_entry(t, p)?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for EventMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let (t, p) = split(&v).map_err(D::Error::custom)?;
        let m = match t {
            "text" => de(t, p).map(EventMessage::Text),
            "msgmenu" => de(t, p).map(EventMessage::Msgmenu),
            other => Err(format!("send_msg_on_event accepts only text and msgmenu, not {other}")),
        };
        m.map_err(D::Error::custom)
    }
}

/// A `link` card to send (kf-api.md §5.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SendLink {
    /// Title (≤128 bytes, truncated beyond).
    #[serde(default)]
    pub title: String,
    /// Description (≤512 bytes, truncated beyond).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Target URL, with `http://` or `https://` (≤2048 bytes).
    #[serde(default)]
    pub url: String,
    /// Thumbnail: a media id from `media/upload`.
    #[serde(default)]
    pub thumb_media_id: String,
}

impl SendLink {
    /// A link card without description.
    pub fn new(title: impl Into<String>, url: impl Into<String>, thumb_media_id: impl Into<String>) -> Self {
        SendLink { title: title.into(), desc: None, url: url.into(), thumb_media_id: thumb_media_id.into() }
    }

    /// Set the description (an empty one is not sent).
    pub fn with_desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = crate::serde_util::non_empty(desc);
        self
    }
}

/// A `ca_link` payload: a customer-acquisition link (kf-api.md §5.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CaLinkContent {
    /// The link, e.g. `https://work.weixin.qq.com/ca/xxxxxx`.
    #[serde(default)]
    pub link_url: String,
}

impl CaLinkContent {
    /// Wraps a link.
    pub fn new(link_url: impl Into<String>) -> Self {
        CaLinkContent { link_url: link_url.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_escape_hatch_round_trips() {
        let v = json!({"msgtype": "future", "future": {"a": 1}});
        let m: SendMessage = serde_json::from_value(v.clone()).expect("raw");
        assert_eq!(m, SendMessage::Raw { msgtype: "future".into(), payload: json!({"a": 1}) });
        assert_eq!(serde_json::to_value(&m).ok(), Some(v));
    }

    #[test]
    fn event_message_rejects_other_types() {
        let err =
            serde_json::from_value::<EventMessage>(json!({"msgtype": "image", "image": {"media_id": "m"}}))
                .expect_err("image is not allowed on event codes");
        assert!(err.to_string().contains("only text and msgmenu"), "{err}");
    }
}
