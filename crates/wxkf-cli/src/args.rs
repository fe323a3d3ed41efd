//! The command line, declared with clap's derive API. The doc comments are the `--help` texts.

use clap::{ArgGroup, Args, Parser, Subcommand};
use std::fmt;
use std::path::PathBuf;

/// A secret given as a flag (app secret, callback Token, EncodingAESKey): `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct SecretArg(pub(crate) String);

impl std::str::FromStr for SecretArg {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretArg(s.to_owned()))
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg(<redacted>)")
    }
}

const AFTER_HELP: &str = "\
Exit status: 0 on success; 1 when the callback fails to verify or decrypt (stderr then says which \
step failed, the official library's error code and what to check); 2 for usage errors, including \
an input file or stdin that cannot be read.

The Token and EncodingAESKey are never printed, not even in error messages.";

/// The WeChat Customer Service (微信客服, WeCom Kf) command for operators: find what is wrong with a
/// setup (doctor, check-callback), call the Kf API from the shell, and verify, decrypt and encrypt
/// callbacks (the WXBizMsgCrypt scheme).
///
/// Values come from the environment the bots read (WXKF_CORP_ID, WXKF_APP_SECRET, WXKF_TOKEN,
/// WXKF_ENCODING_AES_KEY, WXKF_BASE_URL) or from --*-file, which keeps secrets out of the process
/// list and the shell history.
#[derive(Debug, Parser)]
#[command(name = "wxkf", version, after_help = TOP_HELP, propagate_version = true)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

const TOP_HELP: &str = "\
Start with `wxkf doctor` (add --callback-url URL to test the callback route too). Exit status: 0 on \
success; 1 when a check, WeCom or the callback crypto fails (stderr or the report says what to do); \
2 for usage errors.

Secrets are never printed; `wxkf token --show` is the one command that prints the access token.";

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
    /// Check a setup end to end: value shapes, gettoken, kf/account/list and (with --callback-url)
    /// the callback route; one line per check, with what to do on each failure.
    #[command(after_help = DOCTOR_HELP)]
    Doctor(DoctorArgs),
    /// Call a deployed callback route exactly as WeCom does (signed GET with echostr, signed POST of
    /// a kf_msg_or_event); needs only the Token, EncodingAESKey and CorpID. For deployment pipelines.
    #[command(after_help = DOCTOR_HELP)]
    CheckCallback(CheckCallbackArgs),
    /// Print how long the access token is valid (the token itself only with --show).
    #[command(after_help = API_HELP)]
    Token(TokenArgs),
    /// List, add or delete Kf accounts, or get an account's contact link.
    #[command(after_help = API_HELP)]
    Accounts(AccountsArgs),
    /// List the servicers (接待人员) of a Kf account.
    #[command(after_help = API_HELP)]
    Servicers(ServicersArgs),
    /// Send a text or an image to a customer.
    #[command(after_help = API_HELP)]
    Send(SendArgs),
    /// Print the messages and events of a Kf account (sync_msg), one line or JSON object each.
    #[command(after_help = SYNC_HELP)]
    Sync(SyncArgs),
    /// Show a customer's session state, or move it with --trans.
    #[command(after_help = API_HELP)]
    State(StateArgs),
    /// Explain a WeCom errcode: its meaning in Chinese and English and what to do.
    Errcode(ErrcodeArgs),
    /// List, replay or discard the dead letters a running wxkf-gateway keeps.
    #[command(after_help = GATEWAY_HELP)]
    DeadLetters(DeadLettersArgs),
}

const GATEWAY_HELP: &str = "\
The gateway's API token comes from WXKF_GATEWAY_API_TOKEN (or --token). Exit status: 0 done, \
1 the gateway refused or failed (a wrong token, an unknown id, a replay that failed again), \
2 a usage error.";

/// `wxkf dead-letters`.
#[derive(Debug, Args)]
pub(crate) struct DeadLettersArgs {
    /// The gateway's base URL, e.g. http://127.0.0.1:9899
    #[arg(long, value_name = "URL", global = true, env = "WXKF_GATEWAY_URL")]
    pub(crate) gateway: Option<String>,
    /// The gateway's API token (server.api_token)
    #[arg(long, value_name = "TOKEN", global = true, env = "WXKF_GATEWAY_API_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub(crate) action: DeadLetterAction,
}

