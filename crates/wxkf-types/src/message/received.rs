//! One item of `sync_msg`'s `msg_list`: the fields every item shares, and its content by `msgtype`
//! (kf-api.md §5.1 "Common fields", §5.2).
//!
//! Reading never fails: whatever JSON an item holds, it becomes a [`Message`]. An item whose
//! payload does not fit its known `msgtype` becomes [`MessageContent::Malformed`] (with the whole item
//! and the reason), an unknown `msgtype` becomes [`MessageContent::Unknown`] (with the whole item).
//!
//! ```
//! use wxkf_types::message::{Message, MessageContent, Origin};
//!
//! let msg: Message = serde_json::from_str(r#"{"msgid": "m1", "open_kfid": "wk1",
//!     "external_userid": "wm1", "send_time": "1615478585", "origin": 3,
//!     "msgtype": "location", "location": {"latitude": 23.1, "longitude": 113.3,
//!     "name": "NAME", "address": "ADDRESS"}}"#).unwrap();
//! assert_eq!(msg.send_time, 1615478585);
//! assert_eq!(msg.origin, Origin::Customer);
//! let MessageContent::Location(loc) = &msg.content else { panic!("not a location") };
//! assert_eq!(loc.longitude, 113.3);
//! ```

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::event::Event;
use super::lenient;
use super::menu::MsgMenu;

code_enum! {
    /// Who produced a `msg_list` item (`origin`, kf-api.md §5.1).
    pub enum Origin {
        /// 3: the WeChat customer.
        Customer = 3,
        /// 4: the system — the item is an [`Event`].
        Event = 4,
        /// 5: a servicer, from the WeCom client.
        Servicer = 5,
    }
}

code_enum! {
    /// Kind of a WeChat Channels (视频号) message (`channels.sub_type`, kf-api.md §5.2).
    pub enum ChannelsSubType {
        /// 1: a Channels post (动态).
        Post = 1,
        /// 2: a live stream.
        Live = 2,
        /// 3: a Channels profile card.
        Profile = 3,
    }
}

/// The top-level keys every item may carry besides `msgtype` and its payload.
const COMMON_KEYS: [&str; 6] =
    ["msgid", "open_kfid", "external_userid", "send_time", "origin", "servicer_userid"];

/// One `msg_list` item: the common fields once, the content by `msgtype` (kf-api.md §5.1).
///
/// Event items (`msgtype` = `event`) carry no top-level `open_kfid`/`external_userid`; use
/// [`Message::open_kfid()`] and [`Message::external_userid()`], which fall back to the event's own.
///
/// Serialized exactly as WeCom writes it: `{common fields..., "msgtype": T, T: payload}`, absent
/// optional fields left out. A [`MessageContent::Malformed`] item is written back as it came.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Message {
    /// Message id (e.g. `from_msgid_4622416642169452483`).
    pub msgid: String,
    /// The Kf account; absent on event items.
    pub open_kfid: Option<String>,
    /// The customer; absent on event items.
    pub external_userid: Option<String>,
    /// Unix seconds.
    pub send_time: u64,
    /// Who produced it.
    pub origin: Origin,
    /// The servicer who sent it (origin 5).
    pub servicer_userid: Option<String>,
    /// The content, by `msgtype`.
    pub content: MessageContent,
}

impl Message {
    /// A message with the given id, time, origin and content and no optional fields.
    pub fn new(msgid: impl Into<String>, send_time: u64, origin: Origin, content: MessageContent) -> Self {
        Message {
            msgid: msgid.into(),
            open_kfid: None,
            external_userid: None,
            send_time,
            origin,
            servicer_userid: None,
            content,
        }
    }

    /// Set `open_kfid` and `external_userid` (a message between this account and customer).
    pub fn with_conversation(
        mut self,
        open_kfid: impl Into<String>,
        external_userid: impl Into<String>,
    ) -> Self {
        self.open_kfid = Some(open_kfid.into());
        self.external_userid = Some(external_userid.into());
        self
    }

