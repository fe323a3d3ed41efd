//! Access tokens: secret newtypes, the cache key, the pluggable [`TokenStore`] and the single-flight
//! refresh logic (kf-api.md §1).
//!
//! Rules kept here:
//! - a token is refreshed ahead of its expiry (a configurable margin), and while one task refreshes
//!   ahead, the others keep using the still-valid token instead of waiting;
//! - any number of concurrent callers on a cold or expired cache cause one `gettoken` (one per
//!   cache key, host and process: the refresh lock is shared by every client with the same key and
//!   base URL; and one across processes when the store has a cross-process lock,
//!   [`TokenStore::try_lock_refresh`]);
//! - that fetch's *outcome* is shared: callers queued behind it take its token or its error (after
//!   its retries), so an outage costs one retry sequence, not one per caller;
//! - after a token error only the token that failed is dropped (compare-and-delete), so a token
//!   another task just fetched survives;
//! - a stored token is never replaced by one fetched earlier (compare-and-set-if-newer).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::{Error, chain};

/// A boxed, `Send` future (the paging streams and [`RefreshLease`] hold one).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An access token (kf-api.md §1): sent as the `access_token` query parameter of every call.
///
/// `Debug` is redacted and there is no `Display`, so it cannot end up in a log by accident; call
/// [`AccessToken::expose_secret`] where the value itself is needed.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token value.
    pub fn new(token: impl Into<String>) -> Self {
        AccessToken(token.into())
    }

    /// The token itself. Do not log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// The app secret (`corpsecret` of `gettoken`, kf-api.md §1).
///
/// `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct CorpSecret(String);

impl CorpSecret {
    /// Wraps a secret value.
    pub fn new(secret: impl Into<String>) -> Self {
        CorpSecret(secret.into())
    }

    /// The secret itself. Do not log it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CorpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CorpSecret(<redacted>)")
    }
}

impl From<String> for CorpSecret {
    fn from(s: String) -> Self {
        CorpSecret(s)
    }
}

impl From<&str> for CorpSecret {
    fn from(s: &str) -> Self {
        CorpSecret(s.to_owned())
    }
}

/// The cache key of a token: the corp id and a hash of the app secret.
///
/// One corp often has several apps, each with its own secret and token, so the corp id alone is not
/// enough; the secret itself never appears in a key (only the first 128 bits of a SHA-256 over it,
/// hex). Format: `wxkf:access_token:<corpid>:<32 hex digits>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenKey(String);

impl TokenKey {
    /// The key for a corp id and app secret.
    pub fn new(corp_id: &str, secret: &CorpSecret) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"wxkf-token-key\0");
        hasher.update(secret.expose_secret().as_bytes());
        let digest = hasher.finalize();
        TokenKey(format!("wxkf:access_token:{corp_id}:{}", hex::encode(&digest[..16])))
    }

    /// The key as a string (safe to log and to use as a key in a shared cache).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenKey").field(&self.0).finish()
    }
}

impl fmt::Display for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest lifetime a token is given, whatever `expires_in` said: one day.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A token with the time it was obtained and the time it expires.
///
/// Times are wall-clock ([`SystemTime`]) so a store shared between processes can compare them.
/// `obtained_at` is when the `gettoken` request was *sent*, so `expires_at` errs on the early side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// The token.
    pub token: AccessToken,
    /// When the `gettoken` request that produced it was sent; orders tokens (newer wins).
    pub obtained_at: SystemTime,
    /// When WeCom stops accepting it (`obtained_at + expires_in`).
    pub expires_at: SystemTime,
}

/// How usable a cached token is at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Use it.
    Fresh,
    /// Still valid, but inside the refresh margin: refresh if nobody else is.
    RefreshDue,
    /// Expired: must refresh before use.
    Expired,
}

impl CachedToken {
    /// A token obtained at `obtained_at` that lives `expires_in`, cut to at most one day (WeCom
    /// documents 7200 s; see [`MAX_TOKEN_LIFETIME`]). Never panics: if even that cannot be added
    /// to `obtained_at`, the token counts as expired at once.
    pub fn new(token: AccessToken, obtained_at: SystemTime, expires_in: Duration) -> Self {
        let expires_at = obtained_at.checked_add(expires_in.min(MAX_TOKEN_LIFETIME)).unwrap_or(obtained_at);
        CachedToken { token, obtained_at, expires_at }
    }

