//! The bot's shared state in Redis, so several instances behave as one (docs/scaling.md).
//! Feature `redis`.
//!
//! - [`RedisCursorStore`]: the `sync_msg` cursor of each open_kfid (kf-api.md §5.1,
//!   `next_cursor`), so a restarted or replacement instance continues where the last one stopped.
//! - [`RedisCoordinator`]: callbacks still to be pulled and the per-open_kfid pull lease.
//! - [`RedisDedupe`]: handled msgids, each with a TTL.
//! - [`RedisBudgets`]: the 48-hour / 5-message reply budget of each customer.
//!
//! Keys, all under one prefix (default `wxkf:`); none holds a secret:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>cursor:<open_kfid>` | string | the cursor |
//! | `<prefix>lease:<open_kfid>` | string, expiring | the id of the instance that pulls the account |
//! | `<prefix>pending:<open_kfid>` | hash | the newest callback token (valid 10 min), earliest `create_time`, `marked_at`, `nonce` |
//! | `<prefix>pending` | set | the open_kfids that have a pending hash |
//! | `<prefix>seen:<open_kfid>:<msgid>` | string, expiring | `1`: the message was handled |
//! | `<prefix>budget:<open_kfid>:<external_userid>` | hash, expiring with the window | `remaining`, `expires_at` |
//!
//! Every compare-and-set (merge a mark, clear a mark only if unchanged, take / renew / release a
//! lease only as its owner) is one Lua script, so it is atomic on the server.

use std::fmt;
use std::io;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use crate::budget::{Budget, BudgetStore, REPLIES_PER_WINDOW, REPLY_WINDOW_SECS};
use crate::coordinate::{Coordinator, DedupeStore, LeaseAttempt, PendingPull};
use crate::store::CursorStore;

/// The four handles share their shape: a connection (it reconnects by itself) and a key prefix.
macro_rules! redis_handle {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            conn: ConnectionManager,
            prefix: String,
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("prefix", &self.prefix).finish_non_exhaustive()
            }
        }

        impl $name {
            /// Connects to the Redis server at `url` (`redis://host:port/db`) with the [`DEFAULT_PREFIX`].
            pub async fn connect(url: &str) -> io::Result<Self> {
                let client = redis::Client::open(url).map_err(io::Error::other)?;
                let conn = ConnectionManager::new(client).await.map_err(io::Error::other)?;
                Ok(Self::from_connection(conn))
            }

            #[doc = concat!("A ", $what, " on an existing connection (shared with the others, say), with the [`DEFAULT_PREFIX`].")]
            pub fn from_connection(conn: ConnectionManager) -> Self {
                $name { conn, prefix: DEFAULT_PREFIX.to_owned() }
            }

            /// Puts every key under `prefix` (every instance of one bot must use the same prefix).
            pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
                self.prefix = prefix.into();
                self
            }

            /// The key prefix.
            pub fn prefix(&self) -> &str {
                &self.prefix
            }
        }
    };
}

/// The key prefix used unless [`RedisCursorStore::with_prefix`] sets another.
pub const DEFAULT_PREFIX: &str = "wxkf:";

redis_handle! {
    /// Cursors in Redis: one string key per open_kfid, `<prefix>cursor:<open_kfid>`, with no expiry.
    ///
    /// A save is one `SET`; it is as durable as the server's persistence settings make it (with
    /// persistence off, a Redis restart loses the cursors and the bot pulls as it does on its very
    /// first start, with no cursor).
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use wxkf_bot::{CursorStore, RedisCursorStore};
    /// let store = RedisCursorStore::connect("redis://127.0.0.1:6379").await?.with_prefix("mybot:");
    /// store.save("wk1", "c1").await?;
    /// assert_eq!(store.load("wk1").await?.as_deref(), Some("c1"));
    /// # Ok(()) }
    /// ```
    RedisCursorStore, "store"
}

impl RedisCursorStore {
    fn key(&self, open_kfid: &str) -> String {
        format!("{}cursor:{open_kfid}", self.prefix)
    }
}

