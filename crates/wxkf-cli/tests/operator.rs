//! The operator commands run as the built `wxkf` binary: the Kf API commands and `doctor` against the
//! simulator (`wxkf-sim`), and the callback check against real routes on 127.0.0.1 — wxkf-axum's
//! callback router, and small axum servers that break the way deployments break (wrong key, too slow,
//! a proxy that rewrites `+`, wrong path, plain HTTP behind an https URL).

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::routing::get;
use support::{Output, command, run, temp_file};
use wxkf_axum::{Callback, CallbackConfig, callback_router};
use wxkf_crypto::CallbackCrypto;
use wxkf_sim::{Fault, FaultRule, Sim, SimHandle};
use wxkf_types::callback::CallbackEvent;

const TOKEN: &str = "DoctorToken123";
const KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const OTHER_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const SECRET: &str = "sim-secret-for-wxkf-cli";

impl Output {
    fn ok(self) -> String {
        assert_eq!(self.status, 0, "expected success, got {self:?}");
        self.assert_no_secrets();
        self.stdout
    }

    fn fails(self, status: i32) -> Output {
        assert_eq!(self.status, status, "expected exit status {status}, got {self:?}");
        self.assert_no_secrets();
        self
    }

    /// Neither the app secret, the callback Token nor the key is ever printed.
    fn assert_no_secrets(&self) {
        for secret in [SECRET, TOKEN, KEY, OTHER_KEY] {
            assert!(
                !self.stdout.contains(secret) && !self.stderr.contains(secret),
                "a secret is shown: {self:?}"
            );
        }
    }

    /// The one line of the doctor's report that starts with `mark` and names `check`, plus its fix.
    fn line(&self, mark: &str, check: &str) -> String {
        let lines: Vec<&str> = self.stdout.lines().collect();
        let prefix = format!("{mark} {check}:");
        let i = lines
            .iter()
            .position(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{}", self.stdout));
        let mut text = lines[i].to_owned();
        if let Some(fix) = lines.get(i + 1).filter(|l| l.starts_with("  → ")) {
            text.push('\n');
            text.push_str(fix);
        }
        text
    }
}

/// Runs `wxkf` off the async runtime (the simulator and the routes keep serving meanwhile).
async fn wxkf(args: &[&str], env: &[(&str, &str)]) -> Output {
    let cmd = command(args, env);
    tokio::task::spawn_blocking(move || run(cmd, None)).await.expect("the blocking task finishes")
}

async fn sim() -> SimHandle {
    Sim::builder()
        .secret(SECRET)
        .account("wkSUPPORT", "Support")
        .account("wkSALES", "Sales")
        .start()
        .await
        .expect("the simulator starts")
}

/// The environment the bots read, pointed at `sim`.
fn api_env(sim: &SimHandle) -> Vec<(&'static str, String)> {
    vec![
        ("WXKF_CORP_ID", sim.corp_id()),
        ("WXKF_APP_SECRET", SECRET.to_owned()),
        ("WXKF_BASE_URL", sim.base_url()),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Serves `app` on an ephemeral port of 127.0.0.1; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// wxkf-axum's callback route with `key`, recording what it hands on.
async fn axum_route(corp_id: &str, key: &str) -> (String, Arc<Mutex<Vec<Callback>>>) {
    let crypto = CallbackCrypto::new(TOKEN, key, corp_id).expect("valid credentials");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let app = callback_router(CallbackConfig::new(crypto), move |cb: Callback| {
        sink.lock().expect("not poisoned").push(cb)
    });
    (serve(app).await, seen)
}

// ---------------------------------------------------------------------------------------------
// errcode

#[tokio::test]
async fn errcode_prints_the_tables_meaning_and_action_and_unknown_codes_exit_1() {
    let out = wxkf(&["errcode", "95018"], &[]).await.ok();
    let info = wxkf_types::errcode::lookup(95018).expect("95018 is in the table");
    assert!(out.starts_with("95018 session_status_invalid"), "{out}");
    for part in [info.zh, info.en, info.action] {
        assert!(out.contains(part), "{part:?} missing from {out}");
    }

    let json: serde_json::Value =
        serde_json::from_str(&wxkf(&["errcode", "-1", "--json"], &[]).await.ok()).expect("JSON");
    assert_eq!(json["code"], -1);
    assert_eq!(json["category"], "retry-later");

    let out = wxkf(&["errcode", "123456"], &[]).await.fails(1);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("errcode 123456 is not in wxkf's table"), "{}", out.stderr);

    wxkf(&["errcode", "not-a-number"], &[]).await.fails(2);
}

// ---------------------------------------------------------------------------------------------
// token

#[tokio::test]
async fn token_prints_the_expiry_and_the_token_only_with_show() {
    let sim = sim().await;
    let env = api_env(&sim);
    let env = env_refs(&env);

    let out = wxkf(&["token"], &env).await.ok();
    assert_eq!(out.lines().count(), 1, "{out}");
    let secs: u64 = out
        .strip_prefix("access token valid for ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output {out}"));
    assert!((7100..=7200).contains(&secs), "the simulator's tokens live 7200 s: {out}");

    let json: serde_json::Value =
        serde_json::from_str(&wxkf(&["token", "--json"], &env).await.ok()).expect("JSON");
    assert!(json.get("access_token").is_none(), "{json}");
    assert!(json["expires_in"].as_u64().is_some_and(|s| s > 7100), "{json}");

    // with --show, the second line is a token the simulator accepts
    let out = wxkf(&["token", "--show"], &env).await.ok();
    let token = out.lines().nth(1).expect("the token on the second line");
    let url = format!("{}/cgi-bin/kf/account/list?access_token={token}", sim.base_url());
    let answer: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["errcode"], 0, "{answer}");
    sim.shutdown();
}

