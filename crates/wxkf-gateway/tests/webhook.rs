//! The webhook protocol against the simulator, with the gateway binary as its own process:
//! signed deliveries and synchronous replies, 202 + `POST /v1/replies` (401, 404, 409),
//! retries with one delivery id, 4xx dead letters, and the hand-off to people.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use support::{
    API_TOKEN, HOOK_SECRET, Hook, World, text_answer, texts, webhook_backend, webhook_backend_with,
};

const KF: &str = "wkHOOK";
const WAIT: Duration = Duration::from_secs(15);

fn conversation(extra: &str) -> String {
    format!("[conversation]\nturn_quiet_ms = 300\nwelcome_text = \"您好，欢迎光临\"\n{extra}\n")
}

/// A turn reaches the webhook signed (the test checks the HMAC itself) with the protocol's
/// fields, its synchronous reply reaches the customer, the enter_session event is delivered
/// too, and /healthz, /readyz and /metrics answer (no customer id in the metrics).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_delivery_gets_its_synchronous_reply_to_the_customer() {
    let world = World::new("sync", &[KF]).await;
    let hook = Hook::start(|_, body| {
        let said: Vec<String> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect();
        (200, text_answer(&format!("收到：{}", said.join("/")), None), Duration::ZERO)
    })
    .await;
    let config =
        world.config("gateway.toml", "", &format!("{}{}", conversation(""), webhook_backend(&hook.url, 5)));
    let mut gw = world.gateway(&config).await;

    let alice = world.sim.customer(KF, "wmALICE");
    alice.enter();
    let welcome = alice.wait_for_replies(1, WAIT).await;
    assert_eq!(texts(&welcome), ["您好，欢迎光临"]);
    let event = hook.wait_for(1, WAIT).await;
    assert_eq!(event[0].json["kind"], "event");
    assert_eq!(event[0].json["event"]["event_type"], "enter_session");
    assert!(event[0].signed_with(HOOK_SECRET));

    // two quick lines: one turn
    alice.say("你好");
    let second = alice.say("我想退货");
    let replies = alice.wait_for_replies(2, WAIT).await;
    assert_eq!(texts(&replies)[1], "收到：你好/我想退货");
    let turns = hook.turns();
    assert_eq!(turns.len(), 1, "one turn, one delivery");
    let d = &turns[0];
    assert!(d.signed_with(HOOK_SECRET), "the signature verifies: {d:?}");
    assert!(!d.signed_with("another secret"));
    assert_eq!(d.json["id"], d.delivery.as_str());
    assert!(d.delivery.starts_with("dlv_"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(d.timestamp.parse::<u64>().unwrap()) < 60);
    assert_eq!(d.json["open_kfid"], KF);
    assert_eq!(d.json["external_userid"], "wmALICE");
    let msgs = d.json["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["msgid"], second.as_str());
    assert_eq!(msgs[1]["msgtype"], "text");
    assert_eq!(msgs[1]["text"], "我想退货");
    assert!(msgs[1]["send_time"].as_u64().unwrap() > 0);
    assert_eq!(msgs[1]["raw"]["text"]["content"], "我想退货");

    assert_eq!(gw.get("/healthz").await.0, 200);
    assert_eq!(gw.get("/readyz").await, (200, "ready".to_owned()));
    let (status, metrics) = gw.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("# TYPE wxkf_gateway_deliveries_total counter"), "{metrics}");
    assert!(
        metrics.contains(r#"wxkf_gateway_deliveries_total{backend="hook",kind="turn",outcome="ok"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("wxkf_gateway_backend_seconds_count{backend=\"hook\"} 2"), "{metrics}");
    assert!(!metrics.contains("wmALICE"), "no customer id in the metrics");
    assert!(gw.stop().await.success());
    // secrets never reach the log
    for secret in [HOOK_SECRET, API_TOKEN, &world.key, &world.sim.secret()] {
        assert!(!gw.logged(&[secret]), "a secret is in the log");
    }
}

/// A 202, then `POST /v1/replies`: a wrong bearer gets 401, an unknown id 404, the right one
/// 200 with what was sent, and the customer gets the reply; the same id again is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_202_and_a_later_v1_replies_reach_the_customer_and_a_wrong_bearer_gets_401() {
    let world = World::new("async", &[KF]).await;
    let hook = Hook::start(|_, _| (202, String::new(), Duration::ZERO)).await;
    let config =
        world.config("gateway.toml", "", &format!("{}{}", conversation(""), webhook_backend(&hook.url, 5)));
    let gw = world.gateway(&config).await;

    let alice = world.sim.customer(KF, "wmALICE");
    alice.say("帮我查一下订单");
    let d = hook.wait_for_turns(1, WAIT).await;
    assert_eq!(d.len(), 1);
    let id = d[0].delivery.clone();
    assert_eq!(d[0].reply_to, format!("{}/v1/replies", gw.url), "the instance that waits for the replies");
    let body = json!({"id": id, "replies": [{"type": "text", "text": "订单已发货"}, {"type": "text", "text": "明天到"}], "action": null});

    let (status, _) = gw.post_replies("wrong-token", &body).await;
    assert_eq!(status, 401);
    let r = reqwest::Client::new()
        .post(format!("{}/v1/replies", gw.url))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "no bearer at all");
    let (status, _) = gw.post_replies(API_TOKEN, &json!({"id": "dlv_unknown", "replies": []})).await;
    assert_eq!(status, 404);
    let (status, _) = gw.post_replies(API_TOKEN, &json!({"replies": []})).await;
    assert_eq!(status, 400, "a body without id");
    assert!(alice.replies().is_empty(), "nothing was sent for the refused requests");

    let (status, answer) = gw.post_replies(API_TOKEN, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"sent": 2, "cut": false}));
    assert_eq!(texts(&alice.wait_for_replies(2, WAIT).await), ["订单已发货", "明天到"]);
    let (status, _) = gw.post_replies(API_TOKEN, &body).await;
    assert_eq!(status, 404, "the delivery was answered");
}

