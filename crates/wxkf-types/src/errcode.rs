//! WeCom error codes the Kf API returns: what each means, and what the caller should do about it.
//!
//! Every response carries `errcode` (0 = success) and a free-text `errmsg` (errcodes.md; kf-api.md §0).
//! Decide on `errcode` only, through this table: [`lookup`] gives the [`ErrorCodeInfo`] of a code (name,
//! Chinese and English explanation, the action to take and its [`Category`]); [`should_retry`],
//! [`should_refresh_token`], [`is_token_error`] and [`is_quota`] answer the questions a client asks.
//! [`strip_errmsg_suffix`] removes WeCom's `", hint: [...], from ip: ..."` tail so a message can be shown
//! without the caller's IP, and [`is_wrong_json_format`] spots the malformed-JSON warning.
//!
//! The table holds every code of errcodes.md, and a test checks it against that file, so the two cannot
//! drift. A code that is not in the table is unknown: treat it as a caller bug (no automatic retry) and
//! keep the number and `errmsg` in the error — [`classify`] does exactly that.
//!
//! ```
//! use wxkf_types::errcode::{self, Category};
//!
//! let info = errcode::lookup(95018).expect("95018 is in the table");
//! assert_eq!(info.name, "session_status_invalid");
//! assert_eq!(info.category, Category::CallerBug);
//! assert!(info.action.contains("kf/service_state/trans"));
//!
//! assert!(errcode::should_retry(-1)); // system busy
//! assert!(errcode::should_refresh_token(42001)); // token expired
//! assert!(!errcode::should_retry(95001)); // 5-message quota: wait for the customer
//! assert_eq!(errcode::lookup(123_456_789), None);
//!
//! let errmsg = "send msg session status invalid, hint: [1645025097593810238423219], \
//!               from ip: 49.74.77.205, more info at https://open.work.weixin.qq.com/devtool/query?e=95018";
//! assert_eq!(errcode::strip_errmsg_suffix(errmsg), "send msg session status invalid");
//! ```

mod table;

use std::fmt;

/// What a client should do about an error code: one category per code (errcodes.md "Categories").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Category {
    /// `errcode` 0: the call succeeded.
    Success,
    /// Transient on WeCom's side, or a concurrency throttle: retry with backoff (official advice for -1:
    /// at most 3 retries). Retry `send_msg` only with the *same* caller-chosen `msgid`, so a retry cannot
    /// send twice.
    RetryLater,
    /// The access token is invalid or expired: drop the cached token, fetch a new one (single-flight) and
    /// retry the call once.
    RefreshTokenThenRetry,
    /// The request is wrong (parameter, id, media, session state): do not retry it unchanged; surface the
    /// error to the caller. Unknown codes belong here too.
    CallerBug,
    /// The app or corp is not allowed to do this (admin-console configuration, edition, visible range,
    /// trusted IP). Not retryable until an admin changes something.
    Permission,
    /// A business limit or time window was hit (5 messages per customer message, 48 h, account count,
    /// frequency block). Not retryable until the window reopens, often only when the customer writes again.
    Quota,
}

impl Category {
    /// The category's word as errcodes.md spells it: `"retry-later"`, `"refresh-token-then-retry"`,
    /// `"caller-bug"`, `"permission"`, `"quota"`, and `"success"` for code 0.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Success => "success",
            Category::RetryLater => "retry-later",
            Category::RefreshTokenThenRetry => "refresh-token-then-retry",
            Category::CallerBug => "caller-bug",
            Category::Permission => "permission",
            Category::Quota => "quota",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the error-code table (errcodes.md): the code, a short identifier, what it means in Chinese
/// and English, what to do, and its [`Category`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ErrorCodeInfo {
    /// The numeric `errcode`.
    pub code: i64,
    /// A short snake_case identifier derived from the meaning, e.g. `"session_status_invalid"` for 95018.
    /// Stable enough for logs and metrics labels.
    pub name: &'static str,
    /// One-line Chinese explanation.
    pub zh: &'static str,
    /// One-line English explanation.
    pub en: &'static str,
    /// What to do about it, in English: concrete enough to show to a developer as a hint.
    pub action: &'static str,
    /// What a client does with the code automatically.
    pub category: Category,
}

