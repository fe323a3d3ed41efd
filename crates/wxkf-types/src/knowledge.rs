//! Knowledge base (robot Q&A): groups and intents (questions with their answers). Self-built apps
//! only (kf-api.md §10).
//!
//! ```
//! use wxkf_types::knowledge::{KnowledgeAddIntentRequest, KnowledgeAnswer, KnowledgeAttachment};
//!
//! let answer = KnowledgeAnswer::new("Open 9-18.").with_attachment(KnowledgeAttachment::image("MEDIA_ID"));
//! let req = KnowledgeAddIntentRequest::new("GROUP_ID", "When are you open?", answer)
//!     .with_similar_questions(["Opening hours?"]);
//! let json = serde_json::to_value(&req).unwrap();
//! assert_eq!(json["answers"][0]["attachments"][0]["image"]["media_id"], "MEDIA_ID");
//! assert_eq!(json["similar_questions"]["items"][0]["text"]["content"], "Opening hours?");
//! ```

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::serde_util::non_empty;

/// Largest `limit` of the list endpoints (kf-api.md §10).
pub const MAX_LIST_LIMIT: u32 = 1000;

// ---------------------------------------------------------------------------------------------
// Groups (kf-api.md §10.1)

/// Body of `POST /cgi-bin/kf/knowledge/add_group` (kf-api.md §10.1): create a group (at most 100,
/// names unique). Not idempotent.
#[doc(alias = "/cgi-bin/kf/knowledge/add_group")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeAddGroupRequest {
    /// Group name, at most 12 characters.
    pub name: String,
}

impl KnowledgeAddGroupRequest {
    /// Create a group named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        KnowledgeAddGroupRequest { name: name.into() }
    }
}

/// Response of `knowledge/add_group` (kf-api.md §10.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeAddGroupResponse {
    /// Id of the new group.
    #[serde(default)]
    pub group_id: String,
}

/// Body of `POST /cgi-bin/kf/knowledge/del_group` (kf-api.md §10.1). The default group cannot be
/// deleted.
#[doc(alias = "/cgi-bin/kf/knowledge/del_group")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeDelGroupRequest {
    /// The group.
    pub group_id: String,
}

impl KnowledgeDelGroupRequest {
    /// Delete the group `group_id`.
    pub fn new(group_id: impl Into<String>) -> Self {
        KnowledgeDelGroupRequest { group_id: group_id.into() }
    }
}

/// Body of `POST /cgi-bin/kf/knowledge/mod_group` (kf-api.md §10.1): rename a group. The default
/// group cannot be modified.
#[doc(alias = "/cgi-bin/kf/knowledge/mod_group")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeModGroupRequest {
    /// The group.
    pub group_id: String,
    /// New name, at most 12 characters.
    pub name: String,
}

impl KnowledgeModGroupRequest {
    /// Rename the group `group_id` to `name`.
    pub fn new(group_id: impl Into<String>, name: impl Into<String>) -> Self {
        KnowledgeModGroupRequest { group_id: group_id.into(), name: name.into() }
    }
}

/// Body of `POST /cgi-bin/kf/knowledge/list_group` (kf-api.md §10.1): one page of groups, or one
/// group by id.
#[doc(alias = "/cgi-bin/kf/knowledge/list_group")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeListGroupRequest {
    /// `next_cursor` of the previous page; absent for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size, default 500, at most [`MAX_LIST_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Fetch only this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

impl KnowledgeListGroupRequest {
    /// The first page with WeCom's default size.
    pub fn new() -> Self {
        KnowledgeListGroupRequest::default()
    }

    /// Continue after `cursor`; an empty string means the first page.
    pub fn with_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = non_empty(cursor);
        self
    }

    /// Page size (WeCom accepts up to 1000).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Fetch only `group_id`; an empty string means all groups.
    pub fn with_group_id(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = non_empty(group_id);
        self
    }
}

/// Response of `knowledge/list_group` (kf-api.md §10.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeListGroupResponse {
    /// Cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Whether more pages follow (0/1 on the wire).
    #[serde(default, with = "crate::serde_util::int_bool")]
    pub has_more: bool,
    /// The groups of this page.
    #[serde(default)]
    pub group_list: Vec<KnowledgeGroup>,
}

