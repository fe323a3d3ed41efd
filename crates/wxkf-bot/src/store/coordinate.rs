//! What several instances of one bot share so that they behave as one: which Kf accounts have
//! messages waiting, which instance pulls each of them (a lease), and which msgids were handled.
//!
//! A single instance needs none of it. Several instances plug in a shared [`Coordinator`] and
//! [`DedupeStore`] (the `redis` feature has both) next to a shared [`CursorStore`](crate::CursorStore);
//! docs/scaling.md explains the protocol and what happens on failover.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store::dedupe::Dedupe;

/// A `kf_msg_or_event` callback that still has to be pulled, as recorded by [`Coordinator::mark_pending`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PendingPull {
    /// The callback's `Token` for `sync_msg` (valid 10 minutes, kf-api.md §5.1).
    pub token: String,
    /// The callback's `CreateTime` (unix seconds, 0 if unknown); the earliest of all marks
    /// merged into this one.
    pub create_time: u64,
    /// When the mark was made (unix seconds, the marking instance's clock).
    pub marked_at: u64,
    /// Unique per mark: [`Coordinator::clear_pending`] clears only the mark it was given, so a
    /// mark made during a pull survives it.
    pub nonce: String,
}

/// How long a callback token is used after it was marked: WeCom accepts it for 10 minutes, and
/// the margin leaves room for clock skew between instances.
const TOKEN_USE_SECS: u64 = 9 * 60;

impl PendingPull {
    /// A mark for a callback with `token` and `create_time`, made at `marked_at` (unix seconds).
    pub fn new(token: impl Into<String>, create_time: u64, marked_at: u64, nonce: impl Into<String>) -> Self {
        PendingPull { token: token.into(), create_time, marked_at, nonce: nonce.into() }
    }

    /// The token if it is still young enough to be accepted at `now` (unix seconds); an older
    /// one would make `sync_msg` fail with 95007, so the pull goes without it.
    pub fn usable_token(&self, now: u64) -> Option<&str> {
        (!self.token.is_empty() && now.saturating_sub(self.marked_at) < TOKEN_USE_SECS)
            .then_some(self.token.as_str())
    }
}

/// The outcome of [`Coordinator::try_lease`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseAttempt {
    /// This instance holds the pull lease of the account now.
    Acquired,
    /// Another instance holds it for at most `remaining` more (unless it renews it).
    Held {
        /// Time left on the other instance's lease.
        remaining: Duration,
    },
}

/// Shares, between the instances of one bot, which Kf accounts have messages waiting and which
/// instance pulls each one, so that two instances never pull the same open_kfid at once.
///
/// The runtime follows one protocol (docs/scaling.md): a callback is first recorded with
/// [`mark_pending`](Self::mark_pending), then the instance tries the account's lease. The holder
/// pulls, clears the mark it pulled for with [`clear_pending`](Self::clear_pending) (which fails
/// if a newer mark arrived meanwhile, and then it pulls again), releases the lease, and looks
/// for a mark once more. Because markers mark before trying and holders release before looking,
/// no mark is left without a puller. An instance that finds the lease held waits until it runs
/// out and looks again, so a holder that died is replaced within one lease time.
///
/// Implementations must make each method atomic; the lease is owned by the `owner` string that
/// took it and only that owner may renew or release it.
#[async_trait]
pub trait Coordinator: Send + Sync + 'static {
    /// Records that `open_kfid` has messages to pull, merging with an earlier mark (the newest
    /// token and nonce, the earliest `create_time`).
    async fn mark_pending(&self, open_kfid: &str, pull: &PendingPull) -> io::Result<()>;

    /// The mark of `open_kfid`, if any.
    async fn pending(&self, open_kfid: &str) -> io::Result<Option<PendingPull>>;

    /// Removes the mark of `open_kfid` only if it is still `seen` (same nonce); returns whether
    /// it did.
    async fn clear_pending(&self, open_kfid: &str, seen: &PendingPull) -> io::Result<bool>;

    /// Every open_kfid with a mark (scanned now and then to pick up marks whose instance died).
    async fn pending_accounts(&self) -> io::Result<Vec<String>>;

    /// Takes the pull lease of `open_kfid` for `ttl` if no one holds it.
    async fn try_lease(&self, open_kfid: &str, owner: &str, ttl: Duration) -> io::Result<LeaseAttempt>;

    /// Extends the lease to `ttl` from now if `owner` still holds it; `false` if it was lost.
    async fn renew_lease(&self, open_kfid: &str, owner: &str, ttl: Duration) -> io::Result<bool>;

    /// Frees the lease if `owner` still holds it; returns whether it did.
    async fn release_lease(&self, open_kfid: &str, owner: &str) -> io::Result<bool>;
}

/// A [`Coordinator`] in this process's memory: for several [`Bot`](crate::Bot)s in one process
/// (tests, or one process serving many runtimes) and as the reference for what a shared
/// implementation must do. Instances in different processes need a shared one (`RedisCoordinator`).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use wxkf_bot::{Coordinator, LeaseAttempt, MemoryCoordinator};
/// let c = MemoryCoordinator::default();
/// let ttl = Duration::from_secs(30);
/// assert_eq!(c.try_lease("wk1", "a", ttl).await.unwrap(), LeaseAttempt::Acquired);
/// assert!(matches!(c.try_lease("wk1", "b", ttl).await.unwrap(), LeaseAttempt::Held { .. }));
/// assert!(!c.release_lease("wk1", "b").await.unwrap(), "only the owner releases");
/// assert!(c.release_lease("wk1", "a").await.unwrap());
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryCoordinator {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    marks: HashMap<String, PendingPull>,
    leases: HashMap<String, (String, Instant)>,
}

