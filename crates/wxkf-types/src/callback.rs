//! The decrypted plaintext of a Kf callback (kf-api.md §12): "new messages are waiting — pull them
//! with `sync_msg`", or, for Kf-component apps, "these accounts were granted/revoked".
//!
//! WeCom sends a flat XML document; the JSON-envelope flavour carries the same fields as a flat JSON
//! object. [`CallbackEvent::parse`] reads either (it looks at the first character): JSON with
//! serde_json, XML with quick-xml, under the rules `wxkf-crypto` applies to the envelope around it:
//! UTF-8; no DOCTYPE or other `<!` declaration; element names that are XML names; attributes
//! ignored, but no `<` inside a tag; closing tags that match; one root element with only white
//! space, comments and processing instructions around it; at most 32 levels of nesting; only the
//! five predefined entities and character references other than `&#0;`, checked wherever they stand
//! inside the root. No input panics.
//!
//! The callback's `Token` is a short-lived `sync_msg` token, not a secret, so `Debug` shows it.
//!
//! ```
//! use wxkf_types::callback::CallbackEvent;
//! use wxkf_types::message::SyncMsgRequest;
//!
//! let xml = "<xml><ToUserName><![CDATA[ww12345678910]]></ToUserName>\
//!     <CreateTime>1348831860</CreateTime><MsgType><![CDATA[event]]></MsgType>\
//!     <Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENCApHxnGDNAVNY4]]></Token>\
//!     <OpenKfId><![CDATA[wkxxxxxxx]]></OpenKfId></xml>";
//! let event = CallbackEvent::parse(xml).unwrap();
//! let CallbackEvent::KfMsgOrEvent { token, open_kfid: Some(open_kfid), .. } = &event else { panic!() };
//! let pull = SyncMsgRequest::new(open_kfid.as_str()).with_token(token.as_str());
//! assert_eq!(pull.token.as_deref(), Some("ENCApHxnGDNAVNY4"));
//! ```

use std::fmt;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};
use serde_json::Value;

/// Most element nesting the XML reader accepts (the Kf document has depth 2).
const MAX_DEPTH: usize = 32;

/// A decrypted callback (kf-api.md §12).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackEvent {
    /// `Event` = `kf_msg_or_event`: messages or events are waiting; pull them with `sync_msg`
    /// until `has_more` is 0. Carries no message content and no count.
    KfMsgOrEvent {
        /// `ToUserName`: the CorpID.
        to_user_name: String,
        /// `CreateTime`: unix seconds (0 if absent).
        create_time: u64,
        /// `Token`: pass as `token` to `sync_msg` within 10 minutes (empty if absent).
        token: String,
        /// `OpenKfId`: the account with new messages (absent in the oldest docs).
        open_kfid: Option<String>,
    },
    /// `Event` = `kf_account_auth_change` (Kf-component apps): accounts granted or revoked.
    KfAccountAuthChange {
        /// `ToUserName`.
        to_user_name: String,
        /// `CreateTime`: unix seconds (0 if absent).
        create_time: u64,
        /// Every `AuthAddOpenKfId`: accounts now authorized.
        auth_add_open_kfid: Vec<String>,
        /// Every `AuthDelOpenKfId`: accounts no longer authorized.
        auth_del_open_kfid: Vec<String>,
    },
    /// Any other message or event, with every top-level element kept as name → text, in order
    /// (repeated names repeat).
    Other {
        /// `MsgType` (empty if absent).
        msg_type: String,
        /// `Event`, if present.
        event: Option<String>,
        /// Every top-level element.
        fields: Vec<(String, String)>,
    },
}

