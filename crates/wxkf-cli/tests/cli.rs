//! Runs the built `wxkf` binary against the official WXBizMsgCrypt vectors
//! (`crates/wxkf-crypto/tests/vectors/official.json`) and checks stdout, stderr and the exit status.

mod support;

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use support::{Output, command, run, temp_file};

/// The official vectors, read once.
fn vectors() -> &'static Value {
    static VECTORS: OnceLock<Value> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../wxkf-crypto/tests/vectors/official.json");
        let text = std::fs::read_to_string(path).expect("official.json is readable");
        serde_json::from_str(&text).expect("official.json is JSON")
    })
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("vector field {key} is a string"))
}

fn token() -> &'static str {
    field(vectors(), "token")
}
fn key() -> &'static str {
    field(vectors(), "encoding_aes_key")
}
fn receive_id() -> &'static str {
    field(vectors(), "receive_id")
}
fn v1() -> &'static Value {
    &vectors()["url_verification"][0]
}
fn v2() -> &'static Value {
    &vectors()["messages"][0]
}
fn v3() -> &'static Value {
    &vectors()["messages"][1]
}

impl Output {
    /// Asserts success and returns stdout.
    fn ok(self) -> String {
        assert_eq!(self.status, 0, "expected success, got {self:?}");
        assert_eq!(self.stderr, "", "nothing on stderr on success");
        self.stdout
    }

    /// Asserts a failure with `status`, nothing on stdout and no secret on stderr; returns stderr.
    fn fails(self, status: i32) -> String {
        assert_eq!(self.status, status, "expected exit status {status}, got {self:?}");
        assert_eq!(self.stdout, "", "nothing on stdout on failure");
        assert_no_secrets(&self.stderr);
        self.stderr
    }
}

fn assert_no_secrets(text: &str) {
    for secret in [token(), key(), WRONG_TOKEN] {
        assert!(!text.contains(secret), "output shows a secret: {text}");
    }
}

const WRONG_TOKEN: &str = "WrongToken123";

/// Runs `wxkf` with `args`, `stdin` and `env` (and no WXKF_* variables from the test's own environment).
fn wxkf_with(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    run(command(args, env), stdin)
}

fn wxkf(args: &[&str], stdin: Option<&[u8]>) -> Output {
    wxkf_with(args, stdin, &[])
}

/// `--token … --aes-key … --receive-id …` with the official values.
fn creds() -> Vec<&'static str> {
    vec!["--token", token(), "--aes-key", key(), "--receive-id", receive_id()]
}

/// `--msg-signature … --timestamp … --nonce …` from a vector.
fn query(v: &'static Value) -> Vec<&'static str> {
    vec![
        "--msg-signature",
        field(v, "msg_signature"),
        "--timestamp",
        field(v, "timestamp"),
        "--nonce",
        field(v, "nonce"),
    ]
}

fn args<'a>(parts: &[&[&'a str]]) -> Vec<&'a str> {
    parts.concat()
}

#[test]
fn v1_verify_url_with_decoded_and_percent_encoded_echostr() {
    let decoded = field(v1(), "echostr");
    let q = field(v1(), "query");
    let encoded = q.split("echostr=").nth(1).expect("the query has echostr");
    assert!(encoded.contains("%2B") && encoded.contains("%3D"), "the URL form is percent-encoded");
    for echostr in [decoded, encoded] {
        let out = wxkf(&args(&[&["verify-url"], &creds(), &query(v1()), &["--echostr", echostr]]), None);
        assert_eq!(out.ok(), "1616140317555161061\n");
    }
}

#[test]
fn v2_decrypt_body_from_a_file_and_from_stdin() {
    let body = field(v2(), "body");
    let expected = format!("{}\n", field(v2(), "plaintext"));
    let path = temp_file("v2.xml", body.as_bytes());
    let path = path.to_str().expect("temp path is UTF-8");

    let out = wxkf(&args(&[&["decrypt"], &creds(), &query(v2()), &["--body", path]]), None);
    assert_eq!(out.ok(), expected);

    let out = wxkf(&args(&[&["decrypt"], &creds(), &query(v2()), &["--body", "-"]]), Some(body.as_bytes()));
    assert_eq!(out.ok(), expected);
}

#[test]
fn v3_decrypt_json_body_from_stdin() {
    let out = wxkf(
        &args(&[&["decrypt"], &creds(), &query(v3()), &["--body", "-"]]),
        Some(field(v3(), "body").as_bytes()),
    );
    assert_eq!(out.ok(), format!("{}\n", field(v3(), "plaintext")));
}

#[test]
fn decrypt_a_bare_encrypt_value() {
    for v in [v2(), v3()] {
        let out =
            wxkf(&args(&[&["decrypt"], &creds(), &query(v), &["--encrypt", field(v, "encrypt")]]), None);
        assert_eq!(out.ok(), format!("{}\n", field(v, "plaintext")));
    }
}

