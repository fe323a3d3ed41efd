//! Send a welcome message with the `welcome_code` of an `enter_session` event (valid 20 s, once).
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_WELCOME_CODE`, optional `WXKF_BASE_URL`. In a real
//! bot the code comes from `sync_msg` (see the `pull_messages` example).

use wxkf_client::Client;
use wxkf_client::types::message::SendMsgOnEventRequest;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let req = SendMsgOnEventRequest::text(env("WXKF_WELCOME_CODE")?, "欢迎咨询，请问有什么可以帮您？");
    let sent = client.message().send_msg_on_event(req).await?;
    println!("welcome accepted as msgid {}", sent.msgid);
    Ok(())
}