impl CallbackEvent {
    /// Parses a decrypted callback plaintext, XML or flat JSON (detected by its first
    /// non-whitespace character; a UTF-8 BOM is skipped).
    pub fn parse(plaintext: &str) -> Result<Self, CallbackParseError> {
        let text = plaintext.strip_prefix('\u{feff}').unwrap_or(plaintext);
        let start = text.trim_start();
        let fields = match start.chars().next() {
            None => return Err(CallbackParseError::Empty),
            Some('<') => read_flat_xml(text)?,
            Some('{') => {
                let v: Value = serde_json::from_str(text).map_err(CallbackParseError::Json)?;
                json_fields(&v)?
            }
            Some(_) => return Err(CallbackParseError::UnrecognizedFormat),
        };
        Self::from_fields(fields)
    }

    /// Like [`CallbackEvent::parse`], from bytes that must be UTF-8.
    pub fn parse_bytes(plaintext: &[u8]) -> Result<Self, CallbackParseError> {
        std::str::from_utf8(plaintext).map_err(CallbackParseError::InvalidUtf8).and_then(Self::parse)
    }

    /// Interprets top-level name → text pairs (element names are matched ASCII-case-insensitively).
    pub fn from_fields(fields: Vec<(String, String)>) -> Result<Self, CallbackParseError> {
        let get =
            |name: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim());
        let all = |name: &str| -> Vec<String> {
            fields
                .iter()
                .filter(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_owned())
                .collect()
        };
        let create_time = || match get("CreateTime") {
            None | Some("") => Ok(0),
            Some(t) => crate::serde_util::u64_from_text(t).ok_or_else(|| CallbackParseError::InvalidField {
                name: "CreateTime",
                value: t.chars().take(64).collect(),
            }),
        };
        let to_user_name = || get("ToUserName").unwrap_or_default().to_owned();
        let event = get("Event").unwrap_or_default();
        if event.eq_ignore_ascii_case("kf_msg_or_event") {
            Ok(CallbackEvent::KfMsgOrEvent {
                to_user_name: to_user_name(),
                create_time: create_time()?,
                token: get("Token").unwrap_or_default().to_owned(),
                open_kfid: get("OpenKfId").filter(|v| !v.is_empty()).map(str::to_owned),
            })
        } else if event.eq_ignore_ascii_case("kf_account_auth_change") {
            Ok(CallbackEvent::KfAccountAuthChange {
                to_user_name: to_user_name(),
                create_time: create_time()?,
                auth_add_open_kfid: all("AuthAddOpenKfId"),
                auth_del_open_kfid: all("AuthDelOpenKfId"),
            })
        } else {
            let msg_type = get("MsgType").unwrap_or_default().to_owned();
            let event = get("Event").map(str::to_owned);
            Ok(CallbackEvent::Other { msg_type, event, fields })
        }
    }

    /// The `Token` to pass to `sync_msg`, for `kf_msg_or_event` (`None` if empty).
    pub fn token(&self) -> Option<&str> {
        match self {
            CallbackEvent::KfMsgOrEvent { token, .. } if !token.is_empty() => Some(token),
            _ => None,
        }
    }

    /// The account with new messages, for `kf_msg_or_event`.
    pub fn open_kfid(&self) -> Option<&str> {
        match self {
            CallbackEvent::KfMsgOrEvent { open_kfid, .. } => open_kfid.as_deref(),
            _ => None,
        }
    }

    /// The top-level name → text pairs this event is written as (the order WeCom uses).
    pub fn to_fields(&self) -> Vec<(String, String)> {
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        match self {
            CallbackEvent::KfMsgOrEvent { to_user_name, create_time, token, open_kfid } => {
                let mut f = vec![
                    pair("ToUserName", to_user_name),
                    pair("CreateTime", &create_time.to_string()),
                    pair("MsgType", "event"),
                    pair("Event", "kf_msg_or_event"),
                    pair("Token", token),
                ];
                if let Some(id) = open_kfid {
                    f.push(pair("OpenKfId", id));
                }
                f
            }
            CallbackEvent::KfAccountAuthChange {
                to_user_name,
                create_time,
                auth_add_open_kfid,
                auth_del_open_kfid,
            } => {
                let mut f = vec![
                    pair("ToUserName", to_user_name),
                    pair("CreateTime", &create_time.to_string()),
                    pair("MsgType", "event"),
                    pair("Event", "kf_account_auth_change"),
                ];
                f.extend(auth_add_open_kfid.iter().map(|id| pair("AuthAddOpenKfId", id)));
                f.extend(auth_del_open_kfid.iter().map(|id| pair("AuthDelOpenKfId", id)));
                f
            }
            CallbackEvent::Other { fields, .. } => fields.clone(),
        }
    }

    /// Writes the XML plaintext WeCom would send (text in CDATA, `CreateTime` plain) — for
    /// simulators and tests. Element names of [`CallbackEvent::Other`] are written as given.
    ///
    /// ```
    /// use wxkf_types::callback::CallbackEvent;
    ///
    /// let e = CallbackEvent::parse(r#"{"ToUserName":"ww1","CreateTime":1,"MsgType":"event",
    ///     "Event":"kf_msg_or_event","Token":"T","OpenKfId":"wk1"}"#).unwrap();
    /// assert_eq!(CallbackEvent::parse(&e.to_xml()).unwrap(), e);
    /// ```
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<xml>");
        for (name, text) in self.to_fields() {
            out.push('<');
            out.push_str(&name);
            out.push('>');
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                out.push_str(&text);
            } else {
                out.push_str("<![CDATA[");
                // "]]>" cannot appear inside CDATA: end the section between "]]" and ">".
                out.push_str(&text.replace("]]>", "]]]]><![CDATA[>"));
                out.push_str("]]>");
            }
            out.push_str("</");
            out.push_str(&name);
            out.push('>');
        }
        out.push_str("</xml>");
        out
    }

    /// Writes the flat JSON form (repeated names become arrays, `CreateTime` a number).
    pub fn to_json(&self) -> Value {
        let mut obj = serde_json::Map::new();
        for (name, text) in self.to_fields() {
            let value = match (name.as_str(), text.parse::<u64>()) {
                ("CreateTime", Ok(n)) => Value::from(n),
                _ => Value::String(text),
            };
            match obj.get_mut(&name) {
                Some(Value::Array(items)) => items.push(value),
                Some(first) => *first = Value::Array(vec![first.take(), value]),
                None => {
                    obj.insert(name, value);
                }
            }
        }
        Value::Object(obj)
    }
}

