//! The simulated corp: tokens, accounts, servicers, sessions, the message log, codes, media and
//! what the API sent — and the rules WeCom applies to them (kf-api.md §1-§11, §13).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

use wxkf_types::media::MediaType;
use wxkf_types::message::{SendMessage, SendMsgOnEventRequest, SendMsgRequest};

use crate::fault::FaultRule;
use crate::rules::{ExpiredSendAnswer, Rules, ServicerStatus, SessionClock, SyncPaging};

/// 48 hours: the send window and the reply/pool code lifetime (kf-api.md §13).
pub(crate) const H48: u64 = 48 * 3600;
/// 3 days: sync_msg history and media lifetime.
pub(crate) const DAYS3: u64 = 3 * 24 * 3600;
/// 10 minutes: the callback `Token` for sync_msg.
pub(crate) const SYNC_TOKEN_TTL: u64 = 600;
/// 20 seconds: welcome and closing codes.
pub(crate) const CODE_20S: u64 = 20;
/// 2 minutes: recall window.
pub(crate) const RECALL_WINDOW: u64 = 120;
/// Messages per customer message.
pub(crate) const MAX_REPLIES: u32 = 5;

/// An API error: errcode and the text before WeCom's hint suffix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError(pub(crate) i64, pub(crate) String);

pub(crate) fn err<T>(code: i64, msg: impl Into<String>) -> Result<T, ApiError> {
    Err(ApiError(code, msg.into()))
}

pub(crate) fn random_id(prefix: &str, len: usize) -> String {
    let tail: String = rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect();
    format!("{prefix}{tail}")
}

/// One message the bot sent through `send_msg` or `send_msg_on_event`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The sending Kf account.
    pub open_kfid: String,
    /// The customer.
    pub touser: String,
    /// The msgid (the caller's, or one the simulator made).
    pub msgid: String,
    /// `msgtype` (text, image, msgmenu, ...).
    pub msgtype: String,
    /// `{"msgtype": T, T: payload}` as sent.
    pub message: Value,
    /// Simulated unix seconds when it was accepted.
    pub sent_at: u64,
    /// The code, when sent with `send_msg_on_event`.
    pub code: Option<String>,
    /// Whether it was recalled since.
    pub recalled: bool,
}

impl SentMessage {
    /// The text content of a `text` message.
    pub fn text(&self) -> Option<&str> {
        self.message.get("text")?.get("content")?.as_str()
    }

    /// The message as the typed [`SendMessage`] of wxkf-types (`None` if it does not parse, which
    /// the simulator never accepts).
    pub fn send_message(&self) -> Option<SendMessage> {
        serde_json::from_value(self.message.clone()).ok()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) name: String,
    pub(crate) media_id: String,
    pub(crate) servicers: Vec<String>,
    pub(crate) departments: Vec<u32>,
    pub(crate) log: Vec<Value>,
    /// Receiving status per servicer (absent: receiving).
    pub(crate) status: HashMap<String, ServicerStatus>,
    /// Round robin position of auto-assignment.
    pub(crate) next_assign: usize,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    pub(crate) state: u32,
    pub(crate) servicer: Option<String>,
    pub(crate) last_customer_msg: Option<u64>,
    /// When the current session started (its first customer message, or a servicer re-joining).
    pub(crate) started_at: Option<u64>,
    /// The customer's last `enter_session`.
    pub(crate) last_entered: Option<u64>,
    pub(crate) sent_since: u32,
    pub(crate) last_welcome: Option<u64>,
    pub(crate) entered: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Code {
    pub(crate) open_kfid: String,
    pub(crate) external_userid: String,
    pub(crate) issued_at: u64,
    pub(crate) ttl: u64,
    /// The session state the code belongs to (`None`: the welcome code, any state).
    pub(crate) state: Option<u32>,
    pub(crate) used: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Media {
    pub(crate) kind: String,
    pub(crate) filename: String,
    pub(crate) content_type: String,
    pub(crate) bytes: bytes::Bytes,
    pub(crate) created_at: u64,
}

/// One call the API received.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallRecord {
    /// The path, e.g. `/cgi-bin/kf/send_msg`.
    pub path: String,
    /// The errcode of the simulator's answer (0 on success; `None` for HTTP-level faults and raw
    /// media bodies). With [`Fault::AfterHandle`](crate::fault::Fault::AfterHandle) it is the errcode
    /// of the answer that was then lost.
    pub errcode: Option<i64>,
    /// Whether the answer was lost after the call was handled
    /// ([`Fault::AfterHandle`](crate::fault::Fault::AfterHandle)).
    pub answer_lost: bool,
}

/// One callback push (with its retries).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallbackRecord {
    /// The account with new messages (`OpenKfId`).
    pub open_kfid: String,
    /// The sync_msg `Token` the callback carried.
    pub token: String,
    /// HTTP attempts made (0 when dropped by a fault).
    pub attempts: u32,
    /// Whether an attempt got a 2xx answer within the timeout.
    pub delivered: bool,
    /// The HTTP status of the last attempt (`None`: no answer — a connection failure, a timeout,
    /// or no attempt).
    pub status: Option<u16>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) corp_id: String,
    pub(crate) secret: String,
    pub(crate) token_ttl: u64,
    pub(crate) offset: Duration,
    pub(crate) tokens: HashMap<String, (u64, bool)>,
    pub(crate) accounts: BTreeMap<String, Account>,
    pub(crate) sessions: HashMap<(String, String), Session>,
    pub(crate) customers: BTreeMap<String, String>,
    pub(crate) sync_tokens: HashMap<String, (String, u64)>,
    pub(crate) codes: HashMap<String, Code>,
    pub(crate) sent: Vec<SentMessage>,
    /// Positions in `sent` per (open_kfid, customer), in order: the inspection helpers read one
    /// customer's replies without walking the whole log.
    pub(crate) sent_by_customer: HashMap<(String, String), Vec<usize>>,
    /// Position in `sent` per (open_kfid, msgid) (msgids are unique per account).
    pub(crate) sent_by_msgid: HashMap<(String, String), usize>,
    /// Woken when a message is sent to that (open_kfid, customer): `wait_for_replies` waits on
    /// its customer's only, not on every change of the simulator.
    pub(crate) reply_waiters: HashMap<(String, String), std::sync::Arc<tokio::sync::Notify>>,
    pub(crate) msgids: HashSet<(String, String)>,
    pub(crate) media: HashMap<String, Media>,
    pub(crate) calls: Vec<CallRecord>,
    pub(crate) callbacks: Vec<CallbackRecord>,
    /// Every account's items in one log, for sync_msg without `open_kfid` (older readings).
    pub(crate) all_log: Vec<Value>,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) seq: u64,
    pub(crate) rules: Rules,
    /// Simulated milliseconds of the tokenless sync_msg calls in the current window, per account.
    pub(crate) tokenless: HashMap<String, VecDeque<u64>>,
}

