//! The durable state of ONE bot instance in one embedded database file: [`LocalStore`].
//!
//! The file `wxkf-bot.redb` in a data directory ([`LocalStore::open`], or `WXKF_DATA_DIR` with
//! [`LocalStore::from_env`]) holds, in one [redb](https://docs.rs/redb) database:
//!
//! - the `sync_msg` cursor of each open_kfid ([`CursorStore`]),
//! - the msgids handled per open_kfid, each until its expiry (the runtime asks for 3 days), so a
//!   page delivered again after a restart is not handled twice ([`DedupeStore`]),
//! - the 48-hour / 5-message reply budget of each (open_kfid, external_userid) ([`BudgetStore`]),
//! - the dead letters, each until its retention ends ([`DeadLetterStore`]).
//!
//! It is for ONE instance: the file is locked while a [`LocalStore`] has it open, and a second
//! process that opens the same directory gets an error instead of a corrupted file. Several
//! instances of one bot share their state through Redis instead (feature `redis`,
//! docs/scaling.md), with the same semantics.
//!
//! Every write returns `Ok` only once its transaction is committed with redb's default durability
//! (fsync). Writes that arrive while a commit is running are committed together in the next
//! transaction (group commit), so concurrent writers share an fsync instead of queueing for one
//! each. redb's calls block, so they run on tokio's blocking pool (`spawn_blocking`), never on
//! the executor.
//!
//! A bot that kept its cursors in a [`FileCursorStore`](crate::FileCursorStore) moves them over
//! with [`LocalStore::import_cursors_file`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::dead_letter::DeadLetterRecord;
use crate::reply::budget::{Budget, BudgetStore, Ledger};
use crate::store::coordinate::DedupeStore;
use crate::store::cursor::CursorStore;
use crate::store::dead_letter::{DeadLetterStore, expires_at, oldest_first};

/// The database file's name inside the data directory.
const FILE_NAME: &str = "wxkf-bot.redb";
/// The variable [`LocalStore::from_env`] reads.
const DATA_DIR_ENV: &str = "WXKF_DATA_DIR";
/// redb's page cache; its default (1 GiB) is far more than this state needs.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Expired msgids removed per commit at most, so a sweep never makes a commit slow.
const SWEEP_MSGIDS: usize = 1024;
/// Closed budget windows removed per commit at most.
const SWEEP_BUDGETS: usize = 256;
/// Expired dead letters removed per commit at most.
const SWEEP_DEAD_LETTERS: usize = 64;

/// open_kfid → cursor.
const CURSORS: TableDefinition<'_, &str, &str> = TableDefinition::new("cursors");
/// (open_kfid, msgid) → expiry (unix milliseconds).
const HANDLED: TableDefinition<'_, (&str, &str), u64> = TableDefinition::new("handled");
/// (expiry in unix milliseconds, open_kfid, msgid): the msgids in the order they expire.
const HANDLED_EXPIRY: TableDefinition<'_, (u64, &str, &str), ()> = TableDefinition::new("handled_expiry");
/// A budget row: `send_time` of the latest customer message (unix seconds), `since_ms`, sends
/// completed (unix ms) and sends in flight (taken at, unix ms); see [`Ledger`].
type LedgerRow = (u64, u64, Vec<u64>, Vec<u64>);
/// (open_kfid, external_userid) → the customer's [`LedgerRow`].
const BUDGETS: TableDefinition<'_, (&str, &str), LedgerRow> = TableDefinition::new("reply_budgets");
/// (window end in unix seconds, open_kfid, external_userid): the windows in the order they close.
const BUDGET_EXPIRY: TableDefinition<'_, (u64, &str, &str), ()> = TableDefinition::new("budget_expiry");
/// Dead letter id → (expiry in unix seconds, the [`DeadLetterRecord`] as JSON).
const DEAD_LETTERS: TableDefinition<'_, &str, (u64, &str)> = TableDefinition::new("dead_letters");
/// (expiry in unix seconds, dead letter id): the dead letters in the order they expire.
const DEAD_LETTER_EXPIRY: TableDefinition<'_, (u64, &str), ()> = TableDefinition::new("dead_letter_expiry");

