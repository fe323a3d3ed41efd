//! The whole WeChat Customer Service loop on one machine, with no WeChat account: starts the
//! built-in WeCom Kf simulator and the echo bot (the same handler as `echo_bot`) on loopback, plays a
//! short conversation as a customer, prints the transcript, and exits 0.
//!
//! ```sh
//! cargo run --example demo
//! ```
//!
//! What happens for each customer message is what happens with real WeCom: the simulator appends
//! it to its message log and POSTs a signed, AES-encrypted `kf_msg_or_event` callback; the bot's
//! axum route verifies and decrypts it, answers `success`, pulls `kf/sync_msg` from its cursor and
//! replies with `kf/send_msg` (or `send_msg_on_event` for the welcome). To run the same bot against
//! WeCom, use `cargo run --example echo_bot` with real credentials.

#[path = "echo/mod.rs"]
mod echo;

use std::time::Duration;
use wxkf_axum::bot::Bot;
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_crypto::{CallbackCrypto, generate_credentials};
use wxkf_sim::{Customer, SentMessage, Sim};

const OPEN_KFID: &str = "wkDEMOACCOUNT";
const CUSTOMER: &str = "wmALICE";
const WAIT: Duration = Duration::from_secs(15);

fn show(who: &str, text: &str) {
    const SHOWN: usize = 60;
    let chars = text.chars().count();
    if chars > SHOWN {
        let head: String = text.chars().take(SHOWN).collect();
        println!("  {who}: {head}… ({} bytes, {chars} characters)", text.len());
    } else {
        println!("  {who}: {text}");
    }
}

fn show_replies(replies: &[SentMessage]) {
    for r in replies {
        match r.text() {
            Some(text) => show("客服 bot", text),
            None => println!("  客服 bot: [{}]", r.msgtype),
        }
    }
}

/// Waits for `n` more replies to the customer and prints them.
async fn expect_replies(alice: &Customer, seen: &mut usize, n: usize) -> Result<(), String> {
    let replies = alice.wait_for_replies(*seen + n, WAIT).await;
    if replies.len() < *seen + n {
        return Err(format!("expected {n} more replies within {WAIT:?}, got {}", replies.len() - *seen));
    }
    show_replies(&replies[*seen..]);
    *seen = replies.len();
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Bounded in time so CI can run it: a stuck loop is a failure, not a hang.
    match tokio::time::timeout(Duration::from_secs(120), run()).await {
        Ok(result) => result,
        Err(_) => Err("the demo did not finish within 120 s".into()),
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The simulated WeCom, on an ephemeral loopback port.
    let sim = Sim::builder().account(OPEN_KFID, "wxkf 演示客服").start().await?;
    println!("WeCom Kf simulator on {}", sim.base_url());

    // 2. The echo bot, exactly as it would run against WeCom: client + callback crypto + router.
    let client =
        wxkf_client::Client::builder(sim.corp_id(), sim.secret()).base_url(sim.base_url()).build()?;
    let (token, key) = generate_credentials()?;
    let crypto = CallbackCrypto::new(token.expose_secret(), key.expose_secret(), &sim.corp_id())?;
    let bot = Bot::builder(client, echo::Echo).memory_store().build()?;
    let app = bot_router(CallbackConfig::new(crypto), bot.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    sim.set_callback(&format!("http://{addr}/wxkf/callback"), token.expose_secret(), key.expose_secret())?;
    println!("echo bot on http://{addr}/wxkf/callback\n");

    // 3. A customer's conversation.
    let alice = sim.customer(OPEN_KFID, CUSTOMER);
    let mut seen = 0;

    println!("— Alice opens the chat");
    alice.enter();
    expect_replies(&alice, &mut seen, 1).await?;

    let hello = "你好！我想问一下，我的订单什么时候发货？";
    println!("— Alice writes");
    show("Alice", hello);
    alice.say(hello);
    expect_replies(&alice, &mut seen, 1).await?;

    println!("— Alice sends a photo");
    let photo: Vec<u8> = b"\xff\xd8\xff\xe0 demo jpeg bytes ".iter().copied().cycle().take(4096).collect();
    println!("  Alice: [image, {} bytes]", photo.len());
    alice.send_image(photo);
    expect_replies(&alice, &mut seen, 1).await?;

    let long = "客服消息长度测试，".repeat(186); // 5,022 bytes: the echo is split into 3 messages
    println!("— Alice sends a long message");
    show("Alice", &long);
    alice.say(&long);
    expect_replies(&alice, &mut seen, 3).await?;

    // 4. Check what a person would check, then stop cleanly.
    let replies = alice.replies();
    let texts: Vec<&str> = replies.iter().filter_map(SentMessage::text).collect();
    let rejoined: String = texts.iter().skip(2).copied().collect();
    let ok = replies.len() == 6
        && texts.first() == Some(&echo::WELCOME)
        && texts.get(1) == Some(&hello)
        && replies.get(2).map(|r| r.msgtype.as_str()) == Some("image")
        && rejoined == long
        && texts.iter().all(|t| t.len() <= 2048);
    bot.shutdown().await;
    server.abort();
    sim.shutdown();
    if !ok {
        return Err(format!("unexpected transcript: {} replies: {texts:?}", replies.len()).into());
    }
    println!(
        "\n{} replies, each message answered once, long text split on character boundaries. Done.",
        replies.len()
    );
    Ok(())
}