#[tokio::test]
async fn secrets_come_from_a_file_or_the_environment_and_a_flag_is_warned_about() {
    let sim = sim().await;
    let base = sim.base_url();
    let corp = sim.corp_id();
    let common = [("WXKF_CORP_ID", corp.as_str()), ("WXKF_BASE_URL", base.as_str())];

    let file = temp_file("secret.txt", format!("{SECRET}\n").as_bytes());
    let out = wxkf(&["token", "--secret-file", file.to_str().expect("UTF-8 path")], &common).await;
    assert_eq!(out.stderr, "", "a secret file draws no warning");
    out.ok();

    let out = wxkf(&["token", "--secret", SECRET], &common).await;
    assert_eq!(out.status, 0, "{out:?}");
    assert!(
        out.stderr.starts_with("warning: --secret puts the secret in the process list"),
        "{}",
        out.stderr
    );

    // a flag and a file wins over the environment
    let mut env = common.to_vec();
    env.push(("WXKF_APP_SECRET", "wrong-secret"));
    wxkf(&["token", "--secret-file", file.to_str().expect("UTF-8 path")], &env).await.ok();
    let out = wxkf(&["token"], &env).await.fails(1);
    assert!(out.stderr.contains("WeCom API error 40001"), "{}", out.stderr);

    // no secret at all, or an unreadable file: usage errors
    let out = wxkf(&["token"], &common).await.fails(2);
    assert!(out.stderr.contains("WXKF_APP_SECRET"), "{}", out.stderr);
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-secret");
    let out =
        wxkf(&["token", "--secret-file", missing.to_str().expect("UTF-8 path")], &common).await.fails(2);
    assert!(out.stderr.contains("cannot read --secret-file"), "{}", out.stderr);
    sim.shutdown();
}

#[tokio::test]
async fn api_failures_exit_1_with_the_code_and_what_to_do() {
    let sim = sim().await;
    sim.inject(FaultRule::new(Fault::Errcode(60020)).path("/cgi-bin/kf/account/list"));
    let env = api_env(&sim);
    let out = wxkf(&["accounts", "list"], &env_refs(&env)).await.fails(1);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.starts_with("error: WeCom API error 60020"), "{}", out.stderr);
    assert!(out.stderr.contains("hint: `wxkf errcode 60020` explains the code"), "{}", out.stderr);

    // WeCom unreachable
    let env =
        [("WXKF_CORP_ID", "wwcorp"), ("WXKF_APP_SECRET", SECRET), ("WXKF_BASE_URL", "http://127.0.0.1:9")];
    let out = wxkf(&["token"], &env).await.fails(1);
    assert!(out.stderr.starts_with("error: HTTP request to WeCom failed"), "{}", out.stderr);
    assert!(out.stderr.contains("hint: check WXKF_BASE_URL"), "{}", out.stderr);

    // no corp id: a usage error
    let out = wxkf(&["token"], &[("WXKF_APP_SECRET", SECRET)]).await.fails(2);
    assert!(out.stderr.contains("WXKF_CORP_ID"), "{}", out.stderr);
    sim.shutdown();
}

// ---------------------------------------------------------------------------------------------
// accounts, servicers

