//! `wxkf_callbacks_total{result}`: one request of each kind through the real route (signed and
//! encrypted with `wxkf-crypto`), then the recorder's counts. Each test installs a
//! `DebuggingRecorder` for its own thread and runs on a current-thread runtime, so tests running
//! in parallel never see each other's samples.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::Value;
use tower::ServiceExt;
use wxkf_axum::{Callback, CallbackConfig, bot_router, callback_router};
use wxkf_bot::{Bot, Handler, HandlerError, ReplyContext};
use wxkf_crypto::CallbackCrypto;
use wxkf_types::message::Message;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../wxkf-crypto/tests/vectors/official.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn crypto_for(receive_id: &str) -> CallbackCrypto {
    let v = vectors();
    CallbackCrypto::new(v["token"].as_str().unwrap(), v["encoding_aes_key"].as_str().unwrap(), receive_id)
        .unwrap()
}

fn crypto() -> CallbackCrypto {
    crypto_for(vectors()["receive_id"].as_str().unwrap())
}

fn now() -> String {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string()
}

/// A customer's id, a msgid and a sync token that must never become a label value.
const CUSTOMER: &str = "wmCustomerSecret42";
const MSGID: &str = "msgidNeverALabel7";
const SYNC_TOKEN: &str = "ENCSyncTokenNeverALabel";
const KFID: &str = "wkAccountNeverALabel";

fn kf_event() -> String {
    format!(
        "<xml><ToUserName><![CDATA[ww]]></ToUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[{SYNC_TOKEN}]]></Token><OpenKfId><![CDATA[{KFID}]]></OpenKfId></xml>"
    )
}

/// A plaintext that is a text message naming a customer and a msgid (handed on as `Other`).
fn text_event() -> String {
    format!(
        "<xml><ToUserName><![CDATA[ww]]></ToUserName><FromUserName><![CDATA[{CUSTOMER}]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>{MSGID}</MsgId></xml>"
    )
}

/// `(uri, body)` of a POST of `plaintext` encrypted with `crypto` and signed with `signer`.
fn signed_post(
    crypto: &CallbackCrypto,
    signer: &CallbackCrypto,
    plaintext: &[u8],
    ts: &str,
) -> (String, String) {
    let encrypt = crypto.encrypt(plaintext).unwrap();
    let sig = signer.sign(ts, "nonce1", &encrypt).to_hex();
    (
        format!("/wxkf/callback?msg_signature={sig}&timestamp={ts}&nonce=nonce1"),
        format!("<xml><ToUserName><![CDATA[x]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"),
    )
}

async fn call(app: &Router, method: &str, uri: &str, body: impl Into<Body>) -> StatusCode {
    let req = Request::builder().method(method).uri(uri).body(body.into()).unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

fn app() -> (Router, Arc<Mutex<usize>>) {
    let seen = Arc::new(Mutex::new(0));
    let sink = seen.clone();
    let config =
        CallbackConfig::new(crypto()).with_body_limit(4096).with_replay_window(Duration::from_secs(300));
    (callback_router(config, move |_: Callback| *sink.lock().unwrap() += 1), seen)
}

/// `(result label, count)` of every `wxkf_callbacks_total` sample; panics on any other metric
/// or label key.
fn results(snapshotter: &Snapshotter) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (_, key) = key.into_parts();
            assert_eq!(key.name(), "wxkf_callbacks_total");
            let labels: Vec<_> = key.labels().collect();
            assert_eq!(labels.len(), 1, "{key:?}");
            assert_eq!(labels[0].key(), "result");
            let DebugValue::Counter(n) = value else { panic!("not a counter: {key:?}") };
            (labels[0].value().to_owned(), n)
        })
        .collect();
    out.sort();
    out
}

fn expected(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = pairs.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_signed_callback_is_accepted_and_a_url_check_url_verified() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let (app, seen) = app();
    let c = crypto();
    for _ in 0..3 {
        let (uri, body) = signed_post(&c, &c, kf_event().as_bytes(), &now());
        assert_eq!(call(&app, "POST", &uri, body).await, StatusCode::OK);
    }
    // the URL check, signed now (the official vector's timestamp is outside the replay window)
    let ts = now();
    let echostr = c.encrypt(b"echo-123").unwrap();
    let sig = c.sign(&ts, "n", &echostr).to_hex();
    let echostr_q: String = echostr.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let uri = format!("/wxkf/callback?msg_signature={sig}&timestamp={ts}&nonce=n&echostr={echostr_q}");
    assert_eq!(call(&app, "GET", &uri, Body::empty()).await, StatusCode::OK);
    assert_eq!(*seen.lock().unwrap(), 3);
    assert_eq!(results(&snapshotter), expected(&[("accepted", 3), ("url_verified", 1)]));
}

