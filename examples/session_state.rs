//! Read a session's state and hand it to the bot (from "new"), or show who holds it.
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_OPEN_KFID`, `WXKF_EXTERNAL_USERID`, optional
//! `WXKF_BASE_URL`.

use wxkf_client::Client;
use wxkf_client::types::service_state::{ServiceState, ServiceStateGetRequest, ServiceStateTransRequest};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let (open_kfid, customer) = (env("WXKF_OPEN_KFID")?, env("WXKF_EXTERNAL_USERID")?);
    let state = client.service_state().get(ServiceStateGetRequest::new(&open_kfid, &customer)).await?;
    println!("state {:?}, servicer {:?}", state.service_state, state.servicer_userid);
    match state.service_state {
        ServiceState::New => {
            let moved =
                client.service_state().trans(ServiceStateTransRequest::to_bot(&open_kfid, &customer)).await?;
            println!("handed to the bot; msg_code {:?}", moved.msg_code);
        }
        ServiceState::Human => println!("a human servicer holds it: the API cannot send (95018)"),
        other => println!("nothing to do in state {other:?}"),
    }
    Ok(())
}