impl State {
    pub(crate) fn new(corp_id: String, secret: String, token_ttl: u64) -> Self {
        State {
            corp_id,
            secret,
            token_ttl,
            offset: Duration::ZERO,
            tokens: HashMap::new(),
            accounts: BTreeMap::new(),
            sessions: HashMap::new(),
            customers: BTreeMap::new(),
            sync_tokens: HashMap::new(),
            codes: HashMap::new(),
            sent: Vec::new(),
            sent_by_customer: HashMap::new(),
            sent_by_msgid: HashMap::new(),
            reply_waiters: HashMap::new(),
            msgids: HashSet::new(),
            media: HashMap::new(),
            calls: Vec::new(),
            callbacks: Vec::new(),
            all_log: Vec::new(),
            faults: Vec::new(),
            seq: 0,
            rules: Rules::default(),
            tokenless: HashMap::new(),
        }
    }

    /// Simulated unix seconds: the wall clock plus every `SimHandle::advance`.
    pub(crate) fn now(&self) -> u64 {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        wall.saturating_add(self.offset.as_secs())
    }

    /// Simulated unix milliseconds (the rate-limit windows need less than a second).
    pub(crate) fn now_ms(&self) -> u64 {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let ms = wall.saturating_add(self.offset.as_millis());
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    // ---- tokens (§1) ----

    pub(crate) fn gettoken(&mut self, corpid: Option<&str>, secret: Option<&str>) -> Result<Value, ApiError> {
        let corpid = corpid.filter(|s| !s.is_empty()).ok_or(ApiError(41002, "corpid missing".into()))?;
        let secret = secret.filter(|s| !s.is_empty()).ok_or(ApiError(41004, "corpsecret missing".into()))?;
        if corpid != self.corp_id {
            return err(40013, "invalid corpid");
        }
        if secret != self.secret {
            return err(40001, "invalid credential, access_token is invalid or not latest");
        }
        let token = random_id("", 64);
        let expires_at = self.now().saturating_add(self.token_ttl);
        self.tokens.insert(token.clone(), (expires_at, false));
        Ok(json!({"access_token": token, "expires_in": self.token_ttl}))
    }

    pub(crate) fn check_token(&self, token: Option<&str>) -> Result<(), ApiError> {
        let token = token.filter(|s| !s.is_empty()).ok_or(ApiError(41001, "access_token missing".into()))?;
        match self.tokens.get(token) {
            None | Some((_, true)) => err(40014, "invalid access_token"),
            Some((expires_at, false)) if self.now() >= *expires_at => err(42001, "access_token expired"),
            Some(_) => Ok(()),
        }
    }

    pub(crate) fn revoke_tokens(&mut self) {
        for entry in self.tokens.values_mut() {
            entry.1 = true;
        }
    }

    // ---- accounts (§2) ----

    pub(crate) fn ensure_account(&mut self, open_kfid: &str, name: &str) {
        self.accounts.entry(open_kfid.to_owned()).or_insert_with(|| Account {
            name: name.to_owned(),
            media_id: String::new(),
            servicers: Vec::new(),
            departments: Vec::new(),
            log: Vec::new(),
            status: HashMap::new(),
            next_assign: 0,
        });
    }

    fn account(&self, open_kfid: &str) -> Result<&Account, ApiError> {
        if open_kfid.is_empty() {
            return err(95000, "invalid open_kfid");
        }
        self.accounts.get(open_kfid).ok_or(ApiError(95004, "open_kfid not exist".into()))
    }

    fn account_mut(&mut self, open_kfid: &str) -> Result<&mut Account, ApiError> {
        self.account(open_kfid)?;
        self.accounts.get_mut(open_kfid).ok_or(ApiError(95004, "open_kfid not exist".into()))
    }

    pub(crate) fn account_add(&mut self, body: &Value) -> Result<Value, ApiError> {
        let name = str_field(body, "name")?;
        let media_id = str_field(body, "media_id")?;
        if name.chars().count() > 16 {
            return err(95006, "invalid kf account name");
        }
        let open_kfid = random_id("wk", 28);
        self.ensure_account(&open_kfid, &name);
        if let Some(account) = self.accounts.get_mut(&open_kfid) {
            account.media_id = media_id;
        }
        Ok(json!({"open_kfid": open_kfid}))
    }

    pub(crate) fn account_del(&mut self, body: &Value) -> Result<Value, ApiError> {
        let open_kfid = str_field(body, "open_kfid")?;
        self.account(&open_kfid)?;
        self.accounts.remove(&open_kfid);
        Ok(json!({}))
    }

    pub(crate) fn account_update(&mut self, body: &Value) -> Result<Value, ApiError> {
        let open_kfid = str_field(body, "open_kfid")?;
        let account = self.account_mut(&open_kfid)?;
        if let Some(name) = body.get("name").and_then(Value::as_str) {
            if name.chars().count() > 16 {
                return err(95006, "invalid kf account name");
            }
            account.name = name.to_owned();
        }
        if let Some(media_id) = body.get("media_id").and_then(Value::as_str) {
            account.media_id = media_id.to_owned();
        }
        Ok(json!({}))
    }

    pub(crate) fn account_list(&self, body: &Value) -> Result<Value, ApiError> {
        let offset = body.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
        let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(100);
        if !(1..=100).contains(&limit) {
            return err(40058, "invalid Parameter: limit");
        }
        let list: Vec<Value> = self
            .accounts
            .iter()
            .skip(offset)
            .take(limit as usize)
            .map(|(id, a)| {
                json!({"open_kfid": id, "name": a.name,
                       "avatar": format!("https://wework.qpic.cn/wwpic/{id}/0"), "manage_privilege": true})
            })
            .collect();
        Ok(json!({"account_list": list}))
    }

    pub(crate) fn add_contact_way(&self, body: &Value) -> Result<Value, ApiError> {
        let open_kfid = str_field(body, "open_kfid")?;
        self.account(&open_kfid)?;
        let scene = body.get("scene").and_then(Value::as_str).unwrap_or("");
        Ok(json!({"url": format!("https://work.weixin.qq.com/kf/{open_kfid}?enc_scene=ENC{scene}")}))
    }

    // ---- servicers (§3) ----

    pub(crate) fn servicer_change(&mut self, body: &Value, add: bool) -> Result<Value, ApiError> {
        let open_kfid = str_field(body, "open_kfid")?;
        let users = str_list(body, "userid_list");
        let departments: Vec<u32> = body
            .get("department_id_list")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).filter_map(|d| u32::try_from(d).ok()).collect())
            .unwrap_or_default();
        if users.is_empty() && departments.is_empty() {
            return err(40058, "invalid Parameter: userid_list and department_id_list are both empty");
        }
        if users.len() > 100 || departments.len() > 100 {
            return err(40058, "invalid Parameter: more than 100 ids");
        }
        let account = self.account_mut(&open_kfid)?;
        let mut result = Vec::new();
        for user in users {
            if add {
                if !account.servicers.contains(&user) {
                    account.servicers.push(user.clone());
                }
            } else {
                account.servicers.retain(|s| *s != user);
            }
            result.push(json!({"userid": user, "errcode": 0, "errmsg": "success"}));
        }
        for department in departments {
            if add {
                if !account.departments.contains(&department) {
                    account.departments.push(department);
                }
            } else {
                account.departments.retain(|d| *d != department);
            }
            result.push(json!({"department_id": department, "errcode": 0, "errmsg": "success"}));
        }
        Ok(json!({"result_list": result}))
    }

    pub(crate) fn servicer_list(&self, open_kfid: &str) -> Result<Value, ApiError> {
        let account = self.account(open_kfid)?;
        let mut list: Vec<Value> = account
            .servicers
            .iter()
            .map(|u| {
                let (status, stop_type) = account.status.get(u).copied().unwrap_or_default().list_fields();
                let mut entry = json!({"userid": u, "status": status});
                if let Some(stop_type) = stop_type {
                    entry["stop_type"] = json!(stop_type);
                }
                entry
            })
            .collect();
        list.extend(account.departments.iter().map(|d| json!({"department_id": d})));
        Ok(json!({"servicer_list": list}))
    }

    // ---- session state (§4) ----

    fn session(&self, open_kfid: &str, external_userid: &str) -> Option<&Session> {
        self.sessions.get(&(open_kfid.to_owned(), external_userid.to_owned()))
    }

    fn session_mut(&mut self, open_kfid: &str, external_userid: &str) -> &mut Session {
        self.sessions
            .entry((open_kfid.to_owned(), external_userid.to_owned()))
            .or_insert_with(|| Session { state: 4, ..Session::default() })
    }

    /// Ends sessions whose 48 hours have run out (state → 4). kf-api.md §4.0: a session lasts
    /// "from the customer's first message until 48 h later or until it is ended"; the
    /// [`SessionClock`] switch counts from the last message instead.
    fn expire_session(&mut self, open_kfid: &str, external_userid: &str) {
        let now = self.now();
        let clock = self.rules.session_clock;
        let session = self.session_mut(open_kfid, external_userid);
        let from = match clock {
            SessionClock::FromFirstMessage => session.started_at,
            SessionClock::FromLastMessage => session.last_customer_msg.max(session.started_at),
        };
        if session.state != 4 && from.is_none_or(|t| now >= t.saturating_add(H48)) {
            session.state = 4;
            session.servicer = None;
        }
    }

    /// The next receiving servicer of `open_kfid`, round robin (auto-assignment).
    fn pick_receiving(&mut self, open_kfid: &str) -> Option<String> {
        let account = self.accounts.get_mut(open_kfid)?;
        let receiving: Vec<&String> = account
            .servicers
            .iter()
            .filter(|u| account.status.get(*u).copied().unwrap_or_default() == ServicerStatus::Receiving)
            .collect();
        if receiving.is_empty() {
            return None;
        }
        let pick = receiving[account.next_assign % receiving.len()].clone();
        account.next_assign = account.next_assign.wrapping_add(1);
        Some(pick)
    }

    /// A servicer's receiving status changes: a `servicer_status_change` event (kf-api.md §5.3:
    /// 1 receiving, 2 stopped, `stop_type` 1 suspended). False if the status was already that.
    pub(crate) fn set_servicer_status(
        &mut self,
        open_kfid: &str,
        userid: &str,
        status: ServicerStatus,
    ) -> bool {
        self.ensure_account(open_kfid, open_kfid);
        let Some(account) = self.accounts.get_mut(open_kfid) else { return false };
        if !account.servicers.iter().any(|s| s == userid) {
            account.servicers.push(userid.to_owned());
        }
        let old = account.status.insert(userid.to_owned(), status).unwrap_or_default();
        if old == status {
            return false;
        }
        let (code, stop_type) = status.event_fields();
        let mut event = json!({"event_type": "servicer_status_change", "open_kfid": open_kfid,
            "servicer_userid": userid, "status": code});
        if let Some(stop_type) = stop_type {
            event["stop_type"] = json!(stop_type);
        }
        self.append_event(open_kfid, event);
        true
    }

    pub(crate) fn service_state_get(&mut self, body: &Value) -> Result<Value, ApiError> {
        let open_kfid = str_field(body, "open_kfid")?;
        let user = str_field(body, "external_userid")?;
        self.account(&open_kfid)?;
        self.known_customer(&user)?;
        self.expire_session(&open_kfid, &user);
        let session = self.session_mut(&open_kfid, &user);
        let mut out = json!({"service_state": session.state});
        if let Some(servicer) = &session.servicer {
            out["servicer_userid"] = json!(servicer);
        }
        Ok(out)
    }

    pub(crate) fn service_state_trans(&mut self, body: &Value) -> Result<Value, ApiError> {
        let open_kfid = str_field(body, "open_kfid")?;
        let user = str_field(body, "external_userid")?;
        let target = body
            .get("service_state")
            .and_then(Value::as_u64)
            .ok_or(ApiError(40058, "invalid Parameter: service_state".into()))?;
        let servicer = body.get("servicer_userid").and_then(Value::as_str).map(str::to_owned);
        let account = self.account(&open_kfid)?;
        let servicers = account.servicers.clone();
        let receiving = servicer
            .as_ref()
            .is_some_and(|s| account.status.get(s).copied().unwrap_or_default() == ServicerStatus::Receiving);
        self.known_customer(&user)?;
        self.expire_session(&open_kfid, &user);
        let now = self.now();
        let session = self.session_mut(&open_kfid, &user);
        let from = session.state;
        let allowed = match from {
            0 => matches!(target, 1..=4),
            1 => matches!(target, 2..=4),
            2 | 3 => matches!(target, 3 | 4),
            _ => false,
        };
        if from == 4 {
            return err(95013, "session already ended");
        }
        if !allowed {
            return err(95016, "service state transition not allowed");
        }
        if target == 3 {
            match &servicer {
                Some(s) if servicers.contains(s) => {}
                _ => return err(95014, "servicer_userid is not a servicer of this kf account"),
            }
            // kf-api.md §4.2: the servicer "must currently be receiving"; errcodes.md 95019
            if !receiving {
                return err(95019, "servicer has stopped receiving or is suspended");
            }
        }
        session.state = target as u32;
        session.servicer = if target == 3 { servicer } else { None };
        let code_ttl = match target {
            2 | 3 if u64::from(from) != target => Some(H48),
            4 => Some(CODE_20S),
            _ => None,
        };
        let mut out = json!({});
        if let Some(ttl) = code_ttl {
            let code = random_id("MSGCODE", 24);
            self.codes.insert(
                code.clone(),
                Code {
                    open_kfid,
                    external_userid: user,
                    issued_at: now,
                    ttl,
                    state: Some(target as u32),
                    used: false,
                },
            );
            out["msg_code"] = json!(code);
        }
        Ok(out)
    }

    // ---- customers (§7) ----

    fn known_customer(&self, external_userid: &str) -> Result<(), ApiError> {
        if self.customers.contains_key(external_userid) {
            Ok(())
        } else {
            err(40096, "invalid external_userid")
        }
    }

    pub(crate) fn customer_batchget(&self, body: &Value) -> Result<Value, ApiError> {
        let ids = str_list(body, "external_userid_list");
        if ids.is_empty() || ids.len() > 100 {
            return err(40058, "invalid Parameter: external_userid_list must hold 1..100 ids");
        }
        let context = body.get("need_enter_session_context").and_then(Value::as_u64) == Some(1);
        let now = self.now();
        // Only customers active within 48 h resolve (AstrBot#1699; field-notes.md): activity is a
        // message or an entry into the chat. The legacy switch resolves everyone.
        let active = |id: &str| {
            self.rules.batchget_any_customer
                || self.sessions.iter().any(|((_, u), s)| {
                    u == id
                        && s.last_customer_msg
                            .max(s.last_entered)
                            .is_some_and(|t| now < t.saturating_add(H48))
                })
        };
        let mut list = Vec::new();
        let mut invalid = Vec::new();
        for id in ids {
            match self.customers.get(&id).filter(|_| active(&id)) {
                Some(nickname) => {
                    let mut c = json!({"external_userid": id, "nickname": nickname,
                        "avatar": format!("https://wx.qlogo.cn/mmhead/{id}/0"), "gender": 0, "unionid": ""});
                    if context {
                        let entered = self
                            .sessions
                            .iter()
                            .find_map(|((_, u), s)| if *u == id { s.entered.clone() } else { None });
                        if let Some((scene, scene_param)) = entered {
                            c["enter_session_context"] = json!({"scene": scene, "scene_param": scene_param});
                        }
                    }
                    list.push(c);
                }
                None => invalid.push(id),
            }
        }
        Ok(json!({"customer_list": list, "invalid_external_userid": invalid}))
    }

    // ---- the customer side ----

    pub(crate) fn add_customer(&mut self, open_kfid: &str, external_userid: &str) {
        self.ensure_account(open_kfid, open_kfid);
        self.customers
            .entry(external_userid.to_owned())
            .or_insert_with(|| format!("Customer {external_userid}"));
        self.session_mut(open_kfid, external_userid);
    }

    fn append(&mut self, open_kfid: &str, item: Value) {
        if let Some(account) = self.accounts.get_mut(open_kfid) {
            account.log.push(item.clone());
            self.all_log.push(item);
        }
    }

    /// The customer enters the chat: an `enter_session` event, with a welcome code when one may
    /// be sent (no customer message and no welcome within 48 h; kf-api.md §5.5).
    pub(crate) fn customer_enter(
        &mut self,
        open_kfid: &str,
        user: &str,
        scene: &str,
        scene_param: &str,
    ) -> Option<String> {
        self.add_customer(open_kfid, user);
        let now = self.now();
        let session = self.session_mut(open_kfid, user);
        session.entered = Some((scene.to_owned(), scene_param.to_owned()));
        session.last_entered = Some(now);
        let recent = |t: Option<u64>| t.is_some_and(|t| now < t.saturating_add(H48));
        let welcome = !recent(session.last_customer_msg) && !recent(session.last_welcome);
        let mut event = json!({"event_type": "enter_session", "open_kfid": open_kfid,
            "external_userid": user, "scene": scene, "scene_param": scene_param});
        let code = welcome.then(|| random_id("WELCOME", 24));
        if let Some(code) = &code {
            event["welcome_code"] = json!(code);
            self.codes.insert(
                code.clone(),
                Code {
                    open_kfid: open_kfid.to_owned(),
                    external_userid: user.to_owned(),
                    issued_at: now,
                    ttl: CODE_20S,
                    state: None,
                    used: false,
                },
            );
        }
        let seq = self.next_seq();
        self.append(
            open_kfid,
            json!({"msgid": format!("sim_event_{seq}"), "send_time": now, "origin": 4,
                   "msgtype": "event", "event": event}),
        );
        code
    }

    /// The customer sends `{"msgtype": T, T: payload}`; returns the msgid.
    pub(crate) fn customer_message(&mut self, open_kfid: &str, user: &str, content: Value) -> String {
        self.add_customer(open_kfid, user);
        let now = self.now();
        self.expire_session(open_kfid, user);
        let is_menu_click = content.get("text").and_then(|t| t.get("menu_id")).is_some();
        let session = self.session_mut(open_kfid, user);
        if !is_menu_click || session.last_customer_msg.is_none() {
            session.last_customer_msg = Some(now);
            session.sent_since = 0;
        }
        // kf-api.md §4.0: "a new customer message turns [4] into 0"; a new session starts
        let new_session = session.state == 4;
        if new_session {
            session.state = 0;
            session.started_at = Some(now);
        }
        if new_session && self.rules.auto_assign {
            // the auto_assign switch: WeCom hands the new session to a receiving servicer
            // (LangBot#1547)
            if let Some(servicer) = self.pick_receiving(open_kfid) {
                let session = self.session_mut(open_kfid, user);
                session.state = 3;
                session.servicer = Some(servicer);
            }
        }
        let seq = self.next_seq();
        let msgid = format!("sim_msgid_{seq}");
        let mut item = json!({"msgid": msgid, "open_kfid": open_kfid, "external_userid": user,
                              "send_time": now, "origin": 3});
        if let (Value::Object(item), Value::Object(content)) = (&mut item, content) {
            item.extend(content);
        }
        self.append(open_kfid, item);
        msgid
    }

    /// A `user_recall_msg` event for a customer message.
    pub(crate) fn customer_recall(&mut self, open_kfid: &str, user: &str, msgid: &str) {
        let now = self.now();
        let seq = self.next_seq();
        self.append(
            open_kfid,
            json!({"msgid": format!("sim_event_{seq}"), "send_time": now, "origin": 4, "msgtype": "event",
                   "event": {"event_type": "user_recall_msg", "open_kfid": open_kfid,
                             "external_userid": user, "recall_msgid": msgid}}),
        );
    }

    fn append_event(&mut self, open_kfid: &str, event: Value) {
        let now = self.now();
        let seq = self.next_seq();
        self.append(
            open_kfid,
            json!({"msgid": format!("sim_event_{seq}"), "send_time": now, "origin": 4,
                   "msgtype": "event", "event": event}),
        );
    }

    fn issue_code(&mut self, open_kfid: &str, user: &str, ttl: u64, state: u32) -> String {
        let code = random_id("MSGCODE", 24);
        let now = self.now();
        self.codes.insert(
            code.clone(),
            Code {
                open_kfid: open_kfid.to_owned(),
                external_userid: user.to_owned(),
                issued_at: now,
                ttl,
                state: Some(state),
                used: false,
            },
        );
        code
    }

    /// A `msg_send_fail` event for a message the API sent; false if no such message.
    pub(crate) fn fail_delivery(&mut self, msgid: &str, fail_type: u32) -> Option<String> {
        // the first message sent with that msgid, by any account
        let sent = self
            .sent_by_msgid
            .iter()
            .filter(|((_, m), _)| m == msgid)
            .map(|(_, &i)| i)
            .min()
            .map(|i| self.sent[i].clone())?;
        self.append_event(
            &sent.open_kfid,
            json!({"event_type": "msg_send_fail", "open_kfid": sent.open_kfid,
                   "external_userid": sent.touser, "fail_msgid": msgid, "fail_type": fail_type}),
        );
        Some(sent.open_kfid)
    }

    /// A servicer writes from the WeCom client (origin 5). In an ended session this re-joins it:
    /// state 3 and a `session_status_change` with `change_type` 4 (kf-api.md §4.0).
    pub(crate) fn servicer_message(&mut self, open_kfid: &str, user: &str, servicer: &str, text: &str) {
        self.add_customer(open_kfid, user);
        self.expire_session(open_kfid, user);
        let now = self.now();
        let session = self.session_mut(open_kfid, user);
        let rejoin = session.state == 4;
        session.state = 3;
        session.servicer = Some(servicer.to_owned());
        if rejoin {
            session.started_at = Some(now);
            self.append_event(
                open_kfid,
                json!({"event_type": "session_status_change", "open_kfid": open_kfid,
                       "external_userid": user, "change_type": 4, "new_servicer_userid": servicer}),
            );
        }
        let seq = self.next_seq();
        self.append(
            open_kfid,
            json!({"msgid": format!("sim_servicer_{seq}"), "open_kfid": open_kfid, "external_userid": user,
                   "send_time": now, "origin": 5, "servicer_userid": servicer,
                   "msgtype": "text", "text": {"content": text}}),
        );
    }

    /// A servicer takes the session (from the pool, the bot or a new session) in the WeCom
    /// client: state 3 and `session_status_change` 1 with a 48 h `msg_code` (kf-api.md §5.3,
    /// §5.5). Returns the code. A session another servicer holds is transferred instead
    /// ([`State::servicer_transfers`]; no code: empty string).
    pub(crate) fn servicer_takes(&mut self, open_kfid: &str, user: &str, servicer: &str) -> String {
        self.add_customer(open_kfid, user);
        self.expire_session(open_kfid, user);
        let now = self.now();
        let session = self.session_mut(open_kfid, user);
        if session.state == 3 {
            if session.servicer.as_deref() != Some(servicer) {
                self.servicer_transfers(open_kfid, user, servicer);
            }
            return String::new();
        }
        if session.state == 4 {
            session.started_at = Some(now);
        }
        session.servicer = Some(servicer.to_owned());
        session.state = 3;
        let code = self.issue_code(open_kfid, user, H48, 3);
        self.append_event(
            open_kfid,
            json!({"event_type": "session_status_change", "open_kfid": open_kfid, "external_userid": user,
                   "change_type": 1, "new_servicer_userid": servicer, "msg_code": code}),
        );
        code
    }

    /// The servicer holding the session transfers it to `to` in the WeCom client: state stays 3,
    /// `session_status_change` 2 with the old and new servicer and no `msg_code` (kf-api.md
    /// §5.3). False if no servicer holds the session.
    pub(crate) fn servicer_transfers(&mut self, open_kfid: &str, user: &str, to: &str) -> bool {
        self.add_customer(open_kfid, user);
        self.expire_session(open_kfid, user);
        let session = self.session_mut(open_kfid, user);
        if session.state != 3 {
            return false;
        }
        let old = session.servicer.replace(to.to_owned());
        let mut event = json!({"event_type": "session_status_change", "open_kfid": open_kfid,
            "external_userid": user, "change_type": 2, "new_servicer_userid": to});
        if let Some(old) = old {
            event["old_servicer_userid"] = json!(old);
        }
        self.append_event(open_kfid, event);
        true
    }

    /// The servicer ends the session in the WeCom client: `session_status_change` 3 with a 20 s
    /// closing `msg_code`. Returns the code.
    pub(crate) fn servicer_ends(&mut self, open_kfid: &str, user: &str) -> String {
        self.add_customer(open_kfid, user);
        let session = self.session_mut(open_kfid, user);
        let old = session.servicer.take();
        session.state = 4;
        let code = self.issue_code(open_kfid, user, CODE_20S, 4);
        let mut event = json!({"event_type": "session_status_change", "open_kfid": open_kfid,
            "external_userid": user, "change_type": 3, "msg_code": code});
        if let Some(old) = old {
            event["old_servicer_userid"] = json!(old);
        }
        self.append_event(open_kfid, event);
        code
    }

    /// Issues the `Token` a callback carries (valid 10 minutes for sync_msg).
    pub(crate) fn issue_sync_token(&mut self, open_kfid: &str) -> String {
        let token = random_id("ENC", 44);
        let now = self.now();
        self.sync_tokens.insert(token.clone(), (open_kfid.to_owned(), now));
        token
    }

    // ---- sync_msg (§5.1) ----

    pub(crate) fn sync_msg(&mut self, body: &Value) -> Result<Value, ApiError> {
        // kf-api.md §5.1: open_kfid is required on the 2024-01-31 page (DISAGREEMENT with older
        // pages; wechatpy#771 "缺少必传字段open_kfid"). An empty string is refused as
        // "field `open_kfid` unexpected empty string. invalid Request Parameter" (silenceper#672);
        // errcodes.md 40058 covers "required value empty". The legacy switch serves every
        // account's items without it.
        let open_kfid = match body.get("open_kfid").and_then(Value::as_str) {
            None if self.rules.sync_open_kfid_optional => None,
            None => return err(40058, "invalid Request Parameter: field `open_kfid` is required"),
            Some("") if !self.rules.sync_open_kfid_optional => {
                return err(40058, "field `open_kfid` unexpected empty string. invalid Request Parameter");
            }
            Some(open_kfid) => {
                self.account(open_kfid)?;
                Some(open_kfid.to_owned())
            }
        };
        let now = self.now();
        let token = body.get("token").and_then(Value::as_str).filter(|t| !t.is_empty());
        if let Some(token) = token {
            match self.sync_tokens.get(token) {
                Some((_, issued)) if now < issued.saturating_add(SYNC_TOKEN_TTL) => {}
                _ => return err(95007, "invalid msg token"),
            }
        }
        let limit = match body.get("limit").and_then(Value::as_u64) {
            None | Some(0) => 1000,
            Some(n) => n.min(1000) as usize,
        };
        let (start, empty_served) = match body.get("cursor").and_then(Value::as_str).filter(|c| !c.is_empty())
        {
            None => (0, false),
            Some(cursor) => {
                decode_cursor(cursor).ok_or(ApiError(40058, "invalid Parameter: cursor".into()))?
            }
        };
        if token.is_none() {
            self.spend_tokenless(open_kfid.as_deref().unwrap_or(""))?;
        }
        let log = match &open_kfid {
            None => &self.all_log,
            Some(open_kfid) => &self.account(open_kfid)?.log,
        };
        let start = start.min(log.len());
        // kf-api.md §5.1: "fewer may come back even when more exist"; "has_more may be 1 with an
        // empty list" (the SyncPaging switch)
        let (cap, empty_first) = match self.rules.paging {
            SyncPaging::Full => (limit, false),
            SyncPaging::Short(n) => (limit.min(n.max(1)), false),
            SyncPaging::EmptyThenShort(n) => (limit.min(n.max(1)), true),
        };
        if empty_first && !empty_served && start < log.len() {
            return Ok(json!({"next_cursor": encode_cursor(start, true), "has_more": 1, "msg_list": []}));
        }
        let end = start.saturating_add(cap).min(log.len());
        let list: Vec<Value> = log[start..end]
            .iter()
            .filter(|item| {
                item.get("send_time").and_then(Value::as_u64).is_some_and(|t| now < t.saturating_add(DAYS3))
            })
            .cloned()
            .collect();
        let has_more = u32::from(end < log.len());
        Ok(json!({"next_cursor": encode_cursor(end, false), "has_more": has_more, "msg_list": list}))
    }

    /// Counts a `sync_msg` without a token against the account's budget; 45009 when spent
    /// (kf-api.md §5.1: "without it the call is subject to a strict (unpublished) frequency
    /// limit"; errcodes.md 45009). Refused calls do not count.
    fn spend_tokenless(&mut self, key: &str) -> Result<(), ApiError> {
        let Some(limit) = self.rules.tokenless_sync else {
            return Ok(());
        };
        let now = self.now_ms();
        let window = u64::try_from(limit.per.as_millis()).unwrap_or(u64::MAX);
        let calls = self.tokenless.entry(key.to_owned()).or_default();
        while calls.front().is_some_and(|t| now >= t.saturating_add(window)) {
            calls.pop_front();
        }
        if calls.len() >= limit.calls as usize {
            return err(
                45009,
                format!(
                    "api freq out of limit: sync_msg without token, at most {} calls per {} s",
                    limit.calls,
                    limit.per.as_secs()
                ),
            );
        }
        calls.push_back(now);
        Ok(())
    }

    // ---- send_msg, send_msg_on_event, recall_msg (§5.4-§5.6) ----

    fn check_msgid(&self, open_kfid: &str, msgid: Option<&str>) -> Result<String, ApiError> {
        match msgid {
            None => Ok(random_id("sim_sent_", 20)),
            // kf-api.md §5.4: optional, but a present empty one is refused (silenceper#563 had to
            // stop sending it; the answer as silenceper#672 quotes it for an empty field)
            Some("") => err(40058, "field `msgid` unexpected empty string. invalid Request Parameter"),
            Some(m)
                if m.len() > 32
                    || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                err(40058, "invalid Parameter: msgid")
            }
            Some(m) if self.msgids.contains(&(open_kfid.to_owned(), m.to_owned())) => {
                err(wxkf_types::errcode::DUPLICATE_MSGID, "invalid Parameter: duplicate msgid")
            }
            Some(m) => Ok(m.to_owned()),
        }
    }

    /// What was sent to `touser` of `open_kfid`, in order (clones only those).
    pub(crate) fn sent_to(&self, open_kfid: &str, touser: &str) -> Vec<SentMessage> {
        self.sent_by_customer
            .get(&(open_kfid.to_owned(), touser.to_owned()))
            .map(|at| at.iter().map(|&i| self.sent[i].clone()).collect())
            .unwrap_or_default()
    }

    /// How many messages were sent to `touser` of `open_kfid`.
    pub(crate) fn sent_count_to(&self, open_kfid: &str, touser: &str) -> usize {
        self.sent_by_customer.get(&(open_kfid.to_owned(), touser.to_owned())).map_or(0, Vec::len)
    }

    fn record_sent(
        &mut self,
        open_kfid: &str,
        touser: &str,
        msgid: &str,
        message: Value,
        code: Option<String>,
    ) {
        let msgtype = message.get("msgtype").and_then(Value::as_str).unwrap_or("").to_owned();
        self.msgids.insert((open_kfid.to_owned(), msgid.to_owned()));
        let now = self.now();
        let at = self.sent.len();
        let customer = (open_kfid.to_owned(), touser.to_owned());
        self.sent_by_msgid.insert((open_kfid.to_owned(), msgid.to_owned()), at);
        if let Some(waiter) = self.reply_waiters.get(&customer) {
            waiter.notify_waiters();
        }
        self.sent_by_customer.entry(customer).or_default().push(at);
        self.sent.push(SentMessage {
            open_kfid: open_kfid.to_owned(),
            touser: touser.to_owned(),
            msgid: msgid.to_owned(),
            msgtype,
            message,
            sent_at: now,
            code,
            recalled: false,
        });
    }

    pub(crate) fn send_msg(&mut self, body: &Value) -> Result<Value, ApiError> {
        let touser = str_field(body, "touser")?;
        let open_kfid = str_field(body, "open_kfid")?;
        self.account(&open_kfid)?;
        let message = message_of(body, SEND_MSGTYPES)?;
        // What wxkf-types cannot read, WeCom would not accept either (a payload missing a field).
        if let Err(e) = serde_json::from_value::<SendMsgRequest>(body.clone()) {
            return err(40058, format!("invalid Parameter: {e}"));
        }
        let msgid = self.check_msgid(&open_kfid, body.get("msgid").and_then(Value::as_str))?;
        self.check_media(&message)?;
        if self.session(&open_kfid, &touser).is_none() {
            return err(40096, "invalid external userid");
        }
        self.expire_session(&open_kfid, &touser);
        let now = self.now();
        let expired = self.rules.expired_send;
        let session = self.session_mut(&open_kfid, &touser);
        // kf-api.md §5.4: only within 48 h after the customer's last message (95002); the
        // ExpiredSendAnswer switch answers 95018 instead (errcodes.md 95018, LangBot#1547)
        match session.last_customer_msg {
            Some(t) if now < t.saturating_add(H48) => {}
            _ if expired == ExpiredSendAnswer::SessionStatus => {
                return err(95018, "send msg session status invalid");
            }
            _ => return err(95002, "send msg time limit: the customer has not written within 48 hours"),
        }
        if !matches!(session.state, 0 | 1) {
            return err(95018, "send msg session status invalid");
        }
        if session.sent_since >= MAX_REPLIES {
            return err(95001, "send msg count limit: at most 5 messages per customer message");
        }
        session.sent_since += 1;
        session.state = 1;
        self.record_sent(&open_kfid, &touser, &msgid, message, None);
        Ok(json!({"msgid": msgid}))
    }

    fn check_media(&self, message: &Value) -> Result<(), ApiError> {
        let msgtype = message.get("msgtype").and_then(Value::as_str).unwrap_or("");
        let payload = message.get(msgtype);
        let id = match msgtype {
            "image" | "voice" | "video" | "file" => payload.and_then(|p| p.get("media_id")),
            "link" | "miniprogram" => payload.and_then(|p| p.get("thumb_media_id")),
            _ => return Ok(()),
        };
        let now = self.now();
        match id.and_then(Value::as_str).and_then(|id| self.media.get(id)) {
            Some(m) if now < m.created_at.saturating_add(DAYS3) => Ok(()),
            _ => err(40007, "invalid media_id"),
        }
    }

    pub(crate) fn send_msg_on_event(&mut self, body: &Value) -> Result<Value, ApiError> {
        let code_str = str_field(body, "code")?;
        let message = message_of(body, SEND_MSGTYPES)?;
        let msgtype = message.get("msgtype").and_then(Value::as_str).unwrap_or("");
        // Only text and msgmenu parse as an EventMessage: the same rule WeCom applies.
        if let Err(e) = serde_json::from_value::<SendMsgOnEventRequest>(body.clone()) {
            return err(40058, format!("invalid Parameter: {e}"));
        }
        let now = self.now();
        let code =
            self.codes.get(&code_str).cloned().ok_or(ApiError(40058, "invalid Parameter: code".into()))?;
        if code.used {
            return err(40058, "invalid Parameter: code already used");
        }
        if now >= code.issued_at.saturating_add(code.ttl) {
            return err(40058, "invalid Parameter: code expired");
        }
        let text_only = code.state.is_some_and(|s| s == 2 || s == 3);
        if msgtype != "text" && (text_only || msgtype != "msgmenu") {
            return err(40058, "invalid Parameter: msgtype not allowed for this code");
        }
        if let Some(state) = code.state {
            self.expire_session(&code.open_kfid, &code.external_userid);
            if self.session_mut(&code.open_kfid, &code.external_userid).state != state {
                return err(95018, "send msg session status invalid");
            }
        }
        let msgid = self.check_msgid(&code.open_kfid, body.get("msgid").and_then(Value::as_str))?;
        if let Some(c) = self.codes.get_mut(&code_str) {
            c.used = true;
        }
        if code.state.is_none() {
            self.session_mut(&code.open_kfid, &code.external_userid).last_welcome = Some(now);
        }
        self.record_sent(&code.open_kfid, &code.external_userid, &msgid, message, Some(code_str));
        Ok(json!({"msgid": msgid}))
    }

    pub(crate) fn recall_msg(&mut self, body: &Value) -> Result<Value, ApiError> {
        let open_kfid = str_field(body, "open_kfid")?;
        let msgid = str_field(body, "msgid")?;
        self.account(&open_kfid)?;
        let now = self.now();
        let sent = self
            .sent_by_msgid
            .get(&(open_kfid.clone(), msgid.clone()))
            .map(|&i| &mut self.sent[i])
            .filter(|s| !s.recalled)
            .ok_or(ApiError(95028, "recall msg: msgid not found".into()))?;
        if now >= sent.sent_at.saturating_add(RECALL_WINDOW) {
            return err(95029, "recall msg: time limit (2 minutes) exceeded");
        }
        sent.recalled = true;
        Ok(json!({}))
    }

    // ---- media (§11) ----

    pub(crate) fn media_upload(
        &mut self,
        kind: &str,
        filename: &str,
        content_type: Option<&str>,
        bytes: bytes::Bytes,
    ) -> Result<Value, ApiError> {
        let limit: usize = match kind {
            "image" => 10 << 20,
            "voice" => 2 << 20,
            "video" => 10 << 20,
            "file" => 20 << 20,
            _ => return err(40005, "invalid file type"),
        };
        if bytes.is_empty() {
            return err(44001, "empty media data");
        }
        if bytes.len() <= 5 || bytes.len() > limit {
            return err(40006, "invalid file size");
        }
        // errcodes.md 40004 and kf-api.md §11.1: image JPG/PNG, voice AMR, video MP4, judged by
        // the file name's extension (as wxkf_types::media::check_upload does)
        let allowed =
            serde_json::from_value::<MediaType>(json!(kind)).ok().and_then(MediaType::allowed_extensions);
        if let Some(allowed) = allowed {
            let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
            if !allowed.contains(&ext.as_str()) {
                return err(40004, format!("invalid media file type: .{ext} is not allowed for {kind}"));
            }
        }
        let now = self.now();
        let media_id = self.store_media(kind, filename, content_type, bytes);
        Ok(json!({"type": kind, "media_id": media_id, "created_at": now.to_string()}))
    }

    pub(crate) fn store_media(
        &mut self,
        kind: &str,
        filename: &str,
        content_type: Option<&str>,
        bytes: bytes::Bytes,
    ) -> String {
        let media_id = random_id("3", 60);
        let content_type = content_type.filter(|c| !c.is_empty()).map(str::to_owned).unwrap_or_else(|| {
            match kind {
                "image" => "image/jpeg",
                "voice" => "audio/amr",
                "video" => "video/mp4",
                _ => "application/octet-stream",
            }
            .to_owned()
        });
        let now = self.now();
        self.media.insert(
            media_id.clone(),
            Media {
                kind: kind.to_owned(),
                filename: filename.to_owned(),
                content_type,
                bytes,
                created_at: now,
            },
        );
        media_id
    }

    pub(crate) fn media_get(&self, media_id: &str) -> Result<Media, ApiError> {
        let now = self.now();
        match self.media.get(media_id) {
            Some(m) if now < m.created_at.saturating_add(DAYS3) => Ok(m.clone()),
            _ => err(40007, "invalid media_id"),
        }
    }
}

