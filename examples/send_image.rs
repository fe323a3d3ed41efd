//! Upload an image and send it.
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_OPEN_KFID`, `WXKF_EXTERNAL_USERID`, `WXKF_IMAGE`
//! (path to a JPG or PNG), optional `WXKF_BASE_URL`.

use wxkf_client::Client;
use wxkf_client::types::media::MediaType;
use wxkf_client::types::message::SendMsgRequest;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let uploaded = client.media().upload_file(MediaType::Image, env("WXKF_IMAGE")?).await?;
    println!("uploaded media_id {}", uploaded.media_id);
    let req = SendMsgRequest::image(env("WXKF_EXTERNAL_USERID")?, env("WXKF_OPEN_KFID")?, uploaded.media_id);
    let sent = client.message().send_msg(req).await?;
    println!("accepted as msgid {}", sent.msgid);
    Ok(())
}