/// The durable default store of a single bot instance: cursors, handled msgids and reply budgets
/// in one redb file, `wxkf-bot.redb`, in a data directory.
///
/// It implements [`CursorStore`], [`DedupeStore`], [`BudgetStore`] and [`DeadLetterStore`] with
/// the meaning of [`MemoryCursorStore`](crate::MemoryCursorStore), [`MemoryDedupe`](crate::MemoryDedupe),
/// [`MemoryBudgets`](crate::MemoryBudgets) and [`MemoryDeadLetters`](crate::MemoryDeadLetters),
/// but survives a restart and `kill -9`:
///
/// - A write is committed (fsynced) when it returns `Ok`. The writes that wait while a commit
///   runs share the next commit, and [`remember_many`](DedupeStore::remember_many) writes its
///   whole batch in one.
/// - A msgid is [`seen`](DedupeStore::seen) until its expiry (now + the `ttl` it was remembered
///   with; remembering it again never shortens it), never after. Every commit removes up to
///   [`SWEEP_MSGIDS_PER_COMMIT`](Self::SWEEP_MSGIDS_PER_COMMIT) expired msgids, and closed budget
///   windows and expired dead letters likewise, so the file stays bounded.
/// - [`take`](BudgetStore::take) is atomic: all writes go through one transaction at a time, so two
///   concurrent takes never both get the last send.
///
/// Cloning is cheap (the clones share the open database). `Debug` shows the file's path only.
/// Dropping the last clone closes the file, which writes briefly; once it is dropped and no write
/// is in flight, the directory can be opened again.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use wxkf_bot::{CursorStore, DedupeStore, LocalStore};
///
/// # let dir = std::env::temp_dir().join(format!("wxkf-doc-local-store-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let store = LocalStore::open(&dir)?; // creates the directory and dir/wxkf-bot.redb
/// store.save("wkAAAA", "cursor-1").await?;
///
/// let three_days = Duration::from_secs(3 * 24 * 3600);
/// store.remember_many("wkAAAA", &["msg1", "msg2"], three_days).await?;
/// drop(store);
///
/// // after a restart
/// let store = LocalStore::open(&dir)?;
/// assert_eq!(store.load("wkAAAA").await?.as_deref(), Some("cursor-1"));
/// assert_eq!(store.seen("wkAAAA", &["msg1", "msg3"]).await?, [true, false]);
/// # drop(store);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct LocalStore {
    shared: Arc<Shared>,
}

struct Shared {
    db: Database,
    path: PathBuf,
    queue: Mutex<Queue>,
    /// write transactions committed since open
    commits: AtomicU64,
}

#[derive(Default)]
struct Queue {
    ops: Vec<Pending>,
    /// whether a blocking task is committing the queue
    draining: bool,
}

struct Pending {
    op: WriteOp,
    reply: oneshot::Sender<io::Result<Outcome>>,
}

enum WriteOp {
    SaveCursor { open_kfid: String, cursor: String },
    ImportCursors(Vec<(String, String)>),
    Remember { open_kfid: String, msgids: Vec<String>, expires_at_ms: u64 },
    Budget { open_kfid: String, external_userid: String, change: BudgetChange },
    KeepDeadLetter { id: String, json: String, expires_at: u64 },
    RemoveDeadLetter { id: String },
}

/// A change to one customer's [`Ledger`].
enum BudgetChange {
    Spoke { send_time: u64, since_ms: u64 },
    Take { n: u32, now_ms: u64 },
    Sent { n: u32, now_ms: u64 },
    GiveBack { n: u32 },
}

enum Outcome {
    Done,
    Imported(usize),
    Taken(Result<(), Budget>),
    Removed(bool),
}

impl fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStore").field("path", &self.shared.path).finish_non_exhaustive()
    }
}

