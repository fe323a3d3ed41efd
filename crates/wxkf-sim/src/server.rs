//! The HTTP side: one fallback handler that answers every path the way WeCom does (kf-api.md §0).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fault::{self, LostAnswer, Target};
use crate::inner::Inner;
use crate::state::{ApiError, CallRecord};

/// Paths the simulator implements, with the HTTP method WeCom expects.
const KNOWN: &[(&str, Method)] = &[
    ("/cgi-bin/gettoken", Method::GET),
    ("/cgi-bin/kf/account/add", Method::POST),
    ("/cgi-bin/kf/account/del", Method::POST),
    ("/cgi-bin/kf/account/update", Method::POST),
    ("/cgi-bin/kf/account/list", Method::POST),
    ("/cgi-bin/kf/add_contact_way", Method::POST),
    ("/cgi-bin/kf/servicer/add", Method::POST),
    ("/cgi-bin/kf/servicer/del", Method::POST),
    ("/cgi-bin/kf/servicer/list", Method::GET),
    ("/cgi-bin/kf/service_state/get", Method::POST),
    ("/cgi-bin/kf/service_state/trans", Method::POST),
    ("/cgi-bin/kf/sync_msg", Method::POST),
    ("/cgi-bin/kf/send_msg", Method::POST),
    ("/cgi-bin/kf/send_msg_on_event", Method::POST),
    ("/cgi-bin/kf/recall_msg", Method::POST),
    ("/cgi-bin/kf/customer/batchget", Method::POST),
    ("/cgi-bin/media/upload", Method::POST),
    ("/cgi-bin/media/get", Method::GET),
];

/// Most bytes a request body may have (media up to 20 MB plus multipart overhead).
const BODY_LIMIT: usize = 21 << 20;

/// WeCom's JSON answer: `errcode`, `errmsg` (with its hint suffix on errors) and the fields.
fn json_answer(code: i64, msg: &str, fields: Value) -> Response {
    let errmsg = if code == 0 {
        "ok".to_owned()
    } else {
        format!(
            "{msg}, hint: [{}-sim], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e={code}",
            crate::state::random_id("", 8)
        )
    };
    let mut body = json!({"errcode": code, "errmsg": errmsg});
    if let (Value::Object(out), Value::Object(fields)) = (&mut body, fields) {
        out.extend(fields);
    }
    let mut resp = Response::new(Body::from(body.to_string()));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    resp
}

fn error_answer(e: ApiError) -> Response {
    json_answer(e.0, &e.1, json!({}))
}

pub(crate) async fn dispatch(AxState(sim): AxState<Arc<Inner>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query: HashMap<String, String> =
        req.uri().query().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    let fired = {
        let mut state = sim.lock();
        fault::evaluate(&mut state.faults, &Target::Path(path.clone()))
    };
    if !fired.latency.is_zero() {
        tokio::time::sleep(fired.latency).await;
    }
    if fired.revoke {
        sim.lock().revoke_tokens();
    }
    let (code, resp) = if let Some(status) = fired.http_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        (None, (status, "simulated upstream failure").into_response())
    } else {
        match handle(&sim, &path, &query, fired.errcode, req).await {
            Ok(Answer::Json(fields)) => (Some(0), json_answer(0, "ok", fields)),
            Ok(Answer::Raw(resp)) => (None, resp),
            Err(e) => (Some(e.0), error_answer(e)),
        }
    };
    let lost = if fired.http_status.is_none() { fired.after } else { None };
    sim.lock().calls.push(CallRecord { path, errcode: code, answer_lost: lost.is_some() });
    sim.changed.notify_waiters();
    match lost {
        None => resp,
        Some(LostAnswer::Timeout(hold)) => {
            // the work is done and recorded: only the answer is late
            tokio::time::sleep(hold).await;
            resp
        }
        Some(LostAnswer::HttpStatus(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, "simulated upstream failure").into_response()
        }
        Some(LostAnswer::Reset) => {
            // a body that fails before its first byte: hyper aborts the connection, so the
            // client reads no complete answer
            let failing = futures_util::stream::once(async {
                Err::<bytes::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated connection reset",
                ))
            });
            let (parts, _) = resp.into_parts();
            Response::from_parts(parts, Body::from_stream(failing))
        }
    }
}

enum Answer {
    Json(Value),
    Raw(Response),
}

