//! The error-code table against its sources: errcodes.md (every code, with the same category) and
//! docs/errors.md (every code documented), plus the classification helpers and the errmsg utilities.

use std::collections::BTreeMap;
use std::path::Path;

use wxkf_types::errcode::{
    self, Category, ErrorCodeInfo, TABLE, category, classify, hint, is_quota, is_token_error,
    is_wrong_json_format, lookup, should_refresh_token, should_retry, strip_errmsg_suffix,
};

/// The reference's example errmsg for 95018 (kf-api.md Appendix A.3, errcodes.md intro).
const ERRMSG_95018: &str = "send msg session status invalid, hint: [1645025097593810238423219], from ip: 49.74.77.205, more info at https://open.work.weixin.qq.com/devtool/query?e=95018";

/// The row of a code the table must have.
fn info(code: i64) -> &'static ErrorCodeInfo {
    lookup(code).unwrap_or_else(|| panic!("{code} missing from TABLE"))
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The reference's errcodes.md: `shared/reference/errcodes.md` beside the repository when it is
/// there (then the snapshot in tests/reference must match it), else that snapshot.
fn reference_text() -> String {
    let snapshot = std::fs::read_to_string(manifest_dir().join("tests/reference/errcodes.md"))
        .expect("tests/reference/errcodes.md is part of the repository");
    if let Some(live) = manifest_dir()
        .ancestors()
        .find_map(|dir| std::fs::read_to_string(dir.join("shared/reference/errcodes.md")).ok())
    {
        assert!(
            live == snapshot,
            "tests/reference/errcodes.md differs from shared/reference/errcodes.md: refresh it"
        );
        return live;
    }
    snapshot
}

/// Every `| <code> | meaning | category | ...` row of a markdown text: code → category word (3rd cell).
fn code_rows(text: &str) -> BTreeMap<i64, String> {
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix('|') else { continue };
        let cells: Vec<&str> = rest.split('|').map(str::trim).collect();
        let Some(code) = cells.first().and_then(|c| c.parse::<i64>().ok()) else { continue };
        let word = cells.get(2).copied().unwrap_or_default().to_owned();
        assert!(rows.insert(code, word).is_none(), "code {code} listed twice");
    }
    rows
}

fn reference_category(word: &str) -> Category {
    match word {
        "retry-later" => Category::RetryLater,
        "refresh-token-then-retry" => Category::RefreshTokenThenRetry,
        "caller-bug" => Category::CallerBug,
        "permission" => Category::Permission,
        "quota" => Category::Quota,
        "—" | "-" | "" => Category::Success,
        other => panic!("unknown category word {other:?} in errcodes.md"),
    }
}

#[test]
fn table_is_strictly_sorted_without_duplicates() {
    assert!(TABLE.len() > 80, "table looks truncated: {} rows", TABLE.len());
    for pair in TABLE.windows(2) {
        assert!(
            pair[0].code < pair[1].code,
            "{} then {}: not sorted or duplicated",
            pair[0].code,
            pair[1].code
        );
    }
}

#[test]
fn lookup_finds_every_row_and_nothing_else() {
    for info in TABLE {
        assert_eq!(lookup(info.code), Some(info));
        assert_eq!(category(info.code), Some(info.category));
        assert_eq!(hint(info.code), Some(info.action));
    }
    for code in [i64::MIN, -2, 1, 95010, 95020, 99999, i64::MAX] {
        assert_eq!(lookup(code), None, "{code}");
        assert_eq!(category(code), None);
        assert_eq!(classify(code), Category::CallerBug, "unknown codes are caller bugs");
        assert!(
            !should_retry(code) && !should_refresh_token(code) && !is_token_error(code) && !is_quota(code)
        );
    }
}