    /// Set `servicer_userid`.
    pub fn with_servicer_userid(mut self, servicer_userid: impl Into<String>) -> Self {
        self.servicer_userid = Some(servicer_userid.into());
        self
    }

    /// Reads an item from any JSON value. Never fails: see [`MessageContent::Malformed`].
    pub fn from_value(value: Value) -> Message {
        let Value::Object(obj) = &value else {
            return Message::new(
                "",
                0,
                Origin::Unknown(0),
                MessageContent::Malformed {
                    msgtype: String::new(),
                    error: format!("msg_list item is not a JSON object: {}", kind_of(&value)),
                    raw: value,
                },
            );
        };
        let mut errors = Vec::new();
        let mut string = |key: &str| match lenient_string(obj.get(key)) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("{key}: {e}"));
                None
            }
        };
        let msgid = string("msgid").unwrap_or_default();
        let open_kfid = string("open_kfid");
        let external_userid = string("external_userid");
        let servicer_userid = string("servicer_userid");
        let send_time = match obj.get("send_time") {
            None | Some(Value::Null) => 0,
            Some(v) => lenient_u64(v).unwrap_or_else(|e| {
                errors.push(format!("send_time: {e}"));
                0
            }),
        };
        let origin = match obj.get("origin") {
            None | Some(Value::Null) => Origin::Unknown(0),
            Some(v) => lenient::u32_from_value(v).map(Origin::from).unwrap_or_else(|e| {
                errors.push(format!("origin: {e}"));
                Origin::Unknown(0)
            }),
        };
        let msgtype = match obj.get("msgtype") {
            Some(Value::String(s)) => Ok(s.clone()),
            None | Some(Value::Null) => Err("missing msgtype".to_owned()),
            Some(other) => Err(format!("msgtype is not a string: {}", kind_of(other))),
        };
        let parsed = match &msgtype {
            Ok(t) if errors.is_empty() => MessageContent::from_payload(t, obj.get(t.as_str())),
            Ok(_) => Err(errors.join("; ")),
            Err(e) => {
                errors.push(e.clone());
                Err(errors.join("; "))
            }
        };
        let msgtype = msgtype.unwrap_or_default();
        let content = match parsed {
            Ok(Some(content)) => content,
            Ok(None) => MessageContent::Unknown { msgtype, raw: value },
            Err(error) => MessageContent::Malformed { msgtype, raw: value, error },
        };
        Message { msgid, open_kfid, external_userid, send_time, origin, servicer_userid, content }
    }

    /// The Kf account: the top-level `open_kfid`, or for an event item the event's.
    pub fn open_kfid(&self) -> Option<&str> {
        self.open_kfid.as_deref().or_else(|| self.event().and_then(Event::open_kfid))
    }

    /// The customer: the top-level `external_userid`, or for an event item the event's.
    pub fn external_userid(&self) -> Option<&str> {
        self.external_userid.as_deref().or_else(|| self.event().and_then(Event::external_userid))
    }

    /// The event, if this item is one.
    pub fn event(&self) -> Option<&Event> {
        match &self.content {
            MessageContent::Event(e) => Some(e),
            _ => None,
        }
    }

    /// The item's `msgtype`.
    pub fn msgtype(&self) -> &str {
        self.content.msgtype()
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(Message::from_value)
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let MessageContent::Malformed { raw, .. } = &self.content {
            return raw.serialize(s);
        }
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("msgid", &self.msgid)?;
        if let Some(v) = &self.open_kfid {
            map.serialize_entry("open_kfid", v)?;
        }
        if let Some(v) = &self.external_userid {
            map.serialize_entry("external_userid", v)?;
        }
        map.serialize_entry("send_time", &self.send_time)?;
        map.serialize_entry("origin", &u32::from(self.origin))?;
        if let Some(v) = &self.servicer_userid {
            map.serialize_entry("servicer_userid", v)?;
        }
        self.content.serialize_entries(&mut map, &COMMON_KEYS)?;
        map.end()
    }
}

