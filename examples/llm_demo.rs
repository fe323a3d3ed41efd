//! The AI customer-service bot of `llm_bot` (the same handler and settings, `llm/mod.rs`) fully
//! offline: the built-in WeCom Kf simulator plus a scripted OpenAI-compatible chat-completions
//! server, both on loopback. Prints a transcript showing
//!
//! - a burst of three quick messages merged into one question and one answer (1.5 s quiet window);
//! - a slow answer (8 s) preceded by the placeholder (after 5 s);
//! - "转人工": the chat goes to the waiting pool with a notice, a simulated servicer takes it and
//!   answers, and the model stays silent.
//!
//! and exits non-zero if any of that did not happen. Bounded to 60 s, so CI runs it.
//!
//! ```sh
//! cargo run --example llm_demo
//! ```

#[path = "llm/mod.rs"]
mod llm;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::routing::post;
use tokio::time::Instant;
use wxkf_axum::bot::Bot;
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_crypto::{CallbackCrypto, generate_credentials};
use wxkf_sim::{Customer, Sim};

const OPEN_KFID: &str = "wkAIDEMO";
const CUSTOMER: &str = "wmALICE";
const SERVICER: &str = "zhangsan";
const WAIT: Duration = Duration::from_secs(20);
/// How long the scripted model takes for the order question (more than the placeholder's 5 s).
const SLOW: Duration = Duration::from_secs(8);
const ORDER_ANSWER: &str = "您的订单 12345 已于今天上午发出，预计明天送达。";
const HOURS_ANSWER: &str = "您好！人工客服每天 9:00–21:00 在线，智能客服全天为您服务。";

/// What the scripted model was asked: the last user message of each request.
#[derive(Clone, Default)]
struct Script {
    asked: Arc<Mutex<Vec<String>>>,
}