    /// Whether WeCom still accepts the token at `now`.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        now < self.expires_at
    }

    /// Freshness at `now` with a refresh `margin` (capped at half the token's lifetime, so short-lived
    /// tokens are not refreshed on every call).
    pub(crate) fn freshness(&self, now: SystemTime, margin: Duration) -> Freshness {
        let lifetime = self.expires_at.duration_since(self.obtained_at).unwrap_or_default();
        let margin = margin.min(lifetime / 2);
        let refresh_at = self.expires_at.checked_sub(margin).unwrap_or(self.obtained_at);
        if now < refresh_at {
            Freshness::Fresh
        } else if now < self.expires_at {
            Freshness::RefreshDue
        } else {
            Freshness::Expired
        }
    }
}

pub use crate::store_error::TokenStoreError;

/// Where access tokens are cached: in memory by default ([`MemoryTokenStore`]); a shared store
/// (Redis, …) can be plugged in so several processes use one token.
///
/// Implementations must make [`put_if_newer`](TokenStore::put_if_newer) and
/// [`remove_if`](TokenStore::remove_if) atomic compare-and-set / compare-and-delete operations.
/// The client's single-flight guarantee covers one process; across processes it holds when the store
/// implements [`try_lock_refresh`](TokenStore::try_lock_refresh), and in any case the store's
/// compare-and-set keeps the newest token.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug + 'static {
    /// The token stored under `key`, if any (expired ones may be returned; the client checks).
    async fn get(&self, key: &TokenKey) -> std::io::Result<Option<CachedToken>>;

    /// Stores `token` unless the stored one was obtained later (or at the same time with a different
    /// value). Returns whether `token` was stored.
    async fn put_if_newer(&self, key: &TokenKey, token: CachedToken) -> std::io::Result<bool>;

    /// Removes the token stored under `key` only if it equals `token`. Returns whether it was removed.
    async fn remove_if(&self, key: &TokenKey, token: &AccessToken) -> std::io::Result<bool>;

    /// Tries to take the cross-process refresh lock of `key` for at most `lease`, so that one
    /// process of all those sharing the store fetches a new token. Stores shared between processes
    /// implement it (Redis: `SET NX PX` with a compare-and-delete release); the default answers
    /// [`RefreshLockAttempt::Unsupported`], and then only the in-process lock applies.
    async fn try_lock_refresh(&self, key: &TokenKey, lease: Duration) -> std::io::Result<RefreshLockAttempt> {
        let _ = (key, lease);
        Ok(RefreshLockAttempt::Unsupported)
    }
}

/// The outcome of [`TokenStore::try_lock_refresh`].
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshLockAttempt {
    /// The store has no cross-process lock.
    Unsupported,
    /// Taken: this process refreshes, then calls [`RefreshLease::release`].
    Acquired(RefreshLease),
    /// Another process holds it: wait for the token it stores.
    Busy,
}

/// A held cross-process refresh lock. Release it with [`release`](Self::release); one dropped
/// without a release (a cancelled task) frees itself when its lease runs out.
#[must_use = "a lease that is not released blocks other processes until it runs out"]
pub struct RefreshLease {
    release: BoxFuture<'static, ()>,
}

impl RefreshLease {
    /// A lease released by running `release` (which must free the lock only if this lease still
    /// owns it).
    pub fn new(release: impl Future<Output = ()> + Send + 'static) -> Self {
        RefreshLease { release: Box::pin(release) }
    }

    /// Frees the lock.
    pub async fn release(self) {
        self.release.await
    }
}

impl fmt::Debug for RefreshLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshLease")
    }
}

