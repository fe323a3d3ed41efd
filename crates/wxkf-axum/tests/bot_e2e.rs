//! End to end: a signed callback on the route → the bot pulls `sync_msg` from a mocked Kf API
//! (wiremock) → the handler answers → the replies are observed on the mock.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use wxkf_axum::{CallbackConfig, bot_router};
use wxkf_bot::{
    Bot, BotConfig, CursorStore, FileCursorStore, Handler, HandlerError, MemoryCursorStore, ReplyContext,
};
use wxkf_client::{Client, RetryPolicy};
use wxkf_crypto::CallbackCrypto;
use wxkf_types::message::{Event, Message, MessageContent};

const CORP_ID: &str = "wwe2ecorp";
const KFID: &str = "wkE2E";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn crypto() -> CallbackCrypto {
    CallbackCrypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", CORP_ID).unwrap()
}

/// `sync_msg` pages by request cursor ("" for none); counts the calls.
#[derive(Clone, Default)]
struct Pages {
    pages: Arc<Mutex<HashMap<String, Value>>>,
    calls: Arc<AtomicUsize>,
    delay: Duration,
}

impl Pages {
    fn set(&self, cursor: &str, next: &str, has_more: bool, msgs: Vec<Value>) {
        self.pages.lock().unwrap().insert(
            cursor.to_owned(),
            json!({"errcode": 0, "errmsg": "ok", "next_cursor": next, "has_more": u8::from(has_more), "msg_list": msgs}),
        );
    }
}

impl Respond for Pages {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let cursor = body["cursor"].as_str().unwrap_or("").to_owned();
        assert_eq!(body["open_kfid"], KFID);
        // callback pulls carry the callback's token; the start-up pull has none
        if !body["token"].is_null() {
            assert_eq!(body["token"], "SYNCTOKEN");
        }
        let page = self.pages.lock().unwrap().get(&cursor).cloned().unwrap_or_else(
            || json!({"errcode": 0, "errmsg": "ok", "next_cursor": cursor, "has_more": 0, "msg_list": []}),
        );
        ResponseTemplate::new(200).set_body_json(page).set_delay(self.delay)
    }
}

fn text(msgid: &str, content: &str) -> Value {
    json!({"msgid": msgid, "open_kfid": KFID, "external_userid": "wmCUST", "send_time": now(), "origin": 3,
           "msgtype": "text", "text": {"content": content}})
}

fn servicer(msgid: &str, content: &str) -> Value {
    json!({"msgid": msgid, "open_kfid": KFID, "external_userid": "wmCUST", "send_time": now(), "origin": 5,
           "servicer_userid": "zhangsan", "msgtype": "text", "text": {"content": content}})
}

fn enter_session(msgid: &str) -> Value {
    json!({"msgid": msgid, "send_time": now(), "origin": 4, "msgtype": "event",
           "event": {"event_type": "enter_session", "open_kfid": KFID, "external_userid": "wmNEW",
                     "scene": "s", "scene_param": "", "welcome_code": "WELCOME1"}})
}

/// `gettoken` answering the token `AT`, and `kf/account/list` (the runtime's start-up pull asks
/// it) answering no accounts.
async fn mount_gettoken(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/cgi-bin/gettoken"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"errcode": 0, "errmsg": "ok", "access_token": "AT", "expires_in": 7200}),
            ),
        )
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/kf/account/list"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"errcode": 0, "errmsg": "ok", "account_list": []})),
        )
        .mount(server)
        .await;
}

async fn mock_api(pages: &Pages) -> MockServer {
    let server = MockServer::start().await;
    mount_gettoken(&server).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/kf/sync_msg"))
        .respond_with(pages.clone())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/media/upload"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 0, "errmsg": "ok", "type": "image", "media_id": "MEDIA1", "created_at": "1380000000"}),
        ))
        .mount(&server)
        .await;
    for p in ["/cgi-bin/kf/send_msg", "/cgi-bin/kf/send_msg_on_event"] {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"errcode": 0, "errmsg": "ok", "msgid": "sent"})),
            )
            .mount(&server)
            .await;
    }
    Mock::given(any())
        .respond_with(ResponseTemplate::new(418))
        .with_priority(u8::MAX)
        .named("catch-all: a request no test expected")
        .expect(0)
        .mount(&server)
        .await;
    server
}

