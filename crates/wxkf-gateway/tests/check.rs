//! `wxkf-gateway check`: a good file exits 0; each of ten broken files exits 2 and names its
//! key and the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const GOOD: &str = r#"
[wecom]
corp_id = "ww0123456789abcdef"
secret = "env:T_CHECK_SECRET"
token = "env:T_CHECK_SECRET"
encoding_aes_key = "env:T_CHECK_SECRET"

[server]
listen = "0.0.0.0:9899"
api_token = "env:T_CHECK_SECRET"
data_dir = "/var/lib/wxkf-gateway"

[conversation]
turn_quiet_ms = 1500
placeholder_after_s = 5
hand_off_keywords = ["转人工"]

[[routes]]
open_kfid = "wkAAAA"
backend = "hook"

[[routes]]
open_kfid = "*"
backend = "ai"

[backends.hook]
type = "webhook"
url = "https://bot.example.com/kf"
secret = "env:T_CHECK_SECRET"
timeout_s = 10

[backends.ai]
type = "openai"
base_url = "https://api.openai.com/v1"
api_key = "env:T_CHECK_SECRET"
model = "gpt-4o-mini"
history = 10
timeout_s = 60

[backends.kb]
type = "dify"
base_url = "https://api.dify.ai/v1"
api_key = "env:T_CHECK_SECRET"
"#;

fn check(name: &str, text: &str) -> (Option<i32>, String, String) {
    let dir = std::env::temp_dir().join(format!("wxkf-gateway-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wxkf-gateway"))
        .args(["check", "--config"])
        .arg(&path)
        .env("T_CHECK_SECRET", "s3cret")
        .env_remove("T_CHECK_UNSET")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_example_file_is_valid() {
    let (code, stdout, stderr) = check("good", GOOD);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("ok (2 route(s), 3 backend(s))"), "{stdout}");
}

#[test]
fn the_config_file_can_come_from_wxkf_gateway_config() {
    let path = std::env::temp_dir().join(format!("wxkf-gateway-check-env-{}.toml", std::process::id()));
    std::fs::write(&path, GOOD).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wxkf-gateway"))
        .arg("check")
        .env("WXKF_GATEWAY_CONFIG", &path)
        .env("T_CHECK_SECRET", "s3cret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_literal_secret_is_valid_but_warned_about() {
    let text = GOOD.replacen("secret = \"env:T_CHECK_SECRET\"", "secret = \"literal-app-secret\"", 1);
    let (code, _, stderr) = check("literal", &text);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("warning: wecom.secret:"), "{stderr}");
    assert!(!stderr.contains("literal-app-secret"), "the secret itself is not shown");
}

/// Ten broken files: each exits 2 and its message names the key and the reason.
#[test]
fn ten_broken_files_exit_2_each_naming_its_key() {
    let cases: [(&str, String, &str, &str); 10] = [
        ("unknown_section", GOOD.replace("[conversation]", "[conversaton]"), "conversaton", "unknown key"),
        (
            "unknown_backend_key",
            GOOD.replace("history = 10", "history = 10\ntimeout = 3"),
            "backends.ai.timeout",
            "unknown key",
        ),
        (
            "missing_corp_id",
            GOOD.replace("corp_id = \"ww0123456789abcdef\"\n", ""),
            "wecom.corp_id",
            "missing value",
        ),
        (
            "wrong_type",
            GOOD.replace("timeout_s = 60", "timeout_s = \"sixty\""),
            "backends.ai.timeout_s",
            "wrong type",
        ),
        (
            "route_to_unknown_backend",
            GOOD.replace("backend = \"hook\"", "backend = \"hoook\""),
            "routes[0].backend",
            "unknown backend \"hoook\": wkAAAA is routed nowhere",
        ),
        (
            "no_routes",
            {
                let start = GOOD.find("[[routes]]").unwrap();
                let end = GOOD.find("[backends.hook]").unwrap();
                format!("{}{}", &GOOD[..start], &GOOD[end..])
            },
            "routes",
            "routed nowhere",
        ),
        (
            "no_store",
            GOOD.replace("data_dir = \"/var/lib/wxkf-gateway\"\n", ""),
            "server.data_dir",
            "missing value",
        ),
        (
            "unknown_backend_type",
            GOOD.replace("type = \"dify\"", "type = \"gpt\""),
            "backends.kb.type",
            "unknown backend type",
        ),
        (
            "bad_listen",
            GOOD.replace("0.0.0.0:9899", "localhost-9899"),
            "server.listen",
            "invalid socket address",
        ),
        (
            "unset_env_secret",
            GOOD.replace("api_token = \"env:T_CHECK_SECRET\"", "api_token = \"env:T_CHECK_UNSET\""),
            "server.api_token",
            "missing value: the environment variable T_CHECK_UNSET is not set",
        ),
    ];
    for (name, text, key, reason) in cases {
        assert_ne!(text, GOOD, "{name}: the file was not broken");
        let (code, _, stderr) = check(name, &text);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&format!(": {key}: ")), "{name}: does not name {key}: {stderr}");
        assert!(stderr.contains(reason), "{name}: does not say {reason:?}: {stderr}");
    }
}

#[test]
fn not_toml_exits_2_with_the_line() {
    let (code, _, stderr) = check("syntax", "[wecom\ncorp_id = 1");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("not valid TOML") && stderr.contains("line 1"), "{stderr}");
}
