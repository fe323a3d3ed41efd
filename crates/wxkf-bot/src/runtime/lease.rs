//! The pull lease of one account, held by one instance of several (docs/scaling.md).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use crate::store::coordinate::Coordinator;

/// This instance's hold on one account's pull lease: renewed in the background every third of
/// the lease time; counted as lost once a renewal is refused or none succeeded for most of it.
pub(crate) struct HeldLease {
    coordinator: Arc<dyn Coordinator>,
    open_kfid: String,
    owner: String,
    state: Arc<LeaseState>,
    heartbeat: tokio::task::JoinHandle<()>,
}

struct LeaseState {
    lost: AtomicBool,
    valid_until: Mutex<Instant>,
}

impl HeldLease {
    pub(crate) fn start(
        coordinator: Arc<dyn Coordinator>,
        open_kfid: &str,
        owner: &str,
        ttl: Duration,
    ) -> Self {
        // a margin for the time a renewal takes to reach the server and for clock drift
        let safe = ttl - ttl / 5;
        let state = Arc::new(LeaseState {
            lost: AtomicBool::new(false),
            valid_until: Mutex::new(Instant::now() + safe),
        });
        let heartbeat = {
            let (coordinator, state) = (Arc::clone(&coordinator), Arc::clone(&state));
            let (open_kfid, owner) = (open_kfid.to_owned(), owner.to_owned());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    let sent = Instant::now();
                    match coordinator.renew_lease(&open_kfid, &owner, ttl).await {
                        Ok(true) => {
                            *state.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = sent + safe;
                        }
                        Ok(false) => {
                            warn!(open_kfid = %open_kfid, "pull lease lost to another instance");
                            state.lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => warn!(open_kfid = %open_kfid, error = %e, "could not renew the pull lease"),
                    }
                }
            })
        };
        HeldLease { coordinator, open_kfid: open_kfid.to_owned(), owner: owner.to_owned(), state, heartbeat }
    }

    pub(crate) fn is_held(&self) -> bool {
        !self.state.lost.load(Ordering::SeqCst)
            && Instant::now() < *self.state.valid_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) async fn release(self) {
        self.heartbeat.abort();
        if let Err(e) = self.coordinator.release_lease(&self.open_kfid, &self.owner).await {
            // it runs out by itself
            warn!(open_kfid = %self.open_kfid, error = %e, "could not release the pull lease");
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}
