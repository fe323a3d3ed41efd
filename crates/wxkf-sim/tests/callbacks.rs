//! Callback pushes: signed and encrypted with wxkf-crypto, retried like WeCom, droppable by a fault;
//! the callback's token works for sync_msg for 10 minutes.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use wxkf_client::RetryPolicy;
use wxkf_crypto::CallbackCrypto;
use wxkf_sim::{Fault, FaultRule, Sim, SimHandle};
use wxkf_types::callback::CallbackEvent;
use wxkf_types::message::SyncMsgRequest;

const TOKEN: &str = "simtoken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const KF: &str = "wkCB";

#[derive(Clone)]
struct Receiver {
    crypto: CallbackCrypto,
    events: Arc<Mutex<Vec<CallbackEvent>>>,
    /// Attempts to stall (longer than the simulator's callback timeout) before answering.
    stall: Arc<Mutex<u32>>,
}

async fn receive(
    State(rx): State<Receiver>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> &'static str {
    let stall = {
        let mut stall = rx.stall.lock().unwrap_or_else(|p| p.into_inner());
        let now = *stall > 0;
        *stall = stall.saturating_sub(1);
        now
    };
    if stall {
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let plain = rx.crypto.decrypt_message(get("msg_signature"), get("timestamp"), get("nonce"), &body);
    if let Ok(event) =
        plain.map_err(|e| e.to_string()).and_then(|p| CallbackEvent::parse(&p).map_err(|e| e.to_string()))
    {
        rx.events.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }
    ""
}

async fn setup(stall: u32) -> (SimHandle, Receiver) {
    let rx = Receiver {
        crypto: CallbackCrypto::new(TOKEN, AES_KEY, "wwsimcorp").unwrap_or_else(|e| panic!("{e}")),
        events: Arc::default(),
        stall: Arc::new(Mutex::new(stall)),
    };
    let app = axum::Router::new().route("/callback", axum::routing::post(receive)).with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sim = Sim::builder()
        .account(KF, "cb")
        .callback(format!("http://{addr}/callback"), TOKEN, AES_KEY)
        .callback_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (sim, rx)
}

fn tokens(rx: &Receiver) -> Vec<String> {
    rx.events
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(|e| match e {
            CallbackEvent::KfMsgOrEvent { token, open_kfid, to_user_name, .. } => {
                assert_eq!(open_kfid.as_deref(), Some(KF));
                assert_eq!(to_user_name, "wwsimcorp");
                Some(token.clone())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn callback_is_decryptable_and_its_token_lives_10_minutes() {
    let (sim, rx) = setup(0).await;
    sim.customer(KF, "wm1").say("hello");
    let done = sim.wait_for_callbacks(1, Duration::from_secs(5)).await;
    assert!(done[0].delivered && done[0].attempts == 1, "{done:?}");
    let token = tokens(&rx).pop().unwrap_or_else(|| panic!("no callback decrypted"));
    assert_eq!(token, done[0].token);

    let client = support::client_for(&sim, RetryPolicy::none());
    let page = client.message().sync_msg(SyncMsgRequest::new(KF).with_token(token.clone())).await;
    assert_eq!(page.map(|p| p.msg_list.len()).ok(), Some(1));
    sim.advance(Duration::from_secs(601));
    let stale = client.message().sync_msg(SyncMsgRequest::new(KF).with_token(token)).await;
    assert_eq!(stale.err().and_then(|e| e.errcode()), Some(95007));
}

#[tokio::test]
async fn a_slow_server_gets_the_callback_again() {
    let (sim, rx) = setup(1).await;
    sim.customer(KF, "wm1").say("hello");
    let done = sim.wait_for_callbacks(1, Duration::from_secs(5)).await;
    assert_eq!((done[0].attempts, done[0].delivered), (2, true), "{done:?}");
    // The stalled first attempt may still have been processed by the receiver: duplicates happen.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!tokens(&rx).is_empty());
}

#[tokio::test]
async fn dropped_callbacks_never_arrive() {
    let (sim, rx) = setup(0).await;
    sim.inject(FaultRule::new(Fault::DropCallback).nth(1));
    let customer = sim.customer(KF, "wm1");
    customer.say("lost");
    customer.say("found");
    let done = sim.wait_for_callbacks(2, Duration::from_secs(5)).await;
    let mut attempts: Vec<_> = done.iter().map(|c| (c.attempts, c.delivered)).collect();
    attempts.sort();
    assert_eq!(attempts, [(0, false), (1, true)]);
    assert_eq!(tokens(&rx).len(), 1);
}

#[tokio::test]
async fn callback_latency_delays_the_push_and_bad_keys_are_refused() {
    let (sim, _rx) = setup(0).await;
    sim.inject(FaultRule::new(Fault::Latency(Duration::from_millis(300))).callbacks());
    let started = std::time::Instant::now();
    sim.customer(KF, "wm1").say("slow");
    let done = sim.wait_for_callbacks(1, Duration::from_secs(5)).await;
    assert!(done[0].delivered && started.elapsed() >= Duration::from_millis(300));

    let bad = Sim::builder().callback("http://127.0.0.1:9/", TOKEN, "too-short").start().await;
    assert!(matches!(bad, Err(wxkf_sim::SimError::Crypto(_))), "{bad:?}");
    assert!(sim.set_callback("http://127.0.0.1:9/", "", AES_KEY).is_err());
}