/// What went wrong inside the store, worded for the operator; carried inside the `io::Error`s
/// the store returns.
#[derive(Debug, thiserror::Error)]
enum LocalStoreError {
    #[error(
        "{path} is in use by another process (the file is locked): stop the other bot instance, or \
         give this one its own data directory; several instances share their state through Redis \
         (feature `redis`), not through one file"
    )]
    InUse { path: String },
    #[error("cannot create the data directory {path}: check the path and its permissions")]
    CreateDir {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot open the bot's state in {path}: check the file's permissions, or move it away if it is damaged"
    )]
    Open {
        path: String,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("the bot's state file could not be {action}: check the disk (space, permissions)")]
    Db {
        action: &'static str,
        #[source]
        source: redb::Error,
    },
    #[error("{DATA_DIR_ENV} is not set: set it to the directory where the bot keeps its state")]
    NoDataDir,
    #[error(
        "the store's writer stopped before committing this write: see the earlier error, then reopen the store"
    )]
    WriterGone,
    #[error("{path} is not a cursor file of FileCursorStore (a JSON object of open_kfid to cursor)")]
    NotCursorFile {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

fn db_err(action: &'static str) -> impl Fn(redb::Error) -> io::Error + Copy {
    move |source| {
        let kind = match &source {
            redb::Error::Io(e) => e.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, LocalStoreError::Db { action, source })
    }
}

/// Converts any of redb's error types to an `io::Error` saying what failed.
fn redb_err<E: Into<redb::Error>>(action: &'static str) -> impl Fn(E) -> io::Error + Copy {
    move |e| db_err(action)(e.into())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl LocalStore {
    /// At most this many expired msgids are removed per commit (each write commit sweeps).
    pub const SWEEP_MSGIDS_PER_COMMIT: usize = SWEEP_MSGIDS;

    /// Opens (or creates) the store in `dir`: the directory is created if needed, and the file
    /// `wxkf-bot.redb` in it.
    ///
    /// Blocks while it opens the file; after a crash that includes redb's repair, which reads the
    /// whole file. Fails with [`io::ErrorKind::WouldBlock`] and a message saying so if another
    /// process (or another `LocalStore` in this one) has the same directory open.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<LocalStore> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| {
            io::Error::new(
                source.kind(),
                LocalStoreError::CreateDir { path: dir.display().to_string(), source },
            )
        })?;
        let path = dir.join(FILE_NAME);
        let shown = path.display().to_string();
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                io::Error::new(io::ErrorKind::WouldBlock, LocalStoreError::InUse { path: shown })
            }
            source => {
                let kind = match &source {
                    redb::DatabaseError::Storage(redb::StorageError::Io(e)) => e.kind(),
                    _ => io::ErrorKind::Other,
                };
                io::Error::new(kind, LocalStoreError::Open { path: shown, source })
            }
        })?;
        // every table exists from the start, so reads never meet a missing one
        let txn = db.begin_write().map_err(redb_err("opened for writing"))?;
        {
            txn.open_table(CURSORS).map_err(redb_err("read"))?;
            txn.open_table(HANDLED).map_err(redb_err("read"))?;
            txn.open_table(HANDLED_EXPIRY).map_err(redb_err("read"))?;
            let mut budgets = txn.open_table(BUDGETS).map_err(redb_err("read"))?;
            txn.open_table(BUDGET_EXPIRY).map_err(redb_err("read"))?;
            txn.open_table(DEAD_LETTERS).map_err(redb_err("read"))?;
            txn.open_table(DEAD_LETTER_EXPIRY).map_err(redb_err("read"))?;
            // sends that were in flight when the last process died reached WeCom before now, if
            // at all: they count as completed now, not for the next five minutes
            end_in_flight(&mut budgets, now_ms())?;
        }
        txn.commit().map_err(redb_err("committed"))?;
        Ok(LocalStore {
            shared: Arc::new(Shared {
                db,
                path,
                queue: Mutex::new(Queue::default()),
                commits: AtomicU64::new(0),
            }),
        })
    }

    /// [`open`](Self::open)s the directory named by the environment variable `WXKF_DATA_DIR`;
    /// fails with [`io::ErrorKind::NotFound`] naming the variable if it is unset or empty.
    pub fn from_env() -> io::Result<LocalStore> {
        match std::env::var_os(DATA_DIR_ENV) {
            Some(dir) if !dir.is_empty() => LocalStore::open(dir),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, LocalStoreError::NoDataDir)),
        }
    }

    /// The database file's path (`<dir>/wxkf-bot.redb`).
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Copies the cursors of a [`FileCursorStore`](crate::FileCursorStore) file (a JSON object
    /// `{"open_kfid": "cursor", ...}`) into this store, in one commit, and returns how many it
    /// copied. An open_kfid that already has a cursor here keeps it, so running the import again
    /// (or after this store has moved on) never moves a cursor back.
    ///
    /// Fails with [`io::ErrorKind::NotFound`] if the file does not exist and
    /// [`io::ErrorKind::InvalidData`] if it is not such an object; nothing is copied then.
    pub async fn import_cursors_file(&self, path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        let bytes = tokio::fs::read(path).await?;
        let map: std::collections::BTreeMap<String, String> =
            serde_json::from_slice(&bytes).map_err(|source| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    LocalStoreError::NotCursorFile { path: path.display().to_string(), source },
                )
            })?;
        match self.write(WriteOp::ImportCursors(map.into_iter().collect())).await? {
            Outcome::Imported(n) => Ok(n),
            _ => Ok(0),
        }
    }

    /// How many msgids the store holds, including expired ones not swept yet (for monitoring that
    /// the file stays bounded).
    pub async fn handled_count(&self) -> io::Result<u64> {
        self.read(|db| {
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(HANDLED).map_err(redb_err("read"))?;
            redb::ReadableTableMetadata::len(&table).map_err(redb_err("read"))
        })
        .await
    }

    /// How many write transactions this store committed since it was opened (each holds every
    /// write that was waiting when it began, so under load it is far below the number of writes).
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Runs a read on the blocking pool.
    async fn read<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> io::Result<T> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || f(&shared.db)).await.map_err(io::Error::other)?
    }

    /// Queues a write and waits until the transaction that holds it is committed.
    async fn write(&self, op: WriteOp) -> io::Result<Outcome> {
        let answer = self.enqueue(op);
        answer.await.unwrap_or_else(|_| Err(io::Error::other(LocalStoreError::WriterGone)))
    }

    /// Queues a write (starting the writer if none runs); the receiver gets the commit's result.
    fn enqueue(&self, op: WriteOp) -> oneshot::Receiver<io::Result<Outcome>> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.ops.push(Pending { op, reply });
            !std::mem::replace(&mut queue.draining, true)
        };
        if start {
            // made before the task so that a task dropped unrun (runtime shutting down) still
            // resets the queue and answers its writes with an error
            let guard = DrainGuard(Some(Arc::clone(&self.shared)));
            // not awaited: the writer answers through the channels, also the writes queued by others
            drop(tokio::task::spawn_blocking(move || drain(guard)));
        }
        answer
    }
}

