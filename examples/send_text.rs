//! Send a text message to a customer.
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_OPEN_KFID`, `WXKF_EXTERNAL_USERID`, optional
//! `WXKF_TEXT` and `WXKF_BASE_URL`.

use wxkf_client::Client;
use wxkf_client::types::message::SendMsgRequest;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let text = std::env::var("WXKF_TEXT").unwrap_or_else(|_| "你好，这是一条来自 wxkf 的消息".to_owned());
    let req = SendMsgRequest::text(env("WXKF_EXTERNAL_USERID")?, env("WXKF_OPEN_KFID")?, text);
    // send_msg_checked asks service_state/get first and explains a session a human holds.
    let sent = client.message().send_msg_checked(req).await?;
    println!("accepted as msgid {}", sent.msgid);
    Ok(())
}
