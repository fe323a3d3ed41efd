//! Replying to one customer, within WeCom's budget.

use std::sync::Arc;

use bytes::Bytes;
use wxkf_client::Client;
use wxkf_types::media::MediaType;
use wxkf_types::message::{
    MAX_TEXT_BYTES, MsgMenu, SendLink, SendMessage, SendMsgOnEventRequest, SendMsgRequest,
};

use crate::budget::{Budget, BudgetStore};
use crate::error::BotError;
use crate::text::split_text;

/// Whether WeCom refused a send because its msgid went out before (wxkf_types::errcode::DUPLICATE_MSGID).
fn is_duplicate(e: &wxkf_client::Error) -> bool {
    match e {
        wxkf_client::Error::Api { errcode, errmsg, .. } => {
            wxkf_types::errcode::is_duplicate_msgid(*errcode, errmsg)
        }
        _ => false,
    }
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
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
    pub async fn budget(&self) -> Result<Budget, BotError> {
        self.budgets
            .get(&self.open_kfid, &self.external_userid, now_secs())
            .await
            .map_err(BotError::BudgetStore)
    }

    /// Takes `n` sends from the budget, or refuses without taking any.
    async fn take(&self, n: u32) -> Result<(), BotError> {
        let now = now_secs();
        match self
            .budgets
            .take(&self.open_kfid, &self.external_userid, n, now)
            .await
            .map_err(BotError::BudgetStore)?
        {
            Ok(()) => Ok(()),
            Err(b) if b.expires_at > now => {
                Err(BotError::BudgetExhausted { needed: n, remaining: b.remaining })
            }
            Err(_) => Err(BotError::WindowClosed),
        }
    }

    /// Returns `n` sends that were taken but not sent.
    async fn give_back(&self, n: u32) {
        if let Err(e) = self.budgets.give_back(&self.open_kfid, &self.external_userid, n).await {
            tracing::warn!(error = %e, "could not give unsent replies back to the budget");
        }
    }

    fn next_msgid(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // FNV-1a of the incoming msgid: stable across re-deliveries, short enough for 32 bytes
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.source_msgid.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("r{h:016x}-{n}")
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
    /// since the first send already took it.
    async fn send_all(&self, requests: Vec<SendMsgRequest>) -> Result<(), BotError> {
        let todo: Vec<SendMsgRequest> =
            requests.into_iter().filter(|r| r.msgid.as_deref().is_none_or(|m| !self.was_sent(m))).collect();
        if todo.is_empty() {
            return Ok(());
        }
        let n = u32::try_from(todo.len()).unwrap_or(u32::MAX);
        self.take(n).await?;
        let mut left = n;
        for req in todo {
            let msgid = req.msgid.clone().unwrap_or_default();
            match self.client.message().send_msg(req).await {
                Ok(_) => {}
                Err(e) if is_duplicate(&e) => {
                    tracing::debug!(msgid = %msgid, "WeCom already has this reply: counted as sent");
                    self.give_back(1).await;
                }
                Err(e) => {
                    self.give_back(left).await;
                    return Err(e.into());
                }
            }
            self.mark_sent(msgid);
            left -= 1;
        }
        Ok(())
    }

    /// Sends `text`, split at ≤ 2048 bytes on character boundaries into consecutive messages.
    /// Refused locally, before anything is sent, if the budget has not room for every piece.
    /// When the handler is retried, pieces that already went out are not sent again.
    pub async fn reply_text(&self, text: &str) -> Result<(), BotError> {
        let parts = split_text(text, MAX_TEXT_BYTES);
        if parts.is_empty() {
            return Err(BotError::EmptyText);
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
    pub async fn reply(&self, message: impl Into<SendMessage>) -> Result<(), BotError> {
        let req = SendMsgRequest::new(&self.external_userid, &self.open_kfid, message)
            .with_msgid(self.next_msgid());
        self.send_all(vec![req]).await
    }

    async fn reply_media(&self, kind: MediaType, filename: &str, data: Bytes) -> Result<(), BotError> {
        // check the budget before uploading, so a refused send costs no upload
        let budget = self.budget().await?;
        if budget.expires_at <= now_secs() {
            return Err(BotError::WindowClosed);
        }
        if budget.remaining == 0 {
            return Err(BotError::BudgetExhausted { needed: 1, remaining: 0 });
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
    pub async fn reply_image(&self, filename: &str, data: impl Into<Bytes>) -> Result<(), BotError> {
        self.reply_media(MediaType::Image, filename, data.into()).await
    }

    /// Uploads `data` as a voice message (AMR ≤ 2 MB, 60 s) and sends it.
    pub async fn reply_voice(&self, filename: &str, data: impl Into<Bytes>) -> Result<(), BotError> {
        self.reply_media(MediaType::Voice, filename, data.into()).await
    }

    /// Uploads `data` as a video (MP4 ≤ 10 MB) and sends it.
    pub async fn reply_video(&self, filename: &str, data: impl Into<Bytes>) -> Result<(), BotError> {
        self.reply_media(MediaType::Video, filename, data.into()).await
    }

    /// Uploads `data` as a file (≤ 20 MB) and sends it.
    pub async fn reply_file(&self, filename: &str, data: impl Into<Bytes>) -> Result<(), BotError> {
        self.reply_media(MediaType::File, filename, data.into()).await
    }

    /// Sends a link card.
    pub async fn reply_link(&self, link: SendLink) -> Result<(), BotError> {
        self.reply(SendMessage::Link(link)).await
    }

    /// Sends a menu.
    pub async fn reply_menu(&self, menu: MsgMenu) -> Result<(), BotError> {
        self.reply(SendMessage::Msgmenu(menu)).await
    }

    /// Sends the welcome text of an `enter_session` event with its `welcome_code`
    /// (`send_msg_on_event`, kf-api.md §5.5; outside the 5-message budget). Text over 2048 bytes
    /// is refused, since a welcome code can be used once.
    pub async fn send_welcome_text(&self, text: &str) -> Result<(), BotError> {
        let code = self.welcome_code.as_deref().ok_or(BotError::NoWelcomeCode)?;
        if text.len() > MAX_TEXT_BYTES {
            return Err(BotError::TextTooLong { len: text.len() });
        }
        let req = SendMsgOnEventRequest::text(code, text).with_msgid(self.next_msgid());
        self.send_on_event(req).await
    }

    /// Sends a welcome menu with the `enter_session` event's `welcome_code`.
    pub async fn send_welcome_menu(&self, menu: MsgMenu) -> Result<(), BotError> {
        let code = self.welcome_code.as_deref().ok_or(BotError::NoWelcomeCode)?;
        let req = SendMsgOnEventRequest::menu(code, menu).with_msgid(self.next_msgid());
        self.send_on_event(req).await
    }

    async fn send_on_event(&self, req: SendMsgOnEventRequest) -> Result<(), BotError> {
        let msgid = req.msgid.clone().unwrap_or_default();
        if self.was_sent(&msgid) {
            return Ok(());
        }
        match self.client.message().send_msg_on_event(req).await {
            Ok(_) => {}
            Err(e) if is_duplicate(&e) => {}
            Err(e) => return Err(e.into()),
        }
        self.mark_sent(msgid);
        Ok(())
    }
}