/// Resets the queue if the writer panics or never runs, so the next write starts a new writer;
/// the writes it held (and those queued) are answered with an error by dropping their senders.
struct DrainGuard(Option<Arc<Shared>>);

impl Drop for DrainGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.ops.clear();
            queue.draining = false;
        }
    }
}

/// The writer: commits the queued writes in batches, one transaction per batch, until the queue
/// is empty.
fn drain(mut guard: DrainGuard) {
    let Some(shared) = guard.0.as_ref().map(Arc::clone) else { return };
    let mut batch = std::mem::take(&mut shared.queue.lock().unwrap_or_else(|e| e.into_inner()).ops);
    loop {
        let answers = commit_batch(&shared, batch);
        let next = {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.ops.is_empty() {
                queue.draining = false;
                None
            } else {
                Some(std::mem::take(&mut queue.ops))
            }
        };
        match next {
            Some(ops) => {
                answer(answers);
                batch = ops;
            }
            None => {
                // let go of the database before the last answers, so a caller that drops its
                // store on the answer and reopens the directory finds the file unlocked
                guard.0 = None;
                drop(shared);
                answer(answers);
                return;
            }
        }
    }
}

fn answer(answers: Answers) {
    for (reply, result) in answers {
        // a caller that gave up waiting does not mind
        let _ = reply.send(result);
    }
}

type Answers = Vec<(oneshot::Sender<io::Result<Outcome>>, io::Result<Outcome>)>;

/// Applies `batch` in one write transaction and commits it; every write gets the commit's result.
fn commit_batch(shared: &Shared, batch: Vec<Pending>) -> Answers {
    let (ops, replies): (Vec<WriteOp>, Vec<_>) = batch.into_iter().map(|p| (p.op, p.reply)).unzip();
    match apply(&shared.db, &ops) {
        Ok(outcomes) => {
            shared.commits.fetch_add(1, Ordering::Relaxed);
            replies.into_iter().zip(outcomes.into_iter().map(Ok)).collect()
        }
        Err(e) => {
            // every write of the batch failed with the same error
            let kind = e.kind();
            let failure = Arc::new(e);
            replies
                .into_iter()
                .map(|r| (r, Err(io::Error::new(kind, SharedFailure(Arc::clone(&failure))))))
                .collect()
        }
    }
}

