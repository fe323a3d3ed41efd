//! The `msgmenu` message: a head text, up to 10 items (click, view, mini program, text) and a
//! tail text (kf-api.md §5.4 "Menu items"). The same shape arrives in `sync_msg` (§5.2).
//!
//! ```
//! use wxkf_types::message::{MenuItem, MsgMenu};
//!
//! let menu = MsgMenu::builder()
//!     .head_content("Were you satisfied?")
//!     .click("101", "Yes")
//!     .click("102", "No")
//!     .view("https://work.weixin.qq.com", "Self-service")
//!     .tail_content("Thank you")
//!     .build();
//! assert_eq!(menu.list.len(), 3);
//! let json = serde_json::to_value(&menu).unwrap();
//! assert_eq!(json["list"][0], serde_json::json!({"type": "click", "click": {"id": "101", "content": "Yes"}}));
//! let back: MsgMenu = serde_json::from_value(json).unwrap();
//! assert_eq!(back, menu);
//! assert!(matches!(&back.list[2], MenuItem::View(v) if v.content == "Self-service"));
//! ```

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Most items a menu may hold; more is rejected with 95008.
pub const MAX_MENU_ITEMS: usize = 10;

/// A `msgmenu` payload (kf-api.md §5.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MsgMenu {
    /// Text above the items (≤1024 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_content: Option<String>,
    /// The items (at most [`MAX_MENU_ITEMS`]).
    #[serde(default)]
    pub list: Vec<MenuItem>,
    /// Text below the items (≤1024 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_content: Option<String>,
}

impl MsgMenu {
    /// A menu of the given items, without head or tail.
    pub fn new(list: Vec<MenuItem>) -> Self {
        MsgMenu { head_content: None, list, tail_content: None }
    }

    /// Start building a menu item by item.
    pub fn builder() -> MsgMenuBuilder {
        MsgMenuBuilder::default()
    }
}

/// Builds a [`MsgMenu`] item by item; see [`MsgMenu::builder`]. Empty head/tail texts are not sent.
#[derive(Debug, Clone, Default)]
pub struct MsgMenuBuilder {
    menu: MsgMenu,
}

impl MsgMenuBuilder {
    /// Text above the items.
    pub fn head_content(mut self, text: impl Into<String>) -> Self {
        self.menu.head_content = crate::serde_util::non_empty(text);
        self
    }

    /// Text below the items.
    pub fn tail_content(mut self, text: impl Into<String>) -> Self {
        self.menu.tail_content = crate::serde_util::non_empty(text);
        self
    }

    /// Add any item.
    pub fn item(mut self, item: impl Into<MenuItem>) -> Self {
        self.menu.list.push(item.into());
        self
    }

    /// Add a `click` item: clicking makes the customer send `content` with `menu_id` = `id`.
    pub fn click(self, id: impl Into<String>, content: impl Into<String>) -> Self {
        self.item(MenuClick::new(id, content))
    }

    /// Add a `view` item: a link.
    pub fn view(self, url: impl Into<String>, content: impl Into<String>) -> Self {
        self.item(MenuView { url: url.into(), content: content.into() })
    }

    /// Add a `miniprogram` item.
    pub fn miniprogram(
        self,
        appid: impl Into<String>,
        pagepath: impl Into<String>,
        content: impl Into<String>,
    ) -> Self {
        self.item(MenuMiniprogram { appid: appid.into(), pagepath: pagepath.into(), content: content.into() })
    }

    /// Add a plain `text` item (followed by a line break).
    pub fn text(self, content: impl Into<String>) -> Self {
        self.item(MenuText::new(content))
    }

    /// The menu.
    pub fn build(self) -> MsgMenu {
        self.menu
    }
}

/// One item of a menu, written `{"type": T, T: {...}}` (kf-api.md §5.4). An invalid type is rejected
/// by WeCom with 95009; on input unknown types are kept raw.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MenuItem {
    /// `click`: a reply button.
    Click(MenuClick),
    /// `view`: a link.
    View(MenuView),
    /// `miniprogram`: opens a mini program page.
    Miniprogram(MenuMiniprogram),
    /// `text`: a line of plain text.
    Text(MenuText),
    /// An item type this crate does not know; `raw` is the whole item.
    Unknown {
        /// Its `type`.
        item_type: String,
        /// The whole item.
        raw: Value,
    },
}

impl MenuItem {
    /// The item's `type`.
    pub fn item_type(&self) -> &str {
        match self {
            MenuItem::Click(_) => "click",
            MenuItem::View(_) => "view",
            MenuItem::Miniprogram(_) => "miniprogram",
            MenuItem::Text(_) => "text",
            MenuItem::Unknown { item_type, .. } => item_type,
        }
    }
}

