//! `ClientBuilder::max_concurrent_requests`: a crowd of calls never has more than the cap in
//! flight, runs up to the cap at once, and reuses keep-alive connections instead of opening one
//! per call. Against a small HTTP/1.1 server on loopback that counts what is in flight and the
//! connections it accepts (wiremock does not report either).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wxkf_types::message::SendMsgRequest;

#[derive(Default)]
struct Counts {
    now: AtomicUsize,
    max: AtomicUsize,
    connections: AtomicUsize,
    requests: AtomicUsize,
}

/// Answers every request (gettoken and send_msg alike) after 300 ms (time for the whole crowd to arrive), keeping connections alive.
async fn server(counts: Arc<Counts>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // one request: the head, then content-length bytes of body
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    counts.requests.fetch_add(1, Ordering::SeqCst);
                    let now = counts.now.fetch_add(1, Ordering::SeqCst) + 1;
                    counts.max.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    counts.now.fetch_sub(1, Ordering::SeqCst);
                    let body =
                        r#"{"errcode":0,"errmsg":"ok","access_token":"TOKEN","expires_in":7200,"msgid":"m"}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if sock.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

async fn crowd(cap: Option<usize>, calls: usize) -> Arc<Counts> {
    let counts = Arc::new(Counts::default());
    let base = server(Arc::clone(&counts)).await;
    let mut builder = wxkf_client::Client::builder("ww0123456789abcdef", "app-secret").base_url(base);
    if let Some(cap) = cap {
        builder = builder.max_concurrent_requests(cap);
    }
    let client = builder.build().unwrap();
    client.access_token().await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..calls {
        let client = client.clone();
        tasks.spawn(async move {
            let req = SendMsgRequest::text(format!("wm{i}"), "wkSHOP", "hello").with_msgid(format!("m{i}"));
            client.message().send_msg(req).await.unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_calls_keeps_to_the_cap_and_reuses_its_connections() {
    let counts = crowd(Some(4), 40).await;
    assert_eq!(counts.requests.load(Ordering::SeqCst), 41, "gettoken and 40 sends");
    assert_eq!(counts.max.load(Ordering::SeqCst), 4, "up to the cap at once, never more");
    assert!(
        counts.connections.load(Ordering::SeqCst) <= 5,
        "connections reused: {}",
        counts.connections.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_cap_is_64() {
    assert_eq!(wxkf_client::DEFAULT_MAX_CONCURRENT_REQUESTS, 64);
    let counts = crowd(None, 100).await;
    assert_eq!(counts.max.load(Ordering::SeqCst), 64);
    assert!(counts.connections.load(Ordering::SeqCst) <= 65);
}
