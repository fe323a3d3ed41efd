//! Fault injection: make chosen calls fail the way WeCom or the network fails, by rate or on the
//! Nth call.
//!
//! ```
//! use std::time::Duration;
//! use wxkf_sim::{Fault, FaultRule, LostAnswer};
//!
//! // The 2nd send_msg answers errcode -1 (system busy); every sync_msg is 300 ms slower.
//! let busy = FaultRule::new(Fault::Errcode(-1)).path("/cgi-bin/kf/send_msg").nth(2);
//! let slow = FaultRule::new(Fault::Latency(Duration::from_millis(300))).path("/cgi-bin/kf/sync_msg");
//! assert_ne!(busy, slow);
//! // The 1st send_msg is stored and delivered, but its answer is lost: the connection drops.
//! let lost = FaultRule::new(Fault::AfterHandle(LostAnswer::Reset)).path("/cgi-bin/kf/send_msg").nth(1);
//! assert_eq!(lost.fired(), 0);
//! ```

use std::time::Duration;

/// What goes wrong when a [`FaultRule`] fires.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer HTTP 200 with this `errcode` (e.g. -1 system busy, 45009 frequency limit) instead of
    /// handling the call (errcodes.md).
    Errcode(i64),
    /// Answer with this HTTP status (e.g. 502) and a plain-text body, as a proxy in front of WeCom would.
    HttpStatus(u16),
    /// Wait this long before handling the call (or before pushing the callback).
    Latency(Duration),
    /// Revoke every access token before handling the call, so it fails with 40014.
    RevokeTokens,
    /// Do not push the callback at all (only meaningful with [`FaultRule::callbacks`]).
    DropCallback,
    /// Handle the call — a send is stored and delivered, a transfer happens — then lose the
    /// answer. The moment a retried `send_msg` meets WeCom's duplicate-msgid refusal
    /// ([`wxkf_types::errcode::DUPLICATE_MSGID`]). The call is recorded with its real errcode and
    /// `CallRecord::answer_lost`. API calls only: on callback
    /// pushes it has no effect.
    AfterHandle(LostAnswer),
}

/// How the answer to a handled call is lost ([`Fault::AfterHandle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostAnswer {
    /// The answer is held back this long, then sent: set it past the client's timeout, and the
    /// client gives up before it arrives.
    Timeout(Duration),
    /// The connection is dropped without a complete answer (the status line may have been
    /// written; the body never comes).
    Reset,
    /// A proxy in front of WeCom answers with this HTTP status (e.g. 502) instead.
    HttpStatus(u16),
}

/// Which calls a rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Every API call (every path, including unknown ones and `gettoken`).
    AnyApi,
    /// API calls to this exact path, e.g. `/cgi-bin/kf/send_msg`.
    Path(String),
    /// The simulator's own callback pushes.
    Callbacks,
}

/// When a rule fires, counted over the calls it looks at.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Trigger {
    /// Every matching call.
    Always,
    /// Only the Nth matching call (1-based, counted from when the rule was added).
    Nth(u64),
    /// Each matching call with this probability (0.0..=1.0).
    Rate(f64),
}

/// One fault: what, where and when. Built with [`FaultRule::new`] and the chained setters; added
/// with `SimHandle::inject`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// What goes wrong.
    pub fault: Fault,
    /// Which calls it looks at.
    pub target: Target,
    /// When it fires.
    pub trigger: Trigger,
    /// Stop firing after this many times (`None`: no limit).
    pub max_fires: Option<u64>,
    pub(crate) seen: u64,
    pub(crate) fired: u64,
}

impl FaultRule {
    /// A rule that fires on every API call; narrow it with the setters.
    pub fn new(fault: Fault) -> Self {
        let target = if fault == Fault::DropCallback { Target::Callbacks } else { Target::AnyApi };
        FaultRule { fault, target, trigger: Trigger::Always, max_fires: None, seen: 0, fired: 0 }
    }

