//! The client's metrics (`wxkf_api_errors_total`, `wxkf_token_fetches_total`), read from a
//! `DebuggingRecorder` installed for the test's thread only: every test runs on a current-thread
//! runtime, so the client's calls (and the tasks they spawn) record into that test's recorder and
//! tests running in parallel never see each other's samples.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::json;
use support::*;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};
use wxkf_types::Endpoint;
use wxkf_types::message::SendMsgRequest;

const SEND_MSG: &str = "/cgi-bin/kf/send_msg";
const GETTOKEN: &str = "/cgi-bin/gettoken";

/// `(name, sorted labels, counter value)` for every counter of one snapshot.
type Counters = Vec<(String, Vec<(String, String)>, u64)>;

fn counters(snapshotter: &Snapshotter) -> Counters {
    let mut out: Counters = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (_, key) = key.into_parts();
            let mut labels: Vec<(String, String)> =
                key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            labels.sort();
            let DebugValue::Counter(n) = value else { panic!("{} is not a counter", key.name()) };
            (key.name().to_owned(), labels, n)
        })
        .collect();
    out.sort();
    out
}

fn counter(name: &str, labels: &[(&str, &str)], n: u64) -> (String, Vec<(String, String)>, u64) {
    let mut labels: Vec<(String, String)> =
        labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    labels.sort();
    (name.to_owned(), labels, n)
}

fn send_ok() -> ResponseTemplate {
    ok_json(json!({"errcode": 0, "errmsg": "ok", "msgid": "sent-1"}))
}

#[tokio::test]
async fn a_95018_answer_is_one_api_error_with_path_and_errcode_and_one_token_fetch() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(SEND_MSG))
        .respond_with(api_error(95018, "send msg session status invalid"))
        .expect(1)
        .mount(&server)
        .await;
    let req = SendMsgRequest::text("wm_secret_customer", "wk1", "hello").with_msgid("reply-m1");
    let err = client(&server).message().send_msg(req).await.unwrap_err();
    assert_eq!(err.errcode(), Some(95018));
    assert_eq!(
        counters(&snapshotter),
        vec![
            counter("wxkf_api_errors_total", &[("path", SEND_MSG), ("errcode", "95018")], 1),
            counter("wxkf_token_fetches_total", &[("outcome", "ok")], 1),
        ]
    );
    server.verify().await;
}

#[tokio::test]
async fn a_40014_then_a_retry_counts_the_rejected_attempt_once_and_two_token_fetches() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 2).await;
    Mock::given(method("POST"))
        .and(path(SEND_MSG))
        .and(query_param("access_token", "tok-1"))
        .respond_with(api_error(40014, "invalid access_token"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEND_MSG))
        .and(query_param("access_token", "tok-2"))
        .respond_with(send_ok())
        .expect(1)
        .mount(&server)
        .await;
    let req = SendMsgRequest::text("wm1", "wk1", "hello").with_msgid("reply-m1");
    client(&server).message().send_msg(req).await.unwrap();
    assert_eq!(
        counters(&snapshotter),
        vec![
            counter("wxkf_api_errors_total", &[("path", SEND_MSG), ("errcode", "40014")], 1),
            counter("wxkf_token_fetches_total", &[("outcome", "ok")], 2),
        ]
    );
    server.verify().await;
}