/// The default [`TokenStore`]: a map in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<TokenKey, CachedToken>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_map<T>(&self, f: impl FnOnce(&mut HashMap<TokenKey, CachedToken>) -> T) -> T {
        // A panic while holding the lock cannot leave the map half-updated (every operation is one
        // insert or remove), so a poisoned lock is safe to keep using.
        let mut map = self.tokens.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut map)
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn get(&self, key: &TokenKey) -> std::io::Result<Option<CachedToken>> {
        Ok(self.with_map(|map| map.get(key).cloned()))
    }

    async fn put_if_newer(&self, key: &TokenKey, token: CachedToken) -> std::io::Result<bool> {
        let stored = self.with_map(|map| {
            let keep_existing = map.get(key).is_some_and(|old| {
                old.obtained_at > token.obtained_at
                    || (old.obtained_at == token.obtained_at && old.token != token.token)
            });
            if !keep_existing {
                map.insert(key.clone(), token);
            }
            !keep_existing
        });
        Ok(stored)
    }

    async fn remove_if(&self, key: &TokenKey, token: &AccessToken) -> std::io::Result<bool> {
        let removed = self.with_map(|map| {
            if map.get(key).is_some_and(|old| &old.token == token) {
                map.remove(key);
                true
            } else {
                false
            }
        });
        Ok(removed)
    }
}

/// The in-process refresh state of one cache key: a lock that one fetch at a time holds, and the
/// outcome of the last fetch, so that callers who queued behind a fetch take its outcome, success
/// *or failure*, instead of each running a fetch of their own (issue 15: while `gettoken` failed,
/// 200 waiters made 800 calls, one retry sequence each).
#[derive(Debug, Default)]
struct RefreshLock {
    /// Held while a fetch runs; holds the outcome of the last one that finished.
    last: tokio::sync::Mutex<Option<Result<AccessToken, Error>>>,
    /// How many fetches have finished; bumped, with `last` written, before the lock is released.
    finished: AtomicU64,
}

impl RefreshLock {
    /// A ticket to take before looking at the store: the outcome of any fetch that finishes after
    /// it is an answer for its holder.
    fn ticket(&self) -> u64 {
        self.finished.load(Ordering::Acquire)
    }

    /// Records the outcome of the fetch run under `guard`, for everyone queued behind it.
    fn publish(&self, guard: &mut Option<Result<AccessToken, Error>>, outcome: &Result<AccessToken, Error>) {
        *guard = Some(outcome.clone());
        self.finished.fetch_add(1, Ordering::Release);
    }

    /// The outcome of a fetch that finished since `ticket` was taken, if any.
    fn shared_outcome(
        &self,
        guard: &Option<Result<AccessToken, Error>>,
        ticket: u64,
    ) -> Option<Result<AccessToken, Error>> {
        if self.finished.load(Ordering::Acquire) == ticket {
            return None;
        }
        guard.clone()
    }
}

/// Refresh locks by cache key and base URL, shared by every client of this process, so two
/// clients built with the same corp id, secret and host still fetch one token at a time. The host
/// is part of the key because the lock also hands out tokens: one fetched from a simulator or a
/// proxy is no answer for a client of another.
static REFRESH_LOCKS: LazyLock<Mutex<HashMap<LockId, Weak<RefreshLock>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// What a refresh lock is shared by: the token's cache key and the base URL.
type LockId = (TokenKey, String);

fn refresh_lock_for(key: &TokenKey, base_url: &str) -> Arc<RefreshLock> {
    let mut locks = REFRESH_LOCKS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let id = (key.clone(), base_url.to_owned());
    if let Some(lock) = locks.get(&id).and_then(Weak::upgrade) {
        return lock;
    }
    locks.retain(|_, weak| weak.strong_count() > 0);
    let lock = Arc::new(RefreshLock::default());
    locks.insert(id, Arc::downgrade(&lock));
    lock
}

fn store_error(source: std::io::Error) -> Error {
    Error::TokenStore { source: TokenStoreError::new(source) }
}

/// How long a cross-process refresh lock is held at most (a `gettoken` with its retries should be
/// far quicker; if not, a second process may fetch too, which `put_if_newer` makes harmless).
const REFRESH_LEASE: Duration = Duration::from_secs(30);

/// How often a process waiting for another's refresh looks at the store.
const REFRESH_POLL: Duration = Duration::from_millis(50);

