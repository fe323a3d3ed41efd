//! List an account's servicers; add one if `WXKF_SERVICER_USERID` is set.
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_OPEN_KFID`, optional `WXKF_SERVICER_USERID` and
//! `WXKF_BASE_URL`.

use wxkf_client::Client;
use wxkf_client::types::servicer::{ServicerAddRequest, ServicerListRequest};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let open_kfid = env("WXKF_OPEN_KFID")?;
    if let Ok(userid) = std::env::var("WXKF_SERVICER_USERID") {
        let added = client.servicer().add(ServicerAddRequest::for_users(&open_kfid, [userid])).await?;
        // The call succeeds as a whole; each entry has its own errcode.
        for result in &added.result_list {
            println!("add: {result:?}");
        }
    }
    let list = client.servicer().list(ServicerListRequest::new(open_kfid)).await?;
    for servicer in &list.servicer_list {
        println!("{servicer:?}");
    }
    Ok(())
}
