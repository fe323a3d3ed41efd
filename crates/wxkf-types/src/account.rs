//! `/cgi-bin/kf/account/*`: create, delete, rename and list Kf accounts (kf-api.md §2.1–§2.4).
//!
//! The contact link of an account (`/cgi-bin/kf/add_contact_way`, §2.5) has no area in its path
//! and lives in [`crate::kf`].
//!
//! ```
//! use wxkf_types::account::AccountUpdateRequest;
//!
//! // Empty strings mean "keep the current value" and are never sent.
//! let req = AccountUpdateRequest::new("wkAAA").with_name("Support").with_media_id("");
//! assert_eq!(serde_json::to_string(&req).unwrap(), r#"{"open_kfid":"wkAAA","name":"Support"}"#);
//! ```

use serde::{Deserialize, Deserializer, Serialize};

use crate::serde_util::{non_empty, none_or_empty};

/// Body of `POST /cgi-bin/kf/account/add` (kf-api.md §2.1): create a Kf account. Not idempotent: a
/// retry may create a second account.
#[doc(alias = "/cgi-bin/kf/account/add")]
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

/// Response of `account/add` (kf-api.md §2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountAddResponse {
    /// Id of the new account.
    #[serde(default)]
    pub open_kfid: String,
}

/// Body of `POST /cgi-bin/kf/account/del` (kf-api.md §2.2): delete a Kf account.
#[doc(alias = "/cgi-bin/kf/account/del")]
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

/// Body of `POST /cgi-bin/kf/account/update` (kf-api.md §2.3): rename an account or change its
/// avatar. Absent (or empty) fields keep their current value and are not sent.
#[doc(alias = "/cgi-bin/kf/account/update")]
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

/// Body of `POST /cgi-bin/kf/account/list` (kf-api.md §2.4): one page of the corp's Kf accounts.
///
/// WeCom returns no `has_more`: keep paging until a page shorter than `limit` comes back. (Older
/// docs describe a GET without paging — DISAGREEMENT; the current POST form is used.)
#[doc(alias = "/cgi-bin/kf/account/list")]
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

// Kept for code written before `add_contact_way` moved to `kf` (its path has no `account/`).
#[doc(hidden)]
pub use crate::kf::{
    AddContactWayRequest, AddContactWayResponse, MAX_SCENE_PARAM_BYTES, SceneParamError, append_scene_param,
};
