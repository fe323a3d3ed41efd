//! `GET /cgi-bin/gettoken`: exchange the corp id and an app secret for an access token
//! (kf-api.md §1).
//!
//! Both the secret and the token are credentials: their `Debug` output is redacted, while
//! serialization writes the real values (they must reach WeCom).
//!
//! ```
//! use wxkf_types::token::{GetTokenRequest, GetTokenResponse};
//!
//! let req = GetTokenRequest::new("wwcorp", "s3cr3t");
//! assert!(!format!("{req:?}").contains("s3cr3t"));
//! assert_eq!(serde_json::to_value(&req).unwrap()["corpsecret"], "s3cr3t");
//!
//! let resp: GetTokenResponse =
//!     serde_json::from_str(r#"{"access_token":"T0KEN-9f8e","expires_in":7200}"#).unwrap();
//! assert_eq!(resp.expires_in, 7200);
//! assert!(!format!("{resp:?}").contains("T0KEN-9f8e"));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::endpoint::{Endpoint, Method, RequestBody};

/// Stands in for a credential in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Query of `GET /cgi-bin/gettoken` (kf-api.md §1). The only call that does not itself take an
/// `access_token`.
///
/// `Debug` hides `corpsecret`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetTokenRequest {
    /// Corp id (`ww…`, old corps `wx…`).
    pub corpid: String,
    /// Secret of the app that calls the Kf API. Never logged.
    pub corpsecret: String,
}

impl GetTokenRequest {
    /// A token request for `corpid` with the app secret `corpsecret`.
    pub fn new(corpid: impl Into<String>, corpsecret: impl Into<String>) -> Self {
        GetTokenRequest { corpid: corpid.into(), corpsecret: corpsecret.into() }
    }
}

impl fmt::Debug for GetTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetTokenRequest")
            .field("corpid", &self.corpid)
            .field("corpsecret", &Redacted)
            .finish()
    }
}

impl Endpoint for GetTokenRequest {
    type Response = GetTokenResponse;
    const METHOD: Method = Method::Get;
    const PATH: &'static str = "/cgi-bin/gettoken";
    const REQUEST_BODY: RequestBody = RequestBody::Query;
    const IDEMPOTENT: bool = true;
}

/// Response of `gettoken` (kf-api.md §1): the token and its lifetime.
///
/// Cache the token until shortly before `expires_in` runs out, and fetch a new one on 40014/42001.
/// `Debug` hides `access_token`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetTokenResponse {
    /// The access token (up to 512 bytes). Never logged.
    #[serde(default)]
    pub access_token: String,
    /// Validity in seconds, normally 7200; WeCom may revoke the token earlier.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub expires_in: u64,
}

impl fmt::Debug for GetTokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetTokenResponse")
            .field("access_token", &Redacted)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}