/// Why a callback plaintext could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallbackParseError {
    /// The plaintext is empty or only whitespace.
    Empty,
    /// The bytes are not UTF-8.
    InvalidUtf8(std::str::Utf8Error),
    /// Neither XML (`<`) nor JSON (`{`).
    UnrecognizedFormat,
    /// Not valid JSON.
    Json(serde_json::Error),
    /// JSON, but not an object.
    JsonNotObject,
    /// Not well-formed (or refused) XML.
    Xml {
        /// Byte offset where the problem was found.
        offset: usize,
        /// What is wrong.
        kind: XmlErrorKind,
    },
    /// A field the event needs has an unusable value.
    InvalidField {
        /// The element name.
        name: &'static str,
        /// Its text (at most 64 characters of it).
        value: String,
    },
}

/// What is wrong with an XML callback plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum XmlErrorKind {
    /// The document ends inside an element or tag (truncated).
    UnexpectedEof,
    /// A `<!DOCTYPE`, `<!ENTITY` or other declaration: refused (entity expansion attacks).
    DeclarationNotAllowed,
    /// `<!--` without `-->`.
    UnclosedComment,
    /// `<![CDATA[` without `]]>`.
    UnclosedCdata,
    /// `<?` without `?>`.
    UnclosedProcessingInstruction,
    /// A tag name is empty or holds characters names cannot hold.
    InvalidName,
    /// A closing tag does not match the open element.
    MismatchedTag {
        /// The open element.
        expected: String,
        /// The closing tag found.
        found: String,
    },
    /// A closing tag with no open element.
    UnexpectedClosingTag,
    /// An `&` reference that is not one of the five predefined entities or a valid character
    /// reference.
    InvalidReference,
    /// Elements nested deeper than the reader accepts.
    TooDeep,
    /// No root element.
    NoRootElement,
    /// Text outside the root element.
    TextOutsideRoot,
    /// A second root element or other content after the root element.
    ContentAfterRoot,
    /// Not well-formed in a way quick-xml reports that has no variant of its own (the text says
    /// which). With quick-xml 0.41 and this reader's settings, no input is known to produce it.
    Malformed(String),
}