fn client(server: &MockServer) -> Client {
    // a secret unique to the server, so tests never share a token cache entry
    Client::builder(CORP_ID, format!("SECRET-{}", server.address().port()))
        .base_url(server.uri())
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[derive(Clone, Default)]
struct Recorder {
    customer: Arc<Mutex<Vec<String>>>,
    servicer: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Handler for Recorder {
    async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
        self.customer.lock().unwrap().push(msg.msgid.clone());
        if let MessageContent::Text(t) = &msg.content {
            if t.content == "long" {
                ctx.reply_text(&"中".repeat(1667)).await?;
            } else if t.content == "pic" {
                ctx.reply_image("cat.png", vec![0x89u8; 64]).await?;
            } else {
                ctx.reply_text(&format!("echo: {}", t.content)).await?;
            }
        }
        Ok(())
    }

    async fn on_event(&self, ctx: &ReplyContext, _msg: &Message, event: &Event) -> Result<(), HandlerError> {
        if let Event::EnterSession(_) = event {
            ctx.send_welcome_text("welcome").await?;
        }
        Ok(())
    }

    async fn on_servicer_message(&self, msg: &Message) -> Result<(), HandlerError> {
        self.servicer.lock().unwrap().push(msg.msgid.clone());
        Ok(())
    }
}

fn bot(server: &MockServer, handler: Recorder, store: Arc<dyn CursorStore>) -> Bot {
    Bot::builder(client(server), handler)
        .cursor_store(store)
        .config(BotConfig::default().with_retries(1, Duration::from_millis(1)))
        .memory_store()
        .build()
        .expect("valid bot config")
}

fn app(bot: &Bot) -> Router {
    bot_router(CallbackConfig::new(crypto()), bot.clone())
}

async fn callback(app: &Router) {
    callback_for(app, KFID).await;
}

async fn callback_for(app: &Router, kfid: &str) {
    let resp = app.clone().oneshot(callback_request(kfid)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), 100).await.unwrap();
    assert_eq!(&body[..], b"success");
}

/// The signed POST of a `kf_msg_or_event` for `kfid`.
fn callback_request(kfid: &str) -> HttpRequest<Body> {
    let c = crypto();
    let plain = format!(
        "<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[SYNCTOKEN]]></Token><OpenKfId><![CDATA[{kfid}]]></OpenKfId></xml>",
        now()
    );
    let encrypt = c.encrypt(plain.as_bytes()).unwrap();
    let ts = now().to_string();
    let sig = c.sign(&ts, "n1", &encrypt).to_hex();
    HttpRequest::post(format!("/wxkf/callback?msg_signature={sig}&timestamp={ts}&nonce=n1"))
        .body(Body::from(format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")))
        .unwrap()
}

async fn sent_texts(server: &MockServer) -> Vec<(String, String)> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/cgi-bin/kf/send_msg")
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            (v["touser"].as_str().unwrap().to_owned(), v["text"]["content"].as_str().unwrap().to_owned())
        })
        .collect()
}

async fn welcomes(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/cgi-bin/kf/send_msg_on_event")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn two_pages(pages: &Pages) {
    pages.set(
        "",
        "c1",
        true,
        vec![text("m1", "hello"), enter_session("e1"), servicer("s1", "I am a servicer")],
    );
    pages.set("c1", "c2", true, vec![]); // an empty page that still has more
    pages.set("c2", "c3", false, vec![text("m2", "world")]);
}

#[tokio::test]
async fn one_callback_pulls_every_page_and_answers_each_message_once() {
    let pages = Pages::default();
    two_pages(&pages);
    let server = mock_api(&pages).await;
    let rec = Recorder::default();
    let store = Arc::new(MemoryCursorStore::default());
    let bot = bot(&server, rec.clone(), store.clone());
    callback(&app(&bot)).await;
    bot.idle().await;
    assert_eq!(*rec.customer.lock().unwrap(), ["m1", "m2"]);
    assert_eq!(*rec.servicer.lock().unwrap(), ["s1"], "servicer words go to their own hook");
    assert_eq!(
        sent_texts(&server).await,
        [("wmCUST".to_owned(), "echo: hello".to_owned()), ("wmCUST".to_owned(), "echo: world".to_owned())],
        "the servicer's words are never echoed"
    );
    let w = welcomes(&server).await;
    assert_eq!(w.len(), 1);
    assert_eq!(
        (w[0]["code"].as_str(), w[0]["text"]["content"].as_str()),
        (Some("WELCOME1"), Some("welcome"))
    );
    assert_eq!(pages.calls.load(Ordering::SeqCst), 3, "three pages, the empty one included");
    assert_eq!(store.load(KFID).await.unwrap().as_deref(), Some("c3"));
    bot.shutdown().await;
}