/// What a `msg_list` item holds, by `msgtype` (kf-api.md §5.2).
///
/// Serialized on its own as `{"msgtype": T, T: payload}` — the shape of a merged-message entry's
/// `msg_content`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MessageContent {
    /// `text`; `menu_id` set when the customer clicked a menu `click` item.
    Text(TextContent),
    /// `image` (download with `media/get` within 3 days).
    Image(MediaContent),
    /// `voice` (AMR or SILK per `voice_format`).
    Voice(MediaContent),
    /// `video`.
    Video(MediaContent),
    /// `file`.
    File(MediaContent),
    /// `location`.
    Location(LocationContent),
    /// `link`.
    Link(LinkContent),
    /// `business_card`: a WeCom member's card.
    BusinessCard(BusinessCardContent),
    /// `miniprogram`.
    Miniprogram(MiniprogramContent),
    /// `msgmenu`.
    Msgmenu(MsgMenu),
    /// `channels_shop_product`: a WeChat Channels shop product.
    ChannelsShopProduct(ChannelsShopProductContent),
    /// `channels_shop_order`: a WeChat Channels shop order.
    ChannelsShopOrder(ChannelsShopOrderContent),
    /// `merged_msg`: a forwarded chat record.
    MergedMsg(MergedMsgContent),
    /// `channels`: a WeChat Channels post, live stream or profile.
    Channels(ChannelsContent),
    /// `meeting`: payload undocumented (UNCERTAIN in kf-api.md §5.2); kept raw, `None` if absent.
    Meeting(Option<Value>),
    /// `schedule`: payload undocumented; kept raw, `None` if absent.
    Schedule(Option<Value>),
    /// `note`: WeCom does not return the note's content; whatever payload comes is kept raw.
    Note(Option<Value>),
    /// `event`: a system event (origin 4).
    Event(Event),
    /// A `msgtype` this crate does not know; `raw` is the whole item as received.
    Unknown {
        /// The item's `msgtype`.
        msgtype: String,
        /// The whole item.
        raw: Value,
    },
    /// An item that does not fit its known `msgtype` (or is not an object, or lacks `msgtype`):
    /// reported instead of failing the page. `raw` is the whole item, written back unchanged.
    Malformed {
        /// The item's `msgtype` (empty if there was none).
        msgtype: String,
        /// The whole item.
        raw: Value,
        /// Why it did not parse.
        error: String,
    },
}

impl MessageContent {
    /// Reads `{"msgtype": T, T: payload}` (other keys ignored) from any JSON value. Never fails.
    pub fn from_value(value: Value) -> MessageContent {
        let parsed = match &value {
            Value::Object(obj) => match obj.get("msgtype") {
                Some(Value::String(t)) => {
                    Ok((t.clone(), MessageContent::from_payload(t, obj.get(t.as_str()))))
                }
                _ => Err("missing msgtype".to_owned()),
            },
            other => Err(format!("not a JSON object: {}", kind_of(other))),
        };
        match parsed {
            Ok((_, Ok(Some(content)))) => content,
            Ok((msgtype, Ok(None))) => MessageContent::Unknown { msgtype, raw: value },
            Ok((msgtype, Err(error))) => MessageContent::Malformed { msgtype, raw: value, error },
            Err(error) => MessageContent::Malformed { msgtype: String::new(), raw: value, error },
        }
    }

