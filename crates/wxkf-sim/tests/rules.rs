//! One test per WeCom rule, driven through the real `wxkf_client::Client` pointed at the simulator
//! (which also proves that client and simulator agree on the wire format).

mod support;

use std::time::Duration;

use support::{client_for, errcode};
use wxkf_client::{Client, RetryPolicy};
use wxkf_sim::{Fault, FaultRule, Sim, SimHandle};
use wxkf_types::media::MediaType;
use wxkf_types::message::{
    MessageContent, RecallMsgRequest, SendMessage, SendMsgOnEventRequest, SendMsgRequest, SyncMsgRequest,
};
use wxkf_types::service_state::{ServiceState, ServiceStateGetRequest, ServiceStateTransRequest};

const KF: &str = "wkSIMKF0001";
const USER: &str = "wmSIMUSER0001";

async fn start() -> (SimHandle, Client) {
    support::start(KF, "Support").await
}

fn text(n: usize) -> SendMsgRequest {
    SendMsgRequest::text(USER, KF, format!("reply {n}"))
}

#[tokio::test]
async fn token_expiry_and_revocation_are_refreshed_by_the_client() {
    let (sim, client) = start().await;
    sim.customer(KF, USER).say("hi");
    client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.call_count("/cgi-bin/gettoken"), 1);

    // Past expires_in the cached token is stale: the simulator says 42001, the client refreshes once.
    sim.advance(Duration::from_secs(7201));
    client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("{e}"));
    let codes: Vec<_> = sim.calls().iter().map(|c| (c.path.clone(), c.errcode)).collect();
    assert!(codes.contains(&("/cgi-bin/kf/sync_msg".into(), Some(42001))), "{codes:?}");
    assert_eq!(sim.call_count("/cgi-bin/gettoken"), 2);

    // A revoked token gets 40014, and again the client refreshes.
    sim.revoke_tokens();
    client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(sim.calls().iter().any(|c| c.errcode == Some(40014)));
    assert_eq!(sim.call_count("/cgi-bin/gettoken"), 3);
}

#[tokio::test]
async fn raw_token_errors_match_wecom() {
    let sim =
        Sim::builder().token_ttl(Duration::from_secs(60)).start().await.unwrap_or_else(|e| panic!("{e}"));
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let v: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            v
        }
    };
    let base = sim.base_url();
    let bad = get(format!("{base}/cgi-bin/gettoken?corpid={}&corpsecret=wrong", sim.corp_id())).await;
    assert_eq!(bad["errcode"], 40001);
    let ok =
        get(format!("{base}/cgi-bin/gettoken?corpid={}&corpsecret={}", sim.corp_id(), sim.secret())).await;
    assert_eq!(ok["expires_in"], 60);
    let token = ok["access_token"].as_str().unwrap_or_default().to_owned();
    let list = |t: &str| format!("{base}/cgi-bin/kf/servicer/list?open_kfid=wkX&access_token={t}");
    assert_eq!(get(format!("{base}/cgi-bin/kf/servicer/list?open_kfid=wkX")).await["errcode"], 41001);
    assert_eq!(get(list("nope")).await["errcode"], 40014);
    assert_eq!(get(list(&token)).await["errcode"], 95004);
    sim.advance(Duration::from_secs(61));
    let expired = get(list(&token)).await;
    assert_eq!(expired["errcode"], 42001);
    assert!(expired["errmsg"].as_str().unwrap_or_default().contains("more info at"));
    // Unknown paths answer with a JSON errcode, HTTP 200, like every WeCom error.
    let unknown =
        http.get(format!("{base}/cgi-bin/kf/no_such_api?access_token={token}")).send().await.unwrap();
    assert_eq!(unknown.status(), 200);
    let unknown: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(unknown["errcode"], 48001);
}