/// `wxkf dead-letters list|replay|discard`.
#[derive(Debug, Subcommand)]
pub(crate) enum DeadLetterAction {
    /// List the kept dead letters, oldest first.
    List {
        /// Print the gateway's JSON array as it is
        #[arg(long)]
        json: bool,
    },
    /// Hand a dead letter to the bot again; it is removed once answered.
    Replay {
        /// The dead letter's id (dl_…)
        id: String,
    },
    /// Remove a dead letter without answering it.
    Discard {
        /// The dead letter's id (dl_…)
        id: String,
    },
}

const API_HELP: &str = "\
Credentials: WXKF_CORP_ID (or --corp-id) and the Kf app's secret from WXKF_APP_SECRET or \
--secret-file FILE (--secret works too, but puts the secret in the process list: a warning says so). \
WXKF_BASE_URL (or --base-url) points at a proxy or the simulator.

Exit status: 0 on success; 1 when WeCom answers an error (stderr shows errcode, meaning and what to \
do) or it cannot be reached; 2 for usage errors, including a secret file that cannot be read.";

const SYNC_HELP: &str = "\
Without --follow, pulls until has_more is 0 and exits. With --follow, pulls again every --interval \
seconds (default 30: pulls without a callback token are rate-limited by WeCom, kf-api.md §5.1) and \
stops cleanly on Ctrl-C. The last cursor is printed to stderr (\"cursor: …\") so a later run can \
continue with --cursor.

Credentials: WXKF_CORP_ID (or --corp-id) and WXKF_APP_SECRET or --secret-file FILE; WXKF_BASE_URL \
(or --base-url) points at a proxy or the simulator.

Exit status: 0 on success (also when stopped by Ctrl-C or --max-rounds); 1 when WeCom answers an \
error; 2 for usage errors.";

const DOCTOR_HELP: &str = "\
Values come from the environment the bots use (WXKF_CORP_ID, WXKF_APP_SECRET, WXKF_TOKEN, \
WXKF_ENCODING_AES_KEY, WXKF_BASE_URL); flags and --*-file override it. Secrets given as flags are \
visible in the process list: a warning says so.

Exit status: 0 when every check passes; 1 when one fails (✗, with what to do); 2 for usage errors.";

/// Where the Kf API commands find the app: corp id, secret and base URL. Global, so that
/// `wxkf accounts list --json` and `wxkf accounts --json list` both work.
#[derive(Debug, Args)]
pub(crate) struct ApiOpts {
    /// Your CorpID (ww…)
    #[arg(long = "corp-id", env = "WXKF_CORP_ID", value_name = "ID", global = true)]
    pub(crate) corp_id: Option<String>,
    /// The app secret as a flag (visible in the process list: prefer WXKF_APP_SECRET or --secret-file)
    #[arg(long, value_name = "SECRET", conflicts_with = "secret_file", global = true)]
    pub(crate) secret: Option<SecretArg>,
    /// File holding the app secret (one line); default: the WXKF_APP_SECRET environment variable
    #[arg(long = "secret-file", value_name = "FILE", global = true)]
    pub(crate) secret_file: Option<PathBuf>,
    /// The API's base URL, e.g. a proxy or the simulator
    #[arg(long = "base-url", env = "WXKF_BASE_URL", value_name = "URL", global = true,
          default_value = wxkf_client::DEFAULT_BASE_URL)]
    pub(crate) base_url: String,
    /// Print JSON (one object, or one object per line for lists and sync) instead of text
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// `wxkf token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// Corp id, secret, base URL, output format.
    #[command(flatten)]
    pub(crate) api: ApiOpts,
    /// Also print the access token itself (it grants the app's API access until it expires)
    #[arg(long)]
    pub(crate) show: bool,
}

/// `wxkf accounts`.
#[derive(Debug, Args)]
pub(crate) struct AccountsArgs {
    /// Corp id, secret, base URL, output format.
    #[command(flatten)]
    pub(crate) api: ApiOpts,
    /// What to do with the accounts.
    #[command(subcommand)]
    pub(crate) action: AccountsAction,
}