#[tokio::test]
async fn accounts_list_add_link_and_del() {
    let sim = sim().await;
    let env = api_env(&sim);
    let env = env_refs(&env);

    let out = wxkf(&["accounts", "list"], &env).await.ok();
    // the simulator lists accounts by open_kfid
    assert_eq!(out, "wkSALES\tSales\tmanageable\nwkSUPPORT\tSupport\tmanageable\n");

    let avatar = temp_file("avatar.png", b"\x89PNG\r\n\x1a\nnot really an image");
    let out = wxkf(
        &["accounts", "add", "--name", "Night shift", "--avatar", avatar.to_str().expect("UTF-8")],
        &env,
    )
    .await
    .ok();
    let new_kfid = out.trim_end().to_owned();
    assert!(new_kfid.starts_with("wk"), "{out}");
    assert_eq!(sim.call_count("/cgi-bin/media/upload"), 1, "the avatar was uploaded first");

    let out = wxkf(&["accounts", "list", "--json"], &env).await.ok();
    let mut names: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line"))
        .map(|v| v["name"].as_str().expect("a name").to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Night shift", "Sales", "Support"]);

    let out =
        wxkf(&["accounts", "link", "--kf", &new_kfid, "--scene", "qr1", "--scene-param", "a=1&b=2"], &env)
            .await
            .ok();
    assert!(out.starts_with("https://") && out.trim_end().ends_with("&scene_param=a%3D1%26b%3D2"), "{out}");

    assert_eq!(
        wxkf(&["accounts", "del", "--kf", &new_kfid], &env).await.ok(),
        format!("deleted {new_kfid}\n")
    );
    let out = wxkf(&["accounts", "list"], &env).await.ok();
    assert!(!out.contains(&new_kfid), "{out}");

    // WeCom's refusal: exit 1 with the code and what to do
    let out = wxkf(&["accounts", "add", "--name", "a name far longer than sixteen", "--media-id", "x"], &env)
        .await
        .fails(1);
    assert!(out.stderr.starts_with("error: WeCom API error "), "{}", out.stderr);
    // usage: neither --avatar nor --media-id
    wxkf(&["accounts", "add", "--name", "x"], &env).await.fails(2);
    sim.shutdown();
}

#[tokio::test]
async fn servicers_lists_the_members_of_an_account() {
    let sim = sim().await;
    sim.add_servicer("wkSUPPORT", "alice");
    sim.add_servicer("wkSUPPORT", "bob");
    let env = api_env(&sim);
    let env = env_refs(&env);

    let out = wxkf(&["servicers", "--kf", "wkSUPPORT"], &env).await.ok();
    let users: Vec<&str> = out.lines().map(|l| l.split('\t').nth(1).expect("a userid column")).collect();
    assert_eq!(users, ["alice", "bob"], "{out}");
    assert!(out.lines().all(|l| l.starts_with("user\t") && l.ends_with("\treceiving")), "{out}");

    let out = wxkf(&["servicers", "--kf", "wkSUPPORT", "--json"], &env).await.ok();
    let first: serde_json::Value = serde_json::from_str(out.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["userid"], "alice");

    wxkf(&["servicers"], &env).await.fails(2);
    sim.shutdown();
}

// ---------------------------------------------------------------------------------------------
// send, state, sync

#[tokio::test]
async fn send_text_and_image_to_a_customer() {
    let sim = sim().await;
    let env = api_env(&sim);
    let env = env_refs(&env);
    let alice = sim.customer("wkSUPPORT", "wmALICE");
    alice.say("hello");

    let out = wxkf(&["send", "--kf", "wkSUPPORT", "--to", "wmALICE", "--text", "hi Alice"], &env).await.ok();
    let replies = alice.replies();
    assert_eq!(replies[0].text(), Some("hi Alice"));
    assert_eq!(out, format!("{}\n", replies[0].msgid), "prints the msgid");

    let image = temp_file("photo.png", b"\x89PNG\r\n\x1a\nsome image bytes");
    wxkf(&["send", "--kf", "wkSUPPORT", "--to", "wmALICE", "--image", image.to_str().expect("UTF-8")], &env)
        .await
        .ok();
    let replies = alice.replies();
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[1].msgtype, "image");

    // a customer who never wrote: WeCom's 40096, exit 1
    let out = wxkf(&["send", "--kf", "wkSUPPORT", "--to", "wmNOBODY", "--text", "hi"], &env).await.fails(1);
    assert!(out.stderr.contains("40096") && out.stderr.contains("hint:"), "{}", out.stderr);
    // usage: no content, or both
    wxkf(&["send", "--kf", "wkSUPPORT", "--to", "wmALICE"], &env).await.fails(2);
    wxkf(&["send", "--kf", "wkSUPPORT", "--to", "wmALICE", "--text", "a", "--image", "b.png"], &env)
        .await
        .fails(2);
    sim.shutdown();
}

#[tokio::test]
async fn state_shows_and_moves_a_session() {
    let sim = sim().await;
    let env = api_env(&sim);
    let env = env_refs(&env);
    sim.customer("wkSUPPORT", "wmALICE").say("I need a human");

    let args = ["state", "--kf", "wkSUPPORT", "--to", "wmALICE"];
    assert_eq!(wxkf(&args, &env).await.ok(), "0 new (未处理)\n");

    let moved = wxkf(&[&args[..], &["--trans", "2"]].concat(), &env).await.ok();
    assert!(moved.starts_with("moved to 2 queued"), "{moved}");
    assert!(moved.contains("msg_code "), "entering the pool returns a msg_code: {moved}");

    let json: serde_json::Value =
        serde_json::from_str(&wxkf(&[&args[..], &["--json"]].concat(), &env).await.ok()).expect("JSON");
    assert_eq!(json["service_state"], 2);

    // 2 → 1 is not allowed: WeCom's 95016
    let out = wxkf(&[&args[..], &["--trans", "1"]].concat(), &env).await.fails(1);
    assert!(out.stderr.contains("95016"), "{}", out.stderr);
    // usage: a state that does not exist, or 3 without a servicer
    wxkf(&[&args[..], &["--trans", "7"]].concat(), &env).await.fails(2);
    wxkf(&[&args[..], &["--trans", "3"]].concat(), &env).await.fails(2);
    sim.shutdown();
}

