//! `wxkf dead-letters list|replay|discard` against a stand-in of wxkf-gateway's documented API
//! (docs/operations.md): the bearer token from `WXKF_GATEWAY_API_TOKEN`, the table and `--json`,
//! and what each refusal says (401: the token; 404: no such dead letter; 502: failed again).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

const TOKEN: &str = "gateway-token-123";

#[derive(Clone, Default)]
struct Gateway {
    // ids still kept, and the requests seen as "METHOD path"
    kept: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn list(State(g): State<Gateway>, headers: HeaderMap) -> Response {
    g.seen.lock().unwrap().push("GET /v1/dead-letters".into());
    if !authorized(&headers) {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"missing or wrong bearer token"}"#).into_response();
    }
    let items: Vec<serde_json::Value> = g
        .kept
        .lock()
        .unwrap()
        .iter()
        .map(|id| {
            serde_json::json!({"id": id, "open_kfid": "wkSHOP", "external_userid": "wmCUSTOMER", "msgids": ["m1"],
                "reason": "permanent", "attempts": 1, "error": "webhook hook refused delivery with HTTP 422", "at": 1_796_000_000})
        })
        .collect();
    serde_json::Value::Array(items).to_string().into_response()
}

async fn replay(State(g): State<Gateway>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    g.seen.lock().unwrap().push(format!("POST /v1/dead-letters/{id}/replay"));
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if id == "dl_failing" {
        return (StatusCode::BAD_GATEWAY, r#"{"error":"the handler failed again: HTTP 422"}"#)
            .into_response();
    }
    let mut kept = g.kept.lock().unwrap();
    match kept.iter().position(|k| *k == id) {
        Some(i) => {
            kept.remove(i);
            r#"{"replayed":true}"#.into_response()
        }
        None => (StatusCode::NOT_FOUND, r#"{"error":"no dead letter with this id"}"#).into_response(),
    }
}

async fn discard(State(g): State<Gateway>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    g.seen.lock().unwrap().push(format!("DELETE /v1/dead-letters/{id}"));
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut kept = g.kept.lock().unwrap();
    match kept.iter().position(|k| *k == id) {
        Some(i) => {
            kept.remove(i);
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::NOT_FOUND, r#"{"error":"no dead letter with this id"}"#).into_response(),
    }
}

/// The stand-in on a loopback port (its own runtime thread), and its base URL.
fn start(kept: &[&str]) -> (Gateway, String) {
    let g = Gateway::default();
    g.kept.lock().unwrap().extend(kept.iter().map(|s| (*s).to_owned()));
    let app = Router::new()
        .route("/v1/dead-letters", get(list))
        .route("/v1/dead-letters/{id}/replay", post(replay))
        .route("/v1/dead-letters/{id}", delete(discard))
        .with_state(g.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (g, format!("http://{addr}"))
}

/// Runs `wxkf dead-letters ARGS --gateway URL` with `token` in WXKF_GATEWAY_API_TOKEN.
fn wxkf(url: &str, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxkf"));
    cmd.arg("dead-letters")
        .args(args)
        .args(["--gateway", url])
        .env_remove("WXKF_GATEWAY_API_TOKEN")
        .env_remove("WXKF_GATEWAY_URL");
    if let Some(t) = token {
        cmd.env("WXKF_GATEWAY_API_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn list_shows_a_table_or_the_json_and_sends_the_token() {
    let (g, url) = start(&["dl_aaaa", "dl_bbbb"]);
    let (code, out, err) = wxkf(&url, Some(TOKEN), &["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ID "), "{out}");
    assert!(out.contains("dl_aaaa") && out.contains("dl_bbbb") && out.contains("permanent"), "{out}");
    assert!(!out.contains(TOKEN));
    let (code, out, _) = wxkf(&url, Some(TOKEN), &["list", "--json"]);
    assert_eq!(code, 0);
    let parsed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 2);
    assert_eq!(g.seen.lock().unwrap().len(), 2);
}

#[test]
fn replay_and_discard_remove_a_dead_letter_and_an_unknown_id_says_so() {
    let (g, url) = start(&["dl_aaaa", "dl_bbbb"]);
    let (code, out, err) = wxkf(&url, Some(TOKEN), &["replay", "dl_aaaa"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("replayed dl_aaaa"), "{out}");
    let (code, out, _) = wxkf(&url, Some(TOKEN), &["discard", "dl_bbbb"]);
    assert_eq!(code, 0);
    assert!(out.contains("discarded dl_bbbb"));
    assert!(g.kept.lock().unwrap().is_empty());
    let (code, _, err) = wxkf(&url, Some(TOKEN), &["replay", "dl_aaaa"]);
    assert_eq!(code, 1);
    assert!(err.contains("no dead letter dl_aaaa") && err.contains("wxkf dead-letters list"), "{err}");
    let (code, _, err) = wxkf(&url, Some(TOKEN), &["replay", "dl_failing"]);
    assert_eq!(code, 1);
    assert!(err.contains("failed again") && err.contains("HTTP 422"), "{err}");
    assert_eq!(
        *g.seen.lock().unwrap(),
        [
            "POST /v1/dead-letters/dl_aaaa/replay",
            "DELETE /v1/dead-letters/dl_bbbb",
            "POST /v1/dead-letters/dl_aaaa/replay",
            "POST /v1/dead-letters/dl_failing/replay"
        ]
    );
}

#[test]
fn a_wrong_or_missing_token_is_named() {
    let (_g, url) = start(&["dl_aaaa"]);
    let (code, _, err) = wxkf(&url, Some("wrong"), &["list"]);
    assert_eq!(code, 1);
    assert!(err.contains("refused the token") && err.contains("WXKF_GATEWAY_API_TOKEN"), "{err}");
    assert!(!err.contains("wrong"), "the token is not echoed: {err}");
    let (code, _, err) = wxkf(&url, None, &["list"]);
    assert_eq!(code, 2, "a usage error: {err}");
    assert!(err.contains("WXKF_GATEWAY_API_TOKEN"), "{err}");
}
