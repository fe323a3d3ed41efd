//! What the gateway's tests share: the gateway binary as its own process (`--log-format json`,
//! its listen address read from its start-up log line), a scripted webhook on loopback that
//! records every delivery, and the config file they are written into.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use wxkf_sim::SimHandle;

/// The secrets the tests give the gateway through its environment (`env:NAME` in the file).
pub const API_TOKEN: &str = "test-api-token-0123456789";
pub const HOOK_SECRET: &str = "test-hook-secret-9876543210";

/// A fresh directory for this test and run.
pub fn temp_dir(test: &str) -> PathBuf {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("wxkf-gateway-{test}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The simulator with the accounts `kfids`, and callback credentials for the gateway.
pub struct World {
    pub sim: SimHandle,
    pub token: String,
    pub key: String,
    pub dir: PathBuf,
}

impl World {
    pub async fn new(test: &str, kfids: &[&str]) -> World {
        let mut b = wxkf_sim::Sim::builder();
        for k in kfids {
            b = b.account(*k, *k);
        }
        let sim = b.start().await.unwrap();
        let (token, key) = wxkf_crypto::generate_credentials().unwrap();
        World {
            sim,
            token: token.expose_secret().to_owned(),
            key: key.expose_secret().to_owned(),
            dir: temp_dir(test),
        }
    }

    /// A config file: `[wecom]` for the simulator, `[server]` on a free loopback port with
    /// `data_dir` (or `server_extra`, e.g. a `redis_url`), then `rest` (conversation, routes,
    /// backends). Secrets come from the environment the gateway is started with.
    pub fn config(&self, name: &str, store: &str, rest: &str) -> PathBuf {
        let store = if store.is_empty() {
            format!("data_dir = {:?}", self.dir.join("data").display().to_string())
        } else {
            store.to_owned()
        };
        let text = format!(
            r#"
[wecom]
corp_id = "{corp}"
secret = "env:T_WXKF_SECRET"
token = "env:T_WXKF_TOKEN"
encoding_aes_key = "env:T_WXKF_KEY"
base_url = "{base}"

[server]
listen = "127.0.0.1:0"
api_token = "env:T_API_TOKEN"
{store}
shutdown_grace_s = 20

{rest}
"#,
            corp = self.sim.corp_id(),
            base = self.sim.base_url(),
        );
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The environment of a gateway process for this world.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("T_WXKF_SECRET", self.sim.secret()),
            ("T_WXKF_TOKEN", self.token.clone()),
            ("T_WXKF_KEY", self.key.clone()),
            ("T_API_TOKEN", API_TOKEN.to_owned()),
            ("T_HOOK_SECRET", HOOK_SECRET.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Starts the gateway binary on `config` and points the simulator's callbacks at it.
    pub async fn gateway(&self, config: &Path) -> GatewayProcess {
        let gw = GatewayProcess::start(config, &self.env()).await;
        self.sim.set_callback(&format!("{}/wxkf/callback", gw.url), &self.token, &self.key).unwrap();
        gw
    }
}

/// The `wxkf-gateway` binary, run as its own process.
pub struct GatewayProcess {
    child: Child,
    pub addr: SocketAddr,
    pub url: String,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl GatewayProcess {
    pub async fn start(config: &Path, env: &[(String, String)]) -> GatewayProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wxkf-gateway"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(config)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the wxkf-gateway binary");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let stderr = child.stderr.take().unwrap();
        {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    // only the gateway's own lines are echoed (the runtime's debug lines are many)
                    if line.contains("\"level\":\"INFO\"") || line.contains("WARN") || line.contains("ERROR")
                    {
                        eprintln!("gateway: {line}");
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let started = Instant::now();
        let addr = loop {
            let found = lines.lock().unwrap().iter().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["fields"]["message"] == "wxkf-gateway started")
                    .then(|| v["fields"]["listen"].as_str().map(str::to_owned))?
            });
            if let Some(a) = found {
                break a.parse::<SocketAddr>().unwrap();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the gateway exited at start with {status}: {:#?}", lines.lock().unwrap());
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the gateway did not start within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        GatewayProcess { child, addr, url: format!("http://{addr}"), lines }
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < within, "the gateway did not exit within {within:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then the exit status (within 30 s).
    pub async fn stop(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait(Duration::from_secs(30)).await
    }

    /// Whether a log line contains every one of `parts`.
    pub fn logged(&self, parts: &[&str]) -> bool {
        self.lines.lock().unwrap().iter().any(|l| parts.iter().all(|p| l.contains(p)))
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// `POST /v1/replies` with `bearer`.
    pub async fn post_replies(&self, bearer: &str, body: &Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/replies", self.url))
            .bearer_auth(bearer)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null))
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One POST the scripted webhook received.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub delivery: String,
    pub timestamp: String,
    pub signature: String,
    pub reply_to: String,
    pub body: String,
    pub json: Value,
}

impl Delivery {
    /// Whether `X-Wxkf-Signature` is the HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`,
    /// computed here independently of the gateway's code.
    pub fn signed_with(&self, secret: &str) -> bool {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{}.{}", self.timestamp, self.body).as_bytes());
        self.signature == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    pub fn texts(&self) -> Vec<String> {
        self.json["messages"]
            .as_array()
            .map(|m| m.iter().filter_map(|m| m["text"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// What the scripted webhook answers to its `n`-th delivery (from 0): status, body, delay.
pub type Script = Arc<dyn Fn(usize, &Value) -> (u16, String, Duration) + Send + Sync>;

/// What the scripted webhook serves at `/files/{name}` (image and file replies download it).
pub const FILE: &[u8] = b"\x89PNG\r\n\x1a\n a stand-in image of the webhook";

/// A scripted webhook on loopback.
#[derive(Clone)]
pub struct Hook {
    pub url: String,
    pub deliveries: Arc<Mutex<Vec<Delivery>>>,
    script: Script,
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> Response {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = String::from_utf8_lossy(&body).into_owned();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let n = {
        let mut d = hook.deliveries.lock().unwrap();
        d.push(Delivery {
            delivery: h("x-wxkf-delivery"),
            timestamp: h("x-wxkf-timestamp"),
            signature: h("x-wxkf-signature"),
            reply_to: h("x-wxkf-reply-to"),
            body: text,
            json: json.clone(),
        });
        d.len() - 1
    };
    let (status, answer, delay) = (hook.script)(n, &json);
    tokio::time::sleep(delay).await;
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], answer).into_response()
}

impl Hook {
    pub async fn start(
        script: impl Fn(usize, &Value) -> (u16, String, Duration) + Send + Sync + 'static,
    ) -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hook =
            Hook { url: format!("http://{addr}/kf"), deliveries: Arc::default(), script: Arc::new(script) };
        let app = Router::new()
            .route("/kf", post(receive))
            .route("/files/{name}", axum::routing::get(|| async { FILE.to_vec() }))
            .with_state(hook.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        hook
    }

    /// The base URL of the webhook's server (`/files/...` is under it).
    pub fn base(&self) -> String {
        self.url.trim_end_matches("/kf").to_owned()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    /// Waits until `n` deliveries came (or `within` passed) and returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Delivery> {
        let started = Instant::now();
        loop {
            let d = self.deliveries();
            if d.len() >= n || started.elapsed() >= within {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The turn deliveries only.
    pub fn turns(&self) -> Vec<Delivery> {
        self.deliveries().into_iter().filter(|d| d.json["kind"] == "turn").collect()
    }

    pub async fn wait_for_turns(&self, n: usize, within: Duration) -> Vec<Delivery> {
        let started = Instant::now();
        loop {
            let d = self.turns();
            if d.len() >= n || started.elapsed() >= within {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A synchronous answer with one text reply and `action`.
pub fn text_answer(text: &str, action: Option<&str>) -> String {
    serde_json::json!({"replies": [{"type": "text", "text": text}], "action": action}).to_string()
}

/// The `[[routes]]` + `[backends.hook]` of a webhook at `url`.
pub fn webhook_backend(url: &str, timeout_s: u64) -> String {
    webhook_backend_with(url, timeout_s, 30)
}

/// [`webhook_backend`] with a `reply_timeout_s`.
pub fn webhook_backend_with(url: &str, timeout_s: u64, reply_timeout_s: u64) -> String {
    format!(
        r#"
[[routes]]
open_kfid = "*"
backend = "hook"

[backends.hook]
type = "webhook"
url = "{url}"
secret = "env:T_HOOK_SECRET"
timeout_s = {timeout_s}
reply_timeout_s = {reply_timeout_s}
"#
    )
}

/// The texts the customer received.
pub fn texts(replies: &[wxkf_sim::SentMessage]) -> Vec<String> {
    replies.iter().map(|r| r.text().unwrap_or("[non-text]").to_owned()).collect()
}