#[tokio::test]
async fn every_retried_attempt_with_an_errcode_is_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    // -1 (busy) twice, then success: two counted attempts, the third not.
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .respond_with(Seq::new([
            api_error(-1, "system busy"),
            api_error(-1, "system busy"),
            ok_json(json!({"errcode": 0, "errmsg": "ok", "value": "v"})),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    client(&server).execute(&echo()).await.unwrap();
    assert_eq!(
        counters(&snapshotter),
        vec![
            counter("wxkf_api_errors_total", &[("path", Echo::PATH), ("errcode", "-1")], 2),
            counter("wxkf_token_fetches_total", &[("outcome", "ok")], 1),
        ]
    );
    server.verify().await;
}

#[tokio::test]
async fn a_gettoken_failure_is_one_failed_fetch_and_a_gettoken_api_error() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(GETTOKEN))
        .respond_with(api_error(40001, "invalid credential"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).execute(&echo()).await.unwrap_err();
    assert_eq!(err.errcode(), Some(40001));
    assert_eq!(
        counters(&snapshotter),
        vec![
            counter("wxkf_api_errors_total", &[("path", GETTOKEN), ("errcode", "40001")], 1),
            counter("wxkf_token_fetches_total", &[("outcome", "failed")], 1),
        ]
    );
    server.verify().await;
}

#[tokio::test]
async fn a_gettoken_retried_to_success_is_one_ok_fetch() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(GETTOKEN))
        .respond_with(Seq::new([
            ResponseTemplate::new(503),
            api_error(-1, "system busy"),
            ok_json(json!({"errcode": 0, "errmsg": "ok", "access_token": "tok-1", "expires_in": 7200})),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    assert_eq!(client(&server).access_token().await.unwrap().expose_secret(), "tok-1");
    assert_eq!(
        counters(&snapshotter),
        vec![
            counter("wxkf_api_errors_total", &[("path", GETTOKEN), ("errcode", "-1")], 1),
            counter("wxkf_token_fetches_total", &[("outcome", "ok")], 1),
        ]
    );
    server.verify().await;
}

#[tokio::test]
async fn concurrent_token_requests_share_one_fetch_and_count_it_once() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = server().await;
    // A slow gettoken, so the 50 callers all wait for the same fetch.
    mount_gettoken(&server, Duration::from_millis(200), 7200, 1).await;
    let client = client(&server);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let client = client.clone();
        tasks.spawn(async move { client.access_token().await.map(|t| t.expose_secret().to_owned()) });
    }
    while let Some(token) = tasks.join_next().await {
        assert_eq!(token.unwrap().unwrap(), "tok-1");
    }
    assert_eq!(counters(&snapshotter), vec![counter("wxkf_token_fetches_total", &[("outcome", "ok")], 1)]);
    server.verify().await;
}

#[tokio::test]
async fn concurrent_token_requests_during_an_outage_count_one_failed_fetch() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(GETTOKEN))
        .respond_with(api_error(40001, "invalid credential").set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = client.clone();
        tasks.spawn(async move { client.access_token().await.map(|_| ()) });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap_err().errcode(), Some(40001));
    }
    assert_eq!(
        counters(&snapshotter),
        vec![
            counter("wxkf_api_errors_total", &[("path", GETTOKEN), ("errcode", "40001")], 1),
            counter("wxkf_token_fetches_total", &[("outcome", "failed")], 1),
        ]
    );
    server.verify().await;
}

#[tokio::test]
async fn no_label_holds_a_customer_id_a_msgid_a_token_or_a_secret() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 2).await;
    Mock::given(method("POST"))
        .and(path(SEND_MSG))
        .respond_with(Seq::new([
            api_error(42001, "access_token expired"),
            api_error(-1, "system busy"),
            api_error(95018, "send msg session status invalid"),
        ]))
        .mount(&server)
        .await;
    let req = SendMsgRequest::text("wm_customer_42", "wk1", "text-content-xyz").with_msgid("msgid-77");
    client(&server).message().send_msg(req).await.unwrap_err();
    let seen = counters(&snapshotter);
    assert_eq!(seen.len(), 4, "{seen:?}"); // 42001, -1, 95018 and the token fetches
    let secret = secret_for(&server);
    for (name, labels, _) in &seen {
        for (key, value) in labels {
            for forbidden in
                ["wm_customer_42", "msgid-77", "text-content-xyz", "tok-", secret.as_str(), CORP_ID]
            {
                assert!(!value.contains(forbidden), "{name}{{{key}={value}}} holds {forbidden}");
            }
        }
    }
}

/// What one `describe_*` call registered.
type Described = Arc<Mutex<Vec<(&'static str, String, Option<Unit>, String)>>>;

/// A recorder that only keeps the descriptions it is given.
#[derive(Default)]
struct Descriptions(Described);

impl Descriptions {
    fn push(&self, kind: &'static str, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.0.lock().unwrap().push((kind, key.as_str().to_owned(), unit, help.to_string()));
    }
}

impl Recorder for Descriptions {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.push("counter", key, unit, help);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.push("gauge", key, unit, help);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, help: SharedString) {
        self.push("histogram", key, unit, help);
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
fn describe_metrics_gives_every_metric_name_a_counter_description_with_help() {
    let recorder = Descriptions::default();
    let described = recorder.0.clone();
    metrics::with_local_recorder(&recorder, wxkf_client::describe_metrics);
    let described = described.lock().unwrap();
    let mut names: Vec<&str> = described.iter().map(|(_, name, _, _)| name.as_str()).collect();
    names.sort_unstable();
    let mut expected = wxkf_client::METRIC_NAMES.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert_eq!(expected, ["wxkf_api_errors_total", "wxkf_token_fetches_total"]);
    for (kind, name, unit, help) in described.iter() {
        assert_eq!((*kind, unit), ("counter", &Some(Unit::Count)), "{name}");
        assert!(help.len() > 20, "{name}: {help:?}");
    }
}