/// The result of taking the cross-process refresh lock.
enum CrossLock {
    /// Refresh now (holding the lease, if the store has a lock).
    Refresh(Option<RefreshLease>),
    /// Another process stored a usable token meanwhile.
    Token(AccessToken),
    /// Another process holds the lock and the caller chose not to wait.
    Busy,
}

/// The token cache of one client: key, store, refresh lock and margin.
pub(crate) struct TokenManager {
    key: TokenKey,
    store: Arc<dyn TokenStore>,
    lock: Arc<RefreshLock>,
    margin: Duration,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("key", &self.key)
            .field("store", &self.store)
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    pub(crate) fn new(key: TokenKey, base_url: &str, store: Arc<dyn TokenStore>, margin: Duration) -> Self {
        let lock = refresh_lock_for(&key, base_url);
        TokenManager { key, store, lock, margin }
    }

    pub(crate) fn key(&self) -> &TokenKey {
        &self.key
    }

    async fn stored(&self) -> Result<Option<CachedToken>, Error> {
        self.store.get(&self.key).await.map_err(store_error)
    }

    /// Takes the store's cross-process refresh lock, then checks the store once more (another
    /// process may have refreshed between the caller's look and the lock). `usable` says whether a
    /// stored token makes the refresh unnecessary. While another process holds the lock: with
    /// `wait`, watches the store for the token it stores; without, answers [`CrossLock::Busy`].
    async fn cross_lock(
        &self,
        usable: impl Fn(&CachedToken) -> bool,
        wait: bool,
    ) -> Result<CrossLock, Error> {
        loop {
            match self.store.try_lock_refresh(&self.key, REFRESH_LEASE).await.map_err(store_error)? {
                RefreshLockAttempt::Unsupported => return Ok(CrossLock::Refresh(None)),
                RefreshLockAttempt::Acquired(lease) => {
                    let stored = match self.stored().await {
                        Ok(stored) => stored,
                        Err(err) => {
                            lease.release().await;
                            return Err(err);
                        }
                    };
                    if let Some(cached) = stored
                        && usable(&cached)
                    {
                        lease.release().await;
                        return Ok(CrossLock::Token(cached.token));
                    }
                    return Ok(CrossLock::Refresh(Some(lease)));
                }
                RefreshLockAttempt::Busy if !wait => return Ok(CrossLock::Busy),
                RefreshLockAttempt::Busy => {
                    tokio::time::sleep(REFRESH_POLL).await;
                    if let Some(cached) = self.stored().await?
                        && usable(&cached)
                    {
                        return Ok(CrossLock::Token(cached.token));
                    }
                }
            }
        }
    }

    /// [`fetch_and_store`](Self::fetch_and_store) under the cross-process lock.
    async fn fetch_locked<F, Fut>(
        &self,
        usable: impl Fn(&CachedToken) -> bool,
        fetch: F,
    ) -> Result<AccessToken, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken, Error>>,
    {
        let lease = match self.cross_lock(usable, true).await? {
            CrossLock::Token(token) => return Ok(token),
            // (not answered when waiting)
            CrossLock::Busy => None,
            CrossLock::Refresh(lease) => lease,
        };
        let result = self.fetch_and_store(fetch).await;
        if let Some(lease) = lease {
            lease.release().await;
        }
        result
    }