#[tokio::test]
async fn sync_prints_each_message_once_and_the_cursor_to_continue() {
    let sim = sim().await;
    let env = api_env(&sim);
    let env = env_refs(&env);
    let alice = sim.customer("wkSUPPORT", "wmALICE");
    alice.say("hello");
    alice.say("are you there?");

    let out = wxkf(&["sync", "--kf", "wkSUPPORT"], &env).await;
    assert_eq!(out.status, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].ends_with("\tcustomer\twmALICE\ttext\thello"), "{}", lines[0]);
    assert!(lines[1].ends_with("\ttext\tare you there?"), "{}", lines[1]);
    let cursor = out.stderr.strip_prefix("cursor: ").expect("the cursor on stderr").trim_end().to_owned();

    // from the cursor on: only what is new
    alice.say("hello again");
    let out = wxkf(&["sync", "--kf", "wkSUPPORT", "--cursor", &cursor, "--json"], &env).await.ok();
    let items: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(items.len(), 1, "{out}");
    assert_eq!(items[0]["text"]["content"], "hello again");
    assert_eq!(items[0]["external_userid"], "wmALICE");

    // WeCom's error: exit 1
    let out = wxkf(&["sync", "--kf", "wkNOSUCH"], &env).await.fails(1);
    assert!(out.stderr.contains("95004"), "{}", out.stderr);
    // --max-rounds only with --follow
    wxkf(&["sync", "--kf", "wkSUPPORT", "--max-rounds", "2"], &env).await.fails(2);
    sim.shutdown();
}

#[tokio::test]
async fn sync_follow_pulls_again_after_the_interval_and_stops_after_max_rounds() {
    let sim = sim().await;
    let env = api_env(&sim);
    let env = env_refs(&env);
    sim.customer("wkSUPPORT", "wmALICE").say("first");

    let out =
        wxkf(&["sync", "--kf", "wkSUPPORT", "--follow", "--interval", "1", "--max-rounds", "3"], &env).await;
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert_eq!(sim.call_count("/cgi-bin/kf/sync_msg"), 3, "one pull per round (nothing more each time)");
    sim.shutdown();
}

/// The next line the child printed, within 20 s.
async fn next_line(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("a line in time")
}

#[tokio::test]
async fn sync_follow_waits_longer_after_a_frequency_limit() {
    let sim = sim().await;
    let env = api_env(&sim);
    sim.customer("wkSUPPORT", "wmALICE").say("first");
    sim.inject(FaultRule::new(Fault::Errcode(45009)).path("/cgi-bin/kf/sync_msg").times(1));

    let out = wxkf(
        &["sync", "--kf", "wkSUPPORT", "--follow", "--interval", "1", "--max-rounds", "2"],
        &env_refs(&env),
    )
    .await;
    assert_eq!(out.status, 0, "a frequency limit while following is not fatal: {out:?}");
    assert!(
        out.stderr.contains("WeCom API error 45009") && out.stderr.contains("pulling again in 2 s"),
        "{out:?}"
    );
    assert!(out.stdout.ends_with("\tfirst\n"), "the next round got the message: {out:?}");

    sim.shutdown();
}

