//! Endpoints whose path has no area: `/cgi-bin/kf/<name>`.
//!
//! `add_contact_way` (kf-api.md §2.5) is defined here. The other area-less endpoints are defined
//! beside the models they carry and re-exported here, so that every `/cgi-bin/kf/<name>` path is
//! found as `wxkf_types::kf::<Name>Request`: `sync_msg`, `send_msg`, `send_msg_on_event` and
//! `recall_msg` ([`crate::message`]), `get_corp_qualification` ([`crate::corp`]),
//! `get_corp_statistic` and `get_servicer_statistic` ([`crate::statistic`]).
//!
//! ```
//! use wxkf_types::kf::{AddContactWayRequest, append_scene_param};
//! use wxkf_types::Endpoint;
//!
//! assert_eq!(AddContactWayRequest::PATH, "/cgi-bin/kf/add_contact_way");
//!
//! let url = "https://work.weixin.qq.com/kf/kfcbf8f8d07ac7215f?enc_scene=ENCGFSDF567DF";
//! assert_eq!(
//!     append_scene_param(url, "a=1&b=2").unwrap(),
//!     "https://work.weixin.qq.com/kf/kfcbf8f8d07ac7215f?enc_scene=ENCGFSDF567DF&scene_param=a%3D1%26b%3D2"
//! );
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::serde_util::{non_empty, none_or_empty};

pub use crate::corp::{GetCorpQualificationRequest, GetCorpQualificationResponse};
pub use crate::message::{
    RecallMsgRequest, SendMsgOnEventRequest, SendMsgOnEventResponse, SendMsgRequest, SendMsgResponse,
    SyncMsgRequest, SyncMsgResponse,
};
pub use crate::statistic::{
    GetCorpStatisticRequest, GetCorpStatisticResponse, GetServicerStatisticRequest,
    GetServicerStatisticResponse,
};

/// Body of `POST /cgi-bin/kf/add_contact_way` (kf-api.md §2.5): get the link that opens a chat
/// with the account.
#[doc(alias = "/cgi-bin/kf/add_contact_way")]
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

/// Every byte except RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) is percent-encoded.
const NOT_UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
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
