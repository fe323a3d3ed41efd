//! The callback route: URL verification (GET) and event delivery (POST).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::{debug, warn};
use wxkf_bot::{Bot, Dispatch};
use wxkf_crypto::{CallbackCrypto, CallbackQuery};
use wxkf_types::callback::CallbackEvent;

/// The path [`CallbackConfig`] uses unless told otherwise.
pub const DEFAULT_PATH: &str = "/wxkf/callback";
/// Largest POST body accepted by default (64 KiB; Kf callbacks are well under 1 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// How many rejected callbacks are logged per [`DEFAULT_REJECTION_LOG_INTERVAL`] by default.
pub const DEFAULT_REJECTION_LOG_LINES: u32 = 5;
/// The interval over which [`DEFAULT_REJECTION_LOG_LINES`] rejections are logged by default.
pub const DEFAULT_REJECTION_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// How the callback route verifies and where it listens.
#[derive(Debug, Clone)]
pub struct CallbackConfig {
    crypto: Arc<CallbackCrypto>,
    path: String,
    body_limit: usize,
    replay_window: Option<Duration>,
    rejection_log_lines: u32,
    rejection_log_interval: Duration,
}

impl CallbackConfig {
    /// Verifies with `crypto` (Token, EncodingAESKey and your CorpID as receive id), at
    /// [`DEFAULT_PATH`], with [`DEFAULT_BODY_LIMIT`] and no replay window.
    pub fn new(crypto: CallbackCrypto) -> Self {
        CallbackConfig {
            crypto: Arc::new(crypto),
            path: DEFAULT_PATH.to_owned(),
            body_limit: DEFAULT_BODY_LIMIT,
            replay_window: None,
            rejection_log_lines: DEFAULT_REJECTION_LOG_LINES,
            rejection_log_interval: DEFAULT_REJECTION_LOG_INTERVAL,
        }
    }

    /// Listens at `path` (must start with `/`).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Rejects POST bodies over `limit` bytes with 413.
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// Rejects callbacks whose `timestamp` is more than `window` away from now (a captured
    /// callback replayed later). WeCom retries within about 20 seconds; a few minutes is a
    /// safe window.
    pub fn with_replay_window(mut self, window: Duration) -> Self {
        self.replay_window = Some(window);
        self
    }

    /// Logs at most `lines` rejected callbacks (bad signature, wrong receive id, bad body, stale
    /// timestamp, …) per `interval` at `warn`, so a flood of bad requests cannot flood the log; the
    /// rest are counted, and the first request after the interval logs one line with that count
    /// (`suppressed=N`). Default: [`DEFAULT_REJECTION_LOG_LINES`] per
    /// [`DEFAULT_REJECTION_LOG_INTERVAL`]. Every rejection still gets its 4xx.
    pub fn with_rejection_log(mut self, lines: u32, interval: Duration) -> Self {
        self.rejection_log_lines = lines;
        self.rejection_log_interval = interval;
        self
    }

    /// The route's path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// One verified, decrypted callback.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Callback {
    /// The parsed event: `kf_msg_or_event`, `kf_account_auth_change`, or any other event or
    /// message that arrives on the same URL as [`CallbackEvent::Other`].
    pub event: CallbackEvent,
    /// The decrypted plaintext exactly as WeCom sent it (XML or JSON).
    pub plaintext: String,
    /// The query's `timestamp`, as sent.
    pub timestamp: String,
}

/// Receives verified callbacks. Called on the request's task before `success` is answered:
/// hand the callback on (channel, `tokio::spawn`, [`Bot::dispatch`]) and return at once.
pub trait CallbackHandler: Send + Sync + 'static {
    /// Takes one callback.
    fn handle(&self, callback: Callback);
}

impl<F: Fn(Callback) + Send + Sync + 'static> CallbackHandler for F {
    fn handle(&self, callback: Callback) {
        self(callback)
    }
}

/// What to do with one rejection's log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    /// Rejections left unlogged in the interval that just ended (report them first).
    ended_with_suppressed: Option<u64>,
    /// Whether this rejection is logged.
    log: bool,
}