/// The error of a commit, given to each write of its batch (an `io::Error` cannot be cloned).
#[derive(Debug)]
struct SharedFailure(Arc<io::Error>);

impl fmt::Display for SharedFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SharedFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

fn apply(db: &Database, ops: &[WriteOp]) -> io::Result<Vec<Outcome>> {
    // the sweep's clock is read before the batch is applied, however long that takes
    let (swept_ms, swept_secs) = (now_ms(), now_secs());
    let txn = db.begin_write().map_err(redb_err("opened for writing"))?;
    let mut outcomes = Vec::with_capacity(ops.len());
    {
        let mut cursors = txn.open_table(CURSORS).map_err(redb_err("written"))?;
        let mut handled = txn.open_table(HANDLED).map_err(redb_err("written"))?;
        let mut handled_expiry = txn.open_table(HANDLED_EXPIRY).map_err(redb_err("written"))?;
        let mut budgets = txn.open_table(BUDGETS).map_err(redb_err("written"))?;
        let mut budget_expiry = txn.open_table(BUDGET_EXPIRY).map_err(redb_err("written"))?;
        let mut dead = txn.open_table(DEAD_LETTERS).map_err(redb_err("written"))?;
        let mut dead_expiry = txn.open_table(DEAD_LETTER_EXPIRY).map_err(redb_err("written"))?;
        let w = redb_err::<redb::StorageError>("written");
        for op in ops {
            let outcome = match op {
                WriteOp::SaveCursor { open_kfid, cursor } => {
                    cursors.insert(open_kfid.as_str(), cursor.as_str()).map_err(w)?;
                    Outcome::Done
                }
                WriteOp::ImportCursors(pairs) => {
                    let mut n = 0;
                    for (open_kfid, cursor) in pairs {
                        if cursors.get(open_kfid.as_str()).map_err(w)?.is_none() {
                            cursors.insert(open_kfid.as_str(), cursor.as_str()).map_err(w)?;
                            n += 1;
                        }
                    }
                    Outcome::Imported(n)
                }
                WriteOp::Remember { open_kfid, msgids, expires_at_ms } => {
                    for msgid in msgids {
                        let key = (open_kfid.as_str(), msgid.as_str());
                        let old = handled.get(key).map_err(w)?.map(|g| g.value());
                        match old {
                            // "for at least ttl": a later expiry already recorded stays
                            Some(old) if old >= *expires_at_ms => continue,
                            Some(old) => {
                                handled_expiry.remove((old, key.0, key.1)).map_err(w)?;
                            }
                            None => {}
                        }
                        handled.insert(key, *expires_at_ms).map_err(w)?;
                        handled_expiry.insert((*expires_at_ms, key.0, key.1), ()).map_err(w)?;
                    }
                    Outcome::Done
                }
                WriteOp::Budget { open_kfid, external_userid, change } => {
                    let key = (open_kfid.as_str(), external_userid.as_str());
                    let mut ledger =
                        budgets.get(key).map_err(w)?.map(|g| to_ledger(g.value())).unwrap_or_default();
                    let old_end = ledger.expires_at();
                    let outcome = match change {
                        BudgetChange::Spoke { send_time, since_ms } => {
                            ledger.spoke(*send_time, *since_ms);
                            Outcome::Done
                        }
                        BudgetChange::Take { n, now_ms } => Outcome::Taken(ledger.take(*n, *now_ms)),
                        BudgetChange::Sent { n, now_ms } => {
                            ledger.sent(*n, *now_ms);
                            Outcome::Done
                        }
                        BudgetChange::GiveBack { n } => {
                            ledger.give_back(*n);
                            Outcome::Done
                        }
                    };
                    let end = ledger.expires_at();
                    // a customer who never wrote has no window: nothing to keep
                    if end > 0 {
                        if old_end != end && old_end > 0 {
                            budget_expiry.remove((old_end, key.0, key.1)).map_err(w)?;
                        }
                        budgets.insert(key, from_ledger(ledger)).map_err(w)?;
                        budget_expiry.insert((end, key.0, key.1), ()).map_err(w)?;
                    }
                    outcome
                }
                WriteOp::KeepDeadLetter { id, json, expires_at } => {
                    let old = dead.get(id.as_str()).map_err(w)?.map(|g| g.value().0);
                    if let Some(old) = old {
                        dead_expiry.remove((old, id.as_str())).map_err(w)?;
                    }
                    dead.insert(id.as_str(), (*expires_at, json.as_str())).map_err(w)?;
                    dead_expiry.insert((*expires_at, id.as_str()), ()).map_err(w)?;
                    Outcome::Done
                }
                WriteOp::RemoveDeadLetter { id } => {
                    let old = dead.remove(id.as_str()).map_err(w)?.map(|g| g.value().0);
                    if let Some(old) = old {
                        dead_expiry.remove((old, id.as_str())).map_err(w)?;
                    }
                    Outcome::Removed(old.is_some_and(|expires| expires > swept_secs))
                }
            };
            outcomes.push(outcome);
        }
        sweep_handled(&mut handled, &mut handled_expiry, swept_ms)?;
        sweep_budgets(&mut budgets, &mut budget_expiry, swept_secs)?;
        sweep_dead_letters(&mut dead, &mut dead_expiry, swept_secs)?;
    }
    txn.commit().map_err(redb_err("committed"))?;
    Ok(outcomes)
}

