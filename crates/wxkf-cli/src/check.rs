//! One line of a `doctor` or `check-callback` report, shared by `doctor` and `callback_check`.

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// ✓
    Pass,
    /// ✗: the setup is broken here.
    Fail,
    /// Not run, because an earlier check failed or a value is missing.
    Skip,
    /// Worth knowing, not a failure.
    Note,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    /// What was checked.
    pub(crate) name: &'static str,
    /// How it ended.
    pub(crate) status: Status,
    /// What was found (never a secret).
    pub(crate) detail: String,
    /// What to do, on ✗.
    pub(crate) fix: Option<String>,
}

impl Check {
    pub(crate) fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Check { name, status: Status::Pass, detail: detail.into(), fix: None }
    }
    pub(crate) fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check { name, status: Status::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }
    pub(crate) fn skip(name: &'static str, detail: impl Into<String>) -> Self {
        Check { name, status: Status::Skip, detail: detail.into(), fix: None }
    }
    pub(crate) fn note(name: &'static str, detail: impl Into<String>) -> Self {
        Check { name, status: Status::Note, detail: detail.into(), fix: None }
    }
}
