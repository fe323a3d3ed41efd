//! `GET /cgi-bin/gettoken`: exchange the corp id and an app secret for an access token
//! (kf-api.md §1).
//!
//! Both the secret and the token are credentials: their `Debug` output is redacted, while
//! serialization writes the real values (they must reach WeCom).
//!
//! ```
//! use wxkf_types::token::{GettokenRequest, GettokenResponse};
//!
//! let req = GettokenRequest::new("wwcorp", "s3cr3t");
//! assert!(!format!("{req:?}").contains("s3cr3t"));
//! assert_eq!(serde_json::to_value(&req).unwrap()["corpsecret"], "s3cr3t");
//!
//! let resp: GettokenResponse =
//!     serde_json::from_str(r#"{"access_token":"T0KEN-9f8e","expires_in":7200}"#).unwrap();
//! assert_eq!(resp.expires_in, 7200);
//! assert!(!format!("{resp:?}").contains("T0KEN-9f8e"));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

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
#[doc(alias = "/cgi-bin/gettoken")]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GettokenRequest {
    /// Corp id (`ww…`, old corps `wx…`).
    pub corpid: String,
    /// Secret of the app that calls the Kf API. Never logged.
    pub corpsecret: String,
}

impl GettokenRequest {
    /// A token request for `corpid` with the app secret `corpsecret`.
    pub fn new(corpid: impl Into<String>, corpsecret: impl Into<String>) -> Self {
        GettokenRequest { corpid: corpid.into(), corpsecret: corpsecret.into() }
    }
}

impl fmt::Debug for GettokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GettokenRequest")
            .field("corpid", &self.corpid)
            .field("corpsecret", &Redacted)
            .finish()
    }
}

/// Response of `gettoken` (kf-api.md §1): the token and its lifetime.
///
/// Cache the token until shortly before `expires_in` runs out, and fetch a new one on 40014/42001.
/// `Debug` hides `access_token`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GettokenResponse {
    /// The access token (up to 512 bytes). Never logged.
    #[serde(default)]
    pub access_token: String,
    /// Validity in seconds, normally 7200; WeCom may revoke the token earlier.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub expires_in: u64,
}

impl fmt::Debug for GettokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GettokenResponse")
            .field("access_token", &Redacted)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

// Kept for code written before the naming rule (`/cgi-bin/gettoken` → `Gettoken…`).
#[doc(hidden)]
pub use self::{GettokenRequest as GetTokenRequest, GettokenResponse as GetTokenResponse};
