//! End to end: a minimal echo bot (axum callback receiver + wxkf-crypto + wxkf_client) runs the
//! scenario files shipped in `scenarios/` against the simulator.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use tokio::sync::Mutex;
use wxkf_client::{Client, RetryPolicy};
use wxkf_crypto::CallbackCrypto;
use wxkf_sim::scenario::{Scenario, ScenarioError};
use wxkf_sim::{Sim, SimHandle};
use wxkf_types::callback::CallbackEvent;
use wxkf_types::message::{MessageContent, SendMsgRequest, SyncMsgRequest};

const TOKEN: &str = "echotoken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

#[derive(Clone)]
struct Bot {
    crypto: CallbackCrypto,
    client: Client,
    cursors: Arc<Mutex<HashMap<String, String>>>,
}

async fn on_callback(
    State(bot): State<Bot>,
    Query(q): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> &'static str {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let Ok(plain) = bot.crypto.decrypt_message(get("msg_signature"), get("timestamp"), get("nonce"), &body)
    else {
        return "";
    };
    let Ok(CallbackEvent::KfMsgOrEvent { token, open_kfid: Some(kf), .. }) = CallbackEvent::parse(&plain)
    else {
        return "";
    };
    tokio::spawn(async move {
        let mut cursors = bot.cursors.lock().await;
        loop {
            let mut req = SyncMsgRequest::new(kf.clone()).with_token(token.clone());
            if let Some(c) = cursors.get(&kf) {
                req = req.with_cursor(c.clone());
            }
            let Ok(page) = bot.client.message().sync_msg(req).await else { return };
            for m in &page.msg_list {
                if let (MessageContent::Text(t), Some(user)) = (&m.content, m.external_userid()) {
                    let _ = bot
                        .client
                        .message()
                        .send_msg(SendMsgRequest::text(user, kf.clone(), t.content.clone()))
                        .await;
                }
            }
            cursors.insert(kf.clone(), page.next_cursor.clone());
            if !page.has_more {
                return;
            }
        }
    });
    ""
}

async fn sim_with_bot() -> SimHandle {
    let sim = Sim::builder().start().await.unwrap_or_else(|e| panic!("{e}"));
    let client = support::client_for(
        &sim,
        RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
    );
    let bot = Bot {
        crypto: CallbackCrypto::new(TOKEN, AES_KEY, &sim.corp_id()).unwrap_or_else(|e| panic!("{e}")),
        client,
        cursors: Arc::default(),
    };
    let app = axum::Router::new().route("/kf", axum::routing::post(on_callback)).with_state(bot);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    sim.set_callback(&format!("http://{addr}/kf"), TOKEN, AES_KEY).unwrap_or_else(|e| panic!("{e}"));
    sim
}

fn scenario(name: &str) -> Scenario {
    Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn the_echo_scenario_passes_in_json_and_toml() {
    let sim = sim_with_bot().await;
    let mut lines = Vec::new();
    let report = scenario("echo.json").run_with(&sim, |l| lines.push(l.to_owned())).await;
    let report = report.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    assert_eq!(
        report.sent.iter().filter_map(|s| s.text()).collect::<Vec<_>>(),
        ["hello", "still there?", "after the token expired"]
    );
    assert!(lines.iter().any(|l| l == "bot -> wmALICE: hello"), "{lines:?}");
    // The injected -1 was answered once and retried by the client.
    assert!(sim.calls().iter().any(|c| c.path == "/cgi-bin/kf/send_msg" && c.errcode == Some(-1)));

    let sim = sim_with_bot().await;
    let report = scenario("echo.toml").run(&sim).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.steps, 3);
}

#[tokio::test]
async fn a_missing_reply_fails_the_step() {
    let sim = Sim::builder().start().await.unwrap_or_else(|e| panic!("{e}"));
    let s = Scenario::from_json(
        r#"{"steps": [{"do": "say", "customer": "wmB", "text": "anyone?"},
                      {"do": "expect_reply", "timeout_ms": 100}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    match s.run(&sim).await {
        Err(ScenarioError::Failed { step: 1, message }) => assert!(message.contains("no reply"), "{message}"),
        other => panic!("{other:?}"),
    }
}