impl From<MenuClick> for MenuItem {
    fn from(v: MenuClick) -> Self {
        MenuItem::Click(v)
    }
}
impl From<MenuView> for MenuItem {
    fn from(v: MenuView) -> Self {
        MenuItem::View(v)
    }
}
impl From<MenuMiniprogram> for MenuItem {
    fn from(v: MenuMiniprogram) -> Self {
        MenuItem::Miniprogram(v)
    }
}
impl From<MenuText> for MenuItem {
    fn from(v: MenuText) -> Self {
        MenuItem::Text(v)
    }
}

impl Serialize for MenuItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let item_type = self.item_type();
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("type", item_type)?;
        match self {
            MenuItem::Click(v) => map.serialize_entry(item_type, v)?,
            MenuItem::View(v) => map.serialize_entry(item_type, v)?,
            MenuItem::Miniprogram(v) => map.serialize_entry(item_type, v)?,
            MenuItem::Text(v) => map.serialize_entry(item_type, v)?,
            MenuItem::Unknown { raw, .. } => {
                if let Value::Object(obj) = raw {
                    for (k, v) in obj.iter().filter(|(k, _)| *k != "type") {
                        map.serialize_entry(k, v)?;
                    }
                }
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for MenuItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        fn payload<'a, E: Error>(v: &'a Value, t: &str) -> Result<&'a Value, E> {
            v.get(t).ok_or_else(|| E::custom(format!("menu item of type {t} without a `{t}` object")))
        }
        let v = Value::deserialize(d)?;
        let item_type = match v.get("type") {
            Some(Value::String(t)) => t.clone(),
            _ => return Err(D::Error::custom("menu item without a string `type`")),
        };
        let item = match item_type.as_str() {
            "click" => MenuItem::Click(
                MenuClick::deserialize(payload::<D::Error>(&v, "click")?).map_err(D::Error::custom)?,
            ),
            "view" => MenuItem::View(
                MenuView::deserialize(payload::<D::Error>(&v, "view")?).map_err(D::Error::custom)?,
            ),
            "miniprogram" => MenuItem::Miniprogram(
                MenuMiniprogram::deserialize(payload::<D::Error>(&v, "miniprogram")?)
                    .map_err(D::Error::custom)?,
            ),
            "text" => MenuItem::Text(
                MenuText::deserialize(payload::<D::Error>(&v, "text")?).map_err(D::Error::custom)?,
            ),
            _ => MenuItem::Unknown { item_type, raw: v },
        };
        Ok(item)
    }
}

/// A `click` menu item. Its `id` comes back as `text.menu_id` when clicked; keep it ≤64 bytes
/// (sources disagree between 64 and 128).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MenuClick {
    /// Menu id (not sent when empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Button text (1..128 bytes).
    #[serde(default)]
    pub content: String,
}

impl MenuClick {
    /// A click item.
    pub fn new(id: impl Into<String>, content: impl Into<String>) -> Self {
        MenuClick { id: id.into(), content: content.into() }
    }
}

/// A `view` menu item: a link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MenuView {
    /// Target URL (1..2048 bytes).
    #[serde(default)]
    pub url: String,
    /// Link text (1..1024 bytes).
    #[serde(default)]
    pub content: String,
}

impl MenuView {
    /// A view item.
    pub fn new(url: impl Into<String>, content: impl Into<String>) -> Self {
        MenuView { url: url.into(), content: content.into() }
    }
}

/// A `miniprogram` menu item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MenuMiniprogram {
    /// Mini program appid (1..32 bytes).
    #[serde(default)]
    pub appid: String,
    /// Page path (1..1024 bytes).
    #[serde(default)]
    pub pagepath: String,
    /// Link text (1..1024 bytes).
    #[serde(default)]
    pub content: String,
}

impl MenuMiniprogram {
    /// A mini program item.
    pub fn new(appid: impl Into<String>, pagepath: impl Into<String>, content: impl Into<String>) -> Self {
        MenuMiniprogram { appid: appid.into(), pagepath: pagepath.into(), content: content.into() }
    }
}

/// A `text` menu item: plain text (1..256 bytes), passed through unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MenuText {
    /// The text.
    #[serde(default)]
    pub content: String,
    /// `no_newline` (0/1 on the wire): no line break after this item.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::serde_util::opt_int_bool")]
    pub no_newline: Option<bool>,
}

impl MenuText {
    /// A text item followed by a line break (`no_newline` not sent).
    pub fn new(content: impl Into<String>) -> Self {
        MenuText { content: content.into(), no_newline: None }
    }

    /// Set `no_newline`.
    pub fn with_no_newline(mut self, no_newline: bool) -> Self {
        self.no_newline = Some(no_newline);
        self
    }
}
