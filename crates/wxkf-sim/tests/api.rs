//! The rest of the API surface through the real client: accounts, servicers, customers, session
//! lifecycle and codes, media checks, history, and the remaining fault kinds.

mod support;

use std::time::{Duration, Instant};

use support::errcode;
use wxkf_client::{Client, RetryPolicy};
use wxkf_sim::{Fault, FaultRule, Sim, SimHandle};
use wxkf_types::account::{AccountAddRequest, AccountDelRequest, AccountListRequest, AccountUpdateRequest};
use wxkf_types::customer::CustomerBatchGetRequest;
use wxkf_types::media::MediaType;
use wxkf_types::message::{SendMsgOnEventRequest, SendMsgRequest, SyncMsgRequest};
use wxkf_types::service_state::{ServiceState, ServiceStateGetRequest, ServiceStateTransRequest};
use wxkf_types::servicer::{ServicerAddRequest, ServicerDelRequest, ServicerListRequest, ServicerTarget};

const KF: &str = "wkAPI";
const USER: &str = "wmAPI";

async fn start() -> (SimHandle, Client) {
    support::start(KF, "Api").await
}

async fn state(c: &Client) -> u32 {
    let r = c.service_state().get(ServiceStateGetRequest::new(KF, USER)).await.unwrap();
    u32::from(r.service_state)
}

#[tokio::test]
async fn accounts_and_servicers() {
    let (_sim, client) = start().await;
    let avatar = client.media().upload(MediaType::Image, "a.png", vec![7u8; 64]).await.unwrap();
    let added = client.account().add(AccountAddRequest::new("Sales", avatar.media_id.clone())).await.unwrap();
    assert!(added.open_kfid.starts_with("wk"));
    assert_eq!(
        errcode(client.account().add(AccountAddRequest::new("x".repeat(17), avatar.media_id)).await),
        95006
    );
    client
        .account()
        .update(AccountUpdateRequest::new(added.open_kfid.clone()).with_name("Sales 2"))
        .await
        .unwrap();
    let all = client.account().list_all().await.unwrap();
    let names: Vec<_> = all.iter().map(|a| (a.open_kfid.as_str(), a.name.as_str())).collect();
    assert!(
        names.contains(&(added.open_kfid.as_str(), "Sales 2")) && names.contains(&(KF, "Api")),
        "{names:?}"
    );
    let page = client.account().list(AccountListRequest::new().with_offset(1).with_limit(1)).await.unwrap();
    assert_eq!(page.account_list.len(), 1);

    client.servicer().add(ServicerAddRequest::for_users(KF, ["alice", "bob"])).await.unwrap();
    client.servicer().del(ServicerDelRequest::for_users(KF, ["bob"])).await.unwrap();
    let list = client.servicer().list(ServicerListRequest::new(KF)).await.unwrap();
    let targets: Vec<_> = list.servicer_list.iter().map(|s| s.target.clone()).collect();
    assert_eq!(targets, [ServicerTarget::User("alice".into())]);

    client.account().del(AccountDelRequest::new(added.open_kfid.clone())).await.unwrap();
    assert_eq!(errcode(client.account().del(AccountDelRequest::new(added.open_kfid)).await), 95004);
}