impl fmt::Display for XmlErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmlErrorKind::UnexpectedEof => f.write_str("document ends early"),
            XmlErrorKind::DeclarationNotAllowed => f.write_str("DOCTYPE/ENTITY declarations are not allowed"),
            XmlErrorKind::UnclosedComment => f.write_str("unclosed comment"),
            XmlErrorKind::UnclosedCdata => f.write_str("unclosed CDATA section"),
            XmlErrorKind::UnclosedProcessingInstruction => f.write_str("unclosed processing instruction"),
            XmlErrorKind::InvalidName => f.write_str("invalid element name"),
            XmlErrorKind::MismatchedTag { expected, found } => {
                write!(f, "closing tag </{found}> does not match <{expected}>")
            }
            XmlErrorKind::UnexpectedClosingTag => f.write_str("closing tag without an open element"),
            XmlErrorKind::InvalidReference => f.write_str("invalid entity or character reference"),
            XmlErrorKind::TooDeep => write!(f, "elements nested deeper than {MAX_DEPTH}"),
            XmlErrorKind::NoRootElement => f.write_str("no root element"),
            XmlErrorKind::TextOutsideRoot => f.write_str("text outside the root element"),
            XmlErrorKind::ContentAfterRoot => f.write_str("content after the root element"),
            XmlErrorKind::Malformed(what) => write!(f, "not well-formed: {what}"),
        }
    }
}

impl fmt::Display for CallbackParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackParseError::Empty => f.write_str("callback plaintext is empty"),
            CallbackParseError::InvalidUtf8(_) => f.write_str("callback plaintext is not UTF-8"),
            CallbackParseError::UnrecognizedFormat => {
                f.write_str("callback plaintext is neither XML nor JSON")
            }
            CallbackParseError::Json(_) => f.write_str("callback plaintext is not valid JSON"),
            CallbackParseError::JsonNotObject => f.write_str("callback JSON is not an object"),
            CallbackParseError::Xml { offset, kind } => write!(f, "callback XML at byte {offset}: {kind}"),
            CallbackParseError::InvalidField { name, value } => {
                write!(f, "callback field {name} has an invalid value {value:?}")
            }
        }
    }
}

impl std::error::Error for CallbackParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallbackParseError::InvalidUtf8(e) => Some(e),
            CallbackParseError::Json(e) => Some(e),
            _ => None,
        }
    }
}

fn xml_err(offset: usize, kind: XmlErrorKind) -> CallbackParseError {
    CallbackParseError::Xml { offset, kind }
}

/// Flattens a JSON object into name → text pairs: strings as they are, numbers and booleans as
/// text, arrays as repeated names, nested objects as their JSON text, `null` dropped.
fn json_fields(v: &Value) -> Result<Vec<(String, String)>, CallbackParseError> {
    fn text(v: &Value) -> Option<String> {
        match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
    let Value::Object(obj) = v else {
        return Err(CallbackParseError::JsonNotObject);
    };
    let mut fields = Vec::new();
    for (k, v) in obj {
        match v {
            Value::Array(items) => fields.extend(items.iter().filter_map(text).map(|t| (k.clone(), t))),
            other => fields.extend(text(other).map(|t| (k.clone(), t))),
        }
    }
    Ok(fields)
}

/// Only the XML white space characters (space, tab, CR, LF).
fn is_xml_space(text: &[u8]) -> bool {
    text.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
}

/// A name as XML 1.0 defines it, restricted to what `char` classes can tell.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
}

