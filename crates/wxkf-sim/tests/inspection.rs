//! The inspection helpers on a large log: 100,000 messages sent to 1,000 customers (the same 500
//! external_userids under two Kf accounts). Each helper must return exactly its part of the log, in
//! order; `replies` / `wait_for_replies` / `sent_to` read an index by (open_kfid, customer).

use std::time::Duration;

use serde_json::{Value, json};
use wxkf_sim::{SentMessage, Sim, SimHandle};

const ACCOUNTS: [&str; 2] = ["wkINSPA", "wkINSPB"];
const CUSTOMERS: usize = 500;
const PER_CUSTOMER: usize = 100;

async fn token(http: &reqwest::Client, sim: &SimHandle) -> String {
    let url =
        format!("{}/cgi-bin/gettoken?corpid={}&corpsecret={}", sim.base_url(), sim.corp_id(), sim.secret());
    let answer: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    answer["access_token"].as_str().expect("a token").to_owned()
}

async fn post(http: &reqwest::Client, sim: &SimHandle, token: &str, path: &str, body: Value) -> Value {
    let url = format!("{}/cgi-bin/kf/{path}?access_token={token}", sim.base_url());
    http.post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

fn user(c: usize) -> String {
    format!("wmINSP{c:04}")
}

fn text(kf: &str, c: usize, i: usize) -> String {
    format!("{kf}/{c}/{i}")
}

/// Sends every customer `PER_CUSTOMER` texts, each customer's in order, 20 customers at a time
/// (the customer writes before every fifth).
async fn fill(sim: &SimHandle) {
    let http = reqwest::Client::new();
    let token = token(&http, sim).await;
    let mut tasks = Vec::new();
    for lane in 0..20 {
        let (sim, http, token) = (sim.clone(), http.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for kf in ACCOUNTS {
                for c in (lane..CUSTOMERS).step_by(20) {
                    let customer = sim.customer(kf, &user(c));
                    for i in 0..PER_CUSTOMER {
                        // WeCom allows 5 sends per customer message
                        if i % 5 == 0 {
                            customer.say("more");
                        }
                        let body = json!({"touser": user(c), "open_kfid": kf, "msgtype": "text",
                                          "text": {"content": text(kf, c, i)}});
                        let answer = post(&http, &sim, &token, "send_msg", body).await;
                        assert_eq!(answer["errcode"], 0, "{answer}");
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn texts(sent: &[SentMessage]) -> Vec<String> {
    sent.iter().map(|s| s.text().unwrap_or_default().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpers_return_exactly_their_part_of_a_100_000_message_log_in_order() {
    let sim = Sim::builder().account(ACCOUNTS[0], "a").account(ACCOUNTS[1], "b").start().await.unwrap();
    fill(&sim).await;
    let total = ACCOUNTS.len() * CUSTOMERS * PER_CUSTOMER;
    assert_eq!(sim.sent_count(), total);

    let all = sim.sent();
    assert_eq!(all.len(), total);
    assert_eq!(sim.wait_for_sent(total, Duration::from_secs(1)).await, all);
    assert_eq!(sim.sent_since(0), all);
    assert_eq!(sim.sent_since(total - 7), all[total - 7..].to_vec());
    assert_eq!(sim.sent_since(total), Vec::<SentMessage>::new());
    assert_eq!(sim.sent_since(total + 1), Vec::<SentMessage>::new());

    for kf in ACCOUNTS {
        for c in 0..CUSTOMERS {
            let customer = sim.customer(kf, &user(c));
            let want: Vec<String> = (0..PER_CUSTOMER).map(|i| text(kf, c, i)).collect();
            let replies = customer.replies();
            assert_eq!(texts(&replies), want, "{kf} {c}");
            assert!(replies.iter().all(|r| r.open_kfid == kf && r.touser == user(c) && !r.recalled));
            // the same messages, at the same relative positions, as the whole log has for them
            let from_log: Vec<&SentMessage> =
                all.iter().filter(|s| s.open_kfid == kf && s.touser == user(c)).collect();
            assert_eq!(replies.iter().collect::<Vec<_>>(), from_log);
            assert_eq!(customer.reply_count(), PER_CUSTOMER);
            assert_eq!(sim.sent_to(kf, &user(c)), replies);
            if c % 50 == 0 {
                assert_eq!(customer.wait_for_replies(PER_CUSTOMER, Duration::from_secs(1)).await, replies);
                // not reached: returns what there is when the timeout passes
                let short = customer.wait_for_replies(PER_CUSTOMER + 1, Duration::from_millis(20)).await;
                assert_eq!(short, replies);
            }
        }
    }
    // a customer nobody wrote to, and an account that does not exist
    assert_eq!(sim.sent_to(ACCOUNTS[0], "wmNOBODY"), Vec::<SentMessage>::new());
    assert_eq!(sim.sent_to("wkNONE", &user(0)), Vec::<SentMessage>::new());
    assert_eq!(sim.customer(ACCOUNTS[0], "wmNOBODY").reply_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_replies_wakes_for_its_customer_and_recall_and_fail_find_by_msgid() {
    let sim = Sim::builder().account(ACCOUNTS[0], "a").account(ACCOUNTS[1], "b").start().await.unwrap();
    let alice = sim.customer(ACCOUNTS[0], "wmALICE");
    let alice_b = sim.customer(ACCOUNTS[1], "wmALICE");
    alice.say("hi");
    alice_b.say("hi");
    let http = reqwest::Client::new();
    let token = token(&http, &sim).await;
    let waiting = {
        let alice = alice.clone();
        tokio::spawn(async move { alice.wait_for_replies(2, Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let send = |kf: &str, content: &str, msgid: &str| {
        json!({"touser": "wmALICE", "open_kfid": kf, "msgtype": "text", "msgid": msgid,
               "text": {"content": content}})
    };
    // the same customer id under the other account is another conversation
    assert_eq!(post(&http, &sim, &token, "send_msg", send(ACCOUNTS[1], "b1", "m1")).await["errcode"], 0);
    assert_eq!(post(&http, &sim, &token, "send_msg", send(ACCOUNTS[0], "a1", "m1")).await["errcode"], 0);
    assert!(!waiting.is_finished());
    assert_eq!(post(&http, &sim, &token, "send_msg", send(ACCOUNTS[0], "a2", "m2")).await["errcode"], 0);
    let got = tokio::time::timeout(Duration::from_secs(2), waiting).await.expect("woken").unwrap();
    assert_eq!(texts(&got), ["a1", "a2"]);
    assert_eq!(texts(&alice_b.replies()), ["b1"]);

    // recall finds (account, msgid): m1 of account B only
    let recall = |kf: &str, msgid: &str| json!({"open_kfid": kf, "msgid": msgid});
    assert_eq!(post(&http, &sim, &token, "recall_msg", recall(ACCOUNTS[1], "m1")).await["errcode"], 0);
    assert_eq!(texts(&alice_b.replies()), ["b1"]);
    assert!(alice_b.replies()[0].recalled);
    assert!(alice.replies().iter().all(|r| !r.recalled));
    // recalled already, and never sent: 95028
    assert_eq!(post(&http, &sim, &token, "recall_msg", recall(ACCOUNTS[1], "m1")).await["errcode"], 95028);
    assert_eq!(post(&http, &sim, &token, "recall_msg", recall(ACCOUNTS[1], "m2")).await["errcode"], 95028);

    // fail_delivery takes the first message sent with that msgid (account B's m1 here)
    assert!(sim.fail_delivery("m1", 10));
    let last = sim.messages(ACCOUNTS[1]).pop().expect("an event");
    let last = format!("{last:?}");
    assert!(
        last.contains("MsgSendFail") && last.contains("\"wkINSPB\"") && last.contains("\"m1\""),
        "{last}"
    );
    assert!(sim.fail_delivery("m2", 10));
    assert!(!sim.fail_delivery("m3", 10));
}
