//! The gateway's own metrics, served at `/metrics` in Prometheus text format.
//!
//! A small registry rather than the `metrics` facade for now: the runtime's metrics (issue 21)
//! will come through that facade, and this module's [`Metrics::render`] is the one place that
//! then appends the facade recorder's output. Labels are the backend's name, the delivery kind
//! and the outcome: never a customer id, msgid or text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// What became of one delivery attempt to a backend (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Answered, and the replies went through `ReplyContext`.
    Ok,
    /// The webhook answered 202; the replies come with `POST /v1/replies`.
    Accepted,
    /// A timeout, connection error or 5xx: the runtime retries it.
    Retried,
    /// A 4xx: not retried, the turn is dead-lettered.
    Rejected,
    /// The runtime gave up on the turn or event.
    DeadLetter,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Accepted => "accepted",
            Outcome::Retried => "retried",
            Outcome::Rejected => "rejected",
            Outcome::DeadLetter => "dead_letter",
        }
    }
}

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    // (backend, kind, outcome) → count
    deliveries: BTreeMap<(String, &'static str, &'static str), u64>,
    latency: BTreeMap<String, Histogram>,
    // outcome → count
    replies: BTreeMap<&'static str, u64>,
}

/// The counters; cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one delivery attempt of `kind` (`turn`, `event`, `reply`) to `backend`.
    pub fn delivery(&self, backend: &str, kind: &'static str, outcome: Outcome) {
        *self.lock().deliveries.entry((backend.to_owned(), kind, outcome.label())).or_default() += 1;
    }

    /// Records how long one call to `backend` took (answered or not).
    pub fn latency(&self, backend: &str, took: Duration) {
        let secs = took.as_secs_f64();
        let mut inner = self.lock();
        let h = inner.latency.entry(backend.to_owned()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Counts replies the gateway sent for the backends (`sent`, `cut`, `session_left_bot`, `failed`).
    pub fn replies(&self, outcome: &'static str, n: u64) {
        *self.lock().replies.entry(outcome).or_default() += n;
    }

    /// The Prometheus text exposition (version 0.0.4), every metric with its HELP and TYPE lines
    /// even before it has a sample.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        out.push_str("# HELP wxkf_gateway_deliveries_total Delivery attempts to backends, by backend, kind (turn, event) and outcome (ok, accepted, retried, rejected, dead_letter).\n");
        out.push_str("# TYPE wxkf_gateway_deliveries_total counter\n");
        for ((backend, kind, outcome), n) in &inner.deliveries {
            let _ = writeln!(
                out,
                "wxkf_gateway_deliveries_total{{backend=\"{}\",kind=\"{kind}\",outcome=\"{outcome}\"}} {n}",
                escape(backend)
            );
        }
        out.push_str(
            "# HELP wxkf_gateway_backend_seconds How long one call to a backend took, answered or not.\n",
        );
        out.push_str("# TYPE wxkf_gateway_backend_seconds histogram\n");
        for (backend, h) in &inner.latency {
            let b = escape(backend);
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "wxkf_gateway_backend_seconds_bucket{{backend=\"{b}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "wxkf_gateway_backend_seconds_bucket{{backend=\"{b}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "wxkf_gateway_backend_seconds_sum{{backend=\"{b}\"}} {}", h.sum);
            let _ = writeln!(out, "wxkf_gateway_backend_seconds_count{{backend=\"{b}\"}} {}", h.count);
        }
        out.push_str("# HELP wxkf_gateway_replies_total Messages the gateway sent to customers for its backends, by outcome (sent, cut, session_left_bot, failed).\n");
        out.push_str("# TYPE wxkf_gateway_replies_total counter\n");
        for (outcome, n) in &inner.replies {
            let _ = writeln!(out, "wxkf_gateway_replies_total{{outcome=\"{outcome}\"}} {n}");
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_help_and_type_before_any_sample() {
        let text = Metrics::default().render();
        for name in
            ["wxkf_gateway_deliveries_total", "wxkf_gateway_backend_seconds", "wxkf_gateway_replies_total"]
        {
            assert!(text.contains(&format!("# HELP {name} ")), "{text}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{text}");
        }
    }

    #[test]
    fn samples_are_counted_by_backend_and_outcome() {
        let m = Metrics::default();
        m.delivery("hook", "turn", Outcome::Retried);
        m.delivery("hook", "turn", Outcome::Retried);
        m.delivery("hook", "turn", Outcome::Ok);
        m.latency("hook", Duration::from_millis(30));
        let text = m.render();
        assert!(
            text.contains(
                "wxkf_gateway_deliveries_total{backend=\"hook\",kind=\"turn\",outcome=\"retried\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("wxkf_gateway_backend_seconds_bucket{backend=\"hook\",le=\"0.025\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("wxkf_gateway_backend_seconds_bucket{backend=\"hook\",le=\"0.05\"} 1"),
            "{text}"
        );
        assert!(text.contains("wxkf_gateway_backend_seconds_count{backend=\"hook\"} 1"), "{text}");
    }
}
