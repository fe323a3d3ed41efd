//! The gateway's own routes, beside the callback route of `wxkf_axum::bot_router`:
//! `POST /v1/replies`, `GET /v1/media/{media_id}` (both behind the bearer token), `GET /healthz`,
//! `GET /readyz` and `GET /metrics` (the gateway's counters, then the runtime's from
//! [`Telemetry`]). The operator's routes are in `ops.rs`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::delivery::ReplyOutcome;
use crate::protocol::Answer;
use crate::shared::Shared;
use crate::telemetry::Telemetry;

/// The routes, with their state.
pub(crate) fn routes(shared: Arc<Shared>, telemetry: &'static Telemetry) -> Router {
    let metrics = move |state: State<Arc<Shared>>| metrics(state, telemetry);
    Router::new()
        .route("/v1/replies", post(replies))
        .route("/v1/media/{media_id}", get(media))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }))
}

/// Whether the request carries `Authorization: Bearer <api_token>` (compared in constant time).
pub(crate) fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(token) = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")) else {
        return false;
    };
    bool::from(token.trim().as_bytes().ct_eq(shared.api_token.expose().as_bytes()))
}

#[derive(Deserialize)]
struct ReplyBody {
    id: String,
    #[serde(flatten)]
    answer: Answer,
}

async fn replies(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token (server.api_token)");
    }
    let body: ReplyBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the body is not {{\"id\", \"replies\", \"action\"}}: {e}"),
            );
        }
    };
    match shared.pending.reply(&body.id, body.answer).await {
        None => error(StatusCode::NOT_FOUND, "no delivery with this id waits for replies"),
        Some(ReplyOutcome::Sent { sent, cut }) => {
            json_response(StatusCode::OK, json!({ "sent": sent, "cut": cut }))
        }
        Some(ReplyOutcome::SessionLeftBot) => {
            error(StatusCode::CONFLICT, "the session belongs to a servicer now: nothing was sent")
        }
        Some(ReplyOutcome::Failed(why)) => {
            error(StatusCode::BAD_GATEWAY, &format!("sending failed; the delivery comes again: {why}"))
        }
    }
}

async fn media(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(media_id): Path<String>,
) -> Response {
    if !authorized(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token (server.api_token)");
    }
    match shared.media.get(&shared.client, &media_id).await {
        Ok(m) => {
            let mut h = HeaderMap::new();
            if let Ok(v) = m.content_type.parse() {
                h.insert(header::CONTENT_TYPE, v);
            }
            if let Some(name) = &m.filename {
                let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
                if let Ok(v) = format!("attachment; filename*=utf-8''{encoded}").parse() {
                    h.insert(header::CONTENT_DISPOSITION, v);
                }
            }
            (StatusCode::OK, h, m.bytes).into_response()
        }
        Err(e) if e.errcode() == Some(40007) => {
            error(StatusCode::NOT_FOUND, "WeCom does not know this media_id (or it is older than 3 days)")
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &format!("media/get failed: {e}")),
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let check = async {
        shared.state.ping().await.map_err(|e| format!("store: {e}"))?;
        shared.client.access_token().await.map_err(|e| format!("gettoken: {e}"))?;
        Ok::<(), String>(())
    };
    match tokio::time::timeout(Duration::from_secs(5), check).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(why)) => {
            tracing::warn!(reason = %why, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response(),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>, telemetry: &'static Telemetry) -> Response {
    let mut text = shared.metrics.render();
    text.push_str(
        "# HELP wxkf_gateway_pending_replies Deliveries answered with 202 that wait for POST /v1/replies.\n",
    );
    text.push_str("# TYPE wxkf_gateway_pending_replies gauge\n");
    text.push_str(&format!("wxkf_gateway_pending_replies {}\n", shared.pending.len()));
    text.push_str(&telemetry.render());
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
