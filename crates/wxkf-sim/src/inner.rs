//! The state one simulator's server and handle share: the API's state behind a lock, the
//! callback target and the client that pushes to it. Both `sim` (the handle) and `server` (the
//! HTTP side) use it; it uses neither.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use wxkf_crypto::CallbackCrypto;

use crate::state::State;

/// Where callbacks go and how they are signed and encrypted.
#[derive(Debug, Clone)]
pub(crate) struct CallbackTarget {
    pub(crate) url: String,
    pub(crate) crypto: CallbackCrypto,
}

impl CallbackTarget {
    pub(crate) fn new(url: &str, token: &str, key: &str, corp_id: &str) -> Result<Self, wxkf_crypto::Error> {
        let crypto = CallbackCrypto::new(token, key, corp_id)?;
        Ok(CallbackTarget { url: url.to_owned(), crypto })
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) changed: Notify,
    pub(crate) callback: Mutex<Option<CallbackTarget>>,
    pub(crate) http: reqwest::Client,
    pub(crate) callback_attempts: u32,
    pub(crate) retry_on_status: bool,
    /// At most this many callback requests in flight (`None`: no limit), so a crowd's pushes
    /// share a few keep-alive connections instead of opening one each.
    pub(crate) callback_slots: Option<tokio::sync::Semaphore>,
    /// The runtime the simulator was started on: pushes are spawned there, so customers can be
    /// scripted from any thread.
    pub(crate) runtime: tokio::runtime::Handle,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