/// The name of a start tag, checked: an XML name, no `<` among the (ignored) attributes, not a
/// second root.
fn open_tag(tag: &BytesStart<'_>, at: usize, root_done: bool) -> Result<String, CallbackParseError> {
    let name = std::str::from_utf8(tag.name().as_ref())
        .ok()
        .filter(|n| is_xml_name(n))
        .filter(|_| !tag.attributes_raw().contains(&b'<'))
        .map(str::to_owned)
        .ok_or_else(|| xml_err(at, XmlErrorKind::InvalidName))?;
    if root_done {
        return Err(xml_err(at, XmlErrorKind::ContentAfterRoot));
    }
    Ok(name)
}

/// `&lt;` and the other predefined entities, and character references other than `&#0;`.
fn resolve_reference(r: &BytesRef<'_>) -> Option<char> {
    match r.resolve_char_ref() {
        Ok(Some(c)) => Some(c),
        Ok(None) => r
            .decode()
            .ok()
            .and_then(|name| quick_xml::escape::resolve_predefined_entity(&name))
            .and_then(|s| s.chars().next()),
        Err(_) => None,
    }
}

/// What quick-xml found wrong, as this crate names it.
fn xml_error_kind(e: quick_xml::Error) -> XmlErrorKind {
    use quick_xml::errors::{IllFormedError as Ill, SyntaxError as Syn};
    match e {
        quick_xml::Error::Syntax(Syn::InvalidBangMarkup | Syn::UnclosedDoctype)
        | quick_xml::Error::IllFormed(Ill::MissingDoctypeName) => XmlErrorKind::DeclarationNotAllowed,
        quick_xml::Error::Syntax(Syn::UnclosedComment) => XmlErrorKind::UnclosedComment,
        quick_xml::Error::Syntax(Syn::UnclosedCData) => XmlErrorKind::UnclosedCdata,
        quick_xml::Error::Syntax(Syn::UnclosedPI | Syn::UnclosedXmlDecl) => {
            XmlErrorKind::UnclosedProcessingInstruction
        }
        quick_xml::Error::Syntax(_) | quick_xml::Error::IllFormed(Ill::MissingEndTag(_)) => {
            XmlErrorKind::UnexpectedEof
        }
        quick_xml::Error::IllFormed(Ill::MismatchedEndTag { expected, found }) => {
            XmlErrorKind::MismatchedTag { expected, found }
        }
        quick_xml::Error::IllFormed(Ill::UnmatchedEndTag(_)) => XmlErrorKind::UnexpectedClosingTag,
        quick_xml::Error::IllFormed(Ill::UnclosedReference) | quick_xml::Error::Escape(_) => {
            XmlErrorKind::InvalidReference
        }
        other => XmlErrorKind::Malformed(other.to_string()),
    }
}

