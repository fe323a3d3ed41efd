//! Kf accounts: create, delete, rename, list, and get a contact link (kf-api.md §2).
//!
//! ```
//! use wxkf_types::account::{AccountUpdateRequest, append_scene_param};
//!
//! // Empty strings mean "keep the current value" and are never sent.
//! let req = AccountUpdateRequest::new("wkAAA").with_name("Support").with_media_id("");
//! assert_eq!(serde_json::to_string(&req).unwrap(), r#"{"open_kfid":"wkAAA","name":"Support"}"#);
//!
//! let url = "https://work.weixin.qq.com/kf/kfcbf8f8d07ac7215f?enc_scene=ENCGFSDF567DF";
//! assert_eq!(
//!     append_scene_param(url, "a=1&b=2").unwrap(),
//!     "https://work.weixin.qq.com/kf/kfcbf8f8d07ac7215f?enc_scene=ENCGFSDF567DF&scene_param=a%3D1%26b%3D2"
//! );
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::endpoint::{EmptyResponse, Endpoint, Method, RequestBody};

/// `None` and `Some("")` are both "not given": WeCom must never see an empty optional string.
fn none_or_empty(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(str::is_empty)
}

/// `Some(v)` unless `v` is empty.
fn non_empty(v: impl Into<String>) -> Option<String> {
    Some(v.into()).filter(|v| !v.is_empty())
}

/// Body of `POST /cgi-bin/kf/account/add` (kf-api.md §2.1): create a Kf account. Not idempotent: a
/// retry may create a second account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountAddRequest {
    /// Display name, at most 16 characters (95006 when invalid).
    pub name: String,
    /// Avatar: a temporary image `media_id` from `media/upload` (≤128 bytes).
    pub media_id: String,
}

impl AccountAddRequest {
    /// Create an account named `name` with the avatar `media_id`.
    pub fn new(name: impl Into<String>, media_id: impl Into<String>) -> Self {
        AccountAddRequest { name: name.into(), media_id: media_id.into() }
    }
}

impl Endpoint for AccountAddRequest {
    type Response = AccountAddResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = "/cgi-bin/kf/account/add";
    const REQUEST_BODY: RequestBody = RequestBody::Json;
    const IDEMPOTENT: bool = false;
}

/// Response of `account/add` (kf-api.md §2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountAddResponse {
    /// Id of the new account.
    #[serde(default)]
    pub open_kfid: String,
}

/// Body of `POST /cgi-bin/kf/account/del` (kf-api.md §2.2): delete a Kf account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountDelRequest {
    /// Account to delete (≤64 bytes).
    pub open_kfid: String,
}

impl AccountDelRequest {
    /// Delete the account `open_kfid`.
    pub fn new(open_kfid: impl Into<String>) -> Self {
        AccountDelRequest { open_kfid: open_kfid.into() }
    }
}

impl Endpoint for AccountDelRequest {
    type Response = EmptyResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = "/cgi-bin/kf/account/del";
    const REQUEST_BODY: RequestBody = RequestBody::Json;
    const IDEMPOTENT: bool = true;
}

/// Body of `POST /cgi-bin/kf/account/update` (kf-api.md §2.3): rename an account or change its
/// avatar. Absent (or empty) fields keep their current value and are not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountUpdateRequest {
    /// Account to change (≤64 bytes).
    pub open_kfid: String,
    /// New name (≤16 characters); `None` keeps the current one.
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub name: Option<String>,
    /// New avatar temporary `media_id` (≤128 bytes); `None` keeps the current one.
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub media_id: Option<String>,
}

impl AccountUpdateRequest {
    /// An update of `open_kfid` that changes nothing yet; add changes with the `with_` setters.
    pub fn new(open_kfid: impl Into<String>) -> Self {
        AccountUpdateRequest { open_kfid: open_kfid.into(), name: None, media_id: None }
    }

    /// Set the new name; an empty string leaves the name unchanged.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = non_empty(name);
        self
    }

    /// Set the new avatar; an empty string leaves the avatar unchanged.
    pub fn with_media_id(mut self, media_id: impl Into<String>) -> Self {
        self.media_id = non_empty(media_id);
        self
    }
}

