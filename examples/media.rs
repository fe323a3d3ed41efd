//! Upload a file as temporary media, then download it again (whole, by range, and into a file).
//!
//! Env: `WXKF_CORP_ID`, `WXKF_APP_SECRET`, `WXKF_FILE` (any file up to 20 MB; its name, UTF-8
//! allowed, is what customers see), optional `WXKF_BASE_URL`.

use wxkf_client::Client;
use wxkf_client::types::media::MediaType;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let uploaded = client.media().upload_file(MediaType::File, env("WXKF_FILE")?).await?;
    println!("media_id {} (valid 3 days)", uploaded.media_id);

    let whole = client.media().get(&uploaded.media_id).await?;
    println!("{} bytes, {} named {:?}", whole.bytes.len(), whole.meta.content_type, whole.meta.filename);

    let head = client.media().get_range(&uploaded.media_id, 0, 15).await?;
    println!("first bytes: {:?} (range {:?})", &head.bytes[..], head.meta.content_range);

    let mut out = tokio::fs::File::create("wxkf-download.bin").await?;
    client.media().download_to(&uploaded.media_id, &mut out).await?;
    println!("saved to wxkf-download.bin");
    Ok(())
}
