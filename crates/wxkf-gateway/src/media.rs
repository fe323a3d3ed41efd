//! The customer's images, voice, videos and files, served to the backend at
//! `GET /v1/media/{media_id}` (bearer): fetched from WeCom once with `media/get`, then kept in
//! memory (the last [`KEEP`] files).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::OnceCell;
use wxkf_client::Client;

/// How many files stay in memory.
pub const KEEP: usize = 64;

/// One fetched file.
#[derive(Debug, Clone)]
pub struct Media {
    /// Its `Content-Type`.
    pub content_type: String,
    /// Its name, when WeCom gives one.
    pub filename: Option<String>,
    /// The bytes.
    pub bytes: Bytes,
}

#[derive(Debug, Default)]
struct Entries {
    cells: HashMap<String, Arc<OnceCell<Media>>>,
    order: VecDeque<String>,
}

/// The files fetched so far; concurrent requests for one file share one `media/get`.
#[derive(Debug, Default)]
pub struct MediaCache {
    entries: Mutex<Entries>,
}

impl MediaCache {
    /// The file `media_id`: kept, or fetched now (a failed fetch is tried again next time).
    pub async fn get(&self, client: &Client, media_id: &str) -> Result<Media, wxkf_client::Error> {
        let cell = {
            let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = e.cells.get(media_id) {
                Arc::clone(c)
            } else {
                if e.order.len() >= KEEP
                    && let Some(old) = e.order.pop_front()
                {
                    e.cells.remove(&old);
                }
                let c = Arc::new(OnceCell::new());
                e.cells.insert(media_id.to_owned(), Arc::clone(&c));
                e.order.push_back(media_id.to_owned());
                c
            }
        };
        cell.get_or_try_init(|| async {
            let d = client.media().get(media_id).await?;
            let content_type = if d.meta.content_type.is_empty() {
                "application/octet-stream".to_owned()
            } else {
                d.meta.content_type
            };
            Ok(Media { content_type, filename: d.meta.filename, bytes: d.bytes })
        })
        .await
        .cloned()
    }
}
