//! The gateway's recorder for the `metrics` facade: what wxkf-bot, wxkf-client and wxkf-axum
//! emit is kept here and shown at `/metrics` in Prometheus text format, every described metric
//! with its `# HELP` and `# TYPE` lines from the start (before any sample), and read by the
//! status page (`/status`).
//!
//! Counters and gauges are one atomic each; a histogram is a fixed set of buckets (the
//! Prometheus kind), so memory stays bounded whatever the traffic. Series are keyed by name and
//! labels; the libraries' labels are only `open_kfid`, `outcome`, `result`, `path` and
//! `errcode`, so their number is bounded by the accounts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{Registry, Storage};

/// Upper bounds of the histogram buckets, in seconds (handler calls run up to minutes).
pub(crate) const BUCKETS: [f64; 15] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// One histogram: a count per bucket (not cumulative; the last is `+Inf`), the sum and the count.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    counts: [AtomicU64; BUCKETS.len() + 1],
    // f64 bits
    sum: AtomicU64,
}

impl Buckets {
    /// The count per bucket (the last is past every bound), not cumulative.
    pub(crate) fn counts(&self) -> [u64; BUCKETS.len() + 1] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }

    fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }
}

impl HistogramFn for Buckets {
    fn record(&self, value: f64) {
        let i = BUCKETS.iter().position(|b| value <= *b).unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let _ = self.sum.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            Some((f64::from_bits(bits) + value).to_bits())
        });
    }
}

/// How the registry makes each kind of series.
#[derive(Debug, Default)]
struct Cells;

impl Storage<Key> for Cells {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<AtomicU64>;
    type Histogram = Arc<Buckets>;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::default()
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::default()
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        Arc::default()
    }
}

/// The kind of a described metric, as its `# TYPE` line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The recorder: every series and every description.
pub struct Telemetry {
    registry: Registry<Key, Cells>,
    // name → (kind, help)
    described: Mutex<BTreeMap<String, (Kind, String)>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

/// The process's recorder, installed as the global one the first time (every gateway of the
/// process shares it). If another recorder was installed before, the libraries report there and
/// this one shows only the descriptions (a warning says so).
pub fn global() -> &'static Telemetry {
    static GLOBAL: OnceLock<&'static Telemetry> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let telemetry: &'static Telemetry =
            Box::leak(Box::new(Telemetry { registry: Registry::new(Cells), described: Mutex::default() }));
        if metrics::set_global_recorder(Handle(telemetry)).is_err() {
            tracing::warn!(
                "another metrics recorder is installed: /metrics shows only the gateway's own counters"
            );
        }
        // described here too, so /metrics lists them whichever recorder is global
        metrics::with_local_recorder(&Handle(telemetry), || {
            wxkf_bot::describe_metrics();
            wxkf_client::describe_metrics();
            wxkf_axum::describe_metrics();
        });
        telemetry
    })
}

/// The recorder as the facade holds it.
struct Handle(&'static Telemetry);

impl Recorder for Handle {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, help: SharedString) {
        self.0.describe(key, Kind::Counter, help);
    }

    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, help: SharedString) {
        self.0.describe(key, Kind::Gauge, help);
    }

    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, help: SharedString) {
        self.0.describe(key, Kind::Histogram, help);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0.registry.get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0.registry.get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0.registry.get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}

/// What the status page reads of one account.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct AccountTotals {
    /// `wxkf_messages_handled_total` by outcome (ok, dead_letter), summed.
    pub(crate) handled: u64,
    /// `wxkf_replies_total{outcome="budget_refused"}`.
    pub(crate) budget_refused: u64,
    /// `wxkf_handler_seconds`, per bucket.
    pub(crate) handler: [u64; BUCKETS.len() + 1],
    /// `wxkf_cursor_lag_seconds`.
    pub(crate) cursor_lag: f64,
    /// `wxkf_lanes_active`.
    pub(crate) lanes_active: f64,
    /// `wxkf_sessions_held_by_servicer`.
    pub(crate) sessions_held: f64,
    /// `wxkf_in_flight`.
    pub(crate) in_flight: f64,
}

fn label<'a>(key: &'a Key, name: &str) -> Option<&'a str> {
    key.labels().find(|l| l.key() == name).map(|l| l.value())
}

