//! One account's pull loop: pulls `sync_msg` pages while handlers run, hands each message to its
//! customer's lane, and saves the cursor only as far as every message before it is done (the
//! watermark, docs/architecture.md).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tracing::{debug, warn};
use wxkf_types::message::{Origin, SyncMsgRequest};

use crate::clock::{now_ms, now_secs};
use crate::error::BotError;
use crate::runtime::lease::HeldLease;
use crate::runtime::state::{Done, Inner, Wake};
use crate::runtime::util::{backoff, nonce_u32};
use crate::store::coordinate::{Coordinator, LeaseAttempt, PendingPull};

/// Pages pulled but not yet wholly done, oldest first. The cursor after a page may be saved once
/// that page and every page before it are done.
#[derive(Debug, Default)]
pub(crate) struct Watermark {
    // (page number, messages not done yet, cursor after the page, the oldest send_time of its
    // messages: what the cursor lag counts from)
    pages: VecDeque<(u64, usize, String, u64)>,
    next: u64,
    // the newest cursor that may be saved and has not been yet
    advanced: Option<String>,
}

impl Watermark {
    /// A new page; its messages are counted with [`add`](Self::add).
    pub(crate) fn page(&mut self, cursor_after: String) -> u64 {
        let n = self.next;
        self.next += 1;
        self.pages.push_back((n, 0, cursor_after, u64::MAX));
        n
    }

    /// One more message of page `n` to wait for, sent at `send_time` (unix seconds).
    pub(crate) fn add(&mut self, n: u64, send_time: u64) {
        if let Some(p) = self.find(n) {
            p.1 += 1;
            p.3 = p.3.min(send_time);
        }
    }

    /// How far the oldest message of the oldest page not wholly done is behind `now` (unix
    /// seconds); 0 when every pulled message is done.
    pub(crate) fn lag(&self, now: u64) -> u64 {
        self.pages.iter().find(|p| p.1 > 0).map_or(0, |p| now.saturating_sub(p.3))
    }

    /// One message of page `n` is done.
    pub(crate) fn done(&mut self, n: u64) {
        if let Some(p) = self.find(n) {
            p.1 = p.1.saturating_sub(1);
        }
        self.advance();
    }

    /// Pops the pages that are wholly done from the front.
    pub(crate) fn advance(&mut self) {
        while let Some((_, 0, _, _)) = self.pages.front() {
            if let Some((_, _, cursor, _)) = self.pages.pop_front()
                && !cursor.is_empty()
            {
                self.advanced = Some(cursor);
            }
        }
    }

    /// The cursor to save, if it moved.
    pub(crate) fn take_advanced(&mut self) -> Option<String> {
        self.advanced.take()
    }

    /// Messages pulled and not done.
    pub(crate) fn in_flight(&self) -> usize {
        self.pages.iter().map(|p| p.1).sum()
    }

    /// Whether every pulled message is done.
    pub(crate) fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    fn find(&mut self, n: u64) -> Option<&mut (u64, usize, String, u64)> {
        let first = self.pages.front()?.0;
        let i = usize::try_from(n.checked_sub(first)?).ok()?;
        self.pages.get_mut(i)
    }
}

/// The state of one account's pull loop.
struct Account {
    inner: Arc<Inner>,
    open_kfid: String,
    // the cursor the next pull starts from (ahead of the saved one while handlers run); None
    // until loaded from the store
    cursor: Option<Option<String>>,
    // with no saved cursor at start, messages sent before this are history and skipped
    skip_before: u64,
    watermark: Watermark,
    done_tx: mpsc::UnboundedSender<u64>,
    lease: Option<HeldLease>,
    wake: Option<Wake>,
    want: bool,
    failures: u32,
    retry_at: Option<Instant>,
    in_flight_cap: bool,
    // the last pull stopped at the in-flight cap with pages left
    pages_left: bool,
    // with a coordinator: the newest mark pulled for, cleared only once every message pulled
    // for it is done, so that if this instance dies meanwhile the mark makes another take over
    pulled_mark: Option<PendingPull>,
}