    /// Parses the payload of a known `msgtype`; `Ok(None)` for an unknown one.
    fn from_payload(msgtype: &str, payload: Option<&Value>) -> Result<Option<MessageContent>, String> {
        fn de<T: for<'a> Deserialize<'a>>(msgtype: &str, payload: Option<&Value>) -> Result<T, String> {
            let payload = payload.ok_or_else(|| format!("missing payload object `{msgtype}`"))?;
            T::deserialize(payload).map_err(|e| format!("{msgtype}: {e}"))
        }
        let content = match msgtype {
            "text" => MessageContent::Text(de(msgtype, payload)?),
            "image" => MessageContent::Image(de(msgtype, payload)?),
            "voice" => MessageContent::Voice(de(msgtype, payload)?),
            "video" => MessageContent::Video(de(msgtype, payload)?),
            "file" => MessageContent::File(de(msgtype, payload)?),
            "location" => MessageContent::Location(de(msgtype, payload)?),
            "link" => MessageContent::Link(de(msgtype, payload)?),
            "business_card" => MessageContent::BusinessCard(de(msgtype, payload)?),
            "miniprogram" => MessageContent::Miniprogram(de(msgtype, payload)?),
            "msgmenu" => MessageContent::Msgmenu(de(msgtype, payload)?),
            "channels_shop_product" => MessageContent::ChannelsShopProduct(de(msgtype, payload)?),
            "channels_shop_order" => MessageContent::ChannelsShopOrder(de(msgtype, payload)?),
            "merged_msg" => MessageContent::MergedMsg(de(msgtype, payload)?),
            "channels" => MessageContent::Channels(de(msgtype, payload)?),
            "meeting" => MessageContent::Meeting(payload.cloned()),
            "schedule" => MessageContent::Schedule(payload.cloned()),
            "note" => MessageContent::Note(payload.cloned()),
            "event" => {
                let payload = payload.ok_or_else(|| "missing payload object `event`".to_owned())?;
                MessageContent::Event(Event::from_value(payload)?)
            }
            _ => return Ok(None),
        };
        Ok(Some(content))
    }

    /// The `msgtype` this content is sent under.
    pub fn msgtype(&self) -> &str {
        match self {
            MessageContent::Text(_) => "text",
            MessageContent::Image(_) => "image",
            MessageContent::Voice(_) => "voice",
            MessageContent::Video(_) => "video",
            MessageContent::File(_) => "file",
            MessageContent::Location(_) => "location",
            MessageContent::Link(_) => "link",
            MessageContent::BusinessCard(_) => "business_card",
            MessageContent::Miniprogram(_) => "miniprogram",
            MessageContent::Msgmenu(_) => "msgmenu",
            MessageContent::ChannelsShopProduct(_) => "channels_shop_product",
            MessageContent::ChannelsShopOrder(_) => "channels_shop_order",
            MessageContent::MergedMsg(_) => "merged_msg",
            MessageContent::Channels(_) => "channels",
            MessageContent::Meeting(_) => "meeting",
            MessageContent::Schedule(_) => "schedule",
            MessageContent::Note(_) => "note",
            MessageContent::Event(_) => "event",
            MessageContent::Unknown { msgtype, .. } | MessageContent::Malformed { msgtype, .. } => msgtype,
        }
    }

    /// Whether this is [`MessageContent::Malformed`].
    pub fn is_malformed(&self) -> bool {
        matches!(self, MessageContent::Malformed { .. })
    }

