//! Completeness: every endpoint of the Kf API reference has a row in `ENDPOINTS` (method, path,
//! request type, response type) and request/response fixtures. The client crate walks the same
//! table to prove every row has a method. A row is marked unsafe to repeat exactly when the
//! reference says a repeated call would act twice (send a message, add an object, issue a code).

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

/// Each endpoint's part of the reference: from the line naming `GET`/`POST` and its path (a
/// heading or a bullet) to the next such line or the next `##`/`###` heading.
fn reference_sections(text: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let named = ["GET", "POST"].iter().find_map(|method| {
            let at = line.find(&format!("{method} `/cgi-bin/"))?;
            let rest = &line[at + method.len() + 2..];
            Some(
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "/_-".contains(*c))
                    .collect::<String>(),
            )
        });
        let heading = line.starts_with("## ") || line.starts_with("### ");
        if (named.is_some() || heading)
            && let Some((path, body)) = current.take()
        {
            sections.insert(path, body);
        }
        if let Some(path) = named {
            current = Some((path, String::new()));
        }
        if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((path, body)) = current {
        sections.insert(path, body);
    }
    sections
}

/// The fields a section's `Response` sentences name first ("Response: `open_kfid` (string)",
/// "Response `group_id`.", "* Response: `type`, …").
fn response_fields(section: &str) -> Vec<String> {
    section
        .match_indices("Response")
        .filter_map(|(at, word)| {
            let rest = section[at + word.len()..].trim_start_matches(':').trim_start();
            let name = rest.strip_prefix('`')?;
            Some(name.chars().take_while(|c| *c != '`' && *c != '[').collect())
        })
        .collect()
}

/// Why a call is unsafe to repeat, by what its reference section says a call does: a repeat after
/// a lost answer would do it twice. Empty when the reference gives no such reason.
fn repeat_hazards(path: &str, section: &str, codes_single_use: bool) -> Vec<&'static str> {
    let mut why = Vec::new();
    // it sends the customer a message (a required `msgtype` request field; request tables have a
    // `req` column, the tables of received messages do not): a repeat sends it again and spends
    // another of the 5 replies
    if section.lines().any(|l| l.trim_start().starts_with("| `msgtype` | string | yes |")) {
        why.push("sends a message");
    }
    // it adds an object and answers with the new object's id: a repeat adds a second one
    let verb = path.rsplit('/').next().unwrap_or("");
    let adds = verb == "add" || verb.starts_with("add_");
    let first = response_fields(section).into_iter().next().unwrap_or_default();
    if adds && (first.ends_with("_id") || first == "open_kfid") {
        why.push("creates an object with a new id");
    }
    // it issues a single-use code (`msg_code`): a repeat issues another or fails
    if codes_single_use && response_fields(section).iter().any(|f| f == "msg_code") {
        why.push("issues a single-use msg_code");
    }
    why
}

#[test]
fn exactly_the_calls_the_reference_says_would_act_twice_are_marked_unsafe_to_repeat() {
    let text = reference_text();
    let sections = reference_sections(&text);
    assert!(sections.len() >= 30, "split only {} endpoint sections from kf-api.md", sections.len());
    // §5.5: the codes `send_msg_on_event` takes are single use
    let on_event = &sections["/cgi-bin/kf/send_msg_on_event"];
    let codes_single_use = on_event.lines().any(|l| l.starts_with("| `code` |") && l.contains("Single use"));
    assert!(codes_single_use, "kf-api.md §5.5 no longer says the event codes are single use");

    let mut hazards: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (path, section) in &sections {
        let why = repeat_hazards(path, section, codes_single_use);
        if !why.is_empty() {
            hazards.insert(path.as_str(), why);
        }
    }
    // every rule finds something in the reference, so a parse that finds nothing cannot pass
    for rule in ["sends a message", "creates an object with a new id", "issues a single-use msg_code"] {
        assert!(hazards.values().flatten().any(|w| *w == rule), "no endpoint {rule}: is kf-api.md parsed?");
    }
    for e in ENDPOINTS {
        let why = hazards.get(e.path);
        assert_eq!(
            e.idempotent,
            why.is_none(),
            "{} is marked {}, but the reference says: {}",
            e.path,
            if e.idempotent { "safe to repeat" } else { "unsafe to repeat" },
            why.map(|w| w.join(", ")).unwrap_or_else(|| "nothing a repeat would do twice".into())
        );
    }
    for path in hazards.keys() {
        assert!(ENDPOINTS.iter().any(|e| e.path == *path), "{path} has no row");
    }
}

