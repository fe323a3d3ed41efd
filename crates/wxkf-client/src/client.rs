//! The [`Client`]: one generic [`Client::execute`] for every endpoint, the retry loop and the token
//! fetch behind it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use tracing::Instrument;
use tracing::field::Empty;
use wxkf_types::{Endpoint, RequestBody, ResponseBody};

use crate::config::{ClientBuilder, Inner};
use crate::error::{Error, chain};
use crate::retry::RetryState;
use crate::token::{AccessToken, CachedToken, CorpSecret, TokenKey};
use crate::transport::{self, Prepared};

/// Path of the token endpoint (kf-api.md §1).
pub(crate) const GETTOKEN_PATH: &str = "/cgi-bin/gettoken";

/// Lifetime assumed when `gettoken` omits or garbles `expires_in` (the documented usual value).
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(7200);

/// Longest `expires_in` believed: one day (WeCom documents 7200 s). A larger value, garbled or
/// hostile, is cut to this, so the token is refreshed at least daily and no time arithmetic overflows.
pub(crate) const MAX_EXPIRES_IN: Duration = Duration::from_secs(24 * 60 * 60);

/// Which failures [`Client::run`] may repeat a request after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryMode {
    /// Token errors (once) and transient failures: the request is safe to repeat.
    Full,
    /// Token errors only (WeCom rejected the call before doing anything).
    TokenOnly,
    /// Nothing: the request body cannot be sent twice (a caller's stream).
    Never,
}

/// A client of the WeChat Customer Service API for one app (corp id + app secret).
///
/// Cheap to clone (clones share the connection pool and the token cache) and `Send + Sync`.
/// Every endpoint goes through [`Client::execute`]; the named methods of the API areas are thin
/// wrappers around it.
///
/// ```
/// use wxkf_client::Client;
///
/// let client = Client::builder("ww0123456789abcdef", "app-secret").base_url("http://127.0.0.1:9").build()?;
/// let clone = client.clone();
/// assert_eq!(clone.base_url(), "http://127.0.0.1:9");
/// fn send_sync<T: Send + Sync>(_: &T) {}
/// send_sync(&client);
/// # Ok::<(), wxkf_client::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.inner.config;
        f.debug_struct("Client")
            .field("corp_id", &config.corp_id)
            .field("secret", &config.secret)
            .field("base_url", &config.base_url)
            .field("timeout", &config.timeout)
            .field("retry", &config.retry)
            .field("tokens", &self.inner.tokens)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct GetTokenBody {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: serde_json::Value,
}

impl ClientBuilder {
    /// Builds the client.
    ///
    /// Fails with [`Error::InvalidArgument`] on an empty corp id or secret or a base URL that is not
    /// `http(s)://…`, and with [`Error::Transport`] if the HTTP client cannot be built.
    pub fn build(self) -> Result<Client, Error> {
        Ok(Client::from_inner(self.into_inner()?))
    }
}

impl Client {
    /// A [`ClientBuilder`] for the app identified by `corp_id` and its `secret`.
    pub fn builder(corp_id: impl Into<String>, secret: impl Into<CorpSecret>) -> ClientBuilder {
        ClientBuilder::new(corp_id, secret)
    }

    /// A client with default settings against WeCom's own host.
    pub fn new(corp_id: impl Into<String>, secret: impl Into<CorpSecret>) -> Result<Self, Error> {
        ClientBuilder::new(corp_id, secret).build()
    }

    /// A client configured from `WXKF_CORP_ID`, `WXKF_APP_SECRET` and (optionally) `WXKF_BASE_URL`.
    pub fn from_env() -> Result<Self, Error> {
        ClientBuilder::from_env()?.build()
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Client { inner: Arc::new(inner) }
    }

    /// The corp id this client calls for.
    pub fn corp_id(&self) -> &str {
        &self.inner.config.corp_id
    }

