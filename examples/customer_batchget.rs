//! Look up customers by `external_userid` (any number: split into calls of 100).
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_EXTERNAL_USERIDS` (comma-separated), optional
//! `WXKF_BASE_URL`.

use wxkf_client::Client;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let ids: Vec<String> = env("WXKF_EXTERNAL_USERIDS")?.split(',').map(|s| s.trim().to_owned()).collect();
    let found = client.customer().batchget_all(ids, true).await?;
    for customer in &found.customer_list {
        println!("{} {:?} {:?}", customer.external_userid, customer.nickname, customer.gender);
    }
    if !found.invalid_external_userid.is_empty() {
        println!("not found: {:?}", found.invalid_external_userid);
    }
    Ok(())
}