#[async_trait]
impl CursorStore for RedisCursorStore {
    async fn load(&self, open_kfid: &str) -> io::Result<Option<String>> {
        let mut conn = self.conn.clone();
        conn.get(self.key(open_kfid)).await.map_err(io::Error::other)
    }

    async fn save(&self, open_kfid: &str, cursor: &str) -> io::Result<()> {
        let mut conn = self.conn.clone();
        conn.set::<_, _, ()>(self.key(open_kfid), cursor).await.map_err(io::Error::other)
    }
}

/// Merges a mark: the newest token, `marked_at` and nonce, the earliest non-zero `create_time`;
/// and lists the account in the pending set. KEYS: hash, set. ARGV: open_kfid, token,
/// create_time, marked_at, nonce.
static MARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = tonumber(redis.call('HGET', KEYS[1], 'create_time') or '0') or 0
local ct = ARGV[3]
local new = tonumber(ct) or 0
if old ~= 0 and (new == 0 or old < new) then ct = tostring(old) end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'create_time', ct, 'marked_at', ARGV[4], 'nonce', ARGV[5])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
",
    )
});

/// Removes a mark only if its nonce is still `ARGV[2]`. KEYS: hash, set. ARGV: open_kfid, nonce.
static CLEAR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'nonce') == ARGV[2] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
  return 1
end
return 0
",
    )
});

/// Takes the lease for `ARGV[1]` (owner) for `ARGV[2]` ms if free: -1 when taken, else the
/// holder's remaining milliseconds (0 when it is just running out).
static TRY_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
local t = redis.call('PTTL', KEYS[1])
if t < 0 then return 0 end
return t
",
    )
});

/// Extends the lease to `ARGV[2]` ms only if `ARGV[1]` holds it.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
",
    )
});

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

redis_handle! {
    /// Pending callbacks and per-open_kfid pull leases in Redis: the [`Coordinator`] that lets several
    /// instances of one bot share the work without two of them pulling one account at once.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// use wxkf_bot::{Coordinator, LeaseAttempt, RedisCoordinator};
    /// let coordinator = RedisCoordinator::connect("redis://127.0.0.1:6379").await?.with_prefix("mybot:");
    /// let lease = coordinator.try_lease("wk1", "instance-a", Duration::from_secs(30)).await?;
    /// assert_eq!(lease, LeaseAttempt::Acquired);
    /// assert!(coordinator.release_lease("wk1", "instance-a").await?);
    /// # Ok(()) }
    /// ```
    RedisCoordinator, "coordinator"
}

impl RedisCoordinator {
    fn pending_key(&self, open_kfid: &str) -> String {
        format!("{}pending:{open_kfid}", self.prefix)
    }

    fn pending_set(&self) -> String {
        format!("{}pending", self.prefix)
    }

    fn lease_key(&self, open_kfid: &str) -> String {
        format!("{}lease:{open_kfid}", self.prefix)
    }
}

#[async_trait]
impl Coordinator for RedisCoordinator {
    async fn mark_pending(&self, open_kfid: &str, pull: &PendingPull) -> io::Result<()> {
        let mut conn = self.conn.clone();
        MARK.key(self.pending_key(open_kfid))
            .key(self.pending_set())
            .arg(open_kfid)
            .arg(&pull.token)
            .arg(pull.create_time)
            .arg(pull.marked_at)
            .arg(&pull.nonce)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(io::Error::other)
    }

    async fn pending(&self, open_kfid: &str) -> io::Result<Option<PendingPull>> {
        let mut conn = self.conn.clone();
        let fields: std::collections::HashMap<String, String> =
            conn.hgetall(self.pending_key(open_kfid)).await.map_err(io::Error::other)?;
        let Some(nonce) = fields.get("nonce") else { return Ok(None) };
        let number = |name: &str| fields.get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(Some(PendingPull::new(
            fields.get("token").cloned().unwrap_or_default(),
            number("create_time"),
            number("marked_at"),
            nonce.clone(),
        )))
    }

