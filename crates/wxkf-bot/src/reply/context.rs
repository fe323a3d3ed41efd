//! Replying to one customer, within WeCom's budget.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use wxkf_client::Client;
use wxkf_types::media::MediaType;
use wxkf_types::message::{
    MAX_TEXT_BYTES, MsgMenu, SendLink, SendMessage, SendMsgOnEventRequest, SendMsgRequest,
};
use wxkf_types::service_state::{ServiceState, ServiceStateTransRequest};

use crate::clock::{now_ms, now_secs};
use crate::conversation::{Delivery, SessionStates};
use crate::error::ReplyError;
use crate::reply::budget::{Budget, BudgetStore};
use crate::reply::text::split_text;

/// Whether WeCom refused a send because its msgid went out before (wxkf_types::errcode::DUPLICATE_MSGID).
fn is_duplicate(e: &wxkf_client::Error) -> bool {
    match e {
        wxkf_client::Error::Api { errcode, errmsg, .. } => {
            wxkf_types::errcode::is_duplicate_msgid(*errcode, errmsg)
        }
        _ => false,
    }
}

/// Whether a failed send may still have reached WeCom (no answer from WeCom itself).
fn may_have_gone_out(e: &wxkf_client::Error) -> bool {
    matches!(
        e,
        wxkf_client::Error::Transport { .. }
            | wxkf_client::Error::Http { .. }
            | wxkf_client::Error::Decode { .. }
    )
}

/// Sends taken from the budget and not settled yet. If the handler's future is dropped meanwhile
/// (its timeout, a cancelled turn), one of them may have gone out: they count as completed now,
/// rather than in flight for five minutes.
struct Unsettled<'a> {
    ctx: &'a ReplyContext,
    left: u32,
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        if self.left == 0 {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (budgets, n) = (Arc::clone(&self.ctx.budgets), self.left);
        let (open_kfid, external_userid) = (self.ctx.open_kfid.clone(), self.ctx.external_userid.clone());
        runtime.spawn(async move {
            if let Err(e) = budgets.sent(&open_kfid, &external_userid, n, now_ms()).await {
                tracing::warn!(error = %e, "could not settle the sends of a dropped reply");
            }
        });
    }
}

/// Everything a handler needs to answer one message: who to answer, with which Kf account, the
/// welcome code of an `enter_session` event, and the remaining budget.
///
/// Each send gets a `msgid` derived from the incoming message's, so that a send retried by the
/// client is not delivered twice.
#[derive(Clone)]
pub struct ReplyContext {
    pub(crate) client: Client,
    pub(crate) budgets: Arc<dyn BudgetStore>,
    pub(crate) open_kfid: String,
    pub(crate) external_userid: String,
    pub(crate) welcome_code: Option<String>,
    pub(crate) source_msgid: String,
    // the number of the next send of this attempt (its msgid is derived from it)
    pub(crate) next: Arc<std::sync::atomic::AtomicU32>,
    // msgids of this message's replies that went out, kept across the handler's attempts
    pub(crate) sent: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    // the runtime's session-state cache, checked right before each send
    pub(crate) sessions: Arc<SessionStates>,
    // whether a cache miss is looked up with service_state/get (BotConfig::session_lookup)
    pub(crate) lookup: bool,
    // appended to the last part of an answer cut to the budget (BotConfig::cut_marker)
    pub(crate) cut_marker: Arc<str>,
    // set once the handler started a send (kept across attempts): no placeholder after that
    pub(crate) started: Arc<AtomicBool>,
}

impl std::fmt::Debug for ReplyContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyContext")
            .field("open_kfid", &self.open_kfid)
            .field("external_userid", &self.external_userid)
            .field("has_welcome_code", &self.welcome_code.is_some())
            .field("source_msgid", &self.source_msgid)
            .finish()
    }
}

impl ReplyContext {
    /// The Kf account the message came to.
    pub fn open_kfid(&self) -> &str {
        &self.open_kfid
    }

    /// The customer (empty for events that concern no customer).
    pub fn external_userid(&self) -> &str {
        &self.external_userid
    }

    /// The API client, for anything the context does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The `enter_session` event's welcome code, if this context belongs to one.
    pub fn welcome_code(&self) -> Option<&str> {
        self.welcome_code.as_deref()
    }

    /// What is left of the 48-hour / 5-message budget for this customer, as counted in the
    /// runtime's [`BudgetStore`] (shared by every instance with the `redis` feature).
    pub async fn budget(&self) -> Result<Budget, ReplyError> {
        self.budgets
            .get(&self.open_kfid, &self.external_userid, now_ms())
            .await
            .map_err(ReplyError::BudgetStore)
    }

