//! Verify + decrypt of a ~600-byte `kf_msg_or_event` POST body, next to a floor measured in the
//! same run: the raw primitives the work cannot avoid (base64 decode, SHA-1 of the signed string,
//! AES-256-CBC decrypt of the same ciphertext), with the same crates.
//!
//! `cargo bench -p wxkf-crypto --bench callback`; the figures go in docs/benchmarks.md.

use aes::Aes256Dec;
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, InnerIvInit, KeyInit};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use sha1::{Digest, Sha1};
use wxkf_crypto::{CallbackCrypto, Envelope};

const TOKEN: &str = "QDG6eK";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const CORP_ID: &str = "ww5823bf96d3bd56c7";
const TIMESTAMP: &str = "1732345678";
const NONCE: &str = "1372623149";

/// The decrypted body WeCom sends for Kf (kf-api.md §12), with realistic ids.
const KF_EVENT: &str = "<xml><ToUserName><![CDATA[ww5823bf96d3bd56c7]]></ToUserName><CreateTime>1732345678</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token><OpenKfId><![CDATA[wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q]]></OpenKfId></xml>";

fn bench(c: &mut Criterion) {
    let crypto = CallbackCrypto::new(TOKEN, KEY, CORP_ID).unwrap();
    let encrypt = crypto.encrypt(KF_EVENT.as_bytes()).unwrap();
    let signature = crypto.sign(TIMESTAMP, NONCE, &encrypt).to_hex();
    let body = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    );
    assert!((550..700).contains(&body.len()), "body is {} bytes", body.len());
    assert_eq!(crypto.decrypt_message(&signature, TIMESTAMP, NONCE, body.as_bytes()).unwrap(), KF_EVENT);

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
