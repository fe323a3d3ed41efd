//! Corp qualification: whether the corp has bound a WeChat Channels account (kf-api.md §8).
//!
//! ```
//! use wxkf_types::corp::GetCorpQualificationResponse;
//!
//! let resp: GetCorpQualificationResponse =
//!     serde_json::from_str(r#"{"wechat_channels_binding":true}"#).unwrap();
//! assert!(resp.wechat_channels_binding);
//! ```

use serde::{Deserialize, Serialize};

/// Query of `GET /cgi-bin/kf/get_corp_qualification` (kf-api.md §8): no parameters.
#[doc(alias = "/cgi-bin/kf/get_corp_qualification")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetCorpQualificationRequest {}

impl GetCorpQualificationRequest {
    /// The (parameterless) request.
    pub fn new() -> Self {
        GetCorpQualificationRequest {}
    }
}

/// Response of `get_corp_qualification` (kf-api.md §8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetCorpQualificationResponse {
    /// Whether the corp has bound a WeChat Channels (视频号) account; without it, Channels features
    /// fail (`msg_send_fail` `fail_type` 7/9). A JSON boolean.
    #[serde(default)]
    pub wechat_channels_binding: bool,
}