#[tokio::test]
async fn the_same_callback_three_times_answers_each_message_once() {
    let pages = Pages::default();
    two_pages(&pages);
    let server = mock_api(&pages).await;
    let rec = Recorder::default();
    let bot = bot(&server, rec.clone(), Arc::new(MemoryCursorStore::default()));
    let app = app(&bot);
    // twice at once, then once more after the first pull finished
    tokio::join!(callback(&app), callback(&app));
    bot.idle().await;
    callback(&app).await;
    bot.idle().await;
    assert_eq!(*rec.customer.lock().unwrap(), ["m1", "m2"]);
    assert_eq!(sent_texts(&server).await.len(), 2);
    assert_eq!(welcomes(&server).await.len(), 1);
}

#[tokio::test]
async fn a_burst_of_callbacks_is_coalesced_into_one_more_pull() {
    let pages = Pages { delay: Duration::from_millis(300), ..Pages::default() };
    pages.set("", "c1", false, vec![text("m1", "hi")]);
    let server = mock_api(&pages).await;
    let rec = Recorder::default();
    let bot = bot(&server, rec.clone(), Arc::new(MemoryCursorStore::default()));
    let app = app(&bot);
    tokio::join!(callback(&app), callback(&app), callback(&app), callback(&app), callback(&app));
    bot.idle().await;
    let calls = pages.calls.load(Ordering::SeqCst);
    assert!((1..=2).contains(&calls), "5 callbacks at once gave {calls} pulls");
    assert_eq!(*rec.customer.lock().unwrap(), ["m1"]);
}

#[tokio::test]
async fn restart_with_the_file_store_neither_repeats_nor_skips() {
    let dir = std::env::temp_dir().join(format!("wxkf-axum-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cursors.json");
    let _ = std::fs::remove_file(&file);
    let pages = Pages::default();
    two_pages(&pages);
    let server = mock_api(&pages).await;

    let first = Recorder::default();
    let bot1 = bot(&server, first.clone(), Arc::new(FileCursorStore::new(&file)));
    callback(&app(&bot1)).await;
    bot1.shutdown().await;
    assert_eq!(*first.customer.lock().unwrap(), ["m1", "m2"]);

    // while the bot was down, a new message arrived after c3
    pages.set("c3", "c4", false, vec![text("m3", "again")]);
    let second = Recorder::default();
    let bot2 = bot(&server, second.clone(), Arc::new(FileCursorStore::new(&file)));
    callback(&app(&bot2)).await;
    bot2.shutdown().await;
    assert_eq!(*second.customer.lock().unwrap(), ["m3"], "nothing re-answered, nothing skipped");
    let texts: Vec<String> = sent_texts(&server).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["echo: hello", "echo: world", "echo: again"]);
    assert_eq!(FileCursorStore::new(&file).load(KFID).await.unwrap().as_deref(), Some("c4"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_5000_byte_chinese_reply_is_three_messages_split_on_characters_in_order() {
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "long")]);
    let server = mock_api(&pages).await;
    let bot = bot(&server, Recorder::default(), Arc::new(MemoryCursorStore::default()));
    callback(&app(&bot)).await;
    bot.idle().await;
    let parts: Vec<String> = sent_texts(&server).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.len() <= 2048 && p.chars().all(|c| c == '中')));
    assert_eq!(parts.iter().map(String::len).collect::<Vec<_>>(), [2046, 2046, 909]);
    assert_eq!(parts.concat(), "中".repeat(1667));
}

#[tokio::test]
async fn history_before_the_first_start_is_skipped_but_the_waking_message_is_answered() {
    let pages = Pages::default();
    let mut old = text("old", "from last week");
    old["send_time"] = json!(now() - 7 * 24 * 3600);
    pages.set("", "c1", false, vec![old, text("m1", "now")]);
    let server = mock_api(&pages).await;
    let rec = Recorder::default();
    let bot = bot(&server, rec.clone(), Arc::new(MemoryCursorStore::default()));
    callback(&app(&bot)).await;
    bot.idle().await;
    assert_eq!(*rec.customer.lock().unwrap(), ["m1"]);
}

