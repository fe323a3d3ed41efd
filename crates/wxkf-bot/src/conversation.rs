//! The conversation layer for AI customer service (docs/ai-bot.md): turns (a customer's quick
//! messages merged into one question), the session-state cache behind hand-off to people, the
//! placeholder policy and answers cut to the budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wxkf_client::Client;
use wxkf_types::message::{ChangeType, Event, Message, MessageContent, Origin};
use wxkf_types::service_state::{ServiceState, ServiceStateGetRequest};

use crate::error::ReplyError;

/// Opt-in debounce per customer ([`BotConfig::with_turns`](crate::BotConfig::with_turns)): a
/// customer's consecutive messages reach [`Handler::on_turn`](crate::Handler::on_turn) as one
/// [`Turn`] once the customer has been quiet for [`quiet`](Self::quiet), or once
/// [`max_total`](Self::max_total) has passed since the turn's first message was taken up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TurnConfig {
    /// How long the customer must be quiet (no new message reached the runtime) before the turn
    /// is handed to the handler, e.g. 1.5 s.
    pub quiet: Duration,
    /// The longest a turn waits for more messages, counted from its first message.
    pub max_total: Duration,
    /// What a customer message does that arrives while the previous turn is being answered:
    /// `false` (default) — it goes into the next turn; `true` — the running answer is stopped
    /// (nothing more of it is sent) and its messages are answered together with the new ones.
    pub cancel_running: bool,
}

impl TurnConfig {
    /// Turns with a `quiet` window, bounded by `max_total`; new messages wait for the next turn.
    pub fn new(quiet: Duration, max_total: Duration) -> Self {
        TurnConfig { quiet, max_total, cancel_running: false }
    }

    /// A customer message that arrives while the previous turn is being answered stops that
    /// answer; the stopped turn's messages join the next turn.
    pub fn cancelling(mut self) -> Self {
        self.cancel_running = true;
        self
    }
}

/// The placeholder policy ([`BotConfig::with_placeholder`](crate::BotConfig::with_placeholder)):
/// if a customer's message (or turn) has had no reply [`after`](Self::after), the runtime sends
/// [`text`](Self::text), but only when that leaves at least one of the 5 replies for the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Placeholder {
    /// How long the handler may be silent before the placeholder goes out.
    pub after: Duration,
    /// What it says, e.g. "正在为您查询，请稍候…" (one message, at most 2048 bytes).
    pub text: String,
}

impl Placeholder {
    /// `text` after `after` without a reply.
    pub fn new(after: Duration, text: impl Into<String>) -> Self {
        Placeholder { after, text: text.into() }
    }
}

/// What [`ReplyContext::reply_parts_fit`](crate::ReplyContext::reply_parts_fit) sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Messages sent (or found already sent by an earlier attempt).
    pub sent: u32,
    /// Whether the answer was cut to the budget; the last message sent ends with
    /// [`BotConfig::cut_marker`](crate::BotConfig::cut_marker).
    pub cut: bool,
}

/// One customer's consecutive messages, merged by the debounce of [`TurnConfig`], in the order
/// the customer sent them. Never empty when the runtime hands it over.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Turn {
    /// The messages, oldest first.
    pub messages: Vec<Message>,
}

impl Turn {
    /// A turn of `messages` (the runtime builds them; this is for testing handlers).
    pub fn new(messages: Vec<Message>) -> Self {
        Turn { messages }
    }

    /// The messages, oldest first.
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// The newest message.
    pub fn last(&self) -> Option<&Message> {
        self.messages.last()
    }

    /// The texts of the turn's text messages (and menu clicks), one per line; other kinds are
    /// left out.
    pub fn text(&self) -> String {
        let texts: Vec<&str> = self
            .messages
            .iter()
            .filter_map(|m| match &m.content {
                MessageContent::Text(t) => Some(t.content.as_str()),
                _ => None,
            })
            .collect();
        texts.join("\n")
    }
}

type Key = (String, String);

/// The session states the runtime knows, per (open_kfid, external_userid): learned from
/// `service_state/get` (only with [`BotConfig::session_lookup`](crate::BotConfig::session_lookup)),
/// from `session_status_change` events at pull time, from customer messages that reopen an ended
/// session, and from the bot's own `service_state/trans`.
#[derive(Debug)]
pub(crate) struct SessionStates {
    map: Mutex<HashMap<Key, (ServiceState, Instant)>>,
    // a people state (2, 3, 4) older than this is asked again before it keeps the bot silent:
    // a session WeCom ended by its 48-hour clock sends no event
    stale_after: Duration,
}