/// A 202, then a servicer takes the session: `/v1/replies` gets 409 and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_replies_once_a_servicer_holds_the_session_gets_409() {
    let world = World::new("conflict", &[KF]).await;
    world.sim.add_servicer(KF, "zhangsan");
    let hook = Hook::start(|_, _| (202, String::new(), Duration::ZERO)).await;
    let config =
        world.config("gateway.toml", "", &format!("{}{}", conversation(""), webhook_backend(&hook.url, 5)));
    let gw = world.gateway(&config).await;
    let alice = world.sim.customer(KF, "wmALICE");
    alice.say("在吗");
    let id = hook.wait_for_turns(1, WAIT).await[0].delivery.clone();
    world.sim.servicer_takes(KF, "wmALICE", "zhangsan");
    // the gateway learns it from the session_status_change it pulls
    let mut status = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (s, _) = gw
            .post_replies(API_TOKEN, &json!({"id": id, "replies": [{"type": "text", "text": "晚了"}]}))
            .await;
        status = s;
        if s != 200 {
            break;
        }
    }
    assert_eq!(status, 409);
    assert!(alice.replies().is_empty());
    assert!(!world.sim.calls().iter().any(|c| c.errcode == Some(95018)), "WeCom refused nothing");
}

/// 500, 500, then 200: the customer gets one answer, and all three deliveries had the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_failing_twice_then_answering_gives_one_answer_and_three_deliveries_with_one_id() {
    let world = World::new("retry", &[KF]).await;
    let hook = Hook::start(|n, _| match n {
        0 | 1 => (500, "{}".to_owned(), Duration::ZERO),
        _ => (200, text_answer("第三次成功", None), Duration::ZERO),
    })
    .await;
    let config =
        world.config("gateway.toml", "", &format!("{}{}", conversation(""), webhook_backend(&hook.url, 5)));
    let gw = world.gateway(&config).await;
    let alice = world.sim.customer(KF, "wmALICE");
    alice.say("你好");
    assert_eq!(texts(&alice.wait_for_replies(1, WAIT).await), ["第三次成功"]);
    // time for a fourth delivery or a second answer, if there were one
    tokio::time::sleep(Duration::from_secs(3)).await;
    let d = hook.deliveries();
    assert_eq!(d.len(), 3, "{d:#?}");
    assert!(d.iter().all(|x| x.delivery == d[0].delivery && x.json["id"] == d[0].delivery.as_str()));
    assert!(d.iter().all(|x| x.signed_with(HOOK_SECRET)));
    assert_eq!(alice.replies().len(), 1);
    let (_, metrics) = gw.get("/metrics").await;
    assert!(
        metrics.contains(r#"wxkf_gateway_deliveries_total{backend="hook",kind="turn",outcome="retried"} 2"#),
        "{metrics}"
    );
}

