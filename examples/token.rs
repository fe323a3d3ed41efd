//! Fetch (and cache) an access token.
//!
//! ```sh
//! WXKF_CORP_ID=ww... WXKF_APP_SECRET=... cargo run --example token
//! ```
//! `WXKF_BASE_URL` points the client elsewhere (the simulator, a proxy).

use wxkf_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let token = client.access_token().await?;
    // The token is a secret: show only its length.
    println!(
        "got an access token of {} bytes (cache key {})",
        token.expose_secret().len(),
        client.token_key()
    );
    let again = client.access_token().await?;
    println!("second call served from the cache: {}", again == token);
    Ok(())
}