/// The rate limit of the rejection log: fixed windows of `interval`, `lines` lines each.
#[derive(Debug)]
struct RejectionLog {
    lines: u32,
    interval: Duration,
    window: Mutex<Window>,
    // lets an accepted callback skip the lock unless a count waits to be reported
    pending: AtomicBool,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

impl RejectionLog {
    fn new(lines: u32, interval: Duration, now: Instant) -> Self {
        RejectionLog {
            lines,
            interval,
            window: Mutex::new(Window { started: now, logged: 0, suppressed: 0 }),
            pending: AtomicBool::new(false),
        }
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // every update leaves the window consistent, so a poisoned lock is still usable
        self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes the window if `interval` has passed; returns what it suppressed, if anything.
    fn roll(&self, window: &mut Window, now: Instant) -> Option<u64> {
        if now.saturating_duration_since(window.started) < self.interval {
            return None;
        }
        let suppressed = window.suppressed;
        *window = Window { started: now, logged: 0, suppressed: 0 };
        self.pending.store(false, Ordering::Relaxed);
        (suppressed > 0).then_some(suppressed)
    }

    /// Counts one rejection at `now`.
    fn rejected(&self, now: Instant) -> Verdict {
        let mut window = self.window();
        let ended_with_suppressed = self.roll(&mut window, now);
        let log = window.logged < self.lines;
        if log {
            window.logged += 1;
        } else {
            window.suppressed = window.suppressed.saturating_add(1);
            self.pending.store(true, Ordering::Relaxed);
        }
        Verdict { ended_with_suppressed, log }
    }

    /// An accepted request at `now`: reports a finished window's count, if one waits.
    fn accepted(&self, now: Instant) -> Option<u64> {
        if !self.pending.load(Ordering::Relaxed) {
            return None;
        }
        self.roll(&mut self.window(), now)
    }
}

fn log_suppressed(count: u64, interval: Duration) {
    warn!(
        suppressed = count,
        interval_secs = interval.as_secs(),
        "callback rejections not logged in the last interval"
    );
}

struct Shared {
    config: CallbackConfig,
    rejections: RejectionLog,
    handler: Box<dyn CallbackHandler>,
    // with a bot, `kf_msg_or_event` is recorded (in the shared store, with a coordinator) before
    // `success` is answered
    bot: Option<Bot>,
    // false while the receiver shuts down: POSTs then get 503 so WeCom delivers them again later
    accepting: Box<dyn Fn() -> bool + Send + Sync>,
}

/// The callback route for `config.path()`, handing every verified callback to `handler`.
/// Generic over the state `S` so that it merges into your own `Router<S>`.
pub fn callback_router<S>(config: CallbackConfig, handler: impl CallbackHandler) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router(config, Box::new(handler), None, Box::new(|| true))
}

fn router<S>(
    config: CallbackConfig,
    handler: Box<dyn CallbackHandler>,
    bot: Option<Bot>,
    accepting: Box<dyn Fn() -> bool + Send + Sync>,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let path = config.path.clone();
    let rejections =
        RejectionLog::new(config.rejection_log_lines, config.rejection_log_interval, Instant::now());
    let shared = Arc::new(Shared { config, rejections, handler, bot, accepting });
    Router::new().route(&path, get(verify_url).post(receive)).with_state(shared)
}

/// The callback route wired to `bot`: `kf_msg_or_event` starts a pull; other events are logged
/// at debug level and dropped (see [`bot_router_with`] to receive them). A bot with a
/// coordinator (several instances) records the callback in the shared store before answering
/// `success` ([`Bot::dispatch_recorded`]); if the store does not answer, this instance pulls
/// itself, retrying until it does, and still answers `success`.
///
/// WeCom delivers a callback again only after a connection failure or a timeout, never after an
/// HTTP error status (kf-api.md §12). So once the bot shuts down, POSTs get 503 and are *not*
/// delivered again: their messages are pulled by the bot's start-up pull of every known account
/// when it starts again, or by another instance's reconcile pull
/// ([`BotConfig::reconcile_interval`](wxkf_bot::BotConfig::reconcile_interval)).
pub fn bot_router<S>(config: CallbackConfig, bot: Bot) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    bot_router_with(config, bot, |cb: Callback| {
        debug!(event = ?event_name(&cb.event), "callback not for the bot: dropped");
    })
}

/// The callback route wired to `bot`, with every callback that is not a `kf_msg_or_event`
/// (e.g. `kf_account_auth_change`, or other WeCom events on the same URL) given to `others`.
pub fn bot_router_with<S>(config: CallbackConfig, bot: Bot, others: impl CallbackHandler) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let probe = bot.clone();
    // kf_msg_or_event is taken by `receive` (awaiting the bot's record); the rest goes here
    let handler = move |cb: Callback| others.handle(cb);
    router(config, Box::new(handler), Some(bot), Box::new(move || !probe.is_shutting_down()))
}