/// Fails (or panics) on texts that say so; counts attempts and dead letters.
#[derive(Clone, Default)]
struct Flaky {
    attempts: Arc<Mutex<Vec<String>>>,
    dead: Arc<Mutex<Vec<String>>>,
    // why each dead letter was given up on, and its whole cause chain
    reasons: Arc<Mutex<Vec<(wxkf_bot::DeadLetterReason, String)>>>,
    refusals: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Handler for Flaky {
    async fn on_customer_message(&self, ctx: &ReplyContext, msg: &Message) -> Result<(), HandlerError> {
        self.attempts.lock().unwrap().push(msg.msgid.clone());
        let MessageContent::Text(t) = &msg.content else { return Ok(()) };
        match t.content.as_str() {
            "fail" => Err("always fails".into()),
            "panic" => panic!("handler bug"),
            "doomed" => {
                ctx.reply_text("doomed reply").await?;
                Ok(())
            }
            "slow" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            }
            "six" => {
                for i in 0..6 {
                    if let Err(e) = ctx.reply_text(&format!("reply {i}")).await {
                        self.refusals.lock().unwrap().push(e.to_string());
                    }
                }
                assert_eq!(ctx.budget().await?.remaining, 0);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    async fn on_dead_letter(&self, msg: &Message, error: &HandlerError) {
        self.dead.lock().unwrap().push(msg.msgid.clone());
        let dead = error.downcast_ref::<wxkf_bot::DeadLetter>().expect("dead letters are DeadLetter");
        let mut chain = error.to_string();
        let mut next = std::error::Error::source(&**error);
        while let Some(e) = next {
            chain.push_str(&format!(": {e}"));
            next = e.source();
        }
        self.reasons.lock().unwrap().push((dead.reason, chain));
    }
}

#[tokio::test]
async fn a_failing_handler_is_retried_then_dead_lettered_and_the_cursor_moves_on() {
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "fail"), text("m2", "panic"), text("m3", "ok")]);
    let server = mock_api(&pages).await;
    let flaky = Flaky::default();
    let store = Arc::new(MemoryCursorStore::default());
    let bot = Bot::builder(client(&server), flaky.clone())
        .cursor_store(store.clone())
        .config(BotConfig::default().with_retries(2, Duration::from_millis(1)))
        .memory_store()
        .build()
        .expect("valid bot config");
    callback(&app(&bot)).await;
    bot.idle().await;
    assert_eq!(*flaky.attempts.lock().unwrap(), ["m1", "m1", "m1", "m2", "m2", "m2", "m3"]);
    assert_eq!(*flaky.dead.lock().unwrap(), ["m1", "m2"]);
    assert_eq!(store.load(KFID).await.unwrap().as_deref(), Some("c1"));
    // the open_kfid is not stalled by the panic: the next callback pulls again
    pages.set("c1", "c2", false, vec![text("m4", "ok")]);
    callback(&app(&bot)).await;
    bot.idle().await;
    assert_eq!(flaky.attempts.lock().unwrap().last().map(String::as_str), Some("m4"));
}

#[tokio::test]
async fn a_sixth_reply_is_refused_locally_without_calling_the_api() {
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "six")]);
    let server = mock_api(&pages).await;
    let flaky = Flaky::default();
    let bot = bot_with(&server, flaky.clone());
    callback(&app(&bot)).await;
    bot.idle().await;
    assert_eq!(sent_texts(&server).await.len(), 5);
    let refusals = flaky.refusals.lock().unwrap();
    assert_eq!(refusals.len(), 1);
    assert!(refusals[0].contains("allows 0 more message"), "{}", refusals[0]);
    assert!(flaky.dead.lock().unwrap().is_empty());
}

fn bot_with(server: &MockServer, handler: impl Handler) -> Bot {
    Bot::builder(client(server), handler)
        .cursor_store(MemoryCursorStore::default())
        .config(BotConfig::default().with_retries(0, Duration::from_millis(1)))
        .memory_store()
        .build()
        .expect("valid bot config")
}

#[tokio::test]
async fn a_crash_before_the_cursor_is_saved_redelivers_and_dedupe_hides_it() {
    // the store refuses the first save, as if the process died right after the handler ran
    #[derive(Default)]
    struct FailOnce {
        inner: MemoryCursorStore,
        failed: AtomicUsize,
    }
    #[async_trait]
    impl CursorStore for FailOnce {
        async fn load(&self, k: &str) -> std::io::Result<Option<String>> {
            self.inner.load(k).await
        }
        async fn save(&self, k: &str, c: &str) -> std::io::Result<()> {
            if self.failed.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            self.inner.save(k, c).await
        }
    }
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "hello")]);
    let server = mock_api(&pages).await;
    let rec = Recorder::default();
    let store = Arc::new(FailOnce::default());
    let bot = bot(&server, rec.clone(), store.clone());
    callback(&app(&bot)).await;
    bot.idle().await;
    assert_eq!(store.load(KFID).await.unwrap(), None, "not saved");
    callback(&app(&bot)).await; // the page is pulled again from the old cursor
    bot.idle().await;
    assert_eq!(pages.calls.load(Ordering::SeqCst), 2);
    assert_eq!(*rec.customer.lock().unwrap(), ["m1"], "re-delivered, not re-answered");
    assert_eq!(sent_texts(&server).await.len(), 1);
    assert_eq!(store.load(KFID).await.unwrap().as_deref(), Some("c1"));
}

