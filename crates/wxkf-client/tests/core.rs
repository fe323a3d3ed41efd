//! The client core against a mock WeCom: token single-flight, refresh-once on token errors,
//! compare-and-delete, never-older, retries and their budgets, request shapes, and secrecy.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;
use support::*;
use wiremock::matchers::{body_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};
use wxkf_client::{AccessToken, CachedToken, Error, MemoryTokenStore, RetryPolicy, TokenStore};
use wxkf_types::{Endpoint, Method, RequestBody};

/// A non-idempotent JSON endpoint defined by the test.
#[derive(Debug, Serialize)]
struct Create {
    name: String,
}

impl Endpoint for Create {
    type Response = EchoResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = "/cgi-bin/kf/test/create";
    const REQUEST_BODY: RequestBody = RequestBody::Json;
    const IDEMPOTENT: bool = false;
}

/// A GET endpoint defined by the test.
#[derive(Debug, Serialize)]
struct Lookup {
    open_kfid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    limit: u32,
}

impl Endpoint for Lookup {
    type Response = EchoResponse;
    const METHOD: Method = Method::Get;
    const PATH: &'static str = "/cgi-bin/kf/test/lookup";
    const REQUEST_BODY: RequestBody = RequestBody::Query;
    const IDEMPOTENT: bool = true;
}

fn echo_ok() -> ResponseTemplate {
    ok_json(json!({"errcode": 0, "errmsg": "ok", "value": "v"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_calls_on_a_cold_cache_fetch_one_token() {
    let server = server().await;
    mount_gettoken(&server, Duration::from_millis(200), 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .and(query_param("access_token", "tok-1"))
        .respond_with(echo_ok())
        .expect(1000)
        .mount(&server)
        .await;
    let client = client(&server);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let client = client.clone();
        tasks.spawn(async move { client.execute(&echo()).await });
    }
    let mut ok = 0;
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap(), EchoResponse { value: "v".into() });
        ok += 1;
    }
    assert_eq!(ok, 1000);
    server.verify().await;
}

#[tokio::test]
async fn token_invalidated_mid_call_refreshes_once_and_retries_even_non_idempotent() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 2).await;
    Mock::given(method("POST"))
        .and(path(Create::PATH))
        .and(query_param("access_token", "tok-1"))
        .respond_with(api_error(40014, "invalid access_token"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(Create::PATH))
        .and(query_param("access_token", "tok-2"))
        .and(body_json(json!({"name": "n"})))
        .respond_with(echo_ok())
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let response = client.execute(&Create { name: "n".into() }).await.unwrap();
    assert_eq!(response.value, "v");
    assert_eq!(client.access_token().await.unwrap().expose_secret(), "tok-2");
    server.verify().await;
}

#[tokio::test]
async fn a_second_token_error_is_surfaced_with_its_hint() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 2).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .respond_with(api_error(42001, "access_token expired"))
        .expect(2)
        .mount(&server)
        .await;
    let err = client(&server).execute(&echo()).await.unwrap_err();
    assert_eq!(err.errcode(), Some(42001));
    assert!(err.is_token_error());
    assert!(err.hint().is_some());
    assert!(err.to_string().contains("42001"), "{err}");
    server.verify().await;
}