#[tokio::test]
async fn sync_follow_prints_new_messages_and_stops_cleanly_on_ctrl_c() {
    let sim = sim().await;
    let env = api_env(&sim);
    let alice = sim.customer("wkSUPPORT", "wmALICE");
    alice.say("first");

    let mut child = command(&["sync", "--kf", "wkSUPPORT", "--follow", "--interval", "1"], &env_refs(&env))
        .spawn()
        .expect("wxkf starts");
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = next_line(&mut rx).await.expect("the first message");
    assert!(first.ends_with("\tfirst"), "{first}");

    alice.say("second");
    let second = next_line(&mut rx).await.expect("the message sent while following");
    assert!(second.ends_with("\tsecond"), "{second}");

    let killed = Command::new("kill").args(["-INT", &pid.to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("joined")
        .expect("wxkf finishes");
    assert_eq!(out.status.code(), Some(0), "Ctrl-C is a clean stop: {out:?}");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert!(stderr.starts_with("cursor: "), "the cursor to continue from: {stderr}");
    sim.shutdown();
}

// ---------------------------------------------------------------------------------------------
// doctor

fn doctor_env(sim: &SimHandle) -> Vec<(&'static str, String)> {
    let mut env = api_env(sim);
    env.push(("WXKF_TOKEN", TOKEN.to_owned()));
    env.push(("WXKF_ENCODING_AES_KEY", KEY.to_owned()));
    env
}

#[tokio::test]
async fn doctor_passes_with_a_working_route_and_calls_it_like_wecom() {
    let sim = sim().await;
    let (base, seen) = axum_route(&sim.corp_id(), KEY).await;
    let url = format!("{base}/wxkf/callback");
    let env = doctor_env(&sim);

    let out = wxkf(&["doctor", "--callback-url", &url], &env_refs(&env)).await;
    let stdout = out.stdout.clone();
    out.ok();
    for check in ["corp id", "secret", "callback Token", "EncodingAESKey", "gettoken"] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("✓ {check}:"))), "{check}: {stdout}");
    }
    let accounts = stdout.split("✓ kf/account/list:").nth(1).expect("the account check passes");
    assert!(accounts.contains("2 account(s)") && accounts.contains("wkSUPPORT Support"), "{stdout}");
    assert!(stdout.contains("✓ callback GET (URL verification): echoed in "), "{stdout}");
    assert!(stdout.contains("✓ callback POST (kf_msg_or_event): answered \"success\""), "{stdout}");
    assert!(stdout.contains("! callback URL: 127.0.0.1 is a local address"), "{stdout}");
    assert!(!stdout.contains('✗'), "{stdout}");

    // the POST was a kf_msg_or_event the route could verify, decrypt and parse
    let seen = seen.lock().expect("not poisoned");
    assert_eq!(seen.len(), 1);
    match &seen[0].event {
        CallbackEvent::KfMsgOrEvent { to_user_name, token, open_kfid, .. } => {
            assert_eq!(to_user_name, &sim.corp_id());
            assert!(token.starts_with("ENC"), "{token}");
            assert_eq!(open_kfid.as_deref(), Some("wkWXKFDOCTORCHECK"));
        }
        other => panic!("expected kf_msg_or_event, got {other:?}"),
    }
    sim.shutdown();
}

#[tokio::test]
async fn doctor_json_prints_one_object_per_check() {
    let sim = sim().await;
    let env = api_env(&sim);
    let out = wxkf(&["doctor", "--json"], &env_refs(&env)).await.ok();
    let checks: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    let status = |name: &str| {
        checks.iter().find(|c| c["check"] == name).map(|c| c["status"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(status("gettoken").as_deref(), Some("pass"));
    assert_eq!(status("kf/account/list").as_deref(), Some("pass"));
    // without --callback-url the callback values are optional
    assert_eq!(status("callback Token").as_deref(), Some("skip"));
    sim.shutdown();
}

#[tokio::test]
async fn doctor_names_the_wrong_key() {
    let sim = sim().await;
    let (base, seen) = axum_route(&sim.corp_id(), OTHER_KEY).await;
    let env = doctor_env(&sim);
    let out =
        wxkf(&["doctor", "--callback-url", &format!("{base}/wxkf/callback")], &env_refs(&env)).await.fails(1);
    let get = out.line("✗", "callback GET (URL verification)");
    assert!(get.contains("HTTP 400") && get.contains("the wrong EncodingAESKey"), "{get}");
    let post = out.line("✗", "callback POST (kf_msg_or_event)");
    assert!(post.contains("the wrong EncodingAESKey"), "{post}");
    // the API checks still pass: only the callback is broken
    out.line("✓", "gettoken");
    assert!(seen.lock().expect("not poisoned").is_empty());
    sim.shutdown();
}

#[tokio::test]
async fn doctor_names_the_wrong_token() {
    let sim = sim().await;
    let (base, _) = axum_route(&sim.corp_id(), KEY).await;
    let mut env = doctor_env(&sim);
    env.retain(|(k, _)| *k != "WXKF_TOKEN");
    let out = wxkf(
        &["doctor", "--callback-url", &format!("{base}/wxkf/callback"), "--token", "SomeOtherToken"],
        &env_refs(&env),
    )
    .await
    .fails(1);
    assert!(out.stderr.starts_with("warning: --token puts the secret in the process list"), "{}", out.stderr);
    let get = out.line("✗", "callback GET (URL verification)");
    assert!(get.contains("HTTP 401") && get.contains("the wrong Token"), "{get}");
    sim.shutdown();
}

/// A route that answers correctly, but only after `delay`.
async fn slow_route(corp_id: &str, delay: Duration) -> String {
    let crypto = CallbackCrypto::new(TOKEN, KEY, corp_id).expect("valid credentials");
    let inner = callback_router::<()>(CallbackConfig::new(crypto), |_: Callback| {});
    let app = Router::new().merge(inner).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            tokio::time::sleep(delay).await;
            next.run(req).await
        },
    ));
    serve(app).await
}

