//! The [`DeadLetterStore`] contract, run on each store: [`MemoryDeadLetters`], [`LocalStore`]
//! (also across a reopen) and [`RedisDeadLetters`] against a real Redis server: kept records
//! read back whole, listed oldest first, replaced by id, removed once, and gone after their
//! retention.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wxkf_bot::{DeadLetterRecord, DeadLetterStore, LocalStore, MemoryDeadLetters};

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A record as the runtime keeps one (read from JSON: the type is built by the runtime only).
fn record(open_kfid: &str, msgids: &[&str], at: u64) -> DeadLetterRecord {
    serde_json::from_value(serde_json::json!({
        "id": DeadLetterRecord::id_for(open_kfid, msgids),
        "open_kfid": open_kfid,
        "external_userid": "wmCUSTOMER",
        "msgids": msgids,
        "reason": "permanent",
        "attempts": 1,
        "error": "the handler failed: bad request",
        "at": at,
        "messages": msgids.iter().map(|m| serde_json::json!({
            "msgid": m, "open_kfid": open_kfid, "external_userid": "wmCUSTOMER",
            "send_time": at, "origin": 3, "msgtype": "text", "text": {"content": "hello"}
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

async fn contract(store: &dyn DeadLetterStore) {
    let now = now_secs();
    let newer = record("wk1", &["m2"], now);
    let older = record("wk1", &["m1", "m1b"], now - 60);
    let other = record("wk2", &["m3"], now - 30);
    for r in [&newer, &older, &other] {
        store.keep(r, WEEK).await.unwrap();
    }
    let listed = store.list().await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [older.id.as_str(), other.id.as_str(), newer.id.as_str()], "oldest first");
    assert_eq!(store.get(&older.id).await.unwrap().as_ref(), Some(&older), "read back whole");

    // kept again under the same id: replaced, not doubled
    let mut again = older.clone();
    again.attempts = 2;
    again.at = now;
    store.keep(&again, WEEK).await.unwrap();
    assert_eq!(store.list().await.unwrap().len(), 3);
    assert_eq!(store.get(&older.id).await.unwrap().unwrap().attempts, 2);

    assert!(store.remove(&other.id).await.unwrap());
    assert!(!store.remove(&other.id).await.unwrap(), "removed once");
    assert_eq!(store.get(&other.id).await.unwrap(), None);

    // past its retention: gone from get and list
    let expired = record("wk1", &["m9"], now - 10);
    store.keep(&expired, Duration::from_secs(2)).await.unwrap();
    assert_eq!(store.get(&expired.id).await.unwrap(), None);
    assert!(store.list().await.unwrap().iter().all(|r| r.id != expired.id));
    assert!(!store.remove(&expired.id).await.unwrap());
}

#[tokio::test]
async fn memory_dead_letters_keep_the_contract() {
    contract(&MemoryDeadLetters::default()).await;
}

#[tokio::test]
async fn the_local_store_keeps_the_contract_and_its_dead_letters_survive_a_reopen() {
    let dir =
        std::env::temp_dir().join(format!("wxkf-dead-letter-store-{}-{}", std::process::id(), now_secs()));
    let _ = std::fs::remove_dir_all(&dir);
    let kept = {
        let store = LocalStore::open(&dir).unwrap();
        contract(&store).await;
        store.list().await.unwrap()
    };
    assert_eq!(kept.len(), 2);
    let reopened = LocalStore::open(&dir).unwrap();
    assert_eq!(reopened.list().await.unwrap(), kept, "the same records after a reopen");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_dead_letters_keep_the_contract_and_are_shared_by_prefix() {
    let Some((conn, prefix)) = support::redis("redis_dead_letters").await else { return };
    let store = wxkf_bot::RedisDeadLetters::from_connection(conn.clone()).with_prefix(&prefix);
    contract(&store).await;
    // another handle with the same prefix (another instance) sees the same; another prefix not
    let same = wxkf_bot::RedisDeadLetters::from_connection(conn.clone()).with_prefix(&prefix);
    assert_eq!(same.list().await.unwrap().len(), 2);
    let elsewhere = wxkf_bot::RedisDeadLetters::from_connection(conn).with_prefix(format!("{prefix}other:"));
    assert!(elsewhere.list().await.unwrap().is_empty());
}
