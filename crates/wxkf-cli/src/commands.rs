//! What each subcommand does (failures are reported by `output`).

use crate::args::{Command, Credentials, DecryptArgs, EncryptArgs, Query, VerifyUrlArgs};
use crate::output::{Failure, print_line, usage};
use clap::error::ErrorKind;
use std::io::{self, Read};
use std::path::Path;
use wxkf_crypto::{CallbackCrypto, Envelope, Error};

/// Runs one subcommand.
pub(crate) fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Decrypt(args) => decrypt(args),
        Command::VerifyUrl(args) => verify_url(args),
        Command::Encrypt(args) => encrypt(args),
        Command::Keygen => keygen(),
        Command::Errcode(args) => crate::api::errcode(args),
        Command::Doctor(args) => block_on(crate::doctor::doctor(args)),
        Command::CheckCallback(args) => block_on(crate::doctor::check_callback(args)),
        Command::Token(args) => block_on(crate::api::token(args)),
        Command::Accounts(args) => block_on(crate::api::accounts(args)),
        Command::Servicers(args) => block_on(crate::api::servicers(args)),
        Command::Send(args) => block_on(crate::api::send(args)),
        Command::Sync(args) => block_on(crate::api::sync(args)),
        Command::State(args) => block_on(crate::api::state(args)),
        Command::DeadLetters(args) => block_on(crate::gateway::dead_letters(args)),
    }
}

/// Runs an async command on a one-thread runtime (the commands make one call at a time).
fn block_on(command: impl std::future::Future<Output = Result<(), Failure>>) -> Result<(), Failure> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Failure::Other {
            message: format!("cannot start the async runtime: {e}"),
            hint: "the system refused a thread or a timer; check ulimits",
        })?;
    runtime.block_on(command)
}

fn crypto(credentials: &Credentials) -> Result<CallbackCrypto, Error> {
    CallbackCrypto::new(&credentials.token, &credentials.aes_key, &credentials.receive_id)
}

fn decrypt(args: DecryptArgs) -> Result<(), Failure> {
    let crypto = crypto(&args.credentials)?;
    let plaintext = match (&args.encrypt, &args.body) {
        (Some(encrypt), _) => open(&crypto, &args.query, encrypt)?,
        (None, Some(path)) => {
            let body = read_input("decrypt", "--body", path)?;
            // parsed here rather than by decrypt_message so that a failure can be diagnosed
            let envelope = Envelope::parse(&body)?;
            open(&crypto, &args.query, &envelope.encrypt)?
        }
        // clap's required group makes this unreachable; answer like clap would anyway
        (None, None) => {
            return Err(usage(
                "decrypt",
                ErrorKind::MissingRequiredArgument,
                "one of --encrypt or --body is required",
            ));
        }
    };
    print_line(&plaintext)
}

fn verify_url(args: VerifyUrlArgs) -> Result<(), Failure> {
    let crypto = crypto(&args.credentials)?;
    // as copied from the URL it is still percent-encoded; percent_decode leaves text without '%' alone
    let echostr = wxkf_crypto::percent_decode(&args.echostr);
    let echo = open(&crypto, &args.query, &echostr)?;
    print_line(&echo)
}

/// Verifies the signature over `encrypt` and decrypts it to text (which is what `verify_url` does
/// for an echostr, and `decrypt_message` for an envelope's Encrypt value).
fn open(crypto: &CallbackCrypto, query: &Query, encrypt: &str) -> Result<String, Failure> {
    crypto.verify_url(&query.msg_signature, &query.timestamp, &query.nonce, encrypt).map_err(|error| {
        let note = matches!(error, Error::SignatureMismatch).then(|| diagnose_signature(crypto, encrypt));
        Failure::Crypto { error, note }
    })
}

/// When the signature does not match, decrypting anyway tells whether the key and receive id are
/// right, which narrows the mistake down to the Token or to the signed values.
fn diagnose_signature(crypto: &CallbackCrypto, encrypt: &str) -> String {
    match crypto.decrypt(encrypt) {
        Ok(_) => "the ciphertext does decrypt with this EncodingAESKey and receive id, so the key is right: \
                  the Token is wrong, or msg_signature/timestamp/nonce are not the ones sent with this \
                  ciphertext"
            .to_owned(),
        Err(Error::ReceiveIdMismatch { found, .. }) => format!(
            "the ciphertext does decrypt with this EncodingAESKey but was sent to receive id {found:?}: \
             the Token, key and receive id may belong to different callback URLs"
        ),
        Err(_) => "the ciphertext does not decrypt with this EncodingAESKey either: the Token and key \
                   probably belong to another callback URL, or the ciphertext was altered"
            .to_owned(),
    }
}

fn encrypt(args: EncryptArgs) -> Result<(), Failure> {
    let crypto = crypto(&args.credentials)?;
    let mut input = Vec::new();
    io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| usage("encrypt", ErrorKind::Io, format!("cannot read the plaintext from stdin: {e}")))?;
    let plaintext = String::from_utf8(input).map_err(|e| Failure::Other {
        message: format!(
            "the plaintext on stdin is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ),
        hint: "WeCom messages are UTF-8 text; convert the file first (e.g. with iconv)",
    })?;
    let reply = match (args.timestamp, args.nonce) {
        (None, None) => crypto.encrypt_reply_now(&plaintext)?,
        (timestamp, nonce) => {
            let timestamp = timestamp.unwrap_or_else(now);
            let nonce = match nonce {
                Some(nonce) => nonce,
                None => random_nonce()?,
            };
            crypto.encrypt_reply(&plaintext, &timestamp, &nonce)?
        }
    };
    print_line(&if args.json { reply.to_json() } else { reply.to_xml() })
}

fn keygen() -> Result<(), Failure> {
    let (token, key) = wxkf_crypto::generate_credentials()?;
    print_line(&format!(
        "WXKF_TOKEN={}\nWXKF_ENCODING_AES_KEY={}",
        token.expose_secret(),
        key.expose_secret()
    ))
}

/// The current unix time in seconds, as the official libraries write it.
fn now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

/// Ten random decimal digits, like the official libraries' nonces.
fn random_nonce() -> Result<String, Error> {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|_| Error::Random)?;
    // 256 % 10 = 6: the slight bias towards 0..=5 does not matter for a nonce
    Ok(bytes.iter().map(|b| char::from(b'0' + b % 10)).collect())
}

/// Reads a whole input file, or stdin for `-`.
fn read_input(subcommand: &str, flag: &str, path: &Path) -> Result<Vec<u8>, Failure> {
    let result = if path == Path::new("-") {
        let mut buf = Vec::new();
        io::stdin().read_to_end(&mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    };
    result.map_err(|e| {
        let source = if path == Path::new("-") { "stdin".to_owned() } else { format!("{path:?}") };
        usage(subcommand, ErrorKind::Io, format!("cannot read {flag} {source}: {e}"))
    })
}
