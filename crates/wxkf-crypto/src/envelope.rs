//! The envelopes around a ciphertext: the POST body WeCom sends (XML or JSON) and the encrypted
//! passive reply, read with small strict parsers that never expand entities from a DTD, never
//! recurse without bound and never panic.

use crate::Error;
use std::borrow::Cow;

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

fn parse_xml(s: &str) -> Result<Envelope<'_>, Error> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut fields = Fields::default();
    // the child of the root being read, and its text so far
    let mut current: Option<(Option<Field>, Option<Cow<'_, str>>)> = None;

    while pos < b.len() {
        let rest = &b[pos..];
        if rest[0] != b'<' {
            let end = memchr::memchr(b'<', rest).map_or(b.len(), |i| pos + i);
            let raw = &s[pos..end];
            if depth == 0 && !raw.trim().is_empty() {
                return Err(Error::InvalidEnvelope { reason: "text outside the root element" });
            }
            if depth == 2
                && let Some((Some(_), text)) = current.as_mut()
            {
                append(text, unescape_xml(raw)?);
            }
            pos = end;
            continue;
        }
        match rest.get(1) {
            Some(b'!') if rest.starts_with(b"<![CDATA[") => {
                let start = pos + 9;
                let end = find(s, start, "]]>").ok_or(TRUNCATED)?;
                if depth == 0 {
                    return Err(Error::InvalidEnvelope { reason: "text outside the root element" });
                }
                if depth == 2
                    && let Some((_, text)) = current.as_mut()
                {
                    append(text, Cow::Borrowed(&s[start..end]));
                }
                pos = end + 3;
            }
            Some(b'!') if rest.starts_with(b"<!--") => {
                pos = find(s, pos + 4, "-->").ok_or(TRUNCATED)? + 3;
            }
            Some(b'!') => {
                return Err(Error::InvalidEnvelope { reason: "DTDs and declarations are not accepted" });
            }
            Some(b'?') => {
                pos = find(s, pos + 2, "?>").ok_or(TRUNCATED)? + 2;
            }
            Some(b'/') => {
                let end = memchr::memchr(b'>', rest).ok_or(TRUNCATED)? + pos;
                if depth == 0 {
                    return Err(Error::InvalidEnvelope { reason: "a closing tag without an opening one" });
                }
                if depth == 2 {
                    if let Some((Some(field), text)) = current.take() {
                        fields.set(field, trim(text.unwrap_or(Cow::Borrowed(""))))?;
                    }
                    current = None;
                }
                depth -= 1;
                pos = end + 1;
                if depth == 0 {
                    // only whitespace, comments and processing instructions may follow the root
                    return finish_xml(s, pos, fields);
                }
            }
            _ => {
                let end = tag_end(b, pos + 1).ok_or(TRUNCATED)?;
                let inner = &s[pos + 1..end];
                let self_closing = inner.ends_with('/');
                let name =
                    inner.trim_end_matches('/').split(|c: char| c.is_ascii_whitespace()).next().unwrap_or("");
                if name.is_empty() {
                    return Err(Error::InvalidEnvelope { reason: "a tag without a name" });
                }
                if depth == 0 {
                    if seen_root {
                        return Err(Error::InvalidEnvelope { reason: "more than one root element" });
                    }
                    seen_root = true;
                }
                if depth == 1 {
                    let field = xml_field(name);
                    if self_closing {
                        if let Some(field) = field {
                            fields.set(field, Cow::Borrowed(""))?;
                        }
                    } else {
                        current = Some((field, None));
                    }
                }
                if !self_closing {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(Error::InvalidEnvelope { reason: "the XML is nested too deeply" });
                    }
                } else if depth == 0 {
                    return Err(Error::InvalidEnvelope { reason: "it has no Encrypt element or key" });
                }
                pos = end + 1;
            }
        }
    }
    Err(TRUNCATED)
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