    /// A usable token: the cached one, or one fetched with `fetch` (at most one fetch at a time).
    ///
    /// Callers that queue while a fetch runs take its outcome, token or error, so one outage costs
    /// one retry sequence however many callers wait, and each of them is answered when it ends.
    pub(crate) async fn current<F, Fut>(&self, fetch: F) -> Result<AccessToken, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken, Error>>,
    {
        // Taken before the store is read: a fetch that ends after this point answers this call.
        let ticket = self.lock.ticket();
        if let Some(cached) = self.stored().await? {
            match cached.freshness(SystemTime::now(), self.margin) {
                Freshness::Fresh => return Ok(cached.token),
                Freshness::RefreshDue => {
                    // Refresh ahead only if nobody else is; otherwise the old token is still good.
                    let Ok(mut guard) = self.lock.last.try_lock() else { return Ok(cached.token) };
                    if let Some(now_cached) = self.stored().await?
                        && now_cached.freshness(SystemTime::now(), self.margin) == Freshness::Fresh
                    {
                        return Ok(now_cached.token);
                    }
                    // Across processes too: if another one is refreshing, keep the current token.
                    let margin = self.margin;
                    let fresh = |c: &CachedToken| c.freshness(SystemTime::now(), margin) == Freshness::Fresh;
                    let lease = match self.cross_lock(fresh, false).await? {
                        CrossLock::Token(token) => return Ok(token),
                        CrossLock::Busy => return Ok(cached.token),
                        CrossLock::Refresh(lease) => lease,
                    };
                    let result = self.fetch_and_store(fetch).await;
                    if let Some(lease) = lease {
                        lease.release().await;
                    }
                    self.lock.publish(&mut guard, &result);
                    return match result {
                        Ok(token) => Ok(token),
                        Err(err) if cached.is_valid_at(SystemTime::now()) => {
                            tracing::warn!(key = %self.key, error = %chain(&err), "refreshing the access token ahead of expiry failed; using the current one");
                            Ok(cached.token)
                        }
                        Err(err) => Err(err),
                    };
                }
                Freshness::Expired => {}
            }
        }
        let mut guard = self.lock.last.lock().await;
        if let Some(outcome) = self.lock.shared_outcome(&guard, ticket) {
            return outcome;
        }
        // Whoever held the lock before us has probably just stored a fresh token.
        if let Some(cached) = self.stored().await?
            && cached.freshness(SystemTime::now(), self.margin) != Freshness::Expired
        {
            return Ok(cached.token);
        }
        let margin = self.margin;
        let result =
            self.fetch_locked(|c| c.freshness(SystemTime::now(), margin) != Freshness::Expired, fetch).await;
        self.lock.publish(&mut guard, &result);
        result
    }

    /// Fetches a new token even if the cached one looks fresh; concurrent forced refreshes share one
    /// fetch (a caller that waited while another fetched takes that outcome, token or error).
    pub(crate) async fn refresh<F, Fut>(&self, fetch: F) -> Result<AccessToken, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken, Error>>,
    {
        let ticket = self.lock.ticket();
        let before = self.stored().await?.map(|cached| cached.token);
        let mut guard = self.lock.last.lock().await;
        if let Some(outcome) = self.lock.shared_outcome(&guard, ticket) {
            return outcome;
        }
        if let Some(cached) = self.stored().await?
            && Some(&cached.token) != before.as_ref()
            && cached.is_valid_at(SystemTime::now())
        {
            return Ok(cached.token);
        }
        let replaced =
            |c: &CachedToken| Some(&c.token) != before.as_ref() && c.is_valid_at(SystemTime::now());
        let result = self.fetch_locked(replaced, fetch).await;
        self.lock.publish(&mut guard, &result);
        result
    }

    /// Drops `failed` from the store, unless another token has replaced it already.
    pub(crate) async fn invalidate(&self, failed: &AccessToken) -> Result<bool, Error> {
        self.store.remove_if(&self.key, failed).await.map_err(store_error)
    }

