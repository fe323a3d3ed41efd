//! [`RedisCursorStore`] against a real Redis server (`REDIS_URL`, default `redis://127.0.0.1:6379`).
//!
//! With no server answering, each test prints a note and passes, unless `CI=true`: then it fails.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

mod support;

use support::{redis, url};
use wxkf_bot::{CursorStore, RedisCursorStore};

/// A store with a prefix no other test (or earlier run) uses, or `None` when no Redis answers
/// outside CI.
async fn store(test: &str) -> Option<RedisCursorStore> {
    let (conn, prefix) = redis(test).await?;
    Some(RedisCursorStore::from_connection(conn).with_prefix(prefix))
}

#[tokio::test]
async fn save_load_and_overwrite_per_open_kfid() {
    let Some(store) = store("cursor").await else { return };
    assert_eq!(store.load("wk1").await.unwrap(), None);
    store.save("wk1", "c1").await.unwrap();
    store.save("wk2", "x").await.unwrap();
    assert_eq!(store.load("wk1").await.unwrap().as_deref(), Some("c1"));
    store.save("wk1", "c2").await.unwrap();
    assert_eq!(store.load("wk1").await.unwrap().as_deref(), Some("c2"));
    assert_eq!(store.load("wk2").await.unwrap().as_deref(), Some("x"));
    assert_eq!(store.load("wk3").await.unwrap(), None);
}

#[tokio::test]
async fn stores_sharing_a_prefix_see_each_others_cursors_and_others_do_not() {
    let Some(a) = store("shared").await else { return };
    let b = RedisCursorStore::connect(&url()).await.unwrap().with_prefix(a.prefix());
    let elsewhere =
        RedisCursorStore::connect(&url()).await.unwrap().with_prefix(format!("{}other:", a.prefix()));
    a.save("wk1", "from-a").await.unwrap();
    assert_eq!(b.load("wk1").await.unwrap().as_deref(), Some("from-a"));
    b.save("wk1", "from-b").await.unwrap();
    assert_eq!(a.load("wk1").await.unwrap().as_deref(), Some("from-b"));
    assert_eq!(elsewhere.load("wk1").await.unwrap(), None);
}
