//! The runtime's metrics, emitted through the [`metrics`] facade: nothing is recorded until the
//! application installs a recorder (any exporter: Prometheus, StatsD, …), and then every metric
//! below is reported under its exact name.
//!
//! Labels are only `open_kfid` and `outcome`: never an external_userid, a msgid or a text, so the
//! number of series stays bounded by the number of accounts and no customer id leaves the
//! process through them.
//!

/// `wxkf_messages_pulled_total{open_kfid}`.
pub(crate) const MESSAGES_PULLED: &str = "wxkf_messages_pulled_total";
/// `wxkf_messages_handled_total{open_kfid,outcome}`.
pub(crate) const MESSAGES_HANDLED: &str = "wxkf_messages_handled_total";
/// `wxkf_handler_seconds{open_kfid}`.
pub(crate) const HANDLER_SECONDS: &str = "wxkf_handler_seconds";
/// `wxkf_pull_seconds{open_kfid}`.
pub(crate) const PULL_SECONDS: &str = "wxkf_pull_seconds";
/// `wxkf_lanes_active`.
pub(crate) const LANES_ACTIVE: &str = "wxkf_lanes_active";
/// `wxkf_handlers_running`.
pub(crate) const HANDLERS_RUNNING: &str = "wxkf_handlers_running";
/// `wxkf_in_flight{open_kfid}`.
pub(crate) const IN_FLIGHT: &str = "wxkf_in_flight";
/// `wxkf_replies_total{open_kfid,outcome}`.
pub(crate) const REPLIES: &str = "wxkf_replies_total";
/// `wxkf_cursor_lag_seconds{open_kfid}`.
pub(crate) const CURSOR_LAG: &str = "wxkf_cursor_lag_seconds";
/// `wxkf_dead_letters{open_kfid}`.
pub(crate) const DEAD_LETTERS: &str = "wxkf_dead_letters";
/// `wxkf_dead_letter_store_errors_total{open_kfid}`.
pub(crate) const DEAD_LETTER_STORE_ERRORS: &str = "wxkf_dead_letter_store_errors_total";
/// `wxkf_sessions_held_by_servicer{open_kfid}`.
pub(crate) const SESSIONS_HELD: &str = "wxkf_sessions_held_by_servicer";

/// Every metric name this crate emits. Labels are only `open_kfid` and `outcome`: never an
/// external_userid, a msgid or a text.
///
/// | name | type | labels | what |
/// |---|---|---|---|
/// | `wxkf_messages_pulled_total` | counter | open_kfid | messages `sync_msg` returned that were not handled before |
/// | `wxkf_messages_handled_total` | counter | open_kfid, outcome | `ok`: the handler returned (or the session left the bot); `retried`: an attempt failed and is retried; `dead_letter`: given up |
/// | `wxkf_handler_seconds` | histogram | open_kfid | one handler attempt |
/// | `wxkf_pull_seconds` | histogram | open_kfid | one `sync_msg` page request |
/// | `wxkf_lanes_active` | gauge | open_kfid | lanes (one per customer, plus one for events without a customer and one for servicer items) with work queued or running |
/// | `wxkf_handlers_running` | gauge | – | handler attempts running now |
/// | `wxkf_in_flight` | gauge | open_kfid | pulled messages waiting or being handled |
/// | `wxkf_replies_total` | counter | open_kfid, outcome | `sent`, `budget_refused`, `session_left_bot`, `failed` |
/// | `wxkf_cursor_lag_seconds` | gauge | open_kfid | now minus the send_time of the oldest message of the oldest pulled page not wholly done (0 when none); refreshed at least every 5 s while messages wait |
/// | `wxkf_dead_letters` | gauge | open_kfid | dead letters kept in the store |
/// | `wxkf_dead_letter_store_errors_total` | counter | open_kfid | dead letters that could not be kept (the hook still ran) |
/// | `wxkf_sessions_held_by_servicer` | gauge | open_kfid | sessions the session-state cache knows as held by a servicer (state 3) |
pub const METRIC_NAMES: &[&str] = &[
    MESSAGES_PULLED,
    MESSAGES_HANDLED,
    HANDLER_SECONDS,
    PULL_SECONDS,
    LANES_ACTIVE,
    HANDLERS_RUNNING,
    IN_FLIGHT,
    REPLIES,
    CURSOR_LAG,
    DEAD_LETTERS,
    DEAD_LETTER_STORE_ERRORS,
    SESSIONS_HELD,
];

