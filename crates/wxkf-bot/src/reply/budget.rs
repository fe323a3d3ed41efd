//! The 48-hour / 5-message reply budget (kf-api.md §5.4): where it is counted.
//!
//! WeCom counts the sends after the customer's latest message *as WeCom saw them arrive*. The
//! runtime learns of that message only when it pulls it, and `sync_msg` does not return the bot's
//! own sends (field-notes.md), so a send that was on its way while the customer wrote cannot be
//! placed before or after the message. Such a send is counted against the new message: the
//! runtime may leave a reply unused, but never sends one WeCom refuses with 95001. Each customer
//! message therefore comes with a time `since_ms` (see [`BudgetStore::customer_spoke`]): every
//! send completed before it certainly reached WeCom before the message; the others count.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;

use async_trait::async_trait;

/// How long after a customer's last message you may write to them (kf-api.md §5.4).
pub const REPLY_WINDOW_SECS: u64 = 48 * 3600;
/// How many messages you may send within that window (kf-api.md §5.4).
pub const REPLIES_PER_WINDOW: u32 = 5;

/// How long a taken send may stay in flight before it counts as completed then: the process that
/// took it may have died in the middle of the send, which may or may not have reached WeCom.
pub(crate) const IN_FLIGHT_LIMIT_MS: u64 = 5 * 60 * 1000;

/// What is left of the 48-hour / 5-message budget for one customer of one Kf account, as counted
/// by the runtime's [`BudgetStore`] (from the customer messages pulled and the sends made through
/// the runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Budget {
    /// Messages that may still be sent.
    pub remaining: u32,
    /// Unix seconds at which the window closes.
    pub expires_at: u64,
}

impl Budget {
    /// `remaining` sends until `expires_at` (unix seconds); for [`BudgetStore`] implementations.
    pub fn new(remaining: u32, expires_at: u64) -> Self {
        Budget { remaining, expires_at }
    }
}

/// The sends of one customer's window, from which every store derives the [`Budget`] the same
/// way ([`MemoryBudgets`] and [`LocalStore`](crate::LocalStore) keep it as it is; the Redis store
/// runs the same rules in a script).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ledger {
    /// `send_time` (unix seconds) of the customer's latest message known; 0: none yet.
    pub(crate) send_time: u64,
    /// Sends completed at or after this (unix ms) count against that message.
    pub(crate) since_ms: u64,
    /// When the newest sends completed (unix ms, ascending); more than five never count.
    pub(crate) done: Vec<u64>,
    /// When the sends still in flight were taken (unix ms).
    pub(crate) flying: Vec<u64>,
}

impl Ledger {
    pub(crate) fn expires_at(&self) -> u64 {
        if self.send_time == 0 { 0 } else { self.send_time.saturating_add(REPLY_WINDOW_SECS) }
    }

    /// A customer message sent at `send_time`: from now on the budget counts from it, unless a
    /// later message is already known. `since_ms` only ever moves forward: each message's
    /// `since_ms` is at most its own arrival, which is at most the latest message's.
    pub(crate) fn spoke(&mut self, send_time: u64, since_ms: u64) {
        if send_time < self.send_time {
            return;
        }
        self.send_time = send_time;
        self.since_ms = self.since_ms.max(since_ms);
    }

    /// Sends in flight longer than [`IN_FLIGHT_LIMIT_MS`] count as completed at that limit.
    fn settle(&mut self, now_ms: u64) {
        let stale = |t: &u64| t.saturating_add(IN_FLIGHT_LIMIT_MS) <= now_ms;
        if self.flying.iter().any(stale) {
            let (stale, flying): (Vec<u64>, Vec<u64>) = self.flying.iter().partition(|t| stale(t));
            self.flying = flying;
            self.record_done(stale.into_iter().map(|t| t + IN_FLIGHT_LIMIT_MS));
        }
    }

    fn record_done(&mut self, at: impl IntoIterator<Item = u64>) {
        self.done.extend(at);
        self.done.sort_unstable();
        let keep = REPLIES_PER_WINDOW as usize;
        if self.done.len() > keep {
            self.done.drain(..self.done.len() - keep);
        }
    }

