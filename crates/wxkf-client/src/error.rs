//! The one error type of the client, and how each error is classified (retry? refresh the token?).
//!
//! Secrets never reach an error: transport errors are stripped of their URL (it carries
//! `access_token`, and for `gettoken` the corp secret), and a `gettoken` body is never excerpted.
//!
//! An [`Error`]'s `Display` says this error's own words (for API errors: the errcode, WeCom's errmsg
//! without its `from ip` tail, and what to do); the causes below it are in the `source()` chain. Log
//! an error with [`chain`], which writes the whole chain on one line:
//!
//! ```
//! use wxkf_client::error::{Error, chain};
//!
//! let err = Error::api(95018, "send msg session status invalid, hint: [1], from ip: 1.2.3.4");
//! let line = chain(&err).to_string();
//! assert!(line.starts_with("WeCom API error 95018 (send msg session status invalid)"));
//! assert!(!line.contains("from ip"));
//! ```

use std::fmt;
use std::sync::Arc;

use wxkf_types::errcode::{self, Category};
use wxkf_types::service_state::ServiceState;

use crate::store_error::TokenStoreError;

/// Everything that can go wrong when calling WeCom.
///
/// `Display` says what went wrong and, for API errors, what to do next (the hint of the error-code
/// table, errcodes.md); the `source()` chain carries the rest ([`chain`] prints all of it).
///
/// Cheap to clone (causes are behind `Arc`s), so that one outcome can be handed to many callers:
/// concurrent calls that share one failed `gettoken` each get a clone of its error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// WeCom answered with a non-zero `errcode` (errcodes.md).
    #[error("WeCom API error {errcode} ({}){}", errcode::strip_errmsg_suffix(errmsg), HintSuffix(*hint))]
    Api {
        /// The numeric code; decide on this, never on `errmsg`.
        errcode: i64,
        /// WeCom's free text (diagnostic only).
        errmsg: String,
        /// What to do about it, from the error-code table, when the code is known.
        hint: Option<&'static str>,
    },
    /// The HTTP exchange did not complete: connection refused or reset, timeout, broken body.
    /// The URL has been removed from the source error (it carries the access token).
    #[error("HTTP request to WeCom failed{}", if *timeout { " (timed out)" } else { "" })]
    Transport {
        /// The underlying error, without its URL.
        #[source]
        source: Arc<reqwest::Error>,
        /// Whether the request timed out.
        timeout: bool,
    },
    /// WeCom (or a proxy in front of it) answered with an HTTP status other than 2xx.
    /// WeCom itself reports API errors with HTTP 200 and an `errcode`.
    #[error("WeCom answered with HTTP status {status}")]
    Http {
        /// The HTTP status code.
        status: u16,
    },
    /// The response body was not what the endpoint promises.
    #[error("could not decode WeCom's response (body starts with: {excerpt})")]
    Decode {
        /// The beginning of the body, cut at a character boundary (withheld for `gettoken`, whose
        /// body carries the token).
        excerpt: String,
        /// The JSON error, when there is one worth showing.
        #[source]
        source: Option<Arc<serde_json::Error>>,
    },
    /// The request was refused before it was sent: a value breaks a documented limit or the
    /// builder was given something unusable.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What is wrong and what is allowed.
        message: String,
    },
    /// `send_msg` would fail with 95018: the session is not in a state the API may send in (new or
    /// bot; kf-api.md §4.0). Found by the session-state check before sending.
    #[error(
        "the session is in service state {} ({state:?}), where the API cannot send (only new and bot sessions accept send_msg): check service_state/get, move it with service_state/trans",
        u32::from(*state)
    )]
    SessionNotSendable {
        /// The state `service_state/get` reported.
        state: ServiceState,
        /// The servicer handling it, when a human is.
        servicer_userid: Option<String>,
    },
    /// Reading or writing a local file or stream failed (media upload from a file, download to a writer).
    #[error("local I/O failed")]
    Io {
        /// The I/O error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A response body (or media download) is larger than the configured limit, so reading stopped
    /// there ([`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes),
    /// [`ClientBuilder::max_media_bytes`](crate::ClientBuilder::max_media_bytes)).
    #[error(
        "{} is larger than the client's limit of {limit} bytes: {}",
        if *media { "the media download" } else { "WeCom's response" },
        if *media {
            "raise ClientBuilder::max_media_bytes, or download in ranges (media().get_range / open_range)"
        } else {
            "raise ClientBuilder::max_response_bytes if such large answers are expected"
        }
    )]
    ResponseTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: u64,
        /// Whether it was a media download (else an API response).
        media: bool,
    },
    /// The access-token store failed (for example a shared cache was unreachable).
    #[error("access-token store failed")]
    TokenStore {
        /// The store's own error.
        #[source]
        source: TokenStoreError,
    },
}