    /// Takes `n` sends from the budget, or refuses without taking any.
    async fn take(&self, n: u32) -> Result<(), ReplyError> {
        let now = now_ms();
        match self
            .budgets
            .take(&self.open_kfid, &self.external_userid, n, now)
            .await
            .map_err(ReplyError::BudgetStore)?
        {
            Ok(()) => Ok(()),
            Err(b) if b.expires_at.saturating_mul(1000) > now => {
                Err(ReplyError::BudgetExhausted { needed: n, remaining: b.remaining })
            }
            Err(_) => Err(ReplyError::WindowClosed),
        }
    }

    /// Returns `n` sends that were taken but not sent.
    async fn give_back(&self, n: u32) {
        if let Err(e) = self.budgets.give_back(&self.open_kfid, &self.external_userid, n).await {
            tracing::warn!(error = %e, "could not give unsent replies back to the budget");
        }
    }

    /// Records that one taken send reached WeCom now: from then on it counts against the
    /// customer's latest message only if that message may have arrived after it.
    async fn sent_one(&self) {
        if let Err(e) = self.budgets.sent(&self.open_kfid, &self.external_userid, 1, now_ms()).await {
            // it stays in flight and counts against the next message too: cautious, not wrong
            tracing::warn!(error = %e, "could not record a sent reply in the budget");
        }
    }

    fn next_msgid(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.derived_msgid(&n.to_string())
    }

    fn derived_msgid(&self, suffix: &str) -> String {
        // FNV-1a of the incoming msgid: stable across re-deliveries, short enough for 32 bytes
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.source_msgid.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("r{h:016x}-{suffix}")
    }