    /// Sends that count against the latest message at `now_ms`: in flight, or completed since
    /// `since_ms` (a send in flight too long counts as completed at the limit; see [`settle`]).
    ///
    /// [`settle`]: Self::settle
    fn used(&self, now_ms: u64) -> u32 {
        let flying = self
            .flying
            .iter()
            .filter(|&&t| {
                let limit = t.saturating_add(IN_FLIGHT_LIMIT_MS);
                limit > now_ms || limit >= self.since_ms
            })
            .count();
        let done = self.done.iter().filter(|&&d| d >= self.since_ms).count();
        u32::try_from(flying + done).unwrap_or(u32::MAX)
    }

    /// The budget at `now_ms`.
    pub(crate) fn budget(&self, now_ms: u64) -> Budget {
        let expires_at = self.expires_at();
        let open = expires_at.saturating_mul(1000) > now_ms;
        let remaining = if open { REPLIES_PER_WINDOW.saturating_sub(self.used(now_ms)) } else { 0 };
        Budget { remaining, expires_at }
    }

    /// Takes `n` sends at `now_ms`, or takes none and answers the budget as it is.
    pub(crate) fn take(&mut self, n: u32, now_ms: u64) -> Result<(), Budget> {
        self.settle(now_ms);
        let budget = self.budget(now_ms);
        if budget.expires_at.saturating_mul(1000) <= now_ms || budget.remaining < n {
            return Err(budget);
        }
        self.flying.extend(std::iter::repeat_n(now_ms, n as usize));
        Ok(())
    }

    /// `n` taken sends reached WeCom (accepted, or answered as already sent) at `now_ms`.
    pub(crate) fn sent(&mut self, n: u32, now_ms: u64) {
        // the oldest first; a send already counted as completed (settled) is not counted twice
        self.flying.sort_unstable();
        let n = (n as usize).min(self.flying.len());
        self.flying.drain(..n);
        self.record_done(std::iter::repeat_n(now_ms, n));
    }

    /// The process that took the sends in flight is gone: whatever of them reached WeCom did so
    /// before `at_ms`, so they count as completed then.
    pub(crate) fn end_in_flight(&mut self, at_ms: u64) {
        let n = self.flying.len();
        self.flying.clear();
        self.record_done(std::iter::repeat_n(at_ms, n));
    }

    /// `n` taken sends never went out.
    pub(crate) fn give_back(&mut self, n: u32) {
        self.flying.sort_unstable();
        let keep = self.flying.len().saturating_sub(n as usize);
        self.flying.truncate(keep);
    }
}

/// The default [`BudgetStore`]: in this process (forgotten on restart; closed windows are swept
/// now and then, so it stays bounded).
#[derive(Debug, Default)]
pub struct MemoryBudgets {
    map: Mutex<HashMap<(String, String), Ledger>>,
    // customer messages seen, to sweep closed windows now and then
    spoken: std::sync::atomic::AtomicU64,
}

impl MemoryBudgets {
    fn with<T>(&self, open_kfid: &str, external_userid: &str, f: impl FnOnce(&mut Ledger) -> T) -> T {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry((open_kfid.to_owned(), external_userid.to_owned())).or_default())
    }

    /// A customer message opens (or renews) the window.
    fn spoke(&self, open_kfid: &str, external_userid: &str, send_time: u64, since_ms: u64) {
        // bounded: closed windows are forgotten every 4096 customer messages
        if self.spoken.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4096 == 4095 {
            let now = crate::clock::now_secs();
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, l| l.expires_at() > now);
        }
        self.with(open_kfid, external_userid, |l| l.spoke(send_time, since_ms));
    }

    fn get_now(&self, open_kfid: &str, external_userid: &str, now_ms: u64) -> Budget {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&(open_kfid.to_owned(), external_userid.to_owned())) {
            Some(l) => l.budget(now_ms),
            None => Budget { remaining: 0, expires_at: 0 },
        }
    }
}

