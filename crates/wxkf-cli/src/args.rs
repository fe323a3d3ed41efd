//! The command line, declared with clap's derive API. The doc comments are the `--help` texts.

use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit status: 0 on success; 1 when the callback fails to verify or decrypt (stderr then says which \
step failed, the official library's error code and what to check); 2 for usage errors, including \
an input file or stdin that cannot be read.

The Token and EncodingAESKey are never printed, not even in error messages.";

/// Verify, decrypt and encrypt WeCom / WeChat Customer Service callbacks (the WXBizMsgCrypt
/// scheme), and generate callback credentials.
///
/// Token, EncodingAESKey and receive id may come from the environment (WXKF_TOKEN,
/// WXKF_ENCODING_AES_KEY, WXKF_CORP_ID) instead of flags, which keeps them out of the shell history.
#[derive(Debug, Parser)]
#[command(name = "wxkf", version, after_help = AFTER_HELP, propagate_version = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Verify and decrypt a callback POST (its body, or a bare Encrypt value); print the plaintext.
    #[command(after_help = AFTER_HELP)]
    Decrypt(DecryptArgs),
    /// Answer a URL verification GET: verify and decrypt echostr; print the echo to send back.
    #[command(after_help = AFTER_HELP)]
    VerifyUrl(VerifyUrlArgs),
    /// Encrypt a passive reply read from stdin; print the reply envelope (XML, or JSON with --json).
    #[command(after_help = AFTER_HELP)]
    Encrypt(EncryptArgs),
    /// Generate a random Token and EncodingAESKey to paste into the WeCom admin console.
    Keygen,
}

/// The three values configured for one callback URL in the WeCom admin console.
#[derive(Debug, Args)]
pub(crate) struct Credentials {
    /// Callback Token from the WeCom admin console (1-32 letters and digits)
    #[arg(long, env = "WXKF_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub(crate) token: String,
    /// Callback EncodingAESKey from the WeCom admin console (43 letters and digits)
    #[arg(long = "aes-key", env = "WXKF_ENCODING_AES_KEY", hide_env_values = true, value_name = "KEY")]
    pub(crate) aes_key: String,
    /// Receive id: your CorpID for Kf callbacks, else a suite id, an AppID, or "" (personal third-party apps)
    #[arg(long = "receive-id", env = "WXKF_CORP_ID", hide_env_values = true, value_name = "ID")]
    pub(crate) receive_id: String,
}

/// The signed values WeCom puts in the callback URL's query string.
#[derive(Debug, Args)]
pub(crate) struct Query {
    /// The msg_signature parameter from the callback URL's query (40 hexadecimal characters)
    #[arg(long = "msg-signature", value_name = "SIGNATURE")]
    pub(crate) msg_signature: String,
    /// The timestamp parameter from the callback URL's query, exactly as sent
    #[arg(long, value_name = "TIMESTAMP")]
    pub(crate) timestamp: String,
    /// The nonce parameter from the callback URL's query, exactly as sent
    #[arg(long, value_name = "NONCE")]
    pub(crate) nonce: String,
}

/// `wxkf decrypt`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["encrypt", "body"])))]
pub(crate) struct DecryptArgs {
    /// Token, key and receive id.
    #[command(flatten)]
    pub(crate) credentials: Credentials,
    /// The query's signature, timestamp and nonce.
    #[command(flatten)]
    pub(crate) query: Query,
    /// The Encrypt value (base64) from the POST body's envelope
    #[arg(long, value_name = "BASE64")]
    pub(crate) encrypt: Option<String>,
    /// File holding the raw POST body (XML or JSON envelope); "-" reads it from stdin
    #[arg(long, value_name = "FILE")]
    pub(crate) body: Option<PathBuf>,
}

/// `wxkf verify-url`.
#[derive(Debug, Args)]
pub(crate) struct VerifyUrlArgs {
    /// Token, key and receive id.
    #[command(flatten)]
    pub(crate) credentials: Credentials,
    /// The query's signature, timestamp and nonce.
    #[command(flatten)]
    pub(crate) query: Query,
    /// The echostr parameter from the URL's query, percent-encoded as copied from the URL or already decoded
    #[arg(long, value_name = "ECHOSTR")]
    pub(crate) echostr: String,
}

/// `wxkf encrypt`.
#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// Token, key and receive id.
    #[command(flatten)]
    pub(crate) credentials: Credentials,
    /// The reply's timestamp (default: now, in unix seconds); the callback's own may be reused
    #[arg(long, value_name = "TIMESTAMP")]
    pub(crate) timestamp: Option<String>,
    /// The reply's nonce (default: 10 random digits); the callback's own may be reused
    #[arg(long, value_name = "NONCE")]
    pub(crate) nonce: Option<String>,
    /// Print the JSON envelope instead of the XML one
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
