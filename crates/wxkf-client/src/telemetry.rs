//! The client's metrics, emitted through the [`metrics`] facade (nothing is recorded until the
//! application installs a recorder).
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `wxkf_api_errors_total` | counter | path, errcode | API attempts WeCom answered with a non-zero errcode (each attempt, retries included; `path` is the endpoint's, e.g. `/cgi-bin/kf/send_msg`) |
//! | `wxkf_token_fetches_total` | counter | outcome | `gettoken` fetches (with their retries) by outcome: `ok`, `failed` |

/// `wxkf_api_errors_total{path,errcode}`.
pub(crate) const API_ERRORS: &str = "wxkf_api_errors_total";
/// `wxkf_token_fetches_total{outcome}`.
pub(crate) const TOKEN_FETCHES: &str = "wxkf_token_fetches_total";

/// Every metric name this crate emits.
pub const METRIC_NAMES: &[&str] = &[API_ERRORS, TOKEN_FETCHES];

/// Describes every metric of this crate ([`METRIC_NAMES`]) to the installed recorder, so that an
/// exporter lists them (`# HELP`, `# TYPE`) before any sample exists. Call it once after
/// installing the recorder.
///
/// ```
/// wxkf_client::describe_metrics(); // a no-op without a recorder
/// assert!(wxkf_client::METRIC_NAMES.contains(&"wxkf_api_errors_total"));
/// ```
pub fn describe_metrics() {
    metrics::describe_counter!(
        API_ERRORS,
        metrics::Unit::Count,
        "API attempts WeCom answered with a non-zero errcode, by endpoint path and errcode"
    );
    metrics::describe_counter!(
        TOKEN_FETCHES,
        metrics::Unit::Count,
        "gettoken fetches (with their retries) by outcome: ok, failed"
    );
}

/// Counts one API attempt that WeCom answered with `errcode`.
pub(crate) fn api_error(path: &'static str, errcode: i64) {
    metrics::counter!(API_ERRORS, "path" => path, "errcode" => errcode.to_string()).increment(1);
}