fn finish_xml<'a>(s: &'a str, mut pos: usize, fields: Fields<'a>) -> Result<Envelope<'a>, Error> {
    loop {
        let rest = s[pos..].trim_start();
        pos = s.len() - rest.len();
        if rest.is_empty() {
            return fields.finish(EnvelopeFormat::Xml);
        } else if rest.starts_with("<!--") {
            pos = find(s, pos + 4, "-->").ok_or(TRUNCATED)? + 3;
        } else if rest.starts_with("<?") {
            pos = find(s, pos + 2, "?>").ok_or(TRUNCATED)? + 2;
        } else {
            return Err(Error::InvalidEnvelope { reason: "content after the root element" });
        }
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

/// End of a tag (the `>`), skipping quoted attribute values.
fn tag_end(b: &[u8], mut i: usize) -> Option<usize> {
    let mut quote = None;
    while i < b.len() {
        match (quote, b[i]) {
            (None, b'>') => return Some(i),
            (None, q @ (b'"' | b'\'')) => quote = Some(q),
            (Some(q), c) if c == q => quote = None,
            (None, b'<') => return None,
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

fn unescape_xml(raw: &str) -> Result<Cow<'_, str>, Error> {
    if !raw.contains('&') {
        return Ok(Cow::Borrowed(raw));
    }
    const BAD: Error = Error::InvalidEnvelope { reason: "an unknown XML entity" };
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let semi = after.find(';').ok_or(BAD)?;
        let entity = &after[..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32).ok_or(BAD)?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

const BAD_JSON: Error = Error::InvalidEnvelope { reason: "the JSON is malformed" };

fn parse_json(s: &str) -> Result<Envelope<'_>, Error> {
    let mut p = JsonCursor { s, pos: 0, done: false };
    let mut fields = Fields::default();
    p.ws();
    p.expect(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.pos += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            match Field::from_name(&key) {
                Some(field) => {
                    let value = match p.peek() {
                        Some(b'"') => p.string()?,
                        // AgentID and TimeStamp sometimes come as numbers
                        Some(b'-' | b'0'..=b'9') if !matches!(field, Field::Encrypt) => p.scalar()?,
                        Some(b'n') if p.s[p.pos..].starts_with("null") => {
                            p.pos += 4;
                            p.next_member()?;
                            if p.done {
                                break;
                            }
                            continue;
                        }
                        _ => {
                            return Err(Error::InvalidEnvelope {
                                reason: "a JSON envelope value is not a string",
                            });
                        }
                    };
                    fields.set(field, value)?;
                }
                None => p.skip_value()?,
            }
            p.next_member()?;
            if p.done {
                break;
            }
        }
    }
    p.ws();
    if p.pos != s.len() {
        return Err(Error::InvalidEnvelope { reason: "content after the JSON object" });
    }
    fields.finish(EnvelopeFormat::Json)
}

struct JsonCursor<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> JsonCursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), Error> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(BAD_JSON)
        }
    }

    /// After a member: `,` (more follow) or `}` (the object ends).
    fn next_member(&mut self) -> Result<(), Error> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'}') => {
                self.pos += 1;
                self.done = true;
                Ok(())
            }
            _ => Err(BAD_JSON),
        }
    }

    /// A number, `true`, `false` or `null`, returned as its text.
    fn scalar(&mut self) -> Result<Cow<'a, str>, Error> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'E')) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(BAD_JSON);
        }
        Ok(Cow::Borrowed(&self.s[start..self.pos]))
    }

    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.expect(b'"')?;
        let start = self.pos;
        let b = self.s.as_bytes();
        // fast path: no escapes
        while let Some(&c) = b.get(self.pos) {
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(Cow::Borrowed(&self.s[start..self.pos - 1]));
                }
                b'\\' => break,
                0..=0x1f => return Err(BAD_JSON),
                _ => self.pos += 1,
            }
        }
        let mut out = String::from(&self.s[start..self.pos]);
        loop {
            let c = *b.get(self.pos).ok_or(BAD_JSON)?;
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    let e = *b.get(self.pos + 1).ok_or(BAD_JSON)?;
                    self.pos += 2;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.pos..self.pos + 2) != Some("\\u") {
                                    return Err(BAD_JSON);
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(BAD_JSON);
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                    .ok_or(BAD_JSON)?
                            } else {
                                char::from_u32(hi).ok_or(BAD_JSON)?
                            }
                        }
                        _ => return Err(BAD_JSON),
                    };
                    out.push(ch);
                }
                0..=0x1f => return Err(BAD_JSON),
                _ => {
                    // copy one whole UTF-8 character
                    let ch = self.s[self.pos..].chars().next().ok_or(BAD_JSON)?;
                    out.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let h = self.s.get(self.pos..self.pos + 4).ok_or(BAD_JSON)?;
        let v = u32::from_str_radix(h, 16).map_err(|_| BAD_JSON)?;
        if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(BAD_JSON);
        }
        self.pos += 4;
        Ok(v)
    }

    /// Skips any JSON value, iteratively (bounded depth, no recursion).
    fn skip_value(&mut self) -> Result<(), Error> {
        let mut depth = 0usize;
        loop {
            self.ws();
            match self.peek().ok_or(BAD_JSON)? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(Error::InvalidEnvelope { reason: "the JSON is nested too deeply" });
                    }
                    self.pos += 1;
                    continue;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.pos += 1;
                }
                _ => {
                    self.scalar()?;
                }
            }
            if depth == 0 {
                return Ok(());
            }
            self.ws();
            match self.peek() {
                Some(b',' | b':') => self.pos += 1,
                Some(b'}' | b']') => {}
                _ => return Err(BAD_JSON),
            }
        }
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
        ] {
            assert!(
                matches!(Envelope::parse(bad), Err(Error::InvalidEnvelope { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("<xml>{}</xml>", "<a>".repeat(100_000));
        assert!(Envelope::parse(deep.as_bytes()).is_err());
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
    }
}