#[tokio::test]
async fn different_open_kfids_are_pulled_in_parallel() {
    let server = MockServer::start().await;
    mount_gettoken(&server).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/kf/sync_msg"))
        .respond_with(|req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let kfid = body["open_kfid"].as_str().unwrap().to_owned();
            let msg = json!({"msgid": format!("m-{kfid}"), "open_kfid": kfid, "external_userid": "wm", "send_time": now(),
                             "origin": 5, "msgtype": "text", "text": {"content": "x"}});
            ResponseTemplate::new(200)
                .set_body_json(json!({"errcode": 0, "errmsg": "ok", "next_cursor": "c1", "has_more": 0, "msg_list": [msg]}))
                .set_delay(Duration::from_millis(500))
        })
        .mount(&server)
        .await;
    let rec = Recorder::default();
    let bot = bot(&server, rec.clone(), Arc::new(MemoryCursorStore::default()));
    let app = app(&bot);
    let started = std::time::Instant::now();
    tokio::join!(callback_for(&app, "wkA"), callback_for(&app, "wkB"), callback_for(&app, "wkC"));
    bot.idle().await;
    let took = started.elapsed();
    let mut seen = rec.servicer.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["m-wkA", "m-wkB", "m-wkC"]);
    assert!(took < Duration::from_millis(1300), "three 500 ms pulls took {took:?}: not in parallel");
}

#[tokio::test]
async fn shutdown_finishes_the_running_pull_persists_its_cursor_and_takes_no_more() {
    let pages = Pages { delay: Duration::from_millis(300), ..Pages::default() };
    pages.set("", "c1", false, vec![text("m1", "hello")]);
    let server = mock_api(&pages).await;
    let rec = Recorder::default();
    let store = Arc::new(MemoryCursorStore::default());
    let bot = bot(&server, rec.clone(), store.clone());
    let app = app(&bot);
    callback(&app).await; // the pull is now waiting on the slow sync_msg
    bot.shutdown().await;
    assert_eq!(*rec.customer.lock().unwrap(), ["m1"], "in-flight work finished");
    assert_eq!(store.load(KFID).await.unwrap().as_deref(), Some("c1"), "cursor persisted");
    let event = wxkf_types::callback::CallbackEvent::parse(&format!(
        "<xml><Event>kf_msg_or_event</Event><Token>SYNCTOKEN</Token><OpenKfId>{KFID}</OpenKfId></xml>"
    ))
    .unwrap();
    assert_eq!(bot.dispatch(&event), wxkf_bot::Dispatch::ShuttingDown);
    // refused with 503 so WeCom delivers it again later; nothing is pulled
    let c = crypto();
    let encrypt = c.encrypt(b"<xml><Event>kf_msg_or_event</Event><Token>SYNCTOKEN</Token></xml>").unwrap();
    let sig = c.sign("1", "n", &encrypt).to_hex();
    let req = HttpRequest::post(format!("/wxkf/callback?msg_signature={sig}&timestamp=1&nonce=n"))
        .body(Body::from(format!("<xml><Encrypt>{encrypt}</Encrypt></xml>")))
        .unwrap();
    assert_eq!(app.clone().oneshot(req).await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(bot.is_shutting_down());
    bot.idle().await;
    assert_eq!(pages.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn dispatch_outside_a_runtime_does_not_panic() {
    let server_uri = "http://127.0.0.1:9"; // never contacted
    let client = Client::builder(CORP_ID, "SECRET-none").base_url(server_uri).build().unwrap();
    let bot = Bot::builder(client, Recorder::default())
        .cursor_store(MemoryCursorStore::default())
        .memory_store()
        .build()
        .expect("valid bot config");
    let event = wxkf_types::callback::CallbackEvent::parse(
        "<xml><Event>kf_msg_or_event</Event><Token>T</Token><OpenKfId>wk</OpenKfId></xml>",
    )
    .unwrap();
    assert_eq!(bot.dispatch(&event), wxkf_bot::Dispatch::Ignored);
}

#[tokio::test]
async fn an_image_reply_is_uploaded_then_sent() {
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "pic")]);
    let server = mock_api(&pages).await;
    let bot = bot(&server, Recorder::default(), Arc::new(MemoryCursorStore::default()));
    callback(&app(&bot)).await;
    bot.idle().await;
    let reqs = server.received_requests().await.unwrap();
    let paths: Vec<&str> = reqs
        .iter()
        .map(|r| r.url.path())
        .filter(|p| p.starts_with("/cgi-bin/kf/send") || p.starts_with("/cgi-bin/media"))
        .collect();
    assert_eq!(paths, ["/cgi-bin/media/upload", "/cgi-bin/kf/send_msg"]);
    let sent: Value =
        serde_json::from_slice(&reqs.iter().find(|r| r.url.path() == "/cgi-bin/kf/send_msg").unwrap().body)
            .unwrap();
    assert_eq!(
        (sent["msgtype"].as_str(), sent["image"]["media_id"].as_str()),
        (Some("image"), Some("MEDIA1"))
    );
    assert_eq!(sent["touser"], "wmCUST");
}