/// `wxkf accounts …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AccountsAction {
    /// List every account the app may see (kf/account/list, all pages).
    List,
    /// Create an account (kf/account/add); prints its open_kfid.
    #[command(group(ArgGroup::new("avatar_source").required(true).args(["avatar", "media_id"])))]
    Add {
        /// The account's name (at most 16 characters)
        #[arg(long)]
        name: String,
        /// An image file for the avatar, uploaded first (media/upload, type image)
        #[arg(long, value_name = "FILE")]
        avatar: Option<PathBuf>,
        /// An image media id already uploaded (valid 3 days)
        #[arg(long = "media-id", value_name = "MEDIA_ID")]
        media_id: Option<String>,
    },
    /// Delete an account (kf/account/del).
    Del {
        /// The account's open_kfid
        #[arg(long = "kf", value_name = "OPEN_KFID")]
        kf: String,
    },
    /// Print the link that opens a chat with the account (kf/add_contact_way).
    Link {
        /// The account's open_kfid
        #[arg(long = "kf", value_name = "OPEN_KFID")]
        kf: String,
        /// A scene value (≤32 bytes of [0-9A-Za-z_-]) echoed in the enter_session event
        #[arg(long)]
        scene: Option<String>,
        /// A scene_param appended to the link (URL-encoded for you; needs --scene)
        #[arg(long = "scene-param", requires = "scene", value_name = "PARAM")]
        scene_param: Option<String>,
    },
}

/// `wxkf servicers`.
#[derive(Debug, Args)]
pub(crate) struct ServicersArgs {
    /// Corp id, secret, base URL, output format.
    #[command(flatten)]
    pub(crate) api: ApiOpts,
    /// The account's open_kfid
    #[arg(long = "kf", value_name = "OPEN_KFID")]
    pub(crate) kf: String,
}

/// `wxkf send`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("content").required(true).args(["text", "image"])))]
pub(crate) struct SendArgs {
    /// Corp id, secret, base URL, output format.
    #[command(flatten)]
    pub(crate) api: ApiOpts,
    /// The sending account's open_kfid
    #[arg(long = "kf", value_name = "OPEN_KFID")]
    pub(crate) kf: String,
    /// The customer's external_userid
    #[arg(long = "to", value_name = "EXTERNAL_USERID")]
    pub(crate) to: String,
    /// Send this text (at most 2048 bytes)
    #[arg(long)]
    pub(crate) text: Option<String>,
    /// Send this image file (uploaded first with media/upload)
    #[arg(long, value_name = "FILE")]
    pub(crate) image: Option<PathBuf>,
}

/// `wxkf sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// Corp id, secret, base URL, output format.
    #[command(flatten)]
    pub(crate) api: ApiOpts,
    /// The account's open_kfid
    #[arg(long = "kf", value_name = "OPEN_KFID")]
    pub(crate) kf: String,
    /// Start after this cursor (a previous next_cursor); default: the oldest message of the last 3 days
    #[arg(long, value_name = "CURSOR")]
    pub(crate) cursor: Option<String>,
    /// Keep pulling every --interval seconds until Ctrl-C
    #[arg(long)]
    pub(crate) follow: bool,
    /// Seconds between pulls with --follow (at least 1); doubled after a frequency limit (45009)
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) interval: u64,
    /// With --follow: stop after this many rounds of pulling (each round pulls until has_more is 0)
    #[arg(long = "max-rounds", value_name = "N", requires = "follow")]
    pub(crate) max_rounds: Option<u64>,
}

/// `wxkf state`.
#[derive(Debug, Args)]
pub(crate) struct StateArgs {
    /// Corp id, secret, base URL, output format.
    #[command(flatten)]
    pub(crate) api: ApiOpts,
    /// The account's open_kfid
    #[arg(long = "kf", value_name = "OPEN_KFID")]
    pub(crate) kf: String,
    /// The customer's external_userid
    #[arg(long = "to", value_name = "EXTERNAL_USERID")]
    pub(crate) to: String,
    /// Move the session to this state: 1 bot, 2 waiting pool, 3 a servicer (with --servicer), 4 ended
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=4))]
    pub(crate) trans: Option<u32>,
    /// The servicer's userid for --trans 3
    #[arg(long, value_name = "USERID", requires = "trans")]
    pub(crate) servicer: Option<String>,
}

