//! Shared by the tests that run bot instances as separate OS processes (scale_out.rs, crash.rs,
//! chaos.rs): a child process is the test binary started again with `--ignored --exact NAME`,
//! its settings in the environment; it reports to the parent on stdout, one line per event,
//! each starting with [`TAG`]. The parent puts a round-robin load balancer in front of the
//! instances, as in production.
//!
//! Redis, where a test needs it, follows the project's rule (crates/wxkf-bot/tests/support): no
//! Redis answering is a test failure; only `WXKF_SKIP_REDIS=1` skips on purpose.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use wxkf_sim::SimHandle;

/// Lines a child prints for the parent start with this.
pub(crate) const TAG: &str = "WXKF-CHILD";

/// The variable that skips the Redis tests on purpose, when set to `1`.
pub(crate) const SKIP_VAR: &str = "WXKF_SKIP_REDIS";

/// The shared Redis of the tests (`REDIS_URL`, default `redis://127.0.0.1:6379`).
pub(crate) fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Whether a Redis test runs: `false` only with `WXKF_SKIP_REDIS=1` (a note on stderr). Panics
/// when no Redis answers at `url` within 3 s: that is a failure, not a skip.
pub(crate) async fn redis_required(test: &str, url: &str) -> bool {
    if std::env::var(SKIP_VAR).as_deref() == Ok("1") {
        eprintln!("note: {test} skipped: {SKIP_VAR}=1");
        return false;
    }
    let ping = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    let why = match tokio::time::timeout(Duration::from_secs(3), ping).await {
        Ok(Ok(_)) => return true,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "connect timed out".to_owned(),
    };
    panic!(
        "no Redis server answers at {url} ({why}): start one (`redis-server --save '' --port 6379`) or point \
         REDIS_URL at one; to skip the Redis tests on purpose set {SKIP_VAR}=1"
    );
}

/// A Redis key prefix no other test (or earlier run) uses.
pub(crate) fn prefix(test: &str) -> String {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    format!("wxkf-test:{test}:{}:{nanos}:", std::process::id())
}

/// A fresh directory under the system's temp dir, for this test and run.
pub(crate) fn temp_dir(test: &str) -> std::path::PathBuf {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("wxkf-{test}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Child side: one line for the parent, flushed at once (so it is in the pipe before the
/// child's next step, and survives a `kill -9` that follows).
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{TAG} {line}");
    let _ = out.flush();
}

/// Child side: exits when the parent closes our stdin (test over, or the parent panicked).
pub(crate) fn exit_with_parent() {
    std::thread::spawn(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {}
        std::process::exit(0);
    });
}

/// What a child reported: its number, its run (how often it was started before) and the line
/// after [`TAG`]; `"EOF"` once its stdout closed (every line of that run has been delivered).
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// The instance number.
    pub(crate) id: usize,
    /// Which start of that instance (0 for the first).
    pub(crate) run: usize,
    /// The words after the tag.
    pub(crate) text: String,
}

/// One child process.
pub(crate) struct Instance {
    process: Child,
    // kept open: the child exits when it closes
    _stdin: ChildStdin,
    /// Where its callback route listens.
    pub(crate) addr: SocketAddr,
}

impl Instance {
    /// Starts this test binary again running the ignored test `child_test`, with `env`; its
    /// lines go to `lines`. Returns once it printed `READY <addr>` (at most 60 s).
    pub(crate) async fn start(
        child_test: &str,
        id: usize,
        run: usize,
        env: &[(String, String)],
        lines: tokio::sync::mpsc::UnboundedSender<Line>,
    ) -> Instance {
        let exe = std::env::current_exe().unwrap();
        let mut process = Command::new(&exe)
            .args(["--ignored", "--exact", child_test, "--nocapture", "--test-threads", "1"])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a child instance");
        let stdin = process.stdin.take().unwrap();
        let stdout = process.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may have printed "test child_instance ... " on the same line
                let Some(at) = line.find(TAG) else { continue };
                let text = line[at + TAG.len()..].trim().to_owned();
                if let Some(addr) = text.strip_prefix("READY ") {
                    let _ = ready_tx.send(addr.parse::<SocketAddr>().unwrap());
                    continue;
                }
                let _ = lines.send(Line { id, run, text });
            }
            let _ = lines.send(Line { id, run, text: "EOF".to_owned() });
        });
        let addr = tokio::task::spawn_blocking(move || ready_rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("child instance did not report READY within 60 s");
        Instance { process, _stdin: stdin, addr }
    }

    /// `kill -9`, and waits for the process to be gone.
    pub(crate) fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A round-robin HTTP load balancer over the live instances; a connection refused moves on to
/// the next one, and with none left it answers 502 (as a real one would: WeCom does not retry
/// a callback answered with an HTTP error).
pub(crate) struct Balancer {
    backends: Mutex<Vec<(usize, SocketAddr)>>,
    next: AtomicUsize,
    served: Mutex<HashMap<usize, usize>>,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    /// The callback URL in front of the instances.
    pub(crate) url: String,
}

