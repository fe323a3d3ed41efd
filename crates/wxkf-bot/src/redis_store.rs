//! A [`CursorStore`] in Redis, so the instances of one bot share the `sync_msg` cursor of each
//! open_kfid (kf-api.md §5.1, `next_cursor`) and a restarted or replacement instance continues
//! where the last one stopped. Feature `redis`.

use std::fmt;
use std::io;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use crate::store::CursorStore;

/// The key prefix used unless [`RedisCursorStore::with_prefix`] sets another.
pub const DEFAULT_PREFIX: &str = "wxkf:";

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
#[derive(Clone)]
pub struct RedisCursorStore {
    conn: ConnectionManager,
    prefix: String,
}

impl fmt::Debug for RedisCursorStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCursorStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisCursorStore {
    /// Connects to the Redis server at `url` (`redis://host:port/db`) with the [`DEFAULT_PREFIX`].
    pub async fn connect(url: &str) -> io::Result<Self> {
        let client = redis::Client::open(url).map_err(io::Error::other)?;
        let conn = ConnectionManager::new(client).await.map_err(io::Error::other)?;
        Ok(Self::from_connection(conn))
    }

    /// A store on an existing connection, with the [`DEFAULT_PREFIX`].
    pub fn from_connection(conn: ConnectionManager) -> Self {
        RedisCursorStore { conn, prefix: DEFAULT_PREFIX.to_owned() }
    }

    /// Puts every key of this store under `prefix` (instances of one bot must use the same prefix).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

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