/// Where the reply budget of each customer is counted: a customer message opens or renews it, each
/// send takes from it. The runtime's instances share one store so that N instances count like one.
///
/// A store keeps, per customer, the `send_time` of the latest message, its `since_ms`, and when
/// recent sends were taken and completed; the budget is five minus the sends still in flight and
/// those completed at or after `since_ms` (a send in flight longer than five minutes counts as
/// completed then). Implementations make [`take`](Self::take) atomic: two concurrent takes never
/// both get the last send.
#[async_trait]
pub trait BudgetStore: Send + Sync + 'static {
    /// A customer message sent at `send_time` (unix seconds) opens the window, or renews it if it
    /// is not older than the message that opened the current one. Sends completed before
    /// `since_ms` (unix ms) reached WeCom before the message and do not count against it; those
    /// completed later, or still in flight, may have arrived after it and do.
    async fn customer_spoke(
        &self,
        open_kfid: &str,
        external_userid: &str,
        send_time: u64,
        since_ms: u64,
    ) -> io::Result<()>;

    /// What is left at `now_ms` (unix ms).
    async fn get(&self, open_kfid: &str, external_userid: &str, now_ms: u64) -> io::Result<Budget>;

    /// Takes `n` sends at `now_ms`, or takes none and answers the budget as it is
    /// (`Ok(Err(budget))`: window closed if `budget.expires_at` is not after now, else too few
    /// left). Each send taken is in flight until [`sent`](Self::sent) or
    /// [`give_back`](Self::give_back).
    async fn take(
        &self,
        open_kfid: &str,
        external_userid: &str,
        n: u32,
        now_ms: u64,
    ) -> io::Result<Result<(), Budget>>;

    /// `n` sends taken earlier reached WeCom, completed at `now_ms`.
    async fn sent(&self, open_kfid: &str, external_userid: &str, n: u32, now_ms: u64) -> io::Result<()>;

    /// Gives back `n` sends that were taken but not sent.
    async fn give_back(&self, open_kfid: &str, external_userid: &str, n: u32) -> io::Result<()>;
}

#[async_trait]
impl BudgetStore for MemoryBudgets {
    async fn customer_spoke(
        &self,
        open_kfid: &str,
        external_userid: &str,
        send_time: u64,
        since_ms: u64,
    ) -> io::Result<()> {
        self.spoke(open_kfid, external_userid, send_time, since_ms);
        Ok(())
    }

    async fn get(&self, open_kfid: &str, external_userid: &str, now_ms: u64) -> io::Result<Budget> {
        Ok(self.get_now(open_kfid, external_userid, now_ms))
    }

    async fn take(
        &self,
        open_kfid: &str,
        external_userid: &str,
        n: u32,
        now_ms: u64,
    ) -> io::Result<Result<(), Budget>> {
        Ok(self.with(open_kfid, external_userid, |l| l.take(n, now_ms)))
    }

    async fn sent(&self, open_kfid: &str, external_userid: &str, n: u32, now_ms: u64) -> io::Result<()> {
        self.with(open_kfid, external_userid, |l| l.sent(n, now_ms));
        Ok(())
    }