    /// Writes `msgtype` and the payload into `map`; for `Unknown`, every key of `raw` except
    /// `skip` and `msgtype`. `Malformed` is handled by the callers (written verbatim).
    fn serialize_entries<M: SerializeMap>(&self, map: &mut M, skip: &[&str]) -> Result<(), M::Error> {
        let msgtype = self.msgtype();
        match self {
            MessageContent::Text(p) => write(map, msgtype, p),
            MessageContent::Image(p)
            | MessageContent::Voice(p)
            | MessageContent::Video(p)
            | MessageContent::File(p) => write(map, msgtype, p),
            MessageContent::Location(p) => write(map, msgtype, p),
            MessageContent::Link(p) => write(map, msgtype, p),
            MessageContent::BusinessCard(p) => write(map, msgtype, p),
            MessageContent::Miniprogram(p) => write(map, msgtype, p),
            MessageContent::Msgmenu(p) => write(map, msgtype, p),
            MessageContent::ChannelsShopProduct(p) => write(map, msgtype, p),
            MessageContent::ChannelsShopOrder(p) => write(map, msgtype, p),
            MessageContent::MergedMsg(p) => write(map, msgtype, p),
            MessageContent::Channels(p) => write(map, msgtype, p),
            MessageContent::Event(p) => write(map, msgtype, p),
            MessageContent::Meeting(p) | MessageContent::Schedule(p) | MessageContent::Note(p) => {
                map.serialize_entry("msgtype", msgtype)?;
                match p {
                    Some(p) => map.serialize_entry(msgtype, p),
                    None => Ok(()),
                }
            }
            MessageContent::Unknown { msgtype, raw } => {
                map.serialize_entry("msgtype", msgtype)?;
                if let Value::Object(obj) = raw {
                    for (k, v) in obj {
                        if k != "msgtype" && !skip.contains(&k.as_str()) {
                            map.serialize_entry(k, v)?;
                        }
                    }
                }
                Ok(())
            }
            MessageContent::Malformed { raw, .. } => {
                if let Value::Object(obj) = raw {
                    for (k, v) in obj {
                        if !skip.contains(&k.as_str()) {
                            map.serialize_entry(k, v)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

fn write<M: SerializeMap, T: Serialize>(map: &mut M, msgtype: &str, payload: &T) -> Result<(), M::Error> {
    map.serialize_entry("msgtype", msgtype)?;
    map.serialize_entry(msgtype, payload)
}

impl Serialize for MessageContent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let MessageContent::Malformed { raw, .. } = self {
            return raw.serialize(s);
        }
        let mut map = s.serialize_map(None)?;
        self.serialize_entries(&mut map, &[])?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(MessageContent::from_value)
    }
}

/// A string field that may arrive as a number; `null`/absent is `None`.
fn lenient_string(v: Option<&Value>) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("expected a string, found {}", kind_of(other))),
    }
}

fn lenient_u64(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| format!("not a non-negative integer: {n}")),
        Value::String(s) => crate::serde_util::u64_from_text(s).ok_or_else(|| format!("not a number: {s:?}")),
        other => Err(format!("expected a number, found {}", kind_of(other))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `text` payload (kf-api.md §5.2); also what [`super::SendMessage::Text`] sends (≤2048 bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TextContent {
    /// The text.
    #[serde(default)]
    pub content: String,
    /// Set when the text is the customer's click on a menu `click` item: that item's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu_id: Option<String>,
}

impl TextContent {
    /// A text without `menu_id`.
    pub fn new(content: impl Into<String>) -> Self {
        TextContent { content: content.into(), menu_id: None }
    }
}

/// `image`/`voice`/`video`/`file` payload: a temporary media id (kf-api.md §5.2, §5.4, §11).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaContent {
    /// The media id (valid 3 days).
    #[serde(default)]
    pub media_id: String,
}

impl MediaContent {
    /// Wraps a media id.
    pub fn new(media_id: impl Into<String>) -> Self {
        MediaContent { media_id: media_id.into() }
    }
}

/// `location` payload, received (kf-api.md §5.2) and sent (§5.4, where `address` is optional).
///
/// Coordinates are read from numbers or numeric strings and written as integers when whole, as
/// WeCom's own example does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LocationContent {
    /// Latitude, −90..90.
    #[serde(default, with = "lenient::coord")]
    pub latitude: f64,
    /// Longitude, −180..180.
    #[serde(default, with = "lenient::coord")]
    pub longitude: f64,
    /// Place name.
    #[serde(default)]
    pub name: String,
    /// Address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl LocationContent {
    /// A location without address.
    pub fn new(name: impl Into<String>, latitude: f64, longitude: f64) -> Self {
        LocationContent { latitude, longitude, name: name.into(), address: None }
    }

    /// Set the address (an empty one is not sent).
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = crate::serde_util::non_empty(address);
        self
    }
}

/// `link` payload as received (kf-api.md §5.2); sending uses [`super::SendLink`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LinkContent {
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Description.
    #[serde(default)]
    pub desc: String,
    /// Target URL.
    #[serde(default)]
    pub url: String,
    /// Thumbnail URL.
    #[serde(default)]
    pub pic_url: String,
}

