//! Where the `sync_msg` cursor of each open_kfid is kept between pulls and across restarts.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

/// Keeps the `sync_msg` cursor per open_kfid (kf-api.md §5.1, `next_cursor`).
///
/// The runtime calls [`save`](Self::save) only after every message of a page was handed to the
/// handler and the handler returned, so a crash between the two re-delivers a page rather than
/// skipping it.
#[async_trait]
pub trait CursorStore: Send + Sync + 'static {
    /// The saved cursor of `open_kfid`, `None` if there is none yet.
    async fn load(&self, open_kfid: &str) -> io::Result<Option<String>>;
    /// Saves `cursor` as the cursor of `open_kfid`; durable when it returns `Ok`.
    async fn save(&self, open_kfid: &str, cursor: &str) -> io::Result<()>;

    /// Every open_kfid with a saved cursor: the runtime pulls each once at start, so messages that
    /// came while it was down do not wait for the next callback. The default knows none.
    async fn accounts(&self) -> io::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// Cursors in memory only: lost on restart (tests, or a bot that does not mind skipping).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use wxkf_bot::{CursorStore, MemoryCursorStore};
/// let store = MemoryCursorStore::default();
/// store.save("wk1", "c1").await.unwrap();
/// assert_eq!(store.load("wk1").await.unwrap().as_deref(), Some("c1"));
/// assert_eq!(store.load("wk2").await.unwrap(), None);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct MemoryCursorStore {
    cursors: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl CursorStore for MemoryCursorStore {
    async fn load(&self, open_kfid: &str) -> io::Result<Option<String>> {
        Ok(self.cursors.lock().await.get(open_kfid).cloned())
    }

    async fn save(&self, open_kfid: &str, cursor: &str) -> io::Result<()> {
        self.cursors.lock().await.insert(open_kfid.to_owned(), cursor.to_owned());
        Ok(())
    }

    async fn accounts(&self) -> io::Result<Vec<String>> {
        Ok(self.cursors.lock().await.keys().cloned().collect())
    }
}

/// Cursors in one JSON file (`{"open_kfid": "cursor", ...}`), rewritten atomically on every
/// save: a temporary file beside it is written and fsynced, renamed over the old one, and the
/// directory is fsynced, so the file survives `kill -9` and power loss whole (old or new).
#[derive(Debug, Clone)]
pub struct FileCursorStore {
    inner: Arc<FileInner>,
}

#[derive(Debug)]
struct FileInner {
    path: PathBuf,
    // None until the file was read once
    cursors: Mutex<Option<HashMap<String, String>>>,
}

impl FileCursorStore {
    /// A store backed by the file at `path` (created on the first save; its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileCursorStore { inner: Arc::new(FileInner { path: path.into(), cursors: Mutex::new(None) }) }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn loaded<'a>(
        &self,
        guard: &'a mut Option<HashMap<String, String>>,
    ) -> io::Result<&'a mut HashMap<String, String>> {
        if guard.is_none() {
            let map = match tokio::fs::read(&self.inner.path).await {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("cursor file is not a JSON object: {e}"),
                    )
                })?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => HashMap::new(),
                Err(e) => return Err(e),
            };
            *guard = Some(map);
        }
        Ok(guard.get_or_insert_with(HashMap::new))
    }
}

#[async_trait]
impl CursorStore for FileCursorStore {
    async fn load(&self, open_kfid: &str) -> io::Result<Option<String>> {
        let mut guard = self.inner.cursors.lock().await;
        Ok(self.loaded(&mut guard).await?.get(open_kfid).cloned())
    }

    async fn save(&self, open_kfid: &str, cursor: &str) -> io::Result<()> {
        // the lock is held across the write so saves reach the file in order
        let mut guard = self.inner.cursors.lock().await;
        let map = self.loaded(&mut guard).await?;
        map.insert(open_kfid.to_owned(), cursor.to_owned());
        let bytes = serde_json::to_vec_pretty(&*map).map_err(io::Error::other)?;
        let path = self.inner.path.clone();
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes)).await.map_err(io::Error::other)?
    }

    async fn accounts(&self) -> io::Result<Vec<String>> {
        let mut guard = self.inner.cursors.lock().await;
        Ok(self.loaded(&mut guard).await?.keys().cloned().collect())
    }
}

/// temp file + fsync + rename + fsync of the directory
fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // unique per process and per write, so two stores on one path never share a temp file
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // directories cannot be opened for syncing on every platform; where they can, sync
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_store_survives_a_new_instance_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("wxkf-bot-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cursors.json");
        let _ = std::fs::remove_file(&path);
        let a = FileCursorStore::new(&path);
        assert_eq!(a.load("wk1").await.unwrap(), None);
        a.save("wk1", "c1").await.unwrap();
        a.save("wk2", "x").await.unwrap();
        a.save("wk1", "c2").await.unwrap();
        let b = FileCursorStore::new(&path);
        assert_eq!(b.load("wk1").await.unwrap().as_deref(), Some("c2"));
        assert_eq!(b.load("wk2").await.unwrap().as_deref(), Some("x"));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_not_an_empty_store() {
        let path = std::env::temp_dir().join(format!("wxkf-bot-corrupt-{}.json", std::process::id()));
        std::fs::write(&path, b"not json").unwrap();
        let store = FileCursorStore::new(&path);
        assert_eq!(store.load("wk1").await.unwrap_err().kind(), io::ErrorKind::InvalidData);
        std::fs::remove_file(&path).unwrap();
    }
}