impl Telemetry {
    fn describe(&self, key: KeyName, kind: Kind, help: SharedString) {
        let mut described = self.described.lock().unwrap_or_else(|e| e.into_inner());
        described.insert(key.as_str().to_owned(), (kind, help.to_string()));
    }

    /// The totals of every account seen in a metric, by open_kfid.
    pub(crate) fn accounts(&self) -> BTreeMap<String, AccountTotals> {
        let mut out: BTreeMap<String, AccountTotals> = BTreeMap::new();
        self.registry.visit_counters(|key, c| {
            let Some(kfid) = label(key, "open_kfid") else { return };
            let v = c.load(Ordering::Relaxed);
            let outcome = label(key, "outcome");
            match key.name() {
                "wxkf_messages_handled_total" if matches!(outcome, Some("ok" | "dead_letter")) => {
                    out.entry(kfid.to_owned()).or_default().handled += v;
                }
                "wxkf_replies_total" if outcome == Some("budget_refused") => {
                    out.entry(kfid.to_owned()).or_default().budget_refused += v;
                }
                "wxkf_messages_pulled_total" => {
                    out.entry(kfid.to_owned()).or_default();
                }
                _ => {}
            }
        });
        self.registry.visit_gauges(|key, g| {
            let Some(kfid) = label(key, "open_kfid") else { return };
            let v = f64::from_bits(g.load(Ordering::Relaxed));
            let t = out.entry(kfid.to_owned()).or_default();
            match key.name() {
                "wxkf_cursor_lag_seconds" => t.cursor_lag = v,
                "wxkf_lanes_active" => t.lanes_active = v,
                "wxkf_sessions_held_by_servicer" => t.sessions_held = v,
                "wxkf_in_flight" => t.in_flight = v,
                _ => {}
            }
        });
        self.registry.visit_histograms(|key, h| {
            let Some(kfid) = label(key, "open_kfid") else { return };
            if key.name() == "wxkf_handler_seconds" {
                let t = out.entry(kfid.to_owned()).or_default();
                for (sum, n) in t.handler.iter_mut().zip(h.counts()) {
                    *sum += n;
                }
            }
        });
        out
    }

    /// Every series in Prometheus text format (version 0.0.4), each described metric with its
    /// `# HELP` and `# TYPE` lines even before it has a sample.
    pub fn render(&self) -> String {
        // name → lines of samples
        let mut series: BTreeMap<String, (Kind, Vec<String>)> = BTreeMap::new();
        self.registry.visit_counters(|key, c| {
            let line = format!("{}{} {}", key.name(), labels(key, None), c.load(Ordering::Relaxed));
            series.entry(key.name().to_owned()).or_insert((Kind::Counter, Vec::new())).1.push(line);
        });
        self.registry.visit_gauges(|key, g| {
            let v = f64::from_bits(g.load(Ordering::Relaxed));
            let line = format!("{}{} {}", key.name(), labels(key, None), number(v));
            series.entry(key.name().to_owned()).or_insert((Kind::Gauge, Vec::new())).1.push(line);
        });
        self.registry.visit_histograms(|key, h| {
            let name = key.name();
            let counts = h.counts();
            let mut lines = Vec::with_capacity(counts.len() + 2);
            let mut cumulative = 0;
            for (i, n) in counts.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS.get(i).map_or_else(|| "+Inf".to_owned(), |b| number(*b));
                lines.push(format!("{name}_bucket{} {cumulative}", labels(key, Some(&le))));
            }
            lines.push(format!("{name}_sum{} {}", labels(key, None), number(h.sum())));
            lines.push(format!("{name}_count{} {cumulative}", labels(key, None)));
            series.entry(name.to_owned()).or_insert((Kind::Histogram, Vec::new())).1.extend(lines);
        });
        let described = self.described.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (name, (kind, _)) in &described {
            series.entry(name.clone()).or_insert((*kind, Vec::new()));
        }
        let mut out = String::new();
        for (name, (kind, mut lines)) in series {
            let help = described.get(&name).map_or("", |(_, h)| h.as_str());
            let _ = writeln!(out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
            let _ = writeln!(out, "# TYPE {name} {}", kind.name());
            lines.sort();
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

/// `{a="x",b="y"}` (with `le` last for a bucket), or nothing without labels.
fn labels(key: &Key, le: Option<&str>) -> String {
    let mut parts: Vec<String> =
        key.labels().map(|l| format!("{}=\"{}\"", l.key(), escape(l.value()))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A float as Prometheus reads it (integers without a fraction).
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v}") }
}

/// The `q` quantile (0–1) of a histogram's bucket counts: the upper bound of the bucket it falls
/// in (`None` without samples; past the last bound, the last bound).
pub(crate) fn quantile(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(BUCKETS.get(i).copied().unwrap_or(BUCKETS[BUCKETS.len() - 1]));
        }
    }
    BUCKETS.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> &'static Telemetry {
        Box::leak(Box::new(Telemetry { registry: Registry::new(Cells), described: Mutex::default() }))
    }