#[tokio::test]
async fn customers_and_the_session_lifecycle() {
    let (sim, client) = start().await;
    sim.add_servicer(KF, "alice");
    let customer = sim.customer(KF, USER);
    customer.set_nickname("Wang");
    customer.enter_with("ad", "campaign=7");
    let got = client.customer().batchget(CustomerBatchGetRequest::new([USER, "wmNOBODY"])).await.unwrap();
    assert_eq!(got.customer_list.len(), 1);
    assert_eq!(got.customer_list[0].nickname, "Wang");
    assert_eq!(got.invalid_external_userid, ["wmNOBODY"]);

    assert_eq!(state(&client).await, 4, "entered but not written: not started");
    customer.say("help");
    assert_eq!(state(&client).await, 0);

    // Pool, then a servicer: the pool code is text-only and valid while queued.
    let pool = ServiceStateTransRequest::new(KF, USER, ServiceState::Queued);
    let code = client.service_state().trans(pool).await.unwrap().msg_code.unwrap_or_default();
    let human = ServiceStateTransRequest::to_servicer(KF, USER, "alice");
    client.service_state().trans(human).await.unwrap();
    let stale = client.message().send_msg_on_event(SendMsgOnEventRequest::text(code, "queued")).await;
    assert_eq!(errcode(stale), 95018);

    // End it: a 20 s closing code for a text or menu.
    let end = ServiceStateTransRequest::new(KF, USER, ServiceState::Ended);
    let closing = client.service_state().trans(end).await.unwrap().msg_code.unwrap_or_default();
    client.message().send_msg_on_event(SendMsgOnEventRequest::text(closing, "bye")).await.unwrap();
    assert_eq!(sim.sent()[0].text(), Some("bye"));
    let again = ServiceStateTransRequest::new(KF, USER, ServiceState::Queued);
    assert_eq!(errcode(client.service_state().trans(again).await), 95013);

    // A session with no customer message for 48 h has ended; the next entry may be welcomed again.
    customer.say("back");
    sim.advance(Duration::from_secs(48 * 3600));
    assert_eq!(state(&client).await, 4);
    assert!(customer.enter().is_some());
}

#[tokio::test]
async fn media_limits_and_lifetime() {
    let (sim, client) = start().await;
    // The client refuses these before sending; a raw multipart upload shows WeCom's answers.
    let token = client.access_token().await.unwrap();
    let raw = |kind: &'static str, len: usize| {
        let url = format!(
            "{}/cgi-bin/media/upload?access_token={}&type={kind}",
            sim.base_url(),
            token.expose_secret()
        );
        async move {
            let part = reqwest::multipart::Part::bytes(vec![1u8; len]).file_name("t.bin");
            let form = reqwest::multipart::Form::new().part("media", part);
            let resp = reqwest::Client::new().post(url).multipart(form).send().await.unwrap();
            resp.json::<serde_json::Value>().await.unwrap()["errcode"].as_i64()
        }
    };
    assert_eq!(raw("file", 5).await, Some(40006));
    assert_eq!(raw("sticker", 50).await, Some(40005));
    assert_eq!(raw("file", 50).await, Some(0));
    let up = client.media().upload(MediaType::File, "report.bin", vec![1u8; 100]).await.unwrap();
    let got = client.media().get(&up.media_id).await.unwrap();
    assert_eq!(got.meta.filename.as_deref(), Some("report.bin"));
    sim.customer(KF, USER).say("send me the file");
    client.message().send_msg(SendMsgRequest::file(USER, KF, up.media_id.clone())).await.unwrap();
    assert_eq!(errcode(client.message().send_msg(SendMsgRequest::image(USER, KF, "bogus")).await), 40007);
    sim.advance(Duration::from_secs(3 * 24 * 3600));
    assert_eq!(errcode(client.media().get(&up.media_id).await), 40007);
}

