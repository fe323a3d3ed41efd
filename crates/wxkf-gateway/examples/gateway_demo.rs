//! wxkf-gateway fully offline: the built-in WeCom Kf simulator, a scripted webhook (the kind of
//! small service a Python or Node bot is) and a scripted OpenAI-compatible chat-completions
//! server, all on loopback, with the gateway in front of them, configured by a TOML file as an
//! operator would. Prints a transcript showing
//!
//! - the welcome text, and a burst of three quick lines delivered to the webhook as one turn;
//! - a slow question: the webhook answers 202 and its reply comes later through `/v1/replies`;
//! - "转人工": the session goes to the waiting pool with a notice, without reaching the webhook;
//! - an account routed to the model, whose second answer uses the customer's history;
//! - a turn the webhook refuses (HTTP 422) kept as a dead letter, listed with
//!   `GET /v1/dead-letters` and replayed with `POST /v1/dead-letters/{id}/replay` once the
//!   webhook answers again (docs/operations.md; the same from the shell:
//!   `wxkf dead-letters list --gateway URL`, and the `/status` page);
//!
//! and exits non-zero if any of that did not happen. Bounded to 60 s, so CI runs it.
//!
//! ```sh
//! cargo run -p wxkf-gateway --example gateway_demo
//! ```

#![allow(clippy::print_stdout)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::time::Instant;
use wxkf_gateway::{Config, Gateway};
use wxkf_sim::{Customer, Sim};

const SHOP: &str = "wkSHOP";
const AI: &str = "wkAI";
const API_TOKEN: &str = "demo-api-token";
const WEBHOOK_SECRET: &str = "demo-webhook-secret";
const WAIT: Duration = Duration::from_secs(20);
const HOURS: &str = "我们每天 9:00–21:00 营业，欢迎光临。";
const SHIPPED: &str = "订单 12345 已于今天上午发出，预计明天送达。";
const RETURNS: &str = "退货申请已登记，快递员明天上门取件。";

/// One delivery as the webhook saw it: its kind and its texts.
type Seen = (String, Vec<String>);

/// What the scripted webhook received, and the answers its `/v1/replies` calls got.
#[derive(Clone, Default)]
struct Hook {
    got: Arc<Mutex<Vec<Seen>>>,
    replied: Arc<Mutex<Vec<Value>>>,
    // a return is refused the first time (the webhook's own bug, fixed before the replay)
    refused_once: Arc<std::sync::atomic::AtomicBool>,
}

/// The scripted webhook: answers at once, except for orders, which it looks up "in the
/// background" and answers through `POST /v1/replies` (at `X-Wxkf-Reply-To`).
async fn webhook(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    // a webhook checks the signature first (docs/gateway.md has the same in Python)
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let timestamp = header("x-wxkf-timestamp").parse::<u64>().unwrap_or(0);
    let expected = wxkf_gateway::delivery::signature(WEBHOOK_SECRET.as_bytes(), timestamp, &body);
    if header("x-wxkf-signature") != expected {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    let d: Value = serde_json::from_slice(&body).unwrap_or_default();
    let texts: Vec<String> = d["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    hook.got
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((d["kind"].as_str().unwrap_or_default().to_owned(), texts.clone()));
    if d["kind"] != "turn" {
        return (StatusCode::OK, "{}".to_owned());
    }
    if texts.iter().any(|t| t.contains("退货")) {
        if !hook.refused_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "returns are not wired up yet"}).to_string(),
            );
        }
        return (
            StatusCode::OK,
            json!({"replies": [{"type": "text", "text": RETURNS}], "action": null}).to_string(),
        );
    }
    if texts.iter().any(|t| t.contains("订单")) {
        let reply_to = header("x-wxkf-reply-to");
        let id = d["id"].clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let answer = reqwest::Client::new()
                .post(reply_to)
                .bearer_auth(API_TOKEN)
                .body(
                    json!({"id": id, "replies": [{"type": "text", "text": SHIPPED}], "action": null})
                        .to_string(),
                )
                .send()
                .await;
            if let Ok(r) = answer {
                let v: Value = serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default();
                hook.replied.lock().unwrap_or_else(|e| e.into_inner()).push(v);
            }
        });
        return (StatusCode::ACCEPTED, String::new());
    }
    (StatusCode::OK, json!({"replies": [{"type": "text", "text": HOURS}], "action": null}).to_string())
}

