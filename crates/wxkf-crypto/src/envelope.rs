//! The envelopes around a ciphertext: the POST body WeCom sends (XML or JSON) and the encrypted
//! passive reply. XML is read by a small tokenizer with quick-xml's reference decoder, JSON with
//! serde_json; neither expands entities from a DTD, recurses without bound or panics.
//!
//! The XML rules are the ones `wxkf-types` applies to a decrypted callback with quick-xml (the two
//! crates may not depend on each other; they share the library and these rules): UTF-8; no DOCTYPE or other `<!` declaration; element names that are XML
//! names; well-formed attributes (ignored otherwise); closing tags that match; one root element
//! with only whitespace, comments and processing instructions around it; at most 32 levels of
//! nesting; only the five predefined entities and character references other than `&#0;`, checked
//! wherever they stand inside the root; a `<` nowhere inside a tag.

use crate::Error;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Which envelope a body used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnvelopeFormat {
    /// `<xml><ToUserName/><Encrypt/><AgentID/></xml>` (what the Kf callback uses).
    Xml,
    /// `{"tousername":…,"encrypt":…,"agentid":…}` (WeCom's JSON library; keys in any case).
    Json,
}

/// A parsed envelope. Only `encrypt` matters for the crypto; the rest is for logging and routing.
///
/// A reply envelope (what [`crate::CallbackCrypto::encrypt_reply`] produces) parses too and fills
/// `msg_signature`, `timestamp` and `nonce`.
///
/// ```
/// use wxkf_crypto::{Envelope, EnvelopeFormat};
/// let env = Envelope::parse(b"<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[abc=]]></Encrypt></xml>").unwrap();
/// assert_eq!(env.format, EnvelopeFormat::Xml);
/// assert_eq!(env.encrypt, "abc=");
/// assert_eq!(env.to_user_name.as_deref(), Some("ww1"));
/// assert_eq!(env.agent_id, None);
///
/// let env = Envelope::parse(br#"{"ToUserName":"ww1","Encrypt":"abc=","AgentID":218}"#).unwrap();
/// assert_eq!(env.format, EnvelopeFormat::Json);
/// assert_eq!(env.agent_id.as_deref(), Some("218"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope<'a> {
    /// XML or JSON.
    pub format: EnvelopeFormat,
    /// The base64 ciphertext.
    pub encrypt: Cow<'a, str>,
    /// `ToUserName`: the CorpID (or suite id); informational — configure the receive id explicitly.
    pub to_user_name: Option<Cow<'a, str>>,
    /// `AgentID`, if present (may be empty).
    pub agent_id: Option<Cow<'a, str>>,
    /// `MsgSignature` (reply envelopes only).
    pub msg_signature: Option<Cow<'a, str>>,
    /// `TimeStamp` (reply envelopes only).
    pub timestamp: Option<Cow<'a, str>>,
    /// `Nonce` (reply envelopes only).
    pub nonce: Option<Cow<'a, str>>,
}

/// Deepest nesting accepted; envelopes are two levels deep.
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy)]
enum Field {
    Encrypt,
    ToUserName,
    AgentId,
    MsgSignature,
    TimeStamp,
    Nonce,
}

impl Field {
    fn from_name(name: &str) -> Option<Field> {
        // XML element names are exact in WeCom's bodies; JSON keys vary in case between libraries.
        const NAMES: [(&str, Field); 6] = [
            ("encrypt", Field::Encrypt),
            ("tousername", Field::ToUserName),
            ("agentid", Field::AgentId),
            ("msgsignature", Field::MsgSignature),
            ("timestamp", Field::TimeStamp),
            ("nonce", Field::Nonce),
        ];
        NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|&(_, f)| f)
    }
}

#[derive(Default)]
struct Fields<'a> {
    encrypt: Option<Cow<'a, str>>,
    to_user_name: Option<Cow<'a, str>>,
    agent_id: Option<Cow<'a, str>>,
    msg_signature: Option<Cow<'a, str>>,
    timestamp: Option<Cow<'a, str>>,
    nonce: Option<Cow<'a, str>>,
}

impl<'a> Fields<'a> {
    fn set(&mut self, field: Field, value: Cow<'a, str>) -> Result<(), Error> {
        let slot = match field {
            Field::Encrypt => &mut self.encrypt,
            Field::ToUserName => &mut self.to_user_name,
            Field::AgentId => &mut self.agent_id,
            Field::MsgSignature => &mut self.msg_signature,
            Field::TimeStamp => &mut self.timestamp,
            Field::Nonce => &mut self.nonce,
        };
        if slot.is_some() {
            return Err(Error::InvalidEnvelope { reason: "an element appears twice" });
        }
        *slot = Some(value);
        Ok(())
    }