/// One knowledge-base group (kf-api.md §10.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeGroup {
    /// Group id.
    #[serde(default)]
    pub group_id: String,
    /// Group name.
    #[serde(default)]
    pub name: String,
    /// Whether this is the system's read-only default group (0/1 on the wire).
    #[serde(default, with = "crate::serde_util::int_bool")]
    pub is_default: bool,
}

// ---------------------------------------------------------------------------------------------
// Intents (kf-api.md §10.2)

/// `{"content": …}`: the text of a question or an answer (kf-api.md §10.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeText {
    /// The text.
    #[serde(default)]
    pub content: String,
}

impl KnowledgeText {
    /// Text with `content`.
    pub fn new(content: impl Into<String>) -> Self {
        KnowledgeText { content: content.into() }
    }
}

/// A question: `{"text": {"content": …}}` (kf-api.md §10.2). Main questions are at most 200
/// characters, as are similar questions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeQuestion {
    /// The question's text.
    #[serde(default)]
    pub text: KnowledgeText,
}

impl KnowledgeQuestion {
    /// A question reading `content`.
    pub fn new(content: impl Into<String>) -> Self {
        KnowledgeQuestion { text: KnowledgeText::new(content) }
    }
}

/// `similar_questions`: alternative phrasings, at most 100 (kf-api.md §10.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeSimilarQuestions {
    /// The phrasings. Always written, so that an empty list in `mod_intent` clears them.
    #[serde(default)]
    pub items: Vec<KnowledgeQuestion>,
}

impl KnowledgeSimilarQuestions {
    /// Similar questions from their texts.
    pub fn new(items: impl IntoIterator<Item = impl Into<String>>) -> Self {
        KnowledgeSimilarQuestions { items: items.into_iter().map(KnowledgeQuestion::new).collect() }
    }
}

/// An answer: text (≤500 characters) plus up to 4 attachments (kf-api.md §10.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeAnswer {
    /// The answer's text.
    #[serde(default)]
    pub text: KnowledgeText,
    /// Attachments sent with the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<KnowledgeAttachment>,
}

impl KnowledgeAnswer {
    /// An answer reading `content`, without attachments.
    pub fn new(content: impl Into<String>) -> Self {
        KnowledgeAnswer { text: KnowledgeText::new(content), attachments: Vec::new() }
    }

    /// Add an attachment (WeCom accepts at most 4).
    pub fn with_attachment(mut self, attachment: KnowledgeAttachment) -> Self {
        self.attachments.push(attachment);
        self
    }
}

/// An answer attachment, `{"msgtype": T, T: {…}}` on the wire (kf-api.md §10.2 问答附件类型).
///
/// Attachments of an unknown type, or whose payload does not parse, are kept as
/// [`Unknown`](Self::Unknown) with their raw JSON, and written back unchanged.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum KnowledgeAttachment {
    /// `image`: `media_id` when writing, `name` when read back.
    Image(KnowledgeMedia),
    /// `video`: `media_id` when writing, `name` when read back.
    Video(KnowledgeMedia),
    /// `link`: a link card.
    Link(KnowledgeLink),
    /// `miniprogram`: a mini-program card.
    MiniProgram(KnowledgeMiniProgram),
    /// Anything else.
    Unknown {
        /// The `msgtype` (empty when missing).
        msgtype: String,
        /// The whole attachment object as received.
        raw: serde_json::Value,
    },
}

impl KnowledgeAttachment {
    /// An image attachment from a temporary `media_id`.
    pub fn image(media_id: impl Into<String>) -> Self {
        KnowledgeAttachment::Image(KnowledgeMedia::from_media_id(media_id))
    }

    /// A video attachment from a temporary `media_id`.
    pub fn video(media_id: impl Into<String>) -> Self {
        KnowledgeAttachment::Video(KnowledgeMedia::from_media_id(media_id))
    }

