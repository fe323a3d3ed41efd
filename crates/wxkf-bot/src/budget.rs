//! The 48-hour / 5-message reply budget (kf-api.md §5.4): where it is counted.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::context::now_secs;

/// How long after a customer's last message you may write to them (kf-api.md §5.4).
pub const REPLY_WINDOW_SECS: u64 = 48 * 3600;
/// How many messages you may send within that window (kf-api.md §5.4).
pub const REPLIES_PER_WINDOW: u32 = 5;

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

/// The default [`BudgetStore`]: in this process (forgotten on restart; closed windows are swept
/// now and then, so it stays bounded).
#[derive(Debug, Default)]
pub struct MemoryBudgets {
    map: Mutex<HashMap<(String, String), Budget>>,
    // customer messages seen, to sweep closed windows now and then
    spoken: std::sync::atomic::AtomicU64,
}

impl MemoryBudgets {
    /// A customer message opens (or renews) the window.
    fn spoke(&self, open_kfid: &str, external_userid: &str, send_time: u64) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // bounded: closed windows are forgotten every 4096 customer messages
        if self.spoken.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 4096 == 4095 {
            let now = now_secs();
            map.retain(|_, b| b.expires_at > now);
        }
        let entry = map
            .entry((open_kfid.to_owned(), external_userid.to_owned()))
            .or_insert(Budget { remaining: 0, expires_at: 0 });
        let expires_at = send_time.saturating_add(REPLY_WINDOW_SECS);
        // `>=`: send_time has one-second resolution, and every new customer message renews the
        // five replies, also one sent in the same second as the last
        if expires_at >= entry.expires_at {
            *entry = Budget { remaining: REPLIES_PER_WINDOW, expires_at };
        }
    }

    fn get_now(&self, open_kfid: &str, external_userid: &str, now: u64) -> Budget {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&(open_kfid.to_owned(), external_userid.to_owned())) {
            Some(b) if b.expires_at > now => *b,
            Some(b) => Budget { remaining: 0, expires_at: b.expires_at },
            None => Budget { remaining: 0, expires_at: 0 },
        }
    }

    /// Takes `n` sends from the budget, or refuses without taking any.
    fn take_now(&self, open_kfid: &str, external_userid: &str, n: u32, now: u64) -> Result<(), Budget> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let key = (open_kfid.to_owned(), external_userid.to_owned());
        match map.get_mut(&key) {
            Some(b) if b.expires_at > now && b.remaining >= n => {
                b.remaining -= n;
                Ok(())
            }
            Some(b) => Err(*b),
            None => Err(Budget { remaining: 0, expires_at: 0 }),
        }
    }

    fn give_back_now(&self, open_kfid: &str, external_userid: &str, n: u32) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = map.get_mut(&(open_kfid.to_owned(), external_userid.to_owned())) {
            b.remaining = (b.remaining + n).min(REPLIES_PER_WINDOW);
        }
    }
}

/// Where the reply budget of each customer is counted: a customer message opens or renews it, each
/// send takes from it. The runtime's instances share one store so that N instances count like one.
///
/// Implementations make [`take`](Self::take) atomic: two concurrent takes never both get the last
/// send.
#[async_trait]
pub trait BudgetStore: Send + Sync + 'static {
    /// A customer message sent at `send_time` (unix seconds) opens the window, or renews it to
    /// five sends if it is not older than the message that opened the current one.
    async fn customer_spoke(&self, open_kfid: &str, external_userid: &str, send_time: u64) -> io::Result<()>;

    /// What is left at `now`.
    async fn get(&self, open_kfid: &str, external_userid: &str, now: u64) -> io::Result<Budget>;

    /// Takes `n` sends, or takes none and answers the budget as it is (`Ok(Err(budget))`: window
    /// closed if `budget.expires_at <= now`, else too few left).
    async fn take(
        &self,
        open_kfid: &str,
        external_userid: &str,
        n: u32,
        now: u64,
    ) -> io::Result<Result<(), Budget>>;

    /// Gives back `n` sends that were taken but not sent (never above five).
    async fn give_back(&self, open_kfid: &str, external_userid: &str, n: u32) -> io::Result<()>;
}

#[async_trait]
impl BudgetStore for MemoryBudgets {
    async fn customer_spoke(&self, open_kfid: &str, external_userid: &str, send_time: u64) -> io::Result<()> {
        self.spoke(open_kfid, external_userid, send_time);
        Ok(())
    }

    async fn get(&self, open_kfid: &str, external_userid: &str, now: u64) -> io::Result<Budget> {
        Ok(self.get_now(open_kfid, external_userid, now))
    }

    async fn take(
        &self,
        open_kfid: &str,
        external_userid: &str,
        n: u32,
        now: u64,
    ) -> io::Result<Result<(), Budget>> {
        Ok(self.take_now(open_kfid, external_userid, n, now))
    }

    async fn give_back(&self, open_kfid: &str, external_userid: &str, n: u32) -> io::Result<()> {
        self.give_back_now(open_kfid, external_userid, n);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_opens_on_customer_message_and_refuses_over_five() {
        let b = MemoryBudgets::default();
        assert_eq!(b.take_now("wk", "wm", 1, 100), Err(Budget { remaining: 0, expires_at: 0 }));
        b.spoke("wk", "wm", 100);
        assert_eq!(b.get_now("wk", "wm", 101), Budget { remaining: 5, expires_at: 100 + REPLY_WINDOW_SECS });
        b.take_now("wk", "wm", 3, 101).unwrap();
        // too few left: nothing taken, the budget as it is
        assert_eq!(
            b.take_now("wk", "wm", 3, 101),
            Err(Budget { remaining: 2, expires_at: 100 + REPLY_WINDOW_SECS })
        );
        b.take_now("wk", "wm", 2, 101).unwrap();
        assert_eq!(b.get_now("wk", "wm", 101).remaining, 0);
        // the window closed
        assert!(
            b.take_now("wk", "wm", 1, 100 + REPLY_WINDOW_SECS)
                .is_err_and(|b| b.expires_at <= 100 + REPLY_WINDOW_SECS)
        );
        // a new customer message renews it; an older one does not
        b.spoke("wk", "wm", 200);
        b.spoke("wk", "wm", 150);
        assert_eq!(b.get_now("wk", "wm", 201).remaining, 5);
        // five replies, then another customer message within the same second: five more
        b.take_now("wk", "wm", 5, 201).unwrap();
        b.spoke("wk", "wm", 200);
        assert_eq!(b.get_now("wk", "wm", 201).remaining, 5);
    }
}
