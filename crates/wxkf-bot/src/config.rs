//! [`BotConfig`]: the tuning of the runtime, part of the public face with [`Bot`](crate::Bot)
//! and [`BotBuilder`](crate::BotBuilder).

use std::time::Duration;

use crate::conversation::{DEFAULT_CUT_MARKER, Placeholder, TurnConfig};
use crate::error::BotError;

/// How long a dead letter is kept by default: 7 days.
pub(crate) const DEFAULT_DEAD_LETTER_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Tuning of the runtime; `BotConfig::default()` suits most bots. [`BotBuilder::build`](crate::BotBuilder::build) refuses
/// values that cannot work (zero limits, a zero lease).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BotConfig {
    /// Retries of a failing handler before the message goes to the dead-letter hook (default 3).
    /// Errors that cannot succeed on retry (see [`ReplyError::is_permanent`](crate::ReplyError::is_permanent)) are not retried.
    pub handler_retries: u32,
    /// Delay before the first retry, doubled for each further one (default 500 ms).
    pub retry_backoff: Duration,
    /// How long one handler call may take before it counts as failed (default 2 minutes; an LLM
    /// call takes 2–30 s).
    pub handler_timeout: Duration,
    /// How many handlers run at once in this runtime, over all customers and accounts (default
    /// 256). One customer's messages are always handled one at a time, in order.
    pub max_concurrent_handlers: usize,
    /// How many pulled messages of one account may wait or run at once; the pull loop stops
    /// pulling more until some are done (default 5 000).
    pub max_in_flight_per_account: usize,
    /// On first start without a cursor, messages sent before start minus this grace are skipped
    /// (default 60 s).
    pub history_grace: Duration,
    /// How long a handled msgid is remembered (default and minimum 3 days).
    pub dedupe_ttl: Duration,
    /// At most this many msgids are remembered by the in-memory dedupe (default 200 000).
    pub dedupe_capacity: usize,
    /// `sync_msg` page size, 1–1000 (default 1000).
    pub page_limit: u32,
    /// Safety stop for one pull (default 10 000 pages).
    pub max_pages_per_pull: usize,
    /// With a [`Coordinator`](crate::Coordinator): how long an instance's pull lease on one open_kfid lasts without
    /// renewal (default 30 s). The holder renews it every third of that while it pulls or its
    /// messages are being handled; if the holder dies, another instance takes over once it runs out.
    pub lease_ttl: Duration,
    /// A pull that failed is tried again after this delay, doubled per further failure up to
    /// [`pull_retry_max`](Self::pull_retry_max) (default 1 s).
    pub pull_retry_backoff: Duration,
    /// The longest delay between two tries of a failing pull (default 60 s).
    pub pull_retry_max: Duration,
    /// Every known account is pulled without a callback token this often, to catch callbacks
    /// WeCom gave up on (default 5 minutes; `None` turns it off). Tokenless pulls are rate-limited
    /// by WeCom (kf-api.md §5.1): keep it to minutes.
    pub reconcile_interval: Option<Duration>,
    /// Turns (docs/ai-bot.md): a customer's consecutive messages merged into one call of
    /// [`Handler::on_turn`](crate::Handler::on_turn). `None` (default): one call per message.
    pub turns: Option<TurnConfig>,
    /// The placeholder policy (docs/ai-bot.md): a text sent when a customer's message or turn has
    /// had no reply for a while, only if it leaves a reply for the answer. `None` (default): none.
    pub placeholder: Option<Placeholder>,
    /// Ends the last message of an answer cut to the budget by
    /// [`ReplyContext::reply_parts_fit`](crate::ReplyContext::reply_parts_fit) (default
    /// [`DEFAULT_CUT_MARKER`](crate::DEFAULT_CUT_MARKER), "…（回答过长，已截断）").
    pub cut_marker: String,
    /// Whether a customer whose session state the runtime does not know yet is looked up with
    /// `service_state/get` (one call per customer, then kept current from events and the bot's
    /// own transitions) before the handler runs and before each reply. Default `false`: only
    /// states learned from `session_status_change` events and the bot's own transitions count.
    pub session_lookup: bool,
    /// How far WeCom's clock may run ahead of this machine's (default 2 s). A reply that reached
    /// WeCom up to this long before a customer message's `send_time` may have crossed it, so it
    /// counts against the five replies that message allows, unless the bot knows better (a pull
    /// or the message's callback after the reply; docs/architecture.md, "The reply budget").
    /// Larger is more cautious: a reply may be left unused that WeCom would have taken.
    pub clock_skew: Duration,
    /// How long a dead letter is kept in the [`DeadLetterStore`](crate::DeadLetterStore) for
    /// [`Bot::replay`](crate::Bot::replay) (default 7 days, at least 1 s). It expires this long
    /// after it was dead-lettered (or last replayed without success).
    pub dead_letter_retention: Duration,
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            handler_retries: 3,
            retry_backoff: Duration::from_millis(500),
            handler_timeout: Duration::from_secs(120),
            max_concurrent_handlers: 256,
            max_in_flight_per_account: 5_000,
            history_grace: Duration::from_secs(60),
            dedupe_ttl: Duration::from_secs(3 * 24 * 3600),
            dedupe_capacity: 200_000,
            page_limit: 1000,
            max_pages_per_pull: 10_000,
            lease_ttl: Duration::from_secs(30),
            pull_retry_backoff: Duration::from_secs(1),
            pull_retry_max: Duration::from_secs(60),
            reconcile_interval: Some(Duration::from_secs(300)),
            turns: None,
            placeholder: None,
            cut_marker: DEFAULT_CUT_MARKER.to_owned(),
            session_lookup: false,
            clock_skew: Duration::from_secs(2),
            dead_letter_retention: DEFAULT_DEAD_LETTER_RETENTION,
        }
    }
}

