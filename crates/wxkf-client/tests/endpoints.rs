//! Every endpoint against a mock WeCom, driven by the fixtures of wxkf-types
//! (`crates/wxkf-types/tests/fixtures/<area>/<endpoint>.{request,response}*.json`): method, path,
//! `access_token` in the query, the body (or query) the request type serializes to, and the typed
//! response the client returns. A last test walks `wxkf_types::ENDPOINTS` and fails on any path
//! without a client method in the table.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use support::*;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};
use wxkf_client::types::account::*;
use wxkf_client::types::corp::*;
use wxkf_client::types::customer::*;
use wxkf_client::types::kf::*;
use wxkf_client::types::knowledge::*;
use wxkf_client::types::media::*;
use wxkf_client::types::service_state::*;
use wxkf_client::types::servicer::*;
use wxkf_client::{Client, Error};
use wxkf_types::{Endpoint, Method, RequestBody, ResponseBody};

type CallFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, Error>> + Send>>;

/// One endpoint: where it lives, its fixtures, and a call of its client method.
struct Case {
    path: &'static str,
    method: Method,
    request_body: RequestBody,
    response_body: ResponseBody,
    fixture: &'static str,
    /// Deserializes the request fixture, calls the client method, returns the response as JSON
    /// (`null` for `()`).
    call: fn(Client, Value) -> CallFuture,
    /// The response fixture as the endpoint's typed response, as JSON.
    expected: fn(Value) -> Value,
    /// The request fixture as the request type serializes it.
    canonical: fn(Value) -> Value,
    /// Whether the client adds a generated `msgid` when the request has none.
    adds_msgid: bool,
    /// The call `call` makes, as written (`c.account().add(r)`); `None` for hand-written calls.
    call_text: Option<&'static str>,
}

/// A call of a client method, and that call as written.
struct Call(fn(Client, Value) -> CallFuture, Option<&'static str>);

/// A call written by hand (it does more than call one method with the request).
fn by_hand(f: fn(Client, Value) -> CallFuture) -> Call {
    Call(f, None)
}

fn case<R>(fixture: &'static str, call: Call) -> Case
where
    R: Endpoint + DeserializeOwned,
    R::Response: Serialize,
{
    let Call(call, call_text) = call;
    Case {
        call_text,
        path: R::PATH,
        method: R::METHOD,
        request_body: R::REQUEST_BODY,
        response_body: R::RESPONSE_BODY,
        fixture,
        call,
        expected: |v| serde_json::to_value(serde_json::from_value::<R::Response>(v).unwrap()).unwrap(),
        canonical: |v| pruned(serde_json::to_value(serde_json::from_value::<R>(v).unwrap()).unwrap()),
        adds_msgid: false,
    }
}

fn sends(mut c: Case) -> Case {
    c.adds_msgid = true;
    c
}

fn req<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn json<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap()
}

/// Empty strings and nulls removed from objects, as the client sends them.
fn pruned(mut v: Value) -> Value {
    fn go(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, x| !x.is_null() && x.as_str() != Some(""));
                m.values_mut().for_each(go);
            }
            Value::Array(a) => a.iter_mut().for_each(go),
            _ => {}
        }
    }
    go(&mut v);
    v
}

macro_rules! call {
    (|$c:ident, $r:ident: $T:ty| $body:expr) => {
        Call(
            |$c: Client, v: Value| -> CallFuture {
                Box::pin(async move {
                    let $r: $T = req(v);
                    Ok(json($body.await?))
                })
            },
            Some(stringify!($body)),
        )
    };
    (|$c:ident| $body:expr) => {
        Call(
            |$c: Client, _: Value| -> CallFuture { Box::pin(async move { Ok(json($body.await?)) }) },
            Some(stringify!($body)),
        )
    };
}

