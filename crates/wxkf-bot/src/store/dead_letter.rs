//! Where dead letters are kept: the [`DeadLetterStore`] trait and [`MemoryDeadLetters`].
//! [`LocalStore`](crate::LocalStore) keeps them in its redb file, `RedisDeadLetters` in Redis.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::now_secs;
use crate::dead_letter::DeadLetterRecord;

/// Keeps [`DeadLetterRecord`]s until they expire: a record kept with `retention` is gone
/// `retention` after its [`at`](DeadLetterRecord::at) (listed no more, removed by the store's
/// sweep or TTL). The runtime keeps one when it dead-letters a message or a turn, and reads,
/// updates and removes it for [`Bot::replay`](crate::Bot::replay) and
/// [`Bot::discard`](crate::Bot::discard).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use wxkf_bot::{DeadLetterStore, MemoryDeadLetters};
/// let store = MemoryDeadLetters::default();
/// assert!(store.list().await.unwrap().is_empty());
/// assert!(!store.remove("dl_unknown").await.unwrap());
/// # });
/// ```
#[async_trait]
pub trait DeadLetterStore: Send + Sync + 'static {
    /// Keeps `record` until `retention` after its `at`, replacing a record with the same id.
    async fn keep(&self, record: &DeadLetterRecord, retention: Duration) -> io::Result<()>;

    /// The record with `id`, unless it expired.
    async fn get(&self, id: &str) -> io::Result<Option<DeadLetterRecord>>;

    /// Every record not expired, oldest first (by `at`, then `id`).
    async fn list(&self) -> io::Result<Vec<DeadLetterRecord>>;

    /// Removes the record with `id`; whether there was one (not expired).
    async fn remove(&self, id: &str) -> io::Result<bool>;
}

/// Sorts records oldest first, as [`DeadLetterStore::list`] returns them.
pub(crate) fn oldest_first(records: &mut [DeadLetterRecord]) {
    records.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
}

/// When a record kept with `retention` expires (unix seconds).
pub(crate) fn expires_at(record: &DeadLetterRecord, retention: Duration) -> u64 {
    record.at.saturating_add(retention.as_secs().max(1))
}

/// A [`DeadLetterStore`] in this process's memory: forgotten on restart (the default of
/// [`BotBuilder::memory_store`](crate::BotBuilder::memory_store)).
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    // id → (record, expires at, unix seconds)
    records: Mutex<HashMap<String, (DeadLetterRecord, u64)>>,
}

impl MemoryDeadLetters {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, (DeadLetterRecord, u64)>> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_secs();
        records.retain(|_, (_, expires)| *expires > now);
        records
    }
}

#[async_trait]
impl DeadLetterStore for MemoryDeadLetters {
    async fn keep(&self, record: &DeadLetterRecord, retention: Duration) -> io::Result<()> {
        let expires = expires_at(record, retention);
        self.live().insert(record.id.clone(), (record.clone(), expires));
        Ok(())
    }

    async fn get(&self, id: &str) -> io::Result<Option<DeadLetterRecord>> {
        Ok(self.live().get(id).map(|(r, _)| r.clone()))
    }

    async fn list(&self) -> io::Result<Vec<DeadLetterRecord>> {
        let mut all: Vec<DeadLetterRecord> = self.live().values().map(|(r, _)| r.clone()).collect();
        oldest_first(&mut all);
        Ok(all)
    }

    async fn remove(&self, id: &str) -> io::Result<bool> {
        Ok(self.live().remove(id).is_some())
    }
}
