//! Shared test helpers: a mock WeCom with a loud catch-all, a counting token responder, sequenced
//! responses and a client with tiny retry delays.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wiremock::matchers::{any, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use wxkf_client::{Client, ClientBuilder, RetryPolicy};
use wxkf_types::{Endpoint, Method, RequestBody};

pub const CORP_ID: &str = "ww-test-corp";

/// A mock server with a catch-all that answers 418 and fails verification on any request no other
/// mock matched (its name says so in the panic message).
pub async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(|req: &Request| {
            ResponseTemplate::new(418).set_body_string(format!(
                "unexpected request: {} {}",
                req.method,
                req.url.path()
            ))
        })
        .with_priority(u8::MAX)
        .named("catch-all: a request no test expected")
        .expect(0)
        .mount(&server)
        .await;
    server
}

/// A secret unique to one mock server, so tests never share a token cache key.
pub fn secret_for(server: &MockServer) -> String {
    format!("SECRET-{}", server.address().port())
}

/// A retry policy with millisecond delays.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_retries(3)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .with_throttle(2, Duration::from_millis(1), Duration::from_millis(5))
}

pub fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder(CORP_ID, secret_for(server))
        .base_url(server.uri())
        .retry_policy(fast_retries())
        .timeout(Duration::from_secs(5))
}

pub fn client(server: &MockServer) -> Client {
    builder(server).build().unwrap()
}

/// Answers `gettoken` with `tok-1`, `tok-2`, … and counts the calls.
pub struct TokenResponder {
    count: AtomicUsize,
    delay: Duration,
    expires_in: u64,
}

impl TokenResponder {
    pub fn new(delay: Duration, expires_in: u64) -> Self {
        TokenResponder { count: AtomicUsize::new(0), delay, expires_in }
    }
}

impl Respond for TokenResponder {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200)
            .set_body_json(json!({"errcode": 0, "errmsg": "ok", "access_token": format!("tok-{n}"), "expires_in": self.expires_in}))
            .set_delay(self.delay)
    }
}

/// Mounts `gettoken` (checking corpid and corpsecret) answering `tok-N`, expecting `expected` calls.
pub async fn mount_gettoken(server: &MockServer, delay: Duration, expires_in: u64, expected: u64) {
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .and(query_param("corpid", CORP_ID))
        .and(query_param("corpsecret", secret_for(server).as_str()))
        .respond_with(TokenResponder::new(delay, expires_in))
        .named("gettoken")
        .expect(expected)
        .mount(server)
        .await;
}

/// Responds with the given templates in order, repeating the last one.
pub struct Seq(Mutex<VecDeque<ResponseTemplate>>);

impl Seq {
    pub fn new(templates: impl IntoIterator<Item = ResponseTemplate>) -> Self {
        Seq(Mutex::new(templates.into_iter().collect()))
    }
}

impl Respond for Seq {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut queue = self.0.lock().unwrap();
        if queue.len() > 1 { queue.pop_front().unwrap() } else { queue.front().cloned().unwrap() }
    }
}

/// A 200 with a JSON body.
pub fn ok_json(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A 200 with `{"errcode": code, "errmsg": msg}`.
pub fn api_error(code: i64, msg: &str) -> ResponseTemplate {
    ok_json(json!({"errcode": code, "errmsg": msg}))
}

/// The JSON bodies of the requests the server received on `path`.
pub async fn bodies_on(server: &MockServer, p: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == p)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

/// An idempotent JSON endpoint defined by the test.
#[derive(Debug, Serialize)]
pub struct Echo {
    pub open_kfid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct EchoResponse {
    pub value: String,
}

impl Endpoint for Echo {
    type Response = EchoResponse;
    const METHOD: Method = Method::Post;
    const PATH: &'static str = "/cgi-bin/kf/test/echo";
    const REQUEST_BODY: RequestBody = RequestBody::Json;
    const IDEMPOTENT: bool = true;
}

/// `Echo` for account `wk1`.
pub fn echo() -> Echo {
    Echo { open_kfid: "wk1".into(), name: None }
}
