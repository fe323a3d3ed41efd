//! Nonces and the one backoff rule of the runtime (a leaf: imports nothing of the crate).

use std::sync::atomic::Ordering;
use std::time::Duration;

/// Random enough to tell instances and marks apart, without a random-number dependency.
pub(crate) fn nonce() -> String {
    format!("{:016x}{:08x}", nonce_u64(), std::process::id())
}

pub(crate) fn nonce_u32() -> u32 {
    (nonce_u64() >> 16) as u32
}

fn nonce_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
    );
    h.finish()
}

/// `base` doubled `failures - 1` times, at most `max`, plus up to a tenth of jitter: the one
/// backoff rule of the runtime (handler retries and pull retries).
pub(crate) fn backoff(base: Duration, failures: u32, max: Duration) -> Duration {
    let d = base.saturating_mul(1u32 << failures.saturating_sub(1).min(16)).min(max);
    let tenth = u32::try_from((d / 10).as_millis()).unwrap_or(u32::MAX).max(1);
    d + Duration::from_millis(u64::from(nonce_u32() % tenth))
}
