//! Hardening against what the network sends (issue 15): size caps on responses and media, a
//! retried send whose first answer was lost, errors that say why (errcode, errmsg, cause chain)
//! and the permanent / retry-later split a bot runtime decides on.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use wxkf_client::error::chain;
use wxkf_client::{Client, Error, RetryPolicy};
use wxkf_types::Endpoint;
use wxkf_types::message::{SendMsgOnEventRequest, SendMsgRequest};

const SEND_MSG: &str = "/cgi-bin/kf/send_msg";
const SEND_ON_EVENT: &str = "/cgi-bin/kf/send_msg_on_event";
const MEDIA_GET: &str = "/cgi-bin/media/get";
const DUPLICATE: &str = "invalid Parameter: duplicate msgid, hint: [1700000000], from ip: 10.0.0.1";

// ---- size caps ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_api_response_over_the_limit_fails_naming_the_limit_and_is_not_retried() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 2).await; // two clients, two stores
    let big = "x".repeat(2000);
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .respond_with(ok_json(json!({"errcode": 0, "errmsg": "ok", "value": big})))
        .expect(2)
        .mount(&server)
        .await;

    let capped = builder(&server).max_response_bytes(1000).build().unwrap();
    let err = capped.execute(&echo()).await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { limit: 1000, media: false }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("1000 bytes") && text.contains("max_response_bytes"), "{text}");
    assert!(err.is_permanent() && !err.is_retryable());

    // The same answer under the default limit is read.
    let default = builder(&server).build().unwrap();
    assert_eq!(default.execute(&echo()).await.unwrap().value.len(), 2000);
    server.verify().await;
}

fn media_response(len: usize) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "image/jpeg")
        .insert_header("content-disposition", "attachment; filename=\"a.jpg\"")
        .set_body_bytes(vec![7u8; len])
}

#[tokio::test]
async fn a_media_download_over_the_limit_fails_before_reading_the_body() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 3).await; // three clients, three stores
    Mock::given(method("GET")).and(path(MEDIA_GET)).respond_with(media_response(4096)).mount(&server).await;

    let client = builder(&server).max_media_bytes(1000).build().unwrap();
    let err = client.media().get("MEDIA").await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { limit: 1000, media: true }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("1000 bytes") && text.contains("max_media_bytes"), "{text}");
    let err = client.media().open("MEDIA").await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { limit: 1000, media: true }), "{err:?}");
    assert_eq!(
        server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == MEDIA_GET).count(),
        2,
        "a body too large is not fetched again"
    );

    // Exactly at the limit is fine, and `None` lifts it.
    let at_limit = builder(&server).max_media_bytes(4096).build().unwrap();
    assert_eq!(at_limit.media().get("MEDIA").await.unwrap().bytes.len(), 4096);
    let unlimited = builder(&server).max_media_bytes(None).build().unwrap();
    assert_eq!(unlimited.media().get("MEDIA").await.unwrap().bytes.len(), 4096);
    server.verify().await;
}

/// A one-route HTTP/1.1 server that answers `gettoken` with a token (chunked JSON, 66 bytes) and
/// anything else with a chunked `image/jpeg` body of `chunks` × 1000 bytes, neither with a
/// `Content-Length`, as a server that does not announce its size would.
async fn chunked_media_server(chunks: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request).into_owned();
                let response = if head.starts_with("GET /cgi-bin/gettoken") {
                    // chunked too, in two pieces
                    let (a, b) =
                        (r#"{"errcode":0,"errmsg":"ok","#, r#""access_token":"tok","expires_in":7200}"#);
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                    .into_bytes()
                } else {
                    let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: image/jpeg\r\ncontent-disposition: attachment; filename=\"a.jpg\"\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
                    for _ in 0..chunks {
                        out.extend_from_slice(b"3e8\r\n");
                        out.extend_from_slice(&[7u8; 1000]);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n\r\n");
                    out
                };
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_media_body_without_a_length_is_cut_at_the_limit() {
    let base = chunked_media_server(5).await;
    let client = Client::builder(CORP_ID, "chunked-secret")
        .base_url(&base)
        .retry_policy(RetryPolicy::none())
        .max_media_bytes(2500)
        .build()
        .unwrap();

    let mut stream = client.media().open("MEDIA").await.unwrap();
    let mut received = 0;
    let mut last = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => received += chunk.len(),
            Err(err) => last = Some(err),
        }
    }
    assert!(received <= 2500, "no more than the limit is handed out: {received}");
    assert!(matches!(last, Some(Error::ResponseTooLarge { limit: 2500, media: true })), "{last:?}");

    let err = client.media().get("MEDIA").await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { limit: 2500, media: true }), "{err:?}");
    let whole = Client::builder(CORP_ID, "chunked-secret").base_url(&base).build().unwrap();
    assert_eq!(whole.media().get("MEDIA").await.unwrap().bytes.len(), 5000);
}

