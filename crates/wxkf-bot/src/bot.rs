//! [`Bot`], the public face of the runtime: hands callbacks to the engine (`runtime/`), pulls on
//! demand or by polling, shuts down gracefully, and lets an operator list, replay and discard
//! dead letters. How the work is done lives in `runtime/`; how a bot is made in `builder.rs`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{info, warn};
use wxkf_client::Client;
use wxkf_types::callback::CallbackEvent;

use crate::clock::now_secs;
use crate::dead_letter::DeadLetterRecord;
use crate::error::BotError;
use crate::runtime::dead_letters::count;
use crate::runtime::state::{ActiveGuard, Dispatch, Inner};
use crate::runtime::util::nonce;
use crate::store::coordinate::PendingPull;

/// The bot runtime; cheap to clone (all clones share one runtime).
///
/// Each Kf account has one pull loop; each customer of an account has one lane, where that
/// customer's messages are handled one at a time, in order, while other customers' lanes run
/// at the same time (up to [`BotConfig::max_concurrent_handlers`](crate::BotConfig::max_concurrent_handlers)). docs/architecture.md
/// describes the guarantees.
#[derive(Clone)]
pub struct Bot {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Bot {
    /// Hands a decrypted callback to the runtime and returns at once (call it from the callback
    /// route; must run inside a Tokio runtime). A `kf_msg_or_event` starts or schedules a pull
    /// of its open_kfid; other events are [`Dispatch::Ignored`].
    pub fn dispatch(&self, event: &CallbackEvent) -> Dispatch {
        match event {
            CallbackEvent::KfMsgOrEvent { token, open_kfid: Some(open_kfid), create_time, .. }
                if !token.is_empty() && !open_kfid.is_empty() =>
            {
                self.wake(open_kfid, token, *create_time)
            }
            CallbackEvent::KfMsgOrEvent { .. } => {
                warn!("kf_msg_or_event without Token or OpenKfId: nothing to pull");
                Dispatch::Ignored
            }
            _ => Dispatch::Ignored,
        }
    }

    /// Schedules a pull of `open_kfid` with the callback's sync token; `create_time` is the
    /// callback's (unix seconds, 0 if unknown).
    pub fn wake(&self, open_kfid: &str, token: &str, create_time: u64) -> Dispatch {
        let Some(coordinator) = &self.inner.coordinator else {
            return self.inner.schedule(open_kfid, token, create_time);
        };
        if self.inner.closing.load(Ordering::SeqCst) {
            return Dispatch::ShuttingDown;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            warn!("Bot::dispatch called outside a Tokio runtime: the pull waits for the next callback");
            return Dispatch::Ignored;
        };
        self.inner.start_background();
        // recorded before this instance tries the lease, so that a holder that is pulling now sees
        // it when it looks again (docs/scaling.md)
        let pull = PendingPull::new(token, create_time, now_secs(), nonce());
        let coordinator = Arc::clone(coordinator);
        let guard = ActiveGuard::new(&self.inner);
        let open_kfid = open_kfid.to_owned();
        runtime.spawn(async move {
            let inner = Arc::clone(&guard.0);
            match coordinator.mark_pending(&open_kfid, &pull).await {
                Ok(()) => {
                    inner.schedule(&open_kfid, "", create_time);
                }
                Err(e) => {
                    warn!(open_kfid = %open_kfid, error = %crate::error::chain(&e), "could not record the callback in the coordinator; this instance pulls once the coordinator answers again");
                    // pull anyway, without a mark to wait for; the lease still keeps it to one
                    // instance at a time, and the pull is retried with backoff until it answers
                    inner.schedule_unmarked(&open_kfid, create_time);
                }
            }
            drop(guard);
        });
        Dispatch::Started
    }

    /// Like [`dispatch`](Self::dispatch), but returns only once the callback is recorded where
    /// every instance sees it (with a [`Coordinator`](crate::Coordinator): marked in the shared store). An error
    /// means it was not; call [`dispatch`](Self::dispatch) then, which makes this instance pull
    /// (retrying until the coordinator answers), as `wxkf-axum`'s `bot_router` does. Without a
    /// coordinator it is the same as `dispatch`.
    pub async fn dispatch_recorded(&self, event: &CallbackEvent) -> Result<Dispatch, BotError> {
        let Some(coordinator) = &self.inner.coordinator else { return Ok(self.dispatch(event)) };
        match event {
            CallbackEvent::KfMsgOrEvent { token, open_kfid: Some(open_kfid), create_time, .. }
                if !token.is_empty() && !open_kfid.is_empty() =>
            {
                if self.inner.closing.load(Ordering::SeqCst) {
                    return Ok(Dispatch::ShuttingDown);
                }
                self.inner.start_background();
                let pull = PendingPull::new(token.as_str(), *create_time, now_secs(), nonce());
                coordinator.mark_pending(open_kfid, &pull).await.map_err(BotError::Coordinator)?;
                Ok(self.inner.schedule(open_kfid, "", *create_time))
            }
            _ => Ok(self.dispatch(event)),
        }
    }

