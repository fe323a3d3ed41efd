//! Arbitrary bytes as the `Encrypt` / `echostr` text, and as a plaintext, under the official
//! configuration. Never panics; decryption agrees with itself through every entry point; whatever
//! decrypts re-encrypts and decrypts to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wxkf_crypto::Error;

#[path = "common/official.rs"]
mod official;
use official::crypto;

fuzz_target!(|data: &[u8]| {
    let crypto = crypto();
    // lossy, so that every input reaches the decoder (replacement characters are not base64)
    let text = String::from_utf8_lossy(data);
    let (timestamp, nonce) = ("1409659589", "263014780");

    let decrypted = crypto.decrypt(&text);
    if let Ok(plain) = &decrypted {
        // whatever decrypts survives another round trip
        let again = crypto.encrypt(plain).expect("a decrypted message re-encrypts");
        assert_eq!(crypto.decrypt(&again).as_ref(), Ok(plain), "re-encrypting changed the message");
    }

    // the official V1 signature signs one echostr only: any other text must be refused
    let official = crypto.verify_url("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", timestamp, nonce, &text);
    if let Ok(echo) = &official {
        assert_eq!(echo, "1616140317555161061", "a forged echostr verified");
    }

    // with a valid signature, verify_url is decrypt plus the UTF-8 check, error for error
    let signature = crypto.sign(timestamp, nonce, &text).to_hex();
    let verified = crypto.verify_url(&signature, timestamp, nonce, &text);
    let expected = decrypted.and_then(|plain| String::from_utf8(plain).map_err(|_| Error::InvalidUtf8));
    assert_eq!(verified, expected, "verify_url and decrypt disagree");

    // the input as a plaintext: every byte string round-trips
    let sealed = crypto.encrypt_with_random(b"0123456789abcdef", data).expect("any plaintext encrypts");
    assert_eq!(crypto.decrypt(&sealed).as_deref(), Ok(data), "a plaintext did not round-trip");
});
