//! The webhook protocol's answer (docs/gateway.md): the replies and the action, read from a
//! synchronous 200 or from `POST /v1/replies`.

use serde::Deserialize;
use wxkf_types::message::MsgMenu;

/// One reply of the webhook protocol.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Reply {
    /// `{"type": "text", "text"}`: split at 2048 bytes, cut to the budget with the marker.
    Text { text: String },
    /// `{"type": "image", "url"}`: downloaded by the gateway, uploaded, sent.
    Image { url: String },
    /// `{"type": "file", "url"}`: likewise.
    File { url: String },
    /// `{"type": "link", "title", "url", "desc"?, "thumb_media_id"? | "thumb_url"?}`.
    Link {
        title: String,
        url: String,
        #[serde(default)]
        desc: Option<String>,
        #[serde(default)]
        thumb_media_id: Option<String>,
        #[serde(default)]
        thumb_url: Option<String>,
    },
    /// `{"type": "menu", "head_content"?, "list", "tail_content"?}` (kf-api.md §5.4 msgmenu).
    Menu(MsgMenu),
}

/// What to do with the session after the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    /// To the waiting pool (转人工), with `conversation.hand_off_text`.
    HandOff,
    /// End the session.
    End,
}

/// A synchronous answer, or the body of `POST /v1/replies` (whose `id` is read separately).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Answer {
    #[serde(default)]
    pub(crate) replies: Vec<Reply>,
    #[serde(default)]
    pub(crate) action: Option<Action>,
}