/// The table: every endpoint path → a call of its client method.
fn cases() -> Vec<Case> {
    vec![
        case::<wxkf_client::types::token::GettokenRequest>(
            "token/gettoken",
            by_hand(|c: Client, _| -> CallFuture {
                Box::pin(
                    async move { Ok(json!({"access_token": c.token().refresh().await?.expose_secret()})) },
                )
            }),
        ),
        case::<AccountAddRequest>("account/add", call!(|c, r: AccountAddRequest| c.account().add(r))),
        case::<AccountDelRequest>("account/del", call!(|c, r: AccountDelRequest| c.account().del(r))),
        case::<AccountUpdateRequest>(
            "account/update",
            call!(|c, r: AccountUpdateRequest| c.account().update(r)),
        ),
        case::<AccountListRequest>("account/list", call!(|c, r: AccountListRequest| c.account().list(r))),
        case::<AddContactWayRequest>(
            "account/add_contact_way",
            call!(|c, r: AddContactWayRequest| c.account().add_contact_way(r)),
        ),
        case::<ServicerAddRequest>("servicer/add", call!(|c, r: ServicerAddRequest| c.servicer().add(r))),
        case::<ServicerDelRequest>("servicer/del", call!(|c, r: ServicerDelRequest| c.servicer().del(r))),
        case::<ServicerListRequest>("servicer/list", call!(|c, r: ServicerListRequest| c.servicer().list(r))),
        case::<ServiceStateGetRequest>(
            "service_state/get",
            call!(|c, r: ServiceStateGetRequest| c.service_state().get(r)),
        ),
        case::<ServiceStateTransRequest>(
            "service_state/trans",
            call!(|c, r: ServiceStateTransRequest| c.service_state().trans(r)),
        ),
        case::<SyncMsgRequest>("message/sync_msg", call!(|c, r: SyncMsgRequest| c.message().sync_msg(r))),
        sends(case::<SendMsgRequest>(
            "message/send_msg",
            call!(|c, r: SendMsgRequest| c.message().send_msg(r)),
        )),
        sends(case::<SendMsgOnEventRequest>(
            "message/send_msg_on_event",
            call!(|c, r: SendMsgOnEventRequest| c.message().send_msg_on_event(r)),
        )),
        case::<RecallMsgRequest>(
            "message/recall_msg",
            call!(|c, r: RecallMsgRequest| c.message().recall_msg(r)),
        ),
        case::<CustomerGetUpgradeServiceConfigRequest>(
            "customer/get_upgrade_service_config",
            call!(|c| c.customer().get_upgrade_service_config()),
        ),
        case::<CustomerUpgradeServiceRequest>(
            "customer/upgrade_service",
            call!(|c, r: CustomerUpgradeServiceRequest| c.customer().upgrade_service(r)),
        ),
        case::<CustomerCancelUpgradeServiceRequest>(
            "customer/cancel_upgrade_service",
            call!(|c, r: CustomerCancelUpgradeServiceRequest| c.customer().cancel_upgrade_service(r)),
        ),
        case::<CustomerBatchgetRequest>(
            "customer/batchget",
            call!(|c, r: CustomerBatchgetRequest| c.customer().batchget(r)),
        ),
        case::<GetCorpQualificationRequest>(
            "corp/get_corp_qualification",
            call!(|c| c.corp().get_corp_qualification()),
        ),
        case::<GetCorpStatisticRequest>(
            "statistic/get_corp_statistic",
            call!(|c, r: GetCorpStatisticRequest| c.statistic().get_corp_statistic(r)),
        ),
        case::<GetServicerStatisticRequest>(
            "statistic/get_servicer_statistic",
            call!(|c, r: GetServicerStatisticRequest| c.statistic().get_servicer_statistic(r)),
        ),
        case::<KnowledgeAddGroupRequest>(
            "knowledge/add_group",
            call!(|c, r: KnowledgeAddGroupRequest| c.knowledge().add_group(r)),
        ),
        case::<KnowledgeDelGroupRequest>(
            "knowledge/del_group",
            call!(|c, r: KnowledgeDelGroupRequest| c.knowledge().del_group(r)),
        ),
        case::<KnowledgeModGroupRequest>(
            "knowledge/mod_group",
            call!(|c, r: KnowledgeModGroupRequest| c.knowledge().mod_group(r)),
        ),
        case::<KnowledgeListGroupRequest>(
            "knowledge/list_group",
            call!(|c, r: KnowledgeListGroupRequest| c.knowledge().list_group(r)),
        ),
        case::<KnowledgeAddIntentRequest>(
            "knowledge/add_intent",
            call!(|c, r: KnowledgeAddIntentRequest| c.knowledge().add_intent(r)),
        ),
        case::<KnowledgeDelIntentRequest>(
            "knowledge/del_intent",
            call!(|c, r: KnowledgeDelIntentRequest| c.knowledge().del_intent(r)),
        ),
        case::<KnowledgeModIntentRequest>(
            "knowledge/mod_intent",
            call!(|c, r: KnowledgeModIntentRequest| c.knowledge().mod_intent(r)),
        ),
        case::<KnowledgeListIntentRequest>(
            "knowledge/list_intent",
            call!(|c, r: KnowledgeListIntentRequest| c.knowledge().list_intent(r)),
        ),
        case::<MediaUploadRequest>(
            "media/upload",
            by_hand(|c: Client, v| -> CallFuture {
                Box::pin(async move {
                    let r: MediaUploadRequest = req(v);
                    Ok(json(c.media().upload(r.media_type, "photo.png", PNG_BYTES.to_vec()).await?))
                })
            }),
        ),
        case::<MediaGetRequest>(
            "media/get",
            by_hand(|c: Client, v| -> CallFuture {
                Box::pin(async move {
                    let r: MediaGetRequest = req(v);
                    let download = c.media().get_range(&r.media_id, 0, 99).await?;
                    assert_eq!(download.bytes.len(), 100);
                    Ok(json(download.meta))
                })
            }),
        ),
    ]
}

