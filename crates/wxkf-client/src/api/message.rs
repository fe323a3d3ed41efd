//! Messages (kf-api.md §5): `sync_msg` (one page, pages, or a stream of messages), `send_msg` and
//! `send_msg_on_event` made safe to retry with a generated `msgid`, `recall_msg`.

use rand::Rng;
use wxkf_types::message::{
    MAX_TEXT_BYTES, SendMessage, SendMsgOnEventRequest, SendMsgOnEventResponse, SendMsgRequest,
    SendMsgResponse, SyncMsgRequest,
};

use crate::error::Error;
use crate::paging::{SyncMsgPages, SyncMsgStream};

/// Longest `msgid` WeCom accepts, in bytes (kf-api.md §5.4).
pub const MAX_MSGID_BYTES: usize = 32;

const MSGID_ALPHABET: &[u8; 64] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-";
const GENERATED_MSGID_LEN: usize = 24;

/// A fresh random `msgid`: 24 characters of `[0-9a-zA-Z_-]` (144 random bits).
///
/// `send_msg` uses one when the caller gives none, so that a retried send is deduplicated by
/// WeCom; generate one yourself and store it with your outgoing message if a send must survive a
/// restart of your process without being delivered twice.
///
/// ```
/// let id = wxkf_client::api::message::new_msgid();
/// assert_eq!(id.len(), 24);
/// assert!(wxkf_client::api::message::is_valid_msgid(&id));
/// ```
pub fn new_msgid() -> String {
    let mut rng = rand::rng();
    (0..GENERATED_MSGID_LEN)
        .map(|_| char::from(MSGID_ALPHABET[rng.random_range(0..MSGID_ALPHABET.len())]))
        .collect()
}