    /// Pulls `open_kfid` now, without a callback token (as the reconcile pull does). Tokenless
    /// pulls are rate-limited by WeCom (kf-api.md §5.1).
    pub fn pull_now(&self, open_kfid: &str) -> Dispatch {
        self.inner.schedule_unprompted(open_kfid)
    }

    /// Poll mode, for a bot with no public callback URL: pulls every account of `open_kfids`
    /// (or, if empty, every account `kf/account/list` returns, looked up again every 10 minutes)
    /// every `every`, without a callback token, until [`shutdown`](Self::shutdown). Each pull
    /// is a tokenless `sync_msg`, which WeCom rate-limits (kf-api.md §5.1; the simulator answers
    /// 45009 past its budget): keep `every` to seconds, not milliseconds. A pull that fails is
    /// retried with backoff ([`BotConfig::pull_retry_backoff`](crate::BotConfig::pull_retry_backoff)).
    ///
    /// ```no_run
    /// # async fn run(bot: wxkf_bot::Bot) {
    /// // in its own task; returns once the bot shuts down
    /// let poller = tokio::spawn({
    ///     let bot = bot.clone();
    ///     async move { bot.poll(&[], std::time::Duration::from_secs(5)).await }
    /// });
    /// // ... on exit:
    /// bot.shutdown().await;
    /// let _ = poller.await;
    /// # }
    /// ```
    pub async fn poll(&self, open_kfids: &[&str], every: Duration) {
        crate::runtime::schedule::poll(&self.inner, open_kfids, every.max(Duration::from_millis(100))).await;
    }

    /// The id under which this instance takes pull leases (unique per [`Bot`]).
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// Graceful shutdown: takes no new callbacks, stops pulling, and waits until every pulled
    /// message was handled (each handler is bounded by [`BotConfig::handler_timeout`](crate::BotConfig::handler_timeout) and its
    /// retries) and every account's cursor saved.
    pub async fn shutdown(&self) {
        {
            let _accounts = self.inner.accounts.lock().unwrap_or_else(|e| e.into_inner());
            self.inner.closing.store(true, Ordering::SeqCst);
        }
        self.inner.closed.send_replace(true);
        self.inner.wake_all();
        self.idle().await;
        info!("wxkf bot stopped");
    }

    /// Whether [`shutdown`](Self::shutdown) was called (callbacks are then refused).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// Waits until no pull loop runs and no pulled message waits or is being handled (tests and
    /// orderly restarts).
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The API client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

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
        let all = self.inner.handling.dead_letters.list().await.map_err(BotError::DeadLetters)?;
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
            .handling
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
        inner.handling.lanes.push_replay(&inner.handling, &record.open_kfid, messages, tx);
        let outcome = rx.await;
        drop(guard);
        match outcome {
            Ok(Ok(())) => {
                inner.handling.dead_letters.remove(id).await.map_err(BotError::DeadLetters)?;
                info!(open_kfid = %record.open_kfid, dead_letter = id, "dead letter replayed");
                count(inner.handling.dead_letters.as_ref(), &record.open_kfid).await;
                Ok(())
            }
            Ok(Err(failure)) => {
                record.attempts = record.attempts.saturating_add(failure.attempts);
                record.error = crate::error::chain(failure.error.as_ref()).to_string();
                failure.reason_name.clone_into(&mut record.reason);
                record.at = now_secs();
                inner
                    .handling
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
        let record = self.inner.handling.dead_letters.get(id).await.map_err(BotError::DeadLetters)?;
        let removed = self.inner.handling.dead_letters.remove(id).await.map_err(BotError::DeadLetters)?;
        if let Some(r) = record {
            info!(open_kfid = %r.open_kfid, dead_letter = id, "dead letter discarded");
            count(self.inner.handling.dead_letters.as_ref(), &r.open_kfid).await;
        }
        Ok(removed)
    }
}
