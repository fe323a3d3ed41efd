//! Arbitrary bytes as a callback POST body. `Envelope::parse` and `decrypt_message` never panic,
//! and no body other than one carrying the official ciphertext verifies under its signature.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wxkf_crypto::Envelope;

#[path = "common/official.rs"]
mod official;
use official::crypto;

/// The official V2 message's plaintext: the only one its signature can verify.
const V2_PLAINTEXT: &str = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>";

fuzz_target!(|data: &[u8]| {
    let crypto = crypto();
    let parsed = Envelope::parse(data);
    let result =
        crypto.decrypt_message("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", data);
    match (&parsed, &result) {
        (Err(parse_error), Err(error)) => assert_eq!(parse_error, error, "parse errors pass through"),
        (Err(_), Ok(_)) => panic!("a body that does not parse decrypted"),
        (Ok(_), Ok(plain)) => assert_eq!(plain, V2_PLAINTEXT, "a forged body verified"),
        (Ok(_), Err(_)) => {}
    }
    if let Ok(envelope) = parsed {
        // the ciphertext found is what the signature covers: signing it makes the body decrypt as the
        // bare ciphertext does
        let signature = crypto.sign("1", "2", &envelope.encrypt).to_hex();
        let via_body = crypto.decrypt_message(&signature, "1", "2", data);
        let via_text = crypto.verify_url(&signature, "1", "2", &envelope.encrypt);
        assert_eq!(via_body, via_text, "the body and its Encrypt value disagree");
    }
});