    async fn clear_pending(&self, open_kfid: &str, seen: &PendingPull) -> io::Result<bool> {
        let mut conn = self.conn.clone();
        CLEAR
            .key(self.pending_key(open_kfid))
            .key(self.pending_set())
            .arg(open_kfid)
            .arg(&seen.nonce)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|n| n == 1)
            .map_err(io::Error::other)
    }

    async fn pending_accounts(&self) -> io::Result<Vec<String>> {
        let mut conn = self.conn.clone();
        conn.smembers(self.pending_set()).await.map_err(io::Error::other)
    }

    async fn try_lease(&self, open_kfid: &str, owner: &str, ttl: Duration) -> io::Result<LeaseAttempt> {
        let mut conn = self.conn.clone();
        let r: i64 = TRY_LEASE
            .key(self.lease_key(open_kfid))
            .arg(owner)
            .arg(millis(ttl))
            .invoke_async(&mut conn)
            .await
            .map_err(io::Error::other)?;
        Ok(match u64::try_from(r) {
            Ok(left) => LeaseAttempt::Held { remaining: Duration::from_millis(left) },
            Err(_) => LeaseAttempt::Acquired,
        })
    }

    async fn renew_lease(&self, open_kfid: &str, owner: &str, ttl: Duration) -> io::Result<bool> {
        let mut conn = self.conn.clone();
        RENEW
            .key(self.lease_key(open_kfid))
            .arg(owner)
            .arg(millis(ttl))
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|n| n == 1)
            .map_err(io::Error::other)
    }

    async fn release_lease(&self, open_kfid: &str, owner: &str) -> io::Result<bool> {
        let mut conn = self.conn.clone();
        wxkf_client::redis_store::COMPARE_AND_DELETE
            .key(self.lease_key(open_kfid))
            .arg(owner)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(|n| n == 1)
            .map_err(io::Error::other)
    }
}

redis_handle! {
    /// Handled msgids in Redis, one expiring key each (`<prefix>seen:<open_kfid>:<msgid>`), shared by
    /// every instance of the bot: a page that comes again after a crash or a lease takeover is not
    /// handled twice by anyone.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use std::time::Duration;
    /// use wxkf_bot::{DedupeStore, RedisDedupe};
    /// let dedupe = RedisDedupe::connect("redis://127.0.0.1:6379").await?.with_prefix("mybot:");
    /// dedupe.remember("wk1", "m1", Duration::from_secs(3 * 24 * 3600)).await?;
    /// assert_eq!(dedupe.seen("wk1", &["m1", "m2"]).await?, [true, false]);
    /// # Ok(()) }
    /// ```
    RedisDedupe, "dedupe store"
}

impl RedisDedupe {
    fn key(&self, open_kfid: &str, msgid: &str) -> String {
        format!("{}seen:{open_kfid}:{msgid}", self.prefix)
    }
}

#[async_trait]
impl DedupeStore for RedisDedupe {
    async fn seen(&self, open_kfid: &str, msgids: &[&str]) -> io::Result<Vec<bool>> {
        if msgids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = msgids.iter().map(|m| self.key(open_kfid, m)).collect();
        let mut conn = self.conn.clone();
        // one round trip per page; MGET of one key answers a bare value, so ask as a list
        let found: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(io::Error::other)?;
        if found.len() != msgids.len() {
            return Err(io::Error::other(format!(
                "MGET answered {} values for {} keys",
                found.len(),
                keys.len()
            )));
        }
        Ok(found.into_iter().map(|v| v.is_some()).collect())
    }

    async fn remember(&self, open_kfid: &str, msgid: &str, ttl: Duration) -> io::Result<()> {
        let mut conn = self.conn.clone();
        conn.pset_ex::<_, _, ()>(self.key(open_kfid, msgid), 1, millis(ttl)).await.map_err(io::Error::other)
    }
}

/// Opens or renews a window: five sends until `ARGV[1]` unless the current window was opened by a
/// later message. The key expires with the window.
static SPOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0') or 0
local new = tonumber(ARGV[1])
if new >= old then
  redis.call('HSET', KEYS[1], 'remaining', ARGV[2], 'expires_at', ARGV[1])
  redis.call('EXPIREAT', KEYS[1], ARGV[1])
end
return 1
",
    )
});