    /// The wire `msgtype`.
    pub fn msgtype(&self) -> &str {
        match self {
            KnowledgeAttachment::Image(_) => "image",
            KnowledgeAttachment::Video(_) => "video",
            KnowledgeAttachment::Link(_) => "link",
            KnowledgeAttachment::MiniProgram(_) => "miniprogram",
            KnowledgeAttachment::Unknown { msgtype, .. } => msgtype,
        }
    }
}

impl Serialize for KnowledgeAttachment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fn tagged<S: Serializer, T: Serialize>(s: S, msgtype: &str, payload: &T) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(2))?;
            map.serialize_entry("msgtype", msgtype)?;
            map.serialize_entry(msgtype, payload)?;
            map.end()
        }
        match self {
            KnowledgeAttachment::Image(m) => tagged(s, "image", m),
            KnowledgeAttachment::Video(m) => tagged(s, "video", m),
            KnowledgeAttachment::Link(l) => tagged(s, "link", l),
            KnowledgeAttachment::MiniProgram(p) => tagged(s, "miniprogram", p),
            KnowledgeAttachment::Unknown { raw, .. } => raw.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for KnowledgeAttachment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(d)?;
        let msgtype = raw.get("msgtype").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
        let payload = raw.get(&msgtype).cloned().unwrap_or(serde_json::Value::Null);
        let known = match msgtype.as_str() {
            "image" => serde_json::from_value(payload).ok().map(KnowledgeAttachment::Image),
            "video" => serde_json::from_value(payload).ok().map(KnowledgeAttachment::Video),
            "link" => serde_json::from_value(payload).ok().map(KnowledgeAttachment::Link),
            "miniprogram" => serde_json::from_value(payload).ok().map(KnowledgeAttachment::MiniProgram),
            _ => None,
        };
        Ok(known.unwrap_or(KnowledgeAttachment::Unknown { msgtype, raw }))
    }
}

/// Payload of `image` and `video` attachments (kf-api.md §10.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeMedia {
    /// Temporary media id; required when adding or modifying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// File name; what `list_intent` returns instead of the media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl KnowledgeMedia {
    /// Media referred to by a temporary `media_id`.
    pub fn from_media_id(media_id: impl Into<String>) -> Self {
        KnowledgeMedia { media_id: Some(media_id.into()), name: None }
    }
}

/// Payload of a `link` attachment (kf-api.md §10.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeLink {
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Target URL.
    #[serde(default)]
    pub url: String,
    /// Thumbnail URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pic_url: Option<String>,
}

impl KnowledgeLink {
    /// A link card titled `title` leading to `url`.
    pub fn new(title: impl Into<String>, url: impl Into<String>) -> Self {
        KnowledgeLink { title: title.into(), desc: None, url: url.into(), pic_url: None }
    }

    /// Set the description (empty: none).
    pub fn with_desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = non_empty(desc);
        self
    }

    /// Set the thumbnail URL (empty: none).
    pub fn with_pic_url(mut self, pic_url: impl Into<String>) -> Self {
        self.pic_url = non_empty(pic_url);
        self
    }
}

/// Payload of a `miniprogram` attachment (kf-api.md §10.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeMiniProgram {
    /// Mini-program appid.
    #[serde(default)]
    pub appid: String,
    /// Page path inside the mini program.
    #[serde(default)]
    pub pagepath: String,
    /// Card title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Card thumbnail (temporary media id); not returned by `list_intent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_media_id: Option<String>,
}

impl KnowledgeMiniProgram {
    /// A card opening `pagepath` of the mini program `appid`.
    pub fn new(appid: impl Into<String>, pagepath: impl Into<String>) -> Self {
        KnowledgeMiniProgram {
            appid: appid.into(),
            pagepath: pagepath.into(),
            title: None,
            thumb_media_id: None,
        }
    }

    /// Set the card title (empty: none).
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = non_empty(title);
        self
    }

    /// Set the card thumbnail (empty: none).
    pub fn with_thumb_media_id(mut self, thumb_media_id: impl Into<String>) -> Self {
        self.thumb_media_id = non_empty(thumb_media_id);
        self
    }
}