    fn finish(self, format: EnvelopeFormat) -> Result<Envelope<'a>, Error> {
        let encrypt =
            self.encrypt.ok_or(Error::InvalidEnvelope { reason: "it has no Encrypt element or key" })?;
        Ok(Envelope {
            format,
            encrypt,
            to_user_name: self.to_user_name,
            agent_id: self.agent_id,
            msg_signature: self.msg_signature,
            timestamp: self.timestamp,
            nonce: self.nonce,
        })
    }
}

impl<'a> Envelope<'a> {
    /// Parses a POST body (or a reply envelope), detecting XML or JSON by its first character.
    pub fn parse(body: &'a [u8]) -> Result<Envelope<'a>, Error> {
        let text =
            std::str::from_utf8(body).map_err(|_| Error::InvalidEnvelope { reason: "it is not UTF-8" })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        match text.trim_start().as_bytes().first() {
            Some(b'<') => parse_xml(text),
            Some(b'{') => parse_json(text),
            Some(_) => Err(Error::InvalidEnvelope { reason: "it is neither XML nor a JSON object" }),
            None => Err(Error::InvalidEnvelope { reason: "it is empty" }),
        }
    }
}

const TRUNCATED: Error = Error::InvalidEnvelope { reason: "the XML is truncated" };

/// [`TRUNCATED`], made only when needed (an `Error` dropped on every tag showed in the profile).
fn truncated() -> Error {
    TRUNCATED
}
const OUTSIDE_ROOT: Error = Error::InvalidEnvelope { reason: "content outside the root element" };

/// Reads the XML envelope. The tokenizer is this crate's own: with quick-xml's event reader,
/// `decrypt_message` measured 1.84× the cost of its primitives against the 1.5× allowed (the bench's
/// "rejected" rows, docs/benchmarks.md). Entity and character references are decoded by quick-xml,
/// and the rules are the ones above.
fn parse_xml(s: &str) -> Result<Envelope<'_>, Error> {
    let b = s.as_bytes();
    let mut pos = 0;
    // the names of the open elements, outermost first
    let mut open = [""; MAX_DEPTH];
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut fields = Fields::default();
    // the child of the root being read: the field it is (if one), and its text so far
    let mut child: Option<(Option<Field>, Option<Cow<'_, str>>)> = None;

    while let Some(rest) = b.get(pos..).filter(|r| !r.is_empty()) {
        if rest[0] != b'<' {
            let end = memchr::memchr(b'<', rest).map_or(b.len(), |i| pos + i);
            let raw = &s[pos..end];
            if depth == 0 {
                if !is_xml_space(raw) {
                    return Err(OUTSIDE_ROOT);
                }
            } else {
                let text = unescape_xml(raw)?;
                if let Some((Some(_), value)) = child.as_mut().filter(|_| depth >= 2) {
                    append(value, text);
                }
            }
            pos = end;
            continue;
        }
        match rest.get(1) {
            Some(b'!') if rest.starts_with(b"<![CDATA[") => {
                let start = pos + 9;
                let end = find(s, start, "]]>").ok_or_else(truncated)?;
                if depth == 0 {
                    return Err(OUTSIDE_ROOT);
                }
                if let Some((Some(_), value)) = child.as_mut().filter(|_| depth >= 2) {
                    append(value, Cow::Borrowed(&s[start..end]));
                }
                pos = end + 3;
            }
            Some(b'!') if rest.starts_with(b"<!--") => {
                pos = find(s, pos + 4, "-->").ok_or_else(truncated)? + 3;
            }
            Some(b'!') => {
                return Err(Error::InvalidEnvelope { reason: "DTDs and declarations are not accepted" });
            }
            Some(b'?') => {
                // the first `?>` from the opening `?` on ends it, as in quick-xml: `<?>` is unclosed
                let end = find(s, pos + 1, "?>").filter(|&end| end > pos + 1).ok_or_else(truncated)?;
                pos = end + 2;
            }
            Some(b'/') => {
                let end = memchr::memchr(b'>', rest).ok_or_else(truncated)? + pos;
                let name = &s[pos + 2..end];
                let name = &name[..name.bytes().rposition(|c| !is_xml_space_byte(c)).map_or(0, |i| i + 1)];
                let Some(outer) = depth.checked_sub(1) else {
                    return Err(Error::InvalidEnvelope { reason: "a closing tag without an opening one" });
                };
                depth = outer;
                if open[depth] != name {
                    return Err(Error::InvalidEnvelope {
                        reason: "a closing tag that does not match the open element",
                    });
                }
                if depth == 1
                    && let Some((Some(field), value)) = child.take()
                {
                    fields.set(field, trim(value.unwrap_or_default()))?;
                }
                pos = end + 1;
            }
            _ => {
                let end = tag_end(b, pos + 1).ok_or_else(truncated)?;
                let inner = &s[pos + 1..end];
                let (inner, self_closing) = match inner.strip_suffix('/') {
                    Some(inner) => (inner, true),
                    None => (inner, false),
                };
                let name = &inner[..inner.bytes().position(is_xml_space_byte).unwrap_or(inner.len())];
                if !is_xml_name(name) {
                    return Err(Error::InvalidEnvelope { reason: "an element name that is not an XML name" });
                }
                if depth == 0 {
                    if root_seen {
                        return Err(OUTSIDE_ROOT);
                    }
                    root_seen = true;
                }
                let field = if depth == 1 { xml_field(name) } else { None };
                if self_closing {
                    if let Some(field) = field {
                        fields.set(field, Cow::Borrowed(""))?;
                    }
                } else {
                    if depth == 1 {
                        child = Some((field, None));
                    }
                    let Some(slot) = open.get_mut(depth) else {
                        return Err(Error::InvalidEnvelope { reason: "the XML is nested too deeply" });
                    };
                    *slot = name;
                    depth += 1;
                }
                pos = end + 1;
            }
        }
    }
    if depth > 0 {
        return Err(TRUNCATED);
    }
    if !root_seen {
        return Err(Error::InvalidEnvelope { reason: "it has no root element" });
    }
    fields.finish(EnvelopeFormat::Xml)
}

/// Only the XML white space characters (space, tab, CR, LF).
fn is_xml_space(text: &str) -> bool {
    text.bytes().all(is_xml_space_byte)
}

fn is_xml_space_byte(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// A name as XML 1.0 defines it, restricted to what `char` classes can tell.
fn is_xml_name(name: &str) -> bool {
    if let [first, rest @ ..] = name.as_bytes()
        && first.is_ascii_alphabetic()
        && rest.iter().all(u8::is_ascii_alphanumeric)
    {
        return true; // WeCom's names, without decoding characters
    }
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
}

/// The five predefined entities and character references other than `&#0;`, decoded by quick-xml.
fn unescape_xml(raw: &str) -> Result<Cow<'_, str>, Error> {
    quick_xml::escape::unescape(raw).map_err(|_| Error::InvalidEnvelope {
        reason: "an unknown XML entity or an invalid character reference",
    })
}

/// XML names in WeCom's envelopes are exact; JSON keys are matched case-insensitively instead.
fn xml_field(name: &str) -> Option<Field> {
    match name {
        "Encrypt" => Some(Field::Encrypt),
        "ToUserName" => Some(Field::ToUserName),
        "AgentID" => Some(Field::AgentId),
        "MsgSignature" => Some(Field::MsgSignature),
        "TimeStamp" => Some(Field::TimeStamp),
        "Nonce" => Some(Field::Nonce),
        _ => None,
    }
}

/// Finds `needle` at or after `from`, scanning for its first byte with SIMD `memchr`: the
/// substring searcher walked the ~500-byte ciphertext byte by byte and dominated the parse.
fn find(s: &str, from: usize, needle: &str) -> Option<usize> {
    let hay = s.as_bytes().get(from..)?;
    let n = needle.as_bytes();
    let first = *n.first()?;
    let mut at = 0;
    loop {
        let i = at + memchr::memchr(first, hay.get(at..)?)?;
        if hay[i..].starts_with(n) {
            return Some(from + i);
        }
        at = i + 1;
    }
}

/// End of a tag (the `>`), skipping quoted attribute values; `None` at a `<` (which XML allows
/// nowhere inside a tag) or at the end of the text.
fn tag_end(b: &[u8], mut i: usize) -> Option<usize> {
    let mut quote = None;
    while let Some(&c) = b.get(i) {
        match (quote, c) {
            (_, b'<') => return None,
            (None, b'>') => return Some(i),
            (None, q @ (b'"' | b'\'')) => quote = Some(q),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        i += 1;
    }
    None
}

fn append<'a>(text: &mut Option<Cow<'a, str>>, more: Cow<'a, str>) {
    match text {
        None => *text = Some(more),
        Some(t) => t.to_mut().push_str(&more),
    }
}

fn trim(c: Cow<'_, str>) -> Cow<'_, str> {
    match c {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) if s.trim().len() == s.len() => Cow::Owned(s),
        Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
    }
}

fn parse_json(s: &str) -> Result<Envelope<'_>, Error> {
    let members = serde_json::from_str::<JsonMembers<'_>>(s).map_err(|e| {
        let reason = match e.classify() {
            serde_json::error::Category::Eof => "the JSON is truncated",
            _ => "the JSON is malformed",
        };
        Error::InvalidEnvelope { reason }
    })?;
    let mut fields = Fields::default();
    for (field, value) in members.0 {
        let value = match value {
            JsonValue::Text(text) => text,
            // AgentID and TimeStamp sometimes come as numbers
            JsonValue::Number(n) if !matches!(field, Field::Encrypt) => Cow::Owned(n),
            JsonValue::Null => continue,
            _ => return Err(Error::InvalidEnvelope { reason: "a JSON envelope value is not a string" }),
        };
        fields.set(field, value)?;
    }
    fields.finish(EnvelopeFormat::Json)
}