/// Takes `ARGV[1]` sends at time `ARGV[2]` if the window is open and has them: `{1|0, remaining,
/// expires_at}` (the budget after a take, or as it is after a refusal).
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local exp = tonumber(redis.call('HGET', KEYS[1], 'expires_at') or '0') or 0
local rem = tonumber(redis.call('HGET', KEYS[1], 'remaining') or '0') or 0
local n = tonumber(ARGV[1])
if exp > tonumber(ARGV[2]) and rem >= n then
  redis.call('HSET', KEYS[1], 'remaining', rem - n)
  return {1, rem - n, exp}
end
return {0, rem, exp}
",
    )
});

/// Gives `ARGV[1]` sends back, never above `ARGV[2]`, if the window still exists.
static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local rem = redis.call('HGET', KEYS[1], 'remaining')
if not rem then return 0 end
redis.call('HSET', KEYS[1], 'remaining', math.min(tonumber(rem) + tonumber(ARGV[1]), tonumber(ARGV[2])))
return 1
",
    )
});

redis_handle! {
    /// The reply budget of every customer in Redis (`<prefix>budget:<open_kfid>:<external_userid>`,
    /// expiring with its window), so that whichever instance pulls a customer's message or sends a
    /// reply, all count against one budget; a take is one atomic script.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use wxkf_bot::{BudgetStore, RedisBudgets};
    /// let budgets = RedisBudgets::connect("redis://127.0.0.1:6379").await?.with_prefix("mybot:");
    /// let now = 1_700_000_000;
    /// budgets.customer_spoke("wk1", "wm1", now).await?;
    /// assert!(budgets.take("wk1", "wm1", 2, now).await?.is_ok());
    /// assert_eq!(budgets.get("wk1", "wm1", now).await?.remaining, 3);
    /// # Ok(()) }
    /// ```
    RedisBudgets, "budget store"
}

impl RedisBudgets {
    fn key(&self, open_kfid: &str, external_userid: &str) -> String {
        format!("{}budget:{open_kfid}:{external_userid}", self.prefix)
    }
}

#[async_trait]
impl BudgetStore for RedisBudgets {
    async fn customer_spoke(&self, open_kfid: &str, external_userid: &str, send_time: u64) -> io::Result<()> {
        let mut conn = self.conn.clone();
        SPOKE
            .key(self.key(open_kfid, external_userid))
            .arg(send_time.saturating_add(REPLY_WINDOW_SECS))
            .arg(REPLIES_PER_WINDOW)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(io::Error::other)
    }

    async fn get(&self, open_kfid: &str, external_userid: &str, now: u64) -> io::Result<Budget> {
        let mut conn = self.conn.clone();
        let (remaining, expires_at): (Option<u32>, Option<u64>) = redis::cmd("HMGET")
            .arg(self.key(open_kfid, external_userid))
            .arg("remaining")
            .arg("expires_at")
            .query_async(&mut conn)
            .await
            .map_err(io::Error::other)?;
        let expires_at = expires_at.unwrap_or(0);
        let remaining = if expires_at > now { remaining.unwrap_or(0) } else { 0 };
        Ok(Budget::new(remaining, expires_at))
    }

    async fn take(
        &self,
        open_kfid: &str,
        external_userid: &str,
        n: u32,
        now: u64,
    ) -> io::Result<Result<(), Budget>> {
        let mut conn = self.conn.clone();
        let (taken, remaining, expires_at): (i64, u32, u64) = TAKE
            .key(self.key(open_kfid, external_userid))
            .arg(n)
            .arg(now)
            .invoke_async(&mut conn)
            .await
            .map_err(io::Error::other)?;
        Ok(if taken == 1 { Ok(()) } else { Err(Budget::new(remaining, expires_at)) })
    }

    async fn give_back(&self, open_kfid: &str, external_userid: &str, n: u32) -> io::Result<()> {
        let mut conn = self.conn.clone();
        GIVE_BACK
            .key(self.key(open_kfid, external_userid))
            .arg(n)
            .arg(REPLIES_PER_WINDOW)
            .invoke_async::<i64>(&mut conn)
            .await
            .map(drop)
            .map_err(io::Error::other)
    }
}