/// Body of `POST /cgi-bin/kf/knowledge/add_intent` (kf-api.md §10.2): add a Q&A to a group (at most
/// 200 per group; a question may not repeat across groups). Not idempotent.
#[doc(alias = "/cgi-bin/kf/knowledge/add_intent")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeAddIntentRequest {
    /// The group.
    pub group_id: String,
    /// Main question.
    pub question: KnowledgeQuestion,
    /// Alternative phrasings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similar_questions: Option<KnowledgeSimilarQuestions>,
    /// Answers; currently exactly one.
    pub answers: Vec<KnowledgeAnswer>,
}

impl KnowledgeAddIntentRequest {
    /// A Q&A in `group_id` with the main question `question` and its `answer`.
    pub fn new(group_id: impl Into<String>, question: impl Into<String>, answer: KnowledgeAnswer) -> Self {
        KnowledgeAddIntentRequest {
            group_id: group_id.into(),
            question: KnowledgeQuestion::new(question),
            similar_questions: None,
            answers: vec![answer],
        }
    }

    /// Set the similar questions; none given means none sent.
    pub fn with_similar_questions(mut self, items: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.similar_questions = Some(KnowledgeSimilarQuestions::new(items)).filter(|s| !s.items.is_empty());
        self
    }
}

/// Response of `knowledge/add_intent` (kf-api.md §10.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeAddIntentResponse {
    /// Id of the new Q&A.
    #[serde(default)]
    pub intent_id: String,
}

/// Body of `POST /cgi-bin/kf/knowledge/del_intent` (kf-api.md §10.2).
#[doc(alias = "/cgi-bin/kf/knowledge/del_intent")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeDelIntentRequest {
    /// The Q&A.
    pub intent_id: String,
}

impl KnowledgeDelIntentRequest {
    /// Delete the Q&A `intent_id`.
    pub fn new(intent_id: impl Into<String>) -> Self {
        KnowledgeDelIntentRequest { intent_id: intent_id.into() }
    }
}

/// Body of `POST /cgi-bin/kf/knowledge/mod_intent` (kf-api.md §10.2): each part given replaces that
/// part of the Q&A entirely; parts not given are kept.
#[doc(alias = "/cgi-bin/kf/knowledge/mod_intent")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeModIntentRequest {
    /// The Q&A.
    pub intent_id: String,
    /// New main question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<KnowledgeQuestion>,
    /// New similar questions; `Some` with no items removes them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similar_questions: Option<KnowledgeSimilarQuestions>,
    /// New answers (currently exactly one); empty keeps the current ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<KnowledgeAnswer>,
}

impl KnowledgeModIntentRequest {
    /// A modification of `intent_id` that changes nothing yet.
    pub fn new(intent_id: impl Into<String>) -> Self {
        KnowledgeModIntentRequest {
            intent_id: intent_id.into(),
            question: None,
            similar_questions: None,
            answers: Vec::new(),
        }
    }

    /// Replace the main question.
    pub fn with_question(mut self, question: impl Into<String>) -> Self {
        self.question = Some(KnowledgeQuestion::new(question));
        self
    }

    /// Replace the similar questions (an empty list removes them).
    pub fn with_similar_questions(mut self, items: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.similar_questions = Some(KnowledgeSimilarQuestions::new(items));
        self
    }

    /// Replace the answer.
    pub fn with_answer(mut self, answer: KnowledgeAnswer) -> Self {
        self.answers = vec![answer];
        self
    }
}

/// Body of `POST /cgi-bin/kf/knowledge/list_intent` (kf-api.md §10.2): one page of Q&As, optionally
/// of one group or one Q&A.
#[doc(alias = "/cgi-bin/kf/knowledge/list_intent")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeListIntentRequest {
    /// `next_cursor` of the previous page; absent for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size, default 500, at most [`MAX_LIST_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Only Q&As of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Only this Q&A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<String>,
}

impl KnowledgeListIntentRequest {
    /// The first page of all Q&As with WeCom's default size.
    pub fn new() -> Self {
        KnowledgeListIntentRequest::default()
    }