impl Endpoint for AccountUpdateRequest {
    type Response = EmptyResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = "/cgi-bin/kf/account/update";
    const REQUEST_BODY: RequestBody = RequestBody::Json;
    const IDEMPOTENT: bool = true;
}

/// Body of `POST /cgi-bin/kf/account/list` (kf-api.md §2.4): one page of the corp's Kf accounts.
///
/// WeCom returns no `has_more`: keep paging until a page shorter than `limit` comes back. (Older
/// docs describe a GET without paging — DISAGREEMENT; the current POST form is used.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountListRequest {
    /// Paging offset; WeCom's default is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    /// Page size 1..=100; WeCom's default is 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl AccountListRequest {
    /// Largest `limit` WeCom accepts.
    pub const MAX_LIMIT: u32 = 100;

    /// The first page with WeCom's default size.
    pub fn new() -> Self {
        AccountListRequest::default()
    }

    /// Start at `offset`.
    pub fn with_offset(mut self, offset: u32) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Ask for `limit` accounts per page (WeCom accepts 1..=100).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

impl Endpoint for AccountListRequest {
    type Response = AccountListResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = "/cgi-bin/kf/account/list";
    const REQUEST_BODY: RequestBody = RequestBody::Json;
    const IDEMPOTENT: bool = true;
}

/// Response of `account/list` (kf-api.md §2.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountListResponse {
    /// The accounts of this page.
    #[serde(default)]
    pub account_list: Vec<KfAccount>,
}

/// One Kf account in `account/list` (kf-api.md §2.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KfAccount {
    /// Account id.
    #[serde(default)]
    pub open_kfid: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Avatar URL.
    #[serde(default)]
    pub avatar: String,
    /// Whether the calling app may edit this account, assign its sessions and send its messages.
    /// Absent (`None`) for Kf-component apps. A JSON boolean; 0/1 is accepted too.
    #[serde(default, deserialize_with = "lenient_opt_bool", skip_serializing_if = "Option::is_none")]
    pub manage_privilege: Option<bool>,
}

/// A JSON boolean that might arrive as 0/1 or `"true"`/`"0"`; `null` is `None`.
fn lenient_opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.as_f64().is_some_and(|v| v != 0.0))),
        Some(serde_json::Value::String(s)) => match s.trim() {
            "" => Ok(None),
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            other => Err(D::Error::custom(format!("not a boolean: {other:?}"))),
        },
        Some(other) => Err(D::Error::custom(format!("expected a boolean, found {other}"))),
    }
}

/// Body of `POST /cgi-bin/kf/add_contact_way` (kf-api.md §2.5): get the link that opens a chat
/// with the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AddContactWayRequest {
    /// Account the link leads to.
    pub open_kfid: String,
    /// Developer-chosen scene (≤32 bytes of `[0-9a-zA-Z_-]`), echoed in the `enter_session`
    /// event. Needed to append a `scene_param` to the link later.
    #[serde(default, skip_serializing_if = "none_or_empty")]
    pub scene: Option<String>,
}

impl AddContactWayRequest {
    /// Longest `scene` WeCom accepts, in bytes.
    pub const MAX_SCENE_BYTES: usize = 32;

    /// A link for `open_kfid` without a scene.
    pub fn new(open_kfid: impl Into<String>) -> Self {
        AddContactWayRequest { open_kfid: open_kfid.into(), scene: None }
    }

    /// Set the scene; an empty string means no scene.
    pub fn with_scene(mut self, scene: impl Into<String>) -> Self {
        self.scene = non_empty(scene);
        self
    }

