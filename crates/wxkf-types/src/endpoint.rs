//! What every Kf endpoint has in common: its HTTP method and path, how its request travels, and the
//! `errcode`/`errmsg` pair every response carries.
//!
//! Each request type implements [`Endpoint`], so an HTTP client needs one generic "execute" function
//! plus thin named methods, and the completeness test can walk [`crate::ENDPOINTS`]. The impls are
//! not written by hand: they are expanded from the one table, [`kf_endpoints!`](crate::kf_endpoints).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// HTTP method of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET`: the request is sent as URL query parameters.
    Get,
    /// `POST`: the request is sent as a body (JSON, or multipart for media upload).
    Post,
}

impl Method {
    /// `"GET"` or `"POST"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// How the request value travels to WeCom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestBody {
    /// Serialized as URL query parameters (GET endpoints); `access_token` is added by the client.
    Query,
    /// Serialized as a UTF-8 JSON body (POST endpoints); `access_token` goes in the query.
    Json,
    /// The request value goes in the query, the file as a `multipart/form-data` part named `media`.
    Multipart,
}

/// How the response travels back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseBody {
    /// A JSON object with `errcode`, `errmsg` and the response fields.
    Json,
    /// Raw bytes on success (media download); a JSON error object on failure.
    Raw,
}

/// A Kf API endpoint: implemented by its request type.
///
/// ```
/// use wxkf_types::{Endpoint, Method};
/// use wxkf_types::account::AccountDelRequest;
///
/// assert_eq!(AccountDelRequest::PATH, "/cgi-bin/kf/account/del");
/// assert_eq!(AccountDelRequest::METHOD, Method::Post);
/// ```
pub trait Endpoint: Serialize {
    /// The response type (without `errcode`/`errmsg`, which [`ApiStatus`] carries).
    type Response: DeserializeOwned;
    /// HTTP method.
    const METHOD: Method;
    /// Path below the API host, starting with `/cgi-bin/`.
    const PATH: &'static str;
    /// How the request is sent.
    const REQUEST_BODY: RequestBody;
    /// How the response comes back.
    const RESPONSE_BODY: ResponseBody = ResponseBody::Json;
    /// Whether sending the same request twice is harmless (the client retries only these, and
    /// `send_msg`-like requests once they carry a `msgid`).
    const IDEMPOTENT: bool;
}

/// Static description of one endpoint, as listed in [`crate::ENDPOINTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointMeta {
    /// HTTP method.
    pub method: Method,
    /// Path below the API host.
    pub path: &'static str,
    /// The module of this crate that holds the request and response types: the path's area
    /// (`account`, `customer`, …), `kf` for `/cgi-bin/kf/<name>` paths without one.
    pub module: &'static str,
    /// Rust name of the request type.
    pub request: &'static str,
    /// Rust name of the response type.
    pub response: &'static str,
    /// Fixture stem below `tests/fixtures/` (e.g. `account/add`: `account/add.request.json` and
    /// `account/add.response.json`).
    pub fixture: &'static str,
    /// How the request is sent.
    pub request_body: RequestBody,
    /// How the response comes back.
    pub response_body: ResponseBody,
    /// Whether a retry is harmless.
    pub idempotent: bool,
    /// The `wxkf-client` method that calls it, as `handle().method` (`"account().add"`, called as
    /// `client.account().add(request)`).
    pub client_method: &'static str,
}

/// The `errcode`/`errmsg` pair of every response.
///
/// ```
/// let status: wxkf_types::ApiStatus =
///     serde_json::from_str(r#"{"errcode":95018,"errmsg":"send msg session status invalid"}"#).unwrap();
/// assert!(!status.is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiStatus {
    /// 0 on success; see [`crate::errcode`].
    #[serde(default)]
    pub errcode: i64,
    /// Free text; decide on `errcode`, never on this.
    #[serde(default)]
    pub errmsg: String,
}

impl ApiStatus {
    /// A status with the given code and message.
    pub fn new(errcode: i64, errmsg: impl Into<String>) -> Self {
        ApiStatus { errcode, errmsg: errmsg.into() }
    }

    /// `errcode == 0`.
    pub fn is_ok(&self) -> bool {
        self.errcode == 0
    }
}

/// A whole response body: the status and the endpoint's own fields side by side, as WeCom sends it.
///
/// Clients usually read [`ApiStatus`] first and the typed response only on success; this wrapper is
/// for round-tripping complete bodies (fixtures, simulators).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiResponse<T> {
    /// `errcode` and `errmsg`.
    #[serde(flatten)]
    pub status: ApiStatus,
    /// The endpoint's fields.
    #[serde(flatten)]
    pub body: T,
}

impl<T> ApiResponse<T> {
    /// A successful response (`errcode` 0, `errmsg` "ok") around `body`.
    pub fn ok(body: T) -> Self {
        ApiResponse { status: ApiStatus::new(0, "ok"), body }
    }
}

/// The response of endpoints that return only `errcode`/`errmsg`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmptyResponse {}
