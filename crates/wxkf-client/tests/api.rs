//! Area behaviour beyond request/response shapes: msgid on retried sends, the session-state check,
//! paging streams and their cursors, media upload/download, and checks made before sending.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use support::*;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};
use wxkf_client::Error;
use wxkf_client::types::account::AccountListRequest;
use wxkf_client::types::customer::CustomerBatchGetRequest;
use wxkf_client::types::knowledge::KnowledgeListGroupRequest;
use wxkf_client::types::media::MediaType;
use wxkf_client::types::message::{MessageContent, SendMsgOnEventRequest, SendMsgRequest, SyncMsgRequest};
use wxkf_client::types::service_state::{ServiceState, ServiceStateTransRequest};
use wxkf_client::types::servicer::ServicerAddRequest;
use wxkf_client::types::statistic::GetCorpStatisticRequest;

const SEND: &str = "/cgi-bin/kf/send_msg";
const SYNC: &str = "/cgi-bin/kf/sync_msg";

async fn ready() -> MockServer {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    server
}

#[tokio::test]
async fn a_retried_send_carries_the_same_generated_msgid() {
    let server = ready().await;
    Mock::given(method("POST"))
        .and(path(SEND))
        .and(query_param("access_token", "tok-1"))
        .respond_with(Seq::new([
            ResponseTemplate::new(502),
            api_error(-1, "system busy"),
            ok_json(json!({"errcode": 0, "errmsg": "ok", "msgid": "ECHO"})),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    let sent = client(&server).message().send_msg(SendMsgRequest::text("wm1", "wk1", "hello")).await.unwrap();
    assert_eq!(sent.msgid, "ECHO");
    let bodies = bodies_on(&server, SEND).await;
    assert_eq!(bodies.len(), 3);
    let id = bodies[0]["msgid"].as_str().unwrap().to_owned();
    assert!(wxkf_client::api::message::is_valid_msgid(&id), "{id}");
    assert!(bodies.iter().all(|b| b["msgid"] == id.as_str()), "{bodies:?}");
    assert_eq!(bodies[0]["text"]["content"], "hello");
    server.verify().await;
}

#[tokio::test]
async fn a_callers_msgid_is_kept_and_send_on_event_retries_with_it() {
    let server = ready().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/kf/send_msg_on_event"))
        .and(body_json(
            json!({"code": "WELCOME", "msgid": "mine-1", "msgtype": "text", "text": {"content": "hi"}}),
        ))
        .respond_with(Seq::new([
            ResponseTemplate::new(500),
            ok_json(json!({"errcode": 0, "errmsg": "ok", "msgid": "mine-1"})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let req = SendMsgOnEventRequest::text("WELCOME", "hi").with_msgid("mine-1");
    assert_eq!(client(&server).message().send_msg_on_event(req).await.unwrap().msgid, "mine-1");
    server.verify().await;
}

#[tokio::test]
async fn invalid_sends_are_refused_before_any_request() {
    let server = server().await;
    let client = client(&server);
    let bad_id = SendMsgRequest::text("wm1", "wk1", "x").with_msgid("not valid!");
    assert!(matches!(client.message().send_msg(bad_id).await, Err(Error::InvalidArgument { .. })));
    let long = SendMsgRequest::text("wm1", "wk1", "长".repeat(700)); // 2100 bytes
    assert!(matches!(client.message().send_msg(long).await, Err(Error::InvalidArgument { .. })));
    // The catch-all fails the test if anything reached the server.
    drop(server);
}

#[tokio::test]
async fn send_checked_refuses_a_session_a_human_handles() {
    let server = ready().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/kf/service_state/get"))
        .and(body_json(json!({"open_kfid": "wk1", "external_userid": "wm1"})))
        .respond_with(Seq::new([
            ok_json(json!({"errcode": 0, "errmsg": "ok", "service_state": 3, "servicer_userid": "zhangsan"})),
            ok_json(json!({"errcode": 0, "errmsg": "ok", "service_state": 1})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(SEND))
        .respond_with(ok_json(json!({"errcode": 0, "errmsg": "ok", "msgid": "M"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.message().send_msg_checked(SendMsgRequest::text("wm1", "wk1", "hi")).await.unwrap_err();
    match &err {
        Error::SessionNotSendable { state, servicer_userid } => {
            assert_eq!(*state, ServiceState::Human);
            assert_eq!(servicer_userid.as_deref(), Some("zhangsan"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("service_state/trans"), "{err}");
    let sent = client.message().send_msg_checked(SendMsgRequest::text("wm1", "wk1", "hi")).await.unwrap();
    assert_eq!(sent.msgid, "M");
    server.verify().await;
}

#[tokio::test]
async fn the_95018_error_carries_the_session_hint() {
    let server = ready().await;
    Mock::given(method("POST"))
        .and(path(SEND))
        .respond_with(api_error(95018, "send msg session status invalid, hint: [1], from ip: 1.2.3.4"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).message().send_msg(SendMsgRequest::text("wm1", "wk1", "hi")).await.unwrap_err();
    assert_eq!(err.errcode(), Some(95018));
    let text = err.to_string();
    assert!(text.contains("service_state") && !text.contains("from ip"), "{text}");
    server.verify().await;
}

fn text_item(id: &str) -> Value {
    json!({"msgid": id, "open_kfid": "wk1", "external_userid": "wm1", "send_time": 1, "origin": 3,
           "msgtype": "text", "text": {"content": id}})
}

fn page(cursor: &str, more: bool, items: Vec<Value>) -> ResponseTemplate {
    ok_json(
        json!({"errcode": 0, "errmsg": "ok", "next_cursor": cursor, "has_more": u8::from(more), "msg_list": items}),
    )
}

/// Mounts a sync_msg page answered when the request's cursor is `cursor` (`None`: no cursor sent).
async fn mount_page(server: &MockServer, cursor: Option<&'static str>, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(SYNC))
        .and(move |r: &Request| {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            body["open_kfid"] == "wk1"
                && body["token"] == "CALLBACK"
                && body.get("cursor").and_then(Value::as_str) == cursor
        })
        .respond_with(response)
        .expect(1)
        .named(format!("sync_msg page after {cursor:?}"))
        .mount(server)
        .await;
}

#[tokio::test]
async fn sync_stream_follows_the_cursor_past_empty_pages_and_exposes_a_safe_cursor() {
    let server = ready().await;
    let malformed =
        json!({"msgid": "bad", "send_time": 3, "origin": 3, "msgtype": "text", "text": {"content": 5}});
    mount_page(&server, None, page("c1", true, vec![text_item("m1"), text_item("m2")])).await;
    mount_page(&server, Some("c1"), page("c2", true, vec![])).await;
    mount_page(&server, Some("c2"), page("c3", false, vec![malformed, text_item("m3")])).await;
    let client = client(&server);
    let mut stream = client.message().sync_msg_stream(SyncMsgRequest::new("wk1").with_token("CALLBACK"));
    let mut seen = Vec::new();
    let mut cursors = Vec::new();
    while let Some(message) = stream.next().await {
        let message = message.unwrap();
        seen.push((message.msgid.clone(), matches!(message.content, MessageContent::Malformed { .. })));
        cursors.push(stream.cursor().map(str::to_owned));
    }
    assert_eq!(
        seen,
        vec![("m1".into(), false), ("m2".into(), false), ("bad".into(), true), ("m3".into(), false)]
    );
    // The cursor moves past a page only when all of its messages were yielded.
    assert_eq!(cursors, vec![None, Some("c1".into()), Some("c2".into()), Some("c3".into())]);
    assert!(stream.is_done());
    assert_eq!(stream.cursor(), Some("c3"));
    server.verify().await;
}

#[tokio::test]
async fn sync_pages_stop_on_error_and_keep_the_last_good_cursor() {
    let server = ready().await;
    mount_page(&server, None, page("c1", true, vec![text_item("m1")])).await;
    mount_page(&server, Some("c1"), api_error(95007, "invalid msg token")).await;
    let client = client(&server);
    let mut pages = client.message().sync_msg_pages(SyncMsgRequest::new("wk1").with_token("CALLBACK"));
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(first.next_cursor, "c1");
    assert_eq!(pages.next_request().cursor.as_deref(), Some("c1"));
    assert_eq!(pages.next().await.unwrap().unwrap_err().errcode(), Some(95007));
    assert!(pages.next().await.is_none());
    assert_eq!(pages.next_request().cursor.as_deref(), Some("c1"), "resume from the failed page");
    server.verify().await;
}

#[tokio::test]
async fn sync_stops_when_has_more_does_not_move_the_cursor() {
    let server = ready().await;
    mount_page(&server, None, page("c1", true, vec![text_item("m1")])).await;
    mount_page(&server, Some("c1"), page("c1", true, vec![])).await;
    let client = client(&server);
    let items: Vec<_> = client
        .message()
        .sync_msg_stream(SyncMsgRequest::new("wk1").with_token("CALLBACK"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    server.verify().await;
}

#[tokio::test]
async fn sync_without_open_kfid_is_refused() {
    let server = server().await;
    let client = client(&server);
    let mut stream = client.message().sync_msg_stream(SyncMsgRequest::new(""));
    assert!(matches!(stream.next().await, Some(Err(Error::InvalidArgument { .. }))));
    assert!(stream.next().await.is_none());
    assert!(matches!(
        client.message().sync_msg(SyncMsgRequest::new("")).await,
        Err(Error::InvalidArgument { .. })
    ));
}

#[tokio::test]
async fn account_list_all_pages_by_offset_until_a_short_page() {
    let server = ready().await;
    let accounts = |from: usize, n: usize| -> Vec<Value> {
        (from..from + n)
            .map(|i| json!({"open_kfid": format!("wk{i}"), "name": format!("n{i}"), "avatar": ""}))
            .collect()
    };
    let first = json!({"limit": 100});
    for (body, list) in [(first, accounts(0, 100)), (json!({"offset": 100, "limit": 100}), accounts(100, 3))]
    {
        Mock::given(method("POST"))
            .and(path("/cgi-bin/kf/account/list"))
            .and(body_json(body))
            .respond_with(ok_json(json!({"errcode": 0, "errmsg": "ok", "account_list": list})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let all = client(&server).account().list_all().await.unwrap();
    assert_eq!(all.len(), 103);
    assert_eq!(all[102].open_kfid, "wk102");
    server.verify().await;
}

#[tokio::test]
async fn account_stream_with_a_small_limit_stops_on_an_empty_page() {
    let server = ready().await;
    for (body, n) in [(json!({"limit": 2}), 2), (json!({"offset": 2, "limit": 2}), 0)] {
        let list: Vec<Value> = (0..n).map(|i| json!({"open_kfid": format!("wk{i}")})).collect();
        Mock::given(method("POST"))
            .and(path("/cgi-bin/kf/account/list"))
            .and(body_json(body))
            .respond_with(ok_json(json!({"errcode": 0, "account_list": list})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = client(&server);
    let all: Vec<_> =
        client.account().list_stream(AccountListRequest::new().with_limit(2)).try_collect().await.unwrap();
    assert_eq!(all.len(), 2);
    server.verify().await;
}

#[tokio::test]
async fn knowledge_groups_page_by_cursor() {
    let server = ready().await;
    for (cursor, next, more) in [(None, "k1", 1), (Some("k1"), "", 0)] {
        Mock::given(method("POST"))
            .and(path("/cgi-bin/kf/knowledge/list_group"))
            .and(move |r: &Request| {
                let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                body.get("cursor").and_then(Value::as_str) == cursor
            })
            .respond_with(ok_json(json!({"errcode": 0, "next_cursor": next, "has_more": more,
                "group_list": [{"group_id": format!("g-{next}"), "name": "n", "is_default": 0}]})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = client(&server);
    let groups: Vec<_> =
        client.knowledge().list_group_stream(KnowledgeListGroupRequest::new()).try_collect().await.unwrap();
    assert_eq!(groups.iter().map(|g| g.group_id.as_str()).collect::<Vec<_>>(), ["g-k1", "g-"]);
    server.verify().await;
}

/// Captures upload requests for inspection.
fn upload_mock(captured: Arc<Mutex<Vec<Request>>>) -> Mock {
    Mock::given(method("POST"))
        .and(path("/cgi-bin/media/upload"))
        .and(query_param("access_token", "tok-1"))
        .and(query_param("type", "image"))
        .respond_with(move |r: &Request| {
            captured.lock().unwrap().push(r.clone());
            ok_json(json!({"errcode": 0, "errmsg": "", "type": "image", "media_id": "MID", "created_at": "1380000000"}))
        })
}

fn multipart_of(r: &Request) -> (String, Vec<u8>) {
    let ct = r.headers.get("content-type").unwrap().to_str().unwrap().to_owned();
    (ct, r.body.clone())
}

#[tokio::test]
async fn upload_sends_one_media_part_with_a_raw_utf8_filename() {
    let server = ready().await;
    let captured = Arc::new(Mutex::new(Vec::new()));
    upload_mock(captured.clone()).expect(1).mount(&server).await;
    let data = b"\x89PNG\r\n\x1a\nimage-bytes".to_vec();
    let uploaded =
        client(&server).media().upload(MediaType::Image, "客服头像.PNG", data.clone()).await.unwrap();
    assert_eq!(uploaded.media_id, "MID");
    assert_eq!(uploaded.created_at, 1_380_000_000);
    let (ct, body) = multipart_of(&captured.lock().unwrap()[0]);
    let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"客服头像.PNG\"; filelength={}\r\nContent-Type: image/png\r\n\r\n",
        data.len()
    );
    let mut expected = head.into_bytes();
    expected.extend_from_slice(&data);
    expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(body, expected);
    server.verify().await;
}

#[tokio::test]
async fn upload_from_a_file_and_from_a_stream() {
    let server = ready().await;
    let captured = Arc::new(Mutex::new(Vec::new()));
    upload_mock(captured.clone()).expect(2).mount(&server).await;
    let dir = std::env::temp_dir().join(format!("wxkf-client-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("photo.jpg");
    std::fs::write(&file, b"jpeg-bytes-0123").unwrap();
    let client = client(&server);
    client.media().upload_file(MediaType::Image, &file).await.unwrap();
    let chunks =
        futures_util::stream::iter([Ok(Bytes::from_static(b"abc")), Ok(Bytes::from_static(b"defgh"))]);
    client.media().upload_stream(MediaType::Image, "s.png", 8, chunks).await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let requests = captured.lock().unwrap().clone();
    let first = String::from_utf8_lossy(&requests[0].body).into_owned();
    assert!(
        first.contains("filename=\"photo.jpg\"; filelength=15") && first.contains("jpeg-bytes-0123"),
        "{first}"
    );
    let second = String::from_utf8_lossy(&requests[1].body).into_owned();
    assert!(
        second.contains("filename=\"s.png\"; filelength=8\r\nContent-Type: image/png\r\n\r\nabcdefgh\r\n"),
        "{second}"
    );
    assert_eq!(
        requests[1].headers.get("content-length").unwrap().to_str().unwrap(),
        requests[1].body.len().to_string()
    );
    server.verify().await;
}

#[tokio::test]
async fn uploads_that_break_wecom_limits_are_refused_before_sending() {
    let server = server().await;
    let media = client(&server);
    let media = media.media();
    let refused = [
        media.upload(MediaType::Voice, "v.amr", vec![0u8; 2 * 1024 * 1024 + 1]).await,
        media.upload(MediaType::Image, "a.gif", vec![0u8; 100]).await,
        media.upload(MediaType::File, "tiny.txt", vec![0u8; 5]).await,
        media.upload(MediaType::File, "", vec![0u8; 100]).await,
        media.upload(MediaType::Video, "big.mp4", vec![0u8; 10 * 1024 * 1024 + 1]).await,
    ];
    for result in refused {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
        assert!(err.to_string().contains("refused before sending"), "{err}");
    }
    drop(server); // the catch-all fails the test on any request
}

fn media_response(body: &'static [u8]) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "image/jpeg")
        .insert_header("content-disposition", "attachment; filename=\"MEDIA_ID.jpg\"")
        .set_body_bytes(body)
}

#[tokio::test]
async fn media_get_whole_streamed_and_into_a_writer() {
    let server = ready().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/media/get"))
        .and(query_param("access_token", "tok-1"))
        .and(query_param("media_id", "MEDIA_ID"))
        .respond_with(media_response(b"0123456789"))
        .expect(3)
        .mount(&server)
        .await;
    let client = client(&server);
    let whole = client.media().get("MEDIA_ID").await.unwrap();
    assert_eq!(&whole.bytes[..], b"0123456789");
    assert_eq!(whole.meta.content_type, "image/jpeg");
    assert_eq!(whole.meta.filename.as_deref(), Some("MEDIA_ID.jpg"));
    assert_eq!(whole.meta.content_length, Some(10));

    let mut out: Vec<u8> = Vec::new();
    let meta = client.media().download_to("MEDIA_ID", &mut out).await.unwrap();
    assert_eq!(out, b"0123456789");
    assert_eq!(meta.filename.as_deref(), Some("MEDIA_ID.jpg"));

    let stream = client.media().open("MEDIA_ID").await.unwrap();
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), b"0123456789");
    server.verify().await;
}

#[tokio::test]
async fn media_get_range_sends_range_and_reads_206() {
    let server = ready().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/media/get"))
        .and(header("range", "bytes=10-19"))
        .respond_with(
            ResponseTemplate::new(206)
                .insert_header("content-type", "video/mp4")
                .insert_header("content-disposition", "attachment; filename=\"v.mp4\"")
                .insert_header("content-range", "bytes 10-19/100")
                .set_body_bytes(&b"abcdefghij"[..]),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let part = client.media().get_range("M", 10, 19).await.unwrap();
    assert_eq!(&part.bytes[..], b"abcdefghij");
    let range = part.meta.content_range.unwrap();
    assert_eq!((range.start, range.end, range.total), (10, 19, Some(100)));
    assert!(matches!(client.media().get_range("M", 5, 1).await, Err(Error::InvalidArgument { .. })));
    server.verify().await;
}

#[tokio::test]
async fn media_get_errors_come_as_json_and_text_files_are_not_errors() {
    let server = ready().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/media/get"))
        .and(query_param("media_id", "EXPIRED"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json; charset=UTF-8")
                .set_body_string(r#"{"errcode":40007,"errmsg":"invalid media_id"}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/media/get"))
        .and(query_param("media_id", "TEXT"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "text/plain")
                .set_body_string("just notes"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client.media().get("EXPIRED").await.unwrap_err();
    assert_eq!(err.errcode(), Some(40007));
    assert!(err.hint().is_some());
    let text = client.media().get("TEXT").await.unwrap();
    assert_eq!(&text.bytes[..], b"just notes");
    server.verify().await;
}

#[tokio::test]
async fn media_get_is_retried_on_5xx() {
    let server = ready().await;
    Mock::given(method("GET"))
        .and(path("/cgi-bin/media/get"))
        .respond_with(Seq::new([ResponseTemplate::new(503), media_response(b"payload")]))
        .expect(2)
        .mount(&server)
        .await;
    assert_eq!(&client(&server).media().get("M").await.unwrap().bytes[..], b"payload");
    server.verify().await;
}

#[tokio::test]
async fn batchget_all_splits_into_calls_of_100_and_single_calls_are_checked() {
    let server = ready().await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/kf/customer/batchget"))
        .respond_with(|r: &Request| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let ids = body["external_userid_list"].as_array().unwrap().clone();
            let customers: Vec<Value> =
                ids.iter().map(|id| json!({"external_userid": id, "nickname": "n"})).collect();
            ok_json(json!({"errcode": 0, "customer_list": customers, "invalid_external_userid": []}))
        })
        .expect(2)
        .mount(&server)
        .await;
    let client = client(&server);
    let ids: Vec<String> = (0..150).map(|i| format!("wm{i}")).collect();
    let all = client.customer().batchget_all(ids.clone(), false).await.unwrap();
    assert_eq!(all.customer_list.len(), 150);
    assert_eq!(all.customer_list[149].external_userid, "wm149");
    let too_many = client.customer().batchget(CustomerBatchGetRequest::new(ids)).await;
    assert!(matches!(too_many, Err(Error::InvalidArgument { .. })));
    server.verify().await;
}

#[tokio::test]
async fn other_checks_before_sending() {
    let server = server().await;
    let client = client(&server);
    let empty = ServicerAddRequest::new("wk1", Vec::<String>::new(), []);
    assert!(matches!(client.servicer().add(empty).await, Err(Error::InvalidArgument { .. })));
    let mut to_nobody = ServiceStateTransRequest::to_servicer("wk1", "wm1", "x");
    to_nobody.servicer_userid = None;
    assert!(matches!(client.service_state().trans(to_nobody).await, Err(Error::InvalidArgument { .. })));
    let backwards = GetCorpStatisticRequest::new("wk1", 200, 100);
    assert!(matches!(
        client.statistic().get_corp_statistic(backwards).await,
        Err(Error::InvalidArgument { .. })
    ));
    let bad_scene = wxkf_client::types::account::AddContactWayRequest::new("wk1").with_scene("has space");
    assert!(matches!(client.account().add_contact_way(bad_scene).await, Err(Error::InvalidArgument { .. })));
    drop(server);
}

/// Code written before the path naming rule compiles and reaches the same endpoints: the old
/// `upgrade` handle and type names are the customer area's.
#[tokio::test]
async fn names_from_before_the_path_rule_reach_the_same_endpoints() {
    let server = server().await;
    mount_gettoken(&server, Duration::ZERO, 7200, 1).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/kf/customer/cancel_upgrade_service"))
        .and(body_json(json!({"open_kfid": "wk1", "external_userid": "wm1"})))
        .respond_with(api_error(0, "ok"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let old = wxkf_client::types::upgrade::CancelUpgradeServiceRequest::new("wk1", "wm1");
    let handle: wxkf_client::api::upgrade::UpgradeApi<'_> = client.upgrade();
    handle.cancel_upgrade_service(old).await.unwrap();
    let new: wxkf_client::types::customer::CustomerCancelUpgradeServiceRequest =
        wxkf_client::types::upgrade::CancelUpgradeServiceRequest::new("wk1", "wm1");
    assert_eq!(serde_json::to_value(&new).unwrap(), json!({"open_kfid": "wk1", "external_userid": "wm1"}));
    server.verify().await;
}
