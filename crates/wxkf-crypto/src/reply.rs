//! The encrypted passive reply: ciphertext, signature, timestamp and nonce, as XML or JSON.

use crate::Error;
use std::fmt::Write as _;

/// An encrypted reply, ready to be written as the HTTP response body.
///
/// Made by [`crate::CallbackCrypto::encrypt_reply`]; write it with [`EncryptedReply::to_xml`]
/// (the official `EncryptMsg` output) or [`EncryptedReply::to_json`] (the JSON library's).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncryptedReply {
    /// Base64 ciphertext.
    pub encrypt: String,
    /// Signature over Token, timestamp, nonce and `encrypt`.
    pub msg_signature: String,
    /// The reply's timestamp, as signed.
    pub timestamp: String,
    /// The reply's nonce, as signed.
    pub nonce: String,
}

impl EncryptedReply {
    /// The XML envelope, one element per line as WeCom's samples write it:
    ///
    /// ```text
    /// <xml>
    /// <Encrypt><![CDATA[…]]></Encrypt>
    /// <MsgSignature><![CDATA[…]]></MsgSignature>
    /// <TimeStamp>…</TimeStamp>
    /// <Nonce><![CDATA[…]]></Nonce>
    /// </xml>
    /// ```
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(self.encrypt.len() + 160);
        out.push_str("<xml>\n<Encrypt><![CDATA[");
        out.push_str(&self.encrypt);
        out.push_str("]]></Encrypt>\n<MsgSignature><![CDATA[");
        out.push_str(&self.msg_signature);
        out.push_str("]]></MsgSignature>\n<TimeStamp>");
        out.push_str(&self.timestamp);
        out.push_str("</TimeStamp>\n<Nonce><![CDATA[");
        out.push_str(&self.nonce);
        out.push_str("]]></Nonce>\n</xml>");
        out
    }

    /// The JSON envelope with the JSON library's lower-case keys:
    /// `{"encrypt":…,"msgsignature":…,"timestamp":…,"nonce":…}` (timestamp as a string).
    ///
    /// Which keys every official JSON library uses is not documented (the Python one uses these);
    /// the parsers in this crate accept any case.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.encrypt.len() + 120);
        out.push_str("{\"encrypt\":\"");
        out.push_str(&self.encrypt);
        out.push_str("\",\"msgsignature\":\"");
        out.push_str(&self.msg_signature);
        out.push_str("\",\"timestamp\":\"");
        out.push_str(&self.timestamp);
        out.push_str("\",\"nonce\":\"");
        out.push_str(&self.nonce);
        out.push_str("\"}");
        out
    }
}

/// Timestamp and nonce go into both envelopes verbatim, so they must not be able to break out of
/// them: printable ASCII without `<`, `>`, `&`, `"`, `\` and `]`.
pub(crate) fn check_reply_field(value: &str, what: &'static str) -> Result<(), Error> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'&' | b'"' | b'\\' | b']'));
    if ok { Ok(()) } else { Err(Error::InvalidReplyField { reason: what }) }
}

/// A nonce like the official libraries make: 10 random decimal digits.
pub(crate) fn random_nonce() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| Error::Random)?;
    let mut n = u128::from_le_bytes(bytes) % 10_000_000_000;
    let mut s = String::with_capacity(10);
    let mut digits = [0u8; 10];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    for d in digits {
        let _ = s.write_char(char::from(d));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_have_the_documented_shape() {
        let r = EncryptedReply {
            encrypt: "E==".into(),
            msg_signature: "s".into(),
            timestamp: "1409659813".into(),
            nonce: "1372623149".into(),
        };
        assert_eq!(
            r.to_xml(),
            "<xml>\n<Encrypt><![CDATA[E==]]></Encrypt>\n<MsgSignature><![CDATA[s]]></MsgSignature>\n<TimeStamp>1409659813</TimeStamp>\n<Nonce><![CDATA[1372623149]]></Nonce>\n</xml>"
        );
        assert_eq!(
            r.to_json(),
            r#"{"encrypt":"E==","msgsignature":"s","timestamp":"1409659813","nonce":"1372623149"}"#
        );
    }

    #[test]
    fn fields_that_could_break_an_envelope_are_refused() {
        assert!(check_reply_field("1409659813", "t").is_ok());
        for bad in ["", "a b", "]]>", "<x>", "a\"b", "a\\b", "é"] {
            assert!(check_reply_field(bad, "t").is_err(), "{bad}");
        }
        let n = random_nonce().unwrap();
        assert_eq!(n.len(), 10);
        assert!(n.bytes().all(|b| b.is_ascii_digit()));
    }
}
