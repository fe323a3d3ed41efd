//! Send a menu (a satisfaction survey); a click comes back as a text message with `menu_id`.
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_OPEN_KFID`, `WXKF_EXTERNAL_USERID`, optional
//! `WXKF_BASE_URL`.

use wxkf_client::Client;
use wxkf_client::types::message::{MsgMenu, SendMsgRequest};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let menu = MsgMenu::builder()
        .head_content("您对本次服务是否满意呢？")
        .click("101", "满意")
        .click("102", "不满意")
        .view("https://work.weixin.qq.com", "自助查询")
        .tail_content("欢迎再次光临")
        .build();
    let req = SendMsgRequest::menu(env("WXKF_EXTERNAL_USERID")?, env("WXKF_OPEN_KFID")?, menu);
    let sent = client.message().send_msg(req).await?;
    println!("accepted as msgid {}", sent.msgid);
    Ok(())
}