/// A stand-in for `POST /v1/chat/completions`: answers from a script, slowly for orders.
/// (The JSON is read and written by hand: the workspace builds axum without its `json` feature.)
async fn completions(
    State(script): State<Script>,
    body: String,
) -> ([(header::HeaderName, &'static str); 1], String) {
    let req: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let question = req["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    script.asked.lock().unwrap_or_else(|e| e.into_inner()).push(question.clone());
    let answer = if question.contains("订单") {
        tokio::time::sleep(SLOW).await;
        ORDER_ANSWER
    } else if question.contains("下班") {
        HOURS_ANSWER
    } else {
        "您好，请问有什么可以帮您？"
    };
    let body = serde_json::json!({
        "id": "chatcmpl-demo", "object": "chat.completion", "model": req["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}]
    });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string())
}

struct Transcript {
    start: Instant,
    shown: usize,
}

impl Transcript {
    fn line(&self, who: &str, text: &str) {
        println!("  [{:>5.1}s] {who}: {text}", self.start.elapsed().as_secs_f64());
    }

    /// Waits for the bot's `n`-th reply (counting from 1) and prints the new ones.
    async fn replies_up_to(&mut self, alice: &Customer, n: usize) -> Result<Vec<String>, String> {
        let replies = alice.wait_for_replies(n, WAIT).await;
        if replies.len() < n {
            return Err(format!("expected {n} bot messages within {WAIT:?}, got {}", replies.len()));
        }
        for r in &replies[self.shown..] {
            let via = if r.code.is_some() { " (send_msg_on_event)" } else { "" };
            self.line(&format!("客服 bot{via}"), r.text().unwrap_or("[non-text]"));
        }
        self.shown = replies.len();
        Ok(replies.iter().map(|r| r.text().unwrap_or_default().to_owned()).collect())
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        println!("  ✓ {what}");
        Ok(())
    } else {
        Err(format!("did not happen: {what}"))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Bounded in time so CI can run it: a stuck loop is a failure, not a hang.
    match tokio::time::timeout(Duration::from_secs(60), run()).await {
        Ok(result) => result,
        Err(_) => Err("the AI demo did not finish within 60 s".into()),
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The scripted model, on loopback.
    let script = Script::default();
    let model_app = Router::new().route("/v1/chat/completions", post(completions)).with_state(script.clone());
    let model_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let model_addr = model_listener.local_addr()?;
    let model_server = tokio::spawn(async move { axum::serve(model_listener, model_app).await });

    // 2. The simulated WeCom with one servicer.
    let sim = Sim::builder().account(OPEN_KFID, "AI 演示客服").start().await?;
    sim.add_servicer(OPEN_KFID, SERVICER);

    // 3. The AI bot exactly as llm_bot runs it, pointed at both.
    let client =
        wxkf_client::Client::builder(sim.corp_id(), sim.secret()).base_url(sim.base_url()).build()?;
    let (token, key) = generate_credentials()?;
    let crypto = CallbackCrypto::new(token.expose_secret(), key.expose_secret(), &sim.corp_id())?;
    let model = llm::ChatClient::new(&format!("http://{model_addr}/v1"), "demo-key", "demo-model")?;
    let bot =
        Bot::builder(client, llm::LlmBot::new(model)).memory_store().config(llm::bot_config()).build()?;
    let app = bot_router(CallbackConfig::new(crypto), bot.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    sim.set_callback(&format!("http://{addr}/wxkf/callback"), token.expose_secret(), key.expose_secret())?;
    println!(
        "WeCom Kf simulator on {}, scripted model on http://{model_addr}/v1, bot on http://{addr}/wxkf/callback",
        sim.base_url()
    );

    let alice = sim.customer(OPEN_KFID, CUSTOMER);
    let mut t = Transcript { start: Instant::now(), shown: 0 };
    let asked = || script.asked.lock().unwrap_or_else(|e| e.into_inner()).clone();

    println!("\n— 1. A burst of quick messages is one question");
    alice.enter();
    t.replies_up_to(&alice, 1).await?;
    for line in ["在吗", "我想问一下", "你们几点下班"] {
        t.line("Alice", line);
        alice.say(line);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let texts = t.replies_up_to(&alice, 2).await?;
    check(
        asked() == vec!["在吗\n我想问一下\n你们几点下班".to_owned()],
        "three messages reached the model as one question",
    )?;
    check(texts.get(1).map(String::as_str) == Some(HOURS_ANSWER), "and got one answer")?;

    println!("\n— 2. A slow answer: the placeholder first");
    let question = "帮我查一下订单 12345 的物流";
    t.line("Alice", question);
    alice.say(question);
    t.replies_up_to(&alice, 3).await?;
    let texts = t.replies_up_to(&alice, 4).await?;
    check(
        texts.get(2).map(String::as_str) == Some(llm::PLACEHOLDER),
        "the placeholder came after 5 s of silence",
    )?;
    check(texts.get(3).map(String::as_str) == Some(ORDER_ANSWER), "then the answer")?;

    println!("\n— 3. Hand-off: the AI goes silent while a person answers");
    t.line("Alice", llm::HAND_OFF_KEYWORD);
    alice.say(llm::HAND_OFF_KEYWORD);
    let texts = t.replies_up_to(&alice, 5).await?;
    check(
        texts.get(4).map(String::as_str) == Some(llm::HAND_OFF_NOTICE),
        "the chat went to the pool, with a notice",
    )?;
    sim.servicer_takes(OPEN_KFID, CUSTOMER, SERVICER);
    t.line("(WeCom)", "客服 zhangsan 接入会话");
    let hello = "您好，我是客服小张，请问有什么可以帮您？";
    sim.servicer_says(OPEN_KFID, CUSTOMER, SERVICER, hello);
    t.line("人工 zhangsan", hello);
    let worry = "我的快递三天没动了";
    t.line("Alice", worry);
    alice.say(worry);
    // more than the quiet window and a model call: time for the AI to speak, if it would
    tokio::time::sleep(llm::QUIET + Duration::from_secs(2)).await;
    let answer = "我帮您联系快递公司，稍后回复您。";
    sim.servicer_says(OPEN_KFID, CUSTOMER, SERVICER, answer);
    t.line("人工 zhangsan", answer);
    bot.idle().await;
    check(alice.replies().len() == 5, "the bot sent nothing after the hand-off")?;
    check(asked().len() == 2, "the model was not asked about the servicer's chat")?;
    check(!sim.calls().iter().any(|c| c.errcode == Some(95018)), "WeCom refused nothing with 95018")?;

    bot.shutdown().await;
    server.abort();
    model_server.abort();
    sim.shutdown();
    println!("\nDone: turns, placeholder and hand-off behaved as docs/ai-bot.md describes.");
    Ok(())
}