#[test]
fn the_reference_sections_and_their_responses_are_read_as_written() {
    let sections = reference_sections(&reference_text());
    assert_eq!(
        response_fields(&sections["/cgi-bin/kf/account/add"]).first().map(String::as_str),
        Some("open_kfid")
    );
    assert_eq!(response_fields(&sections["/cgi-bin/kf/knowledge/add_group"]), ["group_id"]);
    assert_eq!(response_fields(&sections["/cgi-bin/kf/knowledge/add_intent"]), ["intent_id"]);
    assert_eq!(
        response_fields(&sections["/cgi-bin/kf/servicer/add"]).first().map(String::as_str),
        Some("result_list")
    );
    assert_eq!(response_fields(&sections["/cgi-bin/media/upload"]).first().map(String::as_str), Some("type"));
    // a bullet's section ends at the next bullet; a heading's at the next heading
    assert!(!sections["/cgi-bin/kf/knowledge/add_group"].contains("del_group"));
    assert!(sections["/cgi-bin/kf/sync_msg"].contains("#### Common fields"));
    assert!(!sections["/cgi-bin/kf/service_state/trans"].contains("sync_msg"));
    // the rules on made-up sections
    let add = "* POST `/cgi-bin/kf/x/add` — `name`. Response `x_id`.\n";
    assert_eq!(repeat_hazards("/cgi-bin/kf/x/add", add, true), ["creates an object with a new id"]);
    assert!(repeat_hazards("/cgi-bin/kf/x/list", "Response `x_id`.\n", true).is_empty());
    assert!(repeat_hazards("/cgi-bin/kf/x/add", "Response `result_list[]`\n", true).is_empty());
    let send = "| `msgtype` | string | yes | type |\nResponse: `msgid`\n";
    assert_eq!(repeat_hazards("/cgi-bin/kf/x/send", send, true), ["sends a message"]);
    let received = "| `msgtype` | string | selects the payload |\n";
    assert!(repeat_hazards("/cgi-bin/kf/x/sync", received, true).is_empty());
    assert_eq!(
        repeat_hazards("/cgi-bin/kf/x/trans", "Response: `msg_code` (string)\n", true),
        ["issues a single-use msg_code"]
    );
    assert!(repeat_hazards("/cgi-bin/kf/x/trans", "Response: `msg_code` (string)\n", false).is_empty());
}

/// The words of a path below `/cgi-bin/` (and `kf/`), in order: `customer/get_upgrade_service_config`
/// → `["customer", "get", "upgrade", "service", "config"]`.
fn path_words(path: &str) -> (Vec<&str>, Vec<&str>) {
    let below = path.strip_prefix("/cgi-bin/").unwrap_or(path);
    let below = below.strip_prefix("kf/").unwrap_or(below);
    let segments: Vec<&str> = below.split('/').collect();
    let words = segments.iter().flat_map(|s| s.split('_')).collect();
    (segments, words)
}

fn pascal(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[test]
fn types_are_named_and_placed_by_their_path() {
    for e in ENDPOINTS {
        let (segments, words) = path_words(e.path);
        let stem = pascal(&words);
        assert_eq!(e.request, format!("{stem}Request"), "{}: request type not named after the path", e.path);
        assert!(
            e.response == format!("{stem}Response") || e.response == "EmptyResponse",
            "{}: response type {} not named after the path",
            e.path,
            e.response
        );
        // the module is the path's area; `/cgi-bin/kf/<name>` has none and lives in `kf`, and
        // `/cgi-bin/gettoken` in `token`
        let module = match segments.as_slice() {
            [area, _] => *area,
            ["gettoken"] => "token",
            [_] => "kf",
            _ => panic!("{}: a path of {} segments", e.path, segments.len()),
        };
        assert_eq!(e.module, module, "{}: types in the wrong module", e.path);
    }
    // spot checks of the rule on the names the issue cites
    let find = |p: &str| ENDPOINTS.iter().find(|e| e.path == p).unwrap();
    let config = find("/cgi-bin/kf/customer/get_upgrade_service_config");
    assert_eq!((config.module, config.request), ("customer", "CustomerGetUpgradeServiceConfigRequest"));
    let contact = find("/cgi-bin/kf/add_contact_way");
    assert_eq!((contact.module, contact.request), ("kf", "AddContactWayRequest"));
}

/// The source files of this crate, as (path, text).
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

#[test]
fn every_request_type_carries_its_path_as_a_doc_alias() {
    let sources = sources();
    for e in ENDPOINTS {
        let alias = format!("#[doc(alias = \"{}\")]", e.path);
        // the alias line, then only attributes and doc lines, then the type's definition (a
        // `pub struct`, or the name as the first argument of a macro that defines it)
        let defined = sources.iter().any(|(_, text)| {
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            lines.iter().enumerate().filter(|(_, l)| **l == alias).any(|(at, _)| {
                lines[at + 1..].iter().find(|l| !l.starts_with("#[") && !l.starts_with("///")).is_some_and(
                    |l| {
                        l.starts_with(&format!("pub struct {} ", e.request))
                            || l.starts_with(&format!("{},", e.request))
                    },
                )
            })
        });
        assert!(defined, "{} is not defined right after {alias}", e.request);
    }
}

#[test]
fn the_table_expands_to_the_endpoint_impls() {
    use wxkf_types::Endpoint;
    // the impls come from the table's rows, not from hand-written blocks beside the types
    let impls: usize = sources().iter().map(|(_, text)| text.matches("impl Endpoint for").count()).sum();
    assert_eq!(impls, 1, "an Endpoint impl is written outside the table (only the table's macro writes one)");
    type Trans = wxkf_types::service_state::ServiceStateTransRequest;
    assert_eq!(Trans::PATH, "/cgi-bin/kf/service_state/trans");
    const { assert!(!Trans::IDEMPOTENT) };
    type Media = wxkf_types::media::MediaGetRequest;
    assert_eq!((Media::METHOD, Media::RESPONSE_BODY), (Method::Get, ResponseBody::Raw));
    let rows = ENDPOINTS.iter().filter(|e| e.client_method == "customer().get_upgrade_service_config");
    assert_eq!(rows.count(), 1);
}