/// Removes up to [`SWEEP_MSGIDS`] msgids whose expiry is at or before `now` (milliseconds).
fn sweep_handled(
    handled: &mut redb::Table<'_, (&'static str, &'static str), u64>,
    index: &mut redb::Table<'_, (u64, &'static str, &'static str), ()>,
    now: u64,
) -> io::Result<()> {
    let w = redb_err::<redb::StorageError>("swept");
    let mut expired = Vec::new();
    for entry in index.iter().map_err(w)?.take(SWEEP_MSGIDS) {
        let (key, _) = entry.map_err(redb_err::<redb::StorageError>("swept"))?;
        let (expires_at, open_kfid, msgid) = key.value();
        if expires_at > now {
            break;
        }
        expired.push((expires_at, open_kfid.to_owned(), msgid.to_owned()));
    }
    for (expires_at, open_kfid, msgid) in &expired {
        index
            .remove((*expires_at, open_kfid.as_str(), msgid.as_str()))
            .map_err(redb_err::<redb::StorageError>("swept"))?;
        handled
            .remove((open_kfid.as_str(), msgid.as_str()))
            .map_err(redb_err::<redb::StorageError>("swept"))?;
    }
    Ok(())
}

/// Removes up to [`SWEEP_DEAD_LETTERS`] dead letters whose retention ended at or before `now`
/// (seconds).
fn sweep_dead_letters(
    dead: &mut redb::Table<'_, &'static str, (u64, &'static str)>,
    index: &mut redb::Table<'_, (u64, &'static str), ()>,
    now: u64,
) -> io::Result<()> {
    let w = redb_err::<redb::StorageError>("swept");
    let mut expired = Vec::new();
    for entry in index.iter().map_err(w)?.take(SWEEP_DEAD_LETTERS) {
        let (key, _) = entry.map_err(w)?;
        let (expires_at, id) = key.value();
        if expires_at > now {
            break;
        }
        expired.push((expires_at, id.to_owned()));
    }
    for (expires_at, id) in &expired {
        index.remove((*expires_at, id.as_str())).map_err(w)?;
        dead.remove(id.as_str()).map_err(w)?;
    }
    Ok(())
}

fn end_in_flight(
    budgets: &mut redb::Table<'_, (&'static str, &'static str), LedgerRow>,
    now_ms: u64,
) -> io::Result<()> {
    let w = redb_err::<redb::StorageError>("read");
    let mut ended = Vec::new();
    for entry in budgets.iter().map_err(w)? {
        let (key, row) = entry.map_err(w)?;
        let mut ledger = to_ledger(row.value());
        if !ledger.flying.is_empty() {
            ledger.end_in_flight(now_ms);
            let (open_kfid, external_userid) = key.value();
            ended.push((open_kfid.to_owned(), external_userid.to_owned(), ledger));
        }
    }
    for (open_kfid, external_userid, ledger) in ended {
        budgets.insert((open_kfid.as_str(), external_userid.as_str()), from_ledger(ledger)).map_err(w)?;
    }
    Ok(())
}