    async fn give_back(&self, open_kfid: &str, external_userid: &str, n: u32) -> io::Result<()> {
        self.with(open_kfid, external_userid, |l| l.give_back(n));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;
    const MS: u64 = T0 * 1000;

    #[test]
    fn budget_opens_on_customer_message_and_refuses_over_five() {
        let b = MemoryBudgets::default();
        let mut l = Ledger::default();
        assert_eq!(l.take(1, MS), Err(Budget { remaining: 0, expires_at: 0 }));
        l.spoke(T0, MS);
        assert_eq!(l.budget(MS + 1), Budget { remaining: 5, expires_at: T0 + REPLY_WINDOW_SECS });
        l.take(3, MS + 1).unwrap();
        // too few left: nothing taken, the budget as it is
        assert_eq!(l.take(3, MS + 1), Err(Budget { remaining: 2, expires_at: T0 + REPLY_WINDOW_SECS }));
        l.take(2, MS + 1).unwrap();
        assert_eq!(l.budget(MS + 1).remaining, 0);
        // sends that went out stay counted; sends given back return
        l.sent(4, MS + 2);
        l.give_back(1);
        assert_eq!(l.budget(MS + 3).remaining, 1);
        // the window closed
        let end = (T0 + REPLY_WINDOW_SECS) * 1000;
        assert!(l.take(1, end).is_err_and(|b| b.expires_at * 1000 <= end));
        assert_eq!(b.get_now("wk", "nobody", MS).remaining, 0);
    }

    #[test]
    fn a_newer_message_counts_only_the_sends_that_may_have_crossed_it() {
        let mut l = Ledger::default();
        l.spoke(T0, MS);
        l.take(3, MS + 100).unwrap();
        l.sent(3, MS + 200);
        // the customer writes again; every send completed before since_ms was before it
        l.spoke(T0 + 10, MS + 5_000);
        assert_eq!(l.budget(MS + 10_000).remaining, 5);
        // two sends complete after since_ms, and one is still in flight, when the next message is
        // pulled: they may have reached WeCom after it, so they count against it
        l.take(3, MS + 20_000).unwrap();
        l.sent(2, MS + 21_000);
        l.spoke(T0 + 21, MS + 20_500);
        assert_eq!(l.budget(MS + 22_000).remaining, 2);
        // the one in flight is given back: it never went out
        l.give_back(1);
        assert_eq!(l.budget(MS + 22_000).remaining, 3);
    }

    #[test]
    fn an_older_message_or_an_earlier_since_changes_nothing() {
        let mut l = Ledger::default();
        l.spoke(T0 + 10, MS + 10_000);
        l.take(2, MS + 11_000).unwrap();
        l.sent(2, MS + 11_000);
        // an older message pulled late (a re-delivery) does not renew the window
        l.spoke(T0, MS + 20_000);
        assert_eq!(l.budget(MS + 21_000).remaining, 3);
        // the same message again with a looser bound keeps the tighter one
        l.spoke(T0 + 10, MS);
        assert_eq!(l.budget(MS + 21_000).remaining, 3);
        // another message in the same second, pulled after the sends: five again
        l.spoke(T0 + 10, MS + 12_000);
        assert_eq!(l.budget(MS + 21_000).remaining, 5);
    }

    #[test]
    fn a_send_in_flight_too_long_counts_as_completed_then() {
        let mut l = Ledger::default();
        l.spoke(T0, MS);
        l.take(1, MS + 1_000).unwrap();
        // its process died mid-send: after the limit it counts as completed at the limit
        let late = MS + 1_000 + IN_FLIGHT_LIMIT_MS;
        l.spoke(T0 + 400, late - 1);
        assert_eq!(l.budget(late + 1).remaining, 4);
        l.spoke(T0 + 500, late + 1);
        assert_eq!(l.budget(late + 2).remaining, 5);
        // a late `sent` for it is not counted twice
        l.take(1, late + 3).unwrap();
        l.settle(late + 3);
        l.sent(1, late + 4);
        l.sent(1, late + 5);
        assert_eq!(l.budget(late + 6).remaining, 4);
    }

    #[test]
    fn at_most_five_completed_sends_are_kept() {
        let mut l = Ledger::default();
        l.spoke(T0, MS);
        for i in 0..5 {
            l.take(1, MS + i).unwrap();
            l.sent(1, MS + i);
        }
        for i in 0..4 {
            l.spoke(T0 + 1 + i, MS + 100 + i);
            l.take(1, MS + 200 + i).unwrap();
            l.sent(1, MS + 200 + i);
        }
        l.spoke(T0 + 9, MS + 1_000);
        l.take(1, MS + 1_100).unwrap();
        l.sent(1, MS + 1_100);
        assert_eq!(l.done.len(), 5);
        assert_eq!(l.budget(MS + 1_200).remaining, 4);
    }
}