/// Every error code of errcodes.md, sorted by `code` (checked at compile time), so [`lookup`] can binary
/// search it. Includes 0 (success) with [`Category::Success`].
pub static TABLE: &[ErrorCodeInfo] = table::ENTRIES;

// The binary search in `lookup` is only correct on a strictly increasing table; checking it here turns a
// misplaced row into a build error instead of a silent miss.
const _: () = {
    let mut i = 1;
    while i < table::ENTRIES.len() {
        assert!(table::ENTRIES[i - 1].code < table::ENTRIES[i].code, "errcode table not strictly sorted");
        i += 1;
    }
};

/// The table row of `code`, or `None` for a code errcodes.md does not list.
///
/// ```
/// let info = wxkf_types::errcode::lookup(40014).unwrap();
/// assert_eq!(info.name, "invalid_access_token");
/// ```
pub fn lookup(code: i64) -> Option<&'static ErrorCodeInfo> {
    TABLE.binary_search_by_key(&code, |info| info.code).ok().map(|i| &TABLE[i])
}

/// The category of a known `code`; `None` for codes not in the table (see [`classify`] for the default).
pub fn category(code: i64) -> Option<Category> {
    lookup(code).map(|info| info.category)
}

/// The category of any `code`, known or not: unknown codes are [`Category::CallerBug`] (no automatic
/// retry), as errcodes.md advises.
pub fn classify(code: i64) -> Category {
    category(code).unwrap_or(Category::CallerBug)
}

/// Whether the call may be retried with backoff: the [`Category::RetryLater`] codes (-1 system busy,
/// 6000 data version conflict, 45033 concurrency limit).
///
/// 45009 (frequency limit exceeded) is *not* among them: errcodes.md puts it under [`Category::Quota`]
/// because the block lasts the limit's whole unit (60 s, 60 min, or the rest of the day) and hammering
/// prolongs it. Retry `send_msg` only with the same caller-chosen `msgid`.
pub fn should_retry(code: i64) -> bool {
    category(code) == Some(Category::RetryLater)
}

/// Whether the cached access token is bad and a fresh one should be fetched before retrying once: the
/// [`Category::RefreshTokenThenRetry`] codes 40014 (invalid token) and 42001 (expired), plus the
/// third-party `suite_access_token` codes 40082 and 42009.
///
/// Following errcodes.md, 40001 (invalid secret) and 41001 (token missing) are caller bugs, not refresh
/// cases: a new token cannot fix a wrong secret, and 41001 means the token was not sent in the URL. See
/// [`is_token_error`] for the wider set a client may drop its cached token on.
pub fn should_refresh_token(code: i64) -> bool {
    category(code) == Some(Category::RefreshTokenThenRetry)
}

/// Whether the error concerns the credentials behind the access token: every [`should_refresh_token`]
/// code plus 40001 (invalid secret).
///
/// A client drops its cached token on these, fetches a new one once and retries the call once. For 40001
/// that single refresh is itself expected to fail with 40001 from `gettoken` (the secret is wrong or was
/// reset), which then surfaces as a caller bug; never refresh in a loop, because repeated wrong secrets get
/// the IP blocked for an hour (45009). 40001 keeps its [`Category::CallerBug`] category.
pub fn is_token_error(code: i64) -> bool {
    code == 40001 || should_refresh_token(code)
}

/// Whether a business limit or time window was hit ([`Category::Quota`]): e.g. 95001 (5 messages per
/// customer message), 95002 (48 h window), 45009 (frequency block). Not retryable until the window
/// reopens.
pub fn is_quota(code: i64) -> bool {
    category(code) == Some(Category::Quota)
}

/// What to do about a known `code` (its [`ErrorCodeInfo::action`]).
pub fn hint(code: i64) -> Option<&'static str> {
    lookup(code).map(|info| info.action)
}

/// Whether `errmsg` carries WeCom's `"Warning: wrong json format."`, added when the request body was not
/// valid JSON (kf-api.md §0). Case-insensitive, anywhere in the text; check the raw `errmsg`, since
/// [`strip_errmsg_suffix`] may cut a warning that follows the hint.
///
/// ```
/// use wxkf_types::errcode::is_wrong_json_format;
/// assert!(is_wrong_json_format("Warning: wrong json format. invalid parameter"));
/// assert!(!is_wrong_json_format("invalid parameter"));
/// ```
pub fn is_wrong_json_format(errmsg: &str) -> bool {
    find_ascii_ci(errmsg.as_bytes(), b"wrong json format").is_some()
}

