//! [`RedisTokenStore`] against a real Redis server (`REDIS_URL`, default `redis://127.0.0.1:6379`):
//! compare-and-set-if-newer, compare-and-delete, and several clients sharing one token.
//!
//! With no server answering, each test fails. `WXKF_SKIP_REDIS=1` skips them on purpose (each prints
//! a note and passes without connecting); CI never sets it.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime};

use serde_json::json;
use support::*;
use wiremock::Mock;
use wiremock::matchers::{method, path, query_param};
use wxkf_client::{
    AccessToken, CachedToken, CorpSecret, RedisTokenStore, RefreshLease, RefreshLockAttempt, TokenKey,
    TokenStore,
};
use wxkf_types::Endpoint;

/// The variable that skips these tests on purpose, when set to `1` (CI never sets it).
const SKIP_VAR: &str = "WXKF_SKIP_REDIS";

/// A store with a prefix no other test (or earlier run) uses; `None` only when skipped with
/// `WXKF_SKIP_REDIS=1`. Panics when no Redis answers within 3 s.
async fn store(test: &str) -> Option<RedisTokenStore> {
    if std::env::var(SKIP_VAR).as_deref() == Ok("1") {
        eprintln!("note: {test} skipped: {SKIP_VAR}=1");
        return None;
    }
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    Some(store_at(&url, test).await)
}

