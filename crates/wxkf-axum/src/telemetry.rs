//! The callback route's metric, emitted through the [`metrics`](::metrics) facade (nothing is
//! recorded until the application installs a recorder).
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `wxkf_callbacks_total` | counter | result | requests to the callback route by result: `accepted` (a callback answered `success`), `url_verified` (the URL check answered), `bad_signature`, `wrong_receive_id`, `bad_body`, `cannot_decrypt`, `bad_query`, `bad_timestamp`, `stale_timestamp`, `body_too_large`, `bad_event`, `shutting_down` |

/// `wxkf_callbacks_total{result}`.
pub(crate) const CALLBACKS: &str = "wxkf_callbacks_total";

/// Every metric name this crate emits.
pub const METRIC_NAMES: &[&str] = &[CALLBACKS];

/// Describes every metric of this crate ([`METRIC_NAMES`]) to the installed recorder, so that an
/// exporter lists them (`# HELP`, `# TYPE`) before any sample exists. Call it once after
/// installing the recorder (with [`wxkf_bot::describe_metrics`] and
/// `wxkf_client::describe_metrics` for the runtime's).
///
/// ```
/// wxkf_axum::describe_metrics(); // a no-op without a recorder
/// assert_eq!(wxkf_axum::METRIC_NAMES, ["wxkf_callbacks_total"]);
/// ```
pub fn describe_metrics() {
    ::metrics::describe_counter!(
        CALLBACKS,
        ::metrics::Unit::Count,
        "Requests to the callback route by result: accepted, url_verified, bad_signature, bad_body, ..."
    );
}

/// Counts one request to the callback route.
pub(crate) fn callback(result: &'static str) {
    ::metrics::counter!(CALLBACKS, "result" => result).increment(1);
}

/// The `result` label of a rejection, from its reason.
pub(crate) fn rejection_result(reason: &str) -> &'static str {
    match reason {
        "bad signature" => "bad_signature",
        "wrong receive id" => "wrong_receive_id",
        "bad body" => "bad_body",
        "cannot decrypt" => "cannot_decrypt",
        "bad timestamp" => "bad_timestamp",
        "stale timestamp" => "stale_timestamp",
        "body too large" => "body_too_large",
        "bad event" => "bad_event",
        "shutting down" => "shutting_down",
        _ => "bad_query",
    }
}