fn event_name(event: &CallbackEvent) -> String {
    match event {
        CallbackEvent::KfMsgOrEvent { .. } => "kf_msg_or_event".to_owned(),
        CallbackEvent::KfAccountAuthChange { .. } => "kf_account_auth_change".to_owned(),
        CallbackEvent::Other { msg_type, event, .. } => {
            format!("{msg_type}/{}", event.as_deref().unwrap_or(""))
        }
        _ => "unknown".to_owned(),
    }
}

/// A refused callback: the status and short reason the response carries, and the detail that
/// only the log gets (never a secret: crypto errors hold none).
struct Rejection {
    status: StatusCode,
    reason: &'static str,
    detail: String,
}

impl Shared {
    /// The response to `rejection`, after logging it: 4xx (what a stranger can send) within the
    /// rejection log's rate limit, 5xx (our own trouble) always.
    fn refuse(&self, rejection: Rejection) -> Response {
        let Rejection { status, reason, detail } = rejection;
        crate::telemetry::callback(crate::telemetry::rejection_result(reason));
        if status.is_server_error() {
            warn!(status = status.as_u16(), reason, detail = %detail, "callback refused");
        } else {
            let verdict = self.rejections.rejected(Instant::now());
            if let Some(count) = verdict.ended_with_suppressed {
                log_suppressed(count, self.rejections.interval);
            }
            if verdict.log {
                warn!(status = status.as_u16(), reason, detail = %detail, "callback rejected");
            }
        }
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], reason).into_response()
    }

    fn answer(&self, result: Result<Response, Rejection>) -> Response {
        match result {
            Ok(response) => {
                if let Some(count) = self.rejections.accepted(Instant::now()) {
                    log_suppressed(count, self.rejections.interval);
                }
                response
            }
            Err(rejection) => self.refuse(rejection),
        }
    }
}

fn reject(status: StatusCode, reason: &'static str, detail: &dyn std::fmt::Display) -> Rejection {
    Rejection { status, reason, detail: detail.to_string() }
}

fn crypto_reject(e: &wxkf_crypto::Error) -> Rejection {
    use wxkf_crypto::Error as E;
    let (status, reason) = match e {
        E::MalformedSignature | E::SignatureMismatch => (StatusCode::UNAUTHORIZED, "bad signature"),
        E::ReceiveIdMismatch { .. } => (StatusCode::FORBIDDEN, "wrong receive id"),
        E::InvalidEnvelope { .. } => (StatusCode::BAD_REQUEST, "bad body"),
        _ => (StatusCode::BAD_REQUEST, "cannot decrypt"),
    };
    let detail = format!("{e} (code {}; {})", e.code(), e.hint());
    reject(status, reason, &detail)
}

struct Query {
    msg_signature: String,
    timestamp: String,
    nonce: String,
    echostr: Option<String>,
}

fn read_query(raw: Option<String>) -> Result<Query, Rejection> {
    let q = CallbackQuery::parse(raw.as_deref().unwrap_or(""));
    match (q.msg_signature, q.timestamp, q.nonce) {
        (Some(msg_signature), Some(timestamp), Some(nonce)) => {
            Ok(Query { msg_signature, timestamp, nonce, echostr: q.echostr })
        }
        _ => Err(reject(
            StatusCode::BAD_REQUEST,
            "missing msg_signature, timestamp or nonce",
            &"query lacks a parameter",
        )),
    }
}

fn check_replay(config: &CallbackConfig, timestamp: &str) -> Result<(), Rejection> {
    let Some(window) = config.replay_window else { return Ok(()) };
    let Ok(ts) = timestamp.trim().parse::<u64>() else {
        return Err(reject(StatusCode::BAD_REQUEST, "bad timestamp", &"timestamp is not a number"));
    };
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if now.abs_diff(ts) > window.as_secs() {
        let detail = format!("timestamp {ts} is {}s from now", now.abs_diff(ts));
        return Err(reject(StatusCode::BAD_REQUEST, "stale timestamp", &detail));
    }
    Ok(())
}