#[tokio::test]
async fn a_failed_token_never_deletes_a_newer_one() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 2).await;
    // The call with tok-1 is slow and then rejected; meanwhile another task refreshes to tok-2.
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .and(query_param("access_token", "tok-1"))
        .respond_with(api_error(40014, "invalid access_token").set_delay(Duration::from_millis(300)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .and(query_param("access_token", "tok-2"))
        .respond_with(echo_ok())
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    assert_eq!(client.access_token().await.unwrap().expose_secret(), "tok-1");
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.execute(&echo()).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(client.refresh_token().await.unwrap().expose_secret(), "tok-2");
    assert_eq!(call.await.unwrap().unwrap().value, "v");
    // Only tok-1 was dropped: tok-2 is still cached, and no third gettoken happened.
    assert_eq!(client.access_token().await.unwrap().expose_secret(), "tok-2");
    server.verify().await;
}

#[tokio::test]
async fn a_stored_token_is_never_replaced_by_an_older_one() {
    let server = server().await;
    mount_gettoken(&server, Duration::from_millis(300), 7200, 1).await;
    let store = Arc::new(MemoryTokenStore::new());
    let client = builder(&server).token_store(store.clone()).build().unwrap();
    let fetch = tokio::spawn({
        let client = client.clone();
        async move { client.access_token().await }
    });
    // While our gettoken is in flight, "another process" stores a token it obtained later.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let newer =
        CachedToken::new(AccessToken::new("from-elsewhere"), SystemTime::now(), Duration::from_secs(7200));
    assert!(store.put_if_newer(client.token_key(), newer.clone()).await.unwrap());
    let got = fetch.await.unwrap().unwrap();
    assert_eq!(got.expose_secret(), "from-elsewhere");
    assert_eq!(store.get(client.token_key()).await.unwrap(), Some(newer));
    server.verify().await;
}

#[tokio::test]
async fn concurrent_forced_refreshes_share_one_gettoken() {
    let server = server().await;
    mount_gettoken(&server, Duration::from_millis(200), 7200, 2).await;
    let client = client(&server);
    assert_eq!(client.access_token().await.unwrap().expose_secret(), "tok-1");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let client = client.clone();
        tasks.spawn(async move { client.refresh_token().await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap().expose_secret(), "tok-2");
    }
    server.verify().await;
}

#[tokio::test]
async fn token_is_refreshed_ahead_of_expiry() {
    let server = server().await;
    // expires_in 2 s: the 300 s margin is capped at half the lifetime, so refresh after 1 s.
    mount_gettoken(&server, Duration::ZERO, 2, 2).await;
    let client = client(&server);
    assert_eq!(client.access_token().await.unwrap().expose_secret(), "tok-1");
    assert_eq!(client.access_token().await.unwrap().expose_secret(), "tok-1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(client.access_token().await.unwrap().expose_secret(), "tok-2");
    server.verify().await;
}

#[tokio::test]
async fn flaky_upstream_succeeds_within_the_retry_budget() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .and(query_param("access_token", "tok-1"))
        .and(body_json(json!({"open_kfid": "wk1"})))
        .respond_with(Seq::new([
            api_error(-1, "system busy"),
            ResponseTemplate::new(502),
            echo_ok().set_delay(Duration::from_secs(3)), // longer than the client's timeout
            echo_ok(),
        ]))
        .expect(4)
        .mount(&server)
        .await;
    let client = builder(&server).timeout(Duration::from_millis(300)).build().unwrap();
    assert_eq!(client.execute(&echo()).await.unwrap().value, "v");
    server.verify().await;
}

#[tokio::test]
async fn a_spent_budget_surfaces_the_last_error() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let client = builder(&server).retry_policy(fast_retries().with_max_retries(2)).build().unwrap();
    let err = client.execute(&echo()).await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 503 }), "{err:?}");
    assert!(err.is_retryable());
    server.verify().await;
}

#[tokio::test]
async fn non_idempotent_calls_are_not_retried_on_transient_errors() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Create::PATH))
        .respond_with(Seq::new([ResponseTemplate::new(502), api_error(-1, "system busy")]))
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.execute(&Create { name: "n".into() }).await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 502 }), "{err:?}");
    let err = client.execute(&Create { name: "n".into() }).await.unwrap_err();
    assert_eq!(err.errcode(), Some(-1));
    server.verify().await;
}

#[tokio::test]
async fn quota_errors_are_surfaced_not_retried() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .respond_with(api_error(95001, "send msg count limit"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).execute(&echo()).await.unwrap_err();
    assert_eq!(err.errcode(), Some(95001));
    assert!(!err.is_retryable());
    assert!(err.is_quota());
    assert!(err.to_string().contains(err.hint().unwrap()), "{err}");
    server.verify().await;
}