/// `business_card` payload: a WeCom member's card (kf-api.md §5.2, §5.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BusinessCardContent {
    /// The member's userid.
    #[serde(default)]
    pub userid: String,
}

impl BusinessCardContent {
    /// The card of `userid`.
    pub fn new(userid: impl Into<String>) -> Self {
        BusinessCardContent { userid: userid.into() }
    }
}

/// `miniprogram` payload, received and sent (kf-api.md §5.2, §5.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MiniprogramContent {
    /// Mini program appid (must be linked to the corp).
    #[serde(default)]
    pub appid: String,
    /// Title (≤64 bytes, truncated beyond).
    #[serde(default)]
    pub title: String,
    /// Cover image media id (520×416 recommended).
    #[serde(default)]
    pub thumb_media_id: String,
    /// Page path inside the mini program.
    #[serde(default)]
    pub pagepath: String,
}

impl MiniprogramContent {
    /// A mini program card.
    pub fn new(
        appid: impl Into<String>,
        title: impl Into<String>,
        thumb_media_id: impl Into<String>,
        pagepath: impl Into<String>,
    ) -> Self {
        MiniprogramContent {
            appid: appid.into(),
            title: title.into(),
            thumb_media_id: thumb_media_id.into(),
            pagepath: pagepath.into(),
        }
    }
}

/// A Channels shop product's price: in fen (cents), sent by WeCom as a string or a number
/// (DISAGREEMENT in kf-api.md §5.2). The form is kept so the item is written back as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum SalesPrice {
    /// Sent as a JSON number.
    Number(serde_json::Number),
    /// Sent as a string.
    Text(String),
}

impl SalesPrice {
    /// The price in fen, if it is a whole non-negative number.
    pub fn fen(&self) -> Option<u64> {
        match self {
            SalesPrice::Number(n) => n.as_u64(),
            SalesPrice::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// `channels_shop_product` payload (kf-api.md §5.2). Reads `head_img`/`shop_head_img` and the
/// alternative spellings `head_image`/`shop_head_image`; writes the former.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelsShopProductContent {
    /// Product id.
    #[serde(default)]
    pub product_id: String,
    /// Product image URL.
    #[serde(default, alias = "head_image")]
    pub head_img: String,
    /// Product title.
    #[serde(default)]
    pub title: String,
    /// Price in fen, in the form it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_price: Option<SalesPrice>,
    /// Shop name.
    #[serde(default)]
    pub shop_nickname: String,
    /// Shop avatar URL.
    #[serde(default, alias = "shop_head_image")]
    pub shop_head_img: String,
}

/// `channels_shop_order` payload (kf-api.md §5.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelsShopOrderContent {
    /// Order id.
    #[serde(default)]
    pub order_id: String,
    /// Product titles, one string. An array (seen in one project) is accepted and joined with `,`.
    #[serde(default, deserialize_with = "string_or_list")]
    pub product_titles: String,
    /// Price text.
    #[serde(default)]
    pub price_wording: String,
    /// Order state text.
    #[serde(default)]
    pub state: String,
    /// Image URL.
    #[serde(default)]
    pub image_url: String,
    /// Shop name.
    #[serde(default)]
    pub shop_nickname: String,
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s,
        OneOrMany::Many(v) => v.join(","),
        OneOrMany::Null(()) => String::new(),
    })
}

/// `merged_msg` payload: a forwarded chat record (kf-api.md §5.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MergedMsgContent {
    /// Title of the record.
    #[serde(default)]
    pub title: String,
    /// The messages in it.
    #[serde(default)]
    pub item: Vec<MergedMsgItem>,
}