/// Describes every metric of this crate ([`METRIC_NAMES`]) to the installed recorder: its type,
/// unit and help text, so that an exporter lists them (`# HELP`, `# TYPE`) before any sample
/// exists. Call it once after installing the recorder.
///
/// ```
/// // with metrics_exporter_prometheus (or any recorder) installed first:
/// wxkf_bot::describe_metrics();
/// assert!(wxkf_bot::METRIC_NAMES.contains(&"wxkf_cursor_lag_seconds"));
/// ```
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        MESSAGES_PULLED,
        Unit::Count,
        "Messages sync_msg returned that were not handled before, per account"
    );
    describe_counter!(
        MESSAGES_HANDLED,
        Unit::Count,
        "Handler outcomes per account: ok, retried (an attempt failed and is retried), dead_letter (given up)"
    );
    describe_histogram!(HANDLER_SECONDS, Unit::Seconds, "Duration of one handler attempt");
    describe_histogram!(PULL_SECONDS, Unit::Seconds, "Duration of one sync_msg page request");
    describe_gauge!(
        LANES_ACTIVE,
        Unit::Count,
        "Lanes (one per customer) with work queued or running, per account"
    );
    describe_gauge!(HANDLERS_RUNNING, Unit::Count, "Handler attempts running now");
    describe_gauge!(IN_FLIGHT, Unit::Count, "Pulled messages waiting or being handled, per account");
    describe_counter!(
        REPLIES,
        Unit::Count,
        "Replies per account by outcome: sent, budget_refused, session_left_bot, failed"
    );
    describe_gauge!(
        CURSOR_LAG,
        Unit::Seconds,
        "How far the oldest pulled message not yet done is behind now, per account (0 when none)"
    );
    describe_gauge!(DEAD_LETTERS, Unit::Count, "Dead letters kept in the store, per account");
    describe_counter!(
        DEAD_LETTER_STORE_ERRORS,
        Unit::Count,
        "Dead letters that could not be kept in the store (the hook still ran), per account"
    );
    describe_gauge!(
        SESSIONS_HELD,
        Unit::Count,
        "Sessions the runtime knows as held by a servicer (service state 3), per account"
    );
}

/// The `open_kfid` label of a metric: the account, owned (labels outlive the call).
fn kfid(open_kfid: &str) -> [(&'static str, String); 1] {
    [("open_kfid", open_kfid.to_owned())]
}

/// `n` new messages pulled for `open_kfid`.
pub(crate) fn pulled(open_kfid: &str, n: u64) {
    if n > 0 {
        metrics::counter!(MESSAGES_PULLED, &kfid(open_kfid)).increment(n);
    }
}

/// One handler outcome (`ok`, `retried`, `dead_letter`).
pub(crate) fn handled(open_kfid: &str, outcome: &'static str) {
    metrics::counter!(MESSAGES_HANDLED, "open_kfid" => open_kfid.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// One handler attempt took `secs`.
pub(crate) fn handler_took(open_kfid: &str, took: std::time::Duration) {
    metrics::histogram!(HANDLER_SECONDS, &kfid(open_kfid)).record(took.as_secs_f64());
}

/// One `sync_msg` page request took `took`.
pub(crate) fn pull_took(open_kfid: &str, took: std::time::Duration) {
    metrics::histogram!(PULL_SECONDS, &kfid(open_kfid)).record(took.as_secs_f64());
}

/// A lane of `open_kfid` started (`+1`) or ended (`-1`).
pub(crate) fn lane(open_kfid: &str, delta: f64) {
    metrics::gauge!(LANES_ACTIVE, &kfid(open_kfid)).increment(delta);
}

/// A handler attempt started (`+1`) or ended (`-1`).
pub(crate) fn handler_running(delta: f64) {
    metrics::gauge!(HANDLERS_RUNNING).increment(delta);
}

/// The account's pulled messages not done yet, and how far the oldest is behind now.
pub(crate) fn backlog(open_kfid: &str, in_flight: usize, lag_secs: u64) {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    metrics::gauge!(IN_FLIGHT, &kfid(open_kfid)).set(in_flight as f64);
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(CURSOR_LAG, &kfid(open_kfid)).set(lag_secs as f64);
}

/// Replies of `open_kfid` by outcome (`sent`, `budget_refused`, `session_left_bot`, `failed`).
pub(crate) fn replies(open_kfid: &str, outcome: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(REPLIES, "open_kfid" => open_kfid.to_owned(), "outcome" => outcome).increment(n);
    }
}

/// The dead letters kept for `open_kfid` now.
pub(crate) fn dead_letters(open_kfid: &str, kept: usize) {
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(DEAD_LETTERS, &kfid(open_kfid)).set(kept as f64);
}

/// A dead letter of `open_kfid` could not be kept.
pub(crate) fn dead_letter_store_error(open_kfid: &str) {
    metrics::counter!(DEAD_LETTER_STORE_ERRORS, &kfid(open_kfid)).increment(1);
}

/// A session of `open_kfid` became held by a servicer (`+1`) or stopped being (`-1`).
pub(crate) fn session_held(open_kfid: &str, delta: f64) {
    metrics::gauge!(SESSIONS_HELD, &kfid(open_kfid)).increment(delta);
}
