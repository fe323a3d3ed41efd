//! The Python receiver of docs/gateway.md (the same code in docs/gateway.zh-CN.md), run with
//! `python3` exactly as written: behind the gateway it accepts the signed deliveries and its
//! answer reaches the customer; a tampered body, a wrong signature or a stale timestamp gets 401.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{HOOK_SECRET, World, texts, webhook_backend};

/// The python block that follows the `<!-- receiver.py` marker of a doc.
fn receiver(doc: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(doc);
    let text = std::fs::read_to_string(&path).unwrap();
    let after = &text[text.find("<!-- receiver.py").expect("the receiver's marker")..];
    let start = after.find("```python\n").unwrap() + "```python\n".len();
    let end = after[start..].find("```").unwrap();
    after[start..start + end].to_owned()
}

struct Python(Child);

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_receiver(code: &str) -> (Python, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("python3")
        .arg("-c")
        .arg(code)
        .env("WXKF_WEBHOOK_SECRET", HOOK_SECRET)
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        // its access log
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs the receiver (python3 must be installed)");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "the receiver did not listen within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (Python(child), port)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn post(port: u16, timestamp: u64, signed: &str, sent: &str) -> (u16, String) {
    let sig = wxkf_gateway::delivery::signature(HOOK_SECRET.as_bytes(), timestamp, signed.as_bytes());
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/kf"))
        .header("X-Wxkf-Timestamp", timestamp.to_string())
        .header("X-Wxkf-Signature", sig)
        .header("X-Wxkf-Delivery", "dlv_test")
        .body(sent.to_owned())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[test]
fn both_docs_give_the_same_receiver_of_about_thirty_lines() {
    let en = receiver("gateway.md");
    assert_eq!(en, receiver("gateway.zh-CN.md"));
    assert!((25..=35).contains(&en.lines().count()), "{} lines", en.lines().count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_python_receiver_accepts_signed_deliveries_and_rejects_tampered_ones() {
    let (_python, port) = start_receiver(&receiver("gateway.md")).await;

    // directly: a signed body is accepted, a tampered or stale one is not
    let body = r#"{"id": "dlv_test", "kind": "turn", "messages": [{"msgid": "m1", "msgtype": "text", "text": "hi"}]}"#;
    let (status, answer) = post(port, now(), body, body).await;
    assert_eq!(status, 200, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["replies"][0]["text"], "收到：hi");
    let tampered = body.replace("hi", "pay me");
    assert_eq!(post(port, now(), body, &tampered).await.0, 401, "a tampered body is refused");
    assert_eq!(post(port, now() - 3600, body, body).await.0, 401, "a stale timestamp is refused");
    let r =
        reqwest::Client::new().post(format!("http://127.0.0.1:{port}/kf")).body(body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "an unsigned body is refused");

    // behind the gateway: the signed deliveries are accepted and the answer reaches the customer
    let world = World::new("python", &["wkPY"]).await;
    let config = world.config(
        "gateway.toml",
        "",
        &format!(
            "[conversation]\nturn_quiet_ms = 200\n{}",
            webhook_backend(&format!("http://127.0.0.1:{port}/kf"), 5)
        ),
    );
    let gw = world.gateway(&config).await;
    let alice = world.sim.customer("wkPY", "wmALICE");
    alice.enter();
    alice.say("你好");
    alice.say("在吗");
    assert_eq!(texts(&alice.wait_for_replies(1, Duration::from_secs(15)).await), ["收到：你好\n在吗"]);
    assert!(!gw.logged(&["dead-lettered"]), "the receiver refused nothing the gateway signed");
}