impl Default for SessionStates {
    fn default() -> Self {
        SessionStates { map: Mutex::default(), stale_after: STALE_AFTER }
    }
}

/// How long a state that keeps the bot silent is trusted before `service_state/get` confirms it.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(300);

/// Entries kept before sendable ones are dropped (they are looked up again on need).
const MAX_ENTRIES: usize = 100_000;

impl SessionStates {
    pub(crate) fn get(&self, open_kfid: &str, user: &str) -> Option<ServiceState> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(open_kfid.to_owned(), user.to_owned())).map(|e| e.0)
    }

    /// The state and whether it is past [`STALE_AFTER`] while it keeps the bot silent.
    fn get_checked(&self, open_kfid: &str, user: &str) -> Option<(ServiceState, bool)> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(open_kfid.to_owned(), user.to_owned()))
            .map(|(s, at)| (*s, !s.can_send_msg() && at.elapsed() >= self.stale_after))
    }

    pub(crate) fn set(&self, open_kfid: &str, user: &str, state: ServiceState) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (s, _)| !s.can_send_msg());
            if map.len() >= MAX_ENTRIES {
                for ((kfid, _), (state, _)) in map.drain() {
                    held_changed(&kfid, Some(state), None);
                }
            }
        }
        let old = map.insert((open_kfid.to_owned(), user.to_owned()), (state, Instant::now()));
        held_changed(open_kfid, old.map(|o| o.0), Some(state));
    }

    pub(crate) fn forget(&self, open_kfid: &str, user: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let old = map.remove(&(open_kfid.to_owned(), user.to_owned()));
        held_changed(open_kfid, old.map(|o| o.0), None);
    }

    /// Learns from one pulled page, in order: a `session_status_change` moves the session to a
    /// servicer (change types 1, 2, 4: state 3) or ends it (3: state 4); a customer message after
    /// the end opens a new session (state 0, kf-api.md §4.0).
    pub(crate) fn observe_page(&self, open_kfid: &str, msgs: &[Message]) {
        for msg in msgs {
            let kfid = msg.open_kfid().unwrap_or(open_kfid);
            match (msg.origin, msg.event()) {
                (Origin::Event, Some(Event::SessionStatusChange(change))) => {
                    let user = if change.external_userid.is_empty() {
                        msg.external_userid().unwrap_or_default()
                    } else {
                        change.external_userid.as_str()
                    };
                    if user.is_empty() {
                        continue;
                    }
                    let state = match change.change_type {
                        ChangeType::TakenFromPool | ChangeType::Transferred | ChangeType::Rejoined => {
                            ServiceState::Human
                        }
                        ChangeType::Ended => ServiceState::Ended,
                        _ => {
                            // a change this crate does not know: ask again when it matters
                            self.forget(kfid, user);
                            continue;
                        }
                    };
                    self.set(kfid, user, state);
                }
                (Origin::Customer, _) => {
                    let user = msg.external_userid().unwrap_or_default();
                    if !user.is_empty() && self.get(kfid, user) == Some(ServiceState::Ended) {
                        self.set(kfid, user, ServiceState::New);
                    }
                }
                _ => {}
            }
        }
    }

    /// The state as known; on a miss, asked with `service_state/get` when `lookup` is on, else
    /// `None` (unknown: treated as the bot's). A state that keeps the bot silent and was learned
    /// over [`STALE_AFTER`] ago is asked again (kept if the call fails).
    pub(crate) async fn current(
        &self,
        client: &Client,
        lookup: bool,
        open_kfid: &str,
        user: &str,
    ) -> Result<Option<ServiceState>, ReplyError> {
        match self.get_checked(open_kfid, user) {
            Some((s, false)) => return Ok(Some(s)),
            Some((s, true)) => {
                return Ok(Some(self.refresh(client, open_kfid, user).await.unwrap_or(s)));
            }
            None => {}
        }
        if !lookup || user.is_empty() {
            return Ok(None);
        }
        self.refresh(client, open_kfid, user).await.map(Some)
    }

    /// Asks WeCom (`service_state/get`) and remembers the answer.
    pub(crate) async fn refresh(
        &self,
        client: &Client,
        open_kfid: &str,
        user: &str,
    ) -> Result<ServiceState, ReplyError> {
        let got = client.service_state().get(ServiceStateGetRequest::new(open_kfid, user)).await?;
        self.set(open_kfid, user, got.service_state);
        Ok(got.service_state)
    }
}