impl MemoryState {
    /// The live lease of `open_kfid` (an expired one is dropped).
    fn lease(&mut self, open_kfid: &str, now: Instant) -> Option<&(String, Instant)> {
        if self.leases.get(open_kfid).is_some_and(|(_, until)| *until <= now) {
            self.leases.remove(open_kfid);
        }
        self.leases.get(open_kfid)
    }
}

#[async_trait]
impl Coordinator for MemoryCoordinator {
    async fn mark_pending(&self, open_kfid: &str, pull: &PendingPull) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut merged = pull.clone();
        if let Some(old) = state.marks.get(open_kfid)
            && old.create_time != 0
            && (pull.create_time == 0 || old.create_time < pull.create_time)
        {
            merged.create_time = old.create_time;
        }
        state.marks.insert(open_kfid.to_owned(), merged);
        Ok(())
    }

    async fn pending(&self, open_kfid: &str) -> io::Result<Option<PendingPull>> {
        Ok(self.state.lock().unwrap_or_else(|e| e.into_inner()).marks.get(open_kfid).cloned())
    }

    async fn clear_pending(&self, open_kfid: &str, seen: &PendingPull) -> io::Result<bool> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.marks.get(open_kfid).is_some_and(|m| m.nonce == seen.nonce) {
            state.marks.remove(open_kfid);
            return Ok(true);
        }
        Ok(false)
    }

    async fn pending_accounts(&self) -> io::Result<Vec<String>> {
        Ok(self.state.lock().unwrap_or_else(|e| e.into_inner()).marks.keys().cloned().collect())
    }

    async fn try_lease(&self, open_kfid: &str, owner: &str, ttl: Duration) -> io::Result<LeaseAttempt> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some((_, until)) = state.lease(open_kfid, now) {
            return Ok(LeaseAttempt::Held { remaining: until.saturating_duration_since(now) });
        }
        state.leases.insert(open_kfid.to_owned(), (owner.to_owned(), now + ttl));
        Ok(LeaseAttempt::Acquired)
    }

    async fn renew_lease(&self, open_kfid: &str, owner: &str, ttl: Duration) -> io::Result<bool> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if state.lease(open_kfid, now).is_some_and(|(o, _)| o == owner) {
            state.leases.insert(open_kfid.to_owned(), (owner.to_owned(), now + ttl));
            return Ok(true);
        }
        Ok(false)
    }

    async fn release_lease(&self, open_kfid: &str, owner: &str) -> io::Result<bool> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.lease(open_kfid, Instant::now()).is_some_and(|(o, _)| o == owner) {
            state.leases.remove(open_kfid);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Remembers which msgids were handled, so that a page delivered again (after a crash, a lost
/// lease, or a cursor saved late) is not handled twice.
#[async_trait]
pub trait DedupeStore: Send + Sync + 'static {
    /// For each of `msgids` (of `open_kfid`), whether it was handled; one answer per msgid, in order.
    async fn seen(&self, open_kfid: &str, msgids: &[&str]) -> io::Result<Vec<bool>>;

    /// Records `msgid` as handled for at least `ttl`.
    async fn remember(&self, open_kfid: &str, msgid: &str, ttl: Duration) -> io::Result<()>;

    /// Records several msgids as handled, durable together when it returns `Ok` (the runtime
    /// batches the messages that finished meanwhile). Stores with transactions override it to write
    /// once; by default it calls [`remember`](Self::remember) for each.
    async fn remember_many(&self, open_kfid: &str, msgids: &[&str], ttl: Duration) -> io::Result<()> {
        for msgid in msgids {
            self.remember(open_kfid, msgid, ttl).await?;
        }
        Ok(())
    }
}

/// The default [`DedupeStore`]: in this process, bounded, forgotten on restart (the persisted
/// cursor then keeps handled pages from coming back).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use wxkf_bot::{DedupeStore, MemoryDedupe};
/// let dedupe = MemoryDedupe::new(Duration::from_secs(3600), 10_000);
/// dedupe.remember("wk1", "m1", Duration::from_secs(3600)).await.unwrap();
/// assert_eq!(dedupe.seen("wk1", &["m1", "m2"]).await.unwrap(), [true, false]);
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryDedupe {
    inner: Mutex<Dedupe>,
}

impl MemoryDedupe {
    /// Remembers up to `capacity` msgids, each for `ttl` (the `ttl` given to
    /// [`remember`](DedupeStore::remember) is not used: one window for all keeps eviction O(1)).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        MemoryDedupe { inner: Mutex::new(Dedupe::new(ttl, capacity)) }
    }
}

fn key(open_kfid: &str, msgid: &str) -> String {
    format!("{open_kfid}\u{0}{msgid}")
}

#[async_trait]
impl DedupeStore for MemoryDedupe {
    async fn seen(&self, open_kfid: &str, msgids: &[&str]) -> io::Result<Vec<bool>> {
        let mut d = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Ok(msgids.iter().map(|m| d.contains(&key(open_kfid, m))).collect())
    }

    async fn remember(&self, open_kfid: &str, msgid: &str, _ttl: Duration) -> io::Result<()> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).insert(&key(open_kfid, msgid));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_used_for_nine_minutes_after_the_mark() {
        let p = PendingPull::new("tok", 0, 1_000, "n");
        assert_eq!(p.usable_token(1_000), Some("tok"));
        assert_eq!(p.usable_token(1_000 + 539), Some("tok"));
        assert_eq!(p.usable_token(1_000 + 540), None);
        assert_eq!(PendingPull::new("", 0, 1_000, "n").usable_token(1_000), None);
        // a clock behind the marker's does not make the token look older
        assert_eq!(p.usable_token(900), Some("tok"));
    }
}
