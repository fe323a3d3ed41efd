//! Send a link card (the thumbnail is an uploaded image).
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_OPEN_KFID`, `WXKF_EXTERNAL_USERID`, `WXKF_IMAGE`
//! (thumbnail, JPG or PNG), optional `WXKF_URL` and `WXKF_BASE_URL`.

use wxkf_client::Client;
use wxkf_client::types::media::MediaType;
use wxkf_client::types::message::{SendLink, SendMsgRequest};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let thumb = client.media().upload_file(MediaType::Image, env("WXKF_IMAGE")?).await?;
    let url = std::env::var("WXKF_URL").unwrap_or_else(|_| "https://work.weixin.qq.com".to_owned());
    let link = SendLink::new("wxkf 链接卡片", url, thumb.media_id).with_desc("点击查看详情");
    let req = SendMsgRequest::link(env("WXKF_EXTERNAL_USERID")?, env("WXKF_OPEN_KFID")?, link);
    let sent = client.message().send_msg(req).await?;
    println!("accepted as msgid {}", sent.msgid);
    Ok(())
}
