//! The simulator behaves like WeCom where it matters (issue 12): callback retries, the tokenless
//! `sync_msg` budget, short and empty pages, answers lost after the work, the session clock,
//! auto-assignment, servicer status and hand-over, and WeCom's content checks. One test per rule,
//! through the real `wxkf_client::Client` (raw HTTP with the client's token where the client itself
//! refuses the request before sending it) or the real bot runtime.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::{client_builder, client_for, errcode};
use wxkf_client::{Client, Error, RetryPolicy};
use wxkf_sim::{
    ExpiredSendAnswer, Fault, FaultRule, LostAnswer, ServicerStatus, SessionClock, Sim, SimBuilder,
    SimHandle, SyncPaging, TokenlessSyncLimit,
};
use wxkf_types::customer::CustomerBatchGetRequest;
use wxkf_types::errcode::{DUPLICATE_MSGID, is_duplicate_msgid};
use wxkf_types::media::MediaType;
use wxkf_types::message::{Event, MessageContent, SendMsgOnEventRequest, SendMsgRequest, SyncMsgRequest};
use wxkf_types::service_state::{ServiceStateGetRequest, ServiceStateTransRequest};
use wxkf_types::servicer::ServicerListRequest;

const KF: &str = "wkFID";
const USER: &str = "wmFID";
const TOKEN: &str = "fidtoken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

async fn start_with(builder: SimBuilder) -> (SimHandle, Client) {
    let sim = builder.account(KF, "Fidelity").start().await.unwrap_or_else(|e| panic!("start: {e}"));
    let client = client_for(&sim, RetryPolicy::none());
    (sim, client)
}

/// A raw JSON POST with the client's access token, for requests the client refuses to send.
async fn raw_post(sim: &SimHandle, client: &Client, path: &str, body: Value) -> Value {
    let token = client.access_token().await.unwrap_or_else(|e| panic!("{e}"));
    let url = format!("{}{path}?access_token={}", sim.base_url(), token.expose_secret());
    let resp = reqwest::Client::new().post(url).json(&body).send().await.unwrap_or_else(|e| panic!("{e}"));
    resp.json().await.unwrap_or_else(|e| panic!("{e}"))
}

async fn state(client: &Client) -> (u32, Option<String>) {
    let r = client.service_state().get(ServiceStateGetRequest::new(KF, USER)).await.unwrap();
    (u32::from(r.service_state), r.servicer_userid.filter(|s| !s.is_empty()))
}

fn text(content: &str) -> SendMsgRequest {
    SendMsgRequest::text(USER, KF, content)
}

// ---- callbacks ---------------------------------------------------------------------------------

/// A callback receiver that answers every POST with `status` and counts them.
async fn receiver(status: u16) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/cb"), hits)
}

#[tokio::test]
async fn a_callback_answered_with_an_http_error_is_not_retried() {
    let (url, hits) = receiver(503).await;
    let sim = Sim::builder().callback(url, TOKEN, AES_KEY).start().await.unwrap();
    sim.customer(KF, USER).say("hello");
    let done = sim.wait_for_callbacks(1, Duration::from_secs(5)).await;
    assert_eq!((done[0].attempts, done[0].delivered, done[0].status), (1, false, Some(503)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "WeCom does not deliver a 503-answered callback again");
}

#[tokio::test]
async fn retry_on_status_restores_retries_after_an_http_error() {
    let (url, hits) = receiver(503).await;
    let sim = Sim::builder().callback(url, TOKEN, AES_KEY).retry_on_status(true).start().await.unwrap();
    sim.customer(KF, USER).say("hello");
    let done = sim.wait_for_callbacks(1, Duration::from_secs(5)).await;
    assert_eq!((done[0].attempts, done[0].delivered, done[0].status), (3, false, Some(503)));
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_connection_failure_is_retried_three_times_in_all() {
    // a port nobody listens on: every attempt fails to connect
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", closed.local_addr().unwrap());
    drop(closed);
    let sim = Sim::builder().callback(url, TOKEN, AES_KEY).start().await.unwrap();
    sim.customer(KF, USER).say("hello");
    let done = sim.wait_for_callbacks(1, Duration::from_secs(5)).await;
    assert_eq!((done[0].attempts, done[0].delivered, done[0].status), (3, false, None));
}

#[tokio::test]
async fn a_receiver_that_drops_the_connection_is_retried() {
    // accepts, reads the request, closes without a word
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await;
            drop(stream);
        }
    });
    let sim = Sim::builder().callback(url, TOKEN, AES_KEY).start().await.unwrap();
    sim.customer(KF, USER).say("hello");
    let done = sim.wait_for_callbacks(1, Duration::from_secs(5)).await;
    assert_eq!((done[0].attempts, done[0].delivered, done[0].status), (3, false, None));
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

