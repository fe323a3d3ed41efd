//! When and how long to wait before repeating a request (errcodes.md, "retry-later").
//!
//! Only requests that are safe to repeat are retried: endpoints marked
//! [`Endpoint::IDEMPOTENT`](wxkf_types::Endpoint::IDEMPOTENT), and sends that carry a `msgid`
//! (WeCom rejects a duplicate `msgid` instead of sending twice). Token errors are handled apart
//! (one refresh, one retry, for every request: WeCom rejected the call before doing anything).

use std::time::Duration;

use rand::Rng;

use crate::error::{Error, is_throttle_code, is_transient_code};

/// How often and how patiently failed requests are repeated.
///
/// Transient failures (transport errors, timeouts, HTTP 5xx, errcode -1 and 6000, a non-JSON body
/// once) wait `initial_backoff · 2ⁿ` (capped at `max_backoff`) with jitter, at most `max_retries`
/// times. Frequency limits (45009, 45033, HTTP 429) wait `throttle_backoff · 4ⁿ` (capped at
/// `throttle_max_backoff`), at most `throttle_retries` times, and count against `max_retries` too.
/// Quota errors (95001, 95002, …) and caller errors are never retried.
///
/// ```
/// use std::time::Duration;
/// use wxkf_client::RetryPolicy;
///
/// let policy = RetryPolicy::default().with_max_retries(5).with_backoff(Duration::from_millis(50), Duration::from_secs(2));
/// assert_eq!(policy.max_retries, 5);
/// assert_eq!(RetryPolicy::none().max_retries, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Most retries of one call (not counting the one retry after a token refresh). Default 3, as
    /// WeCom advises for -1.
    pub max_retries: u32,
    /// First wait for transient failures. Default 200 ms.
    pub initial_backoff: Duration,
    /// Longest wait for transient failures. Default 5 s.
    pub max_backoff: Duration,
    /// Most retries after a frequency or concurrency limit. Default 2.
    pub throttle_retries: u32,
    /// First wait after a frequency or concurrency limit. Default 2 s.
    pub throttle_backoff: Duration,
    /// Longest wait after a frequency or concurrency limit. Default 30 s.
    pub throttle_max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            throttle_retries: 2,
            throttle_backoff: Duration::from_secs(2),
            throttle_max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Never retry (token refresh-and-retry-once still happens).
    pub fn none() -> Self {
        RetryPolicy { max_retries: 0, throttle_retries: 0, ..Self::default() }
    }

    /// Sets [`max_retries`](Self::max_retries).
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the first and the longest wait for transient failures.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Sets how often and how long to wait after frequency or concurrency limits.
    pub fn with_throttle(mut self, retries: u32, initial: Duration, max: Duration) -> Self {
        self.throttle_retries = retries;
        self.throttle_backoff = initial;
        self.throttle_max_backoff = max;
        self
    }
}

/// Why a failed attempt may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryKind {
    /// Transport error, HTTP 5xx, errcode -1/6000.
    Transient,
    /// A 200 whose body is not JSON: retried once.
    BadBody,
    /// 45009, 45033, HTTP 429.
    Throttle,
}

/// The retry kind of an error, if any (token errors are handled elsewhere).
pub(crate) fn classify(err: &Error) -> Option<RetryKind> {
    match err {
        Error::Transport { .. } => Some(RetryKind::Transient),
        Error::Http { status: 429 } => Some(RetryKind::Throttle),
        Error::Http { status } if *status >= 500 => Some(RetryKind::Transient),
        Error::Api { errcode, .. } if is_throttle_code(*errcode) => Some(RetryKind::Throttle),
        Error::Api { errcode, .. } if is_transient_code(*errcode) => Some(RetryKind::Transient),
        Error::Decode { source: Some(source), .. } if source.is_syntax() || source.is_eof() => {
            Some(RetryKind::BadBody)
        }
        _ => None,
    }
}

/// Retry bookkeeping of one call.
#[derive(Debug)]
pub(crate) struct RetryState<'a> {
    policy: &'a RetryPolicy,
    retries: u32,
    throttle_retries: u32,
    bad_body_retries: u32,
}

impl<'a> RetryState<'a> {
    pub(crate) fn new(policy: &'a RetryPolicy) -> Self {
        RetryState { policy, retries: 0, throttle_retries: 0, bad_body_retries: 0 }
    }

    /// Retries done so far.
    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// How long to wait before retrying after `err`, or `None` if the budget is spent or the error
    /// is not retryable.
    pub(crate) fn next_delay(&mut self, err: &Error) -> Option<Duration> {
        let kind = classify(err)?;
        if self.retries >= self.policy.max_retries {
            return None;
        }
        let delay = match kind {
            RetryKind::Transient => {
                backoff(self.policy.initial_backoff, self.policy.max_backoff, 2, self.retries)
            }
            RetryKind::BadBody => {
                if self.bad_body_retries >= 1 {
                    return None;
                }
                self.bad_body_retries += 1;
                backoff(self.policy.initial_backoff, self.policy.max_backoff, 2, self.retries)
            }
            RetryKind::Throttle => {
                if self.throttle_retries >= self.policy.throttle_retries {
                    return None;
                }
                let delay = backoff(
                    self.policy.throttle_backoff,
                    self.policy.throttle_max_backoff,
                    4,
                    self.throttle_retries,
                );
                self.throttle_retries += 1;
                delay
            }
        };
        self.retries += 1;
        Some(delay)
    }
}

/// `base · factorⁿ` capped at `max`, with "equal jitter": half fixed, half random, so many clients
/// that failed together do not retry together.
pub(crate) fn backoff(base: Duration, max: Duration, factor: u32, n: u32) -> Duration {
    let grown = base.saturating_mul(factor.saturating_pow(n.min(16)));
    let capped = grown.min(max);
    let half = capped / 2;
    let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = if jitter_nanos == 0 { 0 } else { rand::rng().random_range(0..=jitter_nanos) };
    half + Duration::from_nanos(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for _ in 0..100 {
            let d0 = backoff(base, max, 2, 0);
            assert!(d0 >= Duration::from_millis(50) && d0 <= base, "{d0:?}");
            let d3 = backoff(base, max, 2, 3);
            assert!(d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(800), "{d3:?}");
            let d20 = backoff(base, max, 2, 20);
            assert!(d20 >= max / 2 && d20 <= max, "{d20:?}");
        }
        assert_eq!(backoff(Duration::ZERO, max, 2, 5), Duration::ZERO);
    }

    #[test]
    fn budgets_are_bounded() {
        let policy =
            RetryPolicy::default().with_max_retries(3).with_throttle(1, Duration::ZERO, Duration::ZERO);
        let mut state = RetryState::new(&policy);
        let busy = Error::api(-1, "busy");
        let throttled = Error::api(45009, "freq");
        assert!(state.next_delay(&throttled).is_some());
        assert!(state.next_delay(&throttled).is_none(), "throttle budget is 1");
        assert!(state.next_delay(&busy).is_some());
        assert!(state.next_delay(&busy).is_some());
        assert!(state.next_delay(&busy).is_none(), "overall budget is 3");
        assert_eq!(state.retries(), 3);

        let mut fresh = RetryState::new(&policy);
        assert!(fresh.next_delay(&Error::api(95001, "quota")).is_none());
        assert!(fresh.next_delay(&Error::Http { status: 400 }).is_none());
        assert!(fresh.next_delay(&Error::Http { status: 502 }).is_some());
        assert!(fresh.next_delay(&Error::Http { status: 429 }).is_some());
    }
}