/// One message inside a [`MergedMsgContent`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MergedMsgItem {
    /// Unix seconds (a number, or a string in some sources; written as a number).
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub send_time: u64,
    /// Type of the inner message.
    #[serde(default)]
    pub msgtype: String,
    /// Display name of its sender.
    #[serde(default)]
    pub sender_name: String,
    /// The inner message as a JSON string, e.g. `{"msgtype":"text","text":{"content":"..."}}`;
    /// see [`MergedMsgItem::parse_content`].
    #[serde(default)]
    pub msg_content: String,
}

impl MergedMsgItem {
    /// Parses `msg_content`. Never fails: a string that is not JSON gives
    /// [`MessageContent::Malformed`] with the string as `raw`.
    ///
    /// ```
    /// use wxkf_types::message::{MergedMsgItem, MessageContent};
    ///
    /// let item: MergedMsgItem = serde_json::from_str(r#"{"send_time": 1665649618, "msgtype": "text",
    ///     "sender_name": "S", "msg_content": "{\"msgtype\":\"text\",\"text\":{\"content\":\"hi\"}}"}"#).unwrap();
    /// assert!(matches!(item.parse_content(), MessageContent::Text(t) if t.content == "hi"));
    /// ```
    pub fn parse_content(&self) -> MessageContent {
        match serde_json::from_str::<Value>(&self.msg_content) {
            Ok(v) => MessageContent::from_value(v),
            Err(e) => MessageContent::Malformed {
                msgtype: self.msgtype.clone(),
                raw: Value::String(self.msg_content.clone()),
                error: format!("msg_content is not JSON: {e}"),
            },
        }
    }
}

/// `channels` payload: a WeChat Channels post, live stream or profile (kf-api.md §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChannelsContent {
    /// What kind of Channels content.
    #[serde(with = "lenient::code")]
    pub sub_type: ChannelsSubType,
    /// Channels account name.
    #[serde(default)]
    pub nickname: String,
    /// Post title (sub_type 1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_maps_both_ways() {
        for (n, v) in
            [(3, Origin::Customer), (4, Origin::Event), (5, Origin::Servicer), (9, Origin::Unknown(9))]
        {
            assert_eq!(Origin::from(n), v);
            assert_eq!(u32::from(v), n);
            assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::json!(n)));
            assert_eq!(serde_json::from_value::<Origin>(serde_json::json!(n)).ok(), Some(v));
        }
    }

    #[test]
    fn channels_sub_type_maps_both_ways() {
        for (n, v) in [
            (1, ChannelsSubType::Post),
            (2, ChannelsSubType::Live),
            (3, ChannelsSubType::Profile),
            (0, ChannelsSubType::Unknown(0)),
        ] {
            assert_eq!(ChannelsSubType::from(n), v);
            assert_eq!(u32::from(v), n);
            assert_eq!(serde_json::from_value::<ChannelsSubType>(serde_json::json!(n)).ok(), Some(v));
        }
    }

    #[test]
    fn non_object_and_typeless_items_are_malformed() {
        for v in [serde_json::json!(5), serde_json::json!(null), serde_json::json!({"msgid": "x"})] {
            let m = Message::from_value(v.clone());
            assert!(m.content.is_malformed(), "{v}");
            assert_eq!(serde_json::to_value(&m).ok(), Some(v));
        }
    }

    #[test]
    fn bad_common_field_is_malformed_and_kept() {
        let v = serde_json::json!({"msgid": "m", "send_time": "soon", "origin": 3, "msgtype": "text",
            "text": {"content": "x"}});
        let m = Message::from_value(v.clone());
        let MessageContent::Malformed { error, msgtype, .. } = &m.content else { panic!("{m:?}") };
        assert!(error.contains("send_time"), "{error}");
        assert_eq!(msgtype, "text");
        assert_eq!(serde_json::to_value(&m).ok(), Some(v));
    }
}