/// A 4xx is not retried: one delivery, nothing sent, the turn dead-lettered with the status in
/// the reason; the next turn is delivered normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_is_not_retried_and_the_turn_is_dead_lettered_with_its_status() {
    let world = World::new("reject", &[KF]).await;
    let hook = Hook::start(|n, _| match n {
        0 => (422, r#"{"error": "cannot handle this"}"#.to_owned(), Duration::ZERO),
        _ => (200, text_answer("这次可以", None), Duration::ZERO),
    })
    .await;
    let config =
        world.config("gateway.toml", "", &format!("{}{}", conversation(""), webhook_backend(&hook.url, 5)));
    let gw = world.gateway(&config).await;
    let alice = world.sim.customer(KF, "wmALICE");
    alice.say("第一个");
    hook.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.deliveries().len(), 1, "a 4xx is not retried");
    assert!(alice.replies().is_empty());
    assert!(
        gw.logged(&["dead-lettered", "HTTP 422", "cannot handle this"]),
        "{:#?}",
        gw.lines.lock().unwrap()
    );
    let (_, metrics) = gw.get("/metrics").await;
    assert!(metrics.contains(r#"outcome="dead_letter"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"outcome="rejected"} 1"#), "{metrics}");
    alice.say("第二个");
    assert_eq!(texts(&alice.wait_for_replies(1, WAIT).await), ["这次可以"]);
}

/// `"action": "hand_off"` moves the session to the pool (with the notice): the next customer
/// message is not delivered; after the servicer hands it back, messages are delivered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_off_moves_the_session_to_the_pool_and_the_next_message_is_not_delivered() {
    let world = World::new("handoff", &[KF]).await;
    world.sim.add_servicer(KF, "zhangsan");
    let hook = Hook::start(|n, _| match n {
        0 => (200, text_answer("好的，为您转人工", Some("hand_off")), Duration::ZERO),
        _ => (200, text_answer("机器人又回来了", None), Duration::ZERO),
    })
    .await;
    let config = world.config(
        "gateway.toml",
        "",
        &format!(
            "{}{}",
            conversation("hand_off_text = \"已为您转接人工客服\""),
            webhook_backend(&hook.url, 5)
        ),
    );
    let _gw = world.gateway(&config).await;
    let alice = world.sim.customer(KF, "wmALICE");
    alice.say("我要投诉");
    let replies = alice.wait_for_replies(2, WAIT).await;
    assert_eq!(texts(&replies), ["好的，为您转人工", "已为您转接人工客服"]);
    assert!(replies[1].code.is_some(), "the notice went with the hand-off's code, outside the budget");
    let state = wxkf_client::Client::builder(world.sim.corp_id(), world.sim.secret())
        .base_url(world.sim.base_url())
        .build()
        .unwrap()
        .service_state()
        .get(wxkf_types::service_state::ServiceStateGetRequest::new(KF, "wmALICE"))
        .await
        .unwrap();
    assert_eq!(u32::from(state.service_state), 2, "in the waiting pool");

    alice.say("人呢？");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.turns().len(), 1, "a message while people have the session is not delivered");
    assert_eq!(alice.replies().len(), 2);

    world.sim.servicer_takes(KF, "wmALICE", "zhangsan");
    world.sim.servicer_ends(KF, "wmALICE");
    tokio::time::sleep(Duration::from_millis(500)).await;
    alice.say("再问一个问题");
    let turns = hook.wait_for_turns(2, WAIT).await;
    assert_eq!(turns.len(), 2, "after the hand-back the turn is delivered again");
    assert_eq!(turns[1].texts(), ["再问一个问题"]);
    assert_eq!(texts(&alice.wait_for_replies(3, WAIT).await)[2], "机器人又回来了");
}

