//! An account's statistics for the last 7 days (available the next day after 06:00).
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_OPEN_KFID`, optional `WXKF_BASE_URL`.

use std::time::{SystemTime, UNIX_EPOCH};

use wxkf_client::Client;
use wxkf_client::types::statistic::GetCorpStatisticRequest;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    const DAY: u64 = 24 * 3600;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    // WeCom floors both ends to the day's 00:00 (China time); whole days are enough here.
    let end = now - DAY;
    let start = end - 6 * DAY;
    let stats = client
        .statistic()
        .get_corp_statistic(GetCorpStatisticRequest::new(env("WXKF_OPEN_KFID")?, start, end))
        .await?;
    for day in &stats.statistic_list {
        println!("{}: {:?}", day.stat_time, day.statistic);
    }
    Ok(())
}
