//! The operator's routes: the dead letters (`GET /v1/dead-letters`,
//! `POST /v1/dead-letters/{id}/replay`, `DELETE /v1/dead-letters/{id}`) and the status page
//! (`/status`), all behind the API token: as `Authorization: Bearer`, or for the page as a
//! cookie set by its login form or a `/status?token=` link.
//!
//! The cookie holds an HMAC of the token, not the token. A request authenticated by the cookie
//! alone must also carry `X-Wxkf-Status: 1` to change anything: a page of another site cannot
//! send that header without the browser asking first (and the cookie is `SameSite=Strict`).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use wxkf_bot::{Bot, BotError, DeadLetterRecord};

use crate::server::authorized;
use crate::shared::Shared;
use crate::telemetry::{AccountTotals, Telemetry, quantile};

/// The cookie of the status page.
const COOKIE: &str = "wxkf_status";
/// The header a cookie-authenticated change must carry.
const CSRF_HEADER: &str = "x-wxkf-status";
/// How often the per-account totals are sampled for the last hour's figures.
const SAMPLE_EVERY: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The per-account totals sampled every minute, so the page can show the last hour.
#[derive(Debug, Default)]
pub(crate) struct Window {
    samples: Mutex<VecDeque<(Instant, BTreeMap<String, AccountTotals>)>>,
}

impl Window {
    fn sample(&self, telemetry: &Telemetry) {
        let now = Instant::now();
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back((now, telemetry.accounts()));
        // keep one sample at least an hour old: the baseline of "the last hour"
        while samples.len() > 1 && samples.get(1).is_some_and(|(at, _)| now.duration_since(*at) >= HOUR) {
            samples.pop_front();
        }
    }

    /// The totals an hour ago (or at the start, when the gateway runs for less than an hour: the
    /// recorder began empty then).
    fn baseline(&self) -> BTreeMap<String, AccountTotals> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        match samples.front() {
            Some((at, totals)) if at.elapsed() >= HOUR => totals.clone(),
            _ => BTreeMap::new(),
        }
    }
}

/// Samples `telemetry` into `window` every minute until the process ends.
pub(crate) fn start_sampling(window: Arc<Window>, telemetry: &'static Telemetry) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        loop {
            tick.tick().await;
            window.sample(telemetry);
        }
    });
}

/// What the routes share.
#[derive(Clone)]
pub(crate) struct Ops {
    pub(crate) shared: Arc<Shared>,
    pub(crate) bot: Bot,
    pub(crate) telemetry: &'static Telemetry,
    pub(crate) window: Arc<Window>,
}

/// The routes, with their state.
pub(crate) fn routes(ops: Ops) -> Router {
    Router::new()
        .route("/v1/dead-letters", get(list))
        .route("/v1/dead-letters/{id}/replay", post(replay))
        .route("/v1/dead-letters/{id}", axum::routing::delete(discard))
        .route("/status", get(status))
        .route("/status/login", post(login))
        .with_state(ops)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({ "error": message }))
}

/// The cookie's value: an HMAC of the API token (the token itself never leaves in a cookie).
fn cookie_value(shared: &Shared) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(shared.api_token.expose().as_bytes())
        .expect("HMAC takes any key");
    mac.update(b"wxkf-gateway status page");
    hex::encode(mac.finalize().into_bytes())
}

fn has_cookie(shared: &Shared, headers: &HeaderMap) -> bool {
    let want = cookie_value(shared);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('=')))
        .any(|v| bool::from(v.as_bytes().ct_eq(want.as_bytes())))
}

/// Whether an API request may go on: the bearer token, or the cookie with the CSRF header.
fn api_allowed(shared: &Shared, headers: &HeaderMap) -> bool {
    authorized(shared, headers)
        || (has_cookie(shared, headers) && headers.get(CSRF_HEADER).is_some_and(|v| v.as_bytes() == b"1"))
}

const UNAUTHORIZED: &str = "missing or wrong bearer token (server.api_token)";

