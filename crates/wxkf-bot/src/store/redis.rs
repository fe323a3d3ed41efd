//! The bot's shared state in Redis, so several instances behave as one (docs/scaling.md).
//! Feature `redis`.
//!
//! - [`RedisCursorStore`]: the `sync_msg` cursor of each open_kfid (kf-api.md §5.1,
//!   `next_cursor`), so a restarted or replacement instance continues where the last one stopped.
//! - [`RedisCoordinator`]: callbacks still to be pulled and the per-open_kfid pull lease.
//! - [`RedisDedupe`]: handled msgids, each with a TTL.
//! - [`RedisBudgets`]: the 48-hour / 5-message reply budget of each customer.
//! - [`RedisDeadLetters`]: the dead letters, each until its retention ends.
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
//! | `<prefix>budget:<open_kfid>:<external_userid>` | hash, expiring with the window | `st` (send_time of the latest customer message), `since` (ms), `done` and `fly` (ms, space-separated): see [`BudgetStore`] |
//! | `<prefix>deadletter:<id>` | string, expiring with the retention | the [`DeadLetterRecord`] as JSON |
//! | `<prefix>deadletters` | sorted set | the dead letter ids, scored by when they expire (unix seconds) |
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

use crate::clock::now_secs;
use crate::dead_letter::DeadLetterRecord;
use crate::reply::budget::{Budget, BudgetStore, IN_FLIGHT_LIMIT_MS, REPLIES_PER_WINDOW, REPLY_WINDOW_SECS};
use crate::store::coordinate::{Coordinator, DedupeStore, LeaseAttempt, PendingPull};
use crate::store::cursor::CursorStore;
use crate::store::dead_letter::{DeadLetterStore, expires_at, oldest_first};

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

