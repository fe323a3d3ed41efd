//! Which account pulls when: one pull loop per open_kfid, started by a callback, a reconcile
//! tick, the start-up pull or poll mode, and restarted if it panics.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{Instrument, debug, error, warn};

use crate::runtime::state::{ActiveGuard, Dispatch, Inner, Wake};
use crate::runtime::util::nonce_u32;

impl Inner {
    /// Wakes `open_kfid`'s pull loop, starting it if it is not running.
    pub(crate) fn schedule(self: &Arc<Self>, open_kfid: &str, token: &str, create_time: u64) -> Dispatch {
        self.schedule_wake(open_kfid, token, create_time, false, true)
    }

    /// Wakes `open_kfid` for a pull that no callback asked for (start-up, reconcile, poll).
    pub(crate) fn schedule_unprompted(self: &Arc<Self>, open_kfid: &str) -> Dispatch {
        self.schedule_wake(open_kfid, "", 0, true, false)
    }

    /// Wakes `open_kfid` for a callback that could not be marked in the coordinator: pulls
    /// without waiting for a mark.
    pub(crate) fn schedule_unmarked(self: &Arc<Self>, open_kfid: &str, create_time: u64) -> Dispatch {
        self.schedule_wake(open_kfid, "", create_time, true, true)
    }

    fn schedule_wake(
        self: &Arc<Self>,
        open_kfid: &str,
        token: &str,
        create_time: u64,
        unprompted: bool,
        // a callback arrived now (also one the coordinator could not record); the start-up,
        // reconcile and poll pulls answer none
        called: bool,
    ) -> Dispatch {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if self.closing.load(Ordering::SeqCst) {
            return Dispatch::ShuttingDown;
        }
        let slot = accounts.entry(open_kfid.to_owned()).or_default();
        let create_time = match &slot.pending {
            Some(w) if w.create_time != 0 && (create_time == 0 || w.create_time < create_time) => {
                w.create_time
            }
            _ => create_time,
        };
        let token = match &slot.pending {
            // a tokenless wake does not drop a token that is still waiting to be used
            Some(w) if token.is_empty() => w.token.clone(),
            _ => token.to_owned(),
        };
        let unprompted = unprompted || slot.pending.as_ref().is_some_and(|w| w.unprompted);
        let called_now = if called { crate::clock::now_ms() } else { 0 };
        let called_at_ms =
            Wake::earliest_call(called_now, slot.pending.as_ref().map_or(0, |w| w.called_at_ms));
        slot.pending = Some(Wake { token, create_time, unprompted, called_at_ms });
        if slot.running {
            slot.notify.notify_one();
            return Dispatch::Coalesced;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            warn!("Bot::dispatch called outside a Tokio runtime: the pull waits for the next callback");
            return Dispatch::Ignored;
        };
        slot.running = true;
        let notify = Arc::clone(&slot.notify);
        drop(accounts);
        self.start_background();
        let guard = ActiveGuard::new(self);
        let open_kfid = open_kfid.to_owned();
        runtime.spawn(async move { supervise(guard, open_kfid, notify).await });
        Dispatch::Started
    }

    /// Takes what woke `open_kfid`, or, if nothing did, marks its loop as stopped (under the
    /// same lock as [`schedule`](Self::schedule), so no wake is lost between the two).
    pub(crate) fn take_wake(&self, open_kfid: &str, stop_if_none: bool) -> Option<Wake> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let slot = accounts.entry(open_kfid.to_owned()).or_default();
        let wake = slot.pending.take();
        if wake.is_none() && stop_if_none {
            slot.running = false;
        }
        wake
    }

    /// Wakes every running loop (shutdown).
    pub(crate) fn wake_all(&self) {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        for slot in accounts.values() {
            slot.notify.notify_one();
        }
    }

    /// Every account this runtime has seen.
    pub(crate) fn known_accounts(&self) -> Vec<String> {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.keys().cloned().collect()
    }

    /// Starts, once, the tasks that keep accounts from waiting for a callback: the start-up pull
    /// of every known account, the periodic reconcile pull and, with a coordinator, the sweep of
    /// marks whose instance died.
    pub(crate) fn start_background(self: &Arc<Self>) {
        if self.background.swap(true, Ordering::SeqCst) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.background.store(false, Ordering::SeqCst);
            return;
        };
        // weak, so a Bot dropped without shutdown does not live on in its tasks
        let weak = Arc::downgrade(self);
        let mut closed = self.closed.subscribe();
        let reconcile = self.config.reconcile_interval;
        runtime.spawn(async move {
            // start-up: every account with a cursor or in kf/account/list, pulled once
            if let Some(inner) = weak.upgrade() {
                for open_kfid in startup_accounts(&inner).await {
                    inner.schedule_unprompted(&open_kfid);
                }
            }
            let Some(every) = reconcile else { return };
            loop {
                let jitter = Duration::from_millis(u64::from(nonce_u32() % 1000));
                tokio::select! {
                    _ = tokio::time::sleep(every + jitter) => {}
                    _ = closed.wait_for(|c| *c) => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                if inner.closing.load(Ordering::SeqCst) {
                    return;
                }
                for open_kfid in inner.known_accounts() {
                    debug!(open_kfid = %open_kfid, "reconcile pull");
                    inner.schedule_unprompted(&open_kfid);
                }
            }
        });
        if let Some(coordinator) = self.coordinator.clone() {
            let weak = Arc::downgrade(self);
            let mut closed = self.closed.subscribe();
            // a third of the lease time: an instance that dies holding a lease has renewed it at
            // most a third ago, so a survivor's sweep finds the account before the lease runs out
            // and waits for exactly that moment to take over
            let period = self.config.lease_ttl / 3;
            let jitter_ms =
                u32::try_from((self.config.lease_ttl / 10).as_millis()).unwrap_or(u32::MAX).max(1);
            runtime.spawn(async move {
                let mut first = true;
                loop {
                    if !first {
                        let jitter = Duration::from_millis(u64::from(nonce_u32() % jitter_ms));
                        tokio::select! {
                            _ = tokio::time::sleep(period + jitter) => {}
                            _ = closed.wait_for(|c| *c) => return,
                        }
                    }
                    first = false;
                    let accounts = match coordinator.pending_accounts().await {
                        Ok(a) => a,
                        Err(e) => {
                            warn!(error = %crate::error::chain(&e), "could not list pending accounts in the coordinator");
                            continue;
                        }
                    };
                    let Some(inner) = weak.upgrade() else { return };
                    if inner.closing.load(Ordering::SeqCst) {
                        return;
                    }
                    for open_kfid in accounts {
                        inner.schedule(&open_kfid, "", 0);
                    }
                }
            });
        }
    }
}

