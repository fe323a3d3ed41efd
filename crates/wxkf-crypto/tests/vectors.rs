//! The official vectors and the tamper cases, read from `tests/vectors/*.json`.

use aes::Aes256Enc;
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use serde_json::Value;
use wxkf_crypto::{CallbackCrypto, CallbackQuery, EncodingAesKey, Envelope, Error};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} missing"))
}

fn official() -> (Value, CallbackCrypto) {
    let v = load("official.json");
    let c = CallbackCrypto::new(s(&v, "token"), s(&v, "encoding_aes_key"), s(&v, "receive_id")).unwrap();
    (v, c)
}

fn random16(s: &str) -> [u8; 16] {
    s.as_bytes().try_into().unwrap()
}

#[test]
fn key_derivation_matches_the_official_bytes() {
    let (v, c) = official();
    let key = c.encoding_aes_key();
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(key.aes_key()), s(&v, "aes_key_hex"));
    assert_eq!(hex(&key.iv()), s(&v, "iv_hex"));
    assert!(!key.is_canonical(), "the official key has non-zero trailing bits");
}

#[test]
fn url_verification_vector() {
    let (v, c) = official();
    let t = &v["url_verification"][0];
    // from the raw query string, percent-decoded once
    let q = CallbackQuery::parse(s(t, "query"));
    assert_eq!(q.echostr.as_deref(), Some(s(t, "echostr")));
    let echo = c
        .verify_url(
            q.msg_signature.as_deref().unwrap(),
            q.timestamp.as_deref().unwrap(),
            q.nonce.as_deref().unwrap(),
            q.echostr.as_deref().unwrap(),
        )
        .unwrap();
    assert_eq!(echo, s(t, "plaintext"));
    // re-encrypting with the official random prefix reproduces the official ciphertext byte for byte
    let again = c.encrypt_with_random(&random16(s(t, "random")), echo.as_bytes()).unwrap();
    assert_eq!(again, s(t, "echostr"));
    // and the whole decrypted buffer is the documented one
    let raw = base64::engine::general_purpose::STANDARD.decode(s(t, "echostr")).unwrap();
    assert_eq!(raw.len(), s(t, "decrypted_hex").len() / 2);
}

#[test]
fn url_verification_survives_a_form_decoded_query() {
    let (v, c) = official();
    let t = &v["url_verification"][0];
    // a framework that turned '+' into ' ' before we saw it
    let mangled = s(t, "echostr").replace('+', " ");
    let echo = c.verify_url(s(t, "msg_signature"), s(t, "timestamp"), s(t, "nonce"), &mangled).unwrap();
    assert_eq!(echo, s(t, "plaintext"));
}

#[test]
fn message_vectors_xml_and_json() {
    let (v, c) = official();
    for t in v["messages"].as_array().unwrap() {
        let name = s(t, "name");
        let body = s(t, "body");
        let plain =
            c.decrypt_message(s(t, "msg_signature"), s(t, "timestamp"), s(t, "nonce"), body.as_bytes());
        assert_eq!(plain.as_deref(), Ok(s(t, "plaintext")), "{name}");
        let env = Envelope::parse(body.as_bytes()).unwrap();
        assert_eq!(env.encrypt, s(t, "encrypt"), "{name}");
        assert_eq!(env.to_user_name.as_deref(), Some("wx5823bf96d3bd56c7"));
        assert_eq!(env.agent_id.as_deref(), Some("218"));
        let raw = base64::engine::general_purpose::STANDARD.decode(s(t, "encrypt")).unwrap();
        assert_eq!(raw.len() as u64, t["ciphertext_len"].as_u64().unwrap(), "{name}");
        let again = c.encrypt_with_random(&random16(s(t, "random")), s(t, "plaintext").as_bytes()).unwrap();
        assert_eq!(again, s(t, "encrypt"), "{name}: deterministic re-encryption");
        assert_eq!(c.sign(s(t, "timestamp"), s(t, "nonce"), &again).to_hex(), s(t, "msg_signature"));
    }
}