/// A dead letter as the API shows it (the kept messages stay inside).
#[derive(Serialize)]
struct DeadLetterView<'a> {
    id: &'a str,
    open_kfid: &'a str,
    external_userid: Option<&'a str>,
    msgids: &'a [String],
    reason: &'a str,
    attempts: u32,
    error: &'a str,
    at: u64,
}

impl<'a> From<&'a DeadLetterRecord> for DeadLetterView<'a> {
    fn from(r: &'a DeadLetterRecord) -> Self {
        DeadLetterView {
            id: &r.id,
            open_kfid: &r.open_kfid,
            external_userid: r.external_userid.as_deref(),
            msgids: &r.msgids,
            reason: &r.reason,
            attempts: r.attempts,
            error: &r.error,
            at: r.at,
        }
    }
}

async fn list(State(ops): State<Ops>, headers: HeaderMap) -> Response {
    if !api_allowed(&ops.shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, UNAUTHORIZED);
    }
    match ops.bot.dead_letters().await {
        Ok(all) => {
            let views: Vec<DeadLetterView<'_>> = all.iter().map(DeadLetterView::from).collect();
            json_response(StatusCode::OK, &json!(views))
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &crate::shared::chain(&e)),
    }
}

async fn replay(State(ops): State<Ops>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !api_allowed(&ops.shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, UNAUTHORIZED);
    }
    match ops.bot.replay(&id).await {
        Ok(()) => json_response(StatusCode::OK, &json!({ "replayed": true })),
        Err(BotError::DeadLetterNotFound(_)) => {
            error(StatusCode::NOT_FOUND, "no dead letter with this id (replayed, discarded or expired)")
        }
        Err(BotError::ShuttingDown) => error(StatusCode::SERVICE_UNAVAILABLE, "the gateway is shutting down"),
        Err(e) => error(StatusCode::BAD_GATEWAY, &crate::shared::chain(&e)),
    }
}

async fn discard(State(ops): State<Ops>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !api_allowed(&ops.shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, UNAUTHORIZED);
    }
    match ops.bot.discard(&id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => {
            error(StatusCode::NOT_FOUND, "no dead letter with this id (replayed, discarded or expired)")
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &crate::shared::chain(&e)),
    }
}

#[derive(Deserialize)]
struct StatusQuery {
    token: Option<String>,
    part: Option<String>,
}

/// Sets the cookie and sends the browser to the page without the token in its address.
fn signed_in(shared: &Shared) -> Response {
    let cookie =
        format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=604800", cookie_value(shared));
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/status".to_owned())])
        .into_response()
}

async fn status(State(ops): State<Ops>, headers: HeaderMap, Query(q): Query<StatusQuery>) -> Response {
    let lang = Lang::of(&headers);
    if let Some(token) = &q.token {
        if bool::from(token.as_bytes().ct_eq(ops.shared.api_token.expose().as_bytes())) {
            return signed_in(&ops.shared);
        }
        return html(StatusCode::UNAUTHORIZED, &login_page(lang, true));
    }
    if !has_cookie(&ops.shared, &headers) && !authorized(&ops.shared, &headers) {
        return html(StatusCode::UNAUTHORIZED, &login_page(lang, false));
    }
    let live = live_part(&ops, lang).await;
    if q.part.as_deref() == Some("live") {
        return html(StatusCode::OK, &live);
    }
    html(StatusCode::OK, &page(lang, &live))
}

async fn login(State(ops): State<Ops>, headers: HeaderMap, body: Bytes) -> Response {
    let lang = Lang::of(&headers);
    let token = url_form_value(&body, "token").unwrap_or_default();
    if bool::from(token.as_bytes().ct_eq(ops.shared.api_token.expose().as_bytes())) {
        signed_in(&ops.shared)
    } else {
        html(StatusCode::UNAUTHORIZED, &login_page(lang, true))
    }
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn url_form_value(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            let v = v.replace('+', " ");
            percent_encoding::percent_decode_str(&v).decode_utf8_lossy().into_owned()
        })
    })
}