/// A store on the Redis at `url` with a prefix of the test's own. Panics when no Redis answers
/// within 3 s.
async fn store_at(url: &str, test: &str) -> RedisTokenStore {
    let why = match tokio::time::timeout(Duration::from_secs(3), RedisTokenStore::connect(url)).await {
        Ok(Ok(store)) => {
            let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
            return store.with_prefix(format!("wxkf-test:{test}:{}:{nanos}:", std::process::id()));
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => "connect timed out".to_owned(),
    };
    panic!(
        "no Redis server answers at {url} ({why}): start one (`redis-server --save '' --port 6379`) or point \
         REDIS_URL at one; to skip the Redis tests on purpose set {SKIP_VAR}=1"
    );
}

/// Without a server these tests fail rather than pass: what `store` does when `WXKF_SKIP_REDIS` is
/// not set (port 1 on localhost has no Redis).
#[tokio::test]
#[should_panic(expected = "no Redis server answers at redis://127.0.0.1:1")]
async fn no_redis_server_is_a_failure_not_a_skip() {
    store_at("redis://127.0.0.1:1", "no_server").await;
}

/// A second connection with the same prefix: what another process would have.
async fn twin(store: &RedisTokenStore) -> RedisTokenStore {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    RedisTokenStore::connect(&url).await.unwrap().with_prefix(store.prefix())
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis()
}

fn now_token(value: &str, obtained_at: SystemTime) -> CachedToken {
    CachedToken::new(AccessToken::new(value), obtained_at, Duration::from_secs(7200))
}

#[tokio::test]
async fn an_older_token_never_overwrites_a_newer_one() {
    let Some(store) = store("older").await else { return };
    let other = twin(&store).await;
    let key = TokenKey::new("ww1", &CorpSecret::new("s"));
    let base = SystemTime::now();
    let newer = now_token("newer", base + Duration::from_secs(10));
    let older = now_token("older", base);
    assert_eq!(store.get(&key).await.unwrap(), None);
    assert!(store.put_if_newer(&key, newer.clone()).await.unwrap());
    assert!(!other.put_if_newer(&key, older).await.unwrap());
    // same instant, different value: the stored one stays
    assert!(!other.put_if_newer(&key, now_token("rival", base + Duration::from_secs(10))).await.unwrap());
    let got = other.get(&key).await.unwrap().unwrap();
    assert_eq!(got.token.expose_secret(), "newer");
    // times survive the round trip to the millisecond
    assert_eq!(millis(got.obtained_at), millis(newer.obtained_at));
    assert_eq!(got.expires_at.duration_since(got.obtained_at).unwrap(), Duration::from_secs(7200));
    // a newer one does replace it
    let newest = now_token("newest", base + Duration::from_secs(20));
    assert!(other.put_if_newer(&key, newest).await.unwrap());
    assert_eq!(store.get(&key).await.unwrap().unwrap().token.expose_secret(), "newest");
    // keys of other apps are separate
    let key_b = TokenKey::new("ww1", &CorpSecret::new("t"));
    assert_eq!(store.get(&key_b).await.unwrap(), None);
}

#[tokio::test]
async fn compare_and_delete_removes_only_the_matching_token() {
    let Some(store) = store("cad").await else { return };
    let other = twin(&store).await;
    let key = TokenKey::new("ww1", &CorpSecret::new("s"));
    assert!(store.put_if_newer(&key, now_token("current", SystemTime::now())).await.unwrap());
    assert!(!other.remove_if(&key, &AccessToken::new("stale")).await.unwrap());
    assert_eq!(store.get(&key).await.unwrap().unwrap().token.expose_secret(), "current");
    assert!(other.remove_if(&key, &AccessToken::new("current")).await.unwrap());
    assert_eq!(store.get(&key).await.unwrap(), None);
    assert!(!store.remove_if(&key, &AccessToken::new("current")).await.unwrap());
}

#[tokio::test]
async fn an_expired_token_leaves_redis_with_its_key() {
    let Some(store) = store("ttl").await else { return };
    let key = TokenKey::new("ww1", &CorpSecret::new("s"));
    let short = CachedToken::new(AccessToken::new("short"), SystemTime::now(), Duration::from_millis(300));
    assert!(store.put_if_newer(&key, short).await.unwrap());
    assert!(store.get(&key).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.get(&key).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_across_clients_sharing_redis_fetch_one_token() {
    let Some(store) = store("shared").await else { return };
    let server = server().await;
    mount_gettoken(&server, Duration::from_millis(200), 7200, 1).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .and(query_param("access_token", "tok-1"))
        .respond_with(ok_json(json!({"errcode": 0, "errmsg": "ok", "value": "v"})))
        .expect(50)
        .mount(&server)
        .await;
    let mut clients = Vec::new();
    clients.push(builder(&server).token_store(std::sync::Arc::new(store.clone())).build().unwrap());
    for _ in 0..2 {
        let own = twin(&store).await;
        clients.push(builder(&server).token_store(std::sync::Arc::new(own)).build().unwrap());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let client = clients[i % clients.len()].clone();
        tasks.spawn(async move { client.execute(&echo()).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap(), EchoResponse { value: "v".into() });
    }
    server.verify().await;
}

#[tokio::test]
async fn a_token_invalidated_by_one_client_is_refreshed_once_and_the_other_uses_the_new_one() {
    let Some(store) = store("invalidated").await else { return };
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 2).await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .and(query_param("access_token", "tok-1"))
        .respond_with(api_error(40014, "invalid access_token"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(Echo::PATH))
        .and(query_param("access_token", "tok-2"))
        .respond_with(ok_json(json!({"errcode": 0, "errmsg": "ok", "value": "v"})))
        .expect(2)
        .mount(&server)
        .await;
    let a = builder(&server).token_store(std::sync::Arc::new(store.clone())).build().unwrap();
    let b = builder(&server).token_store(std::sync::Arc::new(twin(&store).await)).build().unwrap();
    assert_eq!(b.access_token().await.unwrap().expose_secret(), "tok-1");
    assert_eq!(a.execute(&echo()).await.unwrap().value, "v");
    assert_eq!(b.access_token().await.unwrap().expose_secret(), "tok-2");
    assert_eq!(b.execute(&echo()).await.unwrap().value, "v");
    server.verify().await;
}

async fn acquire(store: &RedisTokenStore, key: &TokenKey, lease: Duration) -> Option<RefreshLease> {
    match store.try_lock_refresh(key, lease).await.unwrap() {
        RefreshLockAttempt::Acquired(lease) => Some(lease),
        RefreshLockAttempt::Busy => None,
        other => panic!("a Redis store has a lock, got {other:?}"),
    }
}

#[tokio::test]
async fn the_refresh_lock_has_one_holder_and_only_the_owner_frees_it() {
    let Some(a) = store("lock").await else { return };
    let b = twin(&a).await;
    let key = TokenKey::new("ww1", &CorpSecret::new("s"));
    let held = acquire(&a, &key, Duration::from_secs(10)).await.unwrap();
    assert!(acquire(&b, &key, Duration::from_secs(10)).await.is_none());
    assert!(acquire(&a, &key, Duration::from_secs(10)).await.is_none());
    // another app's lock is separate
    let other_app = acquire(&b, &TokenKey::new("ww1", &CorpSecret::new("t")), Duration::from_secs(10)).await;
    other_app.unwrap().release().await;
    held.release().await;
    let by_b = acquire(&b, &key, Duration::from_secs(10)).await.unwrap();
    by_b.release().await;

    // a lease that ran out frees the lock, and its late release leaves the next owner's lock alone
    let short = acquire(&a, &key, Duration::from_millis(150)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let next = acquire(&b, &key, Duration::from_secs(10)).await.unwrap();
    short.release().await;
    assert!(acquire(&a, &key, Duration::from_secs(10)).await.is_none());
    next.release().await;
    acquire(&a, &key, Duration::from_secs(10)).await.unwrap().release().await;
}

#[tokio::test]
async fn a_client_waits_for_the_token_another_process_is_fetching() {
    let Some(store) = store("wait").await else { return };
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 0).await;
    let client = builder(&server).token_store(std::sync::Arc::new(store.clone())).build().unwrap();
    // "another process" holds the refresh lock of this client's key
    let other = twin(&store).await;
    let key = TokenKey::new(CORP_ID, &CorpSecret::new(secret_for(&server)));
    let lease = acquire(&other, &key, Duration::from_secs(10)).await.unwrap();
    let waiting = tokio::spawn(async move { client.access_token().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the client must wait while another process refreshes");
    assert!(other.put_if_newer(&key, now_token("from-other", SystemTime::now())).await.unwrap());
    let token = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap().unwrap();
    assert_eq!(token.expose_secret(), "from-other");
    lease.release().await;
    server.verify().await;
}

#[tokio::test]
async fn a_lock_holder_that_gives_up_lets_a_waiting_client_fetch() {
    let Some(store) = store("giveup").await else { return };
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    let client = builder(&server).token_store(std::sync::Arc::new(store.clone())).build().unwrap();
    let other = twin(&store).await;
    let key = TokenKey::new(CORP_ID, &CorpSecret::new(secret_for(&server)));
    let lease = acquire(&other, &key, Duration::from_secs(10)).await.unwrap();
    let waiting = tokio::spawn(async move { client.access_token().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    lease.release().await;
    let token = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap().unwrap();
    assert_eq!(token.expose_secret(), "tok-1");
    assert_eq!(store.get(&key).await.unwrap().unwrap().token.expose_secret(), "tok-1");
    server.verify().await;
}

/// The Redis store, except that right before the refresh lock is taken "another process" finishes
/// its own refresh (stores a fresh token and frees the lock): the moment between a client seeing
/// its token due for refresh and taking the lock.
#[derive(Debug)]
struct RefreshedMeanwhile {
    redis: RedisTokenStore,
    other: RedisTokenStore,
}

#[async_trait::async_trait]
impl TokenStore for RefreshedMeanwhile {
    async fn get(&self, key: &TokenKey) -> std::io::Result<Option<CachedToken>> {
        self.redis.get(key).await
    }

    async fn put_if_newer(&self, key: &TokenKey, token: CachedToken) -> std::io::Result<bool> {
        self.redis.put_if_newer(key, token).await
    }

    async fn remove_if(&self, key: &TokenKey, token: &AccessToken) -> std::io::Result<bool> {
        self.redis.remove_if(key, token).await
    }

    async fn try_lock_refresh(&self, key: &TokenKey, lease: Duration) -> std::io::Result<RefreshLockAttempt> {
        self.other.put_if_newer(key, now_token("from-other", SystemTime::now())).await?;
        self.redis.try_lock_refresh(key, lease).await
    }
}

#[tokio::test]
async fn a_refresh_ahead_rechecks_the_store_after_taking_the_lock() {
    let Some(store) = store("recheck").await else { return };
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 0).await;
    let key = TokenKey::new(CORP_ID, &CorpSecret::new(secret_for(&server)));
    // valid for 200 s more: inside the default 300 s refresh margin, so the client refreshes ahead
    let due = now_token("due", SystemTime::now() - Duration::from_secs(7000));
    assert!(store.put_if_newer(&key, due).await.unwrap());
    let wrapped = RefreshedMeanwhile { other: twin(&store).await, redis: store };
    let client = builder(&server).token_store(std::sync::Arc::new(wrapped)).build().unwrap();
    let token = client.access_token().await.unwrap();
    assert_eq!(token.expose_secret(), "from-other", "the token another process stored meanwhile");
    server.verify().await;
}