fn to_ledger((send_time, since_ms, done, flying): LedgerRow) -> Ledger {
    Ledger { send_time, since_ms, done, flying }
}

fn from_ledger(l: Ledger) -> LedgerRow {
    (l.send_time, l.since_ms, l.done, l.flying)
}

/// Removes up to [`SWEEP_BUDGETS`] windows that closed at or before `now` (seconds).
fn sweep_budgets(
    budgets: &mut redb::Table<'_, (&'static str, &'static str), LedgerRow>,
    index: &mut redb::Table<'_, (u64, &'static str, &'static str), ()>,
    now: u64,
) -> io::Result<()> {
    let w = redb_err::<redb::StorageError>("swept");
    let mut closed = Vec::new();
    for entry in index.iter().map_err(w)?.take(SWEEP_BUDGETS) {
        let (key, _) = entry.map_err(redb_err::<redb::StorageError>("swept"))?;
        let (expires_at, open_kfid, external_userid) = key.value();
        if expires_at > now {
            break;
        }
        closed.push((expires_at, open_kfid.to_owned(), external_userid.to_owned()));
    }
    for (expires_at, open_kfid, external_userid) in &closed {
        index.remove((*expires_at, open_kfid.as_str(), external_userid.as_str())).map_err(redb_err::<
            redb::StorageError,
        >(
            "swept"
        ))?;
        budgets
            .remove((open_kfid.as_str(), external_userid.as_str()))
            .map_err(redb_err::<redb::StorageError>("swept"))?;
    }
    Ok(())
}

#[async_trait]
impl CursorStore for LocalStore {
    async fn load(&self, open_kfid: &str) -> io::Result<Option<String>> {
        let open_kfid = open_kfid.to_owned();
        self.read(move |db| {
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(CURSORS).map_err(redb_err("read"))?;
            Ok(table.get(open_kfid.as_str()).map_err(redb_err("read"))?.map(|g| g.value().to_owned()))
        })
        .await
    }

    async fn save(&self, open_kfid: &str, cursor: &str) -> io::Result<()> {
        self.write(WriteOp::SaveCursor { open_kfid: open_kfid.to_owned(), cursor: cursor.to_owned() })
            .await?;
        Ok(())
    }