    /// The base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.inner.config.base_url
    }

    /// The key under which this client's token is cached.
    pub fn token_key(&self) -> &TokenKey {
        self.inner.tokens.key()
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// A valid access token: the cached one, or a new one from `gettoken` (kf-api.md §1).
    ///
    /// Concurrent callers on a cold cache share one `gettoken` request; a token close to expiry is
    /// refreshed ahead by one caller while the others keep using it.
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        self.inner.tokens.current(|| self.fetch_token()).await
    }

    /// Fetches a new access token now, replacing the cached one. Concurrent forced refreshes share
    /// one `gettoken` request.
    pub async fn refresh_token(&self) -> Result<AccessToken, Error> {
        self.inner.tokens.refresh(|| self.fetch_token()).await
    }

    /// Calls any endpoint: serializes `req` (query or JSON body), adds the access token, reads
    /// `errcode` first and the typed response second.
    ///
    /// On a token error (40001, 40014, 42001) the failed token is dropped, a new one fetched and the
    /// call repeated once. Transient failures are retried per the [`RetryPolicy`](crate::RetryPolicy)
    /// only if the endpoint is [idempotent](Endpoint::IDEMPOTENT). Media upload and download have
    /// their own methods (they are not JSON) and are refused here with [`Error::InvalidArgument`].
    pub async fn execute<E: Endpoint>(&self, req: &E) -> Result<E::Response, Error> {
        self.execute_with(req, E::IDEMPOTENT).await
    }

    /// [`execute`](Self::execute) with an explicit "safe to repeat" (a send with a `msgid` is).
    pub(crate) async fn execute_with<E: Endpoint>(
        &self,
        req: &E,
        safe_to_repeat: bool,
    ) -> Result<E::Response, Error> {
        if E::REQUEST_BODY == RequestBody::Multipart || E::RESPONSE_BODY == ResponseBody::Raw {
            return Err(Error::invalid_argument(format!(
                "{} carries media, not JSON: use the client's media methods",
                E::PATH
            )));
        }
        let prepared = transport::prepare(req)?;
        let mode = if safe_to_repeat { RetryMode::Full } else { RetryMode::TokenOnly };
        self.run(E::PATH, mode, |token| self.send_json(&prepared, token)).await
    }

    /// A send (`send_msg`, `send_msg_on_event`) with the caller's or a generated `msgid`: retried
    /// like an idempotent call, and when a retry is refused as a duplicate `msgid` after an attempt
    /// whose answer was lost (timeout, reset, 5xx, -1, a garbled body), that attempt went through:
    /// the answer is success with `msgid`, not the refusal.
    pub(crate) async fn execute_send<E: Endpoint>(&self, req: &E, msgid: &str) -> Result<E::Response, Error> {
        let prepared = transport::prepare(req)?;
        // Set once an attempt failed in a way that leaves open whether WeCom took the message.
        let maybe_sent = AtomicBool::new(false);
        self.run(E::PATH, RetryMode::Full, |token| {
            let (prepared, maybe_sent) = (&prepared, &maybe_sent);
            async move {
                let err = match self.send_json(prepared, token).await {
                    Ok(response) => return Ok(response),
                    Err(err) => err,
                };
                if err.is_duplicate_msgid() && maybe_sent.load(Ordering::Relaxed) {
                    tracing::info!(
                        endpoint = E::PATH,
                        msgid,
                        "a retried send was refused as a duplicate msgid: the earlier attempt was accepted"
                    );
                    return serde_json::from_value(
                        serde_json::json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid }),
                    )
                    .map_err(|e| Error::Decode {
                        excerpt: format!("<duplicate msgid {msgid} taken as sent>"),
                        source: Some(Arc::new(e)),
                    });
                }
                if answer_may_be_lost(&err) {
                    maybe_sent.store(true, Ordering::Relaxed);
                }
                Err(err)
            }
        })
        .await
    }

    async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        prepared: &Prepared,
        token: AccessToken,
    ) -> Result<T, Error> {
        let inner = &self.inner;
        let url = transport::build_url(&inner.config.base_url, prepared.path, &prepared.query, Some(&token))?;
        let mut request = inner.http.request(prepared.method.clone(), url);
        if let Some(timeout) = inner.config.timeout {
            request = request.timeout(timeout);
        }
        if let Some(json) = &prepared.json {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(json.clone());
        }
        let permit = inner.in_flight.acquire().await.map_err(|_| Error::invalid_argument("client closed"))?;
        let response = transport::send(request).await?;
        let body = transport::read_body(response, inner.config.max_response_bytes, false).await?;
        drop(permit);
        transport::parse_response(&body)
    }

    /// The call loop shared by every endpoint: get a token, make one attempt, then (as `mode` allows)
    /// refresh-and-retry once on a token error, or back off and retry transient failures.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        endpoint: &'static str,
        mode: RetryMode,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let span =
            tracing::info_span!("wxkf.call", endpoint, errcode = Empty, retries = Empty, latency_ms = Empty);
        let started = Instant::now();
        let mut retry = RetryState::new(&self.inner.config.retry);
        let result = async {
            let mut token_retried = false;
            loop {
                let token = self.access_token().await?;
                let err = match attempt(token.clone()).await {
                    Ok(value) => return Ok(value),
                    Err(err) => err,
                };
                if let Some(code) = err.errcode() {
                    crate::telemetry::api_error(endpoint, code);
                }
                if mode == RetryMode::Never {
                    return Err(err);
                }
                if err.is_token_error() && !token_retried {
                    token_retried = true;
                    tracing::debug!(errcode = err.errcode(), "access token rejected; refreshing it and retrying once");
                    self.inner.tokens.invalidate(&token).await?;
                    continue;
                }
                if mode == RetryMode::Full && let Some(delay) = retry.next_delay(&err) {
                    tracing::debug!(error = %chain(&err), delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), retry = retry.retries(), "retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
                return Err(err);
            }
        }
        .instrument(span.clone())
        .await;
        span.record("retries", retry.retries());
        span.record("latency_ms", u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        match &result {
            Ok(_) => {
                span.record("errcode", 0);
            }
            Err(err) => {
                if let Some(code) = err.errcode() {
                    span.record("errcode", code);
                }
                span.in_scope(|| tracing::debug!(error = %chain(err), "call failed"));
            }
        }
        result
    }

    /// One `gettoken` (kf-api.md §1), retried on transient failures. The secret is in the URL, so no
    /// URL is ever logged or kept in an error, and the body is never excerpted.
    async fn fetch_token(&self) -> Result<CachedToken, Error> {
        let span = tracing::info_span!("wxkf.gettoken", corp_id = %self.inner.config.corp_id, errcode = Empty, latency_ms = Empty);
        let started = Instant::now();
        let result = async {
            let mut retry = RetryState::new(&self.inner.config.retry);
            loop {
                let err = match self.fetch_token_once().await {
                    Ok(token) => return Ok(token),
                    Err(err) => err,
                };
                if let Some(code) = err.errcode() {
                    crate::telemetry::api_error(GETTOKEN_PATH, code);
                }
                match retry.next_delay(&err) {
                    Some(delay) => {
                        tracing::debug!(error = %chain(&err), delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), "retrying gettoken");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(err),
                }
            }
        }
        .instrument(span.clone())
        .await;
        span.record("latency_ms", u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        span.record("errcode", result.as_ref().err().and_then(Error::errcode).unwrap_or(0));
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!(crate::telemetry::TOKEN_FETCHES, "outcome" => outcome).increment(1);
        result
    }

    async fn fetch_token_once(&self) -> Result<CachedToken, Error> {
        let inner = &self.inner;
        let query = [
            ("corpid".to_owned(), inner.config.corp_id.clone()),
            ("corpsecret".to_owned(), inner.config.secret.expose_secret().to_owned()),
        ];
        let url = transport::build_url(&inner.config.base_url, GETTOKEN_PATH, &query, None)?;
        let mut request = inner.http.get(url);
        if let Some(timeout) = inner.config.timeout {
            request = request.timeout(timeout);
        }
        let obtained_at = SystemTime::now();
        let response = transport::send(request).await?;
        let body = transport::read_body(response, inner.config.max_response_bytes, false).await?;
        parse_token(&body, obtained_at)
    }
}

/// Whether a failed attempt may nonetheless have been carried out by WeCom: its answer was lost
/// (transport error, timeout, HTTP 5xx, a body that is not the answer) or WeCom said it was busy
/// (-1, 6000), which does not promise that nothing happened. Token errors, throttles and other
/// refusals come before anything is done.
fn answer_may_be_lost(err: &Error) -> bool {
    match err {
        Error::Transport { .. } | Error::Decode { .. } => true,
        Error::Http { status } => *status >= 500,
        Error::Api { errcode, .. } => crate::error::is_transient_code(*errcode),
        _ => false,
    }
}

/// Parses a `gettoken` body. Decode errors never quote the body (it carries the token).
fn parse_token(body: &[u8], obtained_at: SystemTime) -> Result<CachedToken, Error> {
    let withheld = || Error::Decode { excerpt: "<gettoken body withheld>".to_owned(), source: None };
    let status: wxkf_types::ApiStatus = serde_json::from_slice(body).map_err(|_| withheld())?;
    if !status.is_ok() {
        return Err(Error::api(status.errcode, status.errmsg));
    }
    let parsed: GetTokenBody = serde_json::from_slice(body).map_err(|_| withheld())?;
    if parsed.access_token.is_empty() {
        return Err(Error::Decode {
            excerpt: "<gettoken returned no access_token>".to_owned(),
            source: None,
        });
    }
    let expires_in = match &parsed.expires_in {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|secs| *secs > 0)
    .map_or(DEFAULT_EXPIRES_IN, |secs| Duration::from_secs(secs).min(MAX_EXPIRES_IN));
    Ok(CachedToken::new(AccessToken::new(parsed.access_token), obtained_at, expires_in))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn token_body_parses_leniently_and_never_leaks() {
        let now = SystemTime::UNIX_EPOCH;
        let t = parse_token(br#"{"errcode":0,"errmsg":"ok","access_token":"tok","expires_in":"60"}"#, now)
            .unwrap();
        assert_eq!(t.token.expose_secret(), "tok");
        assert_eq!(t.expires_at, now + Duration::from_secs(60));
        let t = parse_token(br#"{"access_token":"tok"}"#, now).unwrap();
        assert_eq!(t.expires_at, now + DEFAULT_EXPIRES_IN);
        let err = parse_token(br#"{"errcode":0,"access_token":123456789}"#, now).unwrap_err();
        assert!(!format!("{err:?} {err}").contains("123456789"));
        let err = parse_token(br#"{"errcode":40001,"errmsg":"invalid secret"}"#, now).unwrap_err();
        assert_eq!(err.errcode(), Some(40001));
    }

    #[test]
    fn huge_expires_in_is_clamped_to_a_day_without_overflow() {
        let now = SystemTime::now();
        for huge in [
            format!("{}", u64::MAX),
            format!("\"{}\"", u64::MAX),
            "18446744073709551615000".to_owned(), // past u64: not a usable number, the default applies
            "1e300".to_owned(),
        ] {
            let body = format!(r#"{{"errcode":0,"access_token":"tok","expires_in":{huge}}}"#);
            let t = parse_token(body.as_bytes(), now).unwrap();
            let lifetime = t.expires_at.duration_since(now).unwrap();
            assert!(lifetime == MAX_EXPIRES_IN || lifetime == DEFAULT_EXPIRES_IN, "{huge}: {lifetime:?}");
        }
        let body = format!(r#"{{"errcode":0,"access_token":"tok","expires_in":{}}}"#, u64::MAX);
        let t = parse_token(body.as_bytes(), now).unwrap();
        assert_eq!(t.expires_at, now + MAX_EXPIRES_IN);
        let t = parse_token(br#"{"errcode":0,"access_token":"tok","expires_in":-5}"#, now).unwrap();
        assert_eq!(t.expires_at, now + DEFAULT_EXPIRES_IN);
    }
}