#[test]
fn every_reference_code_is_in_the_table_with_its_category() {
    let text = reference_text();
    let rows = code_rows(&text);
    assert!(rows.len() > 80, "parsed only {} code rows from errcodes.md", rows.len());
    for (code, word) in &rows {
        let info = lookup(*code).unwrap_or_else(|| panic!("errcodes.md lists {code}, TABLE lacks it"));
        assert_eq!(info.category, reference_category(word), "category of {code}");
    }
    for info in TABLE {
        assert!(rows.contains_key(&info.code), "TABLE has {} which errcodes.md does not list", info.code);
    }
}

#[test]
fn specific_codes() {
    // -1: system busy, retry with backoff.
    let busy = info(-1);
    assert_eq!((busy.category, busy.name), (Category::RetryLater, "system_busy"));
    assert!(should_retry(-1) && !should_refresh_token(-1) && !is_quota(-1));
    assert!(busy.action.contains("3 times"));

    // 0 is success, nothing to do.
    assert_eq!(category(0), Some(Category::Success));
    assert!(!should_retry(0) && !is_token_error(0));

    // 40014 / 42001: refresh the token, retry once.
    for code in [40014, 42001] {
        assert_eq!(category(code), Some(Category::RefreshTokenThenRetry), "{code}");
        assert!(should_refresh_token(code) && is_token_error(code) && !should_retry(code), "{code}");
    }
    assert_eq!(info(40014).name, "invalid_access_token");
    assert_eq!(info(42001).name, "access_token_expired");

    // 40001: a configuration bug per the reference, yet a token error the client may refresh once for.
    assert_eq!(category(40001), Some(Category::CallerBug));
    assert!(!should_refresh_token(40001) && is_token_error(40001) && !should_retry(40001));
    assert!(info(40001).action.contains("never in a loop"));

    // 41001: token missing is a caller bug, not a refresh case.
    assert_eq!(category(41001), Some(Category::CallerBug));
    assert!(!should_refresh_token(41001) && !is_token_error(41001));

    // 45009: frequency block is a quota per the reference, never an automatic retry.
    assert_eq!(category(45009), Some(Category::Quota));
    assert!(is_quota(45009) && !should_retry(45009));
    assert!(info(45009).action.contains("back off"));

    // 45033: concurrency limit, retry with backoff.
    assert_eq!(category(45033), Some(Category::RetryLater));
    assert!(should_retry(45033) && !is_quota(45033));

    // 6000: data version conflict, retry.
    assert!(should_retry(6000));

    // 95018: session state does not allow sending.
    let s = info(95018);
    assert_eq!((s.name, s.category), ("session_status_invalid", Category::CallerBug));
    assert!(s.action.contains("kf/service_state/get") && s.action.contains("kf/service_state/trans"));
    assert!(s.action.contains("state 2/3/4"));
    assert!(!should_retry(95018) && !is_quota(95018));

    // 95001 / 95002: the send quota and the 48 h window.
    for code in [95001, 95002] {
        assert_eq!(category(code), Some(Category::Quota), "{code}");
        assert!(is_quota(code) && !should_retry(code), "{code}");
    }
    assert_eq!(info(95001).name, "send_msg_count_exceeded");
    assert!(info(95001).en.contains('5'));
    assert!(info(95002).en.contains("48 h"));

    // Suite tokens follow the reference: refresh-token-then-retry.
    assert!(should_refresh_token(40082) && should_refresh_token(42009));
    // Permission codes are neither retried nor quotas.
    assert_eq!(category(48002), Some(Category::Permission));
    assert!(!should_retry(48002) && !is_quota(48002));
}

#[test]
fn category_words_match_the_reference() {
    for (c, w) in [
        (Category::RetryLater, "retry-later"),
        (Category::RefreshTokenThenRetry, "refresh-token-then-retry"),
        (Category::CallerBug, "caller-bug"),
        (Category::Permission, "permission"),
        (Category::Quota, "quota"),
        (Category::Success, "success"),
    ] {
        assert_eq!(c.as_str(), w);
        assert_eq!(c.to_string(), w);
    }
}