    async fn fetch_and_store<F, Fut>(&self, fetch: F) -> Result<AccessToken, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken, Error>>,
    {
        let fetched = fetch().await?;
        if self.store.put_if_newer(&self.key, fetched.clone()).await.map_err(store_error)? {
            return Ok(fetched.token);
        }
        // Someone (another process sharing the store) stored a newer token meanwhile: use it.
        match self.stored().await? {
            Some(newer) if newer.is_valid_at(SystemTime::now()) => Ok(newer.token),
            _ => Ok(fetched.token),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn key_hides_the_secret_and_separates_apps() {
        let a = TokenKey::new("ww123", &CorpSecret::new("secret-a"));
        let b = TokenKey::new("ww123", &CorpSecret::new("secret-b"));
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("wxkf:access_token:ww123:"));
        assert!(!a.as_str().contains("secret-a"));
        assert_eq!(a.as_str().len(), "wxkf:access_token:ww123:".len() + 32);
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        assert_eq!(format!("{:?}", AccessToken::new("tok-123")), "AccessToken(<redacted>)");
        assert_eq!(format!("{:?}", CorpSecret::new("s3cr3t")), "CorpSecret(<redacted>)");
        let cached = CachedToken::new(AccessToken::new("tok-123"), at(0), Duration::from_secs(7200));
        assert!(!format!("{cached:?}").contains("tok-123"));
    }

    #[test]
    fn lifetimes_are_cut_to_a_day_and_never_overflow() {
        let t = CachedToken::new(AccessToken::new("t"), at(1000), Duration::MAX);
        assert_eq!(t.expires_at, at(1000) + MAX_TOKEN_LIFETIME);
        let t = CachedToken::new(AccessToken::new("t"), at(1000), Duration::from_secs(7200));
        assert_eq!(t.expires_at, at(1000 + 7200));
        // a time so late that even a day cannot be added: expired at once instead of a panic
        let (mut late, mut step) = (SystemTime::UNIX_EPOCH, Duration::from_secs(1 << 62));
        while step >= Duration::from_secs(1) {
            match late.checked_add(step) {
                Some(later) => late = later,
                None => step /= 2,
            }
        }
        assert!(late.checked_add(Duration::from_secs(1)).is_none());
        let t = CachedToken::new(AccessToken::new("t"), late, Duration::from_secs(7200));
        assert_eq!(t.expires_at, late);
        assert_eq!(t.freshness(late, Duration::from_secs(300)), Freshness::Expired);
    }

    #[test]
    fn freshness_honours_margin_capped_at_half_lifetime() {
        let t = CachedToken::new(AccessToken::new("t"), at(1000), Duration::from_secs(7200));
        let margin = Duration::from_secs(300);
        assert_eq!(t.freshness(at(1000 + 6899), margin), Freshness::Fresh);
        assert_eq!(t.freshness(at(1000 + 6900), margin), Freshness::RefreshDue);
        assert_eq!(t.freshness(at(1000 + 7200), margin), Freshness::Expired);
        let short = CachedToken::new(AccessToken::new("t"), at(1000), Duration::from_secs(10));
        assert_eq!(short.freshness(at(1004), margin), Freshness::Fresh);
        assert_eq!(short.freshness(at(1005), margin), Freshness::RefreshDue);
    }

    #[tokio::test]
    async fn memory_store_never_overwrites_with_older_and_deletes_only_matching() {
        let store = MemoryTokenStore::new();
        let key = TokenKey::new("ww1", &CorpSecret::new("s"));
        let newer = CachedToken::new(AccessToken::new("newer"), at(200), Duration::from_secs(7200));
        let older = CachedToken::new(AccessToken::new("older"), at(100), Duration::from_secs(7200));
        assert!(store.put_if_newer(&key, newer.clone()).await.unwrap());
        assert!(!store.put_if_newer(&key, older).await.unwrap());
        assert_eq!(store.get(&key).await.unwrap(), Some(newer.clone()));

        assert!(!store.remove_if(&key, &AccessToken::new("older")).await.unwrap());
        assert_eq!(store.get(&key).await.unwrap(), Some(newer));
        assert!(store.remove_if(&key, &AccessToken::new("newer")).await.unwrap());
        assert_eq!(store.get(&key).await.unwrap(), None);
        // an in-process store has no cross-process lock
        let attempt = store.try_lock_refresh(&key, Duration::from_secs(1)).await.unwrap();
        assert!(matches!(attempt, RefreshLockAttempt::Unsupported));
    }

    #[test]
    fn refresh_lock_is_shared_per_key_and_host() {
        let key = TokenKey::new("ww-lock", &CorpSecret::new("s"));
        let a = refresh_lock_for(&key, "http://h");
        let b = refresh_lock_for(&key, "http://h");
        assert!(Arc::ptr_eq(&a, &b));
        let other = refresh_lock_for(&TokenKey::new("ww-lock", &CorpSecret::new("t")), "http://h");
        assert!(!Arc::ptr_eq(&a, &other));
        let other_host = refresh_lock_for(&key, "http://elsewhere");
        assert!(!Arc::ptr_eq(&a, &other_host));
    }
}