// ---- several instances: a coordinator shared by the runtimes (docs/scaling.md) ----

/// A coordinator whose store is down until `up` is set.
#[derive(Default)]
struct FlakyStore {
    up: std::sync::atomic::AtomicBool,
    store: wxkf_bot::MemoryCoordinator,
}

impl FlakyStore {
    fn check(&self) -> std::io::Result<()> {
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "store down"))
        }
    }
}

#[async_trait]
impl wxkf_bot::Coordinator for FlakyStore {
    async fn mark_pending(&self, k: &str, p: &wxkf_bot::PendingPull) -> std::io::Result<()> {
        self.check()?;
        self.store.mark_pending(k, p).await
    }
    async fn pending(&self, k: &str) -> std::io::Result<Option<wxkf_bot::PendingPull>> {
        self.check()?;
        self.store.pending(k).await
    }
    async fn clear_pending(&self, k: &str, p: &wxkf_bot::PendingPull) -> std::io::Result<bool> {
        self.check()?;
        self.store.clear_pending(k, p).await
    }
    async fn pending_accounts(&self) -> std::io::Result<Vec<String>> {
        self.check()?;
        self.store.pending_accounts().await
    }
    async fn try_lease(&self, k: &str, o: &str, ttl: Duration) -> std::io::Result<wxkf_bot::LeaseAttempt> {
        self.check()?;
        self.store.try_lease(k, o, ttl).await
    }
    async fn renew_lease(&self, k: &str, o: &str, ttl: Duration) -> std::io::Result<bool> {
        self.check()?;
        self.store.renew_lease(k, o, ttl).await
    }
    async fn release_lease(&self, k: &str, o: &str) -> std::io::Result<bool> {
        self.check()?;
        self.store.release_lease(k, o).await
    }
}

/// WeCom does not deliver a callback again after an HTTP error status, so a callback the shared
/// store cannot record is answered `success` and pulled by this instance once the store is back.
#[tokio::test]
async fn a_callback_that_cannot_be_recorded_is_pulled_by_this_instance_once_the_store_answers() {
    use wxkf_bot::Coordinator;
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "hello")]);
    let server = mock_api(&pages).await;
    let coordinator = Arc::new(FlakyStore::default());
    let recorder = Recorder::default();
    let bot = Bot::builder(client(&server), recorder.clone())
        .coordinator(coordinator.clone() as Arc<dyn Coordinator>)
        .memory_store()
        .config(BotConfig::default().with_pull_retry(Duration::from_millis(50), Duration::from_millis(200)))
        .build()
        .expect("valid bot config");
    let resp = app(&bot).oneshot(callback_request(KFID)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "an error status would lose the callback for good");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pages.calls.load(Ordering::SeqCst), 0, "pulled without the lease while the store was down");
    coordinator.up.store(true, Ordering::SeqCst);
    bot.idle().await;
    assert_eq!(*recorder.customer.lock().unwrap(), ["m1"]);
    assert_eq!(sent_texts(&server).await, [("wmCUST".to_owned(), "echo: hello".to_owned())]);
}

#[tokio::test]
async fn a_callback_while_another_instance_holds_the_lease_waits_for_it_and_takes_over_when_it_runs_out() {
    use wxkf_bot::{Coordinator, LeaseAttempt, MemoryCoordinator};
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "hello")]);
    let server = mock_api(&pages).await;
    let coordinator = Arc::new(MemoryCoordinator::default());
    // a dead instance's lease, 800 ms left
    let held = Duration::from_millis(800);
    assert_eq!(coordinator.try_lease(KFID, "dead", held).await.unwrap(), LeaseAttempt::Acquired);
    let started = std::time::Instant::now();
    let bot = Bot::builder(client(&server), Recorder::default())
        .cursor_store(MemoryCursorStore::default())
        .coordinator(coordinator.clone())
        .config(BotConfig::default().with_lease_ttl(Duration::from_secs(3)))
        .memory_store()
        .build()
        .expect("valid bot config");
    callback(&app(&bot)).await; // answered at once: the callback is recorded
    assert!(coordinator.pending(KFID).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(pages.calls.load(Ordering::SeqCst), 0, "pulled while another instance held the lease");
    bot.idle().await;
    assert!(started.elapsed() >= held, "took over after {:?}, before the lease ran out", started.elapsed());
    assert_eq!(sent_texts(&server).await, [("wmCUST".to_owned(), "echo: hello".to_owned())]);
    assert_eq!(coordinator.pending(KFID).await.unwrap(), None, "the mark is cleared");
    assert_eq!(coordinator.try_lease(KFID, "next", held).await.unwrap(), LeaseAttempt::Acquired, "released");
}

