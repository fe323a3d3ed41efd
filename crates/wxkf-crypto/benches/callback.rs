//! Verify + decrypt of a ~600-byte `kf_msg_or_event` POST body, next to a floor measured in the
//! same run: the raw primitives the work cannot avoid (base64 decode, SHA-1 of the signed string,
//! AES-256-CBC decrypt of the same ciphertext), with the same crates.
//!
//! `cargo bench -p wxkf-crypto --bench callback`; the figures go in docs/benchmarks.md.
//!
//! The two "quick-xml" rows measure the alternative that was tried and rejected: reading the XML
//! envelope with quick-xml's event reader (as `wxkf-types` reads a callback plaintext), under the
//! same rules. It keeps every row's shape but not the 1.5× bar, so the envelope keeps its own
//! tokenizer.

use aes::Aes256Dec;
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, InnerIvInit, KeyInit};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use quick_xml::events::Event;
use sha1::{Digest, Sha1};
use std::borrow::Cow;
use wxkf_crypto::{CallbackCrypto, Envelope};

const TOKEN: &str = "QDG6eK";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const CORP_ID: &str = "ww5823bf96d3bd56c7";
const TIMESTAMP: &str = "1732345678";
const NONCE: &str = "1372623149";

/// The decrypted body WeCom sends for Kf (kf-api.md §12), with realistic ids.
const KF_EVENT: &str = "<xml><ToUserName><![CDATA[ww5823bf96d3bd56c7]]></ToUserName><CreateTime>1732345678</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token><OpenKfId><![CDATA[wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q]]></OpenKfId></xml>";

/// The `Encrypt` text of an XML envelope, read with quick-xml under the envelope's rules (one root,
/// nothing but white space, comments and PIs around it, no DTD, names checked, no `<` in a tag,
/// at most 32 levels, references decoded, one `Encrypt`).
fn encrypt_with_quick_xml(body: &str) -> Option<Cow<'_, str>> {
    let mut reader = quick_xml::Reader::from_str(body);
    let (mut depth, mut root_seen) = (0usize, false);
    let (mut in_encrypt, mut encrypt): (bool, Option<Cow<'_, str>>) = (false, None);
    let name_ok = |name: &[u8]| {
        std::str::from_utf8(name).ok().is_some_and(|n| {
            let mut c = n.chars();
            c.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':')
                && c.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
        })
    };
    loop {
        match reader.read_event().ok()? {
            Event::Start(t) | Event::Empty(t)
                if !name_ok(t.name().as_ref())
                    || t.attributes_raw().contains(&b'<')
                    || (depth == 0 && root_seen) =>
            {
                return None;
            }
            Event::Start(t) => {
                root_seen = true;
                in_encrypt = depth == 1 && t.name().as_ref() == b"Encrypt";
                if in_encrypt && encrypt.is_some() {
                    return None;
                }
                depth += 1;
                if depth > 32 {
                    return None;
                }
            }
            Event::Empty(t) => {
                root_seen = true;
                if depth == 1 && t.name().as_ref() == b"Encrypt" {
                    encrypt = Some(Cow::Borrowed(""));
                }
            }
            Event::End(_) => {
                depth -= 1;
                in_encrypt &= depth >= 2;
            }
            Event::Text(t) if depth == 0 && !t.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n')) => {
                return None;
            }
            Event::Text(_) if depth == 0 => {}
            Event::CData(_) | Event::GeneralRef(_) | Event::DocType(_) if depth == 0 => return None,
            Event::Text(t) if in_encrypt => push(&mut encrypt, t.decode().ok()?),
            Event::CData(t) if in_encrypt => push(&mut encrypt, t.decode().ok()?),
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().ok()? {
                    Some(c) => c,
                    None => {
                        quick_xml::escape::resolve_predefined_entity(&r.decode().ok()?)?.chars().next()?
                    }
                };
                if in_encrypt {
                    push(&mut encrypt, Cow::Owned(c.to_string()));
                }
            }
            Event::DocType(_) => return None,
            Event::Eof if depth > 0 => return None,
            Event::Eof => return encrypt.map(|e| Cow::Owned(e.trim().to_owned())),
            _ => {}
        }
    }
}

