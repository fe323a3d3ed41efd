//! The simulator's handle: start it, script customers, control the clock and faults, inspect what
//! the bot sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};
use wxkf_types::callback::CallbackEvent;

use crate::fault::{self, FaultRule, Target};
use crate::inner::{CallbackTarget, Inner};
use crate::rules::{ExpiredSendAnswer, Rules, ServicerStatus, SessionClock, SyncPaging, TokenlessSyncLimit};
use crate::state::{CallRecord, CallbackRecord, SentMessage, State};

/// Errors starting or configuring the simulator.
#[derive(Debug)]
#[non_exhaustive]
pub enum SimError {
    /// Binding the listen address failed.
    Bind(std::io::Error),
    /// The callback token or EncodingAESKey is not usable (callback-crypto.md).
    Crypto(wxkf_crypto::Error),
    /// `start` was not called inside a tokio runtime.
    NoRuntime,
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::Bind(e) => write!(f, "could not bind the simulator's address: {e}"),
            SimError::Crypto(e) => write!(f, "invalid callback token or EncodingAESKey: {e}"),
            SimError::NoRuntime => f.write_str("the simulator must be started inside a tokio runtime"),
        }
    }
}

impl std::error::Error for SimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SimError::Bind(e) => Some(e),
            SimError::Crypto(e) => Some(e),
            SimError::NoRuntime => None,
        }
    }
}

/// Entry point: `Sim::builder()`.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// A builder with defaults: corp `wwsimcorp`, secret `sim-secret`, listening on
    /// `127.0.0.1:0` (an ephemeral port), tokens living 7200 s, no callback URL.
    pub fn builder() -> SimBuilder {
        SimBuilder {
            corp_id: "wwsimcorp".into(),
            secret: "sim-secret".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token_ttl: Duration::from_secs(7200),
            callback: None,
            callback_timeout: Duration::from_secs(5),
            callback_attempts: 3,
            retry_on_status: false,
            callback_concurrency: None,
            accounts: Vec::new(),
            rules: Rules::default(),
        }
    }
}

/// Configures and starts a simulator.
#[derive(Debug, Clone)]
pub struct SimBuilder {
    corp_id: String,
    secret: String,
    listen: SocketAddr,
    token_ttl: Duration,
    callback: Option<(String, String, String)>,
    callback_timeout: Duration,
    callback_attempts: u32,
    retry_on_status: bool,
    callback_concurrency: Option<usize>,
    accounts: Vec<(String, String)>,
    rules: Rules,
}

impl SimBuilder {
    /// The simulated corp's CorpID.
    pub fn corp_id(mut self, corp_id: impl Into<String>) -> Self {
        self.corp_id = corp_id.into();
        self
    }

