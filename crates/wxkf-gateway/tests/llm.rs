//! The `openai` and `dify` backends against scripted stand-in servers on loopback, with the
//! gateway as its own process: a customer's history (openai) and conversation_id (dify)
//! survive a restart, on the same data_dir and on Redis.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use support::{World, texts};

const AI: &str = "wkAI";
const KB: &str = "wkKB";
const WAIT: Duration = Duration::from_secs(15);

/// What the stand-ins were asked, with the bearer they got.
#[derive(Clone, Default)]
struct Asked {
    chat: Arc<Mutex<Vec<(String, Value)>>>,
    dify: Arc<Mutex<Vec<(String, Value)>>>,
}

fn bearer(h: &HeaderMap) -> String {
    h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

async fn completions(
    State(a): State<Asked>,
    h: HeaderMap,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], String) {
    let req: Value = serde_json::from_slice(&body).unwrap();
    let n = {
        let mut chat = a.chat.lock().unwrap();
        chat.push((bearer(&h), req.clone()));
        chat.len()
    };
    let last = req["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    let answer = format!("第{n}答：{last}");
    let body = json!({"id": "x", "object": "chat.completion", "model": req["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}]});
    ([("content-type", "application/json")], body.to_string())
}

async fn chat_messages(
    State(a): State<Asked>,
    h: HeaderMap,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], String) {
    let req: Value = serde_json::from_slice(&body).unwrap();
    a.dify.lock().unwrap().push((bearer(&h), req.clone()));
    let conversation = match req["conversation_id"].as_str() {
        Some(c) if !c.is_empty() => c.to_owned(),
        _ => "conv-7f3a".to_owned(),
    };
    let body = json!({"event": "message", "answer": format!("知识库：{}", req["query"].as_str().unwrap()),
        "conversation_id": conversation, "message_id": "m", "mode": "chat"});
    ([("content-type", "application/json")], body.to_string())
}

async fn stand_ins() -> (String, Asked) {
    let asked = Asked::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/v1/chat-messages", post(chat_messages))
        .with_state(asked.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), asked)
}

fn backends(base: &str) -> String {
    format!(
        r#"
[conversation]
turn_quiet_ms = 200

[[routes]]
open_kfid = "{AI}"
backend = "ai"

[[routes]]
open_kfid = "{KB}"
backend = "kb"

[backends.ai]
type = "openai"
base_url = "{base}"
api_key = "env:T_API_TOKEN"
model = "test-model"
system_prompt = "你是测试客服"
history = 2
timeout_s = 10

[backends.kb]
type = "dify"
base_url = "{base}"
api_key = "env:T_HOOK_SECRET"
timeout_s = 10
"#
    )
}

async fn history_and_conversation_survive_a_restart(test: &str, store: &str) {
    let world = World::new(test, &[AI, KB]).await;
    let (base, asked) = stand_ins().await;
    let config = world.config("gateway.toml", store, &backends(&base));
    let alice = world.sim.customer(AI, "wmALICE");
    let bob = world.sim.customer(KB, "wmBOB");

    let mut gw = world.gateway(&config).await;
    alice.say("我叫小明");
    assert_eq!(texts(&alice.wait_for_replies(1, WAIT).await), ["第1答：我叫小明"]);
    bob.say("怎么退款");
    assert_eq!(texts(&bob.wait_for_replies(1, WAIT).await), ["知识库：怎么退款"]);
    {
        let chat = asked.chat.lock().unwrap();
        assert_eq!(chat[0].0, format!("Bearer {}", support::API_TOKEN));
        assert_eq!(chat[0].1["model"], "test-model");
        assert_eq!(
            chat[0].1["messages"],
            json!([{"role": "system", "content": "你是测试客服"}, {"role": "user", "content": "我叫小明"}])
        );
        let dify = asked.dify.lock().unwrap();
        assert_eq!(dify[0].0, format!("Bearer {}", support::HOOK_SECRET));
        assert_eq!(dify[0].1["response_mode"], "blocking");
        assert_eq!(dify[0].1["conversation_id"], "");
        assert_eq!(dify[0].1["query"], "怎么退款");
    }
    assert!(gw.stop().await.success());
    drop(gw);

    let _gw = world.gateway(&config).await;
    alice.say("我叫什么？");
    assert_eq!(texts(&alice.wait_for_replies(2, WAIT).await)[1], "第2答：我叫什么？");
    bob.say("要多久");
    assert_eq!(texts(&bob.wait_for_replies(2, WAIT).await)[1], "知识库：要多久");
    {
        let chat = asked.chat.lock().unwrap();
        assert_eq!(
            chat[1].1["messages"],
            json!([
                {"role": "system", "content": "你是测试客服"},
                {"role": "user", "content": "我叫小明"},
                {"role": "assistant", "content": "第1答：我叫小明"},
                {"role": "user", "content": "我叫什么？"},
            ]),
            "the history came back after the restart"
        );
        let dify = asked.dify.lock().unwrap();
        assert_eq!(
            dify[1].1["conversation_id"], "conv-7f3a",
            "the conversation_id came back after the restart"
        );
    }
    // history = 2 turns: the third question carries the last two turns only
    alice.say("第三个问题");
    assert_eq!(alice.wait_for_replies(3, WAIT).await.len(), 3);
    alice.say("第四个问题");
    assert_eq!(alice.wait_for_replies(4, WAIT).await.len(), 4);
    let chat = asked.chat.lock().unwrap();
    let last = chat[3].1["messages"].as_array().unwrap();
    assert_eq!(last.len(), 1 + 2 * 2 + 1, "system + two turns + the question: {last:?}");
    assert_eq!(last[1]["content"], "我叫什么？");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_history_and_dify_conversation_id_survive_a_restart_on_the_data_dir() {
    history_and_conversation_survive_a_restart("llm-local", "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_history_and_dify_conversation_id_survive_a_restart_on_redis() {
    if std::env::var("WXKF_SKIP_REDIS").as_deref() == Ok("1") {
        eprintln!("note: skipped: WXKF_SKIP_REDIS=1");
        return;
    }
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    // a prefix of its own: no other test or earlier run shares its keys
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let store =
        format!("redis_url = {url:?}\nredis_prefix = \"wxkf-gateway-test:{}:{nanos}:\"", std::process::id());
    history_and_conversation_survive_a_restart("llm-redis", &store).await;
}
