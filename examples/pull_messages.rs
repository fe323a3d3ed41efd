//! Pull every message of an account with `sync_msg`, persisting the cursor after each message so a
//! restart resumes where it stopped (and never skips a message).
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_OPEN_KFID`, optional `WXKF_SYNC_TOKEN` (the
//! callback's Token), `WXKF_CURSOR_FILE` (default `wxkf-cursor.txt`) and `WXKF_BASE_URL`.

use futures_util::StreamExt;
use wxkf_client::Client;
use wxkf_client::types::message::{Event, MessageContent, SyncMsgRequest};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let cursor_file = std::env::var("WXKF_CURSOR_FILE").unwrap_or_else(|_| "wxkf-cursor.txt".to_owned());
    let mut req = SyncMsgRequest::new(env("WXKF_OPEN_KFID")?);
    if let Ok(cursor) = std::fs::read_to_string(&cursor_file) {
        req = req.with_cursor(cursor.trim());
    }
    if let Ok(token) = std::env::var("WXKF_SYNC_TOKEN") {
        req = req.with_token(token);
    }
    let mut messages = client.message().sync_msg_stream(req);
    let mut count = 0;
    while let Some(message) = messages.next().await {
        let message = message?;
        count += 1;
        match (&message.content, message.event()) {
            (MessageContent::Text(text), _) => println!("{}: text {:?}", message.msgid, text.content),
            (_, Some(Event::EnterSession(enter))) => {
                println!("{}: customer entered; welcome_code {:?}", message.msgid, enter.welcome_code)
            }
            (_, Some(Event::MsgSendFail(fail))) => {
                println!("{}: message {} not delivered: {:?}", message.msgid, fail.fail_msgid, fail.fail_type)
            }
            _ => println!("{}: {}", message.msgid, message.msgtype()),
        }
        if let Some(cursor) = messages.cursor() {
            std::fs::write(&cursor_file, cursor)?;
        }
    }
    println!("{count} messages; cursor saved in {cursor_file}");
    Ok(())
}