/// A tiny "PNG" (the client checks size and extension, not content).
const PNG_BYTES: &[u8] = b"\x89PNG\r\n\x1a\n0123456789";

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wxkf-types/tests/fixtures")
}

/// The files of `stem` whose names continue with `.{kind}` (`request`, `request.link`, …).
fn fixture_files(stem: &str, kind: &str) -> Vec<(String, Value)> {
    let (dir, name) = stem.split_once('/').unwrap();
    let dir = fixtures_dir().join(dir);
    let prefix = format!("{name}.{kind}");
    let mut files: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with(&prefix) && f.ends_with(".json"))
        .map(|f| {
            let text = std::fs::read_to_string(dir.join(&f)).unwrap();
            (f, serde_json::from_str(&text).unwrap())
        })
        .collect();
    files.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(&b.0)));
    assert!(!files.is_empty(), "no {kind} fixture for {stem}");
    files
}

/// Matches a JSON body equal to `expected`, ignoring a `msgid` the client generated (which must be
/// valid) when `expected` has none.
struct BodyIs {
    expected: Value,
    generated_msgid: bool,
}

impl Match for BodyIs {
    fn matches(&self, request: &Request) -> bool {
        let Ok(mut body) = serde_json::from_slice::<Value>(&request.body) else { return false };
        if self.generated_msgid {
            let Some(id) = body.as_object_mut().and_then(|o| o.remove("msgid")) else { return false };
            if !id.as_str().is_some_and(wxkf_client::api::message::is_valid_msgid) {
                return false;
            }
        }
        body == self.expected
    }
}

/// Mounts the endpoint's mock for one request/response fixture pair (expecting one call).
async fn mount_case(server: &MockServer, c: &Case, request: &Value, response: &Value) {
    let method_str = c.method.as_str();
    let mut mock =
        Mock::given(method(method_str)).and(path(c.path)).and(query_param("access_token", "tok-1"));
    match c.request_body {
        RequestBody::Json => {
            let expected = (c.canonical)(request.clone());
            let generated_msgid = c.adds_msgid && expected.get("msgid").is_none();
            mock = mock.and(BodyIs { expected, generated_msgid });
        }
        _ => {
            for (k, v) in (c.canonical)(request.clone()).as_object().unwrap() {
                let v = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                mock = mock.and(query_param(k.as_str(), v.as_str()));
            }
        }
    }
    let template = match c.response_body {
        ResponseBody::Raw => {
            // media/get: the fixture response is the header metadata of a 206 answer.
            let ct = response["content_type"].as_str().unwrap();
            let name = response["filename"].as_str().unwrap();
            let r = &response["content_range"];
            ResponseTemplate::new(206)
                .insert_header("content-type", ct)
                .insert_header("content-disposition", format!("attachment; filename=\"{name}\"").as_str())
                .insert_header(
                    "content-range",
                    format!("bytes {}-{}/{}", r["start"], r["end"], r["total"]).as_str(),
                )
                .set_body_bytes(vec![7u8; response["content_length"].as_u64().unwrap() as usize])
        }
        _ => {
            let mut body = response.clone();
            if let Some(o) = body.as_object_mut() {
                o.entry("errcode").or_insert(json!(0));
                o.entry("errmsg").or_insert(json!("ok"));
            }
            ok_json(body)
        }
    };
    mock.respond_with(template).named(format!("{} {}", method_str, c.path)).expect(1).mount(server).await;
}