#[tokio::test]
async fn an_api_body_without_a_length_is_cut_at_the_limit() {
    let base = chunked_media_server(1).await;
    let build = |limit: u64| {
        Client::builder(CORP_ID, format!("chunked-api-{limit}"))
            .base_url(&base)
            .retry_policy(RetryPolicy::none())
            .max_response_bytes(limit)
            .build()
            .unwrap()
    };
    let err = build(40).access_token().await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { limit: 40, media: false }), "{err:?}");
    assert_eq!(
        build(66).access_token().await.unwrap().expose_secret(),
        "tok",
        "exactly at the limit is read"
    );
}

// ---- a retried send refused as a duplicate msgid -----------------------------------------------

async fn mount_sequence(server: &wiremock::MockServer, p: &str, answers: Vec<ResponseTemplate>) {
    let n = answers.len() as u64;
    Mock::given(method("POST")).and(path(p)).respond_with(Seq::new(answers)).expect(n).mount(server).await;
}

fn sent_ok(msgid: &str) -> ResponseTemplate {
    ok_json(json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
}

#[tokio::test]
async fn a_duplicate_after_a_502_means_the_first_send_went_through() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    mount_sequence(&server, SEND_MSG, vec![ResponseTemplate::new(502), api_error(40058, DUPLICATE)]).await;

    let sent = client(&server)
        .message()
        .send_msg(SendMsgRequest::text("wm1", "wk1", "hello").with_msgid("mine-1"))
        .await
        .unwrap();
    assert_eq!(sent.msgid, "mine-1");
    let ids: Vec<_> = bodies_on(&server, SEND_MSG).await.iter().map(|b| b["msgid"].clone()).collect();
    assert_eq!(ids, [json!("mine-1"), json!("mine-1")], "the retry carries the same msgid");
    server.verify().await;
}

#[tokio::test]
async fn a_duplicate_after_a_timeout_means_the_first_send_went_through() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    // The first answer comes after the client gave up on it; WeCom had taken the message.
    let lost = sent_ok("generated").set_delay(Duration::from_secs(3));
    mount_sequence(&server, SEND_MSG, vec![lost, api_error(40058, DUPLICATE)]).await;

    let client = builder(&server).timeout(Duration::from_millis(300)).build().unwrap();
    let sent = client.message().send_msg(SendMsgRequest::text("wm1", "wk1", "hello")).await.unwrap();
    let ids: Vec<_> = bodies_on(&server, SEND_MSG).await.iter().map(|b| b["msgid"].clone()).collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1], "the generated msgid is kept across the retry");
    assert_eq!(json!(sent.msgid), ids[0], "success reports the msgid that was sent");
    server.verify().await;
}

#[tokio::test]
async fn send_msg_on_event_after_a_busy_answer_takes_a_duplicate_as_sent() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    mount_sequence(&server, SEND_ON_EVENT, vec![api_error(-1, "system busy"), api_error(40058, DUPLICATE)])
        .await;

    let sent = client(&server)
        .message()
        .send_msg_on_event(SendMsgOnEventRequest::text("WELCOME", "hi").with_msgid("ev-1"))
        .await
        .unwrap();
    assert_eq!(sent.msgid, "ev-1");
    server.verify().await;
}