impl Balancer {
    /// Starts the balancer with no backend.
    pub(crate) async fn start() -> Arc<Balancer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/wxkf/callback", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<Arc<Balancer>>();
        let server = tokio::spawn(async move {
            let Ok(lb) = rx.await else { return };
            let app = axum::Router::new().fallback(forward).with_state(lb);
            let _ = axum::serve(listener, app).await;
        });
        let lb = Arc::new(Balancer {
            backends: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
            served: Mutex::new(HashMap::new()),
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap(),
            server,
            url,
        });
        let _ = tx.send(Arc::clone(&lb));
        lb
    }

    /// Sends to instance `id` at `addr` from now on (replacing its earlier address).
    pub(crate) fn set(&self, id: usize, addr: SocketAddr) {
        let mut b = self.backends.lock().unwrap();
        b.retain(|(i, _)| *i != id);
        b.push((id, addr));
        b.sort();
    }

    /// Stops sending to instance `id`.
    pub(crate) fn remove(&self, id: usize) {
        self.backends.lock().unwrap().retain(|(i, _)| *i != id);
    }

    /// Callbacks each instance answered.
    pub(crate) fn served(&self) -> HashMap<usize, usize> {
        self.served.lock().unwrap().clone()
    }

    /// Stops serving.
    pub(crate) fn stop(&self) {
        self.server.abort();
    }
}

async fn forward(State(lb): State<Arc<Balancer>>, method: Method, uri: Uri, body: Bytes) -> Response {
    let backends = lb.backends.lock().unwrap().clone();
    let start = lb.next.fetch_add(1, Ordering::Relaxed);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    for k in 0..backends.len() {
        let (id, addr) = backends[(start + k) % backends.len()];
        let url = format!("http://{addr}{path}");
        let request = if method == Method::GET {
            lb.http.get(&url)
        } else {
            lb.http.post(&url).header("content-type", "text/xml").body(body.clone())
        };
        if let Ok(resp) = request.send().await {
            *lb.served.lock().unwrap().entry(id).or_default() += 1;
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            return (status, resp.bytes().await.unwrap_or_default()).into_response();
        }
    }
    StatusCode::BAD_GATEWAY.into_response()
}

/// Every text the simulator stored as sent (`send_msg` accepted it), with how often, per
/// (open_kfid, customer, text). The simulator refuses a msgid it has seen (40058), so a reply
/// re-sent with its derived msgid is never stored twice: a text stored twice is a double the
/// customer saw. A 40058 refusal itself is not one (with lost answers it is how a retried send
/// learns that the first one went out).
pub(crate) fn sent_texts(sim: &SimHandle) -> HashMap<(String, String, String), usize> {
    let mut count = HashMap::new();
    for s in sim.sent() {
        let text = s.text().unwrap_or_default().to_owned();
        *count.entry((s.open_kfid.clone(), s.touser.clone(), text)).or_default() += 1;
    }
    count
}

/// The texts stored more than once, as `(key, times)`.
pub(crate) fn doubles(sim: &SimHandle) -> Vec<((String, String, String), usize)> {
    let mut d: Vec<_> = sent_texts(sim).into_iter().filter(|(_, n)| *n > 1).collect();
    d.sort();
    d
}

/// A bot served in this process behind the real callback route (`bot_router`), with the
/// simulator's callbacks pointed at it (bot_e2e.rs, concurrency.rs, conversation.rs).
pub(crate) struct Running {
    pub(crate) bot: wxkf_axum::bot::Bot,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    pub(crate) async fn stop(self) {
        self.bot.shutdown().await;
        self.server.abort();
    }
}

/// A client builder with `sim`'s corp id, secret and base URL.
pub(crate) fn client_builder(sim: &SimHandle) -> wxkf_client::ClientBuilder {
    wxkf_client::Client::builder(sim.corp_id(), sim.secret()).base_url(sim.base_url())
}

/// A client of `sim` (the default retry policy).
pub(crate) fn client(sim: &SimHandle) -> wxkf_client::Client {
    client_builder(sim).build().unwrap()
}

/// A client of `sim` with `retry`.
pub(crate) fn client_for(sim: &SimHandle, retry: wxkf_client::RetryPolicy) -> wxkf_client::Client {
    client_builder(sim).retry_policy(retry).build().unwrap_or_else(|e| panic!("client: {e}"))
}

/// The errcode of a call that must fail with an API error.
pub(crate) fn errcode<T: std::fmt::Debug>(r: Result<T, wxkf_client::Error>) -> i64 {
    match r {
        Err(e) => e.errcode().unwrap_or_else(|| panic!("not an API error: {e}")),
        Ok(v) => panic!("expected an API error, got {v:?}"),
    }
}

/// Serves the bot that `build` makes from a client of `sim` on a loopback port, with fresh
/// callback credentials, and points the simulator's callbacks at it.
pub(crate) async fn serve(
    sim: &SimHandle,
    build: impl FnOnce(wxkf_client::Client) -> wxkf_axum::bot::Bot,
) -> Running {
    serve_with(sim, client(sim), build).await
}

/// [`serve`] with the bot built from `client` (e.g. one with its own retry policy).
pub(crate) async fn serve_with(
    sim: &SimHandle,
    client: wxkf_client::Client,
    build: impl FnOnce(wxkf_client::Client) -> wxkf_axum::bot::Bot,
) -> Running {
    let (token, key) = wxkf_crypto::generate_credentials().unwrap();
    let crypto =
        wxkf_crypto::CallbackCrypto::new(token.expose_secret(), key.expose_secret(), &sim.corp_id()).unwrap();
    let bot = build(client);
    let app = wxkf_axum::bot_router(wxkf_axum::CallbackConfig::new(crypto), bot.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    sim.set_callback(&format!("http://{addr}/wxkf/callback"), token.expose_secret(), key.expose_secret())
        .unwrap();
    Running { bot, server }
}

/// Waits until the bot's start-up pull (one tokenless `sync_msg` of each account `kf/account/list`
/// returns) has run and finished, so that it cannot land in the middle of a scenario.
pub(crate) async fn after_startup_pull(sim: &SimHandle, running: &Running) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sim.call_count("/cgi-bin/kf/sync_msg") == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.bot.idle().await;
}
