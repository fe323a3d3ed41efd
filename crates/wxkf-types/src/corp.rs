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

use crate::endpoint::{Endpoint, Method, RequestBody};

/// Query of `GET /cgi-bin/kf/get_corp_qualification` (kf-api.md §8): no parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetCorpQualificationRequest {}

impl GetCorpQualificationRequest {
    /// The (parameterless) request.
    pub fn new() -> Self {
        GetCorpQualificationRequest {}
    }
}

impl Endpoint for GetCorpQualificationRequest {
    type Response = GetCorpQualificationResponse;
    const METHOD: Method = Method::Get;
    const PATH: &'static str = "/cgi-bin/kf/get_corp_qualification";
    const REQUEST_BODY: RequestBody = RequestBody::Query;
    const IDEMPOTENT: bool = true;
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