impl BotConfig {
    /// Sets [`handler_retries`](Self::handler_retries) and [`retry_backoff`](Self::retry_backoff).
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.handler_retries = retries;
        self.retry_backoff = backoff;
        self
    }

    /// Sets [`handler_timeout`](Self::handler_timeout).
    pub fn with_handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// Sets [`max_concurrent_handlers`](Self::max_concurrent_handlers).
    pub fn with_max_concurrent_handlers(mut self, n: usize) -> Self {
        self.max_concurrent_handlers = n;
        self
    }

    /// Sets [`max_in_flight_per_account`](Self::max_in_flight_per_account).
    pub fn with_max_in_flight_per_account(mut self, n: usize) -> Self {
        self.max_in_flight_per_account = n;
        self
    }

    /// Sets [`history_grace`](Self::history_grace).
    pub fn with_history_grace(mut self, grace: Duration) -> Self {
        self.history_grace = grace;
        self
    }

    /// Sets [`lease_ttl`](Self::lease_ttl) (at least 300 ms).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Sets [`page_limit`](Self::page_limit) (1–1000).
    pub fn with_page_limit(mut self, limit: u32) -> Self {
        self.page_limit = limit;
        self
    }

    /// Sets [`pull_retry_backoff`](Self::pull_retry_backoff) and [`pull_retry_max`](Self::pull_retry_max).
    pub fn with_pull_retry(mut self, backoff: Duration, max: Duration) -> Self {
        self.pull_retry_backoff = backoff;
        self.pull_retry_max = max;
        self
    }

    /// Sets [`reconcile_interval`](Self::reconcile_interval).
    pub fn with_reconcile_interval(mut self, every: Option<Duration>) -> Self {
        self.reconcile_interval = every;
        self
    }

    /// Turns on turns: a customer's messages reach [`Handler::on_turn`](crate::Handler::on_turn)
    /// together once the customer was quiet for `quiet` (e.g. 1.5 s), or `max_total` after the
    /// first one; a message that comes while the answer runs goes into the next turn.
    pub fn with_turns(mut self, quiet: Duration, max_total: Duration) -> Self {
        self.turns = Some(TurnConfig::new(quiet, max_total));
        self
    }

    /// Sets [`turns`](Self::turns) (e.g. `TurnConfig::new(quiet, max).cancelling()`).
    pub fn with_turn_config(mut self, turns: TurnConfig) -> Self {
        self.turns = Some(turns);
        self
    }

    /// Sets the [`placeholder`](Self::placeholder) policy: `text` after `after` without a reply.
    pub fn with_placeholder(mut self, after: Duration, text: impl Into<String>) -> Self {
        self.placeholder = Some(Placeholder::new(after, text));
        self
    }

    /// Sets [`cut_marker`](Self::cut_marker).
    pub fn with_cut_marker(mut self, marker: impl Into<String>) -> Self {
        self.cut_marker = marker.into();
        self
    }

    /// Sets [`clock_skew`](Self::clock_skew).
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// Sets [`dead_letter_retention`](Self::dead_letter_retention).
    pub fn with_dead_letter_retention(mut self, retention: Duration) -> Self {
        self.dead_letter_retention = retention;
        self
    }

    /// Sets [`session_lookup`](Self::session_lookup).
    pub fn with_session_lookup(mut self, lookup: bool) -> Self {
        self.session_lookup = lookup;
        self
    }

    /// The first value that cannot work, as an error naming it.
    pub(crate) fn validate(&self) -> Result<(), BotError> {
        let bad = |field: &'static str, reason: &str| {
            Err(BotError::InvalidConfig { field, reason: reason.to_owned() })
        };
        if self.lease_ttl < Duration::from_millis(300) {
            return bad("lease_ttl", "must be at least 300 ms: the holder renews it every third of it");
        }
        if self.max_concurrent_handlers == 0 {
            return bad("max_concurrent_handlers", "must be at least 1, or no handler ever runs");
        }
        if self.max_in_flight_per_account == 0 {
            return bad("max_in_flight_per_account", "must be at least 1, or nothing is ever pulled");
        }
        if self.handler_timeout.is_zero() {
            return bad("handler_timeout", "must be above zero, or every handler times out");
        }
        if !(1..=1000).contains(&self.page_limit) {
            return bad("page_limit", "must be 1–1000 (kf-api.md §5.1)");
        }
        if self.max_pages_per_pull == 0 {
            return bad("max_pages_per_pull", "must be at least 1");
        }
        if self.dedupe_capacity == 0 {
            return bad("dedupe_capacity", "must be at least 1");
        }
        if self.pull_retry_backoff.is_zero() || self.pull_retry_max < self.pull_retry_backoff {
            return bad("pull_retry_backoff", "must be above zero and at most pull_retry_max");
        }
        if self.reconcile_interval.is_some_and(|d| d < Duration::from_secs(1)) {
            return bad("reconcile_interval", "must be at least 1 s: tokenless pulls are rate-limited");
        }
        if let Some(t) = &self.turns
            && (t.quiet.is_zero() || t.max_total < t.quiet)
        {
            return bad("turns", "quiet must be above zero and max_total at least quiet");
        }
        if let Some(p) = &self.placeholder
            && (p.after.is_zero() || p.text.is_empty() || p.text.len() > 2048)
        {
            return bad("placeholder", "after must be above zero and the text 1–2048 bytes");
        }
        if self.dead_letter_retention < Duration::from_secs(1) {
            return bad("dead_letter_retention", "must be at least 1 s (the stores count it in seconds)");
        }
        if self.cut_marker.len() >= 2048 {
            return bad("cut_marker", "must be shorter than 2048 bytes, the size of one text message");
        }
        Ok(())
    }
}