#[test]
fn encrypted_reply_round_trips_in_both_envelopes() {
    let (v, c) = official();
    let plain = s(&v, "reply_plaintext");
    let reply = c.encrypt_reply(plain, "1409659813", "1372623149").unwrap();
    assert_eq!(reply.msg_signature, c.sign("1409659813", "1372623149", &reply.encrypt).to_hex());
    for body in [reply.to_xml(), reply.to_json()] {
        let env = Envelope::parse(body.as_bytes()).unwrap();
        assert_eq!(env.msg_signature.as_deref(), Some(reply.msg_signature.as_str()));
        assert_eq!(env.timestamp.as_deref(), Some("1409659813"));
        assert_eq!(env.nonce.as_deref(), Some("1372623149"));
        let got =
            c.decrypt_message(&reply.msg_signature, "1409659813", "1372623149", body.as_bytes()).unwrap();
        assert_eq!(got, plain);
    }
    // Chinese text: the length field counts bytes, not characters
    let zh = "<xml><Content><![CDATA[你好，世界 👋]]></Content></xml>";
    let r = c.encrypt_reply_now(zh).unwrap();
    assert_eq!(
        c.decrypt_message(&r.msg_signature, &r.timestamp, &r.nonce, r.to_xml().as_bytes()).unwrap(),
        zh
    );
    // two encryptions of the same text differ (fresh random prefix)
    assert_ne!(c.encrypt(b"x").unwrap(), c.encrypt(b"x").unwrap());
}

fn flip_from_end(b64: &str, n: usize) -> String {
    let mut raw = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    let i = raw.len() - n;
    raw[i] ^= 0x5a;
    base64::engine::general_purpose::STANDARD.encode(raw)
}

#[test]
fn tamper_cases_each_give_their_error() {
    let (v, _) = official();
    let t = load("tamper.json");
    for case in t["cases"].as_array().unwrap() {
        let name = s(case, "name");
        let base = if s(case, "base") == "V1" { &v["url_verification"][0] } else { &v["messages"][0] };
        let ch = &case["change"];
        let get = |k: &str| ch[k].as_str().map(str::to_owned).unwrap_or_else(|| s(base, k).to_owned());
        let key = ch["encoding_aes_key"].as_str().unwrap_or(s(&v, "encoding_aes_key"));
        let rid = ch["receive_id"].as_str().unwrap_or(s(&v, "receive_id"));
        let c = CallbackCrypto::new(s(&v, "token"), key, rid).unwrap();
        let mut encrypt =
            base.get("echostr").or_else(|| base.get("encrypt")).and_then(Value::as_str).unwrap().to_owned();
        if let Some(e) = ch["encrypt"].as_str() {
            encrypt = e.to_owned();
        }
        if let Some(n) = ch["flip_ciphertext_byte_from_end"].as_u64() {
            encrypt = flip_from_end(&encrypt, n as usize);
        }
        if let Some(n) = ch["truncate_ciphertext"].as_u64() {
            let raw = base64::engine::general_purpose::STANDARD.decode(&encrypt).unwrap();
            encrypt = base64::engine::general_purpose::STANDARD.encode(&raw[..n as usize]);
        }
        let mut sig = get("msg_signature");
        if ch["msg_signature_upper"].as_bool() == Some(true) {
            sig = sig.to_uppercase();
        }
        let (ts, nonce) = (get("timestamp"), get("nonce"));
        // tampering with the ciphertext invalidates the signature, so re-sign what we altered:
        // these cases test the steps after the signature check
        if ch.get("flip_ciphertext_byte_from_end").is_some()
            || ch.get("truncate_ciphertext").is_some()
            || ch.get("encrypt").is_some()
        {
            sig = c.sign(&ts, &nonce, &encrypt).to_hex();
        }
        let result = c.verify_url(&sig, &ts, &nonce, &encrypt);
        match case["error"].as_str() {
            None => assert!(result.is_ok(), "{name}: {result:?}"),
            Some(want) => {
                let err = result.expect_err(name);
                let kind = format!("{err:?}");
                let ok = match want {
                    "padding" => {
                        matches!(err, Error::InvalidPadding { .. } | Error::InconsistentPadding { .. })
                    }
                    other => kind.starts_with(other),
                };
                assert!(ok, "{name}: wanted {want}, got {kind}");
                assert_eq!(i64::from(err.code()), case["code"].as_i64().unwrap(), "{name}");
                assert!(!err.hint().is_empty());
            }
        }
    }
}

/// Encrypts an arbitrary (already padded) buffer with the official key, to build frames the
/// library would never produce.
fn raw_encrypt(plain: &[u8]) -> String {
    let key = EncodingAesKey::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C").unwrap();
    let mut buf = plain.to_vec();
    let len = buf.len();
    cbc::Encryptor::<Aes256Enc>::new(key.aes_key().into(), (&key.iv()).into())
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(buf)
}

fn frame(msg: &[u8], len_field: u32, rid: &[u8]) -> Vec<u8> {
    let mut f = b"0123456789abcdef".to_vec();
    f.extend_from_slice(&len_field.to_be_bytes());
    f.extend_from_slice(msg);
    f.extend_from_slice(rid);
    f
}