fn push<'a>(text: &mut Option<Cow<'a, str>>, more: Cow<'a, str>) {
    match text {
        None => *text = Some(more),
        Some(t) => t.to_mut().push_str(&more),
    }
}

fn bench(c: &mut Criterion) {
    let crypto = CallbackCrypto::new(TOKEN, KEY, CORP_ID).unwrap();
    let encrypt = crypto.encrypt(KF_EVENT.as_bytes()).unwrap();
    let signature = crypto.sign(TIMESTAMP, NONCE, &encrypt).to_hex();
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    );
    assert!((550..700).contains(&body.len()), "body is {} bytes", body.len());
    assert_eq!(crypto.decrypt_message(&signature, TIMESTAMP, NONCE, body.as_bytes()).unwrap(), KF_EVENT);
    assert_eq!(encrypt_with_quick_xml(&body).as_deref(), Some(encrypt.as_str()));

    // what the floor hashes: the signed string, already sorted and joined
    let mut parts = [TOKEN, TIMESTAMP, NONCE, encrypt.as_str()];
    parts.sort_unstable();
    let signed = parts.concat();
    let key = wxkf_crypto::EncodingAesKey::new(KEY).unwrap();
    let dec = Aes256Dec::new(key.aes_key().into());
    let iv = key.iv();

    let mut g = c.benchmark_group("kf_callback");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("floor: base64 + sha1 + aes-256-cbc", |b| {
        b.iter(|| {
            let mut buf = base64::engine::general_purpose::STANDARD.decode(black_box(&encrypt)).unwrap();
            let digest = Sha1::digest(black_box(signed.as_bytes()));
            cbc::Decryptor::<Aes256Dec>::inner_iv_init(dec.clone(), (&iv).into())
                .decrypt_padded_mut::<NoPadding>(&mut buf)
                .unwrap();
            black_box((digest, buf))
        })
    });
    g.bench_function("wxkf: verify + decrypt POST body", |b| {
        b.iter(|| {
            black_box(
                crypto
                    .decrypt_message(black_box(&signature), TIMESTAMP, NONCE, black_box(body.as_bytes()))
                    .unwrap(),
            )
        })
    });
    g.bench_function("wxkf: envelope parse only", |b| {
        b.iter(|| black_box(Envelope::parse(black_box(body.as_bytes())).unwrap().encrypt.len()))
    });
    g.bench_function("rejected: verify + decrypt, envelope read by quick-xml", |b| {
        b.iter(|| {
            let encrypt = encrypt_with_quick_xml(black_box(&body)).unwrap();
            crypto.verify_signature(black_box(&signature), TIMESTAMP, NONCE, &encrypt).unwrap();
            black_box(String::from_utf8(crypto.decrypt(&encrypt).unwrap()).unwrap())
        })
    });
    g.bench_function("rejected: envelope parse by quick-xml only", |b| {
        b.iter(|| black_box(encrypt_with_quick_xml(black_box(&body)).unwrap().len()))
    });
    g.bench_function("wxkf: verify signature only", |b| {
        b.iter(|| {
            crypto.verify_signature(black_box(&signature), TIMESTAMP, NONCE, black_box(&encrypt)).unwrap()
        })
    });
    g.bench_function("wxkf: decrypt only", |b| {
        b.iter(|| black_box(crypto.decrypt(black_box(&encrypt)).unwrap()))
    });
    g.bench_function("wxkf: encrypt reply", |b| {
        b.iter(|| black_box(crypto.encrypt_reply(black_box(KF_EVENT), TIMESTAMP, NONCE).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
