//! The decrypted plaintext of a Kf callback (kf-api.md §12): "new messages are waiting — pull them
//! with `sync_msg`", or, for Kf-component apps, "these accounts were granted/revoked".
//!
//! WeCom sends a flat XML document; the JSON-envelope flavour carries the same fields as a flat JSON
//! object. [`CallbackEvent::parse`] reads either (it looks at the first character). The XML reader
//! here is deliberately small — this crate depends on serde only — and strict about what could be
//! abused: DOCTYPE and entity declarations are refused, only the five predefined entities and
//! numeric character references are decoded, nesting is bounded and no input panics.
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
            Some(t) => t.parse::<u64>().map_err(|_| CallbackParseError::InvalidField {
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

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
}

/// Index of the `>` ending the tag that starts at `tag[0] == '<'`, skipping quoted attribute values.
fn tag_end(tag: &str) -> Result<usize, XmlErrorKind> {
    let mut quote = None;
    for (i, b) in tag.bytes().enumerate().skip(1) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Ok(i),
            (None, b'<') => return Err(XmlErrorKind::InvalidName),
            (None, _) => {}
        }
    }
    Err(XmlErrorKind::UnexpectedEof)
}

/// Decodes the five predefined entities and numeric character references in `raw`, which starts
/// at byte `offset` of the document.
fn decode_text(raw: &str, offset: usize, out: &mut String) -> Result<(), CallbackParseError> {
    let mut rest = raw;
    let mut at = offset;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let bad = || xml_err(at + amp, XmlErrorKind::InvalidReference);
        // Valid references are short ("&#x10FFFF;"); a far-away `;` means a bare `&`.
        let semi = after.find(';').filter(|&i| i <= 16).ok_or_else(bad)?;
        let name = &after[..semi];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse::<u32>().ok()
                } else {
                    None
                };
                code.filter(|&c| c != 0).and_then(char::from_u32).ok_or_else(bad)?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
        at += amp + 1 + semi + 1;
    }
    out.push_str(rest);
    Ok(())
}

/// Reads a flat XML document into the name → text pairs of the root's children.
///
/// Comments and processing instructions are skipped, CDATA is taken verbatim, references are
/// decoded, attributes are ignored, the text of elements nested in a child is appended to that
/// child's text. Iterative: nesting is bounded by [`MAX_DEPTH`], never by the call stack.
fn read_flat_xml(doc: &str) -> Result<Vec<(String, String)>, CallbackParseError> {
    let mut pos = 0;
    let mut stack: Vec<&str> = Vec::new();
    let mut fields = Vec::new();
    // The root's child being read (open while stack.len() >= 2).
    let mut current: Option<(String, String)> = None;
    let mut root_seen = false;
    let mut root_done = false;

    while pos < doc.len() {
        let rest = &doc[pos..];
        if !rest.starts_with('<') {
            let end = rest.find('<').unwrap_or(rest.len());
            let raw = &rest[..end];
            if stack.is_empty() {
                if !raw.trim().is_empty() {
                    let kind = if root_done {
                        XmlErrorKind::ContentAfterRoot
                    } else {
                        XmlErrorKind::TextOutsideRoot
                    };
                    return Err(xml_err(pos, kind));
                }
            } else {
                let mut decoded = String::new();
                decode_text(raw, pos, &mut decoded)?;
                if let Some((_, text)) = current.as_mut() {
                    text.push_str(&decoded);
                }
            }
            pos += end;
            continue;
        }

        if let Some(body) = rest.strip_prefix("<!--") {
            let end = body.find("-->").ok_or_else(|| xml_err(pos, XmlErrorKind::UnclosedComment))?;
            pos += 4 + end + 3;
        } else if let Some(body) = rest.strip_prefix("<![CDATA[") {
            let end = body.find("]]>").ok_or_else(|| xml_err(pos, XmlErrorKind::UnclosedCdata))?;
            if stack.is_empty() {
                let kind =
                    if root_done { XmlErrorKind::ContentAfterRoot } else { XmlErrorKind::TextOutsideRoot };
                return Err(xml_err(pos, kind));
            }
            if let Some((_, text)) = current.as_mut() {
                text.push_str(&body[..end]);
            }
            pos += 9 + end + 3;
        } else if rest.starts_with("<!") {
            return Err(xml_err(pos, XmlErrorKind::DeclarationNotAllowed));
        } else if let Some(body) = rest.strip_prefix("<?") {
            let end =
                body.find("?>").ok_or_else(|| xml_err(pos, XmlErrorKind::UnclosedProcessingInstruction))?;
            pos += 2 + end + 2;
        } else if let Some(body) = rest.strip_prefix("</") {
            let end = body.find('>').ok_or_else(|| xml_err(pos, XmlErrorKind::UnexpectedEof))?;
            let name = body[..end].trim_end();
            if !valid_name(name) {
                return Err(xml_err(pos, XmlErrorKind::InvalidName));
            }
            let open = stack.pop().ok_or_else(|| xml_err(pos, XmlErrorKind::UnexpectedClosingTag))?;
            if open != name {
                let kind = XmlErrorKind::MismatchedTag { expected: open.to_owned(), found: name.to_owned() };
                return Err(xml_err(pos, kind));
            }
            match stack.len() {
                0 => root_done = true,
                1 => fields.extend(current.take()),
                _ => {}
            }
            pos += 2 + end + 1;
        } else {
            let end = tag_end(rest).map_err(|kind| xml_err(pos, kind))?;
            let inner = &rest[1..end];
            let (inner, self_closing) = match inner.strip_suffix('/') {
                Some(inner) => (inner, true),
                None => (inner, false),
            };
            let name = inner.split(|c: char| c.is_whitespace()).next().unwrap_or_default();
            if !valid_name(name) {
                return Err(xml_err(pos, XmlErrorKind::InvalidName));
            }
            if root_done {
                return Err(xml_err(pos, XmlErrorKind::ContentAfterRoot));
            }
            let depth = stack.len();
            if depth == 1 {
                current = Some((name.to_owned(), String::new()));
            }
            if self_closing {
                match depth {
                    0 => {
                        root_seen = true;
                        root_done = true;
                    }
                    1 => fields.extend(current.take()),
                    _ => {}
                }
            } else {
                if depth >= MAX_DEPTH {
                    return Err(xml_err(pos, XmlErrorKind::TooDeep));
                }
                root_seen = true;
                stack.push(name);
            }
            pos += end + 1;
        }
    }
    if !stack.is_empty() {
        return Err(xml_err(doc.len(), XmlErrorKind::UnexpectedEof));
    }
    if !root_seen {
        return Err(xml_err(doc.len(), XmlErrorKind::NoRootElement));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_decoded_and_bad_ones_refused() {
        let mut out = String::new();
        decode_text("a&lt;b&gt;&amp;&quot;&apos;&#65;&#x42;&#X43;", 0, &mut out).expect("valid references");
        assert_eq!(out, "a<b>&\"'ABC");
        for bad in [
            "&",
            "&foo;",
            "&#;",
            "&#x;",
            "&#0;",
            "&#xD800;",
            "&#99999999999;",
            "&lt",
            "&averyveryverylongname;",
        ] {
            let mut out = String::new();
            assert!(decode_text(bad, 0, &mut out).is_err(), "{bad}");
        }
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