#[tokio::test]
async fn send_msg_allows_five_replies_per_customer_message_within_48_hours() {
    let (sim, client) = start().await;
    let customer = sim.customer(KF, USER);
    // Before the customer ever wrote: nothing may be sent.
    assert_eq!(errcode(client.message().send_msg(text(0)).await), 95002);

    customer.say("hello");
    for n in 1..=5 {
        client.message().send_msg(text(n)).await.unwrap_or_else(|e| panic!("send {n}: {e}"));
    }
    assert_eq!(errcode(client.message().send_msg(text(6)).await), 95001);

    // The customer writes again: the quota resets.
    customer.say("more please");
    client.message().send_msg(text(7)).await.unwrap_or_else(|e| panic!("{e}"));

    // 48 hours later the window is closed.
    sim.advance(Duration::from_secs(48 * 3600 + 1));
    assert_eq!(errcode(client.message().send_msg(text(8)).await), 95002);
    assert_eq!(sim.sent().len(), 6);
    assert_eq!(customer.replies()[0].text(), Some("reply 1"));
    assert_eq!(customer.replies()[0].send_message(), Some(SendMessage::text("reply 1")));
    assert_eq!(sim.messages(KF).len(), 2, "sent messages are not in the log sync_msg serves");
}

#[tokio::test]
async fn send_msg_only_in_states_new_and_bot_and_msgid_is_unique() {
    let (sim, client) = start().await;
    sim.add_servicer(KF, "alice");
    sim.customer(KF, USER).say("hello");
    let state = |s: &ServiceState| u32::from(*s);
    let get = client.service_state().get(ServiceStateGetRequest::new(KF, USER)).await.unwrap();
    assert_eq!(state(&get.service_state), 0);

    let first = client.message().send_msg(text(1).with_msgid("dup-1")).await.unwrap();
    assert_eq!(first.msgid, "dup-1");
    assert_eq!(errcode(client.message().send_msg(text(2).with_msgid("dup-1")).await), 40058);
    let get = client.service_state().get(ServiceStateGetRequest::new(KF, USER)).await.unwrap();
    assert_eq!(state(&get.service_state), 1, "sending moves a new session to the bot");

    let trans = ServiceStateTransRequest::to_servicer(KF, USER, "alice");
    let code = client.service_state().trans(trans).await.unwrap();
    assert!(code.msg_code.as_deref().is_some_and(|c| !c.is_empty()));
    assert_eq!(errcode(client.message().send_msg(text(3)).await), 95018);
    let back = ServiceStateTransRequest::new(KF, USER, ServiceState::Bot);
    assert_eq!(errcode(client.service_state().trans(back).await), 95016);
}