    /// Whether `scene` is acceptable to WeCom: at most 32 bytes of `[0-9a-zA-Z_-]`.
    pub fn is_valid_scene(scene: &str) -> bool {
        scene.len() <= Self::MAX_SCENE_BYTES
            && scene.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

impl Endpoint for AddContactWayRequest {
    type Response = AddContactWayResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = "/cgi-bin/kf/add_contact_way";
    const REQUEST_BODY: RequestBody = RequestBody::Json;
    const IDEMPOTENT: bool = true;
}

/// Response of `add_contact_way` (kf-api.md §2.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AddContactWayResponse {
    /// The contact link. Do not edit it (the enter-session check would fail); only append a
    /// `scene_param` with [`append_scene_param`].
    #[serde(default)]
    pub url: String,
}

impl AddContactWayResponse {
    /// The link with `scene_param` appended; see [`append_scene_param`].
    pub fn url_with_scene_param(&self, scene_param: &str) -> Result<String, SceneParamError> {
        append_scene_param(&self.url, scene_param)
    }
}

/// Longest URL-encoded `scene_param` WeCom accepts, in bytes (kf-api.md §2.5).
pub const MAX_SCENE_PARAM_BYTES: usize = 128;

/// Why a `scene_param` could not be appended to a contact link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SceneParamError {
    /// The URL-encoded value is longer than [`MAX_SCENE_PARAM_BYTES`].
    TooLong {
        /// Length of the encoded value in bytes.
        encoded_len: usize,
    },
    /// The link is an old one (`encScene=`) that does not support `scene_param`.
    LegacyLink,
    /// The link already carries a `scene_param`.
    AlreadyPresent,
}

impl fmt::Display for SceneParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SceneParamError::TooLong { encoded_len } => write!(
                f,
                "scene_param is {encoded_len} bytes once URL-encoded; WeCom accepts at most {MAX_SCENE_PARAM_BYTES}"
            ),
            SceneParamError::LegacyLink => {
                f.write_str("old contact links (encScene=) do not support scene_param; request a new link")
            }
            SceneParamError::AlreadyPresent => f.write_str("the contact link already has a scene_param"),
        }
    }
}

impl std::error::Error for SceneParamError {}

/// Append `&scene_param=…` (URL-encoded) to a link returned by `add_contact_way` (kf-api.md §2.5).
///
/// The value comes back verbatim in the `enter_session` event. It only works for links created
/// with a non-empty `scene`. The rest of the URL is kept byte for byte, as WeCom requires.
pub fn append_scene_param(url: &str, scene_param: &str) -> Result<String, SceneParamError> {
    let encoded = percent_encode(scene_param);
    if encoded.len() > MAX_SCENE_PARAM_BYTES {
        return Err(SceneParamError::TooLong { encoded_len: encoded.len() });
    }
    let (_, query) = url.split_once('?').unwrap_or((url, ""));
    let keys = || query.split('&').map(|pair| pair.split_once('=').map_or(pair, |(k, _)| k));
    if keys().any(|k| k == "encScene") {
        return Err(SceneParamError::LegacyLink);
    }
    if keys().any(|k| k == "scene_param") {
        return Err(SceneParamError::AlreadyPresent);
    }
    let sep = if !url.contains('?') {
        "?"
    } else if url.ends_with('?') || url.ends_with('&') {
        ""
    } else {
        "&"
    };
    Ok(format!("{url}{sep}scene_param={encoded}"))
}

/// Percent-encode every byte except RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`).
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scene_param_is_encoded_and_bounded() {
        let base = "https://work.weixin.qq.com/kf/kfc?enc_scene=X";
        assert_eq!(append_scene_param(base, "中 ~").unwrap(), format!("{base}&scene_param=%E4%B8%AD%20~"));
        assert_eq!(append_scene_param("https://a/kf", "x").unwrap(), "https://a/kf?scene_param=x");
        assert_eq!(append_scene_param(base, &"a".repeat(128)).unwrap().len(), base.len() + 13 + 128);
        // 43 × "%E4%B8%AD"-sized chars = 387 bytes encoded.
        assert_eq!(
            append_scene_param(base, &"中".repeat(43)),
            Err(SceneParamError::TooLong { encoded_len: 387 })
        );
        assert_eq!(
            append_scene_param(base, &"a".repeat(129)),
            Err(SceneParamError::TooLong { encoded_len: 129 })
        );
        assert_eq!(append_scene_param("https://a/kf?encScene=X", "x"), Err(SceneParamError::LegacyLink));
        assert_eq!(
            append_scene_param(&format!("{base}&scene_param=y"), "x"),
            Err(SceneParamError::AlreadyPresent)
        );
    }

    #[test]
    fn scene_validity() {
        assert!(AddContactWayRequest::is_valid_scene("abc_1-2"));
        assert!(!AddContactWayRequest::is_valid_scene("a b"));
        assert!(!AddContactWayRequest::is_valid_scene(&"a".repeat(33)));
    }
}