/// Runs one request/response fixture pair of `c` against a fresh mock server.
async fn run_case(c: &Case, request_name: &str, request: &Value, response_name: &str, response: &Value) {
    let server = server().await;
    let is_gettoken = c.path == "/cgi-bin/gettoken";
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    if !is_gettoken {
        mount_case(&server, c, request, response).await;
    }
    let got = (c.call)(client(&server), request.clone())
        .await
        .unwrap_or_else(|e| panic!("{}: {request_name} / {response_name}: {e:?}", c.path));
    if is_gettoken {
        assert_eq!(got, json!({"access_token": "tok-1"}));
    } else {
        let expected = (c.expected)(response.clone());
        if got.is_null() {
            assert_eq!(expected, json!({}), "{}: a () method for a response with fields", c.path);
        } else {
            assert_eq!(got, expected, "{}: {response_name}", c.path);
        }
    }
    server.verify().await;
}

#[tokio::test]
async fn every_endpoint_sends_the_fixture_request_and_maps_the_fixture_response() {
    let mut ran = 0;
    for c in cases() {
        let requests = fixture_files(c.fixture, "request");
        let responses = if c.path == "/cgi-bin/gettoken" {
            vec![("(tok-1)".to_owned(), Value::Null)]
        } else {
            fixture_files(c.fixture, "response")
        };
        // Every request variant with the main response, and the main request with every response variant.
        for (name, request) in &requests {
            run_case(&c, name, request, &responses[0].0, &responses[0].1).await;
            ran += 1;
        }
        for (name, response) in responses.iter().skip(1) {
            run_case(&c, &requests[0].0, &requests[0].1, name, response).await;
            ran += 1;
        }
    }
    assert!(ran >= 40, "only {ran} fixture pairs ran");
}

#[test]
fn every_endpoint_of_wxkf_types_has_a_client_method() {
    let table: BTreeSet<&str> = cases().iter().map(|c| c.path).collect();
    let missing: Vec<&str> =
        wxkf_types::ENDPOINTS.iter().map(|e| e.path).filter(|p| !table.contains(p)).collect();
    assert!(missing.is_empty(), "endpoints without a client method in the table: {missing:?}");
    // And the table's metadata agrees with wxkf-types' own.
    for c in cases() {
        let meta = wxkf_types::ENDPOINTS.iter().find(|e| e.path == c.path).unwrap();
        assert_eq!((meta.method, meta.fixture), (c.method, c.fixture), "{}", c.path);
    }
    assert_eq!(table.len(), wxkf_types::ENDPOINTS.len());
}

#[test]
fn each_row_names_the_client_method_the_table_calls() {
    let mut checked = 0;
    for c in cases() {
        let meta = wxkf_types::ENDPOINTS.iter().find(|e| e.path == c.path).unwrap();
        let Some(text) = c.call_text else { continue };
        let (with_request, without) =
            (format!("c.{}(r)", meta.client_method), format!("c.{}()", meta.client_method));
        assert!(
            text == with_request || text == without,
            "{}: the row names {} but the client method is {text}",
            c.path,
            meta.client_method
        );
        checked += 1;
    }
    // only gettoken and media (hand-written calls) are left out
    assert_eq!(checked, wxkf_types::ENDPOINTS.len() - 3);
}