fn padded(mut f: Vec<u8>) -> Vec<u8> {
    let pad = 32 - f.len() % 32;
    f.resize(f.len() + pad, pad as u8);
    f
}

#[test]
fn hand_built_frames() {
    let (_, c) = official();
    let rid = b"wx5823bf96d3bd56c7";
    let good = padded(frame(b"hello", 5, rid));
    assert_eq!(c.decrypt(&raw_encrypt(&good)).unwrap(), b"hello");

    let mut zero = good.clone();
    *zero.last_mut().unwrap() = 0;
    assert_eq!(c.decrypt(&raw_encrypt(&zero)), Err(Error::InvalidPadding { pad: 0 }));

    let mut big = good.clone();
    *big.last_mut().unwrap() = 33;
    assert_eq!(c.decrypt(&raw_encrypt(&big)), Err(Error::InvalidPadding { pad: 33 }));

    let mut inconsistent = good.clone();
    let n = inconsistent.len();
    let pad = inconsistent[n - 1];
    inconsistent[n - 2] = pad.wrapping_add(1);
    assert_eq!(c.decrypt(&raw_encrypt(&inconsistent)), Err(Error::InconsistentPadding { pad }));

    // 16-byte PKCS#7 would have given pad 7 here; a full 32-byte pad block must be accepted
    let exact = frame(&[b'x'; 26], 26, rid); // 16 + 4 + 26 + 18 = 64
    assert_eq!(exact.len() % 32, 0);
    assert_eq!(c.decrypt(&raw_encrypt(&padded(exact))).unwrap(), vec![b'x'; 26]);

    let short = padded(b"0123456789abcdef01".to_vec());
    assert_eq!(c.decrypt(&raw_encrypt(&short)), Err(Error::FrameTooShort { len: 18 }));

    let past_end = padded(frame(b"hello", 1000, rid));
    assert_eq!(
        c.decrypt(&raw_encrypt(&past_end)),
        Err(Error::LengthOutOfBounds { msg_len: 1000, available: 5 + rid.len() })
    );

    let other_rid = padded(frame(b"hello", 5, b"ww_other"));
    assert_eq!(
        c.decrypt(&raw_encrypt(&other_rid)),
        Err(Error::ReceiveIdMismatch { expected: "wx5823bf96d3bd56c7".into(), found: "ww_other".into() })
    );

    let not_utf8 = padded(frame(&[0xff, 0xfe], 2, rid));
    let e = raw_encrypt(&not_utf8);
    assert_eq!(c.decrypt(&e).unwrap(), vec![0xff, 0xfe]);
    assert_eq!(c.verify_url(&c.sign("1", "2", &e).to_hex(), "1", "2", &e), Err(Error::InvalidUtf8));

    assert_eq!(c.decrypt(""), Err(Error::InvalidCiphertextLength { len: 0 }));
    assert_eq!(c.decrypt("AAAA"), Err(Error::InvalidCiphertextLength { len: 3 }));
}

#[test]
fn signature_is_checked_before_anything_is_decrypted() {
    let (_, c) = official();
    // garbage ciphertext with a wrong signature reports the signature, not the garbage
    assert_eq!(c.verify_url(&"0".repeat(40), "1", "2", "!!!"), Err(Error::SignatureMismatch));
    assert_eq!(
        c.decrypt_message(&"0".repeat(40), "1", "2", b"<xml><Encrypt>abc</Encrypt></xml>"),
        Err(Error::SignatureMismatch)
    );
    assert!(matches!(c.decrypt_message("x", "1", "2", b"nope"), Err(Error::InvalidEnvelope { .. })));
}

#[test]
fn empty_receive_id_and_debug_redaction() {
    let c = CallbackCrypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "").unwrap();
    let e = c.encrypt("personal third-party app".as_bytes()).unwrap();
    assert_eq!(c.decrypt(&e).unwrap(), b"personal third-party app");
    let shown = format!("{c:?}");
    assert!(!shown.contains("QDG6eK") && !shown.contains("jWmY"), "{shown}");
    assert!(matches!(CallbackCrypto::new("QDG 6eK", "x", ""), Err(Error::InvalidToken { .. })));
    assert!(matches!(CallbackCrypto::new("QDG6eK", "x", ""), Err(Error::InvalidAesKey { .. })));
    assert!(matches!(
        CallbackCrypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "ww1 "),
        Err(Error::InvalidReceiveId { .. })
    ));
}