    /// Continue after `cursor`; an empty string means the first page.
    pub fn with_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = non_empty(cursor);
        self
    }

    /// Page size (WeCom accepts up to 1000).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Only Q&As of `group_id` (empty: all groups).
    pub fn with_group_id(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = non_empty(group_id);
        self
    }

    /// Only the Q&A `intent_id` (empty: all).
    pub fn with_intent_id(mut self, intent_id: impl Into<String>) -> Self {
        self.intent_id = non_empty(intent_id);
        self
    }
}

/// Response of `knowledge/list_intent` (kf-api.md §10.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KnowledgeListIntentResponse {
    /// Cursor of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Whether more pages follow (0/1 on the wire).
    #[serde(default, with = "crate::serde_util::int_bool")]
    pub has_more: bool,
    /// The Q&As of this page.
    #[serde(default)]
    pub intent_list: Vec<KnowledgeIntent>,
}

/// One Q&A of `list_intent` (kf-api.md §10.2).
///
/// DISAGREEMENT: the official example nests `similar_questions` and `answers` inside `question`;
/// the field table puts them beside it. Both are read (the intent level wins when both are
/// present) and they are always written at the intent level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawKnowledgeIntent")]
#[non_exhaustive]
pub struct KnowledgeIntent {
    /// The group.
    pub group_id: String,
    /// The Q&A id.
    pub intent_id: String,
    /// Main question.
    pub question: KnowledgeQuestion,
    /// Alternative phrasings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similar_questions: Option<KnowledgeSimilarQuestions>,
    /// Answers (attachments read back with names instead of media ids).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<KnowledgeAnswer>,
}

#[derive(Deserialize)]
struct RawKnowledgeIntent {
    #[serde(default)]
    group_id: String,
    #[serde(default)]
    intent_id: String,
    #[serde(default)]
    question: RawKnowledgeQuestion,
    #[serde(default)]
    similar_questions: Option<KnowledgeSimilarQuestions>,
    #[serde(default)]
    answers: Option<Vec<KnowledgeAnswer>>,
}

#[derive(Default, Deserialize)]
struct RawKnowledgeQuestion {
    #[serde(default)]
    text: KnowledgeText,
    #[serde(default)]
    similar_questions: Option<KnowledgeSimilarQuestions>,
    #[serde(default)]
    answers: Option<Vec<KnowledgeAnswer>>,
}

impl From<RawKnowledgeIntent> for KnowledgeIntent {
    fn from(r: RawKnowledgeIntent) -> Self {
        KnowledgeIntent {
            group_id: r.group_id,
            intent_id: r.intent_id,
            question: KnowledgeQuestion { text: r.question.text },
            similar_questions: r.similar_questions.or(r.question.similar_questions),
            answers: r.answers.or(r.question.answers).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attachments_round_trip_and_keep_unknowns() {
        let cases = [
            json!({"msgtype": "image", "image": {"media_id": "M"}}),
            json!({"msgtype": "video", "video": {"name": "v.mp4"}}),
            json!({"msgtype": "link", "link": {"title": "T", "desc": "D", "url": "U", "pic_url": "P"}}),
            json!({"msgtype": "miniprogram", "miniprogram": {"appid": "A", "pagepath": "P", "title": "T", "thumb_media_id": "M"}}),
            json!({"msgtype": "file", "file": {"media_id": "F"}}),
            json!({"msgtype": "image", "image": "not an object"}),
            json!({"no_msgtype": 1}),
            json!("a string"),
        ];
        let kinds = ["image", "video", "link", "miniprogram", "file", "image", "", ""];
        for (case, kind) in cases.iter().zip(kinds) {
            let a: KnowledgeAttachment = serde_json::from_value(case.clone()).unwrap();
            assert_eq!(a.msgtype(), kind);
            assert_eq!(&serde_json::to_value(&a).unwrap(), case);
        }
        let link: KnowledgeAttachment = serde_json::from_value(cases[2].clone()).unwrap();
        assert_eq!(
            link,
            KnowledgeAttachment::Link(KnowledgeLink::new("T", "U").with_desc("D").with_pic_url("P"))
        );
        assert!(matches!(
            serde_json::from_value::<KnowledgeAttachment>(cases[5].clone()).unwrap(),
            KnowledgeAttachment::Unknown { .. }
        ));
    }
}