/// The scripted model: remembers nothing itself; the gateway sends the history.
async fn completions(body: Bytes) -> ([(&'static str, &'static str); 1], String) {
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let said = |s: &str| {
        messages.iter().any(|m| m["role"] == "user" && m["content"].as_str().is_some_and(|c| c.contains(s)))
    };
    let last = messages.last().and_then(|m| m["content"].as_str()).unwrap_or_default();
    let answer = if last.contains("我叫什么") && said("我叫小明") {
        "您刚才说过，您叫小明。"
    } else if last.contains("我叫什么") {
        "抱歉，我还不知道您的名字。"
    } else {
        "您好小明，很高兴为您服务！"
    };
    let body = json!({"id": "chatcmpl-demo", "object": "chat.completion", "model": req["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}]});
    ([("content-type", "application/json")], body.to_string())
}

struct Transcript {
    start: Instant,
}

impl Transcript {
    fn line(&self, who: &str, text: &str) {
        println!("  [{:>5.1}s] {who}: {text}", self.start.elapsed().as_secs_f64());
    }

    /// Waits for the customer's `n`-th reply and prints those from `from` on.
    async fn replies(&self, c: &Customer, from: usize, n: usize) -> Result<Vec<String>, String> {
        let got = c.wait_for_replies(n, WAIT).await;
        if got.len() < n {
            return Err(format!(
                "expected {n} replies to {} within {WAIT:?}, got {}",
                c.external_userid(),
                got.len()
            ));
        }
        for r in &got[from..n] {
            let via = if r.code.is_some() { " (send_msg_on_event)" } else { "" };
            self.line(&format!("客服{via}"), r.text().unwrap_or("[non-text]"));
        }
        Ok(got.iter().map(|r| r.text().unwrap_or_default().to_owned()).collect())
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

async fn serve(app: Router) -> Result<String, std::io::Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match tokio::time::timeout(Duration::from_secs(60), run()).await {
        Ok(result) => result,
        Err(_) => Err("the gateway demo did not finish within 60 s".into()),
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The backends, on loopback.
    let hook = Hook::default();
    let hook_url = serve(Router::new().route("/kf", post(webhook)).with_state(hook.clone())).await?;
    let model_url = serve(Router::new().route("/v1/chat/completions", post(completions))).await?;

    // 2. The simulated WeCom with two accounts and a servicer.
    let sim = Sim::builder().account(SHOP, "演示商店").account(AI, "AI 助手").start().await?;
    let (token, key) = wxkf_crypto::generate_credentials()?;

    // 3. The gateway, configured as an operator would (secrets inline: this is a demo; real files
    //    use "env:NAME" or "file:PATH").
    let data_dir = std::env::temp_dir().join(format!("wxkf-gateway-demo-{}", std::process::id()));
    let config = Config::parse(&format!(
        r#"
[wecom]
corp_id = "{corp}"
secret = "{secret}"
token = "{token}"
encoding_aes_key = "{key}"
base_url = "{base}"

[server]
listen = "127.0.0.1:0"
api_token = "{API_TOKEN}"
data_dir = {data_dir:?}

[conversation]
turn_quiet_ms = 800
hand_off_keywords = ["转人工"]
hand_off_text = "已为您转接人工客服，请稍候。"
welcome_text = "您好，欢迎光临演示商店！"

[[routes]]
open_kfid = "{SHOP}"
backend = "shop"

[[routes]]
open_kfid = "*"
backend = "ai"

[backends.shop]
type = "webhook"
url = "{hook_url}/kf"
secret = "{WEBHOOK_SECRET}"
timeout_s = 5

[backends.ai]
type = "openai"
base_url = "{model_url}/v1"
api_key = "demo-key"
model = "demo-model"
system_prompt = "你是演示商店的客服"
history = 10
"#,
        corp = sim.corp_id(),
        secret = sim.secret(),
        token = token.expose_secret(),
        key = key.expose_secret(),
        base = sim.base_url(),
        data_dir = data_dir.display().to_string(),
    ))?;
    let gateway = Gateway::start(config).await?;
    let addr = gateway.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(gateway.serve(async {
        let _ = stopped.await;
    }));
    sim.set_callback(&format!("http://{addr}/wxkf/callback"), token.expose_secret(), key.expose_secret())?;
    println!(
        "WeCom Kf simulator on {}, webhook on {hook_url}/kf, model on {model_url}/v1, gateway on http://{addr}",
        sim.base_url()
    );

    let t = Transcript { start: Instant::now() };
    let alice = sim.customer(SHOP, "wmALICE");
    let turns = || {
        hook.got
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, _)| k == "turn")
            .cloned()
            .collect::<Vec<_>>()
    };

    println!("\n— 1. {SHOP} → webhook: a welcome, and three quick lines as one delivery");
    t.line("(Alice 进入会话)", "");
    alice.enter();
    let texts = t.replies(&alice, 0, 1).await?;
    check(texts[0] == "您好，欢迎光临演示商店！", "the welcome went out with the welcome_code")?;
    for line in ["在吗", "我想问一下", "你们几点关门"] {
        t.line("Alice", line);
        alice.say(line);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let texts = t.replies(&alice, 1, 2).await?;
    check(
        turns()
            == vec![(
                "turn".to_owned(),
                vec!["在吗".to_owned(), "我想问一下".to_owned(), "你们几点关门".to_owned()],
            )],
        "the webhook got the three lines as one signed delivery",
    )?;
    check(texts[1] == HOURS, "and its answer reached Alice")?;

    println!("\n— 2. A slow question: 202 now, POST /v1/replies later");
    t.line("Alice", "帮我查一下订单 12345");
    alice.say("帮我查一下订单 12345");
    let texts = t.replies(&alice, 2, 3).await?;
    check(texts[2] == SHIPPED, "the reply sent through /v1/replies reached Alice")?;
    // the webhook reads the answer of its /v1/replies right after the send
    let mut replied = Vec::new();
    for _ in 0..100 {
        replied = hook.replied.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !replied.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check(
        replied == vec![json!({"sent": 1, "cut": false})],
        "/v1/replies answered {\"sent\": 1, \"cut\": false}",
    )?;

    println!("\n— 3. 转人工: to the waiting pool, without the webhook");
    t.line("Alice", "转人工");
    alice.say("转人工");
    let texts = t.replies(&alice, 3, 4).await?;
    check(
        texts[3] == "已为您转接人工客服，请稍候。",
        "the hand-off notice went out with the hand-off's code",
    )?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    check(turns().len() == 2, "the webhook was not asked")?;

    println!("\n— 4. {AI} → chat-completions: the history is the gateway's");
    let bob = sim.customer(AI, "wmBOB");
    t.line("Bob", "你好，我叫小明");
    bob.say("你好，我叫小明");
    t.replies(&bob, 0, 1).await?;
    t.line("Bob", "我叫什么？");
    bob.say("我叫什么？");
    let texts = t.replies(&bob, 1, 2).await?;
    check(texts[1] == "您刚才说过，您叫小明。", "the model got Bob's earlier question with the new one")?;
    check(
        !sim.calls().iter().any(|c| c.errcode == Some(95001) || c.errcode == Some(95018)),
        "WeCom refused nothing",
    )?;

    println!("\n— 5. A turn the webhook refuses: a dead letter, listed and replayed");
    let carol = sim.customer(SHOP, "wmCAROL");
    t.line("Carol", "我要退货");
    carol.say("我要退货");
    let api = reqwest::Client::new();
    let base = format!("http://{addr}");
    let mut dead = Vec::new();
    for _ in 0..200 {
        let r = api.get(format!("{base}/v1/dead-letters")).bearer_auth(API_TOKEN).send().await?;
        dead = r.json::<Vec<Value>>().await?;
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check(dead.len() == 1 && dead[0]["reason"] == "permanent", "the refused turn is a dead letter")?;
    let id = dead[0]["id"].as_str().unwrap_or_default().to_owned();
    println!("  GET /v1/dead-letters → {id}: {}", dead[0]["error"].as_str().unwrap_or_default());
    let metrics = api.get(format!("{base}/metrics")).send().await?.text().await?;
    check(
        metrics.contains(&format!("wxkf_dead_letters{{open_kfid=\"{SHOP}\"}} 1")),
        "/metrics counts it (wxkf_dead_letters)",
    )?;
    println!("  the operator fixes the webhook and presses Replay on {base}/status?token=…");
    let r = api.post(format!("{base}/v1/dead-letters/{id}/replay")).bearer_auth(API_TOKEN).send().await?;
    check(r.status() == StatusCode::OK, "POST /v1/dead-letters/{id}/replay answered 200")?;
    let texts = t.replies(&carol, 0, 1).await?;
    check(texts == [RETURNS], "Carol got the answer, once")?;
    let r = api.get(format!("{base}/v1/dead-letters")).bearer_auth(API_TOKEN).send().await?;
    check(r.json::<Vec<Value>>().await?.is_empty(), "and the dead letter is gone")?;

    let _ = stop.send(());
    served.await??;
    sim.shutdown();
    let _ = std::fs::remove_dir_all(&data_dir);
    println!(
        "\nDone: webhook and model behind one gateway, as docs/gateway.md and docs/operations.md describe."
    );
    Ok(())
}