#[tokio::test]
async fn history_is_three_days_and_open_kfid_is_required_unless_the_legacy_switch_is_on() {
    let (sim, client) = start().await;
    sim.customer(KF, USER).say("old");
    sim.advance(Duration::from_secs(3 * 24 * 3600));
    sim.customer("wkOTHER", USER).say("new");
    let page = client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap();
    assert!(page.msg_list.is_empty() && !page.has_more);

    // No open_kfid, or an empty one: refused with 40058 (the client always sends it: raw requests).
    let raw = |sim: SimHandle, client: Client, body: &'static str| async move {
        let token = client.access_token().await.unwrap();
        let url = format!("{}/cgi-bin/kf/sync_msg?access_token={}", sim.base_url(), token.expose_secret());
        let v: serde_json::Value =
            reqwest::Client::new().post(url).body(body).send().await.unwrap().json().await.unwrap();
        v
    };
    assert_eq!(raw(sim.clone(), client.clone(), "{}").await["errcode"], 40058);
    assert_eq!(raw(sim.clone(), client.clone(), r#"{"open_kfid": ""}"#).await["errcode"], 40058);

    // The older reading, behind the legacy switch: no open_kfid → every account's items.
    let legacy = Sim::builder().account(KF, "Api").sync_open_kfid_optional(true).start().await.unwrap();
    let legacy_client = Client::builder(legacy.corp_id(), legacy.secret())
        .base_url(legacy.base_url())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    legacy.customer(KF, USER).say("one");
    legacy.customer("wkOTHER", USER).say("two");
    let all = raw(legacy.clone(), legacy_client, "{}").await;
    assert_eq!(all["errcode"], 0);
    assert_eq!(all["msg_list"].as_array().map(Vec::len), Some(2));
    assert_eq!(all["msg_list"][1]["open_kfid"], "wkOTHER");
}

#[tokio::test]
async fn revocation_and_latency_faults() {
    let (sim, client) = start().await;
    sim.customer(KF, USER).say("hi");
    client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap();
    // Calls are counted from when the rule is added: nth(1) is the next sync_msg.
    sim.inject(FaultRule::new(Fault::RevokeTokens).path("/cgi-bin/kf/sync_msg").nth(1));
    sim.inject(
        FaultRule::new(Fault::Latency(Duration::from_millis(300))).path("/cgi-bin/kf/sync_msg").nth(1),
    );
    let started = Instant::now();
    client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let codes: Vec<_> = sim.calls().iter().map(|c| (c.path.as_str().to_owned(), c.errcode)).collect();
    assert_eq!(
        codes[codes.len() - 3..],
        [
            ("/cgi-bin/kf/sync_msg".to_owned(), Some(40014)),
            ("/cgi-bin/gettoken".to_owned(), Some(0)),
            ("/cgi-bin/kf/sync_msg".to_owned(), Some(0)),
        ]
    );
}

#[test]
fn customers_can_be_scripted_from_a_plain_thread() {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let sim = rt
        .block_on(
            Sim::builder()
                .callback("http://127.0.0.1:9/none", "tok", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
                .callback_attempts(1)
                .start(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let handle = sim.clone();
    std::thread::spawn(move || handle.customer(KF, USER).say("from a thread"))
        .join()
        .unwrap_or_else(|_| panic!("thread"));
    let pushed = rt.block_on(sim.wait_for_callbacks(1, Duration::from_secs(5)));
    assert_eq!(pushed.len(), 1);
    assert!(!pushed[0].delivered);
}

#[tokio::test]
async fn servicer_side_events() {
    let (sim, client) = start().await;
    let customer = sim.customer(KF, USER);
    customer.say("hi");
    let sent = client.message().send_msg(SendMsgRequest::text(USER, KF, "bot here")).await.unwrap();
    assert!(sim.fail_delivery(&sent.msgid, 10));
    assert!(!sim.fail_delivery("never-sent", 10));

    let take = sim.servicer_takes(KF, USER, "alice");
    assert_eq!(state(&client).await, 3);
    assert_eq!(errcode(client.message().send_msg(SendMsgRequest::text(USER, KF, "bot again")).await), 95018);
    client
        .message()
        .send_msg_on_event(SendMsgOnEventRequest::text(take, "alice will help you"))
        .await
        .unwrap();
    let close = sim.servicer_ends(KF, USER);
    client.message().send_msg_on_event(SendMsgOnEventRequest::text(close, "rate us")).await.unwrap();
    assert_eq!(state(&client).await, 4);
    sim.servicer_says(KF, USER, "alice", "one more thing");
    assert_eq!(state(&client).await, 3);

    let page = client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap();
    let kinds: Vec<String> = page
        .msg_list
        .iter()
        .map(|m| {
            m.event()
                .map(|e| e.event_type().to_owned())
                .unwrap_or_else(|| format!("{:?}", u32::from(m.origin)))
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "3",
            "msg_send_fail",
            "session_status_change",
            "session_status_change",
            "session_status_change",
            "5"
        ]
    );
    assert_eq!(page.msg_list[5].servicer_userid.as_deref(), Some("alice"));
}

#[tokio::test]
async fn absurd_clock_moves_do_not_panic() {
    let (sim, client) = start().await;
    sim.customer(KF, USER).say("hi");
    sim.advance(Duration::MAX);
    sim.advance(Duration::MAX);
    assert_eq!(errcode(client.message().send_msg(SendMsgRequest::text(USER, KF, "x")).await), 42001);
    // At the end of time every new token is born expired; the server still answers.
    assert_eq!(errcode(client.message().sync_msg(SyncMsgRequest::new(KF)).await), 42001);
}
