//! Verify and decrypt a WeCom callback with `wxkf-crypto` alone: the URL-verification GET and a
//! POST body, using WeCom's official sample values (no credentials needed).
//!
//! Env (optional, to try your own values): `WXKF_TOKEN`, `WXKF_ENCODING_AES_KEY`, `WXKF_CORP_ID`.
//! For debugging a failing callback from the shell, see the `wxkf` command (crate `wxkf-cli`).

use wxkf_crypto::{CallbackCrypto, CallbackQuery};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |k: &str, default: &str| std::env::var(k).unwrap_or_else(|_| default.to_owned());
    let crypto = CallbackCrypto::new(
        &var("WXKF_TOKEN", "QDG6eK"),
        &var("WXKF_ENCODING_AES_KEY", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
        &var("WXKF_CORP_ID", "wx5823bf96d3bd56c7"),
    )?;

    // 1. URL verification: the raw query string of the GET, decoded exactly once.
    let q = CallbackQuery::parse(
        "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D",
    );
    let (sig, ts, nonce) =
        (q.msg_signature.unwrap_or_default(), q.timestamp.unwrap_or_default(), q.nonce.unwrap_or_default());
    match crypto.verify_url(&sig, &ts, &nonce, q.echostr.as_deref().unwrap_or_default()) {
        Ok(echo) => println!("URL verification: answer the GET with exactly {echo:?}"),
        Err(e) => println!("URL verification failed: {e} (code {}); hint: {}", e.code(), e.hint()),
    }

    // 2. An event POST: encrypt a Kf callback as WeCom would, then verify and decrypt it.
    let event = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><CreateTime>1409659813</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token><OpenKfId><![CDATA[wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q]]></OpenKfId></xml>";
    let sealed = crypto.encrypt_reply(event, "1409659813", "1372623149")?;
    let body = format!(
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>",
        sealed.encrypt
    );
    let plain = crypto.decrypt_message(&sealed.msg_signature, "1409659813", "1372623149", body.as_bytes())?;
    println!("POST body decrypted:\n{plain}");

    // 3. A tampered signature is refused before anything is decrypted.
    let err =
        crypto.decrypt_message(&"0".repeat(40), "1409659813", "1372623149", body.as_bytes()).unwrap_err();
    println!("tampered: {err} (code {})", err.code());
    Ok(())
}