#[test]
fn credentials_from_the_environment() {
    let env = [("WXKF_TOKEN", token()), ("WXKF_ENCODING_AES_KEY", key()), ("WXKF_CORP_ID", receive_id())];
    let out = wxkf_with(
        &args(&[&["verify-url"], &query(v1()), &["--echostr", field(v1(), "echostr")]]),
        None,
        &env,
    );
    assert_eq!(out.ok(), "1616140317555161061\n");

    // a flag wins over the environment
    let env = [("WXKF_TOKEN", WRONG_TOKEN), ("WXKF_ENCODING_AES_KEY", key()), ("WXKF_CORP_ID", receive_id())];
    let out = wxkf_with(
        &args(&[&["decrypt", "--token", token()], &query(v2()), &["--encrypt", field(v2(), "encrypt")]]),
        None,
        &env,
    );
    assert_eq!(out.ok(), format!("{}\n", field(v2(), "plaintext")));

    // an empty WXKF_CORP_ID is the empty receive id, not a missing one
    let env = [("WXKF_TOKEN", token()), ("WXKF_ENCODING_AES_KEY", key()), ("WXKF_CORP_ID", "")];
    let err =
        wxkf_with(&args(&[&["decrypt"], &query(v2()), &["--encrypt", field(v2(), "encrypt")]]), None, &env)
            .fails(1);
    assert!(err.contains(r#"expected "", the message carries "wx5823bf96d3bd56c7""#), "{err}");
}

#[test]
fn help_does_not_show_secrets_from_the_environment() {
    let env = [("WXKF_TOKEN", WRONG_TOKEN), ("WXKF_ENCODING_AES_KEY", key()), ("WXKF_CORP_ID", receive_id())];
    for sub in ["decrypt", "verify-url", "encrypt"] {
        let help = wxkf_with(&[sub, "--help"], None, &env).ok();
        assert!(help.contains("--msg-signature") || sub == "encrypt", "{help}");
        assert!(help.contains("WXKF_TOKEN") && help.contains("WXKF_ENCODING_AES_KEY"), "{help}");
        assert_no_secrets(&help);
    }
    let help = wxkf(&["decrypt", "--help"], None).ok();
    assert!(help.contains("callback URL's query"), "{help}");
}

/// The reply envelope's signed fields, read back with the crate's own parser.
fn reply_fields(envelope: &str) -> (String, String, String) {
    let env = wxkf_crypto::Envelope::parse(envelope.as_bytes()).expect("the reply parses");
    let get = |f: Option<std::borrow::Cow<'_, str>>| f.expect("the reply has the field").into_owned();
    (get(env.msg_signature), get(env.timestamp), get(env.nonce))
}

#[test]
fn encrypt_then_decrypt_round_trips_through_the_binary() {
    let plaintext = "<xml><Content><![CDATA[你好，微信客服 👋]]></Content></xml>";
    for format in [None, Some("--json")] {
        let mut encrypt_args = args(&[&["encrypt"], &creds()]);
        encrypt_args.extend(format);
        let envelope = wxkf(&encrypt_args, Some(plaintext.as_bytes())).ok();
        let envelope = envelope.strip_suffix('\n').expect("one newline ends the envelope");
        assert!(!envelope.contains('\n') || format.is_none(), "JSON is one line");
        assert_eq!(envelope.starts_with('{'), format.is_some(), "{envelope}");

        let (signature, timestamp, nonce) = reply_fields(envelope);
        assert_eq!(nonce.len(), 10, "a default nonce is 10 digits");
        assert!(timestamp.parse::<u64>().expect("a unix timestamp") > 1_700_000_000);
        let out = wxkf(
            &args(&[
                &["decrypt"],
                &creds(),
                &["--msg-signature", &signature, "--timestamp", &timestamp, "--nonce", &nonce],
                &["--body", "-"],
            ]),
            Some(envelope.as_bytes()),
        );
        assert_eq!(out.ok(), format!("{plaintext}\n"));
    }
}

#[test]
fn encrypt_uses_the_given_timestamp_and_nonce_and_an_empty_receive_id() {
    let creds = ["--token", token(), "--aes-key", key(), "--receive-id", ""];
    let reply = wxkf(
        &args(&[&["encrypt"], &creds, &["--timestamp", "1409659813", "--nonce", "1372623149"]]),
        Some(b"hello"),
    )
    .ok();
    let (signature, timestamp, nonce) = reply_fields(&reply);
    assert_eq!((timestamp.as_str(), nonce.as_str()), ("1409659813", "1372623149"));
    let out = wxkf(
        &args(&[
            &["decrypt"],
            &creds,
            &["--msg-signature", &signature, "--timestamp", &timestamp, "--nonce", &nonce],
            &["--body", "-"],
        ]),
        Some(reply.as_bytes()),
    );
    assert_eq!(out.ok(), "hello\n");

    // only one of them given: the other gets its default
    let reply = wxkf(&args(&[&["encrypt"], &creds, &["--nonce", "abc"]]), Some(b"x")).ok();
    let (_, timestamp, nonce) = reply_fields(&reply);
    assert_eq!(nonce, "abc");
    assert!(timestamp.parse::<u64>().is_ok(), "{timestamp}");
}

#[test]
fn keygen_prints_a_token_and_a_key() {
    let out = wxkf(&["keygen"], None).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(out.ends_with('\n'));
    let token = lines[0].strip_prefix("WXKF_TOKEN=").expect("first line is the Token");
    let key = lines[1].strip_prefix("WXKF_ENCODING_AES_KEY=").expect("second line is the key");
    assert_eq!(token.len(), 32);
    assert_eq!(key.len(), 43);
    assert!(token.bytes().chain(key.bytes()).all(|b| b.is_ascii_alphanumeric()), "{out}");
    assert_ne!(wxkf(&["keygen"], None).ok(), out, "each run generates new values");
}

#[test]
fn wrong_signature_fails_with_the_code_and_a_hint() {
    let mut q = query(v1());
    q[1] = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4";
    let err =
        wxkf(&args(&[&["verify-url"], &creds(), &q, &["--echostr", field(v1(), "echostr")]]), None).fails(1);
    assert!(err.starts_with("error: msg_signature does not match (code -40001)\nhint: "), "{err}");
    assert!(err.contains("note: the ciphertext does decrypt"), "the key is diagnosed as right: {err}");

    // a wrong Token: same error, and the wrong Token is not shown either
    let creds = ["--token", WRONG_TOKEN, "--aes-key", key(), "--receive-id", receive_id()];
    let err = wxkf(
        &args(&[&["decrypt"], &creds, &query(v2()), &["--body", "-"]]),
        Some(field(v2(), "body").as_bytes()),
    )
    .fails(1);
    assert!(err.contains("msg_signature does not match") && err.contains("hint:"), "{err}");
}

#[test]
fn wrong_receive_id_shows_expected_and_found() {
    let creds = ["--token", token(), "--aes-key", key(), "--receive-id", "ww0123456789abcdef"];
    let err =
        wxkf(&args(&[&["decrypt"], &creds, &query(v2()), &["--encrypt", field(v2(), "encrypt")]]), None)
            .fails(1);
    assert!(
        err.starts_with(
            "error: receive id mismatch: expected \"ww0123456789abcdef\", the message carries \"wx5823bf96d3bd56c7\" (code -40005)\nhint: "
        ),
        "{err}"
    );
}

#[test]
fn bad_credentials_and_bodies_are_runtime_failures() {
    let short_key = ["--token", token(), "--aes-key", "tooshort", "--receive-id", receive_id()];
    let err = wxkf(&args(&[&["verify-url"], &short_key, &query(v1()), &["--echostr", "x"]]), None).fails(1);
    assert!(err.contains("invalid EncodingAESKey") && err.contains("(code -40004)\nhint: "), "{err}");

    let err = wxkf(&args(&[&["decrypt"], &creds(), &query(v2()), &["--body", "-"]]), Some(b"hello")).fails(1);
    assert!(
        err.starts_with("error: cannot read the callback envelope") && err.contains("(code -40002)"),
        "{err}"
    );

    let err = wxkf(&args(&[&["encrypt"], &creds()]), Some(b"\xff\xfe")).fails(1);
    assert!(err.contains("not valid UTF-8") && err.contains("hint:"), "{err}");
}

#[test]
fn usage_errors_exit_with_2() {
    let encrypt = ["--encrypt", field(v2(), "encrypt")];
    // --nonce missing
    let q = &query(v2())[..4];
    let err = wxkf(&args(&[&["decrypt"], &creds(), q, &encrypt]), None).fails(2);
    assert!(err.contains("--nonce"), "{err}");
    // both inputs
    let err =
        wxkf(&args(&[&["decrypt"], &creds(), &query(v2()), &encrypt, &["--body", "-"]]), Some(b"")).fails(2);
    assert!(err.contains("cannot be used with"), "{err}");
    // neither input
    let err = wxkf(&args(&[&["decrypt"], &creds(), &query(v2())]), None).fails(2);
    assert!(err.contains("--encrypt") && err.contains("--body"), "{err}");
    // an unreadable body file
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-body.xml");
    let err =
        wxkf(&args(&[&["decrypt"], &creds(), &query(v2()), &["--body", missing.to_str().unwrap()]]), None)
            .fails(2);
    assert!(err.contains("cannot read --body") && err.contains("no-such-body.xml"), "{err}");
    // no credentials at all
    let err = wxkf(&args(&[&["verify-url"], &query(v1()), &["--echostr", "x"]]), None).fails(2);
    assert!(err.contains("--token"), "{err}");
    // no subcommand
    wxkf(&[], None).fails(2);
}