/// `wxkf errcode`.
#[derive(Debug, Args)]
pub(crate) struct ErrcodeArgs {
    /// The errcode, e.g. 95018 or -1
    #[arg(allow_negative_numbers = true, value_name = "CODE")]
    pub(crate) code: i64,
    /// Print JSON instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// The callback values for the doctor and the callback check: each from a flag, a file or the
/// environment (read in `secrets.rs`, so a secret given as a flag can be warned about).
#[derive(Debug, Args)]
pub(crate) struct CallbackOpts {
    /// The callback Token as a flag (visible in the process list: prefer WXKF_TOKEN or --token-file)
    #[arg(long, value_name = "TOKEN", conflicts_with = "token_file")]
    pub(crate) token: Option<SecretArg>,
    /// File holding the callback Token; default: WXKF_TOKEN
    #[arg(long = "token-file", value_name = "FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// The EncodingAESKey as a flag (visible in the process list: prefer WXKF_ENCODING_AES_KEY or --aes-key-file)
    #[arg(long = "aes-key", value_name = "KEY", conflicts_with = "aes_key_file")]
    pub(crate) aes_key: Option<SecretArg>,
    /// File holding the EncodingAESKey; default: WXKF_ENCODING_AES_KEY
    #[arg(long = "aes-key-file", value_name = "FILE")]
    pub(crate) aes_key_file: Option<PathBuf>,
    /// How long the URL verification GET may take, in milliseconds: WeCom documents 1 s (page 90930);
    /// 5000 is the general callback rule some read for it
    #[arg(long = "verify-within", value_name = "MS", default_value_t = 1000)]
    pub(crate) verify_within: u64,
    /// How long the kf_msg_or_event POST may take, in milliseconds (WeCom retries after 5 s)
    #[arg(long = "post-within", value_name = "MS", default_value_t = 5000)]
    pub(crate) post_within: u64,
    /// The OpenKfId put into the test kf_msg_or_event (a bot behind the route will try to pull it)
    #[arg(long = "open-kfid", value_name = "OPEN_KFID", default_value = "wkWXKFDOCTORCHECK")]
    pub(crate) open_kfid: String,
}

/// `wxkf doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Your CorpID; default: WXKF_CORP_ID
    #[arg(long = "corp-id", value_name = "ID")]
    pub(crate) corp_id: Option<String>,
    /// The Kf app secret as a flag (visible in the process list: prefer WXKF_APP_SECRET or --secret-file)
    #[arg(long, value_name = "SECRET", conflicts_with = "secret_file")]
    pub(crate) secret: Option<SecretArg>,
    /// File holding the app secret; default: WXKF_APP_SECRET
    #[arg(long = "secret-file", value_name = "FILE")]
    pub(crate) secret_file: Option<PathBuf>,
    /// The API's base URL; default: WXKF_BASE_URL, else WeCom's
    #[arg(long = "base-url", value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// Also call this callback URL as WeCom does
    #[arg(long = "callback-url", value_name = "URL")]
    pub(crate) callback_url: Option<String>,
    /// Token, key and callback timing.
    #[command(flatten)]
    pub(crate) callback: CallbackOpts,
    /// Print one JSON object per check instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// `wxkf check-callback`.
#[derive(Debug, Args)]
pub(crate) struct CheckCallbackArgs {
    /// The callback URL as configured in the admin console
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Your CorpID (the receive id of Kf callbacks); default: WXKF_CORP_ID
    #[arg(long = "corp-id", value_name = "ID")]
    pub(crate) corp_id: Option<String>,
    /// Token, key and callback timing.
    #[command(flatten)]
    pub(crate) callback: CallbackOpts,
    /// Print one JSON object per check instead of text
    #[arg(long)]
    pub(crate) json: bool,
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

    #[test]
    fn secrets_given_as_flags_are_not_in_debug() {
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "wxkf",
            "doctor",
            "--secret",
            "s3cret-value",
            "--token",
            "tok3n",
            "--aes-key",
            "k3y",
        ])
        .expect("parses");
        let debug = format!("{cli:?}");
        for secret in ["s3cret-value", "tok3n", "k3y"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("SecretArg(<redacted>)"), "{debug}");
    }
}