/// The `errcode` with which WeCom refuses a `send_msg` / `send_msg_on_event` whose caller-chosen
/// `msgid` was used before in the same Kf account (kf-api.md §5.4: "a duplicate is rejected with an
/// error").
///
/// **UNCERTAIN**: neither kf-api.md nor errcodes.md names the code. We read it as the generic
/// invalid-parameter code 40058 with an `errmsg` that names the msgid, and decide with
/// [`is_duplicate_msgid`], which needs both, so that an unrelated 40058 is never taken for "already
/// sent". This constant and that function are the only places that know it (the simulator answers
/// with them too).
pub const DUPLICATE_MSGID: i64 = 40058;

/// Whether an answer to `send_msg` / `send_msg_on_event` means "this `msgid` was already used": the
/// message was accepted by an earlier attempt. For a retried send with the same `msgid` that means
/// *already sent*, not failure. See [`DUPLICATE_MSGID`] for why this is a guess.
///
/// ```
/// use wxkf_types::errcode::is_duplicate_msgid;
/// assert!(is_duplicate_msgid(40058, "invalid Parameter: duplicate msgid, hint: [1]"));
/// assert!(is_duplicate_msgid(40058, "msgid exist"));
/// assert!(!is_duplicate_msgid(40058, "invalid Parameter"));
/// assert!(!is_duplicate_msgid(95001, "duplicate msgid"));
/// ```
pub fn is_duplicate_msgid(errcode: i64, errmsg: &str) -> bool {
    let msg = strip_errmsg_suffix(errmsg).as_bytes();
    errcode == DUPLICATE_MSGID
        && find_ascii_ci(msg, b"msgid").is_some()
        && [&b"dup"[..], b"exist", b"repeat", "重复".as_bytes()]
            .iter()
            .any(|w| find_ascii_ci(msg, w).is_some())
}

/// `errmsg` without WeCom's diagnostic tail `", hint: [...], from ip: a.b.c.d, more info at https://..."`,
/// so the message can be shown or logged without the caller's IP (kf-api.md §0).
///
/// Cuts at the first of `hint: [`, `from ip:` or `more info at` (ASCII case-insensitive) and trims the
/// separators before it; a message without any of them comes back unchanged. Never panics.
///
/// ```
/// use wxkf_types::errcode::strip_errmsg_suffix;
/// assert_eq!(strip_errmsg_suffix("invalid media_id, hint: [123], from ip: 1.2.3.4"), "invalid media_id");
/// assert_eq!(strip_errmsg_suffix("ok"), "ok");
/// ```
pub fn strip_errmsg_suffix(errmsg: &str) -> &str {
    const MARKERS: [&[u8]; 4] = [b"hint: [", b"hint:[", b"from ip:", b"more info at"];
    let bytes = errmsg.as_bytes();
    let cut = MARKERS.iter().filter_map(|m| find_ascii_ci(bytes, m)).min();
    let Some(cut) = cut else {
        return errmsg;
    };
    // Every marker starts with an ASCII byte, which is never inside a multi-byte UTF-8 sequence, so `cut`
    // is a char boundary; `get` keeps this panic-free regardless.
    let head = errmsg.get(..cut).unwrap_or(errmsg);
    head.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '，' | '；'))
}

/// Byte offset of the first ASCII-case-insensitive occurrence of `needle` in `haystack`.
fn find_ascii_ci(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_ascii_ci_finds_first_match() {
        assert_eq!(find_ascii_ci(b"aXbxB", b"xb"), Some(1));
        assert_eq!(find_ascii_ci(b"ab", b"abc"), None);
        assert_eq!(find_ascii_ci(b"", b""), Some(0));
    }

    #[test]
    fn names_are_unique_identifiers() {
        let mut names: Vec<&str> = TABLE.iter().map(|i| i.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "duplicate name in TABLE");
        for info in TABLE {
            assert!(
                !info.name.is_empty()
                    && info.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}: name {:?} is not snake_case",
                info.code,
                info.name
            );
            assert!(!info.zh.is_empty() && !info.en.is_empty() && !info.action.is_empty(), "{}", info.code);
        }
    }
}