struct HintSuffix(Option<&'static str>);

impl fmt::Display for HintSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(hint) => write!(f, ": {hint}"),
            None => Ok(()),
        }
    }
}

/// Codes after which the access token is dropped, refreshed once and the call retried once
/// (40014, 42001, and 40001 as the issue asks: a reset secret's token; the retry is bounded to one, so
/// a wrong secret cannot loop, and `gettoken` itself is never retried on it).
pub(crate) fn is_token_error(code: i64) -> bool {
    errcode::is_token_error(code)
}

/// Codes that are transient on WeCom's side ("retry-later": -1, 6000; 45033 is a throttle, below).
pub(crate) fn is_transient_code(code: i64) -> bool {
    errcode::should_retry(code) && !is_throttle_code(code)
}

/// Frequency and concurrency limits (45009, 45033): retried with a harder, bounded backoff.
///
/// errcodes.md files 45009 under "quota"; the issue asks for a hard, bounded backoff on it all the
/// same. [`RetryPolicy::with_throttle`](crate::RetryPolicy::with_throttle) with 0 retries turns that off.
pub(crate) fn is_throttle_code(code: i64) -> bool {
    matches!(code, 45009 | 45033)
}

impl Error {
    /// An API error for `errcode`, with the hint of the error table.
    pub fn api(errcode: i64, errmsg: impl Into<String>) -> Self {
        Error::Api { errcode, errmsg: errmsg.into(), hint: errcode::hint(errcode) }
    }

    /// An invalid-argument error.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::InvalidArgument { message: message.into() }
    }

    /// A transport error; the URL (which carries the access token) is removed.
    pub(crate) fn transport(err: reqwest::Error) -> Self {
        let timeout = err.is_timeout();
        Error::Transport { source: Arc::new(err.without_url()), timeout }
    }

    /// A decode error with an excerpt of `body`.
    pub(crate) fn decode(body: &[u8], source: Option<serde_json::Error>) -> Self {
        Error::Decode { excerpt: excerpt(body), source: source.map(Arc::new) }
    }

    /// A local I/O error.
    pub(crate) fn io(source: std::io::Error) -> Self {
        Error::Io { source: Arc::new(source) }
    }

    /// The WeCom `errcode`, for API errors.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Error::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// WeCom's `errmsg` without its `", hint: [...], from ip: ..."` tail, for API errors (the raw text
    /// is in [`Error::Api::errmsg`](Error::Api)).
    pub fn errmsg(&self) -> Option<&str> {
        match self {
            Error::Api { errmsg, .. } => Some(errcode::strip_errmsg_suffix(errmsg)),
            _ => None,
        }
    }

    /// The hint of the error table, for API errors with a known code.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Api { hint, .. } => *hint,
            _ => None,
        }
    }

    /// Whether the same request may succeed later: transport errors, HTTP 5xx and 429, and the
    /// transient and frequency errcodes (-1, 6000, 45009, 45033).
    ///
    /// The client already retries these for requests that are safe to repeat, within its
    /// [`RetryPolicy`](crate::RetryPolicy); quota errors (95001, 95002, …) are not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Http { status } => *status >= 500 || *status == 429,
            Error::Api { errcode, .. } => is_transient_code(*errcode) || is_throttle_code(*errcode),
            _ => false,
        }
    }

    /// The category of an API error's code (unknown codes are caller bugs), from the error table.
    pub fn category(&self) -> Option<Category> {
        self.errcode().map(errcode::classify)
    }

    /// Whether an API error is a business limit or time window (95001 5-message quota, 95002 48 h
    /// window, 45009 frequency block, …): not worth retrying until the window reopens.
    pub fn is_quota(&self) -> bool {
        self.errcode().is_some_and(errcode::is_quota)
    }

    /// Whether the error says the access token was invalid or expired, or its secret wrong (40001,
    /// 40014, 42001; see `wxkf_types::errcode::is_token_error`).
    pub fn is_token_error(&self) -> bool {
        self.errcode().is_some_and(is_token_error)
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Transport { timeout: true, .. })
    }

    /// Whether repeating the same request can never succeed, so a caller (a bot runtime) should give
    /// up on it instead of retrying later: API errors whose code errcodes.md files under caller-bug
    /// (including unknown codes and session-state codes such as 95013 and 95018), permission or quota
    /// (95001, 95002, …), except the codes the client retries (45009); and requests
    /// the client refused itself ([`InvalidArgument`](Error::InvalidArgument),
    /// [`SessionNotSendable`](Error::SessionNotSendable),
    /// [`ResponseTooLarge`](Error::ResponseTooLarge)), and HTTP 4xx other than 429.
    ///
    /// Everything else (transport errors, HTTP 5xx and 429, -1, 45009, 45033, 40014 and 42001, an
    /// undecodable body, a failing token store or local I/O) may succeed later: retry later.
    /// [`is_retryable`](Self::is_retryable) and `is_permanent` are never both true.
    ///
    /// ```
    /// use wxkf_client::Error;
    /// assert!(Error::api(95001, "quota").is_permanent()); // wait for the customer
    /// assert!(Error::api(95018, "session status invalid").is_permanent());
    /// assert!(!Error::api(-1, "system busy").is_permanent());
    /// assert!(!Error::api(45009, "freq limit").is_permanent()); // the block lifts
    /// assert!(!Error::api(42001, "token expired").is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        match self {
            // 40001 (wrong secret) is a caller bug here: the client has already refreshed once.
            Error::Api { errcode, .. } => {
                !self.is_retryable()
                    && matches!(
                        errcode::classify(*errcode),
                        Category::CallerBug | Category::Permission | Category::Quota
                    )
            }
            Error::Http { status } => (400..500).contains(status) && *status != 429,
            Error::InvalidArgument { .. }
            | Error::SessionNotSendable { .. }
            | Error::ResponseTooLarge { .. } => true,
            Error::Transport { .. } | Error::Decode { .. } | Error::Io { .. } | Error::TokenStore { .. } => {
                false
            }
        }
    }

    /// Whether WeCom refused a `send_msg` / `send_msg_on_event` because its `msgid` was used before
    /// ([`wxkf_types::errcode::is_duplicate_msgid`]): a message with this `msgid` was already
    /// accepted. The client turns this answer into success by itself when it comes to a retry of
    /// the same call; you see it when the *first* attempt of a call meets a `msgid` used by an
    /// earlier call (yours, for example after a restart).
    pub fn is_duplicate_msgid(&self) -> bool {
        matches!(self, Error::Api { errcode, errmsg, .. } if errcode::is_duplicate_msgid(*errcode, errmsg))
    }
}