/// Outcome of one coordinated round.
enum Round {
    /// Pulled; nothing more asked for now.
    Done,
    /// Pull again (a newer mark came in, or pages are left).
    Again,
    /// Another instance holds the lease: look again after this.
    Wait(Duration),
}

pub(crate) async fn account_loop(inner: Arc<Inner>, open_kfid: String, notify: Arc<Notify>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut a = Account {
        inner,
        open_kfid,
        cursor: None,
        skip_before: 0,
        watermark: Watermark::default(),
        done_tx,
        lease: None,
        wake: None,
        want: false,
        failures: 0,
        retry_at: None,
        in_flight_cap: false,
        pages_left: false,
        pulled_mark: None,
    };
    let mut closed = a.inner.closed.subscribe();
    let mark_poll = (a.inner.config.lease_ttl / 10).max(Duration::from_millis(100));
    loop {
        while let Ok(n) = done_rx.try_recv() {
            a.watermark.done(n);
        }
        a.save_watermark().await;
        a.report_backlog();
        let closing = a.inner.closing.load(Ordering::SeqCst);
        if let Some(w) = a.inner.take_wake(&a.open_kfid, false) {
            a.merge(w);
        }
        let now = Instant::now();
        let room = a.watermark.in_flight() < a.inner.config.max_in_flight_per_account;
        // while closing, the pull owed to a callback already accepted still runs (once)
        if a.want && room && a.retry_at.is_none_or(|t| t <= now) {
            a.retry_at = None;
            a.in_flight_cap = false;
            match a.round().await {
                Ok(Round::Done) => a.failures = 0,
                Ok(Round::Again) => {
                    a.failures = 0;
                    a.want = true;
                }
                Ok(Round::Wait(d)) => a.retry_at = Some(Instant::now() + d),
                Err(BotError::LeaseLost) => {
                    warn!(open_kfid = %a.open_kfid, "pull lease lost: another instance pulls this account now");
                    a.want = false;
                }
                Err(e) if closing => {
                    warn!(open_kfid = %a.open_kfid, error = %crate::error::chain(&e), "sync_msg pull failed while shutting down; the next start pulls it");
                    a.want = false;
                }
                Err(e) => {
                    a.failures = a.failures.saturating_add(1);
                    let c = &a.inner.config;
                    let mut delay = backoff(c.pull_retry_backoff, a.failures, c.pull_retry_max);
                    if e.errcode() == Some(45009) {
                        // frequency limit: the next tokenless pull would meet it again at once
                        delay = delay.max(Duration::from_secs(10)).min(c.pull_retry_max);
                    }
                    warn!(open_kfid = %a.open_kfid, failures = a.failures, retry_in = ?delay, error = %crate::error::chain(&e), "sync_msg pull failed; retrying with backoff");
                    a.retry_at = Some(Instant::now() + delay);
                }
            }
            continue;
        }
        if closing && a.retry_at.is_some() {
            // no waiting for a retry or another instance's lease while shutting down
            a.retry_at = None;
            a.want = false;
        }
        if !a.want && a.retry_at.is_none() && a.watermark.is_empty() {
            if let Some(mark) = a.pulled_mark.take()
                && a.lease.as_ref().is_some_and(HeldLease::is_held)
                && !a.clear_mark(&mark).await
                && !closing
            {
                // a newer mark came in meanwhile
                a.want = true;
                continue;
            }
            if let Some(lease) = a.lease.take() {
                lease.release().await;
                // released before looking: a mark made while we held the lease is ours to pull
                if !closing && a.mark_waiting().await {
                    a.want = true;
                    continue;
                }
            }
            if closing {
                a.inner.take_wake(&a.open_kfid, true);
                a.report_backlog();
                return;
            }
            if a.inner.take_wake(&a.open_kfid, true).is_none() {
                a.report_backlog();
                return;
            }
            a.want = true;
            continue;
        }
        let poll_marks = a.lease.is_some() && a.inner.coordinator.is_some();
        let retry_at = a.retry_at;
        tokio::select! {
            Some(n) = done_rx.recv() => a.watermark.done(n),
            _ = notify.notified() => {}
            _ = sleep_until(retry_at), if retry_at.is_some() => {}
            _ = tokio::time::sleep(mark_poll), if poll_marks => {
                if a.mark_waiting().await {
                    a.want = true;
                }
            }
            _ = closed.changed(), if !closing => {}
            // the lag grows while a message waits, also when nothing else happens
            _ = tokio::time::sleep(BACKLOG_REPORT), if !a.watermark.is_empty() => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// How often the cursor lag is reported while messages wait and nothing else happens.
const BACKLOG_REPORT: Duration = Duration::from_secs(5);

impl Account {
    /// Sets the account's in-flight and cursor-lag gauges.
    fn report_backlog(&self) {
        crate::telemetry::backlog(
            &self.open_kfid,
            self.watermark.in_flight(),
            self.watermark.lag(now_secs()),
        );
    }

    fn merge(&mut self, w: Wake) {
        self.want = true;
        match &mut self.wake {
            Some(cur) => {
                cur.called_at_ms = Wake::earliest_call(cur.called_at_ms, w.called_at_ms);
                if !w.token.is_empty() {
                    cur.token = w.token;
                }
                if w.create_time != 0 && (cur.create_time == 0 || w.create_time < cur.create_time) {
                    cur.create_time = w.create_time;
                }
                cur.unprompted |= w.unprompted;
            }
            None => self.wake = Some(w),
        }
    }

    /// Clears `mark` if it is still the account's; whether it was (an error counts as not).
    async fn clear_mark(&self, mark: &PendingPull) -> bool {
        let Some(c) = &self.inner.coordinator else { return true };
        match c.clear_pending(&self.open_kfid, mark).await {
            Ok(cleared) => cleared,
            Err(e) => {
                warn!(open_kfid = %self.open_kfid, error = %crate::error::chain(&e), "could not clear the account's mark");
                false
            }
        }
    }

    /// Whether the coordinator has a mark for this account that was not pulled for yet.
    async fn mark_waiting(&self) -> bool {
        let Some(c) = &self.inner.coordinator else { return false };
        match c.pending(&self.open_kfid).await {
            Ok(m) => m.is_some_and(|m| self.pulled_mark.as_ref().is_none_or(|p| p.nonce != m.nonce)),
            Err(e) => {
                warn!(open_kfid = %self.open_kfid, error = %crate::error::chain(&e), "could not read the account's mark");
                false
            }
        }
    }

    /// Saves the watermark cursor if it moved (and, with a coordinator, only while the lease is
    /// held: otherwise the instance that took the account owns the cursor).
    async fn save_watermark(&mut self) {
        let Some(cursor) = self.watermark.take_advanced() else { return };
        if self.inner.coordinator.is_some() && !self.lease.as_ref().is_some_and(HeldLease::is_held) {
            return;
        }
        if let Err(e) = self.inner.store.save(&self.open_kfid, &cursor).await {
            // kept: the next advance saves a newer one; a crash before that re-pulls (dedupe hides it)
            warn!(open_kfid = %self.open_kfid, error = %crate::error::chain(&e), "could not save the cursor");
            self.watermark.advanced.get_or_insert(cursor);
        }
    }

    /// One pull for what woke the account.
    async fn round(&mut self) -> Result<Round, BotError> {
        let wake = self.wake.take().unwrap_or_else(Wake::none);
        self.want = false;
        let Some(coordinator) = self.inner.coordinator.clone() else {
            let token = Some(wake.token.as_str()).filter(|t| !t.is_empty()).map(str::to_owned);
            let outcome = self.pull(token, wake.create_time, wake.called_at_ms).await;
            if outcome.is_err() {
                // keep what woke us for the retry (the token may still be good)
                self.wake.get_or_insert(wake);
                self.want = true;
            }
            return outcome.map(|()| if self.in_flight_cap { Round::Again } else { Round::Done });
        };
        let outcome = self.coordinated(&coordinator, &wake).await;
        match &outcome {
            Err(_) | Ok(Round::Wait(_)) => {
                // what woke us still stands for the next try
                self.wake.get_or_insert(wake);
                self.want = true;
            }
            Ok(_) => {}
        }
        outcome
    }

    /// Under the account's lease: pulls for the current mark and clears exactly that mark.
    async fn coordinated(
        &mut self,
        coordinator: &Arc<dyn Coordinator>,
        wake: &Wake,
    ) -> Result<Round, BotError> {
        let mark: Option<PendingPull> =
            coordinator.pending(&self.open_kfid).await.map_err(BotError::Coordinator)?;
        let fresh =
            mark.as_ref().is_some_and(|m| self.pulled_mark.as_ref().is_none_or(|p| p.nonce != m.nonce));
        if !fresh && !wake.unprompted && !self.pages_left {
            // the mark this wake was for has been pulled (by us or another instance)
            return Ok(Round::Done);
        }
        let held = self.lease.as_ref().is_some_and(HeldLease::is_held);
        if !held {
            if let Some(stale) = self.lease.take() {
                stale.release().await;
            }
            let ttl = self.inner.config.lease_ttl;
            match coordinator
                .try_lease(&self.open_kfid, &self.inner.instance_id, ttl)
                .await
                .map_err(BotError::Coordinator)?
            {
                LeaseAttempt::Acquired => {
                    debug!(open_kfid = %self.open_kfid, "pull lease taken");
                    self.lease = Some(HeldLease::start(
                        Arc::clone(coordinator),
                        &self.open_kfid,
                        &self.inner.instance_id,
                        ttl,
                    ));
                }
                LeaseAttempt::Held { remaining } => {
                    if mark.is_none() {
                        // a reconcile pull while another instance works the account: its business
                        return Ok(Round::Done);
                    }
                    // the holder sees the mark when it looks again; if it died, its lease runs out
                    // and we take over. Looking every tenth of the lease time ends this wait soon
                    // after the holder cleared the mark.
                    debug!(open_kfid = %self.open_kfid, ?remaining, "another instance holds the pull lease");
                    let jitter = Duration::from_millis(20 + u64::from(nonce_u32() % 80));
                    self.want = true;
                    return Ok(Round::Wait(
                        (remaining + jitter).min((ttl / 10).max(Duration::from_millis(100))),
                    ));
                }
            }
        }
        let token = mark.as_ref().and_then(|m| m.usable_token(now_secs())).map(str::to_owned);
        let create_time = mark.as_ref().map_or(wake.create_time, |m| m.create_time);
        // a mark may stand for a callback that reached another instance first
        let called_at_ms = match &mark {
            Some(m) if wake.called_at_ms != 0 => wake.called_at_ms.min(m.marked_at.saturating_mul(1000)),
            _ => wake.called_at_ms,
        };
        self.pull(token, create_time, called_at_ms).await?;
        if !self.lease.as_ref().is_some_and(HeldLease::is_held) {
            return Err(BotError::LeaseLost);
        }
        if mark.is_some() {
            self.pulled_mark = mark;
        }
        if self.in_flight_cap {
            self.want = true;
            return Ok(Round::Again);
        }
        Ok(Round::Done)
    }

    /// Pulls pages from the pull cursor until `has_more` is false (or the account has as many
    /// messages in flight as allowed), handing each new message to its lane.
    async fn pull(
        &mut self,
        mut token: Option<String>,
        create_time: u64,
        called_at_ms: u64,
    ) -> Result<(), BotError> {
        let inner = Arc::clone(&self.inner);
        if self.cursor.is_none() {
            let saved = inner.store.load(&self.open_kfid).await.map_err(BotError::Store)?;
            self.skip_before = if saved.is_none() {
                let woke = if create_time == 0 { inner.started_at } else { create_time };
                inner.started_at.min(woke).saturating_sub(inner.config.history_grace.as_secs())
            } else {
                0
            };
            self.cursor = Some(saved);
        }
        let held = |a: &Self| inner.coordinator.is_none() || a.lease.as_ref().is_some_and(HeldLease::is_held);
        for _ in 0..inner.config.max_pages_per_pull {
            if self.watermark.in_flight() >= inner.config.max_in_flight_per_account {
                self.in_flight_cap = true;
                self.pages_left = true;
                return Ok(());
            }
            let cursor = self.cursor.clone().flatten();
            let request = |token: Option<&str>| {
                let mut req =
                    SyncMsgRequest::new(self.open_kfid.as_str()).with_limit(inner.config.page_limit);
                if let Some(t) = token.filter(|t| !t.is_empty()) {
                    req = req.with_token(t);
                }
                if let Some(c) = &cursor {
                    req = req.with_cursor(c.as_str());
                }
                req
            };
            // before the request: a message this pull finds was written after a pull that ended
            // at its cursor with nothing more, so replies completed before that pull was sent
            // reached WeCom before the message (the reply budget's since_ms)
            let sent_at = now_ms();
            let after_drain = {
                let drained = inner.drained.lock().unwrap_or_else(|e| e.into_inner());
                drained
                    .get(&self.open_kfid)
                    .filter(|(c, _)| c.as_str() == cursor.as_deref().unwrap_or_default())
                    .map(|&(_, at)| at)
            };
            let pull_started = std::time::Instant::now();
            let page = match inner.client.message().sync_msg(request(token.as_deref())).await {
                // 95007: the callback token is no longer accepted (over 10 minutes old, or a
                // clock far off); the pull works without it, only under a stricter rate limit
                Err(e) if token.is_some() && e.errcode() == Some(95007) => {
                    debug!(open_kfid = %self.open_kfid, "callback token refused; pulling without it");
                    token = None;
                    inner.client.message().sync_msg(request(None)).await
                }
                page => page,
            };
            crate::telemetry::pull_took(&self.open_kfid, pull_started.elapsed());
            let page = page?;
            debug!(open_kfid = %self.open_kfid, messages = page.msg_list.len(), has_more = page.has_more, "sync_msg page");
            if !held(self) {
                return Err(BotError::LeaseLost);
            }
            let ids: Vec<&str> = page.msg_list.iter().map(|m| m.msgid.as_str()).collect();
            let seen = inner.dedupe.seen(&self.open_kfid, &ids).await.map_err(BotError::Dedupe)?;
            // the session-state cache learns of hand-offs before the customer's lane gets there
            inner.sessions.observe_page(&self.open_kfid, &page.msg_list);
            // every customer message pulled renews that customer's five replies, before any
            // handler of the page runs: replies count from the customer's latest message
            let skew_ms = u64::try_from(inner.config.clock_skew.as_millis()).unwrap_or(u64::MAX);
            let pulled_ms = now_ms();
            let mut latest: HashMap<(&str, &str), (u64, u64)> = HashMap::new();
            for (msg, &seen) in page.msg_list.iter().zip(&seen) {
                let user = msg.external_userid().unwrap_or_default();
                if msg.origin == Origin::Customer && !user.is_empty() {
                    let kfid = msg.open_kfid().unwrap_or(&self.open_kfid);
                    // replies completed before since_ms reached WeCom before this message: it
                    // was sent (by WeCom's clock, which may run ahead by clock_skew) after then,
                    // and if new, after the pull that found nothing beyond this page's cursor
                    let by_clock = msg.send_time.saturating_mul(1000).saturating_sub(skew_ms);
                    let by_pull = if seen { 0 } else { after_drain.unwrap_or(0) };
                    // and, for a new message after such a pull, the arrival of the earliest
                    // callback since: WeCom sends it once the message is in, so only a reply
                    // completed while the callback was on its way is misplaced
                    let by_call = if seen || after_drain.is_none() { 0 } else { called_at_ms };
                    let since_ms = by_clock.max(by_pull).max(by_call).min(pulled_ms);
                    let t = latest.entry((kfid, user)).or_insert((0, 0));
                    *t = (t.0.max(msg.send_time), t.1.max(since_ms));
                }
            }
            // all at once, not one after another: a durable store commits concurrent writes
            // together, where a page of 1 000 customers awaited in turn cost 1 000 commits
            let mut opening = tokio::task::JoinSet::new();
            for ((kfid, user), (send_time, since_ms)) in latest {
                let (budgets, kfid, user) = (Arc::clone(&inner.budgets), kfid.to_owned(), user.to_owned());
                opening.spawn(async move { budgets.customer_spoke(&kfid, &user, send_time, since_ms).await });
            }
            while let Some(opened) = opening.join_next().await {
                let error = match opened {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => crate::error::chain(&e).to_string(),
                    Err(e) => e.to_string(),
                };
                // the handler's replies will likely fail on the same store and be retried
                warn!(open_kfid = %self.open_kfid, error = %error, "could not open the reply budget");
            }
            let after = if page.next_cursor.is_empty() {
                cursor.clone().unwrap_or_default()
            } else {
                page.next_cursor.clone()
            };
            if !page.has_more {
                let mut drained = inner.drained.lock().unwrap_or_else(|e| e.into_inner());
                drained.insert(self.open_kfid.clone(), (after.clone(), sent_at));
            }
            let n = self.watermark.page(after);
            let mut pulled = 0u64;
            for (msg, seen) in page.msg_list.into_iter().zip(seen) {
                if seen {
                    debug!(msgid = %msg.msgid, "already handled");
                    continue;
                }
                self.watermark.add(n, msg.send_time);
                pulled += 1;
                let skip = msg.send_time < self.skip_before;
                inner.handling.lanes.push(
                    &inner.handling,
                    &self.open_kfid,
                    msg,
                    skip,
                    Done { tx: self.done_tx.clone(), page: n },
                );
            }
            crate::telemetry::pulled(&self.open_kfid, pulled);
            self.watermark.advance();
            if !page.next_cursor.is_empty() {
                self.cursor = Some(Some(page.next_cursor));
            }
            if !page.has_more {
                self.pages_left = false;
                return Ok(());
            }
        }
        warn!(open_kfid = %self.open_kfid, "stopped a pull after max_pages_per_pull pages");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_saves_only_past_pages_that_are_wholly_done() {
        let mut w = Watermark::default();
        let a = w.page("c1".into());
        w.add(a, 100);
        w.add(a, 100);
        let b = w.page("c2".into());
        w.add(b, 90);
        assert_eq!(w.in_flight(), 3);
        // page b done first: nothing may be saved while page a has a message running
        w.done(b);
        assert_eq!(w.take_advanced(), None);
        w.done(a);
        assert_eq!(w.take_advanced(), None);
        w.done(a);
        assert_eq!(w.take_advanced().as_deref(), Some("c2"), "both pages done: the newest cursor");
        assert!(w.is_empty());
        // a page with nothing to handle moves the watermark at once
        w.page("c3".into());
        w.advance();
        assert_eq!(w.take_advanced().as_deref(), Some("c3"));
        // unknown page numbers are ignored, not a panic
        w.done(999);
        assert_eq!(w.in_flight(), 0);
    }

    #[test]
    fn the_lag_counts_from_the_oldest_message_of_the_oldest_page_not_done() {
        let mut w = Watermark::default();
        assert_eq!(w.lag(1_000), 0, "nothing pulled: no lag");
        let a = w.page("c1".into());
        w.add(a, 900);
        w.add(a, 950);
        let b = w.page("c2".into());
        w.add(b, 980);
        assert_eq!(w.lag(1_000), 100);
        w.done(a);
        w.done(a);
        assert_eq!(w.lag(1_000), 20, "page a done: page b's oldest");
        w.done(b);
        assert_eq!(w.lag(1_000), 0);
        // a clock behind a message's send_time is no negative lag
        let c = w.page("c3".into());
        w.add(c, 2_000);
        assert_eq!(w.lag(1_000), 0);
    }
}