/// Reads a flat XML document into the name → text pairs of the root's children, with quick-xml.
///
/// Comments and processing instructions are skipped, CDATA is taken verbatim, references are
/// decoded, attributes are ignored, the text of elements nested in a child is appended to that
/// child's text. Nesting is bounded by [`MAX_DEPTH`].
fn read_flat_xml(doc: &str) -> Result<Vec<(String, String)>, CallbackParseError> {
    let mut reader = Reader::from_str(doc);
    let mut depth = 0usize;
    let mut fields = Vec::new();
    // The root's child being read (open while depth >= 2).
    let mut current: Option<(String, String)> = None;
    let mut root_seen = false;
    let mut root_done = false;
    let position = |p: u64| usize::try_from(p).unwrap_or(usize::MAX);
    let outside = |at: usize, root_done: bool| {
        let kind = if root_done { XmlErrorKind::ContentAfterRoot } else { XmlErrorKind::TextOutsideRoot };
        xml_err(at, kind)
    };

    loop {
        let at = position(reader.buffer_position());
        let event =
            reader.read_event().map_err(|e| xml_err(position(reader.error_position()), xml_error_kind(e)))?;
        match event {
            Event::Start(tag) => {
                let name = open_tag(&tag, at, root_done)?;
                if depth >= MAX_DEPTH {
                    return Err(xml_err(at, XmlErrorKind::TooDeep));
                }
                if depth == 1 {
                    current = Some((name, String::new()));
                }
                root_seen = true;
                depth += 1;
            }
            Event::Empty(tag) => {
                let name = open_tag(&tag, at, root_done)?;
                match depth {
                    0 => (root_seen, root_done) = (true, true),
                    1 => fields.push((name, String::new())),
                    _ => {}
                }
            }
            Event::End(_) => {
                // quick-xml has checked that it closes the open element
                depth =
                    depth.checked_sub(1).ok_or_else(|| xml_err(at, XmlErrorKind::UnexpectedClosingTag))?;
                match depth {
                    0 => root_done = true,
                    1 => fields.extend(current.take()),
                    _ => {}
                }
            }
            Event::Text(text) if depth == 0 => {
                if !is_xml_space(&text) {
                    return Err(outside(at, root_done));
                }
            }
            Event::CData(_) | Event::GeneralRef(_) if depth == 0 => return Err(outside(at, root_done)),
            Event::Text(text) => {
                let text = text.decode().map_err(|e| xml_err(at, XmlErrorKind::Malformed(e.to_string())))?;
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&text);
                }
            }
            Event::CData(text) => {
                let text = text.decode().map_err(|e| xml_err(at, XmlErrorKind::Malformed(e.to_string())))?;
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                let c = resolve_reference(&r).ok_or_else(|| xml_err(at, XmlErrorKind::InvalidReference))?;
                if let Some((_, value)) = current.as_mut() {
                    value.push(c);
                }
            }
            Event::DocType(_) => return Err(xml_err(at, XmlErrorKind::DeclarationNotAllowed)),
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            Event::Eof if depth > 0 => return Err(xml_err(doc.len(), XmlErrorKind::UnexpectedEof)),
            Event::Eof if !root_seen => return Err(xml_err(doc.len(), XmlErrorKind::NoRootElement)),
            Event::Eof => return Ok(fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_decoded_and_bad_ones_refused() {
        let read = |text: &str| read_flat_xml(&format!("<xml><A>{text}</A></xml>"));
        let fields = read("a&lt;b&gt;&amp;&quot;&apos;&#65;&#x42;").expect("valid references");
        assert_eq!(fields, vec![("A".to_owned(), "a<b>&\"'AB".to_owned())]);
        for bad in [
            "&",
            "&foo;",
            "&#;",
            "&#x;",
            "&#0;",
            "&#X43;",
            "&#+65;",
            "&#xD800;",
            "&#99999999999;",
            "&lt",
            "&averyveryverylongname;",
        ] {
            assert!(
                matches!(
                    read(bad),
                    Err(CallbackParseError::Xml { kind: XmlErrorKind::InvalidReference, .. })
                ),
                "{bad}"
            );
        }
        // references are checked wherever they stand inside the root, not only in the fields
        assert!(read_flat_xml("<xml>&foo;<A/></xml>").is_err());
        assert!(read_flat_xml("<xml><A><B>&foo;</B></A></xml>").is_err());
    }

    #[test]
    fn nested_children_keep_their_text() {
        let f = read_flat_xml("<xml><A>x<B>y</B>z</A><C/><D a='>'>w</D></xml>").expect("well-formed");
        assert_eq!(
            f,
            vec![("A".into(), "xyz".into()), ("C".into(), String::new()), ("D".into(), "w".into())]
        );
    }
}