#[tokio::test]
async fn doctor_names_a_route_that_answers_too_slowly() {
    let sim = sim().await;
    let base = slow_route(&sim.corp_id(), Duration::from_millis(1500)).await;
    let url = format!("{base}/wxkf/callback");
    let env = doctor_env(&sim);

    // WeCom's documented 1 s for the verification (page 90930): too slow; the POST has 5 s
    let out = wxkf(&["doctor", "--callback-url", &url], &env_refs(&env)).await.fails(1);
    let get = out.line("✗", "callback GET (URL verification)");
    assert!(get.contains("echoed correctly but after") && get.contains("WeCom allows 1000 ms"), "{get}");
    assert!(get.contains("too slow"), "{get}");
    out.line("✓", "callback POST (kf_msg_or_event)");

    // the other reading (5 s for the GET too) and a tighter POST limit
    let out =
        wxkf(&["check-callback", &url, "--verify-within", "5000", "--post-within", "1000"], &env_refs(&env))
            .await
            .fails(1);
    out.line("✓", "callback GET (URL verification)");
    let post = out.line("✗", "callback POST (kf_msg_or_event)");
    assert!(post.contains("WeCom waits 1000 ms") && post.contains("too slow"), "{post}");
    sim.shutdown();
}

/// A reverse proxy that hands on `%2B` as a raw `+`, in front of a backend that form-decodes the
/// query (turning `+` into a space) and checks the signature over what it got. (wxkf-axum itself
/// would map the space back to `+`; many frameworks do not.)
async fn plus_rewriting_route(corp_id: &str) -> String {
    let crypto = Arc::new(CallbackCrypto::new(TOKEN, KEY, corp_id).expect("valid credentials"));
    let app = Router::new().route(
        "/wxkf/callback",
        get(move |RawQuery(query): RawQuery| {
            let crypto = crypto.clone();
            async move {
                let forwarded = query.unwrap_or_default().replace("%2B", "+");
                let q: HashMap<String, String> = serde_urlencoded::from_str(&forwarded).unwrap_or_default();
                let field = |k: &str| q.get(k).cloned().unwrap_or_default();
                let echostr = field("echostr");
                let signature = crypto.sign(&field("timestamp"), &field("nonce"), &echostr);
                if signature.to_hex() != field("msg_signature") {
                    return (StatusCode::UNAUTHORIZED, "bad signature".to_owned());
                }
                match crypto.decrypt(&echostr) {
                    Ok(echo) => (StatusCode::OK, String::from_utf8_lossy(&echo).into_owned()),
                    Err(_) => (StatusCode::BAD_REQUEST, "cannot decrypt".to_owned()),
                }
            }
        })
        .post(|| async { "success" }),
    );
    serve(app).await
}

#[tokio::test]
async fn doctor_names_a_proxy_that_rewrites_plus() {
    let sim = sim().await;
    let base = plus_rewriting_route(&sim.corp_id()).await;
    let env = doctor_env(&sim);
    let out =
        wxkf(&["doctor", "--callback-url", &format!("{base}/wxkf/callback")], &env_refs(&env)).await.fails(1);
    let get = out.line("✗", "callback GET (URL verification)");
    assert!(get.contains("when echostr contains '+', but echoed when it does not"), "{get}");
    assert!(get.contains("rewrites '+'"), "{get}");
    sim.shutdown();
}

#[tokio::test]
async fn doctor_names_the_wrong_path() {
    let sim = sim().await;
    let (base, _) = axum_route(&sim.corp_id(), KEY).await;
    let env = doctor_env(&sim);
    let out =
        wxkf(&["doctor", "--callback-url", &format!("{base}/callback")], &env_refs(&env)).await.fails(1);
    for check in ["callback GET (URL verification)", "callback POST (kf_msg_or_event)"] {
        let line = out.line("✗", check);
        assert!(line.contains("HTTP 404") && line.contains("the wrong path"), "{line}");
    }

    // a redirect (here to the same path with a trailing slash) is not an answer
    let app = Router::new().route(
        "/wxkf/callback",
        get(|| async { axum::response::Redirect::permanent("/wxkf/callback/") })
            .post(|| async { axum::response::Redirect::permanent("/wxkf/callback/") }),
    );
    let redirecting = serve(app).await;
    let out =
        wxkf(&["check-callback", &format!("{redirecting}/wxkf/callback")], &env_refs(&env)).await.fails(1);
    let get = out.line("✗", "callback GET (URL verification)");
    assert!(
        get.contains("HTTP 308 redirect to /wxkf/callback/") && get.contains("save the final URL"),
        "{get}"
    );

    // a route for GET only: the POST gets 405
    let get_only =
        serve(Router::new().route("/wxkf/callback", axum::routing::get(|| async { "hello" }))).await;
    let out = wxkf(&["check-callback", &format!("{get_only}/wxkf/callback")], &env_refs(&env)).await.fails(1);
    let post = out.line("✗", "callback POST (kf_msg_or_event)");
    assert!(post.contains("HTTP 405") && post.contains("must answer both GET"), "{post}");

    // something else answers 200 at that URL (here the simulator's API)
    let out = wxkf(&["check-callback", &format!("{}/wxkf/callback", sim.base_url())], &env_refs(&env))
        .await
        .fails(1);
    let get = out.line("✗", "callback GET (URL verification)");
    assert!(
        get.contains("HTTP 200, but the body is not the decrypted echostr") && get.contains("wrong path"),
        "{get}"
    );
    let post = out.line("✗", "callback POST (kf_msg_or_event)");
    assert!(post.contains("answer `success` (or an empty body)"), "{post}");
    sim.shutdown();
}

