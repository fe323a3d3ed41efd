//! Completeness: every endpoint of the Kf API reference has a row in `ENDPOINTS` (method, path,
//! request type, response type) and request/response fixtures. The client crate walks the same
//! table to prove every row has a method.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wxkf_types::{ENDPOINTS, Method, RequestBody, ResponseBody};

/// The reference's endpoints (kf-api.md §1–§11), kept here so the test works without the reference.
const REFERENCE: &[(&str, &str)] = &[
    ("GET", "/cgi-bin/gettoken"),
    ("POST", "/cgi-bin/kf/account/add"),
    ("POST", "/cgi-bin/kf/account/del"),
    ("POST", "/cgi-bin/kf/account/update"),
    ("POST", "/cgi-bin/kf/account/list"),
    ("POST", "/cgi-bin/kf/add_contact_way"),
    ("POST", "/cgi-bin/kf/servicer/add"),
    ("POST", "/cgi-bin/kf/servicer/del"),
    ("GET", "/cgi-bin/kf/servicer/list"),
    ("POST", "/cgi-bin/kf/service_state/get"),
    ("POST", "/cgi-bin/kf/service_state/trans"),
    ("POST", "/cgi-bin/kf/sync_msg"),
    ("POST", "/cgi-bin/kf/send_msg"),
    ("POST", "/cgi-bin/kf/send_msg_on_event"),
    ("POST", "/cgi-bin/kf/recall_msg"),
    ("GET", "/cgi-bin/kf/customer/get_upgrade_service_config"),
    ("POST", "/cgi-bin/kf/customer/upgrade_service"),
    ("POST", "/cgi-bin/kf/customer/cancel_upgrade_service"),
    ("POST", "/cgi-bin/kf/customer/batchget"),
    ("GET", "/cgi-bin/kf/get_corp_qualification"),
    ("POST", "/cgi-bin/kf/get_corp_statistic"),
    ("POST", "/cgi-bin/kf/get_servicer_statistic"),
    ("POST", "/cgi-bin/kf/knowledge/add_group"),
    ("POST", "/cgi-bin/kf/knowledge/del_group"),
    ("POST", "/cgi-bin/kf/knowledge/mod_group"),
    ("POST", "/cgi-bin/kf/knowledge/list_group"),
    ("POST", "/cgi-bin/kf/knowledge/add_intent"),
    ("POST", "/cgi-bin/kf/knowledge/del_intent"),
    ("POST", "/cgi-bin/kf/knowledge/mod_intent"),
    ("POST", "/cgi-bin/kf/knowledge/list_intent"),
    ("POST", "/cgi-bin/media/upload"),
    ("GET", "/cgi-bin/media/get"),
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `shared/reference/kf-api.md`, looked for beside the repository (where CI puts it).
fn reference_text() -> Option<String> {
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        let candidate = dir.join("shared/reference/kf-api.md");
        if let Ok(text) = std::fs::read_to_string(&candidate) {
            return Some(text);
        }
        if !dir.pop() {
            break;
        }
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but shared/reference/kf-api.md is not beside the repository"
    );
    eprintln!("note: shared/reference/kf-api.md not found; checking the built-in list only");
    None
}

fn method_str(m: Method) -> &'static str {
    m.as_str()
}

#[test]
fn every_reference_endpoint_has_a_row_and_nothing_else_does() {
    let table: BTreeMap<&str, &str> = ENDPOINTS.iter().map(|e| (e.path, method_str(e.method))).collect();
    assert_eq!(table.len(), ENDPOINTS.len(), "a path appears twice in ENDPOINTS");
    let mut expected: BTreeMap<String, String> =
        REFERENCE.iter().map(|(m, p)| (p.to_string(), m.to_string())).collect();
    if let Some(text) = reference_text() {
        // every "GET `/cgi-bin/...`" / "POST `/cgi-bin/...`" the reference names
        let mut from_reference = BTreeMap::new();
        for line in text.lines() {
            for method in ["GET", "POST"] {
                let marker = format!("{method} `/cgi-bin/");
                if let Some(at) = line.find(&marker) {
                    let rest = &line[at + method.len() + 2..];
                    let path: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || "/_-".contains(*c))
                        .collect();
                    from_reference.insert(path, method.to_string());
                }
            }
        }
        assert_eq!(from_reference, expected, "the built-in list drifted from kf-api.md");
        expected = from_reference;
    }
    for (path, method) in &expected {
        assert_eq!(table.get(path.as_str()).copied(), Some(method.as_str()), "{method} {path} has no row");
    }
    for e in ENDPOINTS {
        assert!(expected.contains_key(e.path), "{} is not in the reference", e.path);
    }
}

#[test]
fn every_row_is_consistent_and_has_fixtures() {
    for e in ENDPOINTS {
        assert!(e.request.ends_with("Request"), "{}: {}", e.path, e.request);
        assert!(e.response.ends_with("Response"), "{}: {}", e.path, e.response);
        match e.method {
            Method::Get => assert_eq!(e.request_body, RequestBody::Query, "{}", e.path),
            _ => assert_ne!(e.request_body, RequestBody::Query, "{}", e.path),
        }
        assert_eq!(e.response_body == ResponseBody::Raw, e.path == "/cgi-bin/media/get", "{}", e.path);
        for kind in ["request", "response"] {
            let file = fixtures().join(format!("{}.{kind}.json", e.fixture));
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|_| panic!("{} has no {kind} fixture {}", e.path, file.display()));
            let value: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            assert!(value.is_object(), "{} is not a JSON object", file.display());
        }
    }
}

#[test]
fn only_the_documented_calls_are_marked_unsafe_to_repeat() {
    let unsafe_to_repeat: Vec<&str> = ENDPOINTS.iter().filter(|e| !e.idempotent).map(|e| e.path).collect();
    assert_eq!(
        unsafe_to_repeat,
        [
            "/cgi-bin/kf/account/add",
            "/cgi-bin/kf/service_state/trans",
            "/cgi-bin/kf/send_msg",
            "/cgi-bin/kf/send_msg_on_event",
            "/cgi-bin/kf/knowledge/add_group",
            "/cgi-bin/kf/knowledge/add_intent",
        ]
    );
}
