//! List the Kf accounts and make a contact link for the first one.
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, optional `WXKF_BASE_URL`.

use wxkf_client::Client;
use wxkf_client::types::account::AddContactWayRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let accounts = client.account().list_all().await?;
    for account in &accounts {
        println!("{} {} (manageable: {:?})", account.open_kfid, account.name, account.manage_privilege);
    }
    if let Some(first) = accounts.first() {
        let link = client
            .account()
            .add_contact_way(AddContactWayRequest::new(&first.open_kfid).with_scene("example"))
            .await?;
        println!("contact link: {}", link.url);
    }
    Ok(())
}