    /// The app secret `gettoken` accepts.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = secret.into();
        self
    }

    /// Where to listen (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// How long access tokens live (`expires_in`, default 7200 s).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Push `kf_msg_or_event` callbacks to `url`, signed with `token` and encrypted with
    /// `encoding_aes_key` (43 characters), receive id = the corp id.
    pub fn callback(
        mut self,
        url: impl Into<String>,
        token: impl Into<String>,
        encoding_aes_key: impl Into<String>,
    ) -> Self {
        self.callback = Some((url.into(), token.into(), encoding_aes_key.into()));
        self
    }

    /// How long to wait for the callback server's answer before retrying (default 5 s, as WeCom).
    /// A timeout is retried; an answer with any HTTP status is not (see
    /// [`retry_on_status`](Self::retry_on_status)).
    pub fn callback_timeout(mut self, timeout: Duration) -> Self {
        self.callback_timeout = timeout;
        self
    }

    /// Attempts per callback, first included (default 3, as WeCom).
    pub fn callback_attempts(mut self, attempts: u32) -> Self {
        self.callback_attempts = attempts.max(1);
        self
    }

    /// Also retry a callback that was answered with a non-2xx HTTP status (default `false`).
    ///
    /// WeCom retries a callback "only on a network connection failure or a request timeout"
    /// (its callback documentation, quoted in GentleCP/corpwechatbot#25): a receiver that answers
    /// 503 does not get the callback again. `true` restores the simulator's behaviour before 0.2,
    /// which retried any non-2xx answer.
    pub fn retry_on_status(mut self, retry: bool) -> Self {
        self.retry_on_status = retry;
        self
    }

    /// At most `n` callback requests in flight at once (default: no limit, one connection per
    /// concurrent push). Pushes beyond it wait for a free slot, so 10,000 customers writing at once
    /// reach the bot over at most `n` keep-alive connections instead of 10,000.
    pub fn callback_concurrency(mut self, n: usize) -> Self {
        self.callback_concurrency = Some(n.max(1));
        self
    }

    /// The budget of `sync_msg` calls without the callback `token`, per Kf account: at most
    /// `calls` within any `per` of simulated time, then 45009 (see [`TokenlessSyncLimit`] for the
    /// default, 10 per 60 s, and why).
    pub fn tokenless_sync_limit(mut self, calls: u32, per: Duration) -> Self {
        self.rules.tokenless_sync = Some(TokenlessSyncLimit { calls, per });
        self
    }

    /// No limit on `sync_msg` without a token (the simulator's behaviour before 0.2).
    pub fn no_tokenless_sync_limit(mut self) -> Self {
        self.rules.tokenless_sync = None;
        self
    }

    /// Legacy switch: `sync_msg` without `open_kfid` serves every account's items in one log, as
    /// older pages and SDKs read it (default `false`: `open_kfid` is required, as on the
    /// 2024-01-31 page and since wechatpy#771; missing or empty is refused with 40058).
    pub fn sync_open_kfid_optional(mut self, optional: bool) -> Self {
        self.rules.sync_open_kfid_optional = optional;
        self
    }

    /// How `sync_msg` cuts pages (default [`SyncPaging::Full`]).
    pub fn sync_paging(mut self, paging: SyncPaging) -> Self {
        self.rules.paging = paging;
        self
    }

    /// When a session's 48 hours run out (default [`SessionClock::FromFirstMessage`], kf-api.md
    /// §4.0).
    pub fn session_clock(mut self, clock: SessionClock) -> Self {
        self.rules.session_clock = clock;
        self
    }

    /// What `send_msg` answers 48 h after the customer's last message (default
    /// [`ExpiredSendAnswer::TimeLimit`], 95002; **UNCERTAIN**, see the type).
    pub fn expired_send_answer(mut self, answer: ExpiredSendAnswer) -> Self {
        self.rules.expired_send = answer;
        self
    }

    /// Assign each new session at once to a receiving servicer of the account (state 3, round
    /// robin), as WeCom does for accounts whose sessions are not handled by the API (LangBot#1547
    /// meets 95018 this way). No event announces it (WeCom's behaviour here is undocumented): a
    /// bot learns it from `service_state/get` or a 95018. Without a receiving servicer the session
    /// stays in state 0. Default `false`: a new session starts in state 0 (kf-api.md §4.0).
    pub fn auto_assign(mut self, assign: bool) -> Self {
        self.rules.auto_assign = assign;
        self
    }

    /// Legacy switch: `customer/batchget` resolves every known customer (default `false`: only
    /// customers who wrote or entered within 48 h; others are `invalid_external_userid`, as
    /// reported in AstrBot#1699).
    pub fn batchget_any_customer(mut self, any: bool) -> Self {
        self.rules.batchget_any_customer = any;
        self
    }

    /// Create a Kf account up front.
    pub fn account(mut self, open_kfid: impl Into<String>, name: impl Into<String>) -> Self {
        self.accounts.push((open_kfid.into(), name.into()));
        self
    }

    /// Binds, spawns the server on the current tokio runtime and returns its handle.
    pub async fn start(self) -> Result<SimHandle, SimError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SimError::NoRuntime)?;
        let mut state = State::new(self.corp_id.clone(), self.secret.clone(), self.token_ttl.as_secs());
        state.rules = self.rules.clone();
        for (id, name) in &self.accounts {
            state.ensure_account(id, name);
        }
        let callback = match &self.callback {
            Some((url, token, key)) => {
                Some(CallbackTarget::new(url, token, key, &self.corp_id).map_err(SimError::Crypto)?)
            }
            None => None,
        };
        let http = reqwest::Client::builder().timeout(self.callback_timeout).build().unwrap_or_default();
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            changed: Notify::new(),
            callback: Mutex::new(callback),
            http,
            callback_attempts: self.callback_attempts,
            retry_on_status: self.retry_on_status,
            callback_slots: self.callback_concurrency.map(tokio::sync::Semaphore::new),
            runtime,
        });
        let listener = tokio::net::TcpListener::bind(self.listen).await.map_err(SimError::Bind)?;
        let addr = listener.local_addr().map_err(SimError::Bind)?;
        let app = axum::Router::new().fallback(crate::server::dispatch).with_state(inner.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::warn!("wxkf-sim server stopped: {e}");
            }
        });
        Ok(SimHandle { inner, addr, shutdown: Arc::new(Mutex::new(Some(tx))) })
    }
}