/// Whether WeCom accepts `msgid`: 1 to 32 bytes of `[0-9a-zA-Z_-]`.
pub fn is_valid_msgid(msgid: &str) -> bool {
    !msgid.is_empty()
        && msgid.len() <= MAX_MSGID_BYTES
        && msgid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The caller's msgid if valid, or a generated one.
fn ensure_msgid(msgid: &mut Option<String>) -> Result<(), Error> {
    match msgid.as_deref() {
        Some(id) if !id.is_empty() => {
            if !is_valid_msgid(id) {
                return Err(Error::invalid_argument(format!(
                    "msgid {id:?}: at most {MAX_MSGID_BYTES} bytes of [0-9a-zA-Z_-]"
                )));
            }
        }
        _ => *msgid = Some(new_msgid()),
    }
    Ok(())
}

fn check_text(content: &str) -> Result<(), Error> {
    if content.len() > MAX_TEXT_BYTES {
        return Err(Error::invalid_argument(format!(
            "text is {} bytes; WeCom accepts at most {MAX_TEXT_BYTES}",
            content.len()
        )));
    }
    Ok(())
}

super::area!(
    /// The message area (kf-api.md §5).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// use futures_util::StreamExt;
    /// use wxkf_client::types::message::{SendMsgRequest, SyncMsgRequest};
    ///
    /// let mut messages = client.message().sync_msg_stream(SyncMsgRequest::new("wkACCOUNT"));
    /// while let Some(message) = messages.next().await {
    ///     let message = message?;
    ///     if let (Some(kf), Some(customer)) = (message.open_kfid(), message.external_userid()) {
    ///         client.message().send_msg(SendMsgRequest::text(customer, kf, "received")).await?;
    ///     }
    ///     if let Some(cursor) = messages.cursor() {
    ///         println!("persist {cursor}");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    MessageApi,
    message
);

impl MessageApi<'_> {
    /// `sync_msg` page by page: follows `next_cursor` while `has_more`, also past an empty page.
    /// Persist each page's `next_cursor` after processing it.
    /// A request without `open_kfid` yields one [`Error::InvalidArgument`].
    pub fn sync_msg_pages(&self, req: SyncMsgRequest) -> SyncMsgPages {
        match super::Check::check(&req) {
            Ok(()) => SyncMsgPages::new(self.client.clone(), req),
            Err(err) => SyncMsgPages::refused(self.client.clone(), req, err),
        }
    }

    /// `sync_msg` message by message, across pages; [`SyncMsgStream::cursor`](crate::paging::Items::cursor)
    /// is the cursor to persist (every message before it has been yielded). A stream whose request
    /// has no `open_kfid` yields one [`Error::InvalidArgument`].
    pub fn sync_msg_stream(&self, req: SyncMsgRequest) -> SyncMsgStream {
        SyncMsgStream::from_pages(self.sync_msg_pages(req))
    }

    /// `send_msg` (§5.4). Without a `msgid` one is generated ([`new_msgid`]), which makes the send
    /// safe to retry: transport errors, 5xx and -1 are retried with the same `msgid`, and WeCom
    /// rejects a duplicate instead of delivering twice. When such a retry is refused as a
    /// duplicate `msgid` ([`Error::is_duplicate_msgid`]), the attempt whose answer was lost went
    /// through, and the call succeeds with that `msgid`; a duplicate on a call's *first* attempt
    /// (a `msgid` used by an earlier call) is returned as the error. A text over 2048 bytes or an
    /// invalid `msgid` is refused before sending. Success means accepted, not delivered: watch for
    /// `msg_send_fail` events.
    pub async fn send_msg(&self, mut req: SendMsgRequest) -> Result<SendMsgResponse, Error> {
        ensure_msgid(&mut req.msgid)?;
        if let SendMessage::Text(text) = &req.message {
            check_text(&text.content)?;
        }
        let msgid = req.msgid.clone().unwrap_or_default();
        self.client.execute_send(&req, &msgid).await
    }

    /// [`send_msg`](Self::send_msg) after checking with `service_state/get` that the session accepts
    /// messages from the API (state new or bot); otherwise [`Error::SessionNotSendable`], which says
    /// to move the session with `service_state/trans`, instead of WeCom's 95018.
    pub async fn send_msg_checked(&self, req: SendMsgRequest) -> Result<SendMsgResponse, Error> {
        self.client.service_state().ensure_sendable(&req.open_kfid, &req.touser).await?;
        self.send_msg(req).await
    }

    /// `send_msg_on_event` (§5.5): reply with a `welcome_code` or `msg_code`. A `msgid` is generated
    /// when missing, so retries are safe, and a retry refused as a duplicate `msgid` is success, as
    /// for [`send_msg`](Self::send_msg).
    pub async fn send_msg_on_event(
        &self,
        mut req: SendMsgOnEventRequest,
    ) -> Result<SendMsgOnEventResponse, Error> {
        ensure_msgid(&mut req.msgid)?;
        if req.code.is_empty() {
            return Err(Error::invalid_argument("send_msg_on_event needs the event's code"));
        }
        let msgid = req.msgid.clone().unwrap_or_default();
        self.client.execute_send(&req, &msgid).await
    }
}

impl super::Check for SyncMsgRequest {
    fn check(&self) -> Result<(), Error> {
        if self.open_kfid.is_empty() {
            return Err(Error::invalid_argument(
                "sync_msg needs open_kfid (the current reference requires it)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_msgids_are_valid_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_msgid()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| is_valid_msgid(id) && id.len() == GENERATED_MSGID_LEN));
    }

    #[test]
    fn msgid_rules() {
        assert!(is_valid_msgid("a-b_C9"));
        assert!(is_valid_msgid(&"x".repeat(32)));
        assert!(!is_valid_msgid(&"x".repeat(33)));
        assert!(!is_valid_msgid("has space"));
        assert!(!is_valid_msgid("好"));
        assert!(!is_valid_msgid(""));
        let mut given = Some("mine".to_owned());
        assert!(ensure_msgid(&mut given).is_ok());
        assert_eq!(given.as_deref(), Some("mine"));
        let mut bad = Some("bad id".to_owned());
        assert!(matches!(ensure_msgid(&mut bad), Err(Error::InvalidArgument { .. })));
        let mut none = None;
        assert!(ensure_msgid(&mut none).is_ok());
        assert!(none.is_some_and(|id| is_valid_msgid(&id)));
    }
}