/// The members of a JSON envelope object whose keys name a field, in order; other members are
/// skipped unread (serde_json bounds their nesting).
struct JsonMembers<'a>(Vec<(Field, JsonValue<'a>)>);

/// A member's value, as far as an envelope cares.
enum JsonValue<'a> {
    Text(Cow<'a, str>),
    Number(String),
    Null,
    Other,
}

/// A key, matched to a field without copying it.
struct JsonKey(Option<Field>);

impl<'de> Deserialize<'de> for JsonMembers<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonMembers<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(4);
                while let Some(JsonKey(field)) = map.next_key()? {
                    match field {
                        Some(field) => members.push((field, map.next_value()?)),
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(JsonMembers(members))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for JsonKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = JsonKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<JsonKey, E> {
                Ok(JsonKey(Field::from_name(key)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonValue::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonValue::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(JsonValue::Number(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(JsonValue::Number(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(JsonValue::Number(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonValue::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(JsonValue::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(JsonValue::Other)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_variants() {
        let official = b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypE+/==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>";
        let e = Envelope::parse(official).unwrap();
        assert_eq!(e.encrypt, "RypE+/==");
        assert_eq!(e.agent_id.as_deref(), Some("218"));
        assert!(matches!(e.encrypt, Cow::Borrowed(_)), "the common case does not copy");

        let spaced = "<?xml version=\"1.0\"?>\n<xml>\n  <!-- c -->\n  <Encrypt>\n<![CDATA[abc]]>\n</Encrypt>\n  <AgentID><![CDATA[]]></AgentID>\n  <Extra><Deep>x</Deep></Extra>\n</xml>\n";
        let e = Envelope::parse(spaced.as_bytes()).unwrap();
        assert_eq!(e.encrypt, "abc");
        assert_eq!(e.agent_id.as_deref(), Some(""));
        assert_eq!(e.to_user_name, None);

        let plain = Envelope::parse(b"<xml><Encrypt>a&amp;b&#x2B;</Encrypt><AgentID/></xml>").unwrap();
        assert_eq!(plain.encrypt, "a&b+");
        assert_eq!(plain.agent_id.as_deref(), Some(""));
    }

    #[test]
    fn xml_rejections() {
        for bad in [
            &b""[..],
            b"   ",
            b"<xml>",
            b"<xml><Encrypt><![CDATA[abc</Encrypt></xml>",
            b"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><Encrypt>&e;</Encrypt></xml>",
            b"<xml><Encrypt>&e;</Encrypt></xml>",
            b"<xml><ToUserName>a</ToUserName></xml>",
            b"<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>",
            b"<xml><Encrypt>a</Encrypt></xml><xml/>",
            b"<xml/>",
            b"</xml>",
            b"<xml><Encrypt>a</Encrypt></xml>trailing",
            b"\xff\xfe<xml/>",
            b"hello",
            // the rules wxkf-types applies to a callback plaintext apply here too
            b"<xml><Encrypt>a</Nonce></xml>",
            b"<xml><Encrypt>a</Encrypt><1A/></xml>",
            b"<xml><Encrypt>a</Encrypt><A <B>></A></xml>",
            b"<xml><Encrypt>a</Encrypt><A x=\"<\">b</A></xml>",
            b"<xml><Encrypt>a</Encrypt></A></xml>",
            b"<xml><Encrypt>&#X41;</Encrypt></xml>",
            b"<xml><Encrypt>&#+65;</Encrypt></xml>",
            b"<xml><Encrypt>&#0;</Encrypt></xml>",
            b"<xml><Encrypt>&#xD800;</Encrypt></xml>",
            b"<xml><Encrypt>a & b</Encrypt></xml>",
            b"<xml><!ENTITY e \"x\"><Encrypt>a</Encrypt></xml>",
            b"<xml><Encrypt>a</Encrypt></xml><![CDATA[x]]>",
            b"<xml><Encrypt>a</Encrypt></xml>&amp;",
            b"<?xml version='1.0'?><!-- no root -->",
            b"<?><xml><Encrypt>a</Encrypt></xml><?>",
        ] {
            assert!(
                matches!(Envelope::parse(bad), Err(Error::InvalidEnvelope { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("<xml>{}</xml>", "<a>".repeat(100_000));
        assert!(Envelope::parse(deep.as_bytes()).is_err());
        // 32 levels are read, 33 are not
        let nested = |n: usize| {
            format!("<xml><Encrypt>a</Encrypt>{}{}</xml>", "<a>".repeat(n - 1), "</a>".repeat(n - 1))
        };
        assert!(Envelope::parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert!(Envelope::parse(nested(MAX_DEPTH + 1).as_bytes()).is_err());
    }

    #[test]
    fn xml_accepts_what_a_callback_plaintext_may_hold() {
        let e = Envelope::parse(
            b"\xef\xbb\xbf<?xml version='1.0'?><xml a='>' b=\"1\"><Encrypt>x<b>y</b>&#65;&lt;<![CDATA[z]]></Encrypt></xml> <!-- c --> <?pi?>\n",
        )
        .unwrap();
        assert_eq!(e.encrypt, "xyA<z");
    }

    #[test]
    fn json_variants() {
        let e = Envelope::parse(br#"{"tousername":"wx58","encrypt":"CZWs+/=","agentid":"218"}"#).unwrap();
        assert_eq!(e.format, EnvelopeFormat::Json);
        assert_eq!(e.encrypt, "CZWs+/=");
        assert_eq!(e.to_user_name.as_deref(), Some("wx58"));
        let e = Envelope::parse(
            br#" { "x": {"y": [1, "z", {"q": null}]}, "Encrypt" : "a\/b\u002B", "AgentID": 218, "n": null } "#,
        )
        .unwrap();
        assert_eq!(e.encrypt, "a/b+");
        assert_eq!(e.agent_id.as_deref(), Some("218"));
        let reply =
            Envelope::parse(br#"{"encrypt":"e","msgsignature":"s","timestamp":"1","nonce":"n"}"#).unwrap();
        assert_eq!(reply.msg_signature.as_deref(), Some("s"));
        assert_eq!(reply.timestamp.as_deref(), Some("1"));
    }

    #[test]
    fn json_rejections() {
        for bad in [
            &br#"{}"#[..],
            br#"{"encrypt":1}"#,
            br#"{"encrypt":"a""#,
            br#"{"encrypt":"a"} x"#,
            br#"{"encrypt":"a","encrypt":"b"}"#,
            br#"{"encrypt":"\ud800"}"#,
            br#"{"encrypt" "a"}"#,
            br#"{"x":[1,2}"#,
            br#"[]"#,
            b"{\"encrypt\":\"a\nb\"}",
        ] {
            assert!(Envelope::parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = format!(r#"{{"x":{}}}"#, "[".repeat(100_000));
        assert!(Envelope::parse(deep.as_bytes()).is_err());
        let reason = |body: &[u8]| match Envelope::parse(body) {
            Err(Error::InvalidEnvelope { reason }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(br#"{"encrypt":"a""#), "the JSON is truncated");
        assert_eq!(reason(br#"{"encrypt" "a"}"#), "the JSON is malformed");
        assert_eq!(reason(br#"{"encrypt":"a"} x"#), "the JSON is malformed");
        assert_eq!(reason(br#"{"encrypt":1}"#), "a JSON envelope value is not a string");
        assert_eq!(reason(br#"{"encrypt":"a","Encrypt":"b"}"#), "an element appears twice");
    }
}
