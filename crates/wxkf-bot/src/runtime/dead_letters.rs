//! Dead letters that last: kept in the [`DeadLetterStore`](crate::DeadLetterStore) when the
//! runtime gives up on a message or a turn, and the operator's side of them:
//! [`Bot::dead_letters`], [`Bot::replay`] and [`Bot::discard`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{error, info, warn};
use wxkf_types::message::Message;

use crate::clock::now_secs;
use crate::dead_letter::DeadLetterRecord;
use crate::error::BotError;
use crate::runtime::Bot;
use crate::runtime::state::{ActiveGuard, Failure, Inner};
use crate::runtime::util::backoff;

/// Tries to keep a dead letter this many times before giving up (the hook still runs).
const KEEP_TRIES: u32 = 3;

/// Keeps the dead letter of `messages` (one, or a turn's) of `open_kfid`, before the caller
/// records their msgids as handled: a crash in between leaves the record kept and the messages
/// pulled again (their dedupe entry not written), never neither. A store that keeps failing
/// is logged and counted (`wxkf_dead_letter_store_errors_total`); the hook still runs.
pub(crate) async fn keep(inner: &Arc<Inner>, open_kfid: &str, messages: &[&Message], failure: &Failure) {
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
    count(inner, open_kfid).await;
}

/// Sets the `wxkf_dead_letters` gauge of `open_kfid` from the store.
async fn count(inner: &Inner, open_kfid: &str) {
    if let Ok(all) = inner.dead_letters.list().await {
        crate::telemetry::dead_letters(open_kfid, all.iter().filter(|r| r.open_kfid == open_kfid).count());
    }
}

impl Bot {
    /// Every kept dead letter, oldest first (expired ones are not listed): the messages (or
    /// turns) the runtime gave up on in the last
    /// [`BotConfig::dead_letter_retention`](crate::BotConfig::dead_letter_retention), on any
    /// instance sharing the store.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # struct Echo;
    /// # #[async_trait::async_trait]
    /// # impl wxkf_bot::Handler for Echo {
    /// #     async fn on_customer_message(&self, _: &wxkf_bot::ReplyContext, _: &wxkf_types::message::Message) -> Result<(), wxkf_bot::HandlerError> { Ok(()) }
    /// # }
    /// let client = wxkf_client::Client::builder("corp", "secret").build().unwrap();
    /// let bot = wxkf_bot::Bot::builder(client, Echo).memory_store().build().unwrap();
    /// assert!(bot.dead_letters().await.unwrap().is_empty());
    /// assert!(!bot.discard("dl_0123").await.unwrap());
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`BotError::DeadLetters`] if the store fails.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetterRecord>, BotError> {
        let all = self.inner.dead_letters.list().await.map_err(BotError::DeadLetters)?;
        let mut per_account: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for r in &all {
            *per_account.entry(r.open_kfid.as_str()).or_default() += 1;
        }
        for (kfid, n) in per_account {
            crate::telemetry::dead_letters(kfid, n);
        }
        Ok(all)
    }

    /// Hands the dead letter `id` to the handler again, once (no retries), in the lane of its
    /// customer behind what the lane holds, so it never runs beside that customer's other
    /// messages. A customer's messages go as they would now: a turn if turns are on (or it was a
    /// turn), [`Handler::on_handed_off_message`](crate::Handler::on_handed_off_message) while
    /// people have the session. Its replies get the msgids they got the first time (derived
    /// from the messages' msgids), so a reply that went out before the failure is not sent
    /// again (WeCom refuses the repeated msgid) and does not count against the budget twice.
    ///
    /// On success the dead letter is removed and `Ok(())` returned. On failure it stays, with
    /// one more attempt, the new error, reason and time (its retention counts again from then),
    /// and [`BotError::ReplayFailed`] is returned.
    ///
    /// # Errors
    /// [`BotError::DeadLetterNotFound`] for an unknown (or expired) id,
    /// [`BotError::DeadLetterUnreadable`] if its messages cannot be read,
    /// [`BotError::ReplayFailed`] when the handler fails again, [`BotError::DeadLetters`] if the
    /// store fails, [`BotError::ShuttingDown`] during shutdown.
    pub async fn replay(&self, id: &str) -> Result<(), BotError> {
        let inner = &self.inner;
        if inner.closing.load(Ordering::SeqCst) {
            return Err(BotError::ShuttingDown);
        }
        let guard = ActiveGuard::new(inner);
        let mut record = inner
            .dead_letters
            .get(id)
            .await
            .map_err(BotError::DeadLetters)?
            .ok_or_else(|| BotError::DeadLetterNotFound(id.to_owned()))?;
        let messages = match record.parse_messages() {
            Some(m) if !m.is_empty() => m,
            _ => return Err(BotError::DeadLetterUnreadable(id.to_owned())),
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        inner.lanes.push_replay(inner, &record.open_kfid, messages, tx);
        let outcome = rx.await;
        drop(guard);
        match outcome {
            Ok(Ok(())) => {
                inner.dead_letters.remove(id).await.map_err(BotError::DeadLetters)?;
                info!(open_kfid = %record.open_kfid, dead_letter = id, "dead letter replayed");
                count(inner, &record.open_kfid).await;
                Ok(())
            }
            Ok(Err(failure)) => {
                record.attempts = record.attempts.saturating_add(failure.attempts);
                record.error = crate::error::chain(failure.error.as_ref()).to_string();
                failure.reason_name.clone_into(&mut record.reason);
                record.at = now_secs();
                inner
                    .dead_letters
                    .keep(&record, inner.config.dead_letter_retention)
                    .await
                    .map_err(BotError::DeadLetters)?;
                warn!(open_kfid = %record.open_kfid, dead_letter = id, reason = record.reason, "the replayed dead letter failed again");
                Err(BotError::ReplayFailed(failure.error))
            }
            // the lane's task died before it answered (a panic in the runtime itself)
            Err(_) => Err(BotError::ReplayFailed("the lane stopped before the replay ran".into())),
        }
    }

    /// Removes the dead letter `id` without handling it: `Ok(true)` if it was kept, `Ok(false)`
    /// if not (already replayed, discarded or expired).
    ///
    /// # Errors
    /// [`BotError::DeadLetters`] if the store fails.
    pub async fn discard(&self, id: &str) -> Result<bool, BotError> {
        let record = self.inner.dead_letters.get(id).await.map_err(BotError::DeadLetters)?;
        let removed = self.inner.dead_letters.remove(id).await.map_err(BotError::DeadLetters)?;
        if let Some(r) = record {
            info!(open_kfid = %r.open_kfid, dead_letter = id, "dead letter discarded");
            count(&self.inner, &r.open_kfid).await;
        }
        Ok(removed)
    }
}
