//! Send a text and recall it (recall works within 2 minutes, for messages sent through the API).
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_OPEN_KFID`, `WXKF_EXTERNAL_USERID`, optional
//! `WXKF_BASE_URL`.

use wxkf_client::Client;
use wxkf_client::types::message::{RecallMsgRequest, SendMsgRequest};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let open_kfid = env("WXKF_OPEN_KFID")?;
    let sent = client
        .message()
        .send_msg(SendMsgRequest::text(env("WXKF_EXTERNAL_USERID")?, &open_kfid, "oops"))
        .await?;
    println!("sent {}", sent.msgid);
    client.message().recall_msg(RecallMsgRequest::new(open_kfid, sent.msgid)).await?;
    println!("recalled");
    Ok(())
}