    async fn accounts(&self) -> io::Result<Vec<String>> {
        self.read(move |db| {
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(CURSORS).map_err(redb_err("read"))?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(redb_err("read"))? {
                let (k, _) = entry.map_err(redb_err("read"))?;
                out.push(k.value().to_owned());
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl DedupeStore for LocalStore {
    async fn seen(&self, open_kfid: &str, msgids: &[&str]) -> io::Result<Vec<bool>> {
        let open_kfid = open_kfid.to_owned();
        let msgids: Vec<String> = msgids.iter().map(|m| (*m).to_owned()).collect();
        self.read(move |db| {
            let now = now_ms();
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(HANDLED).map_err(redb_err("read"))?;
            msgids
                .iter()
                .map(|m| {
                    let expires_at = table.get((open_kfid.as_str(), m.as_str())).map_err(redb_err("read"))?;
                    // an expired msgid not swept yet counts as forgotten
                    Ok(expires_at.is_some_and(|g| g.value() > now))
                })
                .collect()
        })
        .await
    }

    async fn remember(&self, open_kfid: &str, msgid: &str, ttl: Duration) -> io::Result<()> {
        self.remember_many(open_kfid, &[msgid], ttl).await
    }

    async fn remember_many(&self, open_kfid: &str, msgids: &[&str], ttl: Duration) -> io::Result<()> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        self.write(WriteOp::Remember {
            open_kfid: open_kfid.to_owned(),
            msgids: msgids.iter().map(|m| (*m).to_owned()).collect(),
            expires_at_ms: now_ms().saturating_add(ttl_ms),
        })
        .await?;
        Ok(())
    }
}

#[async_trait]
impl BudgetStore for LocalStore {
    async fn customer_spoke(
        &self,
        open_kfid: &str,
        external_userid: &str,
        send_time: u64,
        since_ms: u64,
    ) -> io::Result<()> {
        self.write(budget_op(open_kfid, external_userid, BudgetChange::Spoke { send_time, since_ms }))
            .await?;
        Ok(())
    }

    async fn get(&self, open_kfid: &str, external_userid: &str, now_ms: u64) -> io::Result<Budget> {
        let open_kfid = open_kfid.to_owned();
        let external_userid = external_userid.to_owned();
        self.read(move |db| {
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(BUDGETS).map_err(redb_err("read"))?;
            let ledger = table
                .get((open_kfid.as_str(), external_userid.as_str()))
                .map_err(redb_err("read"))?
                .map(|g| to_ledger(g.value()))
                .unwrap_or_default();
            Ok(ledger.budget(now_ms))
        })
        .await
    }

    async fn take(
        &self,
        open_kfid: &str,
        external_userid: &str,
        n: u32,
        now_ms: u64,
    ) -> io::Result<Result<(), Budget>> {
        match self.write(budget_op(open_kfid, external_userid, BudgetChange::Take { n, now_ms })).await? {
            Outcome::Taken(taken) => Ok(taken),
            _ => Err(io::Error::other("the store answered a take with something else")),
        }
    }

    /// Queued with the next commit, not waited for: until it is committed the send counts as in
    /// flight, which counts against the customer's next message as well (cautious, never over).
    async fn sent(&self, open_kfid: &str, external_userid: &str, n: u32, now_ms: u64) -> io::Result<()> {
        drop(self.enqueue(budget_op(open_kfid, external_userid, BudgetChange::Sent { n, now_ms })));
        Ok(())
    }

    async fn give_back(&self, open_kfid: &str, external_userid: &str, n: u32) -> io::Result<()> {
        self.write(budget_op(open_kfid, external_userid, BudgetChange::GiveBack { n })).await?;
        Ok(())
    }
}

fn budget_op(open_kfid: &str, external_userid: &str, change: BudgetChange) -> WriteOp {
    WriteOp::Budget { open_kfid: open_kfid.to_owned(), external_userid: external_userid.to_owned(), change }
}

/// A kept record that does not read back (a file written by a newer version, or damaged).
fn bad_record(e: serde_json::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[async_trait]
impl DeadLetterStore for LocalStore {
    async fn keep(&self, record: &DeadLetterRecord, retention: Duration) -> io::Result<()> {
        let json = serde_json::to_string(record).map_err(io::Error::other)?;
        let op = WriteOp::KeepDeadLetter {
            id: record.id.clone(),
            json,
            expires_at: expires_at(record, retention),
        };
        self.write(op).await?;
        Ok(())
    }

    async fn get(&self, id: &str) -> io::Result<Option<DeadLetterRecord>> {
        let id = id.to_owned();
        self.read(move |db| {
            let now = now_secs();
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(DEAD_LETTERS).map_err(redb_err("read"))?;
            match table.get(id.as_str()).map_err(redb_err("read"))? {
                Some(g) if g.value().0 > now => {
                    Ok(Some(serde_json::from_str(g.value().1).map_err(bad_record)?))
                }
                _ => Ok(None),
            }
        })
        .await
    }

    async fn list(&self) -> io::Result<Vec<DeadLetterRecord>> {
        self.read(move |db| {
            let now = now_secs();
            let txn = db.begin_read().map_err(redb_err("read"))?;
            let table = txn.open_table(DEAD_LETTERS).map_err(redb_err("read"))?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(redb_err("read"))? {
                let (_, row) = entry.map_err(redb_err("read"))?;
                let (expires, json) = row.value();
                // an expired one not swept yet counts as gone
                if expires > now {
                    out.push(serde_json::from_str(json).map_err(bad_record)?);
                }
            }
            oldest_first(&mut out);
            Ok(out)
        })
        .await
    }

    async fn remove(&self, id: &str) -> io::Result<bool> {
        match self.write(WriteOp::RemoveDeadLetter { id: id.to_owned() }).await? {
            Outcome::Removed(existed) => Ok(existed),
            _ => Ok(false),
        }
    }
}
