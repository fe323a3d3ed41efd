//! What the handler, the backends and the routes share, in a leaf of its own so the backends and
//! the routes can take it without importing the crate root that wires them.

use std::sync::{Arc, OnceLock};

use crate::config::{Config, Secret};
use crate::delivery;
use crate::media;
use crate::metrics::Metrics;
use crate::state::StateStore;

/// An error and its whole `source()` chain on one line.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    wxkf_client::error::chain(e).to_string()
}

/// What the handler, the backends and the routes share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) pending: delivery::Pending,
    pub(crate) state: StateStore,
    pub(crate) http: reqwest::Client,
    pub(crate) public_url: OnceLock<String>,
    pub(crate) media: media::MediaCache,
    pub(crate) api_token: Secret,
    pub(crate) client: wxkf_client::Client,
}

impl Shared {
    /// The gateway URL of a customer's file, for `media_url`.
    pub(crate) fn media_url(&self, media_id: &str) -> String {
        let base = self.public_url.get().map(String::as_str).unwrap_or("");
        let id = percent_encoding::utf8_percent_encode(media_id, percent_encoding::NON_ALPHANUMERIC);
        format!("{base}/v1/media/{id}")
    }

    /// This instance's `POST /v1/replies` URL (`X-Wxkf-Reply-To`).
    pub(crate) fn replies_url(&self) -> String {
        format!("{}/v1/replies", self.public_url.get().map(String::as_str).unwrap_or(""))
    }
}