/// Writes an error and its whole `source()` chain on one line, `outer: cause: root cause`; see
/// [`chain`].
#[derive(Clone, Copy)]
pub struct Chain<'a>(&'a (dyn std::error::Error + 'a));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Renders `err` with every cause in its `source()` chain, for log lines and messages to users:
/// `tracing::warn!(error = %chain(&err), "…")`. Works for any error (the bot runtime's too).
///
/// Nothing secret is added: each link prints its own `Display`, and the client's errors hold no
/// token, secret or URL.
///
/// ```
/// use wxkf_client::error::chain;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("handler gave up")]
/// struct GaveUp(#[source] wxkf_client::Error);
///
/// let err = GaveUp(wxkf_client::Error::api(95001, "send msg count limit"));
/// let line = chain(&err).to_string();
/// assert!(line.starts_with("handler gave up: WeCom API error 95001 (send msg count limit)"), "{line}");
/// ```
pub fn chain<'a>(err: &'a (dyn std::error::Error + 'a)) -> Chain<'a> {
    Chain(err)
}

const EXCERPT_BYTES: usize = 200;

/// The first [`EXCERPT_BYTES`] of a body as text, cut at a character boundary.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.len() <= EXCERPT_BYTES {
        return text.into_owned();
    }
    let mut end = EXCERPT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_display_carries_hint() {
        let e = Error::api(95018, "send msg session status invalid");
        let s = e.to_string();
        assert!(s.contains("95018"), "{s}");
        assert!(s.contains("service_state/trans"), "{s}");
        let with_tail = Error::api(95018, "send msg session status invalid, hint: [1], from ip: 1.2.3.4");
        assert!(!with_tail.to_string().contains("from ip"), "{with_tail}");
        assert_eq!(e.category(), Some(Category::CallerBug));
        assert!(Error::api(95001, "quota").is_quota());
        assert_eq!(e.errcode(), Some(95018));
        assert!(!e.is_retryable());
        assert!(Error::api(-1, "busy").is_retryable());
        assert!(Error::api(42001, "expired").is_token_error());
        assert!(!Error::api(95001, "quota").is_retryable());
    }

    #[test]
    fn errors_and_clients_cross_threads() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<Error>();
        send_sync::<crate::Client>();
    }

    #[test]
    fn excerpt_cuts_at_char_boundary() {
        let body = "好".repeat(100); // 300 bytes
        let e = excerpt(body.as_bytes());
        assert!(e.ends_with('…'));
        assert!(e.len() <= EXCERPT_BYTES + '…'.len_utf8());
        assert_eq!(excerpt(b"short"), "short");
    }
}