fn str_field(body: &Value, key: &str) -> Result<String, ApiError> {
    match body.get(key).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => err(40058, format!("invalid Parameter: {key} missing or empty")),
    }
}

fn str_list(body: &Value, key: &str) -> Vec<String> {
    body.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The `msgtype`s `send_msg` knows (kf-api.md §5.4).
const SEND_MSGTYPES: &[&str] = &[
    "text",
    "image",
    "voice",
    "video",
    "file",
    "link",
    "miniprogram",
    "msgmenu",
    "location",
    "business_card",
    "ca_link",
];

/// Menu item types (kf-api.md §5.4, "Menu items").
const MENU_ITEM_TYPES: &[&str] = &["click", "view", "miniprogram", "text"];

/// Most menu items (kf-api.md §5.4 and §13; errcodes.md 95008).
const MAX_MENU_ITEMS: usize = 10;

/// `{"msgtype": T, T: payload}` out of a send request, with the checks WeCom makes on the content.
fn message_of(body: &Value, known: &[&str]) -> Result<Value, ApiError> {
    let msgtype = str_field(body, "msgtype")?;
    // errcodes.md 40008: "also for unsupported msgtype in send_msg"
    if !known.contains(&msgtype.as_str()) {
        return err(40008, format!("invalid message type: {msgtype}"));
    }
    let payload = body
        .get(&msgtype)
        .filter(|p| p.is_object())
        .ok_or(ApiError(40058, format!("invalid Parameter: {msgtype} payload missing")))?;
    match msgtype.as_str() {
        "text" => {
            let content = payload.get("content").and_then(Value::as_str).unwrap_or("");
            // errcodes.md: 44004 empty text content; 45002 content too large (text ≤2048 bytes,
            // kf-api.md §5.4)
            if content.is_empty() {
                return err(44004, "empty content");
            }
            if content.len() > wxkf_types::message::MAX_TEXT_BYTES {
                return err(45002, "content size out of limit: text is at most 2048 bytes");
            }
        }
        "msgmenu" => {
            let items = payload.get("list").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            // kf-api.md §5.4: at most 10 items (95008); invalid item type (95009)
            if items.len() > MAX_MENU_ITEMS {
                return err(95008, "menu has too many items: at most 10");
            }
            for item in items {
                let item_type = item.get("type").and_then(Value::as_str).unwrap_or("");
                if !MENU_ITEM_TYPES.contains(&item_type) {
                    return err(95009, format!("invalid menu item type: {item_type:?}"));
                }
            }
        }
        _ => {}
    }
    Ok(json!({"msgtype": msgtype, msgtype.clone(): payload}))
}

/// The opaque cursor: a position in the log, and whether the empty page before it was served
/// ([`SyncPaging::EmptyThenShort`]).
fn encode_cursor(pos: usize, empty_served: bool) -> String {
    let tag = if empty_served { "SIMCUE" } else { "SIMCUR" };
    format!("{tag}{pos:08X}")
}

fn decode_cursor(cursor: &str) -> Option<(usize, bool)> {
    let (hex, empty_served) = match cursor.strip_prefix("SIMCUR") {
        Some(hex) => (hex, false),
        None => (cursor.strip_prefix("SIMCUE")?, true),
    };
    Some((usize::from_str_radix(hex, 16).ok()?, empty_served))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(1234, false)), Some((1234, false)));
        assert_eq!(decode_cursor(&encode_cursor(7, true)), Some((7, true)));
        assert_eq!(decode_cursor("nope"), None);
        assert_eq!(decode_cursor("SIMCURzz"), None);
    }

    #[test]
    fn transitions_follow_the_matrix() {
        let mut s = State::new("ww".into(), "s".into(), 7200);
        s.customer_message("wk", "wm", json!({"msgtype": "text", "text": {"content": "hi"}}));
        let trans = |s: &mut State, to: u64| {
            s.service_state_trans(&json!({"open_kfid": "wk", "external_userid": "wm", "service_state": to}))
                .map_err(|e| e.0)
        };
        assert!(trans(&mut s, 2).is_ok_and(|v| v["msg_code"].is_string()));
        assert_eq!(trans(&mut s, 1), Err(95016));
        assert_eq!(trans(&mut s, 3), Err(95014));
        assert!(trans(&mut s, 4).is_ok());
        assert_eq!(trans(&mut s, 0), Err(95013));
    }
}