#[tokio::test]
async fn a_duplicate_on_the_first_attempt_is_an_error_the_caller_can_recognise() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    mount_sequence(&server, SEND_MSG, vec![api_error(40058, DUPLICATE)]).await;

    let err = client(&server)
        .message()
        .send_msg(SendMsgRequest::text("wm1", "wk1", "hello").with_msgid("used-before"))
        .await
        .unwrap_err();
    assert!(err.is_duplicate_msgid(), "{err:?}");
    assert_eq!(err.errcode(), Some(40058));
    assert!(!Error::api(40058, "invalid Parameter").is_duplicate_msgid(), "an unrelated 40058 is not one");
    server.verify().await;
}

#[tokio::test]
async fn a_duplicate_after_a_token_error_is_not_taken_as_sent() {
    // WeCom refuses a call with a bad token before doing anything: the first attempt sent nothing,
    // so a duplicate on the retry means the msgid was used by an earlier call.
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 2).await;
    mount_sequence(
        &server,
        SEND_MSG,
        vec![api_error(40014, "invalid access_token"), api_error(40058, DUPLICATE)],
    )
    .await;

    let err = client(&server)
        .message()
        .send_msg(SendMsgRequest::text("wm1", "wk1", "hello").with_msgid("used-before"))
        .await
        .unwrap_err();
    assert!(err.is_duplicate_msgid(), "{err:?}");
    server.verify().await;
}

// ---- errors that say why -----------------------------------------------------------------------

#[tokio::test]
async fn api_errors_show_errcode_and_errmsg_without_the_ip_tail() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .respond_with(api_error(
            95018,
            "send msg session status invalid, hint: [1645025097], from ip: 49.74.77.205, more info at https://open.work.weixin.qq.com/devtool/query?e=95018",
        ))
        .mount(&server)
        .await;
    let err = client(&server).execute(&echo()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("95018") && text.contains("send msg session status invalid"), "{text}");
    assert!(!text.contains("from ip") && !text.contains("49.74.77.205"), "{text}");
    assert_eq!(err.errmsg(), Some("send msg session status invalid"));
    assert_eq!(chain(&err).to_string(), text, "an API error has no further cause");
}

#[tokio::test]
async fn the_chain_names_the_cause_of_a_transport_error_without_secrets() {
    let secret = "chain-secret-42";
    let client = Client::builder(CORP_ID, secret)
        .base_url("http://127.0.0.1:1")
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = client.access_token().await.unwrap_err();
    let top = err.to_string();
    let line = chain(&err).to_string();
    assert!(line.starts_with(&top) && line.len() > top.len() + 2, "the causes follow: {line}");
    let mut cause = std::error::Error::source(&err);
    assert!(cause.is_some(), "a transport error has a cause: {err:?}");
    while let Some(c) = cause {
        assert!(line.contains(&c.to_string()), "every cause is in the line: {c} / {line}");
        cause = c.source();
    }
    assert!(
        !line.contains(secret) && !line.contains("corpsecret") && !line.contains("127.0.0.1:1/"),
        "{line}"
    );
    assert_eq!(format!("{:?}", chain(&err)), line);
}

#[test]
fn permanent_and_retry_later_are_told_apart() {
    for code in [95001, 95002, 95013, 95018, 40096, 40001, 48002, 123_456_789] {
        let err = Error::api(code, "x");
        assert!(err.is_permanent(), "{code} can never succeed on retry");
    }
    for code in [-1, 6000, 45009, 45033, 40014, 42001] {
        let err = Error::api(code, "x");
        assert!(!err.is_permanent(), "{code} may succeed later");
    }
    assert!(Error::Http { status: 404 }.is_permanent());
    assert!(!Error::Http { status: 429 }.is_permanent());
    assert!(!Error::Http { status: 502 }.is_permanent());
    assert!(Error::invalid_argument("bad").is_permanent());
    assert!(Error::ResponseTooLarge { limit: 1, media: false }.is_permanent());
    // never both
    for info in wxkf_types::errcode::TABLE {
        let err = Error::api(info.code, "x");
        assert!(!(err.is_permanent() && err.is_retryable()), "{}", info.code);
    }
}

#[test]
fn errors_clone_with_everything_callers_decide_on() {
    let err = Error::api(95001, "send msg count limit, from ip: 1.2.3.4");
    let copy = err.clone();
    assert_eq!(copy.errcode(), Some(95001));
    assert_eq!(copy.to_string(), err.to_string());
    assert!(copy.is_permanent());
}