/// A running simulator. Cheap to clone; every clone controls the same simulator.
#[derive(Debug, Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`: pass to `wxkf_client::Client::builder(..).base_url(..)`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulated corp's CorpID.
    pub fn corp_id(&self) -> String {
        self.inner.lock().corp_id.clone()
    }

    /// The secret `gettoken` accepts.
    pub fn secret(&self) -> String {
        self.inner.lock().secret.clone()
    }

    /// Set (or replace) the callback URL, token and EncodingAESKey while running — e.g. once the
    /// bot's server has its port.
    pub fn set_callback(&self, url: &str, token: &str, encoding_aes_key: &str) -> Result<(), SimError> {
        let target =
            CallbackTarget::new(url, token, encoding_aes_key, &self.corp_id()).map_err(SimError::Crypto)?;
        *self.inner.callback.lock().unwrap_or_else(|p| p.into_inner()) = Some(target);
        Ok(())
    }

    /// Create a Kf account (no-op if it exists).
    pub fn add_account(&self, open_kfid: &str, name: &str) {
        self.inner.lock().ensure_account(open_kfid, name);
    }

    /// Add a servicer (a WeCom member) to an account, creating the account if needed. A new
    /// servicer is receiving ([`ServicerStatus::Receiving`]); change it with
    /// [`set_servicer_status`](Self::set_servicer_status).
    pub fn add_servicer(&self, open_kfid: &str, userid: &str) {
        let mut state = self.inner.lock();
        state.ensure_account(open_kfid, open_kfid);
        if let Some(account) = state.accounts.get_mut(open_kfid)
            && !account.servicers.iter().any(|s| s == userid)
        {
            account.servicers.push(userid.to_owned());
        }
    }

    /// A simulated WeChat customer talking to `open_kfid` (both created if new).
    pub fn customer(&self, open_kfid: &str, external_userid: &str) -> Customer {
        self.inner.lock().add_customer(open_kfid, external_userid);
        Customer {
            sim: self.clone(),
            open_kfid: open_kfid.to_owned(),
            external_userid: external_userid.to_owned(),
        }
    }

    /// WeCom reports that a sent message was not delivered: a `msg_send_fail` event with
    /// `fail_type` (e.g. 10 = the customer refuses messages) and a callback. False if `msgid` was
    /// never sent.
    pub fn fail_delivery(&self, msgid: &str, fail_type: u32) -> bool {
        let open_kfid = self.inner.lock().fail_delivery(msgid, fail_type);
        open_kfid.map(|kf| self.notify(&kf)).is_some()
    }

    /// A servicer writes to the customer from the WeCom client (origin 5; re-joins an ended
    /// session with `session_status_change` 4), with a callback.
    pub fn servicer_says(&self, open_kfid: &str, external_userid: &str, servicer_userid: &str, text: &str) {
        self.inner.lock().servicer_message(open_kfid, external_userid, servicer_userid, text);
        self.notify(open_kfid);
    }

    /// A servicer takes the session in the WeCom client — from the pool, from the bot, or a new
    /// session (`session_status_change` 1; state 3); returns the event's 48 h `msg_code`
    /// (kf-api.md §5.3, §5.5). While the session afterwards stays in state 3, `send_msg` gets 95018.
    ///
    /// If another servicer holds the session already, this is a transfer
    /// ([`servicer_transfers`](Self::servicer_transfers)): `change_type` 2 carries no code, and the
    /// returned string is empty. If this servicer holds it already, nothing happens (empty string).
    pub fn servicer_takes(&self, open_kfid: &str, external_userid: &str, servicer_userid: &str) -> String {
        let code = self.inner.lock().servicer_takes(open_kfid, external_userid, servicer_userid);
        self.notify(open_kfid);
        code
    }

    /// The servicer holding the session transfers it to `to_servicer` in the WeCom client
    /// (`session_status_change` 2 with `old_servicer_userid` and `new_servicer_userid`, no
    /// `msg_code`; the state stays 3). False, and nothing happens, if no servicer holds it.
    pub fn servicer_transfers(&self, open_kfid: &str, external_userid: &str, to_servicer: &str) -> bool {
        let moved = self.inner.lock().servicer_transfers(open_kfid, external_userid, to_servicer);
        if moved {
            self.notify(open_kfid);
        }
        moved
    }

    /// A servicer's receiving status changes (adding them to the account if needed): a
    /// `servicer_status_change` event (1 receiving, 2 stopped, `stop_type` 1 suspended) and a
    /// callback; `servicer/list` reports it (0 receiving, 1 stopped). A servicer who is not
    /// receiving cannot be given a session with `service_state/trans` (95019) and is skipped by
    /// [`auto_assign`](SimBuilder::auto_assign). False if the status was already that (no event).
    pub fn set_servicer_status(
        &self,
        open_kfid: &str,
        servicer_userid: &str,
        status: ServicerStatus,
    ) -> bool {
        let changed = self.inner.lock().set_servicer_status(open_kfid, servicer_userid, status);
        if changed {
            self.notify(open_kfid);
        }
        changed
    }

    /// The servicer ends the session in the WeCom client (`session_status_change` 3; state 4) —
    /// the hand-back: the customer's next message starts a new session (state 0) that the bot
    /// may answer again. Returns the event's 20 s closing `msg_code`.
    pub fn servicer_ends(&self, open_kfid: &str, external_userid: &str) -> String {
        let code = self.inner.lock().servicer_ends(open_kfid, external_userid);
        self.notify(open_kfid);
        code
    }

    /// Move the simulated clock forward (token expiry, 48 h, 20 s codes, 2 min recall, 3-day
    /// history). The clock is the wall clock plus every advance.
    pub fn advance(&self, by: Duration) {
        let mut state = self.inner.lock();
        state.offset = state.offset.saturating_add(by);
    }

    /// Simulated unix seconds now.
    pub fn now(&self) -> u64 {
        self.inner.lock().now()
    }

    /// Revoke every access token issued so far: the next call with one gets 40014.
    pub fn revoke_tokens(&self) {
        self.inner.lock().revoke_tokens();
    }

    /// Add a fault rule (see [`FaultRule`]).
    pub fn inject(&self, rule: FaultRule) {
        self.inner.lock().faults.push(rule);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        self.inner.lock().faults.clear();
    }

    /// The fault rules with their fire counts.
    pub fn faults(&self) -> Vec<FaultRule> {
        self.inner.lock().faults.clone()
    }

    /// The message log of `open_kfid` (what `sync_msg` serves), typed.
    pub fn messages(&self, open_kfid: &str) -> Vec<wxkf_types::message::Message> {
        let state = self.inner.lock();
        let log = state.accounts.get(open_kfid).map(|a| a.log.clone()).unwrap_or_default();
        log.into_iter().map(wxkf_types::message::Message::from_value).collect()
    }

    /// Everything sent through `send_msg` / `send_msg_on_event`, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.inner.lock().sent.clone()
    }

    /// How many messages were sent through `send_msg` / `send_msg_on_event` so far (clones
    /// nothing).
    pub fn sent_count(&self) -> usize {
        self.inner.lock().sent.len()
    }

    /// What was sent from position `start` of [`sent`](Self::sent) on, in order: a caller that
    /// remembers [`sent_count`](Self::sent_count) reads only what is new. Empty if `start` is past
    /// the end.
    pub fn sent_since(&self, start: usize) -> Vec<SentMessage> {
        self.inner.lock().sent.get(start..).map(<[SentMessage]>::to_vec).unwrap_or_default()
    }

    /// What was sent to `external_userid` of `open_kfid`, in order (the same as
    /// [`Customer::replies`]); costs what it returns, not the whole log.
    pub fn sent_to(&self, open_kfid: &str, external_userid: &str) -> Vec<SentMessage> {
        self.inner.lock().sent_to(open_kfid, external_userid)
    }

    /// Every API call received, in order, with the errcode answered.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.inner.lock().calls.clone()
    }

    /// How many calls hit `path`.
    pub fn call_count(&self, path: &str) -> usize {
        self.inner.lock().calls.iter().filter(|c| c.path == path).count()
    }

    /// Every callback push so far (finished ones; in-flight pushes appear when done).
    pub fn callbacks(&self) -> Vec<CallbackRecord> {
        self.inner.lock().callbacks.clone()
    }

    /// Waits until at least `n` messages were sent or `timeout` passes; returns what was sent.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        self.wait_until(timeout, |s| s.sent.len() >= n).await;
        self.sent()
    }

    /// Waits until at least `n` callback pushes finished or `timeout` passes.
    pub async fn wait_for_callbacks(&self, n: usize, timeout: Duration) -> Vec<CallbackRecord> {
        self.wait_until(timeout, |s| s.callbacks.len() >= n).await;
        self.callbacks()
    }

    async fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&State) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(&self.inner.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return done(&self.inner.lock());
            }
        }
    }

    /// Stops the server (in-flight requests finish).
    pub fn shutdown(&self) {
        if let Some(tx) = self.shutdown.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(());
        }
    }

    /// Pushes a `kf_msg_or_event` callback for `open_kfid` in the background (no-op without a
    /// callback URL). Retries like WeCom: after a connection failure or a timeout only (not after
    /// an HTTP status, unless [`SimBuilder::retry_on_status`]), `callback_attempts` attempts in
    /// all, each waiting at most the callback timeout.
    pub fn notify(&self, open_kfid: &str) {
        let Some(target) = self.inner.callback.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        let inner = self.inner.clone();
        let open_kfid = open_kfid.to_owned();
        self.inner.runtime.spawn(async move { push(inner, target, open_kfid).await });
    }
}