#[tokio::test]
async fn doctor_explains_60020_with_the_ip_wecom_reports() {
    let sim = sim().await;
    sim.inject(FaultRule::new(Fault::Errcode(60020)).path("/cgi-bin/gettoken"));
    let env = api_env(&sim);
    let out = wxkf(&["doctor"], &env_refs(&env)).await.fails(1);
    let line = out.line("✗", "gettoken");
    assert!(line.starts_with("✗ gettoken: errcode 60020"), "{line}");
    assert!(!line.contains("from ip:"), "the errmsg suffix is read, not echoed: {line}");
    assert!(line.contains("from IP 127.0.0.1") && line.contains("Add 127.0.0.1"), "{line}");
    assert!(line.contains("企业可信IP"), "where in the admin console: {line}");
    out.line("-", "kf/account/list");
    sim.shutdown();
}

#[tokio::test]
async fn doctor_does_not_retry_gettoken() {
    let sim = sim().await;
    // one transient -1: a retry would get a token
    sim.inject(FaultRule::new(Fault::Errcode(-1)).path("/cgi-bin/gettoken").times(1));
    let env = api_env(&sim);
    let out = wxkf(&["doctor"], &env_refs(&env)).await.fails(1);
    assert!(out.line("✗", "gettoken").contains("errcode -1"), "{}", out.stdout);
    assert_eq!(sim.call_count("/cgi-bin/gettoken"), 1);
    sim.shutdown();
}

#[tokio::test]
async fn doctor_explains_a_wrong_corp_id_and_a_wrong_secret() {
    let sim = sim().await;
    let base = sim.base_url();

    let env =
        [("WXKF_CORP_ID", "wwwrongcorp"), ("WXKF_APP_SECRET", SECRET), ("WXKF_BASE_URL", base.as_str())];
    let out = wxkf(&["doctor"], &env).await.fails(1);
    let line = out.line("✗", "gettoken");
    assert!(line.contains("errcode 40013") && line.contains("the CorpID is wrong"), "{line}");

    let corp = sim.corp_id();
    let env = [
        ("WXKF_CORP_ID", corp.as_str()),
        ("WXKF_APP_SECRET", "a-self-built-apps-secret"),
        ("WXKF_BASE_URL", base.as_str()),
    ];
    let out = wxkf(&["doctor"], &env).await.fails(1);
    let line = out.line("✗", "gettoken");
    assert!(line.contains("errcode 40001") && line.contains("Kf secret"), "{line}");
    assert!(line.contains("not the Secret of another self-built app"), "{line}");
    sim.shutdown();
}

#[tokio::test]
async fn doctor_explains_a_secret_that_may_not_call_the_kf_api() {
    let sim = sim().await;
    let env = api_env(&sim);
    for code in [48002, 60011, 95011, 95012] {
        sim.clear_faults();
        sim.inject(FaultRule::new(Fault::Errcode(code)).path("/cgi-bin/kf/account/list"));
        let out = wxkf(&["doctor"], &env_refs(&env)).await.fails(1);
        out.line("✓", "gettoken");
        let line = out.line("✗", "kf/account/list");
        assert!(line.contains(&format!("errcode {code}")), "{line}");
        assert!(line.contains("may not call the Kf API") && line.contains("可调用接口的应用"), "{line}");
    }
    sim.shutdown();
}