fn plain(body: impl Into<Body>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

async fn verify_url(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let result = verify_url_inner(&shared, raw);
    if result.is_ok() {
        crate::telemetry::callback(&crate::telemetry::URL_VERIFIED);
    }
    shared.answer(result)
}

fn verify_url_inner(shared: &Shared, raw: Option<String>) -> Result<Response, Rejection> {
    let q = read_query(raw)?;
    let Some(echostr) = q.echostr else {
        return Err(reject(StatusCode::BAD_REQUEST, "missing echostr", &"URL verification without echostr"));
    };
    check_replay(&shared.config, &q.timestamp)?;
    match shared.config.crypto.verify_url(&q.msg_signature, &q.timestamp, &q.nonce, &echostr) {
        Ok(echo) => Ok(plain(echo)),
        Err(e) => Err(crypto_reject(&e)),
    }
}

async fn receive(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery, req: Request) -> Response {
    let result = receive_inner(&shared, raw, req).await;
    if result.is_ok() {
        crate::telemetry::callback(&crate::telemetry::ACCEPTED);
    }
    shared.answer(result)
}

async fn receive_inner(shared: &Shared, raw: Option<String>, req: Request) -> Result<Response, Rejection> {
    let q = read_query(raw)?;
    let body = match axum::body::to_bytes(req.into_body(), shared.config.body_limit).await {
        Ok(b) => b,
        Err(e) => {
            let too_large = e.into_inner().downcast_ref::<http_body_util::LengthLimitError>().is_some();
            return Err(if too_large {
                reject(StatusCode::PAYLOAD_TOO_LARGE, "body too large", &"over the body limit")
            } else {
                reject(StatusCode::BAD_REQUEST, "bad body", &"the body could not be read")
            });
        }
    };
    check_replay(&shared.config, &q.timestamp)?;
    let plaintext = shared
        .config
        .crypto
        .decrypt_message(&q.msg_signature, &q.timestamp, &q.nonce, &body)
        .map_err(|e| crypto_reject(&e))?;
    let event =
        CallbackEvent::parse(&plaintext).map_err(|e| reject(StatusCode::BAD_REQUEST, "bad event", &e))?;
    if !(shared.accepting)() {
        // WeCom does not deliver it again after an HTTP error: the start-up pull of the next
        // start, or another instance's reconcile pull, gets its messages
        return Err(reject(StatusCode::SERVICE_UNAVAILABLE, "shutting down", &"pulled at the next start"));
    }
    if let (Some(bot), CallbackEvent::KfMsgOrEvent { .. }) = (&shared.bot, &event) {
        match bot.dispatch_recorded(&event).await {
            Ok(Dispatch::ShuttingDown) => {
                return Err(reject(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting down",
                    &"pulled at the next start",
                ));
            }
            Ok(d) => debug!(dispatch = ?d, "kf_msg_or_event"),
            // not recorded in the shared store: WeCom would not deliver it again after an error
            // status, so this instance pulls it (retrying until the store answers)
            Err(e) => {
                warn!(error = %wxkf_bot::wxkf_client::error::chain(&e), "callback not recorded in the coordinator; pulling it from this instance");
                bot.dispatch(&event);
            }
        }
        return Ok(plain("success"));
    }
    shared.handler.handle(Callback { event, plaintext, timestamp: q.timestamp });
    Ok(plain("success"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: Verdict = Verdict { ended_with_suppressed: None, log: true };
    const QUIET: Verdict = Verdict { ended_with_suppressed: None, log: false };

    #[test]
    fn rejections_are_logged_up_to_the_limit_then_counted_and_reported_once() {
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        let log = RejectionLog::new(2, minute, t0);
        let at = |secs| t0 + Duration::from_secs(secs);
        let first: Vec<_> = (0..5).map(|i| log.rejected(at(i))).collect();
        assert_eq!(first, [LOG, LOG, QUIET, QUIET, QUIET]);
        // still inside the window: nothing to report on an accepted request
        assert_eq!(log.accepted(at(59)), None);
        // the next window opens with the count of the last one, and logs again
        assert_eq!(log.rejected(at(60)), Verdict { ended_with_suppressed: Some(3), log: true });
        assert_eq!(log.rejected(at(61)), LOG);
        assert_eq!(log.rejected(at(62)), QUIET);
        // an accepted request after the window reports the count instead, exactly once
        assert_eq!(log.accepted(at(125)), Some(1));
        assert_eq!(log.accepted(at(126)), None);
        assert_eq!(log.rejected(at(127)), LOG, "a window without suppressions reports nothing");
        assert_eq!(log.rejected(at(300)), LOG);
    }

    #[test]
    fn a_zero_line_log_counts_everything() {
        let t0 = Instant::now();
        let log = RejectionLog::new(0, Duration::from_secs(10), t0);
        assert_eq!(log.rejected(t0), QUIET);
        assert_eq!(log.rejected(t0 + Duration::from_secs(1)), QUIET);
        let next = log.rejected(t0 + Duration::from_secs(10));
        assert_eq!(next, Verdict { ended_with_suppressed: Some(2), log: false });
    }
}