async fn push(inner: Arc<Inner>, target: CallbackTarget, open_kfid: String) {
    let (fired, token, corp_id) = {
        let mut state = inner.lock();
        let fired = fault::evaluate(&mut state.faults, &Target::Callbacks);
        let token = state.issue_sync_token(&open_kfid);
        (fired, token, state.corp_id.clone())
    };
    // Wall-clock time, not the simulated clock: receivers check the timestamp against their own
    // clock (replay protection), which `advance` does not move.
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut record = CallbackRecord {
        open_kfid: open_kfid.clone(),
        token: token.clone(),
        attempts: 0,
        delivered: false,
        status: None,
    };
    if !fired.latency.is_zero() {
        tokio::time::sleep(fired.latency).await;
    }
    if !fired.drop {
        let event = CallbackEvent::KfMsgOrEvent {
            to_user_name: corp_id.clone(),
            create_time: now,
            token,
            open_kfid: Some(open_kfid),
        };
        if let Ok(encrypt) = target.crypto.encrypt(event.to_xml().as_bytes()) {
            let body = format!(
                "<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
            );
            for attempt in 1..=inner.callback_attempts {
                record.attempts = attempt;
                let timestamp = now.to_string();
                let nonce = crate::state::random_id("", 10);
                let signature = target.crypto.sign(&timestamp, &nonce, &encrypt).to_hex();
                let sep = if target.url.contains('?') { '&' } else { '?' };
                let url = format!(
                    "{}{sep}msg_signature={signature}&timestamp={timestamp}&nonce={nonce}",
                    target.url
                );
                let _slot = match &inner.callback_slots {
                    Some(slots) => slots.acquire().await.ok(),
                    None => None,
                };
                let sent =
                    inner.http.post(&url).header("content-type", "text/xml").body(body.clone()).send().await;
                // WeCom "retries only on a network connection failure or a request timeout" (5 s, 3
                // attempts in all): its callback documentation, quoted in GentleCP/corpwechatbot#25.
                // An HTTP status, 503 included, is an answer and ends the delivery.
                match sent {
                    Ok(resp) => {
                        let status = resp.status();
                        record.status = Some(status.as_u16());
                        if status.is_success() {
                            record.delivered = true;
                            break;
                        }
                        if !inner.retry_on_status {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) if e.is_timeout() => record.status = None,
                    Err(_) => {
                        record.status = None;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }
    inner.lock().callbacks.push(record);
    inner.changed.notify_waiters();
}

/// A simulated WeChat customer of one Kf account. Each action appends to the account's message
/// log (what `sync_msg` returns) and pushes a callback.
#[derive(Debug, Clone)]
pub struct Customer {
    sim: SimHandle,
    open_kfid: String,
    external_userid: String,
}

impl Customer {
    /// The customer's `external_userid`.
    pub fn external_userid(&self) -> &str {
        &self.external_userid
    }

    /// The account they talk to.
    pub fn open_kfid(&self) -> &str {
        &self.open_kfid
    }

    /// Sets the nickname `customer/batchget` reports.
    pub fn set_nickname(&self, nickname: &str) {
        self.sim.inner.lock().customers.insert(self.external_userid.clone(), nickname.to_owned());
    }

    /// Enters the chat (an `enter_session` event, empty scene). Returns the `welcome_code` when
    /// one may be used (no customer message and no welcome within 48 h).
    pub fn enter(&self) -> Option<String> {
        self.enter_with("", "")
    }

    /// Enters the chat through a contact link with `scene` and `scene_param`.
    pub fn enter_with(&self, scene: &str, scene_param: &str) -> Option<String> {
        let code =
            self.sim.inner.lock().customer_enter(&self.open_kfid, &self.external_userid, scene, scene_param);
        self.sim.notify(&self.open_kfid);
        code
    }

    /// Sends `{"msgtype": T, T: payload}` (any message kind of kf-api.md §5.2); returns its msgid.
    pub fn send(&self, content: Value) -> String {
        let msgid = self.sim.inner.lock().customer_message(&self.open_kfid, &self.external_userid, content);
        self.sim.notify(&self.open_kfid);
        msgid
    }

    /// Says `text`.
    pub fn say(&self, text: &str) -> String {
        self.send(json!({"msgtype": "text", "text": {"content": text}}))
    }

    /// Clicks a menu `click` item: a text with `menu_id` (does not reopen the 48 h window of a
    /// session that already had a customer message).
    pub fn click_menu(&self, menu_id: &str, content: &str) -> String {
        self.send(json!({"msgtype": "text", "text": {"content": content, "menu_id": menu_id}}))
    }

    /// Sends an image; the bytes become a media id `media/get` serves.
    pub fn send_image(&self, bytes: impl Into<bytes::Bytes>) -> String {
        self.send_media("image", "image.jpg", bytes.into())
    }

    /// Sends a file named `filename`.
    pub fn send_file(&self, filename: &str, bytes: impl Into<bytes::Bytes>) -> String {
        self.send_media("file", filename, bytes.into())
    }

    /// Sends media of `kind` (`image`, `voice`, `video`, `file`); the bytes become a media id
    /// `media/get` serves.
    pub fn send_media(&self, kind: &str, filename: &str, bytes: bytes::Bytes) -> String {
        let media_id = self.sim.inner.lock().store_media(kind, filename, None, bytes);
        self.send(json!({"msgtype": kind, kind: {"media_id": media_id}}))
    }

    /// Shares a location.
    pub fn send_location(&self, name: &str, latitude: f64, longitude: f64) -> String {
        self.send(json!({"msgtype": "location",
                         "location": {"name": name, "latitude": latitude, "longitude": longitude}}))
    }

    /// Recalls one of their messages (a `user_recall_msg` event).
    pub fn recall(&self, msgid: &str) {
        self.sim.inner.lock().customer_recall(&self.open_kfid, &self.external_userid, msgid);
        self.sim.notify(&self.open_kfid);
    }

    /// What the bot sent this customer, in order. Reads this customer's messages only (an index
    /// by account and customer), not the whole log.
    pub fn replies(&self) -> Vec<SentMessage> {
        self.sim.sent_to(&self.open_kfid, &self.external_userid)
    }

    /// How many messages the bot sent this customer (clones nothing).
    pub fn reply_count(&self) -> usize {
        self.sim.inner.lock().sent_count_to(&self.open_kfid, &self.external_userid)
    }

    /// Waits until the bot sent this customer at least `n` messages, or `timeout` passes; returns
    /// what it sent them. Wakes only when this customer is sent a message.
    pub async fn wait_for_replies(&self, n: usize, timeout: Duration) -> Vec<SentMessage> {
        let key = (self.open_kfid.clone(), self.external_userid.clone());
        let waiter = self.sim.inner.lock().reply_waiters.entry(key.clone()).or_default().clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = waiter.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.reply_count() >= n {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let mut state = self.sim.inner.lock();
        // the last waiter of this customer removes its entry (the map holds one reference)
        if Arc::strong_count(&waiter) == 2 {
            state.reply_waiters.remove(&key);
        }
        state.sent_to(&self.open_kfid, &self.external_userid)
    }
}