    #[test]
    fn described_metrics_have_help_and_type_before_any_sample() {
        let t = fresh();
        metrics::with_local_recorder(&Handle(t), || {
            wxkf_bot::describe_metrics();
            wxkf_client::describe_metrics();
            wxkf_axum::describe_metrics();
        });
        let text = t.render();
        for name in
            wxkf_bot::METRIC_NAMES.iter().chain(wxkf_client::METRIC_NAMES).chain(wxkf_axum::METRIC_NAMES)
        {
            assert!(
                text.contains(&format!("\n# HELP {name} ")) || text.starts_with(&format!("# HELP {name} ")),
                "{name}: {text}"
            );
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}: {text}");
        }
        assert!(text.contains("# TYPE wxkf_handler_seconds histogram"));
        assert!(text.contains("# TYPE wxkf_callbacks_total counter"));
        assert!(text.contains("# TYPE wxkf_cursor_lag_seconds gauge"));
    }

    #[test]
    fn samples_render_as_prometheus_text_and_feed_the_accounts() {
        let t = fresh();
        metrics::with_local_recorder(&Handle(t), || {
            metrics::counter!("wxkf_messages_handled_total", "open_kfid" => "wk1", "outcome" => "ok")
                .increment(3);
            metrics::counter!("wxkf_messages_handled_total", "open_kfid" => "wk1", "outcome" => "retried")
                .increment(5);
            metrics::counter!("wxkf_replies_total", "open_kfid" => "wk1", "outcome" => "budget_refused")
                .increment(2);
            metrics::gauge!("wxkf_cursor_lag_seconds", "open_kfid" => "wk1").set(7.0);
            metrics::histogram!("wxkf_handler_seconds", "open_kfid" => "wk1").record(0.2);
            metrics::histogram!("wxkf_handler_seconds", "open_kfid" => "wk1").record(4.0);
        });
        let text = t.render();
        assert!(text.contains("wxkf_messages_handled_total{open_kfid=\"wk1\",outcome=\"ok\"} 3"), "{text}");
        assert!(text.contains("wxkf_cursor_lag_seconds{open_kfid=\"wk1\"} 7"), "{text}");
        assert!(text.contains("wxkf_handler_seconds_bucket{open_kfid=\"wk1\",le=\"0.1\"} 0"), "{text}");
        assert!(text.contains("wxkf_handler_seconds_bucket{open_kfid=\"wk1\",le=\"0.25\"} 1"), "{text}");
        assert!(text.contains("wxkf_handler_seconds_bucket{open_kfid=\"wk1\",le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("wxkf_handler_seconds_count{open_kfid=\"wk1\"} 2"), "{text}");
        assert!(text.contains("wxkf_handler_seconds_sum{open_kfid=\"wk1\"} 4.2"), "{text}");
        let wk1 = t.accounts().remove("wk1").unwrap();
        assert_eq!(wk1.handled, 3, "retried attempts are not handled messages");
        assert_eq!(wk1.budget_refused, 2);
        assert_eq!(wk1.cursor_lag, 7.0);
        assert_eq!(quantile(&wk1.handler, 0.5), Some(0.25));
        assert_eq!(quantile(&wk1.handler, 0.95), Some(5.0));
        assert_eq!(quantile(&[0; BUCKETS.len() + 1], 0.5), None);
    }
}
