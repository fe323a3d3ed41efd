//! Building a [`Client`](crate::Client): credentials, base URL, timeouts, retries, token store.
//!
//! The builder checks its settings and makes the client's parts ([`Inner`]);
//! [`ClientBuilder::build`] (in `client.rs`) wraps them in a `Client`, so this file does not
//! import the client.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::token::{CorpSecret, MemoryTokenStore, TokenKey, TokenManager, TokenStore};

/// WeCom's API host (kf-api.md §0).
pub const DEFAULT_BASE_URL: &str = "https://qyapi.weixin.qq.com";

/// Environment variable read by [`ClientBuilder::from_env`] for the corp id.
pub const ENV_CORP_ID: &str = "WXKF_CORP_ID";
/// Environment variable read by [`ClientBuilder::from_env`] for the app secret.
pub const ENV_APP_SECRET: &str = "WXKF_APP_SECRET";
/// Environment variable read by [`ClientBuilder::from_env`] for the base URL (optional).
pub const ENV_BASE_URL: &str = "WXKF_BASE_URL";

/// Largest API response body read by default: 16 MiB. The largest answers are `sync_msg` pages of at
/// most 1000 messages, a few MiB at worst.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// Largest media download read by default: 32 MiB per response. WeCom serves at most 20 MB in one
/// `media/get` (larger files are fetched in ranges, kf-api.md §11.2).
pub const DEFAULT_MAX_MEDIA_BYTES: u64 = 32 * 1024 * 1024;

/// Settings shared by every call of one client.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Base URL without a trailing slash, e.g. `https://qyapi.weixin.qq.com`.
    pub(crate) base_url: String,
    pub(crate) corp_id: String,
    pub(crate) secret: CorpSecret,
    /// Whole-request timeout applied to every request (also to a caller-supplied `reqwest::Client`).
    pub(crate) timeout: Option<Duration>,
    /// Timeout of media downloads and uploads (they can be large).
    pub(crate) media_timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    /// Largest API response body read (`None`: no limit).
    pub(crate) max_response_bytes: Option<u64>,
    /// Largest media download read, per response (`None`: no limit).
    pub(crate) max_media_bytes: Option<u64>,
}

/// Builds a [`Client`](crate::Client); start with [`Client::builder`](crate::Client::builder).
///
/// ```
/// use std::time::Duration;
/// use wxkf_client::{Client, RetryPolicy};
///
/// let client = Client::builder("ww0123456789abcdef", "app-secret")
///     .base_url("http://127.0.0.1:8080")
///     .timeout(Duration::from_secs(10))
///     .retry_policy(RetryPolicy::default().with_max_retries(2))
///     .build()?;
/// assert_eq!(client.corp_id(), "ww0123456789abcdef");
/// assert!(!format!("{client:?}").contains("app-secret"));
/// # Ok::<(), wxkf_client::Error>(())
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    corp_id: String,
    secret: CorpSecret,
    base_url: String,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    media_timeout: Option<Duration>,
    http: Option<reqwest::Client>,
    retry: RetryPolicy,
    store: Option<Arc<dyn TokenStore>>,
    refresh_margin: Duration,
    max_response_bytes: Option<u64>,
    max_media_bytes: Option<u64>,
    max_concurrent_requests: usize,
}

/// How many API requests a client has in flight at most by default (see
/// [`ClientBuilder::max_concurrent_requests`]).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 64;

impl ClientBuilder {
    /// A builder for the app identified by `corp_id` and its `secret` (kf-api.md §1).
    pub fn new(corp_id: impl Into<String>, secret: impl Into<CorpSecret>) -> Self {
        ClientBuilder {
            corp_id: corp_id.into(),
            secret: secret.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(10),
            media_timeout: Some(Duration::from_secs(300)),
            http: None,
            retry: RetryPolicy::default(),
            store: None,
            refresh_margin: Duration::from_secs(300),
            max_response_bytes: Some(DEFAULT_MAX_RESPONSE_BYTES),
            max_media_bytes: Some(DEFAULT_MAX_MEDIA_BYTES),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
        }
    }