// ---- sync_msg ----------------------------------------------------------------------------------

#[tokio::test]
async fn sync_msg_without_a_token_has_a_per_account_budget() {
    let (sim, client) = start_with(Sim::builder().tokenless_sync_limit(3, Duration::from_secs(60))).await;
    sim.add_account("wkOTHER", "Other");
    sim.customer(KF, USER).say("hi");
    for _ in 0..3 {
        client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(errcode(client.message().sync_msg(SyncMsgRequest::new(KF)).await), 45009);
    // refused calls do not count, and the budget is per account
    assert_eq!(errcode(client.message().sync_msg(SyncMsgRequest::new(KF)).await), 45009);
    client.message().sync_msg(SyncMsgRequest::new("wkOTHER")).await.unwrap_or_else(|e| panic!("{e}"));
    // the window slides over the simulated clock
    sim.advance(Duration::from_secs(60));
    client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn refused_tokenless_calls_do_not_count() {
    let (sim, client) = start_with(Sim::builder().tokenless_sync_limit(1, Duration::from_secs(60))).await;
    client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("{e}"));
    sim.advance(Duration::from_secs(30));
    assert_eq!(errcode(client.message().sync_msg(SyncMsgRequest::new(KF)).await), 45009);
    // 60 s after the first call: had the refused one at 30 s counted, this would be refused too
    sim.advance(Duration::from_secs(30));
    client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_pull_with_the_callback_token_is_not_counted() {
    // the callback goes nowhere, but its token is issued and recorded
    let builder = Sim::builder()
        .tokenless_sync_limit(1, Duration::from_secs(60))
        .callback("http://127.0.0.1:9/none", TOKEN, AES_KEY)
        .callback_attempts(1);
    let (sim, client) = start_with(builder).await;
    sim.customer(KF, USER).say("hi");
    let token = sim.wait_for_callbacks(1, Duration::from_secs(5)).await[0].token.clone();
    client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(errcode(client.message().sync_msg(SyncMsgRequest::new(KF)).await), 45009);
    for _ in 0..5 {
        let req = SyncMsgRequest::new(KF).with_token(token.clone());
        client.message().sync_msg(req).await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test]
async fn the_default_tokenless_budget_is_ten_calls_a_minute() {
    let default = TokenlessSyncLimit::default();
    assert_eq!((default.calls, default.per), (10, Duration::from_secs(60)));
    let (sim, client) = start_with(Sim::builder()).await;
    for n in 0..10 {
        client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("call {n}: {e}"));
    }
    assert_eq!(errcode(client.message().sync_msg(SyncMsgRequest::new(KF)).await), 45009);
    sim.advance(Duration::from_secs(59));
    assert_eq!(errcode(client.message().sync_msg(SyncMsgRequest::new(KF)).await), 45009);
    sim.advance(Duration::from_secs(1));
    assert!(client.message().sync_msg(SyncMsgRequest::new(KF)).await.is_ok());

    let (_sim, unlimited) = start_with(Sim::builder().no_tokenless_sync_limit()).await;
    for _ in 0..30 {
        unlimited.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Drains `KF` page by page; returns each page's size and the texts in order.
async fn drain(client: &Client) -> (Vec<usize>, Vec<bool>, Vec<String>) {
    let (mut sizes, mut more, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let mut req = SyncMsgRequest::new(KF).with_limit(1000);
        if let Some(c) = &cursor {
            req = req.with_cursor(c.clone());
        }
        let page = client.message().sync_msg(req).await.unwrap_or_else(|e| panic!("{e}"));
        sizes.push(page.msg_list.len());
        more.push(page.has_more);
        texts.extend(page.msg_list.iter().filter_map(|m| match &m.content {
            MessageContent::Text(t) => Some(t.content.clone()),
            _ => None,
        }));
        assert_ne!(cursor.as_deref(), Some(page.next_cursor.as_str()), "the cursor moves on every page");
        cursor = Some(page.next_cursor);
        if !page.has_more {
            break;
        }
    }
    (sizes, more, texts)
}

#[tokio::test]
async fn pages_can_be_short_or_empty_with_has_more() {
    let all: Vec<String> = (0..5).map(|n| format!("m{n}")).collect();
    let (sim, client) =
        start_with(Sim::builder().no_tokenless_sync_limit().sync_paging(SyncPaging::Short(2))).await;
    let customer = sim.customer(KF, USER);
    for t in &all {
        customer.say(t);
    }
    let (sizes, more, texts) = drain(&client).await;
    assert_eq!(sizes, [2, 2, 1], "limit 1000, but short pages");
    assert_eq!(more, [true, true, false]);
    assert_eq!(texts, all);

    let (sim, client) =
        start_with(Sim::builder().no_tokenless_sync_limit().sync_paging(SyncPaging::EmptyThenShort(2))).await;
    let customer = sim.customer(KF, USER);
    for t in &all {
        customer.say(t);
    }
    let (sizes, more, texts) = drain(&client).await;
    assert_eq!(sizes, [0, 2, 0, 2, 0, 1], "an empty msg_list with has_more=1 before each page");
    assert_eq!(more, [true, true, true, true, true, false]);
    assert_eq!(texts, all);

    let (sim, client) = start_with(Sim::builder().no_tokenless_sync_limit()).await;
    let customer = sim.customer(KF, USER);
    for t in &all {
        customer.say(t);
    }
    assert_eq!(drain(&client).await.0, [5], "full pages by default");
}

// ---- answers lost after the work ----------------------------------------------------------------

#[tokio::test]
async fn a_send_whose_answer_is_lost_is_stored_once_and_its_retry_meets_the_duplicate_msgid() {
    let losses =
        [LostAnswer::Reset, LostAnswer::HttpStatus(502), LostAnswer::Timeout(Duration::from_millis(1500))];
    for lost in losses {
        let (sim, _) = start_with(Sim::builder()).await;
        let client = client_builder(&sim)
            .timeout(Duration::from_millis(500))
            .retry_policy(
                RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
            )
            .build()
            .unwrap();
        sim.customer(KF, USER).say("hello");
        sim.inject(FaultRule::new(Fault::AfterHandle(lost.clone())).path("/cgi-bin/kf/send_msg").nth(1));
        let result = client.message().send_msg(text("the answer").with_msgid("lost-1")).await;

        // the simulator's side: stored and delivered exactly once; the retry was refused as a
        // duplicate msgid, with an errmsg that says so
        let sent: Vec<_> = sim
            .sent()
            .into_iter()
            .map(|s| {
                let text = s.text().map(str::to_owned);
                (s.msgid, text)
            })
            .collect();
        assert_eq!(sent, [("lost-1".to_owned(), Some("the answer".to_owned()))], "{lost:?}");
        let calls: Vec<_> = sim
            .calls()
            .into_iter()
            .filter(|c| c.path == "/cgi-bin/kf/send_msg")
            .map(|c| (c.errcode, c.answer_lost))
            .collect();
        assert_eq!(calls, [(Some(0), true), (Some(DUPLICATE_MSGID), false)], "{lost:?}");
        // The client's side: the retry's duplicate-msgid answer means the first attempt went
        // through, so the send is reported as sent, with the msgid the caller chose.
        match result {
            Ok(sent) => assert_eq!(sent.msgid, "lost-1"),
            Err(e) => panic!("{lost:?}: a send that went through was reported as failed: {e}"),
        }
        sim.shutdown();
    }
}

#[tokio::test]
async fn a_lost_answer_does_not_undo_a_transfer() {
    let (sim, _) = start_with(Sim::builder()).await;
    sim.add_servicer(KF, "alice");
    sim.customer(KF, USER).say("a human please");
    sim.inject(
        FaultRule::new(Fault::AfterHandle(LostAnswer::HttpStatus(502)))
            .path("/cgi-bin/kf/service_state/trans"),
    );
    let client = client_for(&sim, RetryPolicy::none());
    let lost = client.service_state().trans(ServiceStateTransRequest::to_servicer(KF, USER, "alice")).await;
    assert!(matches!(lost, Err(Error::Http { status: 502 })), "{lost:?}");
    sim.clear_faults();
    assert_eq!(state(&client).await, (3, Some("alice".to_owned())));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bot_answers_once_when_its_sends_answer_is_lost() {
    use wxkf_axum::bot::{Bot, HandlerError, ReplyContext, handler_fn};

    let sim =
        Sim::builder().account(KF, "bot").callback_timeout(Duration::from_secs(2)).start().await.unwrap();
    let client = client_for(
        &sim,
        RetryPolicy::default().with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
    );
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    let handler = handler_fn(move |ctx: ReplyContext, msg: wxkf_types::message::Message| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            if let MessageContent::Text(t) = &msg.content {
                ctx.reply_text(&format!("echo: {}", t.content)).await?;
            }
            Ok::<(), HandlerError>(())
        }
    });
    let running = support::serve_with(&sim, client, |client| {
        Bot::builder(client, handler).memory_store().build().expect("valid bot config")
    })
    .await;
    let bot = running.bot.clone();

    sim.inject(FaultRule::new(Fault::AfterHandle(LostAnswer::Reset)).path("/cgi-bin/kf/send_msg").nth(1));
    let alice = sim.customer(KF, "wmALICE");
    alice.say("hello");
    alice.wait_for_replies(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    bot.idle().await;
    let texts: Vec<_> = alice.replies().iter().filter_map(|s| s.text().map(str::to_owned)).collect();
    assert_eq!(texts, ["echo: hello"], "the customer gets the answer exactly once");
    let lost = sim.calls().iter().filter(|c| c.answer_lost).count();
    assert_eq!(lost, 1);
    // the client's retry met the duplicate msgid, read it as "already sent", and the handler
    // succeeded: it ran once, and nothing was tried again
    let refused = sim
        .calls()
        .iter()
        .filter(|c| c.path == "/cgi-bin/kf/send_msg" && c.errcode == Some(DUPLICATE_MSGID))
        .count();
    assert_eq!(refused, 1, "the client's retry met the duplicate msgid once");
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1, "the handler ran once");
    running.stop().await;
    sim.shutdown();
}

// ---- sessions ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_session_lasts_48_hours_from_its_first_message() {
    let (sim, client) = start_with(Sim::builder()).await;
    let customer = sim.customer(KF, USER);
    customer.say("first");
    sim.advance(Duration::from_secs(47 * 3600));
    customer.say("still here");
    sim.advance(Duration::from_secs(2 * 3600));
    // 49 h after the first message the session has ended, though the last came 2 h ago
    assert_eq!(state(&client).await.0, 4);
    assert_eq!(errcode(client.message().send_msg(text("late")).await), 95018);
    customer.say("a new session");
    assert_eq!(state(&client).await.0, 0);
    client.message().send_msg(text("welcome back")).await.unwrap_or_else(|e| panic!("{e}"));

    let (sim, client) = start_with(Sim::builder().session_clock(SessionClock::FromLastMessage)).await;
    let customer = sim.customer(KF, USER);
    customer.say("first");
    sim.advance(Duration::from_secs(47 * 3600));
    customer.say("still here");
    sim.advance(Duration::from_secs(2 * 3600));
    assert_eq!(state(&client).await.0, 0, "counted from the last message, the session lives on");
    client.message().send_msg(text("on time")).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_closed_send_window_answers_95002_or_95018_by_switch() {
    let (sim, client) = start_with(Sim::builder()).await;
    sim.customer(KF, USER).say("hi");
    sim.advance(Duration::from_secs(48 * 3600 + 1));
    assert_eq!(errcode(client.message().send_msg(text("late")).await), 95002);

    let (sim, client) =
        start_with(Sim::builder().expired_send_answer(ExpiredSendAnswer::SessionStatus)).await;
    sim.customer(KF, USER).say("hi");
    sim.advance(Duration::from_secs(48 * 3600 + 1));
    let late = client.message().send_msg(text("late")).await;
    assert!(
        matches!(&late, Err(Error::Api { errcode: 95018, errmsg, .. }) if errmsg.starts_with("send msg session status invalid")),
        "{late:?}"
    );
}

#[tokio::test]
async fn new_sessions_go_to_receiving_servicers_when_auto_assigned() {
    let (sim, client) = start_with(Sim::builder()).await;
    sim.add_servicer(KF, "alice");
    sim.customer(KF, USER).say("hi");
    assert_eq!(state(&client).await, (0, None), "by default a new session waits in state 0");

    let (sim, client) = start_with(Sim::builder().auto_assign(true)).await;
    for servicer in ["alice", "bob", "carol"] {
        sim.add_servicer(KF, servicer);
    }
    assert!(sim.set_servicer_status(KF, "bob", ServicerStatus::Stopped));
    sim.customer(KF, USER).say("hi");
    assert_eq!(state(&client).await, (3, Some("alice".to_owned())));
    assert_eq!(errcode(client.message().send_msg(text("bot")).await), 95018);
    // round robin over the receiving servicers only
    let assigned = ["wmA2", "wmA3", "wmA4"];
    for user in assigned {
        sim.customer(KF, user).say("hi");
    }
    let mut servicers = Vec::new();
    for user in assigned {
        let got = client.service_state().get(ServiceStateGetRequest::new(KF, user)).await.unwrap();
        servicers.push(got.servicer_userid.unwrap_or_default());
    }
    assert_eq!(servicers, ["carol", "alice", "carol"]);
    // no event announces an automatic assignment
    let page = client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap();
    assert!(!page.msg_list.iter().any(|m| matches!(m.event(), Some(Event::SessionStatusChange(_)))));

    // without a receiving servicer the new session waits in state 0
    let (sim, client) = start_with(Sim::builder().auto_assign(true)).await;
    sim.add_servicer(KF, "alice");
    sim.set_servicer_status(KF, "alice", ServicerStatus::Stopped);
    sim.customer(KF, USER).say("hi");
    assert_eq!(state(&client).await, (0, None));
}

#[tokio::test]
async fn a_servicer_who_is_not_receiving_cannot_be_given_a_session() {
    let (sim, client) = start_with(Sim::builder()).await;
    sim.add_servicer(KF, "alice");
    sim.customer(KF, USER).say("a human please");
    assert!(sim.set_servicer_status(KF, "alice", ServicerStatus::Suspended));
    assert!(!sim.set_servicer_status(KF, "alice", ServicerStatus::Suspended), "no change, no event");
    let to_alice = || ServiceStateTransRequest::to_servicer(KF, USER, "alice");
    assert_eq!(errcode(client.service_state().trans(to_alice()).await), 95019);
    let list = client.servicer().list(ServicerListRequest::new(KF)).await.unwrap();
    let alice = &list.servicer_list[0];
    assert_eq!((alice.status.map(u32::from), alice.stop_type.map(u32::from)), (Some(1), Some(1)));

    assert!(sim.set_servicer_status(KF, "alice", ServicerStatus::Receiving));
    client.service_state().trans(to_alice()).await.unwrap_or_else(|e| panic!("{e}"));
    let list = client.servicer().list(ServicerListRequest::new(KF)).await.unwrap();
    assert_eq!(list.servicer_list[0].status.map(u32::from), Some(0));

    // the events, in the event numbering (1 receiving, 2 stopped)
    let page = client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap();
    let changes: Vec<_> = page
        .msg_list
        .iter()
        .filter_map(|m| match m.event() {
            Some(Event::ServicerStatusChange(e)) => {
                Some((e.servicer_userid.clone(), u32::from(e.status), e.stop_type.map(u32::from)))
            }
            _ => None,
        })
        .collect();
    assert_eq!(changes, [("alice".to_owned(), 2, Some(1)), ("alice".to_owned(), 1, None)]);
}

#[tokio::test]
async fn take_over_transfer_and_hand_back() {
    let (sim, client) = start_with(Sim::builder()).await;
    let customer = sim.customer(KF, USER);
    customer.say("hi");
    client.message().send_msg(text("bot here")).await.unwrap();
    assert_eq!(state(&client).await, (1, None));

    // take-over from the bot: change_type 1 with a 48 h code; the bot may no longer send
    let code = sim.servicer_takes(KF, USER, "alice");
    assert_eq!(state(&client).await, (3, Some("alice".to_owned())));
    assert_eq!(errcode(client.message().send_msg(text("bot again")).await), 95018);
    client
        .message()
        .send_msg_on_event(SendMsgOnEventRequest::text(code.clone(), "alice is here"))
        .await
        .unwrap();

    // transfer: change_type 2, old and new servicer, no code
    assert!(sim.servicer_transfers(KF, USER, "bob"));
    assert_eq!(state(&client).await, (3, Some("bob".to_owned())));
    assert_eq!(sim.servicer_takes(KF, USER, "carol"), "", "taking a held session is a transfer");
    assert_eq!(sim.servicer_takes(KF, USER, "carol"), "", "taking one's own session does nothing");

    // hand-back: the servicer ends the session; the customer's next message is the bot's again
    let closing = sim.servicer_ends(KF, USER);
    assert_eq!(state(&client).await, (4, None));
    assert!(!sim.servicer_transfers(KF, USER, "bob"), "nothing to transfer in an ended session");
    assert_eq!(errcode(client.message().send_msg(text("bot")).await), 95018);
    client.message().send_msg_on_event(SendMsgOnEventRequest::text(closing, "bye")).await.unwrap();
    customer.say("one more question");
    assert_eq!(state(&client).await, (0, None));
    client.message().send_msg(text("the bot again")).await.unwrap_or_else(|e| panic!("{e}"));

    let page = client.message().sync_msg(SyncMsgRequest::new(KF)).await.unwrap();
    let changes: Vec<_> = page
        .msg_list
        .iter()
        .filter_map(|m| match m.event() {
            Some(Event::SessionStatusChange(e)) => Some((
                u32::from(e.change_type),
                e.old_servicer_userid.clone(),
                e.new_servicer_userid.clone(),
                e.msg_code.is_some(),
            )),
            _ => None,
        })
        .collect();
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        changes,
        [
            (1, None, s("alice"), true),
            (2, s("alice"), s("bob"), false),
            (2, s("bob"), s("carol"), false),
            (3, s("carol"), None, true),
        ]
    );
}

#[tokio::test]
async fn a_servicer_rejoining_an_ended_session_starts_a_new_one() {
    let (sim, client) = start_with(Sim::builder()).await;
    sim.customer(KF, USER).say("hi");
    sim.advance(Duration::from_secs(47 * 3600));
    sim.servicer_takes(KF, USER, "alice");
    sim.servicer_ends(KF, USER);
    sim.servicer_says(KF, USER, "alice", "one more thing");
    assert_eq!(state(&client).await, (3, Some("alice".to_owned())));
    // 49 h after the customer's message, 2 h after the re-join: the re-joined session lives on
    sim.advance(Duration::from_secs(2 * 3600));
    assert_eq!(state(&client).await, (3, Some("alice".to_owned())));
    sim.advance(Duration::from_secs(46 * 3600));
    assert_eq!(state(&client).await, (4, None));
}

// ---- validation --------------------------------------------------------------------------------

#[tokio::test]
async fn send_msg_checks_the_content_as_wecom_does() {
    let (sim, client) = start_with(Sim::builder()).await;
    sim.customer(KF, USER).say("hi");
    let send = |payload: Value| {
        let mut body = json!({"touser": USER, "open_kfid": KF});
        if let (Value::Object(b), Value::Object(p)) = (&mut body, payload) {
            b.extend(p);
        }
        body
    };
    let code = |v: Value| v["errcode"].as_i64();
    let post = |body: Value| raw_post(&sim, &client, "/cgi-bin/kf/send_msg", body);
    assert_eq!(code(post(send(json!({"msgtype": "sticker", "sticker": {"id": "1"}}))).await), Some(40008));
    assert_eq!(code(post(send(json!({"msgtype": "text", "text": {"content": ""}}))).await), Some(44004));
    let long = "长".repeat(683); // 2049 bytes
    assert_eq!(code(post(send(json!({"msgtype": "text", "text": {"content": long}}))).await), Some(45002));
    let fits = "x".repeat(2048);
    assert_eq!(code(post(send(json!({"msgtype": "text", "text": {"content": fits}}))).await), Some(0));
    let item = json!({"type": "click", "click": {"id": "1", "content": "yes"}});
    let menu = |items: Vec<Value>| send(json!({"msgtype": "msgmenu", "msgmenu": {"list": items}}));
    assert_eq!(code(post(menu(vec![item.clone(); 11])).await), Some(95008));
    let bogus = json!({"type": "bogus", "bogus": {"content": "?"}});
    assert_eq!(code(post(menu(vec![item.clone(), bogus])).await), Some(95009));
    assert_eq!(code(post(menu(vec![item; 10])).await), Some(0));
    let empty_id = post(send(json!({"msgid": "", "msgtype": "text", "text": {"content": "x"}}))).await;
    assert_eq!(code(empty_id.clone()), Some(40058));
    let errmsg = empty_id["errmsg"].as_str().unwrap_or_default();
    assert!(!is_duplicate_msgid(40058, errmsg), "an empty msgid is not a duplicate: {errmsg}");
    assert_eq!(sim.sent().len(), 2, "only the two valid sends were stored");

    // the same checks on send_msg_on_event
    let welcome = sim.customer(KF, "wmNEW").enter().unwrap_or_default();
    let on_event = json!({"code": welcome, "msgtype": "text", "text": {"content": ""}});
    assert_eq!(code(raw_post(&sim, &client, "/cgi-bin/kf/send_msg_on_event", on_event).await), Some(44004));
}

/// A raw multipart upload with `disposition` as the part's Content-Disposition.
async fn raw_upload(sim: &SimHandle, client: &Client, kind: &str, disposition: &str, len: usize) -> Value {
    let token = client.access_token().await.unwrap();
    let url =
        format!("{}/cgi-bin/media/upload?access_token={}&type={kind}", sim.base_url(), token.expose_secret());
    let mut body = format!(
        "--XBOUNDARY\r\nContent-Disposition: form-data; name=\"media\"; {disposition}\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(7u8, len));
    body.extend_from_slice(b"\r\n--XBOUNDARY--\r\n");
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "multipart/form-data; boundary=XBOUNDARY")
        .body(body)
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

#[tokio::test]
async fn media_upload_checks_the_format_of_each_type() {
    let (sim, client) = start_with(Sim::builder()).await;
    let code = |v: Value| v["errcode"].as_i64();
    for (kind, name, want) in [
        ("image", "a.gif", 40004),
        ("image", "noext", 40004),
        ("voice", "a.mp3", 40004),
        ("video", "a.avi", 40004),
        ("image", "a.PNG", 0),
        ("image", "a.jpeg", 0),
        ("voice", "a.amr", 0),
        ("video", "a.mp4", 0),
        ("file", "a.gif", 0),
    ] {
        let got = raw_upload(&sim, &client, kind, &format!("filename=\"{name}\""), 64).await;
        assert_eq!(code(got), Some(want), "{kind} {name}");
    }
}

#[tokio::test]
async fn a_non_ascii_file_name_survives_upload_and_download() {
    let (sim, client) = start_with(Sim::builder()).await;
    // RFC 5987 form on upload
    let up = raw_upload(&sim, &client, "file", "filename*=utf-8''%E5%AE%A2%E6%9C%8D.txt", 64).await;
    let media_id = up["media_id"].as_str().unwrap_or_else(|| panic!("{up}"));
    let got = client.media().get(media_id).await.unwrap();
    assert_eq!(got.meta.filename.as_deref(), Some("客服.txt"));
    let raw = reqwest::get(format!(
        "{}/cgi-bin/media/get?access_token={}&media_id={media_id}",
        sim.base_url(),
        client.access_token().await.unwrap().expose_secret()
    ))
    .await
    .unwrap();
    let disposition =
        raw.headers().get("content-disposition").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(disposition.contains("filename*=utf-8''%E5%AE%A2%E6%9C%8D.txt"), "{disposition}");

    // raw UTF-8 `filename="..."`, as the client sends it
    let up = client.media().upload(MediaType::File, "客服手册.pdf", vec![1u8; 64]).await.unwrap();
    let got = client.media().get(&up.media_id).await.unwrap();
    assert_eq!(got.meta.filename.as_deref(), Some("客服手册.pdf"));
}

#[tokio::test]
async fn batchget_resolves_only_customers_active_within_48_hours() {
    for any in [false, true] {
        let (sim, client) = start_with(Sim::builder().batchget_any_customer(any)).await;
        sim.customer(KF, "wmACTIVE").say("hi");
        sim.customer(KF, "wmQUIET").say("hi");
        sim.advance(Duration::from_secs(47 * 3600));
        sim.customer(KF, "wmACTIVE").enter();
        sim.advance(Duration::from_secs(2 * 3600));
        let got =
            client.customer().batchget(CustomerBatchGetRequest::new(["wmACTIVE", "wmQUIET"])).await.unwrap();
        let found: Vec<_> = got.customer_list.iter().map(|c| c.external_userid.as_str()).collect();
        if any {
            assert_eq!(found, ["wmACTIVE", "wmQUIET"]);
            assert!(got.invalid_external_userid.is_empty());
        } else {
            assert_eq!(found, ["wmACTIVE"]);
            assert_eq!(got.invalid_external_userid, ["wmQUIET"]);
        }
    }
}