    /// Only calls to this path (e.g. `/cgi-bin/kf/send_msg`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.target = Target::Path(path.into());
        self
    }

    /// Only the simulator's callback pushes ([`Fault::DropCallback`] or [`Fault::Latency`]).
    pub fn callbacks(mut self) -> Self {
        self.target = Target::Callbacks;
        self
    }

    /// Fire on the Nth matching call only (1-based, counted from when the rule was added).
    pub fn nth(mut self, n: u64) -> Self {
        self.trigger = Trigger::Nth(n);
        self
    }

    /// Fire on each matching call with probability `rate` (clamped to 0.0..=1.0).
    pub fn rate(mut self, rate: f64) -> Self {
        self.trigger = Trigger::Rate(rate.clamp(0.0, 1.0));
        self
    }

    /// Fire at most `n` times.
    pub fn times(mut self, n: u64) -> Self {
        self.max_fires = Some(n);
        self
    }

    /// How many times the rule has fired so far.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    fn matches(&self, target: &Target) -> bool {
        match (&self.target, target) {
            (Target::AnyApi, Target::Path(_)) => true,
            (a, b) => a == b,
        }
    }

    /// Counts a call at `target`; true if the rule fires on it.
    pub(crate) fn check(&mut self, target: &Target) -> bool {
        if !self.matches(target) {
            return false;
        }
        self.seen += 1;
        if self.max_fires.is_some_and(|max| self.fired >= max) {
            return false;
        }
        let fire = match self.trigger {
            Trigger::Always => true,
            Trigger::Nth(n) => self.seen == n,
            Trigger::Rate(p) => rand::random::<f64>() < p,
        };
        if fire {
            self.fired += 1;
        }
        fire
    }
}

/// The combined effect of every rule that fired on one call.
#[derive(Debug, Default)]
pub(crate) struct Fired {
    pub(crate) latency: Duration,
    pub(crate) revoke: bool,
    pub(crate) errcode: Option<i64>,
    pub(crate) http_status: Option<u16>,
    pub(crate) drop: bool,
    pub(crate) after: Option<LostAnswer>,
}

pub(crate) fn evaluate(rules: &mut [FaultRule], target: &Target) -> Fired {
    let mut out = Fired::default();
    for rule in rules.iter_mut() {
        if rule.check(target) {
            match &rule.fault {
                Fault::Errcode(code) => out.errcode = out.errcode.or(Some(*code)),
                Fault::HttpStatus(status) => out.http_status = out.http_status.or(Some(*status)),
                Fault::Latency(d) => out.latency += *d,
                Fault::RevokeTokens => out.revoke = true,
                Fault::DropCallback => out.drop = true,
                Fault::AfterHandle(lost) => out.after = out.after.take().or(Some(lost.clone())),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_fires_once_and_path_filters() {
        let mut rule = FaultRule::new(Fault::Errcode(-1)).path("/a").nth(2);
        let a = Target::Path("/a".into());
        let b = Target::Path("/b".into());
        let fires: Vec<bool> = [&a, &b, &a, &a].iter().map(|t| rule.check(t)).collect();
        assert_eq!(fires, [false, false, true, false]);
        assert_eq!(rule.fired(), 1);
    }

    #[test]
    fn any_api_skips_callbacks_and_times_limits() {
        let mut rule = FaultRule::new(Fault::HttpStatus(502)).times(2);
        assert!(!rule.check(&Target::Callbacks));
        let p = Target::Path("/x".into());
        assert_eq!([rule.check(&p), rule.check(&p), rule.check(&p)], [true, true, false]);
        let mut never = FaultRule::new(Fault::Errcode(45009)).rate(0.0);
        assert!(!(0..50).any(|_| never.check(&p)));
        let mut always = FaultRule::new(Fault::Errcode(45009)).rate(1.0);
        assert!((0..50).all(|_| always.check(&p)));
        let mut half = FaultRule::new(Fault::Errcode(-1)).rate(0.5);
        let fired = (0..2000).filter(|_| half.check(&p)).count();
        assert!((700..1300).contains(&fired), "{fired}");
        let mut drop = FaultRule::new(Fault::DropCallback);
        assert!(drop.check(&Target::Callbacks) && !drop.check(&p));
    }
}