#[tokio::test]
async fn two_runtimes_sharing_a_coordinator_answer_each_message_once() {
    use wxkf_bot::{MemoryBudgets, MemoryCoordinator, MemoryDedupe};
    let pages = Pages { delay: Duration::from_millis(50), ..Pages::default() };
    pages.set("", "c1", true, vec![text("m1", "one"), text("m2", "two")]);
    pages.set("c1", "c2", false, vec![text("m3", "three")]);
    let server = mock_api(&pages).await;
    let coordinator: Arc<dyn wxkf_bot::Coordinator> = Arc::new(MemoryCoordinator::default());
    let cursors: Arc<dyn CursorStore> = Arc::new(MemoryCursorStore::default());
    let dedupe: Arc<dyn wxkf_bot::DedupeStore> = Arc::new(MemoryDedupe::new(Duration::from_secs(3600), 1000));
    let budgets: Arc<dyn wxkf_bot::BudgetStore> = Arc::new(MemoryBudgets::default());
    let instance = || {
        Bot::builder(client(&server), Recorder::default())
            .cursor_store(cursors.clone())
            .coordinator(coordinator.clone())
            .dedupe_store(dedupe.clone())
            .budget_store(budgets.clone())
            .build()
            .expect("valid bot config")
    };
    let (a, b) = (instance(), instance());
    assert_ne!(a.instance_id(), b.instance_id());
    let (app_a, app_b) = (app(&a), app(&b));
    // the same callback to both, several times, as WeCom's retries and a load balancer would
    for _ in 0..3 {
        tokio::join!(callback(&app_a), callback(&app_b));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.idle().await;
    b.idle().await;
    let mut sent: Vec<String> = sent_texts(&server).await.into_iter().map(|(_, t)| t).collect();
    sent.sort();
    assert_eq!(sent, ["echo: one", "echo: three", "echo: two"]);
    assert_eq!(coordinator.pending(KFID).await.unwrap(), None);
}

/// WeCom refusing a send with a code that cannot succeed on retry (95001: the customer's five
/// replies are spent, e.g. by sends outside the runtime) ends the message at once, with its
/// errcode in the dead letter. (95018 is the session leaving the bot: see the conversation tests.)
#[tokio::test]
async fn an_error_that_cannot_succeed_is_dead_lettered_at_once_with_its_errcode() {
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "doomed"), text("m2", "ok")]);
    let server = mock_api(&pages).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/kf/send_msg"))
        .and(wiremock::matchers::body_string_contains("doomed reply"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"errcode": 95001, "errmsg": "send msg count limit, hint: [1], from ip: 1.2.3.4"}),
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    let flaky = Flaky::default();
    let bot = Bot::builder(client(&server), flaky.clone())
        .config(BotConfig::default().with_retries(3, Duration::from_millis(1)))
        .memory_store()
        .build()
        .expect("valid bot config");
    callback(&app(&bot)).await;
    bot.idle().await;
    assert_eq!(*flaky.attempts.lock().unwrap(), ["m1", "m2"], "not retried");
    let reasons = flaky.reasons.lock().unwrap();
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].0, wxkf_bot::DeadLetterReason::Permanent);
    assert!(reasons[0].1.contains("95001"), "the errcode is in the chain: {}", reasons[0].1);
    assert!(!reasons[0].1.contains("1.2.3.4"), "WeCom's ip tail is not shown: {}", reasons[0].1);
}

/// A handler past `handler_timeout` is stopped, retried, then dead-lettered; the account goes on.
#[tokio::test]
async fn a_handler_past_its_timeout_is_stopped_retried_and_dead_lettered() {
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "slow"), text("m2", "ok")]);
    let server = mock_api(&pages).await;
    let flaky = Flaky::default();
    let bot = Bot::builder(client(&server), flaky.clone())
        .config(
            BotConfig::default()
                .with_retries(1, Duration::from_millis(1))
                .with_handler_timeout(Duration::from_millis(200)),
        )
        .memory_store()
        .build()
        .expect("valid bot config");
    let started = std::time::Instant::now();
    callback(&app(&bot)).await;
    bot.idle().await;
    assert!(started.elapsed() < Duration::from_secs(10), "the 30 s handler was not stopped");
    assert_eq!(*flaky.dead.lock().unwrap(), ["m1"]);
    let reasons = flaky.reasons.lock().unwrap();
    assert_eq!(reasons[0].0, wxkf_bot::DeadLetterReason::RetriesExhausted);
    assert!(reasons[0].1.contains("handler_timeout"), "{}", reasons[0].1);
    assert_eq!(flaky.attempts.lock().unwrap().iter().filter(|m| *m == "m1").count(), 2);
}