#[tokio::test]
async fn doctor_checks_the_shapes_without_calling_wecom() {
    let env = [
        ("WXKF_CORP_ID", "corp 1"),
        ("WXKF_TOKEN", "has spaces!"),
        ("WXKF_ENCODING_AES_KEY", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C="),
        // nothing listens here: a call would fail differently
        ("WXKF_BASE_URL", "http://127.0.0.1:9"),
    ];
    let out = wxkf(&["doctor", "--callback-url", "http://127.0.0.1:9/wxkf/callback"], &env).await.fails(1);
    assert!(
        out.line("✗", "corp id").contains("has characters other than letters and digits"),
        "{}",
        out.stdout
    );
    assert!(
        out.line("✗", "secret").contains("not set") && out.line("✗", "secret").contains("WXKF_APP_SECRET")
    );
    assert!(out.line("✗", "callback Token").contains("1 to 32 letters and digits"), "{}", out.stdout);
    assert!(out.line("✗", "EncodingAESKey").contains("44 characters"), "{}", out.stdout);
    out.line("-", "gettoken");
    out.line("-", "callback");
}

#[tokio::test]
async fn doctor_names_an_unreachable_api() {
    let env =
        [("WXKF_CORP_ID", "wwcorp"), ("WXKF_APP_SECRET", SECRET), ("WXKF_BASE_URL", "http://127.0.0.1:9")];
    let out = wxkf(&["doctor"], &env).await.fails(1);
    let line = out.line("✗", "gettoken");
    assert!(line.contains("cannot talk to http://127.0.0.1:9"), "{line}");
    out.line("-", "kf/account/list");
}

/// A route that verifies and decrypts correctly but answers the echo in quotes, and fails every POST.
async fn quoting_route(corp_id: &str) -> String {
    let crypto = Arc::new(CallbackCrypto::new(TOKEN, KEY, corp_id).expect("valid credentials"));
    let app = Router::new().route(
        "/wxkf/callback",
        get(move |RawQuery(query): RawQuery| {
            let crypto = crypto.clone();
            async move {
                let q = wxkf_crypto::CallbackQuery::parse(&query.unwrap_or_default());
                let field = |v: Option<String>| v.unwrap_or_default();
                match crypto.verify_url(
                    &field(q.msg_signature),
                    &field(q.timestamp),
                    &field(q.nonce),
                    &field(q.echostr),
                ) {
                    Ok(echo) => (StatusCode::OK, format!("\"{echo}\"")),
                    Err(_) => (StatusCode::UNAUTHORIZED, "bad signature".to_owned()),
                }
            }
        })
        .post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database is down") }),
    );
    serve(app).await
}

#[tokio::test]
async fn check_callback_names_a_wrapped_echo_and_a_failing_post() {
    let base = quoting_route("wwcorp").await;
    let env = [("WXKF_CORP_ID", "wwcorp"), ("WXKF_TOKEN", TOKEN), ("WXKF_ENCODING_AES_KEY", KEY)];
    let out = wxkf(&["check-callback", &format!("{base}/wxkf/callback")], &env).await.fails(1);
    let get = out.line("✗", "callback GET (URL verification)");
    assert!(
        get.contains("instead of the bare echo") && get.contains("no quotes, JSON, newline or BOM"),
        "{get}"
    );
    let post = out.line("✗", "callback POST (kf_msg_or_event)");
    assert!(post.contains("HTTP 500: database is down") && post.contains("read its logs"), "{post}");
}

// ---------------------------------------------------------------------------------------------
// check-callback on its own (a deployment pipeline)

#[tokio::test]
async fn check_callback_alone_needs_only_the_callback_values() {
    let sim = sim().await;
    let (base, seen) = axum_route(&sim.corp_id(), KEY).await;
    let corp = sim.corp_id();
    let key_file = temp_file("aes-key", format!("{KEY}\n").as_bytes());
    let env = [("WXKF_CORP_ID", corp.as_str()), ("WXKF_TOKEN", TOKEN)];
    let out = wxkf(
        &[
            "check-callback",
            &format!("{base}/wxkf/callback"),
            "--aes-key-file",
            key_file.to_str().expect("UTF-8"),
        ],
        &env,
    )
    .await;
    assert_eq!(out.stderr, "", "no warning without secret flags");
    let stdout = out.ok();
    assert!(stdout.contains("✓ callback GET") && stdout.contains("✓ callback POST"), "{stdout}");
    assert!(!stdout.contains("gettoken"), "no API call: {stdout}");
    assert_eq!(seen.lock().expect("not poisoned").len(), 1);
    assert_eq!(sim.calls().len(), 0, "WeCom's API is not called");

    let out = wxkf(&["check-callback", &format!("{base}/wxkf/callback"), "--json"], &env).await.fails(1);
    let key_check: serde_json::Value = serde_json::from_str(
        out.stdout.lines().find(|l| l.contains("EncodingAESKey")).expect("a line for the key"),
    )
    .expect("JSON");
    assert_eq!(key_check["status"], "fail");
    wxkf(&["check-callback"], &env).await.fails(2);
    sim.shutdown();
}

#[tokio::test]
async fn check_callback_names_https_when_the_port_speaks_plain_http() {
    let (base, _) = axum_route("wwcorp", KEY).await;
    let url = format!("{}/wxkf/callback", base.replace("http://", "https://"));
    let env = [("WXKF_CORP_ID", "wwcorp"), ("WXKF_TOKEN", TOKEN), ("WXKF_ENCODING_AES_KEY", KEY)];
    let out = wxkf(&["check-callback", &url], &env).await.fails(1);
    let get = out.line("✗", "callback GET (URL verification)");
    assert!(get.contains("the HTTPS connection failed") && get.contains("HTTPS:"), "{get}");
}

#[tokio::test]
async fn check_callback_names_an_unreachable_host() {
    let env = [("WXKF_CORP_ID", "wwcorp"), ("WXKF_TOKEN", TOKEN), ("WXKF_ENCODING_AES_KEY", KEY)];
    let out = wxkf(&["check-callback", "http://127.0.0.1:9/wxkf/callback"], &env).await.fails(1);
    let get = out.line("✗", "callback GET (URL verification)");
    assert!(get.contains("cannot connect") && get.contains("firewall"), "{get}");
}