    fn was_sent(&self, msgid: &str) -> bool {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).contains(msgid)
    }

    fn mark_sent(&self, msgid: String) {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).insert(msgid);
    }

    /// Sends each request whose msgid did not go out yet, taking the budget for them first (all
    /// or none). A send that WeCom refuses as a duplicate msgid went out in an earlier attempt
    /// (or a retry whose first answer was lost): it counts as sent, and its budget is given back
    /// since the earlier attempt counted it (a send without WeCom's answer counts as sent).
    async fn send_all(&self, requests: Vec<SendMsgRequest>) -> Result<(), ReplyError> {
        self.counted(self.send_all_uncounted(requests).await)
    }

    /// Counts a refused or failed reply in `wxkf_replies_total` (sent ones are counted as they go).
    fn counted<T>(&self, result: Result<T, ReplyError>) -> Result<T, ReplyError> {
        if let Err(e) = &result {
            let outcome = match e {
                ReplyError::BudgetExhausted { .. } | ReplyError::WindowClosed => "budget_refused",
                ReplyError::SessionLeftBot { .. } => "session_left_bot",
                _ => "failed",
            };
            crate::telemetry::replies(&self.open_kfid, outcome, 1);
        }
        result
    }

    async fn send_all_uncounted(&self, requests: Vec<SendMsgRequest>) -> Result<(), ReplyError> {
        let todo: Vec<SendMsgRequest> =
            requests.into_iter().filter(|r| r.msgid.as_deref().is_none_or(|m| !self.was_sent(m))).collect();
        if todo.is_empty() {
            return Ok(());
        }
        self.started.store(true, Ordering::SeqCst);
        self.ensure_with_bot().await?;
        let n = u32::try_from(todo.len()).unwrap_or(u32::MAX);
        self.take(n).await?;
        let mut taken = Unsettled { ctx: self, left: n };
        for req in todo {
            let msgid = req.msgid.clone().unwrap_or_default();
            // the state may have changed since the last part (a servicer took the session)
            if let Err(e) = self.ensure_with_bot().await {
                self.give_back(std::mem::take(&mut taken.left)).await;
                return Err(e);
            }
            match self.client.message().send_msg(req).await {
                Ok(_) => {
                    self.sent_one().await;
                    crate::telemetry::replies(&self.open_kfid, "sent", 1);
                }
                Err(e) if is_duplicate(&e) => {
                    // an earlier attempt sent it, and counted it then (as sent, or as maybe
                    // sent when its answer was lost, or in flight when its process died)
                    tracing::debug!(msgid = %msgid, "WeCom already has this reply: counted as sent");
                    self.give_back(1).await;
                }
                Err(e) => {
                    if may_have_gone_out(&e) {
                        // no answer, or not WeCom's: it may have arrived, so it counts
                        self.sent_one().await;
                        taken.left -= 1;
                    }
                    self.give_back(std::mem::take(&mut taken.left)).await;
                    return Err(self.after_refusal(e).await);
                }
            }
            self.mark_sent(msgid);
            taken.left -= 1;
        }
        Ok(())
    }

    /// The session's state as the runtime knows it: from `session_status_change` events, the
    /// bot's own transitions and, with [`BotConfig::session_lookup`](crate::BotConfig::session_lookup),
    /// `service_state/get` on a miss. `None`: not known (treated as the bot's).
    pub async fn session_state(&self) -> Result<Option<ServiceState>, ReplyError> {
        self.sessions.current(&self.client, self.lookup, &self.open_kfid, &self.external_userid).await
    }

    /// Refuses locally when the session is known to have left the bot.
    async fn ensure_with_bot(&self) -> Result<(), ReplyError> {
        match self.session_state().await? {
            Some(state) if !state.can_send_msg() => Err(ReplyError::SessionLeftBot { state }),
            _ => Ok(()),
        }
    }

    /// A send refused with 95018 means the cache was out of date (e.g. the session ended by its
    /// 48-hour clock): the state is asked again and the refusal reported as
    /// [`ReplyError::SessionLeftBot`] when it confirms the session left the bot.
    async fn after_refusal(&self, e: wxkf_client::Error) -> ReplyError {
        if e.errcode() != Some(95018) {
            return e.into();
        }
        self.sessions.forget(&self.open_kfid, &self.external_userid);
        match self.sessions.refresh(&self.client, &self.open_kfid, &self.external_userid).await {
            Ok(state) if !state.can_send_msg() => ReplyError::SessionLeftBot { state },
            _ => e.into(),
        }
    }

    /// Moves the session with `service_state/trans` and remembers the new state, so that every
    /// later reply of the bot to this customer is refused locally. Returns the `msg_code` for
    /// [`send_event_text`](Self::send_event_text), when WeCom gives one.
    async fn trans(&self, req: ServiceStateTransRequest) -> Result<Option<String>, ReplyError> {
        let target = req.service_state;
        match self.client.service_state().trans(req).await {
            Ok(r) => {
                self.sessions.set(&self.open_kfid, &self.external_userid, target);
                Ok(r.msg_code.filter(|c| !c.is_empty()))
            }
            Err(e) => {
                // the state may not be what the cache said (95013, 95016): ask again next time
                self.sessions.forget(&self.open_kfid, &self.external_userid);
                Err(e.into())
            }
        }
    }

    /// Hands the session to the waiting pool (state 2, 转人工; `service_state/trans`, kf-api.md
    /// §4.2). From then on the AI handlers are not called for this customer and replies are
    /// refused with [`ReplyError::SessionLeftBot`]. Returns the `msg_code` (48 h) for a message
    /// with [`send_event_text`](Self::send_event_text), e.g. "已为您转接人工客服".
    ///
    /// Not idempotent: a handler retried after this call moves the session again (WeCom may
    /// answer 95016).
    pub async fn hand_to_pool(&self) -> Result<Option<String>, ReplyError> {
        self.trans(ServiceStateTransRequest::to_pool(&self.open_kfid, &self.external_userid)).await
    }

    /// Hands the session to the servicer `servicer_userid` (state 3), who must be receiving
    /// (else 95019). Like [`hand_to_pool`](Self::hand_to_pool) otherwise.
    pub async fn hand_to_servicer(&self, servicer_userid: &str) -> Result<Option<String>, ReplyError> {
        self.trans(ServiceStateTransRequest::to_servicer(
            &self.open_kfid,
            &self.external_userid,
            servicer_userid,
        ))
        .await
    }

    /// Ends the session (state 4). Returns the closing `msg_code` (20 s) for a closing message
    /// with [`send_event_text`](Self::send_event_text). The customer's next message opens a new
    /// session, which the bot answers again.
    pub async fn end_session(&self) -> Result<Option<String>, ReplyError> {
        self.trans(ServiceStateTransRequest::end(&self.open_kfid, &self.external_userid)).await
    }

    /// Sends `text` with a `msg_code` from [`hand_to_pool`](Self::hand_to_pool),
    /// [`hand_to_servicer`](Self::hand_to_servicer), [`end_session`](Self::end_session) or a
    /// `session_status_change` event (`send_msg_on_event`, kf-api.md §5.5): outside the
    /// 5-message budget and allowed after the session left the bot. A code works once, while the
    /// state it was issued for lasts; text over 2048 bytes is refused.
    pub async fn send_event_text(&self, code: &str, text: &str) -> Result<(), ReplyError> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(ReplyError::TextTooLong { len: text.len() });
        }
        if text.is_empty() {
            return Err(ReplyError::EmptyText);
        }
        let req = SendMsgOnEventRequest::text(code, text).with_msgid(self.next_msgid());
        self.send_on_event(req).await
    }

    /// Sends as many of `parts` (one message each; a part over 2048 bytes is split) as the
    /// remaining budget allows. When they do not all fit, the last one sent is shortened if need
    /// be and ends with [`BotConfig::cut_marker`](crate::BotConfig::cut_marker), instead of
    /// failing half-way. Refused like [`reply_text`](Self::reply_text) when nothing can be sent.
    pub async fn reply_parts_fit<S: AsRef<str>>(&self, parts: &[S]) -> Result<Delivery, ReplyError> {
        let mut pieces: Vec<String> = Vec::new();
        for p in parts {
            pieces.extend(split_text(p.as_ref(), MAX_TEXT_BYTES).into_iter().map(str::to_owned));
        }
        if pieces.is_empty() {
            return Err(ReplyError::EmptyText);
        }
        let budget = self.budget().await?;
        if budget.expires_at <= now_secs() {
            return self.counted(Err(ReplyError::WindowClosed));
        }
        // what earlier attempts sent is not sent (nor counted) again; msgids are numbered alike
        let base = self.next.load(Ordering::SeqCst);
        let already = (0..pieces.len())
            .filter(|i| {
                let n = base.saturating_add(u32::try_from(*i).unwrap_or(u32::MAX));
                self.was_sent(&self.derived_msgid(&n.to_string()))
            })
            .count();
        let room = usize::try_from(budget.remaining).unwrap_or(usize::MAX).saturating_add(already);
        if room == 0 {
            return self.counted(Err(ReplyError::BudgetExhausted { needed: 1, remaining: 0 }));
        }
        let cut = pieces.len() > room;
        if cut {
            pieces.truncate(room);
            if let Some(last) = pieces.last_mut() {
                let marker: &str = &self.cut_marker;
                let keep = MAX_TEXT_BYTES.saturating_sub(marker.len());
                let head = split_text(last, keep).into_iter().next().unwrap_or_default().to_owned();
                *last = format!("{head}{marker}");
            }
        }
        let requests: Vec<SendMsgRequest> = pieces
            .iter()
            .map(|part| {
                SendMsgRequest::text(&self.external_userid, &self.open_kfid, part.as_str())
                    .with_msgid(self.next_msgid())
            })
            .collect();
        let sent = u32::try_from(requests.len()).unwrap_or(u32::MAX);
        self.send_all(requests).await?;
        Ok(Delivery { sent, cut })
    }

    /// [`reply_parts_fit`](Self::reply_parts_fit) for one text (split at 2048 bytes).
    pub async fn reply_text_fit(&self, text: &str) -> Result<Delivery, ReplyError> {
        self.reply_parts_fit(&[text]).await
    }

    /// The placeholder policy's send: `text`, once per message or turn, only if the handler has
    /// not started a reply, the session is the bot's, and at least one more reply stays in the
    /// budget for the answer. Whether it went out.
    pub(crate) async fn send_placeholder(&self, text: &str) -> Result<bool, ReplyError> {
        let msgid = self.derived_msgid("p");
        if self.started.load(Ordering::SeqCst) || self.was_sent(&msgid) {
            return Ok(false);
        }
        if self.ensure_with_bot().await.is_err() {
            return Ok(false);
        }
        // two at once or none: the placeholder never takes the answer's last slot
        if self.take(2).await.is_err() {
            return Ok(false);
        }
        self.give_back(1).await;
        let req =
            SendMsgRequest::text(&self.external_userid, &self.open_kfid, text).with_msgid(msgid.clone());
        match self.client.message().send_msg(req).await {
            Ok(_) => crate::telemetry::replies(&self.open_kfid, "sent", 1),
            Err(e) if is_duplicate(&e) => self.give_back(1).await,
            Err(e) => {
                self.give_back(1).await;
                return Err(self.after_refusal(e).await);
            }
        }
        self.mark_sent(msgid);
        Ok(true)
    }

    /// Sends `text`, split at ≤ 2048 bytes on character boundaries into consecutive messages.
    /// Refused locally, before anything is sent, if the budget has not room for every piece.
    /// When the handler is retried, pieces that already went out are not sent again.
    pub async fn reply_text(&self, text: &str) -> Result<(), ReplyError> {
        let parts = split_text(text, MAX_TEXT_BYTES);
        if parts.is_empty() {
            return Err(ReplyError::EmptyText);
        }
        let requests = parts
            .iter()
            .map(|part| {
                SendMsgRequest::text(&self.external_userid, &self.open_kfid, *part)
                    .with_msgid(self.next_msgid())
            })
            .collect();
        self.send_all(requests).await
    }

    /// Sends any message kind (counts against the budget).
    pub async fn reply(&self, message: impl Into<SendMessage>) -> Result<(), ReplyError> {
        let req = SendMsgRequest::new(&self.external_userid, &self.open_kfid, message)
            .with_msgid(self.next_msgid());
        self.send_all(vec![req]).await
    }

    async fn reply_media(&self, kind: MediaType, filename: &str, data: Bytes) -> Result<(), ReplyError> {
        // check the session and the budget before uploading, so a refused send costs no upload
        self.ensure_with_bot().await?;
        let budget = self.budget().await?;
        if budget.expires_at <= now_secs() {
            return self.counted(Err(ReplyError::WindowClosed));
        }
        if budget.remaining == 0 {
            return self.counted(Err(ReplyError::BudgetExhausted { needed: 1, remaining: 0 }));
        }
        let media = self.client.media().upload(kind, filename, data).await?;
        let req = match kind {
            MediaType::Image => SendMsgRequest::image(&self.external_userid, &self.open_kfid, media.media_id),
            MediaType::Voice => SendMsgRequest::voice(&self.external_userid, &self.open_kfid, media.media_id),
            MediaType::Video => SendMsgRequest::video(&self.external_userid, &self.open_kfid, media.media_id),
            _ => SendMsgRequest::file(&self.external_userid, &self.open_kfid, media.media_id),
        };
        self.reply(req.message).await
    }

    /// Uploads `data` as an image (JPG/PNG ≤ 10 MB) and sends it.
    pub async fn reply_image(&self, filename: &str, data: impl Into<Bytes>) -> Result<(), ReplyError> {
        self.reply_media(MediaType::Image, filename, data.into()).await
    }

    /// Uploads `data` as a voice message (AMR ≤ 2 MB, 60 s) and sends it.
    pub async fn reply_voice(&self, filename: &str, data: impl Into<Bytes>) -> Result<(), ReplyError> {
        self.reply_media(MediaType::Voice, filename, data.into()).await
    }

    /// Uploads `data` as a video (MP4 ≤ 10 MB) and sends it.
    pub async fn reply_video(&self, filename: &str, data: impl Into<Bytes>) -> Result<(), ReplyError> {
        self.reply_media(MediaType::Video, filename, data.into()).await
    }

    /// Uploads `data` as a file (≤ 20 MB) and sends it.
    pub async fn reply_file(&self, filename: &str, data: impl Into<Bytes>) -> Result<(), ReplyError> {
        self.reply_media(MediaType::File, filename, data.into()).await
    }

    /// Sends a link card.
    pub async fn reply_link(&self, link: SendLink) -> Result<(), ReplyError> {
        self.reply(SendMessage::Link(link)).await
    }

    /// Sends a menu.
    pub async fn reply_menu(&self, menu: MsgMenu) -> Result<(), ReplyError> {
        self.reply(SendMessage::Msgmenu(menu)).await
    }

    /// Sends the welcome text of an `enter_session` event with its `welcome_code`
    /// (`send_msg_on_event`, kf-api.md §5.5; outside the 5-message budget). Text over 2048 bytes
    /// is refused, since a welcome code can be used once.
    pub async fn send_welcome_text(&self, text: &str) -> Result<(), ReplyError> {
        let code = self.welcome_code.as_deref().ok_or(ReplyError::NoWelcomeCode)?;
        if text.len() > MAX_TEXT_BYTES {
            return Err(ReplyError::TextTooLong { len: text.len() });
        }
        let req = SendMsgOnEventRequest::text(code, text).with_msgid(self.next_msgid());
        self.send_on_event(req).await
    }

    /// Sends a welcome menu with the `enter_session` event's `welcome_code`.
    pub async fn send_welcome_menu(&self, menu: MsgMenu) -> Result<(), ReplyError> {
        let code = self.welcome_code.as_deref().ok_or(ReplyError::NoWelcomeCode)?;
        let req = SendMsgOnEventRequest::menu(code, menu).with_msgid(self.next_msgid());
        self.send_on_event(req).await
    }

    async fn send_on_event(&self, req: SendMsgOnEventRequest) -> Result<(), ReplyError> {
        let msgid = req.msgid.clone().unwrap_or_default();
        if self.was_sent(&msgid) {
            return Ok(());
        }
        match self.client.message().send_msg_on_event(req).await {
            Ok(_) => crate::telemetry::replies(&self.open_kfid, "sent", 1),
            Err(e) if is_duplicate(&e) => {}
            Err(e) => return self.counted(Err(e.into())),
        }
        self.mark_sent(msgid);
        Ok(())
    }
}