/// Moves the `wxkf_sessions_held_by_servicer` gauge when a known state enters or leaves 3.
fn held_changed(open_kfid: &str, old: Option<ServiceState>, new: Option<ServiceState>) {
    let held = |s: Option<ServiceState>| s == Some(ServiceState::Human);
    match (held(old), held(new)) {
        (false, true) => crate::telemetry::session_held(open_kfid, 1.0),
        (true, false) => crate::telemetry::session_held(open_kfid, -1.0),
        _ => {}
    }
}

/// Whether the session is with a person (queued for one, or held by one): the AI handler is not
/// called, [`Handler::on_handed_off_message`](crate::Handler::on_handed_off_message) is.
pub(crate) fn with_people(state: Option<ServiceState>) -> bool {
    matches!(state, Some(ServiceState::Queued | ServiceState::Human))
}

/// The runtime's default [`BotConfig::cut_marker`](crate::BotConfig::cut_marker).
pub const DEFAULT_CUT_MARKER: &str = "…（回答过长，已截断）";

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: serde_json::Value) -> Message {
        serde_json::from_value(json).expect("a valid message")
    }

    #[test]
    fn session_events_and_customer_messages_move_the_cached_state() {
        let s = SessionStates::default();
        let take = event(serde_json::json!({
            "msgid": "e1", "open_kfid": "wk1", "send_time": 1, "origin": 4, "msgtype": "event",
            "event": {"event_type": "session_status_change", "open_kfid": "wk1",
                      "external_userid": "wm1", "change_type": 1, "new_servicer_userid": "zs", "msg_code": "C"}
        }));
        let end = event(serde_json::json!({
            "msgid": "e2", "open_kfid": "wk1", "send_time": 2, "origin": 4, "msgtype": "event",
            "event": {"event_type": "session_status_change", "open_kfid": "wk1",
                      "external_userid": "wm1", "change_type": 3, "old_servicer_userid": "zs", "msg_code": "D"}
        }));
        let says = event(serde_json::json!({
            "msgid": "m3", "open_kfid": "wk1", "external_userid": "wm1", "send_time": 3, "origin": 3,
            "msgtype": "text", "text": {"content": "hi"}
        }));
        s.observe_page("wk1", std::slice::from_ref(&take));
        assert_eq!(s.get("wk1", "wm1"), Some(ServiceState::Human));
        s.observe_page("wk1", std::slice::from_ref(&end));
        assert_eq!(s.get("wk1", "wm1"), Some(ServiceState::Ended));
        s.observe_page("wk1", std::slice::from_ref(&says));
        assert_eq!(s.get("wk1", "wm1"), Some(ServiceState::New), "a message after the end opens a session");
        // in one page, in order: taken, then the customer writes: still the servicer's
        s.observe_page("wk1", &[end, take, says]);
        assert_eq!(s.get("wk1", "wm1"), Some(ServiceState::Human));
        assert!(with_people(s.get("wk1", "wm1")));
        assert!(!with_people(None));
    }

    #[tokio::test]
    async fn a_people_state_past_its_age_is_asked_again() {
        use wiremock::matchers::path;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(path("/cgi-bin/gettoken"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"errcode": 0, "errmsg": "ok", "access_token": "T", "expires_in": 7200}),
            ))
            .mount(&server)
            .await;
        // the session ended by its clock, without an event: WeCom says it is new
        Mock::given(path("/cgi-bin/kf/service_state/get"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"errcode": 0, "errmsg": "ok", "service_state": 0})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let client = Client::builder("ww1", "secret").base_url(server.uri()).build().expect("client");
        let fresh = SessionStates::default();
        fresh.set("wk1", "wm1", ServiceState::Human);
        assert_eq!(
            fresh.current(&client, false, "wk1", "wm1").await.ok().flatten(),
            Some(ServiceState::Human)
        );
        let aged = SessionStates { stale_after: Duration::ZERO, ..SessionStates::default() };
        aged.set("wk1", "wm1", ServiceState::Queued);
        assert_eq!(aged.current(&client, false, "wk1", "wm1").await.ok().flatten(), Some(ServiceState::New));
        // a miss without lookup asks nothing
        assert_eq!(aged.current(&client, false, "wk1", "wm2").await.ok().flatten(), None);
    }

    #[test]
    fn a_turn_joins_its_texts_in_order() {
        let m = |id: &str, text: &str| {
            event(serde_json::json!({
                "msgid": id, "open_kfid": "wk1", "external_userid": "wm1", "send_time": 1, "origin": 3,
                "msgtype": "text", "text": {"content": text}
            }))
        };
        let t = Turn::new(vec![m("a", "在吗"), m("b", "我想问"), m("c", "退款")]);
        assert_eq!(t.text(), "在吗\n我想问\n退款");
        assert_eq!(t.last().map(|m| m.msgid.as_str()), Some("c"));
    }
}
