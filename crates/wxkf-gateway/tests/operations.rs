//! The operator's side of the gateway (issue 21), against the gateway binary and the simulator:
//! `/metrics` lists every metric of the runtime before any sample; a turn the webhook refuses is
//! a dead letter the API lists, that survives a restart, that a replay answers exactly once and
//! that a discard removes; the status page signs in by link or form, in Chinese or English.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use support::{API_TOKEN, Hook, World, text_answer, texts, webhook_backend};

const KF: &str = "wkOPS";
const WAIT: Duration = Duration::from_secs(15);

/// A webhook that refuses every turn with a 422 while `broken`, else answers "好的".
async fn switchable_hook() -> (Hook, Arc<AtomicBool>) {
    let broken = Arc::new(AtomicBool::new(true));
    let b = Arc::clone(&broken);
    let hook = Hook::start(move |_, _| {
        if b.load(Ordering::SeqCst) {
            (422, r#"{"error": "cannot handle this"}"#.to_owned(), Duration::ZERO)
        } else {
            (200, text_answer("好的", None), Duration::ZERO)
        }
    })
    .await;
    (hook, broken)
}

async fn call(method: reqwest::Method, url: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut r = reqwest::Client::new().request(method, url);
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null))
}

async fn dead_letters(url: &str) -> Vec<Value> {
    let (status, list) = call(reqwest::Method::GET, &format!("{url}/v1/dead-letters"), Some(API_TOKEN)).await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_lists_every_runtime_metric_with_help_and_type_before_any_sample() {
    let world = World::new("ops-metrics", &[KF]).await;
    let (hook, _) = switchable_hook().await;
    let config = world.config("gateway.toml", "", &webhook_backend(&hook.url, 5));
    let gw = world.gateway(&config).await;
    let (status, text) = gw.get("/metrics").await;
    assert_eq!(status, 200);
    let names = [
        "wxkf_callbacks_total",
        "wxkf_messages_pulled_total",
        "wxkf_messages_handled_total",
        "wxkf_handler_seconds",
        "wxkf_pull_seconds",
        "wxkf_lanes_active",
        "wxkf_handlers_running",
        "wxkf_in_flight",
        "wxkf_replies_total",
        "wxkf_api_errors_total",
        "wxkf_token_fetches_total",
        "wxkf_cursor_lag_seconds",
        "wxkf_dead_letters",
    ];
    for name in names {
        assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP line:\n{text}");
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no TYPE line:\n{text}");
    }
    assert!(text.contains("# TYPE wxkf_handler_seconds histogram"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_turn_is_a_dead_letter_that_survives_a_restart_and_a_replay_answers_once() {
    let world = World::new("ops-dead-letters", &[KF]).await;
    let (hook, broken) = switchable_hook().await;
    let config = world.config("gateway.toml", "", &webhook_backend(&hook.url, 5));
    let mut gw = world.gateway(&config).await;
    let alice = world.sim.customer(KF, "wmALICEOPS");
    let msgid = alice.say("我的订单呢？");
    hook.wait_for(1, WAIT).await;
    let url = gw.url.clone();
    // the API wants the token
    let (status, _) = call(reqwest::Method::GET, &format!("{url}/v1/dead-letters"), None).await;
    assert_eq!(status, 401);
    let (status, _) = call(reqwest::Method::GET, &format!("{url}/v1/dead-letters"), Some("wrong")).await;
    assert_eq!(status, 401);
    let mut list = Vec::new();
    for _ in 0..100 {
        list = dead_letters(&url).await;
        if !list.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(list.len(), 1, "{list:?}");
    let dead = &list[0];
    let id = dead["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dl_"));
    assert_eq!(dead["open_kfid"], KF);
    assert_eq!(dead["external_userid"], "wmALICEOPS");
    assert_eq!(dead["msgids"], serde_json::json!([msgid]));
    assert_eq!(dead["reason"], "permanent");
    assert_eq!(dead["attempts"], 1);
    assert!(dead["error"].as_str().unwrap().contains("422"), "{dead}");
    assert!(dead["at"].as_u64().unwrap() > 0);
    assert!(dead.get("messages").is_none(), "the API does not show the kept messages");
    let (_, metrics) = gw.get("/metrics").await;
    assert!(metrics.contains(&format!("wxkf_dead_letters{{open_kfid=\"{KF}\"}} 1")), "{metrics}");
    assert!(!metrics.contains("wmALICEOPS"), "a customer id in the metrics");

    // a restart on the same data_dir still has it
    gw.stop().await;
    let gw = world.gateway(&config).await;
    let url = gw.url.clone();
    assert_eq!(dead_letters(&url).await, list, "unchanged across the restart");
    assert_eq!(hook.turns().len(), 1, "the restart did not deliver the turn again");

    // unknown ids
    let (status, _) =
        call(reqwest::Method::POST, &format!("{url}/v1/dead-letters/dl_nope/replay"), Some(API_TOKEN)).await;
    assert_eq!(status, 404);
    let (status, _) =
        call(reqwest::Method::DELETE, &format!("{url}/v1/dead-letters/dl_nope"), Some(API_TOKEN)).await;
    assert_eq!(status, 404);
    // still refused: 502, kept with one more attempt
    let replay = format!("{url}/v1/dead-letters/{id}/replay");
    let (status, body) = call(reqwest::Method::POST, &replay, Some(API_TOKEN)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(dead_letters(&url).await[0]["attempts"], 2);
    // fixed: answered once, gone
    broken.store(false, Ordering::SeqCst);
    let (status, body) = call(reqwest::Method::POST, &replay, Some(API_TOKEN)).await;
    assert_eq!((status, body), (200, serde_json::json!({"replayed": true})));
    assert_eq!(texts(&alice.replies()), ["好的"]);
    assert!(dead_letters(&url).await.is_empty());
    let (status, _) = call(reqwest::Method::POST, &replay, Some(API_TOKEN)).await;
    assert_eq!(status, 404, "replayed once");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(texts(&alice.replies()), ["好的"], "exactly once");
    let (_, metrics) = gw.get("/metrics").await;
    assert!(metrics.contains(&format!("wxkf_dead_letters{{open_kfid=\"{KF}\"}} 0")), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discarded_dead_letter_is_gone_and_the_status_page_signs_in_and_speaks_chinese() {
    let world = World::new("ops-status", &[KF]).await;
    let (hook, _) = switchable_hook().await;
    let config = world.config("gateway.toml", "", &webhook_backend(&hook.url, 5));
    let gw = world.gateway(&config).await;
    world.sim.customer(KF, "wmBOBOPS1234").say("在吗");
    hook.wait_for(1, WAIT).await;
    let url = gw.url.clone();
    let mut list = Vec::new();
    for _ in 0..100 {
        list = dead_letters(&url).await;
        if !list.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let id = list[0]["id"].as_str().unwrap().to_owned();

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // no cookie: the login form, 401
    let r = http.get(format!("{url}/status")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("name=\"token\""));
    // a wrong token link: 401, no cookie
    let r = http.get(format!("{url}/status?token=wrong")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    // the right link: a cookie (not the token itself) and a redirect without the token
    let r = http.get(format!("{url}/status?token={API_TOKEN}")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/status");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(API_TOKEN));
    let cookie = cookie.split(';').next().unwrap().to_owned();
    // the login form gives the same cookie
    let r = http
        .post(format!("{url}/status/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={API_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap(), cookie);

    let page = |lang: &'static str| {
        let (http, url, cookie) = (http.clone(), url.clone(), cookie.clone());
        async move {
            let r = http
                .get(format!("{url}/status"))
                .header("cookie", cookie)
                .header("accept-language", lang)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.text().await.unwrap()
        }
    };
    let en = page("en-US,en;q=0.9").await;
    assert!(en.contains("Dead letters") && en.contains("Replay") && en.contains(&id), "{en}");
    assert!(en.contains(&format!("data-account=\"{KF}\"")), "{en}");
    assert!(en.contains("name=\"viewport\""));
    assert!(!en.contains("wmBOBOPS1234"), "the page shortens customer ids");
    let zh = page("zh-CN,zh;q=0.9").await;
    assert!(zh.contains("死信") && zh.contains("重放") && zh.contains("lang=\"zh-CN\""), "{zh}");

    // the cookie alone does not change anything: the page's header is needed too (CSRF)
    let r =
        http.delete(format!("{url}/v1/dead-letters/{id}")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = http
        .delete(format!("{url}/v1/dead-letters/{id}"))
        .header("cookie", &cookie)
        .header("x-wxkf-status", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(dead_letters(&url).await.is_empty());
    let (status, _) =
        call(reqwest::Method::DELETE, &format!("{url}/v1/dead-letters/{id}"), Some(API_TOKEN)).await;
    assert_eq!(status, 404);
    assert!(page("en").await.contains("No dead letters."));
}