/// Every change to one customer's budget, by `ARGV[1]`: `spoke` (`ARGV[4]` send_time in seconds,
/// `ARGV[5]` since_ms), `get`, `take` (`ARGV[4]` n), `sent` (`ARGV[4]` n) and `give` (`ARGV[4]` n),
/// at `ARGV[2]` (unix ms), with `ARGV[3]` = `"<in-flight limit ms> <replies per window> <window
/// seconds>"`. The same rules as the `Ledger` of the other stores: the budget is five minus the
/// sends in flight and those completed since `since`. Returns `{1|0, remaining, expires_at}`.
static BUDGET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local limits = {}
for x in string.gmatch(ARGV[3], '%d+') do limits[#limits + 1] = tonumber(x) end
local limit, per, window = limits[1], limits[2], limits[3]
local h = redis.call('HMGET', key, 'st', 'since', 'done', 'fly')
local st, since = tonumber(h[1] or '0') or 0, tonumber(h[2] or '0') or 0
local function list(s)
  local t = {}
  if s then for x in string.gmatch(s, '%d+') do t[#t + 1] = tonumber(x) end end
  return t
end
local done, fly = list(h[3]), list(h[4])
local function keep_done()
  table.sort(done)
  while #done > per do table.remove(done, 1) end
end
-- sends in flight too long count as completed at the limit
local flying = {}
for _, t in ipairs(fly) do
  if t + limit <= now then done[#done + 1] = t + limit else flying[#flying + 1] = t end
end
fly = flying
keep_done()
table.sort(fly)
local function expires() if st == 0 then return 0 end return st + window end
local function remaining()
  if expires() * 1000 <= now then return 0 end
  local used = #fly
  for _, d in ipairs(done) do if d >= since then used = used + 1 end end
  return math.max(per - used, 0)
end
local ok = 1
if op == 'spoke' then
  local t = tonumber(ARGV[4])
  if t >= st then
    st = t
    since = math.max(since, tonumber(ARGV[5]))
  end
elseif op == 'take' then
  local n = tonumber(ARGV[4])
  if expires() * 1000 > now and remaining() >= n then
    for _ = 1, n do fly[#fly + 1] = now end
  else
    ok = 0
  end
elseif op == 'sent' then
  local n = math.min(tonumber(ARGV[4]), #fly)
  for _ = 1, n do
    table.remove(fly, 1)
    done[#done + 1] = now
  end
  keep_done()
elseif op == 'give' then
  local n = math.min(tonumber(ARGV[4]), #fly)
  for _ = 1, n do table.remove(fly) end
end
if op ~= 'get' and st > 0 then
  redis.call('HSET', key, 'st', st, 'since', since, 'done', table.concat(done, ' '), 'fly', table.concat(fly, ' '))
  redis.call('EXPIREAT', key, expires())
end
return {ok, remaining(), expires()}
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
    /// let (send_time, now_ms) = (1_700_000_000, 1_700_000_000_500);
    /// budgets.customer_spoke("wk1", "wm1", send_time, now_ms).await?;
    /// assert!(budgets.take("wk1", "wm1", 2, now_ms).await?.is_ok());
    /// assert_eq!(budgets.get("wk1", "wm1", now_ms).await?.remaining, 3);
    /// # Ok(()) }
    /// ```
    RedisBudgets, "budget store"
}

impl RedisBudgets {
    fn key(&self, open_kfid: &str, external_userid: &str) -> String {
        format!("{}budget:{open_kfid}:{external_userid}", self.prefix)
    }
}

impl RedisBudgets {
    async fn run(
        &self,
        open_kfid: &str,
        external_userid: &str,
        op: &str,
        now_ms: u64,
        args: &[u64],
    ) -> io::Result<(bool, Budget)> {
        let mut conn = self.conn.clone();
        let mut call = BUDGET.key(self.key(open_kfid, external_userid));
        call.arg(op)
            .arg(now_ms)
            .arg(format!("{IN_FLIGHT_LIMIT_MS} {REPLIES_PER_WINDOW} {REPLY_WINDOW_SECS}"));
        for a in args {
            call.arg(*a);
        }
        let (ok, remaining, expires_at): (i64, u32, u64) =
            call.invoke_async(&mut conn).await.map_err(io::Error::other)?;
        Ok((ok == 1, Budget::new(remaining, expires_at)))
    }
}

#[async_trait]
impl BudgetStore for RedisBudgets {
    async fn customer_spoke(
        &self,
        open_kfid: &str,
        external_userid: &str,
        send_time: u64,
        since_ms: u64,
    ) -> io::Result<()> {
        let now_ms = crate::clock::now_ms();
        self.run(open_kfid, external_userid, "spoke", now_ms, &[send_time, since_ms]).await.map(drop)
    }

    async fn get(&self, open_kfid: &str, external_userid: &str, now_ms: u64) -> io::Result<Budget> {
        Ok(self.run(open_kfid, external_userid, "get", now_ms, &[]).await?.1)
    }

    async fn take(
        &self,
        open_kfid: &str,
        external_userid: &str,
        n: u32,
        now_ms: u64,
    ) -> io::Result<Result<(), Budget>> {
        let (ok, budget) = self.run(open_kfid, external_userid, "take", now_ms, &[u64::from(n)]).await?;
        Ok(if ok { Ok(()) } else { Err(budget) })
    }

    async fn sent(&self, open_kfid: &str, external_userid: &str, n: u32, now_ms: u64) -> io::Result<()> {
        self.run(open_kfid, external_userid, "sent", now_ms, &[u64::from(n)]).await.map(drop)
    }

    async fn give_back(&self, open_kfid: &str, external_userid: &str, n: u32) -> io::Result<()> {
        let now_ms = crate::clock::now_ms();
        self.run(open_kfid, external_userid, "give", now_ms, &[u64::from(n)]).await.map(drop)
    }
}

redis_handle! {
    /// Dead letters in Redis: the record as JSON at `<prefix>deadletter:<id>`, expiring when its
    /// retention ends, and its id in the sorted set `<prefix>deadletters` scored by that expiry
    /// (so a list reads only ids that were kept and drops the expired ones from the set).
    /// [`BotBuilder::redis`](crate::BotBuilder::redis) sets it with the bot's prefix, so every
    /// instance lists, replays and discards the same dead letters.
    ///
    /// ```no_run
    /// # async fn demo() -> std::io::Result<()> {
    /// use wxkf_bot::{DeadLetterStore, RedisDeadLetters};
    /// let store = RedisDeadLetters::connect("redis://127.0.0.1:6379").await?.with_prefix("mybot:");
    /// for dead in store.list().await? {
    ///     println!("{} {} {}", dead.id, dead.reason, dead.error);
    /// }
    /// # Ok(()) }
    /// ```
    RedisDeadLetters, "dead-letter store"
}

impl RedisDeadLetters {
    fn key(&self, id: &str) -> String {
        format!("{}deadletter:{id}", self.prefix)
    }

    fn index(&self) -> String {
        format!("{}deadletters", self.prefix)
    }
}

fn bad_record(e: serde_json::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[async_trait]
impl DeadLetterStore for RedisDeadLetters {
    async fn keep(&self, record: &DeadLetterRecord, retention: Duration) -> io::Result<()> {
        let json = serde_json::to_string(record).map_err(io::Error::other)?;
        let expires = expires_at(record, retention);
        let ttl = expires.saturating_sub(now_secs());
        let mut conn = self.conn.clone();
        if ttl == 0 {
            // already past its retention: nothing to keep
            return Ok(());
        }
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(self.key(&record.id))
            .arg(json)
            .arg("EX")
            .arg(ttl)
            .ignore()
            .cmd("ZADD")
            .arg(self.index())
            .arg(expires)
            .arg(&record.id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(io::Error::other)
    }

    async fn get(&self, id: &str) -> io::Result<Option<DeadLetterRecord>> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn.get(self.key(id)).await.map_err(io::Error::other)?;
        json.map(|j| serde_json::from_str(&j).map_err(bad_record)).transpose()
    }

    async fn list(&self) -> io::Result<Vec<DeadLetterRecord>> {
        let mut conn = self.conn.clone();
        let now = now_secs();
        let (ids,): (Vec<String>,) = redis::pipe()
            .atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(self.index())
            .arg("-inf")
            .arg(now)
            .ignore()
            .cmd("ZRANGE")
            .arg(self.index())
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .map_err(io::Error::other)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(io::Error::other)?;
        let mut out = Vec::with_capacity(values.len());
        for json in values.into_iter().flatten() {
            out.push(serde_json::from_str(&json).map_err(bad_record)?);
        }
        oldest_first(&mut out);
        Ok(out)
    }

    async fn remove(&self, id: &str) -> io::Result<bool> {
        let mut conn = self.conn.clone();
        let (removed,): (u32,) = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(self.key(id))
            .cmd("ZREM")
            .arg(self.index())
            .arg(id)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(io::Error::other)?;
        Ok(removed > 0)
    }
}