fn html(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        body.to_owned(),
    )
        .into_response()
}

/// The page's language, from `Accept-Language`: Chinese for a first choice of `zh…`, else English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Zh,
    En,
}

impl Lang {
    fn of(headers: &HeaderMap) -> Lang {
        let first = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if first.starts_with("zh") { Lang::Zh } else { Lang::En }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// One label in the page's language.
    fn t(self, key: &str) -> &'static str {
        let (en, zh) = match key {
            "title" => ("wxkf-gateway status", "wxkf-gateway 运行状态"),
            "sign_in" => ("Sign in", "登录"),
            "token" => ("API token (server.api_token)", "API 令牌（server.api_token）"),
            "wrong" => ("That token is not right.", "令牌不正确。"),
            "accounts" => ("Accounts", "客服账号"),
            "none" => ("No account has had traffic yet.", "还没有账号收到消息。"),
            "handled" => ("Handled, last hour", "近一小时处理"),
            "p50" => ("Handler p50", "处理耗时 p50"),
            "p95" => ("Handler p95", "处理耗时 p95"),
            "lag" => ("Cursor lag", "游标延迟"),
            "lanes" => ("Lanes active", "活跃会话通道"),
            "held" => ("Sessions held by servicers", "接待人员接管的会话"),
            "refused" => ("Budget refusals, last hour", "近一小时超出回复额度"),
            "waiting" => ("Messages waiting", "等待处理的消息"),
            "dead" => ("Dead letters", "死信"),
            "no_dead" => ("No dead letters.", "没有死信。"),
            "when" => ("When", "时间"),
            "account" => ("Account", "账号"),
            "customer" => ("Customer", "客户"),
            "reason" => ("Reason", "原因"),
            "attempts" => ("Attempts", "尝试次数"),
            "error" => ("Error", "错误"),
            "replay" => ("Replay", "重放"),
            "discard" => ("Discard", "丢弃"),
            "confirm" => (
                "Discard this dead letter? The customer will not be answered.",
                "确定丢弃这条死信？客户将不会收到回复。",
            ),
            "updated" => ("Refreshes every 5 s.", "每 5 秒自动刷新。"),
            _ => ("", ""),
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
*{box-sizing:border-box}body{margin:0;font:15px/1.45 -apple-system,BlinkMacSystemFont,'PingFang SC','Microsoft YaHei',sans-serif;background:#f4f5f7;color:#1d1f23}\
header{background:#07c160;color:#fff;padding:12px 16px}h1{font-size:18px;margin:0}h2{font-size:16px;margin:20px 0 8px}\
main{padding:0 12px 24px;max-width:960px;margin:0 auto}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}\
.card{background:#fff;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}.card h3{font-size:15px;margin:0 0 8px;word-break:break-all}\
dl{display:grid;grid-template-columns:1fr auto;gap:4px 12px;margin:0}dt{color:#5f6368}dd{margin:0;font-weight:600;text-align:right}\
.dead{background:#fff;border-radius:10px;padding:12px 14px;margin-bottom:10px;box-shadow:0 1px 2px rgba(0,0,0,.08)}\
.dead p{margin:2px 0;word-break:break-all}.muted{color:#5f6368;font-size:13px}.err{color:#b3261e}\
button{font:inherit;border:0;border-radius:8px;padding:8px 16px;margin:8px 8px 0 0;cursor:pointer}\
.replay{background:#07c160;color:#fff}.discard{background:#e8eaed;color:#1d1f23}\
form{background:#fff;border-radius:10px;padding:16px;max-width:420px;margin:24px auto}input{font:inherit;width:100%;padding:10px;margin:8px 0 12px;border:1px solid #c4c7c5;border-radius:8px}";

fn login_page(lang: Lang, wrong: bool) -> String {
    let t = |k| lang.t(k);
    let wrong = if wrong { format!("<p class=\"err\">{}</p>", t("wrong")) } else { String::new() };
    format!(
        "<!doctype html><html lang=\"{code}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head><body><header><h1>{title}</h1></header><main>\
<form method=\"post\" action=\"/status/login\">{wrong}<label for=\"token\">{token}</label>\
<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required>\
<button class=\"replay\" type=\"submit\">{sign_in}</button></form></main></body></html>",
        code = lang.code(),
        title = t("title"),
        token = t("token"),
        sign_in = t("sign_in"),
    )
}

fn seconds(v: Option<f64>) -> String {
    match v {
        None => "–".to_owned(),
        Some(s) if s < 1.0 => format!("≤ {:.0} ms", s * 1000.0),
        Some(s) => format!("≤ {s} s"),
    }
}

/// A customer id shortened for a screen others may see.
fn masked(user: Option<&str>) -> String {
    match user {
        None => "–".to_owned(),
        Some(u) if u.chars().count() <= 8 => u.to_owned(),
        Some(u) => format!(
            "{}…{}",
            u.chars().take(4).collect::<String>(),
            u.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect::<String>()
        ),
    }
}

fn when(at: u64) -> String {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(at);
    let ago = now.saturating_sub(at);
    match ago {
        0..60 => format!("{ago} s"),
        60..3600 => format!("{} min", ago / 60),
        3600..86400 => format!("{} h", ago / 3600),
        _ => format!("{} d", ago / 86400),
    }
}

/// The part of the page that refreshes: the accounts and the dead letters.
async fn live_part(ops: &Ops, lang: Lang) -> String {
    let t = |k| lang.t(k);
    let now = ops.telemetry.accounts();
    let base = ops.window.baseline();
    let mut out = String::new();
    let _ = write!(out, "<h2>{}</h2>", t("accounts"));
    if now.is_empty() {
        let _ = write!(out, "<p class=\"muted\">{}</p>", t("none"));
    }
    out.push_str("<div class=\"cards\">");
    for (kfid, totals) in &now {
        let b = base.get(kfid).cloned().unwrap_or_default();
        let handled = totals.handled.saturating_sub(b.handled);
        let refused = totals.budget_refused.saturating_sub(b.budget_refused);
        let hour: Vec<u64> =
            totals.handler.iter().zip(b.handler.iter()).map(|(n, o)| n.saturating_sub(*o)).collect();
        let backend = ops.shared.config.route(kfid).unwrap_or("–");
        let _ = write!(
            out,
            "<section class=\"card\" data-account=\"{k}\"><h3>{k} <span class=\"muted\">→ {backend}</span></h3><dl>\
<dt>{l_handled}</dt><dd data-metric=\"handled\">{handled}</dd>\
<dt>{l_p50}</dt><dd>{p50}</dd><dt>{l_p95}</dt><dd>{p95}</dd>\
<dt>{l_lag}</dt><dd data-metric=\"lag\">{lag:.0} s</dd>\
<dt>{l_waiting}</dt><dd>{waiting:.0}</dd>\
<dt>{l_lanes}</dt><dd data-metric=\"lanes\">{lanes:.0}</dd>\
<dt>{l_held}</dt><dd>{held:.0}</dd>\
<dt>{l_refused}</dt><dd data-metric=\"refused\">{refused}</dd></dl></section>",
            k = esc(kfid),
            backend = esc(backend),
            l_handled = t("handled"),
            l_p50 = t("p50"),
            p50 = seconds(quantile(&hour, 0.5)),
            l_p95 = t("p95"),
            p95 = seconds(quantile(&hour, 0.95)),
            l_lag = t("lag"),
            lag = totals.cursor_lag,
            l_waiting = t("waiting"),
            waiting = totals.in_flight,
            l_lanes = t("lanes"),
            lanes = totals.lanes_active,
            l_held = t("held"),
            held = totals.sessions_held,
            l_refused = t("refused"),
        );
    }
    out.push_str("</div>");
    let _ = write!(out, "<h2>{}</h2>", t("dead"));
    match ops.bot.dead_letters().await {
        Ok(dead) if dead.is_empty() => {
            let _ = write!(out, "<p class=\"muted\" id=\"no-dead\">{}</p>", t("no_dead"));
        }
        Ok(dead) => {
            for d in dead.iter().rev() {
                let id = esc(&d.id);
                let _ = write!(
                    out,
                    "<div class=\"dead\" data-id=\"{id}\"><p><b>{reason}</b> · {l_attempts} {attempts} · {ago}</p>\
<p class=\"muted\">{l_account} {kfid} · {l_customer} {user}</p><p class=\"err\">{error}</p>\
<button class=\"replay\" data-action=\"replay\" data-id=\"{id}\">{l_replay}</button>\
<button class=\"discard\" data-action=\"discard\" data-id=\"{id}\">{l_discard}</button></div>",
                    reason = esc(&d.reason),
                    l_attempts = t("attempts"),
                    attempts = d.attempts,
                    ago = when(d.at),
                    l_account = t("account"),
                    kfid = esc(&d.open_kfid),
                    l_customer = t("customer"),
                    user = esc(&masked(d.external_userid.as_deref())),
                    error = esc(&d.error.chars().take(300).collect::<String>()),
                    l_replay = t("replay"),
                    l_discard = t("discard"),
                );
            }
        }
        Err(e) => {
            let _ = write!(out, "<p class=\"err\">{}</p>", esc(&crate::shared::chain(&e)));
        }
    }
    out
}

fn page(lang: Lang, live: &str) -> String {
    let t = |k| lang.t(k);
    let confirm = serde_json::to_string(t("confirm")).unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"{code}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head><body><header><h1>{title}</h1><div class=\"muted\" style=\"color:#e8f8ee\">{updated}</div></header>\
<main id=\"live\">{live}</main><script>\
const live=document.getElementById('live');\
async function refresh(){{try{{const r=await fetch('/status?part=live',{{credentials:'same-origin',cache:'no-store'}});if(r.ok){{live.innerHTML=await r.text();}}}}catch(e){{}}}}\
live.addEventListener('click',async(ev)=>{{const b=ev.target.closest('button[data-action]');if(!b)return;\
const id=encodeURIComponent(b.dataset.id);if(b.dataset.action==='discard'&&!confirm({confirm}))return;\
b.disabled=true;const opts={{method:b.dataset.action==='replay'?'POST':'DELETE',credentials:'same-origin',headers:{{'X-Wxkf-Status':'1'}}}};\
const url=b.dataset.action==='replay'?'/v1/dead-letters/'+id+'/replay':'/v1/dead-letters/'+id;\
try{{const r=await fetch(url,opts);if(!r.ok){{const j=await r.json().catch(()=>({{}}));alert(j.error||r.status);}}}}finally{{await refresh();}}}});\
setInterval(refresh,5000);</script></body></html>",
        code = lang.code(),
        title = t("title"),
        updated = t("updated"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_first_choice_of_accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::of(&h), Lang::En);
        h.insert(header::ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9,en;q=0.8".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::Zh);
        h.insert(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9,zh-CN;q=0.8".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::En);
    }

    #[test]
    fn page_text_is_escaped_and_customer_ids_shortened() {
        assert_eq!(esc("<b a=\"1\">&'"), "&lt;b a=&quot;1&quot;&gt;&amp;&#39;");
        assert_eq!(masked(Some("wmAbCdEfGhIjKl")), "wmAb…IjKl");
        assert_eq!(masked(Some("wm1")), "wm1");
        assert_eq!(masked(None), "–");
    }

    #[test]
    fn a_form_value_is_url_decoded() {
        assert_eq!(url_form_value(b"a=1&token=s%3Dcr+t", "token").as_deref(), Some("s=cr t"));
        assert_eq!(url_form_value(b"a=1", "token"), None);
    }
}