#[tokio::test]
async fn frequency_limits_back_off_a_bounded_number_of_times() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .respond_with(api_error(45009, "api freq out of limit"))
        .expect(3) // the first try and throttle_retries = 2
        .mount(&server)
        .await;
    let err = client(&server).execute(&echo()).await.unwrap_err();
    assert_eq!(err.errcode(), Some(45009));
    server.verify().await;
}

#[tokio::test]
async fn a_non_json_body_is_retried_once_then_reported_with_an_excerpt() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>gateway says no</html>"))
        .expect(2)
        .mount(&server)
        .await;
    let err = client(&server).execute(&echo()).await.unwrap_err();
    assert!(matches!(&err, Error::Decode { excerpt, .. } if excerpt.contains("gateway says no")), "{err:?}");
    server.verify().await;
}

#[tokio::test]
async fn get_requests_carry_parameters_and_token_in_the_query_without_empty_strings() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("GET"))
        .and(path(Lookup::PATH))
        .and(query_param("access_token", "tok-1"))
        .and(query_param("open_kfid", "wk 1/好"))
        .and(query_param("limit", "10"))
        .and(query_param_is_missing("cursor"))
        .respond_with(echo_ok())
        .expect(1)
        .mount(&server)
        .await;
    let req = Lookup { open_kfid: "wk 1/好".into(), cursor: Some(String::new()), limit: 10 };
    assert_eq!(client(&server).execute(&req).await.unwrap().value, "v");
    let received = server.received_requests().await.unwrap();
    let lookup = received.iter().find(|r| r.url.path() == Lookup::PATH).unwrap();
    assert!(lookup.body.is_empty());
    server.verify().await;
}

#[tokio::test]
async fn json_bodies_are_utf8_without_empty_optional_strings() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .and(query_param("access_token", "tok-1"))
        .and(body_json(json!({"open_kfid": "wk1"})))
        .respond_with(echo_ok())
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(Create::PATH))
        .and(body_json(json!({"name": "客服"})))
        .respond_with(echo_ok())
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    client.execute(&Echo { open_kfid: "wk1".into(), name: Some(String::new()) }).await.unwrap();
    client.execute(&Create { name: "客服".into() }).await.unwrap();
    let received = server.received_requests().await.unwrap();
    let create = received.iter().find(|r| r.url.path() == Create::PATH).unwrap();
    assert_eq!(create.body, r#"{"name":"客服"}"#.as_bytes(), "raw UTF-8, no \\u escapes");
    assert_eq!(create.headers.get("content-type").unwrap(), "application/json");
    server.verify().await;
}

#[tokio::test]
async fn a_wrong_secret_is_reported_without_retry_loops() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(api_error(40001, "invalid credential"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).execute(&echo()).await.unwrap_err();
    assert_eq!(err.errcode(), Some(40001));
    server.verify().await;
}

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn error_text(err: &Error) -> String {
    let mut text = format!("{err} | {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    text
}

#[tokio::test]
async fn secrets_never_appear_in_debug_errors_or_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // tracing caches per call site whether anyone listens; another test's thread may have
    // reached the client's call sites first, with no subscriber of its own
    tracing::callsite::rebuild_interest_cache();

    let server = server().await;
    let secret = secret_for(&server);
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .respond_with(echo_ok().set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let client = builder(&server)
        .timeout(Duration::from_millis(100))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = client.execute(&echo()).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let mut texts = vec![error_text(&err), format!("{client:?}")];

    // A transport error of gettoken itself: its URL would carry the secret.
    let closed = wxkf_client::Client::builder(CORP_ID, secret.clone())
        .base_url("http://127.0.0.1:1")
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = closed.access_token().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    texts.push(error_text(&err));
    texts.push(String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned());

    let logs = texts.last().unwrap();
    assert!(logs.contains("wxkf.call"), "the call span is logged: {logs}");
    assert!(logs.contains(Echo::PATH), "spans name the endpoint: {logs}");
    for text in &texts {
        assert!(!text.contains(&secret), "secret leaked in: {text}");
        assert!(!text.contains("tok-1"), "token leaked in: {text}");
        assert!(!text.contains("access_token="), "URL leaked in: {text}");
    }
    server.verify().await;
}