#[test]
fn wrong_json_format_detection() {
    for yes in [
        "Warning: wrong json format. ",
        "invalid parameter, Warning: wrong json format. hint: [x]",
        "WARNING: WRONG JSON FORMAT.",
        "参数错误 warning: Wrong Json Format.",
    ] {
        assert!(is_wrong_json_format(yes), "{yes:?}");
    }
    for no in ["", "invalid parameter", "wrong json", "json format wrong", "wrong  json format", "ok", "错误"]
    {
        assert!(!is_wrong_json_format(no), "{no:?}");
    }
}

#[test]
fn strip_errmsg_suffix_cases() {
    let cases: &[(&str, &str)] = &[
        (ERRMSG_95018, "send msg session status invalid"),
        ("invalid media_id", "invalid media_id"),
        ("", ""),
        ("ok", "ok"),
        ("hint: [abc]", ""),
        (", hint: [abc], from ip: 1.2.3.4", ""),
        ("invalid open_kfid, from ip: 1.2.3.4", "invalid open_kfid"),
        ("invalid open_kfid, more info at https://x/?e=95000", "invalid open_kfid"),
        ("invalid parameter,hint:[x]", "invalid parameter"),
        ("Invalid Parameter, HINT: [x], FROM IP: 1.1.1.1", "Invalid Parameter"),
        ("会话状态无效，hint: [x]", "会话状态无效"),
        ("错误 ， from ip: 1.2.3.4", "错误"),
        (
            "Warning: wrong json format. invalid parameter, hint: [1], from ip: 1.2.3.4",
            "Warning: wrong json format. invalid parameter",
        ),
        // "hint" without the bracket is ordinary text, not the tail.
        ("see hint in docs", "see hint in docs"),
        ("😀 hint: [", "😀"),
        ("from ip:", ""),
        ("h", "h"),
        ("\u{0}\u{ffff}, hint: [", "\u{0}\u{ffff}"),
    ];
    for (input, want) in cases {
        assert_eq!(strip_errmsg_suffix(input), *want, "input {input:?}");
    }
    // The IP never survives.
    assert!(!strip_errmsg_suffix(ERRMSG_95018).contains("49.74.77.205"));
}

#[test]
fn strip_errmsg_suffix_never_panics_and_returns_a_prefix() {
    // Deterministic combinations of awkward fragments: multi-byte characters right before and inside the
    // markers, partial markers, separators, empty pieces.
    let fragments = [
        "",
        "h",
        "hint",
        "hint:",
        "hint: [",
        "HiNt:[",
        "from",
        "from ip:",
        "more info at",
        "，",
        "；",
        ", ",
        "é",
        "😀",
        "中文",
        "\u{0}",
        " ",
        "]",
        "ip: 1.2.3.4",
        "more info",
        "\u{feff}",
    ];
    let mut checked = 0;
    for a in fragments {
        for b in fragments {
            for c in fragments {
                let s = format!("{a}{b}{c}");
                let out = strip_errmsg_suffix(&s);
                assert!(s.starts_with(out), "{s:?} -> {out:?} is not a prefix");
                let lower = out.to_ascii_lowercase();
                assert!(
                    !lower.contains("from ip:")
                        && !lower.contains("more info at")
                        && !lower.contains("hint: ["),
                    "{s:?} -> {out:?} kept the tail"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, fragments.len().pow(3));
}

#[test]
fn docs_list_every_code_with_its_category() {
    let path = manifest_dir().join("../../docs/errors.md");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let rows = code_rows(&text);
    for info in TABLE {
        let word =
            rows.get(&info.code).unwrap_or_else(|| panic!("docs/errors.md has no row for {}", info.code));
        assert_eq!(word, info.category.as_str(), "category of {} in docs/errors.md", info.code);
    }
    for code in rows.keys() {
        assert!(lookup(*code).is_some(), "docs/errors.md documents {code}, which TABLE lacks");
    }
}

#[test]
fn module_functions_are_reachable_through_the_module_path() {
    assert_eq!(errcode::lookup(95018).map(|i| i.code), Some(95018));
}