#[test]
fn build_refuses_configuration_that_cannot_work() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = rt.enter();
    let client = Client::builder(CORP_ID, "S").base_url("http://127.0.0.1:9").build().unwrap();
    let build = |config: BotConfig| {
        Bot::builder(client.clone(), Recorder::default()).memory_store().config(config).build().err()
    };
    for (config, field) in [
        (BotConfig::default().with_lease_ttl(Duration::ZERO), "lease_ttl"),
        (BotConfig::default().with_max_concurrent_handlers(0), "max_concurrent_handlers"),
        (BotConfig::default().with_max_in_flight_per_account(0), "max_in_flight_per_account"),
        (BotConfig::default().with_handler_timeout(Duration::ZERO), "handler_timeout"),
        (BotConfig::default().with_page_limit(0), "page_limit"),
        (BotConfig::default().with_page_limit(1001), "page_limit"),
        (BotConfig::default().with_reconcile_interval(Some(Duration::ZERO)), "reconcile_interval"),
    ] {
        match build(config) {
            Some(wxkf_bot::BotError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(build(BotConfig::default()).is_none());
}

/// Messages that came while the bot was down, whose callbacks are gone, are pulled at start
/// (accounts from `kf/account/list`) and by the reconcile pull, with no callback at all.
#[tokio::test]
async fn accounts_are_pulled_at_start_and_by_the_reconcile_pull_without_a_callback() {
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "while you were away")]);
    let server = mock_api(&pages).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/kf/account/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"errcode": 0, "errmsg": "ok",
            "account_list": [{"open_kfid": KFID, "name": "e2e", "avatar": ""}]})))
        .with_priority(1)
        .mount(&server)
        .await;
    let rec = Recorder::default();
    let bot = Bot::builder(client(&server), rec.clone())
        .config(BotConfig::default().with_reconcile_interval(Some(Duration::from_secs(1))))
        .memory_store()
        .build()
        .expect("valid bot config");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rec.customer.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*rec.customer.lock().unwrap(), ["m1"], "the start-up pull found it");
    // a message whose callback WeCom gave up on
    pages.set("c1", "c2", false, vec![text("m2", "lost callback")]);
    while rec.customer.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*rec.customer.lock().unwrap(), ["m1", "m2"], "the reconcile pull found it");
    bot.shutdown().await;
    let texts: Vec<String> = sent_texts(&server).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["echo: while you were away", "echo: lost callback"]);
}

/// The default store of one instance, `data_dir`: a restart on the same directory neither
/// re-handles a message whose handler finished nor skips one that came while it was down.
#[tokio::test]
async fn restart_with_the_data_dir_neither_repeats_nor_skips() {
    let dir = std::env::temp_dir().join(format!("wxkf-axum-e2e-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pages = Pages::default();
    pages.set("", "c1", false, vec![text("m1", "one")]);
    let server = mock_api(&pages).await;
    let first = Recorder::default();
    let bot1 = Bot::builder(client(&server), first.clone()).data_dir(&dir).build().expect("valid bot config");
    callback(&app(&bot1)).await;
    bot1.shutdown().await;
    drop(bot1);
    assert_eq!(*first.customer.lock().unwrap(), ["m1"]);

    // a new message came while the bot was down
    pages.set("c1", "c2", false, vec![text("m2", "two")]);
    let second = Recorder::default();
    let bot2 =
        Bot::builder(client(&server), second.clone()).data_dir(&dir).build().expect("valid bot config");
    callback(&app(&bot2)).await;
    bot2.idle().await;
    assert_eq!(*second.customer.lock().unwrap(), ["m2"], "nothing re-handled, nothing skipped");
    bot2.shutdown().await;
    drop(bot2);
    let store = wxkf_bot::LocalStore::open(&dir).unwrap();
    assert_eq!(store.load(KFID).await.unwrap().as_deref(), Some("c2"));
    // m1 is in the durable dedupe: a re-delivered first page would not be handled again
    use wxkf_bot::DedupeStore;
    assert_eq!(store.seen(KFID, &["m1", "m2", "m3"]).await.unwrap(), [true, true, false]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
