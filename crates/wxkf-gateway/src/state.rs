//! Durable per-customer state of the backends: the chat history of `openai` backends and the
//! `conversation_id` of `dify` backends. In `data_dir/wxkf-gateway.redb` (beside the runtime's
//! `wxkf-bot.redb`) for one instance, or in Redis under `server.redis_prefix` with `redis_url`.

use std::io;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};

/// The file in `data_dir`.
pub const FILE_NAME: &str = "wxkf-gateway.redb";

// (backend, open_kfid, external_userid) → JSON of the history
const HISTORY: TableDefinition<'_, (&str, &str, &str), &str> = TableDefinition::new("history");
// (backend, open_kfid, external_userid) → conversation_id
const CONVERSATIONS: TableDefinition<'_, (&str, &str, &str), &str> = TableDefinition::new("conversations");

/// How long Redis keeps a customer's state after its last change (30 days).
const REDIS_TTL_SECS: u64 = 30 * 24 * 3600;

/// One chat-completions message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message of `role`.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        ChatMessage { role: role.to_owned(), content: content.into() }
    }
}

/// Where the state lives.
#[derive(Clone)]
pub enum StateStore {
    /// The redb file of one instance.
    Local(Arc<Database>),
    /// Redis, shared by every instance, with the key prefix.
    Redis(redis::aio::ConnectionManager, String),
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateStore::Local(_) => f.write_str("StateStore::Local"),
            StateStore::Redis(..) => f.write_str("StateStore::Redis"),
        }
    }
}

fn other(action: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("gateway state store: {action}: {e}"))
}

impl StateStore {
    /// Opens (or creates) `dir/wxkf-gateway.redb`.
    pub fn open_local(dir: &Path) -> io::Result<StateStore> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| other(&format!("open {}", path.display()), e))?;
        let txn = db.begin_write().map_err(|e| other("begin", e))?;
        {
            txn.open_table(HISTORY).map_err(|e| other("create", e))?;
            txn.open_table(CONVERSATIONS).map_err(|e| other("create", e))?;
        }
        txn.commit().map_err(|e| other("commit", e))?;
        Ok(StateStore::Local(Arc::new(db)))
    }

    fn redis_key(prefix: &str, kind: &str, key: (&str, &str, &str)) -> String {
        format!("{prefix}{kind}:{}:{}:{}", key.0, key.1, key.2)
    }

    async fn get(
        &self,
        table: TableDefinition<'static, (&'static str, &'static str, &'static str), &'static str>,
        kind: &'static str,
        key: (&str, &str, &str),
    ) -> io::Result<Option<String>> {
        match self {
            StateStore::Local(db) => {
                let db = Arc::clone(db);
                let key = (key.0.to_owned(), key.1.to_owned(), key.2.to_owned());
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_read().map_err(|e| other("read", e))?;
                    let t = txn.open_table(table).map_err(|e| other("read", e))?;
                    let v = t
                        .get((key.0.as_str(), key.1.as_str(), key.2.as_str()))
                        .map_err(|e| other("read", e))?;
                    Ok(v.map(|v| v.value().to_owned()))
                })
                .await
                .map_err(|e| other("read task", e))?
            }
            StateStore::Redis(conn, prefix) => {
                let mut conn = conn.clone();
                redis::cmd("GET")
                    .arg(Self::redis_key(prefix, kind, key))
                    .query_async::<Option<String>>(&mut conn)
                    .await
                    .map_err(|e| other("redis GET", e))
            }
        }
    }

    async fn put(
        &self,
        table: TableDefinition<'static, (&'static str, &'static str, &'static str), &'static str>,
        kind: &'static str,
        key: (&str, &str, &str),
        value: String,
    ) -> io::Result<()> {
        match self {
            StateStore::Local(db) => {
                let db = Arc::clone(db);
                let key = (key.0.to_owned(), key.1.to_owned(), key.2.to_owned());
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_write().map_err(|e| other("write", e))?;
                    {
                        let mut t = txn.open_table(table).map_err(|e| other("write", e))?;
                        t.insert((key.0.as_str(), key.1.as_str(), key.2.as_str()), value.as_str())
                            .map_err(|e| other("write", e))?;
                    }
                    txn.commit().map_err(|e| other("commit", e))
                })
                .await
                .map_err(|e| other("write task", e))?
            }
            StateStore::Redis(conn, prefix) => {
                let mut conn = conn.clone();
                redis::cmd("SET")
                    .arg(Self::redis_key(prefix, kind, key))
                    .arg(value)
                    .arg("EX")
                    .arg(REDIS_TTL_SECS)
                    .query_async::<()>(&mut conn)
                    .await
                    .map_err(|e| other("redis SET", e))
            }
        }
    }

    /// The chat history `backend` keeps for this customer (oldest first).
    pub async fn history(&self, backend: &str, open_kfid: &str, user: &str) -> io::Result<Vec<ChatMessage>> {
        match self.get(HISTORY, "history", (backend, open_kfid, user)).await? {
            None => Ok(Vec::new()),
            Some(json) => serde_json::from_str(&json).map_err(|e| other("history is not JSON", e)),
        }
    }

    /// Replaces the history.
    pub async fn set_history(
        &self,
        backend: &str,
        open_kfid: &str,
        user: &str,
        history: &[ChatMessage],
    ) -> io::Result<()> {
        let json = serde_json::to_string(history).map_err(|e| other("encode", e))?;
        self.put(HISTORY, "history", (backend, open_kfid, user), json).await
    }

    /// The Dify `conversation_id` of this customer, if one was started.
    pub async fn conversation_id(
        &self,
        backend: &str,
        open_kfid: &str,
        user: &str,
    ) -> io::Result<Option<String>> {
        self.get(CONVERSATIONS, "conversation", (backend, open_kfid, user)).await
    }

    /// Keeps the Dify `conversation_id`.
    pub async fn set_conversation_id(
        &self,
        backend: &str,
        open_kfid: &str,
        user: &str,
        id: &str,
    ) -> io::Result<()> {
        self.put(CONVERSATIONS, "conversation", (backend, open_kfid, user), id.to_owned()).await
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ping(&self) -> io::Result<()> {
        match self {
            StateStore::Local(_) => self.get(HISTORY, "history", ("", "", "")).await.map(|_| ()),
            StateStore::Redis(conn, _) => {
                let mut conn = conn.clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| other("redis PING", e))
            }
        }
    }
}
