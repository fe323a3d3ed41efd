//! Completeness: every endpoint of the Kf API reference has a row in `ENDPOINTS` (method, path,
//! request type, response type) and request/response fixtures. The client crate walks the same
//! table to prove every row has a method.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wxkf_types::{ENDPOINTS, Method, RequestBody, ResponseBody};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The reference's kf-api.md: `shared/reference/kf-api.md` beside the repository when it is there
/// (then the snapshot in tests/reference must match it), else that snapshot.
fn reference_text() -> String {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let snapshot = std::fs::read_to_string(manifest.join("tests/reference/kf-api.md"))
        .expect("tests/reference/kf-api.md is part of the repository");
    if let Some(live) = manifest
        .ancestors()
        .find_map(|dir| std::fs::read_to_string(dir.join("shared/reference/kf-api.md")).ok())
    {
        assert!(
            live == snapshot,
            "tests/reference/kf-api.md differs from shared/reference/kf-api.md: refresh it"
        );
        return live;
    }
    snapshot
}

fn method_str(m: Method) -> &'static str {
    m.as_str()
}

#[test]
fn every_reference_endpoint_has_a_row_and_nothing_else_does() {
    let table: BTreeMap<&str, &str> = ENDPOINTS.iter().map(|e| (e.path, method_str(e.method))).collect();
    assert_eq!(table.len(), ENDPOINTS.len(), "a path appears twice in ENDPOINTS");
    // every "GET `/cgi-bin/...`" / "POST `/cgi-bin/...`" the reference names
    let mut expected = BTreeMap::new();
    for line in reference_text().lines() {
        for method in ["GET", "POST"] {
            let marker = format!("{method} `/cgi-bin/");
            if let Some(at) = line.find(&marker) {
                let rest = &line[at + method.len() + 2..];
                let path: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || "/_-".contains(*c)).collect();
                expected.insert(path, method.to_string());
            }
        }
    }
    assert!(expected.len() >= 30, "parsed only {} endpoints from kf-api.md", expected.len());
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