/// The accounts to pull once at start: those with a saved cursor, and those `kf/account/list`
/// returns (either source may fail; the other still counts).
async fn startup_accounts(inner: &Arc<Inner>) -> Vec<String> {
    let mut out: HashSet<String> = HashSet::new();
    match inner.store.accounts().await {
        Ok(a) => out.extend(a),
        Err(e) => warn!(error = %crate::error::chain(&e), "could not list the accounts of the cursor store"),
    }
    match inner.client.account().list_all().await {
        Ok(list) => out.extend(list.into_iter().map(|a| a.open_kfid)),
        Err(e) => {
            debug!(error = %crate::error::chain(&e), "kf/account/list failed; start-up pulls only the accounts with a cursor")
        }
    }
    out.into_iter().collect()
}

/// Runs `open_kfid`'s pull loop; if it panics (a bug, or a store that panics), logs it and starts
/// it again after a pause, so one panic never leaves an account stalled.
async fn supervise(guard: ActiveGuard, open_kfid: String, notify: Arc<Notify>) {
    let inner = Arc::clone(&guard.0);
    let mut panics = 0u32;
    loop {
        let span = tracing::info_span!("wxkf.account", open_kfid = %open_kfid, instance = %inner.instance_id);
        let task = tokio::spawn(
            crate::runtime::pull::account_loop(Arc::clone(&inner), open_kfid.clone(), Arc::clone(&notify))
                .instrument(span),
        );
        match task.await {
            Ok(()) => break,
            Err(e) => {
                panics = panics.saturating_add(1);
                error!(open_kfid = %open_kfid, error = %e, "the account's pull loop panicked; restarting it");
                if inner.closing.load(Ordering::SeqCst) && !inner.handling.lanes.busy(&open_kfid) {
                    inner.take_wake(&open_kfid, true);
                    break;
                }
                let pause = crate::runtime::util::backoff(
                    inner.config.pull_retry_backoff,
                    panics,
                    inner.config.pull_retry_max,
                );
                tokio::time::sleep(pause).await;
            }
        }
    }
    drop(guard);
}

/// Poll mode: see [`Bot::poll`](crate::Bot::poll).
pub(crate) async fn poll(inner: &Arc<Inner>, open_kfids: &[&str], every: Duration) {
    let mut closed = inner.closed.subscribe();
    let mut listed: Vec<String> = Vec::new();
    let mut listed_at: Option<tokio::time::Instant> = None;
    loop {
        if inner.closing.load(Ordering::SeqCst) {
            return;
        }
        let accounts: Vec<String> = if open_kfids.is_empty() {
            if listed_at.is_none_or(|t| t.elapsed() > Duration::from_secs(600)) {
                match inner.client.account().list_all().await {
                    Ok(list) => {
                        listed = list.into_iter().map(|a| a.open_kfid).collect();
                        listed_at = Some(tokio::time::Instant::now());
                    }
                    Err(e) => {
                        warn!(error = %crate::error::chain(&e), "poll: kf/account/list failed; trying again next round")
                    }
                }
            }
            listed.clone()
        } else {
            open_kfids.iter().map(|s| (*s).to_owned()).collect()
        };
        for open_kfid in &accounts {
            inner.schedule_unprompted(open_kfid);
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = closed.wait_for(|c| *c) => return,
        }
    }
}
