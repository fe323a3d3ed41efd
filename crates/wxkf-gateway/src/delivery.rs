//! Deliveries of the webhook protocol: their stable id, their signature, and the deliveries a
//! webhook answered with 202, waiting for `POST /v1/replies`.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::protocol::Answer;

/// The delivery id of a turn or event: derived from its kind, account and msgids only, so it is
/// the same on every retry of the delivery, also after a restart (the messages are pulled again
/// from the saved cursor with the same msgids).
pub fn delivery_id(kind: &str, open_kfid: &str, msgids: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(open_kfid.as_bytes());
    for m in msgids {
        h.update([0]);
        h.update(m.as_bytes());
    }
    let digest = hex::encode(h.finalize());
    format!("dlv_{}", &digest[..32])
}

/// `X-Wxkf-Signature`: `sha256=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    // HMAC takes a key of any length
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC accepts any key length")
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What `POST /v1/replies` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplyOutcome {
    /// 200 `{"sent": n, "cut": bool}`.
    Sent { sent: u32, cut: bool },
    /// 409: the session belongs to a servicer (or was ended).
    SessionLeftBot,
    /// 502: sending failed; the turn is retried (the delivery comes again).
    Failed(String),
}

/// A `POST /v1/replies` handed to the turn that waits for it.
#[derive(Debug)]
pub(crate) struct ReplyJob {
    pub(crate) answer: Answer,
    pub(crate) done: oneshot::Sender<ReplyOutcome>,
}

/// The deliveries waiting for their replies, by id (this instance's).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    map: Mutex<HashMap<String, mpsc::Sender<ReplyJob>>>,
}

/// Removes its delivery from [`Pending`] when dropped (the turn ended, whatever the way).
pub(crate) struct Registration<'a> {
    pending: &'a Pending,
    id: String,
    pub(crate) jobs: mpsc::Receiver<ReplyJob>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.pending.map.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

impl Pending {
    /// Registers `id` before its delivery is sent, so that a `/v1/replies` that comes right
    /// after the 202 finds it.
    pub(crate) fn register(&self, id: &str) -> Registration<'_> {
        let (tx, rx) = mpsc::channel(1);
        self.map.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_owned(), tx);
        Registration { pending: self, id: id.to_owned(), jobs: rx }
    }

    /// Hands `answer` to the turn waiting for `id`; `None` when no turn waits for it (404).
    pub(crate) async fn reply(&self, id: &str, answer: Answer) -> Option<ReplyOutcome> {
        let tx = self.map.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()?;
        let (done, outcome) = oneshot::channel();
        tx.send(ReplyJob { answer, done }).await.ok()?;
        outcome.await.ok()
    }

    /// How many deliveries wait.
    pub(crate) fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_depends_on_the_msgids_only() {
        let a = delivery_id("turn", "wk1", &["m1", "m2"]);
        assert_eq!(a, delivery_id("turn", "wk1", &["m1", "m2"]));
        assert_ne!(a, delivery_id("turn", "wk1", &["m1"]));
        assert_ne!(a, delivery_id("turn", "wk1", &["m1m2"]));
        assert_ne!(a, delivery_id("event", "wk1", &["m1", "m2"]));
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // computed with Python: hmac.new(b"s3cret", b'1700000000.{"id":"x"}', hashlib.sha256)
        assert_eq!(
            signature(b"s3cret", 1700000000, br#"{"id":"x"}"#),
            "sha256=2382c1d0968a5e57238c68de957f44d87e83d3049a5588ec251442ca372b8aec"
        );
    }
}
