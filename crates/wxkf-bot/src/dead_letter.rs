//! [`DeadLetterRecord`]: a message (or a customer's turn) the runtime gave up on, as it is kept in
//! the [`DeadLetterStore`](crate::DeadLetterStore) for [`BotConfig::dead_letter_retention`](crate::BotConfig::dead_letter_retention)
//! so that an operator can list it ([`Bot::dead_letters`](crate::Bot::dead_letters)), hand it to
//! the handler again ([`Bot::replay`](crate::Bot::replay)) or drop it
//! ([`Bot::discard`](crate::Bot::discard)). A leaf: imports nothing of the crate but the error
//! types it names.

use sha2::{Digest, Sha256};
use wxkf_types::message::Message;

use crate::error::DeadLetterReason;

/// One kept dead letter: which messages, why the runtime gave up on them, and the raw JSON to
/// hand them to the handler again.
///
/// ```
/// use wxkf_bot::DeadLetterRecord;
/// // the id is stable: the same account and messages always give the same one
/// assert_eq!(
///     DeadLetterRecord::id_for("wk1", &["m1", "m2"]),
///     DeadLetterRecord::id_for("wk1", &["m1", "m2"]),
/// );
/// assert!(DeadLetterRecord::id_for("wk1", &["m1"]).starts_with("dl_"));
/// assert_eq!(DeadLetterRecord::id_for("wk1", &["m1"]).len(), 3 + 32);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct DeadLetterRecord {
    /// Stable id: "dl_" + the first 32 hex chars of SHA-256 over open_kfid and the msgids,
    /// joined by "\n" ([`id_for`](Self::id_for)).
    pub id: String,
    /// The Kf account.
    pub open_kfid: String,
    /// The customer; `None` for events without a customer.
    pub external_userid: Option<String>,
    /// The message (or the turn's messages), in order.
    pub msgids: Vec<String>,
    /// Why the runtime gave up: `permanent` (the error cannot succeed on retry), or after every
    /// retry failed: `timed_out` (the last attempt ran past the handler timeout), `panicked` (it
    /// panicked), `retries_exhausted` (it returned an error).
    pub reason: String,
    /// How many times the handler ran for it (replays included).
    pub attempts: u32,
    /// The last error with its whole source chain, on one line (no secrets: the client's
    /// errors never print tokens).
    pub error: String,
    /// Unix seconds when it was dead-lettered (the last time, after a failed replay).
    pub at: u64,
    /// The raw JSON of each message as `sync_msg` gave it (what a replay hands to the handler).
    pub messages: Vec<serde_json::Value>,
}

impl DeadLetterRecord {
    /// The id of the dead letter of `msgids` (in order) of `open_kfid`: "dl_" + the first 32
    /// hex chars of SHA-256 over `open_kfid` and the msgids, joined by "\n".
    pub fn id_for<S: AsRef<str>>(open_kfid: &str, msgids: &[S]) -> String {
        let mut h = Sha256::new();
        h.update(open_kfid.as_bytes());
        for m in msgids {
            h.update(b"\n");
            h.update(m.as_ref().as_bytes());
        }
        let hex = hex::encode(h.finalize());
        format!("dl_{}", &hex[..32])
    }

    /// A record of `messages` (one, or a turn's, in order) given up on at `at` (unix seconds).
    pub(crate) fn new(
        open_kfid: &str,
        messages: &[&Message],
        reason: &str,
        attempts: u32,
        error: String,
        at: u64,
    ) -> Self {
        let msgids: Vec<String> = messages.iter().map(|m| m.msgid.clone()).collect();
        let external_userid =
            messages.iter().find_map(|m| m.external_userid().filter(|u| !u.is_empty())).map(str::to_owned);
        DeadLetterRecord {
            id: Self::id_for(open_kfid, &msgids),
            open_kfid: open_kfid.to_owned(),
            external_userid,
            msgids,
            reason: reason.to_owned(),
            attempts,
            error,
            at,
            messages: messages.iter().map(|m| serde_json::to_value(m).unwrap_or_default()).collect(),
        }
    }

    /// The kept messages, parsed again (reading a `msg_list` item never fails: an item that does
    /// not fit its type becomes `MessageContent::Malformed`). `None` if a kept value is not a
    /// JSON object at all (a store edited by hand).
    pub(crate) fn parse_messages(&self) -> Option<Vec<Message>> {
        self.messages.iter().map(|v| serde_json::from_value(v.clone()).ok()).collect()
    }
}

/// The snake_case name of why a message was given up on, as [`DeadLetterRecord::reason`] holds
/// it: `permanent`, or, when every retry failed, `timed_out` / `panicked` after the last attempt
/// did so, else `retries_exhausted`.
pub(crate) fn reason_name(reason: DeadLetterReason, timed_out: bool, panicked: bool) -> &'static str {
    match reason {
        DeadLetterReason::Permanent => "permanent",
        _ if timed_out => "timed_out",
        _ if panicked => "panicked",
        _ => "retries_exhausted",
    }
}
