//! The callback route, request by request, with `tower::ServiceExt::oneshot`.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use wxkf_axum::{Callback, CallbackConfig, callback_router};
use wxkf_crypto::CallbackCrypto;
use wxkf_types::callback::CallbackEvent;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../wxkf-crypto/tests/vectors/official.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn crypto() -> CallbackCrypto {
    let v = vectors();
    CallbackCrypto::new(
        v["token"].as_str().unwrap(),
        v["encoding_aes_key"].as_str().unwrap(),
        v["receive_id"].as_str().unwrap(),
    )
    .unwrap()
}

type Seen = Arc<Mutex<Vec<Callback>>>;

fn app(config: CallbackConfig) -> (Router, Seen) {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    (callback_router(config, move |cb: Callback| sink.lock().unwrap().push(cb)), seen)
}

/// The tests of this file run one at a time. Two of them read the log through a subscriber set
/// for their thread, and tracing caches per call site whether anyone listens: a test on another
/// thread reaching the same call site at the wrong moment could cache "no one" (seen once on a
/// loaded machine: the log test then saw no line at all).
async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE_AT_A_TIME.lock().await
}

async fn call(app: &Router, method: &str, uri: &str, body: impl Into<Body>) -> (StatusCode, String) {
    let req = Request::builder().method(method).uri(uri).body(body.into()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// A signed POST of `plaintext` in an XML envelope, encrypted with `crypto`, verified by `signer`.
fn signed_post(
    crypto: &CallbackCrypto,
    signer: &CallbackCrypto,
    plaintext: &str,
    ts: &str,
) -> (String, String) {
    let encrypt = crypto.encrypt(plaintext.as_bytes()).unwrap();
    let sig = signer.sign(ts, "nonce1", &encrypt).to_hex();
    let uri = format!("/wxkf/callback?msg_signature={sig}&timestamp={ts}&nonce=nonce1");
    (
        uri,
        format!("<xml><ToUserName><![CDATA[x]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
    )
}

const KF_EVENT: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token><OpenKfId><![CDATA[wkxxxxxxx]]></OpenKfId></xml>";

#[tokio::test]
async fn url_verification_answers_the_official_echo_as_plain_text() {
    let _alone = alone().await;
    let (app, seen) = app(CallbackConfig::new(crypto()));
    for v in vectors()["url_verification"].as_array().unwrap() {
        let uri = format!("/wxkf/callback?{}", v["query"].as_str().unwrap());
        let req = Request::get(&uri).body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        assert_eq!(body, v["plaintext"].as_str().unwrap().as_bytes());
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn official_xml_and_json_envelopes_are_decrypted_and_handed_on_as_other_events() {
    let _alone = alone().await;
    let (app, seen) = app(CallbackConfig::new(crypto()));
    let v = vectors();
    let messages = v["messages"].as_array().unwrap();
    assert!(messages.len() >= 2);
    for m in messages {
        let uri = format!(
            "/wxkf/callback?msg_signature={}&timestamp={}&nonce={}",
            m["msg_signature"].as_str().unwrap(),
            m["timestamp"].as_str().unwrap(),
            m["nonce"].as_str().unwrap()
        );
        let (status, body) = call(&app, "POST", &uri, m["body"].as_str().unwrap().to_owned()).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "success"), "{}", m["name"]);
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), messages.len());
    for (cb, m) in seen.iter().zip(messages) {
        assert_eq!(cb.plaintext, m["plaintext"].as_str().unwrap());
        assert_eq!(cb.timestamp, "1409659813");
        match &cb.event {
            CallbackEvent::Other { msg_type, .. } => assert_eq!(msg_type, "text"),
            other => panic!("expected Other, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn kf_msg_or_event_is_parsed() {
    let _alone = alone().await;
    let c = crypto();
    let (app, seen) = app(CallbackConfig::new(c.clone()));
    let (uri, body) = signed_post(&c, &c, KF_EVENT, "1409659813");
    assert_eq!(call(&app, "POST", &uri, body).await, (StatusCode::OK, "success".to_owned()));
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].event.token(), Some("ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"));
    assert_eq!(seen[0].event.open_kfid(), Some("wkxxxxxxx"));
}

#[tokio::test]
async fn every_bad_input_gets_its_4xx_and_reaches_no_handler() {
    let _alone = alone().await;
    let c = crypto();
    let v = vectors();
    let (app, seen) = app(CallbackConfig::new(c.clone()).with_body_limit(4096));
    let m = &v["messages"][0];
    let good_q = format!(
        "msg_signature={}&timestamp={}&nonce={}",
        m["msg_signature"].as_str().unwrap(),
        m["timestamp"].as_str().unwrap(),
        m["nonce"].as_str().unwrap()
    );
    let good_body = m["body"].as_str().unwrap().to_owned();
    let echo_q = v["url_verification"][0]["query"].as_str().unwrap();
    let other_corp = CallbackCrypto::new(
        v["token"].as_str().unwrap(),
        v["encoding_aes_key"].as_str().unwrap(),
        "wwanothercorp",
    )
    .unwrap();
    let (wrong_rid_uri, wrong_rid_body) = signed_post(&other_corp, &c, KF_EVENT, "1409659813");
    let (not_event_uri, not_event_body) = signed_post(&c, &c, "hello", "1409659813");
    let (bad_utf8_uri, bad_utf8_body) = {
        let encrypt = c.encrypt(&[0xff, 0xfe, 0x3c]).unwrap();
        let sig = c.sign("1", "n", &encrypt).to_hex();
        (
            format!("/wxkf/callback?msg_signature={sig}&timestamp=1&nonce=n"),
            format!("<xml><Encrypt>{encrypt}</Encrypt></xml>"),
        )
    };
    let tampered_echo = echo_q.replace("P9nA", "Q9nA");
    let cases: Vec<(&str, &str, String, String, StatusCode, &str)> = vec![
        (
            "GET no query",
            "GET",
            "/wxkf/callback".into(),
            String::new(),
            StatusCode::BAD_REQUEST,
            "missing msg_signature, timestamp or nonce",
        ),
        (
            "GET no echostr",
            "GET",
            format!("/wxkf/callback?{good_q}"),
            String::new(),
            StatusCode::BAD_REQUEST,
            "missing echostr",
        ),
        (
            "GET tampered echostr",
            "GET",
            format!("/wxkf/callback?{tampered_echo}"),
            String::new(),
            StatusCode::UNAUTHORIZED,
            "bad signature",
        ),
        (
            "GET malformed signature",
            "GET",
            format!("/wxkf/callback?{}", echo_q.replace("msg_signature=5c45", "msg_signature=zz")),
            String::new(),
            StatusCode::UNAUTHORIZED,
            "bad signature",
        ),
        (
            "POST no query",
            "POST",
            "/wxkf/callback".into(),
            good_body.clone(),
            StatusCode::BAD_REQUEST,
            "missing msg_signature, timestamp or nonce",
        ),
        (
            "POST wrong nonce",
            "POST",
            format!("/wxkf/callback?{good_q}").replace("nonce=", "nonce=9"),
            good_body.clone(),
            StatusCode::UNAUTHORIZED,
            "bad signature",
        ),
        (
            "POST empty body",
            "POST",
            format!("/wxkf/callback?{good_q}"),
            String::new(),
            StatusCode::BAD_REQUEST,
            "bad body",
        ),
        (
            "POST not an envelope",
            "POST",
            format!("/wxkf/callback?{good_q}"),
            "hello".into(),
            StatusCode::BAD_REQUEST,
            "bad body",
        ),
        (
            "POST JSON without Encrypt",
            "POST",
            format!("/wxkf/callback?{good_q}"),
            "{\"a\":1}".into(),
            StatusCode::BAD_REQUEST,
            "bad body",
        ),
        (
            "POST too large",
            "POST",
            format!("/wxkf/callback?{good_q}"),
            "x".repeat(5000),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large",
        ),
        (
            "POST wrong receive id",
            "POST",
            wrong_rid_uri,
            wrong_rid_body,
            StatusCode::FORBIDDEN,
            "wrong receive id",
        ),
        (
            "POST plaintext not an event",
            "POST",
            not_event_uri,
            not_event_body,
            StatusCode::BAD_REQUEST,
            "bad event",
        ),
        (
            "POST plaintext not UTF-8",
            "POST",
            bad_utf8_uri,
            bad_utf8_body,
            StatusCode::BAD_REQUEST,
            "cannot decrypt",
        ),
        (
            "POST ciphertext not base64",
            "POST",
            format!(
                "/wxkf/callback?{}",
                good_q.replace(
                    m["msg_signature"].as_str().unwrap(),
                    &c.sign("1409659813", "1372623149", "!!!").to_hex()
                )
            ),
            "<xml><Encrypt>!!!</Encrypt></xml>".into(),
            StatusCode::BAD_REQUEST,
            "cannot decrypt",
        ),
    ];
    for (name, method, uri, body, status, reason) in cases {
        let (got, text) = call(&app, method, &uri, body).await;
        assert_eq!((got, text.as_str()), (status, reason), "{name}");
    }
    assert!(seen.lock().unwrap().is_empty(), "no bad input reaches the handler");
    // and the same route still works afterwards
    let (status, _) = call(&app, "POST", &format!("/wxkf/callback?{good_q}"), good_body).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn replay_window_rejects_old_timestamps_and_accepts_fresh_ones() {
    let _alone = alone().await;
    let c = crypto();
    let (app, seen) = app(CallbackConfig::new(c.clone()).with_replay_window(Duration::from_secs(300)));
    let (old_uri, old_body) = signed_post(&c, &c, KF_EVENT, "1409659813");
    assert_eq!(
        call(&app, "POST", &old_uri, old_body).await,
        (StatusCode::BAD_REQUEST, "stale timestamp".to_owned())
    );
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let (uri, body) = signed_post(&c, &c, KF_EVENT, &now.to_string());
    assert_eq!(call(&app, "POST", &uri, body).await.0, StatusCode::OK);
    let v = vectors();
    let echo = format!("/wxkf/callback?{}", v["url_verification"][0]["query"].as_str().unwrap());
    assert_eq!(call(&app, "GET", &echo, Body::empty()).await.1, "stale timestamp");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn composes_with_user_state_routes_layers_and_a_custom_path() {
    let _alone = alone().await;
    #[derive(Clone)]
    struct AppState {
        greeting: &'static str,
    }
    let c = crypto();
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let app: Router = Router::new()
        .route(
            "/hello",
            axum::routing::get(|axum::extract::State(s): axum::extract::State<AppState>| async move {
                s.greeting
            }),
        )
        .merge(callback_router(CallbackConfig::new(c.clone()).with_path("/hooks/kf"), move |cb: Callback| {
            sink.lock().unwrap().push(cb)
        }))
        .layer(tower::layer::util::Identity::new())
        .with_state(AppState { greeting: "hi" });
    assert_eq!(call(&app, "GET", "/hello", Body::empty()).await, (StatusCode::OK, "hi".to_owned()));
    let (uri, body) = signed_post(&c, &c, KF_EVENT, "1409659813");
    let uri = uri.replace("/wxkf/callback", "/hooks/kf");
    assert_eq!(call(&app, "POST", &uri, body).await, (StatusCode::OK, "success".to_owned()));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(call(&app, "PUT", &uri, Body::empty()).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

/// A `tracing` subscriber that keeps each event as one line, `message field=value …`.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

struct LineVisitor(String);

impl tracing::field::Visit for LineVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl tracing::Subscriber for Lines {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = LineVisitor(String::new());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

impl Lines {
    fn matching(&self, text: &str) -> Vec<String> {
        self.0.lock().unwrap().iter().filter(|l| l.contains(text)).cloned().collect()
    }
}

#[tokio::test]
async fn a_flood_of_bad_callbacks_logs_a_few_lines_and_every_one_still_gets_its_4xx() {
    let _alone = alone().await;
    let lines = Lines::default();
    let _guard = tracing::subscriber::set_default(lines.clone());
    tracing::callsite::rebuild_interest_cache();
    let c = crypto();
    let (app, seen) = app(CallbackConfig::new(c.clone()).with_rejection_log(3, Duration::from_secs(3600)));
    let m = &vectors()["messages"][0];
    let forged = format!(
        "/wxkf/callback?msg_signature={}&timestamp={}&nonce={}",
        "0".repeat(40),
        m["timestamp"].as_str().unwrap(),
        m["nonce"].as_str().unwrap()
    );
    for _ in 0..50 {
        let (status, body) = call(&app, "POST", &forged, m["body"].as_str().unwrap().to_owned()).await;
        assert_eq!((status, body.as_str()), (StatusCode::UNAUTHORIZED, "bad signature"));
    }
    let (status, _) = call(&app, "GET", "/wxkf/callback", Body::empty()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let rejected = lines.matching("callback rejected");
    assert_eq!(rejected.len(), 3, "{rejected:#?}");
    assert!(rejected[0].contains("status=401") && rejected[0].contains("bad signature"), "{}", rejected[0]);
    assert!(rejected[0].contains("code -40001"), "the log says which step failed: {}", rejected[0]);
    assert!(lines.matching("not logged").is_empty(), "the interval has not ended");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_count_of_unlogged_rejections_follows_when_the_interval_ends() {
    let _alone = alone().await;
    let lines = Lines::default();
    let _guard = tracing::subscriber::set_default(lines.clone());
    tracing::callsite::rebuild_interest_cache();
    // A zero interval ends at every request: each rejection closes the window before it, so with
    // no lines allowed every request after the first reports the one rejection before it.
    let (app, _) = app(CallbackConfig::new(crypto()).with_rejection_log(0, Duration::ZERO));
    for _ in 0..4 {
        call(&app, "POST", "/wxkf/callback?timestamp=1", "x").await;
    }
    assert!(lines.matching("callback rejected").is_empty());
    let counts = lines.matching("callback rejections not logged in the last interval");
    assert_eq!(counts.len(), 3, "{counts:#?}");
    assert!(counts.iter().all(|l| l.contains("suppressed=1")), "{counts:#?}");
}