#[tokio::test]
async fn welcome_code_is_single_use_and_lives_20_seconds() {
    let (sim, client) = start().await;
    let customer = sim.customer(KF, USER);
    let code = customer.enter().unwrap_or_else(|| panic!("a first entry gets a welcome code"));
    let welcome = || SendMsgOnEventRequest::text(code.clone(), "Welcome!");
    client.message().send_msg_on_event(welcome()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(errcode(client.message().send_msg_on_event(welcome()).await), 40058, "reuse");
    assert_eq!(sim.sent()[0].code.as_deref(), Some(code.as_str()));

    // A welcome was sent within 48 h: the next entry carries no code.
    assert_eq!(customer.enter(), None);

    let other = sim.customer(KF, "wmOTHER");
    let late = other.enter().unwrap_or_else(|| panic!("code"));
    sim.advance(Duration::from_secs(21));
    assert_eq!(
        errcode(client.message().send_msg_on_event(SendMsgOnEventRequest::text(late, "hi")).await),
        40058
    );
    assert_eq!(sim.sent().len(), 1);
}

#[tokio::test]
async fn recall_works_for_two_minutes() {
    let (sim, client) = start().await;
    sim.customer(KF, USER).say("hello");
    let a = client.message().send_msg(text(1)).await.unwrap().msgid;
    let b = client.message().send_msg(text(2)).await.unwrap().msgid;
    client.message().recall_msg(RecallMsgRequest::new(KF, a.clone())).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(sim.sent()[0].recalled);
    assert_eq!(errcode(client.message().recall_msg(RecallMsgRequest::new(KF, a)).await), 95028);
    assert_eq!(errcode(client.message().recall_msg(RecallMsgRequest::new(KF, "never-sent")).await), 95028);
    sim.advance(Duration::from_secs(121));
    assert_eq!(errcode(client.message().recall_msg(RecallMsgRequest::new(KF, b)).await), 95029);
}

#[tokio::test]
async fn sync_msg_pages_with_cursor_limit_and_has_more() {
    let (sim, client) = start().await;
    let customer = sim.customer(KF, USER);
    assert!(customer.enter().is_some());
    for n in 0..6 {
        customer.say(&format!("m{n}"));
    }
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut req = SyncMsgRequest::new(KF).with_limit(3);
        if let Some(c) = &cursor {
            req = req.with_cursor(c.clone());
        }
        let page = client.message().sync_msg(req).await.unwrap_or_else(|e| panic!("{e}"));
        pages.push(page.msg_list.len());
        cursor = Some(page.next_cursor.clone());
        if !page.has_more {
            break;
        }
    }
    assert_eq!(pages, [3, 3, 1]);
    // The stored cursor returns nothing old, and new messages come after it.
    customer.say("later");
    let req = SyncMsgRequest::new(KF).with_cursor(cursor.unwrap_or_default());
    let page = client.message().sync_msg(req).await.unwrap();
    assert!(!page.has_more);
    match &page.msg_list[..] {
        [m] => assert!(matches!(&m.content, MessageContent::Text(t) if t.content == "later")),
        other => panic!("{other:?}"),
    }
    // The first item was the enter_session event.
    let all = client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap();
    assert_eq!(all.msg_list.len(), 8);
    assert_eq!(all.msg_list[0].event().map(|e| e.event_type().to_owned()).as_deref(), Some("enter_session"));
}

#[tokio::test]
async fn media_upload_and_ranged_get() {
    let (_sim, client) = start().await;
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let up = client
        .media()
        .upload(MediaType::Image, "pic.png", data.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let whole = client.media().get(&up.media_id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(whole.bytes.as_ref(), &data[..]);
    assert!(whole.meta.content_range.is_none());
    let part = client.media().get_range(&up.media_id, 100, 199).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(part.bytes.as_ref(), &data[100..200]);
    let range = part.meta.content_range.unwrap_or_else(|| panic!("206 carries Content-Range"));
    assert_eq!((range.start, range.end, range.total), (100, 199, Some(1000)));
    assert_eq!(errcode(client.media().get("no-such-media").await), 40007);
}

#[tokio::test]
async fn faults_fire_on_the_nth_call_and_the_client_retries_them() {
    let (sim, _) = start().await;
    sim.customer(KF, USER).say("hello");
    let client = client_for(
        &sim,
        RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
    );
    sim.inject(FaultRule::new(Fault::Errcode(-1)).path("/cgi-bin/kf/send_msg").nth(1));
    sim.inject(FaultRule::new(Fault::HttpStatus(502)).path("/cgi-bin/kf/send_msg").nth(2));
    let sent =
        client.message().send_msg(text(1).with_msgid("retry-1")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent.msgid, "retry-1");
    let codes: Vec<_> =
        sim.calls().into_iter().filter(|c| c.path == "/cgi-bin/kf/send_msg").map(|c| c.errcode).collect();
    assert_eq!(codes, [Some(-1), None, Some(0)]);
    assert_eq!(sim.sent().len(), 1, "a retried send is delivered once");

    let no_retry = client_for(&sim, RetryPolicy::none());
    sim.inject(FaultRule::new(Fault::Errcode(45009)).path("/cgi-bin/kf/sync_msg").times(1));
    assert_eq!(errcode(no_retry.message().sync_msg(SyncMsgRequest::new(KF)).await), 45009);
    assert!(no_retry.message().sync_msg(SyncMsgRequest::new(KF)).await.is_ok());
    assert_eq!(sim.faults().iter().map(|f| f.fired()).collect::<Vec<_>>(), [1, 1, 1]);
}
