//! The backends a route can point at, and what they share: the replies of the webhook protocol
//! and how they go out through [`ReplyContext`].

pub(crate) mod dify;
pub(crate) mod openai;
pub(crate) mod webhook;

use std::sync::Arc;

use wxkf_bot::{HandlerError, ReplyContext, ReplyError, Turn, async_trait};
use wxkf_types::media::MediaType;
use wxkf_types::message::{Event, Message, SendLink};

pub(crate) use crate::protocol::{Action, Answer, Reply};
use crate::shared::Shared;

/// One backend (`[backends.NAME]`).
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Answers one customer turn through `ctx`.
    async fn turn(&self, shared: &Shared, ctx: &ReplyContext, turn: &Turn) -> Result<(), HandlerError>;

    /// An event the backend may care about (`enter_session`, `session_status_change`). Ignored
    /// by default.
    async fn event(
        &self,
        shared: &Shared,
        ctx: &ReplyContext,
        msg: &Message,
        event: &Event,
    ) -> Result<(), HandlerError> {
        let _ = (shared, ctx, msg, event);
        Ok(())
    }
}

/// The backends by name.
pub(crate) type Backends = std::collections::BTreeMap<String, Arc<dyn Backend>>;

/// What [`apply`] sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sent {
    pub(crate) sent: u32,
    pub(crate) cut: bool,
}

/// Sends `answer` through `ctx`: consecutive texts together, cut to the budget with the marker;
/// other kinds one message each while the budget lasts; then the action. Nothing is sent once
/// the session left the bot (the error is [`ReplyError::SessionLeftBot`]).
pub(crate) async fn apply(
    shared: &Shared,
    ctx: &ReplyContext,
    answer: &Answer,
) -> Result<Sent, HandlerError> {
    let mut out = Sent::default();
    let mut texts: Vec<&str> = Vec::new();
    for reply in &answer.replies {
        if let Reply::Text { text } = reply {
            if !text.trim().is_empty() {
                texts.push(text);
            }
            continue;
        }
        flush(shared, ctx, &mut texts, &mut out).await?;
        if out.cut {
            break;
        }
        let budget = ctx.budget().await?;
        if budget.remaining == 0 {
            out.cut = true;
            break;
        }
        send_other(shared, ctx, reply).await?;
        out.sent += 1;
        shared.metrics.replies("sent", 1);
    }
    if !out.cut {
        flush(shared, ctx, &mut texts, &mut out).await?;
    }
    match answer.action {
        Some(Action::HandOff) => hand_off(shared, ctx).await?,
        Some(Action::End) => {
            ctx.end_session().await?;
        }
        None => {}
    }
    Ok(out)
}

async fn flush(
    shared: &Shared,
    ctx: &ReplyContext,
    texts: &mut Vec<&str>,
    out: &mut Sent,
) -> Result<(), ReplyError> {
    if texts.is_empty() {
        return Ok(());
    }
    let d = ctx.reply_parts_fit(texts).await.inspect_err(|e| {
        let outcome =
            if matches!(e, ReplyError::SessionLeftBot { .. }) { "session_left_bot" } else { "failed" };
        shared.metrics.replies(outcome, 1);
    })?;
    texts.clear();
    out.sent += d.sent;
    out.cut |= d.cut;
    shared.metrics.replies("sent", u64::from(d.sent));
    if d.cut {
        shared.metrics.replies("cut", 1);
    }
    Ok(())
}

/// Hands the session to the waiting pool and sends `conversation.hand_off_text` with its code.
pub(crate) async fn hand_off(shared: &Shared, ctx: &ReplyContext) -> Result<(), ReplyError> {
    if let Some(code) = ctx.hand_to_pool().await? {
        let text = &shared.config.conversation.hand_off_text;
        if !text.is_empty() {
            ctx.send_event_text(&code, text).await?;
        }
    }
    Ok(())
}

/// The file name at the end of `url`'s path, or `fallback`.
fn file_name(url: &str, fallback: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.path_segments().and_then(|mut s| s.next_back().map(str::to_owned)))
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(&s).decode_utf8_lossy().into_owned())
        .unwrap_or_else(|| fallback.to_owned())
}

/// Why a reply's URL could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not download the reply's {url}: {detail}; the backend's URL must be reachable from the gateway"
)]
pub(crate) struct DownloadError {
    url: String,
    detail: String,
}

async fn download(shared: &Shared, url: &str) -> Result<bytes::Bytes, DownloadError> {
    let err = |detail: String| DownloadError { url: url.to_owned(), detail };
    let resp = shared.http.get(url).send().await.map_err(|e| err(e.without_url().to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status())));
    }
    resp.bytes().await.map_err(|e| err(e.without_url().to_string()))
}

async fn send_other(shared: &Shared, ctx: &ReplyContext, reply: &Reply) -> Result<(), HandlerError> {
    match reply {
        Reply::Text { .. } => {}
        Reply::Image { url } => {
            let data = download(shared, url).await?;
            ctx.reply_image(&file_name(url, "image.jpg"), data).await?;
        }
        Reply::File { url } => {
            let data = download(shared, url).await?;
            ctx.reply_file(&file_name(url, "file"), data).await?;
        }
        Reply::Link { title, url, desc, thumb_media_id, thumb_url } => {
            let thumb = match (thumb_media_id, thumb_url) {
                (Some(id), _) => id.clone(),
                (None, Some(u)) => {
                    let data = download(shared, u).await?;
                    ctx.client()
                        .media()
                        .upload(MediaType::Image, &file_name(u, "thumb.jpg"), data)
                        .await?
                        .media_id
                }
                (None, None) => {
                    return Err(
                        "a link reply needs thumb_media_id or thumb_url (WeCom requires a thumbnail)".into(),
                    );
                }
            };
            let mut link = SendLink::new(title, url, thumb);
            if let Some(d) = desc {
                link = link.with_desc(d);
            }
            ctx.reply_link(link).await?;
        }
        Reply::Menu(menu) => ctx.reply_menu(menu.clone()).await?,
    }
    Ok(())
}

/// An error the runtime must not retry: its source is an error `wxkf_bot` counts as permanent,
/// so the turn goes to the dead-letter hook at once (wxkf-bot has no public "permanent" marker
/// for handler errors yet).
pub(crate) fn not_retried() -> wxkf_client::Error {
    wxkf_client::Error::invalid_argument("retrying cannot succeed, so the turn is dead-lettered")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocols_replies_and_actions_parse() {
        let a: Answer = serde_json::from_str(
            r#"{"replies": [{"type": "text", "text": "hi"}, {"type": "image", "url": "http://x/a.png"},
                {"type": "menu", "head_content": "pick", "list": [{"type": "click", "click": {"id": "1", "content": "yes"}}]},
                {"type": "link", "title": "t", "url": "https://x", "thumb_media_id": "m"}],
                "action": "hand_off"}"#,
        )
        .unwrap();
        assert_eq!(a.replies.len(), 4);
        assert_eq!(a.action, Some(Action::HandOff));
        let b: Answer = serde_json::from_str(r#"{"replies": [], "action": null}"#).unwrap();
        assert_eq!(b.action, None);
        assert!(serde_json::from_str::<Answer>(r#"{"replies": [{"type": "video"}]}"#).is_err());
    }

    #[test]
    fn file_names_come_from_the_url() {
        assert_eq!(file_name("http://h/p/%E5%9B%BE.png?x=1", "f"), "图.png");
        assert_eq!(file_name("http://h/", "f"), "f");
    }

    #[test]
    fn not_retried_is_permanent_for_the_runtime() {
        assert!(not_retried().is_permanent());
    }
}
