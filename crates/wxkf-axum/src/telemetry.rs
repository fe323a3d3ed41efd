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

/// The route's metadata for its counter (what `metrics::counter!` would give it).
static METADATA: ::metrics::Metadata<'static> =
    ::metrics::Metadata::new(module_path!(), ::metrics::Level::INFO, Some(module_path!()));

/// A `wxkf_callbacks_total` key with its `result` label, built (and hashed) at compile time, so
/// counting a request neither allocates nor hashes (benches/callback_route.rs measures the cost).
macro_rules! results {
    ($($name:ident => $value:literal),* $(,)?) => {
        $(
            #[doc = concat!("`wxkf_callbacks_total{result=\"", $value, "\"}`.")]
            pub(crate) static $name: ::metrics::Key = {
                static LABELS: [::metrics::Label; 1] = [::metrics::Label::from_static_parts("result", $value)];
                ::metrics::Key::from_static_parts(CALLBACKS, &LABELS)
            };
        )*
    };
}

results! {
    ACCEPTED => "accepted",
    URL_VERIFIED => "url_verified",
    BAD_SIGNATURE => "bad_signature",
    WRONG_RECEIVE_ID => "wrong_receive_id",
    BAD_BODY => "bad_body",
    CANNOT_DECRYPT => "cannot_decrypt",
    BAD_QUERY => "bad_query",
    BAD_TIMESTAMP => "bad_timestamp",
    STALE_TIMESTAMP => "stale_timestamp",
    BODY_TOO_LARGE => "body_too_large",
    BAD_EVENT => "bad_event",
    SHUTTING_DOWN => "shutting_down",
}

/// Counts one request to the callback route under `result` (one of the keys above).
pub(crate) fn callback(result: &'static ::metrics::Key) {
    ::metrics::with_recorder(|recorder| recorder.register_counter(result, &METADATA)).increment(1);
}

/// The `wxkf_callbacks_total` key of a rejection, from its reason.
pub(crate) fn rejection_result(reason: &str) -> &'static ::metrics::Key {
    match reason {
        "bad signature" => &BAD_SIGNATURE,
        "wrong receive id" => &WRONG_RECEIVE_ID,
        "bad body" => &BAD_BODY,
        "cannot decrypt" => &CANNOT_DECRYPT,
        "bad timestamp" => &BAD_TIMESTAMP,
        "stale timestamp" => &STALE_TIMESTAMP,
        "body too large" => &BODY_TOO_LARGE,
        "bad event" => &BAD_EVENT,
        "shutting down" => &SHUTTING_DOWN,
        _ => &BAD_QUERY,
    }
}