#[tokio::test]
async fn every_refusal_is_counted_once_under_its_own_result() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let (app, seen) = app();
    let c = crypto();
    let other_key =
        CallbackCrypto::new("othertoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww1").unwrap();
    let ts = now();
    let (good_uri, _) = signed_post(&c, &c, kf_event().as_bytes(), &ts);
    let cases: Vec<(&str, String, String, StatusCode)> = vec![
        ("bad_query", "/wxkf/callback".into(), String::new(), StatusCode::BAD_REQUEST),
        {
            let (uri, body) = signed_post(&c, &other_key, kf_event().as_bytes(), &ts);
            ("bad_signature", uri, body, StatusCode::UNAUTHORIZED)
        },
        ("bad_body", good_uri.clone(), "not an envelope".into(), StatusCode::BAD_REQUEST),
        ("body_too_large", good_uri.clone(), "x".repeat(5000), StatusCode::PAYLOAD_TOO_LARGE),
        {
            let (uri, body) = signed_post(&crypto_for("wwanothercorp"), &c, kf_event().as_bytes(), &ts);
            ("wrong_receive_id", uri, body, StatusCode::FORBIDDEN)
        },
        {
            let (uri, body) = signed_post(&c, &c, &[0xff, 0xfe, 0x3c], &ts);
            ("cannot_decrypt", uri, body, StatusCode::BAD_REQUEST)
        },
        {
            let (uri, body) = signed_post(&c, &c, b"hello", &ts);
            ("bad_event", uri, body, StatusCode::BAD_REQUEST)
        },
        {
            let (uri, body) = signed_post(&c, &c, kf_event().as_bytes(), "1409659813");
            ("stale_timestamp", uri, body, StatusCode::BAD_REQUEST)
        },
        {
            let (uri, body) = signed_post(&c, &c, kf_event().as_bytes(), "soon");
            ("bad_timestamp", uri, body, StatusCode::BAD_REQUEST)
        },
    ];
    let mut want = Vec::new();
    for (result, uri, body, status) in cases {
        assert_eq!(call(&app, "POST", &uri, body).await, status, "{result}");
        want.push((result, 1));
    }
    assert_eq!(*seen.lock().unwrap(), 0, "no refused request reaches the handler");
    assert_eq!(results(&snapshotter), expected(&want));
}

struct Silent;

#[async_trait]
impl Handler for Silent {
    async fn on_customer_message(&self, _: &ReplyContext, _: &Message) -> Result<(), HandlerError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_callback_after_the_bot_shut_down_is_shutting_down() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    // never called: the bot is shut down before any callback
    let client =
        wxkf_client::Client::builder("ww-test", "secret").base_url("http://127.0.0.1:9").build().unwrap();
    let bot = Bot::builder(client, Silent).memory_store().build().unwrap();
    bot.shutdown().await;
    let app: Router = bot_router(CallbackConfig::new(crypto()), bot);
    let c = crypto();
    let (uri, body) = signed_post(&c, &c, kf_event().as_bytes(), &now());
    assert_eq!(call(&app, "POST", &uri, body).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(results(&snapshotter), expected(&[("shutting_down", 1)]));
}

#[tokio::test]
async fn no_label_holds_a_customer_id_a_msgid_an_account_or_a_token() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let (app, seen) = app();
    let c = crypto();
    let other_key =
        CallbackCrypto::new("othertoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww1").unwrap();
    for plaintext in [kf_event(), text_event()] {
        let (uri, body) = signed_post(&c, &c, plaintext.as_bytes(), &now());
        assert_eq!(call(&app, "POST", &uri, body).await, StatusCode::OK);
        let (uri, body) = signed_post(&c, &other_key, plaintext.as_bytes(), &now());
        assert_eq!(call(&app, "POST", &uri, body).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(*seen.lock().unwrap(), 2);
    let snapshot = snapshotter.snapshot().into_vec();
    assert_eq!(snapshot.len(), 2, "accepted and bad_signature");
    for (key, _, _, _) in snapshot {
        let (_, key) = key.into_parts();
        for label in key.labels() {
            for forbidden in [CUSTOMER, MSGID, SYNC_TOKEN, KFID] {
                assert!(
                    !label.value().contains(forbidden),
                    "{}={} holds {forbidden}",
                    label.key(),
                    label.value()
                );
            }
        }
    }
}

/// What the `describe_*` calls registered: `(kind, name, unit, help)`.
type Described = Arc<Mutex<Vec<(&'static str, String, Option<Unit>, String)>>>;

/// A recorder that only keeps the descriptions it is given.
#[derive(Default)]
struct Descriptions(Described);

impl Recorder for Descriptions {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.0.lock().unwrap().push(("counter", key.as_str().to_owned(), unit, help.to_string()));
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.0.lock().unwrap().push(("gauge", key.as_str().to_owned(), unit, help.to_string()));
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.0.lock().unwrap().push(("histogram", key.as_str().to_owned(), unit, help.to_string()));
    }
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn describe_metrics_describes_every_metric_name_as_a_counter_with_help() {
    let recorder = Descriptions::default();
    let described = recorder.0.clone();
    metrics::with_local_recorder(&recorder, wxkf_axum::describe_metrics);
    let described = described.lock().unwrap();
    let names: Vec<&str> = described.iter().map(|(_, name, _, _)| name.as_str()).collect();
    assert_eq!(names, wxkf_axum::METRIC_NAMES);
    for (kind, name, unit, help) in described.iter() {
        assert_eq!((*kind, unit), ("counter", &Some(Unit::Count)), "{name}");
        assert!(help.contains("accepted") && help.contains("bad_signature"), "{name}: {help:?}");
    }
}
