//! The callback URL's query string, percent-decoded exactly once.

use std::borrow::Cow;

/// `msg_signature`, `timestamp`, `nonce` and (for URL verification) `echostr` from a callback URL.
///
/// Percent-decodes each value exactly once and, unlike HTML form decoding, keeps a literal `+` as
/// `+`: WeCom signs the base64 text, in which `+` is a character, not a space.
///
/// ```
/// let q = wxkf_crypto::CallbackQuery::parse(
///     "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D",
/// );
/// assert_eq!(q.timestamp.as_deref(), Some("1409659589"));
/// assert!(q.echostr.as_deref().unwrap().ends_with("+FZXvnaqQ=="));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackQuery {
    /// `msg_signature`.
    pub msg_signature: Option<String>,
    /// `timestamp`, exactly as sent (never re-formatted: it is signed as text).
    pub timestamp: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `echostr` (URL verification only).
    pub echostr: Option<String>,
}

impl CallbackQuery {
    /// Parses a raw query string (without the leading `?`). Unknown parameters are ignored; for a
    /// repeated parameter the first wins.
    pub fn parse(query: &str) -> CallbackQuery {
        let mut q = CallbackQuery::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match &*percent_decode(k) {
                "msg_signature" => &mut q.msg_signature,
                "timestamp" => &mut q.timestamp,
                "nonce" => &mut q.nonce,
                "echostr" => &mut q.echostr,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(percent_decode(v).into_owned());
            }
        }
        q
    }
}

/// Decodes `%XX` escapes once (with the `percent-encoding` crate); malformed escapes are kept
/// literally; `+` stays `+`; bytes that do not form UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_and_keeps_plus() {
        assert_eq!(percent_decode("a%2Bb+c%252B"), "a+b+c%2B");
        assert_eq!(percent_decode("bad%zz%4"), "bad%zz%4");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%E4%B8%AD"), "中");
        assert_eq!(percent_decode("%E4%B8"), "\u{fffd}");
        assert!(matches!(percent_decode("no-escapes+here"), Cow::Borrowed(_)));
        let q = CallbackQuery::parse("nonce=1&nonce=2&x&timestamp=&msg_signature=ab");
        assert_eq!(q.nonce.as_deref(), Some("1"));
        assert_eq!(q.timestamp.as_deref(), Some(""));
        assert_eq!(q.msg_signature.as_deref(), Some("ab"));
        assert_eq!(q.echostr, None);
    }
}
