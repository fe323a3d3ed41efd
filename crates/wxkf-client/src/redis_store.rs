//! A [`TokenStore`] in Redis, so several processes (instances of one bot, say) share one access
//! token (kf-api.md §1) instead of each fetching and caching its own. Feature `redis`.
//!
//! Each token is one Redis hash under `<prefix>token:<TokenKey>` with the fields `token`,
//! `obtained_at` and `expires_at` (milliseconds since the Unix epoch); the key expires with the
//! token. [`put_if_newer`](TokenStore::put_if_newer) and [`remove_if`](TokenStore::remove_if) run
//! as Lua scripts, so each is one atomic step on the server: an older token never replaces a newer
//! one, and only the token that failed is deleted.
//!
//! The cross-process refresh lock ([`TokenStore::try_lock_refresh`]) is the key
//! `<prefix>lock:<TokenKey>`, taken with `SET NX PX <lease>` holding a random owner value and
//! released by a Lua compare-and-delete, so a process whose lease ran out never frees another's.

use std::fmt;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;
use redis::aio::ConnectionManager;

use crate::token::{AccessToken, CachedToken, RefreshLease, RefreshLockAttempt, TokenKey, TokenStore};

/// The key prefix used unless [`RedisTokenStore::with_prefix`] sets another.
pub const DEFAULT_PREFIX: &str = "wxkf:";

/// Stores `ARGV[1..3]` (token, obtained_at, expires_at) unless the stored token was obtained later,
/// or at the same millisecond with a different value.
static PUT_IF_NEWER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('HGET', KEYS[1], 'obtained_at')
if old then
  local o = tonumber(old)
  local n = tonumber(ARGV[2])
  if o == nil or o > n then return 0 end
  if o == n and redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'obtained_at', ARGV[2], 'expires_at', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1
",
    )
});

/// Deletes the key only if its `token` field equals `ARGV[1]`.
static REMOVE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// Deletes `KEYS[1]` only if its value is still `ARGV[1]` (the owner who set it); answers 1 if it
/// did. The one owner-checked release of the workspace: the token refresh lock here and the pull
/// lease of `wxkf-bot` both use it.
#[doc(hidden)]
pub static COMPARE_AND_DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
",
    )
});

/// A [`TokenStore`] in Redis, shared by every process that uses the same server and key prefix.
///
/// The connection reconnects by itself after a Redis restart; while Redis is unreachable every
/// operation fails with an `std::io::Error` (the client reports it as
/// [`Error::TokenStore`](crate::Error::TokenStore)).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use wxkf_client::{Client, RedisTokenStore};
/// let store = RedisTokenStore::connect("redis://127.0.0.1:6379").await?.with_prefix("mybot:");
/// assert_eq!(store.prefix(), "mybot:");
/// let client = Client::builder("ww-corp", "app-secret").token_store(Arc::new(store)).build()?;
/// # let _ = client; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisTokenStore {
    conn: ConnectionManager,
    prefix: String,
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisTokenStore {
    /// Connects to the Redis server at `url` (`redis://host:port/db`, `rediss://…` is not enabled)
    /// with the [`DEFAULT_PREFIX`].
    pub async fn connect(url: &str) -> std::io::Result<Self> {
        let client = redis::Client::open(url).map_err(std::io::Error::other)?;
        let conn = ConnectionManager::new(client).await.map_err(std::io::Error::other)?;
        Ok(Self::from_connection(conn))
    }

    /// A store on an existing connection, with the [`DEFAULT_PREFIX`].
    pub fn from_connection(conn: ConnectionManager) -> Self {
        RedisTokenStore { conn, prefix: DEFAULT_PREFIX.to_owned() }
    }

    /// Puts every key of this store under `prefix` (processes that should share tokens must use the
    /// same prefix; use different ones to keep, for example, staging and production apart).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn redis_key(&self, key: &TokenKey) -> String {
        format!("{}token:{}", self.prefix, key.as_str())
    }

    fn lock_key(&self, key: &TokenKey) -> String {
        format!("{}lock:{}", self.prefix, key.as_str())
    }
}

fn to_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).unwrap_or(0)
}

/// A time read back from Redis (shared, so not trusted): a value past what `SystemTime` holds is
/// read as the epoch, which makes the token look expired (and so it is fetched again).
fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH.checked_add(Duration::from_millis(ms)).unwrap_or(UNIX_EPOCH)
}

#[async_trait::async_trait]
impl TokenStore for RedisTokenStore {
    async fn get(&self, key: &TokenKey) -> std::io::Result<Option<CachedToken>> {
        let mut conn = self.conn.clone();
        let (token, obtained_at, expires_at): (Option<String>, Option<u64>, Option<u64>) =
            redis::cmd("HMGET")
                .arg(self.redis_key(key))
                .arg("token")
                .arg("obtained_at")
                .arg("expires_at")
                .query_async(&mut conn)
                .await
                .map_err(std::io::Error::other)?;
        // A half-written or foreign value is treated as absent: the client fetches a new one.
        Ok(match (token, obtained_at, expires_at) {
            (Some(token), Some(obtained_at), Some(expires_at)) => Some(CachedToken {
                token: AccessToken::new(token),
                obtained_at: from_millis(obtained_at),
                expires_at: from_millis(expires_at),
            }),
            _ => None,
        })
    }

    async fn put_if_newer(&self, key: &TokenKey, token: CachedToken) -> std::io::Result<bool> {
        let mut conn = self.conn.clone();
        let stored: i64 = PUT_IF_NEWER
            .key(self.redis_key(key))
            .arg(token.token.expose_secret())
            .arg(to_millis(token.obtained_at))
            .arg(to_millis(token.expires_at))
            .invoke_async(&mut conn)
            .await
            .map_err(std::io::Error::other)?;
        Ok(stored == 1)
    }

    async fn remove_if(&self, key: &TokenKey, token: &AccessToken) -> std::io::Result<bool> {
        let mut conn = self.conn.clone();
        let removed: i64 = REMOVE_IF
            .key(self.redis_key(key))
            .arg(token.expose_secret())
            .invoke_async(&mut conn)
            .await
            .map_err(std::io::Error::other)?;
        Ok(removed == 1)
    }

    async fn try_lock_refresh(&self, key: &TokenKey, lease: Duration) -> std::io::Result<RefreshLockAttempt> {
        let mut conn = self.conn.clone();
        let lock_key = self.lock_key(key);
        let owner = format!("{:032x}", rand::random::<u128>());
        let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX).max(1);
        let taken: Option<String> = redis::cmd("SET")
            .arg(&lock_key)
            .arg(&owner)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms)
            .query_async(&mut conn)
            .await
            .map_err(std::io::Error::other)?;
        if taken.is_none() {
            return Ok(RefreshLockAttempt::Busy);
        }
        Ok(RefreshLockAttempt::Acquired(RefreshLease::new(async move {
            let released: Result<i64, _> =
                COMPARE_AND_DELETE.key(&lock_key).arg(&owner).invoke_async(&mut conn).await;
            if let Err(err) = released {
                // The lease runs out by itself; until then other processes wait for the token.
                tracing::warn!(error = %crate::error::chain(&err), "releasing the token refresh lock in Redis failed");
            }
        })))
    }
}