async fn handle(
    sim: &Inner,
    path: &str,
    query: &HashMap<String, String>,
    fault_errcode: Option<i64>,
    req: Request,
) -> Result<Answer, ApiError> {
    let q = |k: &str| query.get(k).map(String::as_str);
    let Some((_, method)) = KNOWN.iter().find(|(p, _)| *p == path) else {
        // Not a Kf path: WeCom's behaviour is undocumented; answer like an unauthorized API.
        return Err(ApiError(48001, "api unauthorized".into()));
    };
    if path == "/cgi-bin/gettoken" {
        if let Some(code) = fault_errcode {
            return Err(ApiError(code, "simulated fault".into()));
        }
        return sim.lock().gettoken(q("corpid"), q("corpsecret")).map(Answer::Json);
    }
    sim.lock().check_token(q("access_token"))?;
    if let Some(code) = fault_errcode {
        return Err(ApiError(code, if code == -1 { "system busy" } else { "simulated fault" }.into()));
    }
    if *method == Method::GET {
        return match path {
            "/cgi-bin/kf/servicer/list" => {
                sim.lock().servicer_list(q("open_kfid").unwrap_or("")).map(Answer::Json)
            }
            _ => media_get(sim, q("media_id").unwrap_or(""), req.headers()).map(Answer::Raw),
        };
    }
    if path == "/cgi-bin/media/upload" {
        return media_upload(sim, q("type").unwrap_or(""), req).await.map(Answer::Json);
    }
    let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| ApiError(40058, "request body too large or unreadable".into()))?;
    let body: Value = serde_json::from_slice(&bytes)
        .ok()
        .filter(Value::is_object)
        .ok_or(ApiError(40058, "invalid Parameter, Warning: wrong json format.".into()))?;
    let mut state = sim.lock();
    let out = match path {
        "/cgi-bin/kf/account/add" => state.account_add(&body),
        "/cgi-bin/kf/account/del" => state.account_del(&body),
        "/cgi-bin/kf/account/update" => state.account_update(&body),
        "/cgi-bin/kf/account/list" => state.account_list(&body),
        "/cgi-bin/kf/add_contact_way" => state.add_contact_way(&body),
        "/cgi-bin/kf/servicer/add" => state.servicer_change(&body, true),
        "/cgi-bin/kf/servicer/del" => state.servicer_change(&body, false),
        "/cgi-bin/kf/service_state/get" => state.service_state_get(&body),
        "/cgi-bin/kf/service_state/trans" => state.service_state_trans(&body),
        "/cgi-bin/kf/sync_msg" => state.sync_msg(&body),
        "/cgi-bin/kf/send_msg" => state.send_msg(&body),
        "/cgi-bin/kf/send_msg_on_event" => state.send_msg_on_event(&body),
        "/cgi-bin/kf/recall_msg" => state.recall_msg(&body),
        "/cgi-bin/kf/customer/batchget" => state.customer_batchget(&body),
        _ => Err(ApiError(48001, "api unauthorized".into())),
    };
    out.map(Answer::Json)
}

async fn media_upload(sim: &Inner, kind: &str, req: Request) -> Result<Value, ApiError> {
    let mut multipart = Multipart::from_request(req, &())
        .await
        .map_err(|_| ApiError(44001, "empty media data: multipart body expected".into()))?;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() != Some("media") {
            continue;
        }
        // The part's own Content-Disposition, read as UTF-8: a raw UTF-8 `filename="客服.txt"` and
        // an RFC 5987 `filename*=utf-8''%E5%AE%A2...` both name the file (the extended form wins)
        let disposition = field
            .headers()
            .get(header::CONTENT_DISPOSITION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let filename = disposition
            .as_deref()
            .and_then(wxkf_types::media::parse_content_disposition_filename)
            .or_else(|| field.file_name().map(str::to_owned))
            .unwrap_or_else(|| "media".to_owned());
        let content_type = field.content_type().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|_| ApiError(44001, "empty media data".into()))?;
        return sim.lock().media_upload(kind, &filename, content_type.as_deref(), bytes);
    }
    Err(ApiError(44001, "empty media data: no part named media".into()))
}

/// `media/get`: the bytes with download headers; `Range: bytes=...` answers 206 (kf-api.md §11.2).
fn media_get(sim: &Inner, media_id: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let media = sim.lock().media_get(media_id)?;
    let total = media.bytes.len() as u64;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(|r| parse_range(r, total));
    let (status, body, content_range) = match range {
        None => (StatusCode::OK, media.bytes.clone(), None),
        Some(Some((start, end))) => (
            StatusCode::PARTIAL_CONTENT,
            media.bytes.slice(start as usize..=end as usize),
            Some(format!("bytes {start}-{end}/{total}")),
        ),
        Some(None) => {
            let mut resp = (StatusCode::RANGE_NOT_SATISFIABLE, "").into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
    };
    let ext = match media.kind.as_str() {
        "image" => ".jpg",
        "voice" => ".amr",
        "video" => ".mp4",
        _ => "",
    };
    let filename = if media.kind == "file" { media.filename.clone() } else { format!("{media_id}{ext}") };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    let mut set = |name, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, media.content_type.clone());
    set(header::CONTENT_DISPOSITION, content_disposition(&filename));
    set(header::ACCEPT_RANGES, "bytes".to_owned());
    if let Some(cr) = content_range {
        set(header::CONTENT_RANGE, cr);
    }
    Ok(resp)
}

/// `attachment; filename="..."`, and for a name that is not plain ASCII an ASCII fallback plus
/// the RFC 5987 form `filename*=utf-8''%E5%AE%A2...` (a header value cannot carry raw UTF-8 safely).
fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    if fallback == filename {
        return format!("attachment; filename=\"{filename}\"");
    }
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=utf-8''{encoded}")
}

/// `bytes=START-END`, `bytes=START-` or `bytes=-SUFFIX` → inclusive (start, end); `None` when
/// unsatisfiable or malformed.
fn parse_range(header: &str, total: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (total.checked_sub(n.min(total))?, total.checked_sub(1)?)
        }
        (s, "") => (s.parse().ok()?, total.checked_sub(1)?),
        (s, e) => (s.parse().ok()?, e.parse::<u64>().ok()?.min(total.checked_sub(1)?)),
    };
    (start <= end && start < total).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=9-3", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=0-0", 0), None);
    }
}