    /// A builder from the environment: `WXKF_CORP_ID`, `WXKF_APP_SECRET` and, if set,
    /// `WXKF_BASE_URL` (for the simulator or a proxy).
    pub fn from_env() -> Result<Self, Error> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Error::invalid_argument(format!("environment variable {name} is not set")))
        };
        let mut builder = ClientBuilder::new(var(ENV_CORP_ID)?, CorpSecret::new(var(ENV_APP_SECRET)?));
        if let Ok(base) = var(ENV_BASE_URL) {
            builder = builder.base_url(base);
        }
        Ok(builder)
    }

    /// The API host, `https://qyapi.weixin.qq.com` by default. Point it at the simulator, a mock
    /// server or a proxy; a path prefix is kept (`http://proxy/wecom` → `http://proxy/wecom/cgi-bin/…`).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Whole-request timeout (default 30 s; `None` for no limit). Applied per request, so it also
    /// holds with a caller-supplied [`reqwest::Client`].
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// Connect timeout (default 10 s). Ignored with a caller-supplied [`reqwest::Client`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout of media uploads and downloads (default 300 s; `None` for no limit).
    pub fn media_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.media_timeout = timeout.into();
        self
    }

    /// Use this [`reqwest::Client`] (its connection pool, proxy and TLS settings) instead of building one.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// How failed calls are retried (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Where access tokens are cached (default: a fresh [`MemoryTokenStore`]).
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Refresh the token this long before it expires (default 300 s; capped at half the token's
    /// lifetime).
    pub fn token_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Largest API response body the client reads (default [`DEFAULT_MAX_RESPONSE_BYTES`]; `None`
    /// for no limit). A larger answer, announced by `Content-Length` or found while reading, fails
    /// the call with [`Error::ResponseTooLarge`] (not retried) instead of filling memory.
    pub fn max_response_bytes(mut self, limit: impl Into<Option<u64>>) -> Self {
        self.max_response_bytes = limit.into();
        self
    }

    /// Largest media download the client reads per response, whole or streamed (default
    /// [`DEFAULT_MAX_MEDIA_BYTES`]; `None` for no limit). A larger body fails with
    /// [`Error::ResponseTooLarge`]: before any byte when `Content-Length` announces it, else as the
    /// stream's last item once the limit is passed.
    pub fn max_media_bytes(mut self, limit: impl Into<Option<u64>>) -> Self {
        self.max_media_bytes = limit.into();
        self
    }

    /// At most `n` API requests of this client in flight at once (default
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`], 64; at least 1); the others wait their turn. A crowd
    /// of replies (thousands of handlers finishing together) then reuses the pool's keep-alive
    /// connections instead of opening (and, against WeCom, TLS-handshaking) one connection each.
    /// The request timeout counts from when a request goes out, not while it waits.
    ///
    /// ```
    /// let client = wxkf_client::Client::builder("ww0123456789abcdef", "app-secret")
    ///     .max_concurrent_requests(256)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), wxkf_client::Error>(())
    /// ```
    pub fn max_concurrent_requests(mut self, n: usize) -> Self {
        self.max_concurrent_requests = n.max(1);
        self
    }

    /// The client's parts from these settings: see [`ClientBuilder::build`] for the errors.
    pub(crate) fn into_inner(self) -> Result<Inner, Error> {
        if self.corp_id.trim().is_empty() {
            return Err(Error::invalid_argument("corp id is empty"));
        }
        if self.secret.expose_secret().trim().is_empty() {
            return Err(Error::invalid_argument("app secret is empty"));
        }
        let base_url = normalize_base_url(&self.base_url)?;
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .user_agent(concat!("wxkf-client/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(Error::transport)?,
        };
        let key = TokenKey::new(&self.corp_id, &self.secret);
        let in_flight = Arc::new(tokio::sync::Semaphore::new(self.max_concurrent_requests.max(1)));
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryTokenStore::new()));
        let tokens = TokenManager::new(key, &base_url, store, self.refresh_margin);
        let config = Config {
            base_url,
            corp_id: self.corp_id,
            secret: self.secret,
            timeout: self.timeout,
            media_timeout: self.media_timeout,
            retry: self.retry,
            max_response_bytes: self.max_response_bytes,
            max_media_bytes: self.max_media_bytes,
        };
        Ok(Inner { http, config, tokens, in_flight })
    }
}

/// What a built client holds: its HTTP client, its settings and its token manager.
pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) config: Config,
    pub(crate) tokens: TokenManager,
    // permits for the API requests in flight: a crowd of sends waits here and reuses the pool's
    // connections instead of opening one each
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
}

fn normalize_base_url(raw: &str) -> Result<String, Error> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| Error::invalid_argument(format!("base URL {trimmed:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::invalid_argument(format!("base URL {trimmed:?} must be http(s)://host[/prefix]")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid_argument(format!(
            "base URL {trimmed:?} must not have a query or fragment"
        )));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_checked_and_normalized() {
        assert_eq!(
            normalize_base_url("http://127.0.0.1:1234/").ok().as_deref(),
            Some("http://127.0.0.1:1234")
        );
        assert_eq!(normalize_base_url("https://proxy/wecom/").ok().as_deref(), Some("https://proxy/wecom"));
        assert!(normalize_base_url("ftp://x").is_err());
        assert!(normalize_base_url("not a url").is_err());
        assert!(normalize_base_url("http://x/?a=1").is_err());
    }

    #[test]
    fn empty_credentials_are_refused() {
        assert!(matches!(ClientBuilder::new("", "s").build(), Err(Error::InvalidArgument { .. })));
        assert!(matches!(ClientBuilder::new("ww1", "").build(), Err(Error::InvalidArgument { .. })));
    }
}
