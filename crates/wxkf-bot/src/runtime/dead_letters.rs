//! Dead letters that last: kept in the [`DeadLetterStore`](crate::DeadLetterStore) when the
//! runtime gives up on a message or a turn. The operator's side of them
//! ([`Bot::dead_letters`](crate::Bot::dead_letters), [`Bot::replay`](crate::Bot::replay),
//! [`Bot::discard`](crate::Bot::discard)) is in `bot.rs`.

use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};
use wxkf_types::message::Message;

use crate::clock::now_secs;
use crate::dead_letter::DeadLetterRecord;
use crate::runtime::state::{Failure, Handling};
use crate::runtime::util::backoff;
use crate::store::dead_letter::DeadLetterStore;

/// Tries to keep a dead letter this many times before giving up (the hook still runs).
const KEEP_TRIES: u32 = 3;

/// Keeps the dead letter of `messages` (one, or a turn's) of `open_kfid`, before the caller
/// records their msgids as handled: a crash in between leaves the record kept and the messages
/// pulled again (their dedupe entry not written), never neither. A store that keeps failing
/// is logged and counted (`wxkf_dead_letter_store_errors_total`); the hook still runs.
pub(crate) async fn keep(inner: &Arc<Handling>, open_kfid: &str, messages: &[&Message], failure: &Failure) {
    let record = DeadLetterRecord::new(
        open_kfid,
        messages,
        failure.reason_name,
        failure.attempts,
        crate::error::chain(failure.error.as_ref()).to_string(),
        now_secs(),
    );
    let mut tries = 0;
    loop {
        tries += 1;
        match inner.dead_letters.keep(&record, inner.config.dead_letter_retention).await {
            Ok(()) => break,
            Err(e) if tries < KEEP_TRIES => {
                warn!(open_kfid, dead_letter = %record.id, error = %crate::error::chain(&e), "could not keep the dead letter; retrying");
                tokio::time::sleep(backoff(Duration::from_millis(100), tries, Duration::from_secs(2))).await;
            }
            Err(e) => {
                error!(open_kfid, dead_letter = %record.id, error = %crate::error::chain(&e), "could not keep the dead letter: only the hook sees it");
                crate::telemetry::dead_letter_store_error(open_kfid);
                return;
            }
        }
    }
    info!(open_kfid, dead_letter = %record.id, reason = record.reason, attempts = record.attempts, "dead letter kept");
    count(inner.dead_letters.as_ref(), open_kfid).await;
}

/// Sets the `wxkf_dead_letters` gauge of `open_kfid` from the store.
pub(crate) async fn count(store: &dyn DeadLetterStore, open_kfid: &str) {
    if let Ok(all) = store.list().await {
        crate::telemetry::dead_letters(open_kfid, all.iter().filter(|r| r.open_kfid == open_kfid).count());
    }
}