/// A hand-off keyword sends the session to the pool without reaching the backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_off_keyword_goes_to_the_pool_without_a_delivery() {
    let world = World::new("keyword", &[KF]).await;
    let calls = Arc::new(Mutex::new(0));
    let hook = {
        let calls = Arc::clone(&calls);
        Hook::start(move |_, _| {
            *calls.lock().unwrap() += 1;
            (200, text_answer("不该出现", None), Duration::ZERO)
        })
        .await
    };
    let config = world.config(
        "gateway.toml",
        "",
        &format!(
            "{}{}",
            conversation("hand_off_keywords = [\"转人工\", \"人工客服\"]"),
            webhook_backend(&hook.url, 5)
        ),
    );
    let _gw = world.gateway(&config).await;
    let alice = world.sim.customer(KF, "wmALICE");
    alice.say("转人工");
    let replies = alice.wait_for_replies(1, WAIT).await;
    assert_eq!(texts(&replies), ["已为您转接人工客服，请稍候。"]);
    assert!(replies[0].code.is_some());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(hook.turns().is_empty());
}

/// While a turn waits for `/v1/replies`, the placeholder goes out after `placeholder_after_s`,
/// and the late reply follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_waiting_for_v1_replies_gets_the_placeholder_first() {
    let world = World::new("placeholder", &[KF]).await;
    let hook = Hook::start(|_, _| (202, String::new(), Duration::ZERO)).await;
    let config = world.config(
        "gateway.toml",
        "",
        &format!(
            "[conversation]\nturn_quiet_ms = 200\nplaceholder_after_s = 1\nplaceholder_text = \"请稍候\"\n{}",
            webhook_backend(&hook.url, 5)
        ),
    );
    let gw = world.gateway(&config).await;
    let alice = world.sim.customer(KF, "wmALICE");
    alice.say("查物流");
    let id = hook.wait_for_turns(1, WAIT).await[0].delivery.clone();
    assert_eq!(texts(&alice.wait_for_replies(1, WAIT).await), ["请稍候"]);
    let (status, answer) =
        gw.post_replies(API_TOKEN, &json!({"id": id, "replies": [{"type": "text", "text": "在路上"}]})).await;
    assert_eq!((status, answer), (200, json!({"sent": 1, "cut": false})));
    assert_eq!(texts(&alice.wait_for_replies(2, WAIT).await), ["请稍候", "在路上"]);
}

/// A 202 without `/v1/replies` within `reply_timeout_s` dead-letters the turn, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_202_without_v1_replies_in_time_is_dead_lettered() {
    let world = World::new("noreply", &[KF]).await;
    let hook = Hook::start(|_, _| (202, String::new(), Duration::ZERO)).await;
    let config = world.config(
        "gateway.toml",
        "",
        &format!("{}{}", conversation(""), webhook_backend_with(&hook.url, 5, 1)),
    );
    let gw = world.gateway(&config).await;
    let alice = world.sim.customer(KF, "wmALICE");
    alice.say("有人吗");
    hook.wait_for_turns(1, WAIT).await;
    let started = std::time::Instant::now();
    while !gw.logged(&["dead-lettered", "sent no POST /v1/replies within 1 s"]) {
        assert!(started.elapsed() < WAIT, "not dead-lettered: {:#?}", gw.lines.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hook.deliveries().len(), 1, "not delivered again");
    assert!(alice.replies().is_empty());
}

/// `/readyz` is 503 while `gettoken` fails (a wrong app secret), and `/healthz` still 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_gettoken_fails() {
    let world = World::new("readyz", &[KF]).await;
    let hook = Hook::start(|_, _| (200, "{}".to_owned(), Duration::ZERO)).await;
    let config =
        world.config("gateway.toml", "", &format!("{}{}", conversation(""), webhook_backend(&hook.url, 5)));
    let mut env = world.env();
    for (k, v) in &mut env {
        if k == "T_WXKF_SECRET" {
            *v = "a-wrong-secret".to_owned();
        }
    }
    let gw = support::GatewayProcess::start(&config, &env).await;
    assert_eq!(gw.get("/healthz").await, (200, "ok".to_owned()));
    assert_eq!(gw.get("/readyz").await, (503, "not ready".to_owned()));
    assert!(gw.logged(&["not ready", "gettoken"]));
}
