//! The three configured values — Token, EncodingAESKey, receive id — validated, and new ones generated.

use crate::Error;
use base64::Engine as _;
use std::fmt;

/// The callback Token: the secret that signs every callback (1–32 ASCII letters and digits).
///
/// `Debug` never shows it; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Longest Token the admin console accepts.
    pub const MAX_LEN: usize = 32;

    /// Validates a Token: 1–32 ASCII letters and digits.
    ///
    /// ```
    /// assert!(wxkf_crypto::Token::new("QDG6eK").is_ok());
    /// assert!(wxkf_crypto::Token::new("has space").is_err());
    /// ```
    pub fn new(token: &str) -> Result<Self, Error> {
        if token.is_empty() {
            return Err(Error::InvalidToken { reason: "it is empty" });
        }
        if token.len() > Self::MAX_LEN {
            return Err(Error::InvalidToken { reason: "it is longer than 32 characters" });
        }
        if !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidToken {
                reason: "it has characters other than ASCII letters and digits",
            });
        }
        Ok(Token(token.to_owned()))
    }

    /// A new random 32-character Token from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, Error> {
        let mut buf = [0u8; Self::MAX_LEN];
        fill_alphanumeric(&mut buf)?;
        // ASCII alphanumerics are valid UTF-8
        Ok(Token(buf.iter().map(|&b| b as char).collect()))
    }

    /// The Token's text, to store it in your configuration.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The EncodingAESKey: 43 base64 characters standing for a 32-byte AES-256 key.
///
/// Decoded as WeCom's own libraries decode it: the 2 surplus bits of the last character are
/// ignored, so keys whose last character carries non-zero trailing bits — about three in four that
/// the admin console generates, the official sample key among them — are accepted.
///
/// `Debug` never shows the key; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodingAesKey {
    text: String,
    key: [u8; 32],
}

impl EncodingAesKey {
    /// Length of an EncodingAESKey.
    pub const LEN: usize = 43;

    /// Validates and decodes an EncodingAESKey.
    ///
    /// ```
    /// // the official sample key: its last character `C` carries non-zero trailing bits
    /// let key = wxkf_crypto::EncodingAesKey::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C").unwrap();
    /// assert_eq!(key.aes_key()[..4], [0x8d, 0x69, 0x98, 0x9b]);
    /// assert!(wxkf_crypto::EncodingAesKey::new("too-short").is_err());
    /// ```
    pub fn new(encoding_aes_key: &str) -> Result<Self, Error> {
        let s = encoding_aes_key.as_bytes();
        if s.len() == Self::LEN + 1 && s[Self::LEN] == b'=' {
            return Err(Error::InvalidAesKey {
                reason: "it is 44 characters ending in '='; use the 43 characters without the '='",
            });
        }
        if s.len() != Self::LEN {
            return Err(Error::InvalidAesKey { reason: "it must be exactly 43 characters" });
        }
        if !s.iter().all(u8::is_ascii_alphanumeric) {
            return Err(Error::InvalidAesKey {
                reason: "it has characters other than ASCII letters and digits",
            });
        }
        // 43 chars × 6 bits = 258 bits: the first 256 are the key, the 2 trailing bits are ignored
        // (the decoder WeCom's libraries use, shared with the ciphertext).
        let mut decoded = [0u8; 33];
        let len = crate::cipher::LENIENT
            .decode_slice(s, &mut decoded)
            .map_err(|_| Error::InvalidAesKey { reason: "it is not base64" })?;
        let key: [u8; 32] = decoded
            .get(..len)
            .and_then(|k| k.try_into().ok())
            .ok_or(Error::InvalidAesKey { reason: "it must decode to 32 bytes" })?;
        Ok(EncodingAesKey { text: encoding_aes_key.to_owned(), key })
    }

    /// A new random EncodingAESKey from the operating system's CSPRNG (43 letters and digits).
    pub fn generate() -> Result<Self, Error> {
        let mut buf = [0u8; Self::LEN];
        fill_alphanumeric(&mut buf)?;
        let text: String = buf.iter().map(|&b| b as char).collect();
        EncodingAesKey::new(&text)
    }

    /// Whether the key's last character has zero trailing bits (what a strict base64 decoder
    /// requires). WeCom does not require it and neither does this crate; this is for diagnostics.
    pub fn is_canonical(&self) -> bool {
        let mut decoded = [0u8; 33];
        base64::engine::general_purpose::STANDARD_NO_PAD.decode_slice(&self.text, &mut decoded).is_ok()
    }

    /// The 32-byte AES-256 key.
    pub fn aes_key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The CBC initialisation vector: the first 16 bytes of the key (the same for every message).
    pub fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// The key's text, to store it in your configuration.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for EncodingAesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodingAesKey(<redacted>)")
    }
}

/// Checks a receive id: the CorpID (`ww…`/`wx…`) for a corp's own apps, the suite id for
/// third-party suites, the AppID for Official Accounts, or empty for personal third-party apps.
/// Rejects whitespace and control characters (a pasted id with a trailing newline is the usual
/// cause of −40005) and ids over 256 bytes.
pub fn validate_receive_id(receive_id: &str) -> Result<(), Error> {
    if receive_id.len() > 256 {
        return Err(Error::InvalidReceiveId { reason: "it is longer than 256 bytes" });
    }
    if receive_id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidReceiveId { reason: "it contains whitespace or control characters" });
    }
    Ok(())
}

const ALPHANUMERIC: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Fills `out` with uniformly random ASCII letters and digits (rejection sampling, no modulo bias).
pub(crate) fn fill_alphanumeric(out: &mut [u8]) -> Result<(), Error> {
    let mut pool = [0u8; 64];
    let mut filled = 0;
    while filled < out.len() {
        getrandom::fill(&mut pool).map_err(|_| Error::Random)?;
        for &b in &pool {
            // 62 × 4 = 248: values below that map evenly onto the alphabet
            if b < 248 {
                out[filled] = ALPHANUMERIC[usize::from(b % 62)];
                filled += 1;
                if filled == out.len() {
                    break;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

    #[test]
    fn official_key_decodes_despite_trailing_bits() {
        let k = EncodingAesKey::new(SAMPLE).unwrap();
        assert_eq!(
            hex::encode(k.aes_key()),
            "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760"
        );
        assert_eq!(hex::encode(k.iv()), "8d69989bbaabe67328014c194631ad07");
        assert!(!k.is_canonical());
        // the canonical spelling of the same key decodes to the same bytes
        let canonical = EncodingAesKey::new(&format!("{}A", &SAMPLE[..42])).unwrap();
        assert_eq!(canonical.aes_key(), k.aes_key());
        assert!(canonical.is_canonical());
    }

    #[test]
    fn the_two_surplus_bits_of_the_last_character_never_matter() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (i, &last) in ALPHABET.iter().enumerate() {
            let key = EncodingAesKey::new(&format!("{}{}", &SAMPLE[..42], last as char)).unwrap();
            // the character whose value has the two low bits cleared spells the same key
            let canonical = ALPHABET[i & !3] as char;
            let same = EncodingAesKey::new(&format!("{}{canonical}", &SAMPLE[..42])).unwrap();
            assert_eq!(key.aes_key(), same.aes_key(), "{}", last as char);
            assert_eq!(key.is_canonical(), i % 4 == 0, "{}", last as char);
            // the last key byte is the low 4 bits of the 42nd character ('2', value 54) followed by
            // the high 4 bits of the 43rd
            assert_eq!(key.aes_key()[31], ((54 & 15) << 4) | (i as u8 >> 2), "{}", last as char);
        }
    }

    #[test]
    fn key_rules() {
        assert!(
            matches!(EncodingAesKey::new(&format!("{SAMPLE}=")), Err(Error::InvalidAesKey { reason }) if reason.contains("'='"))
        );
        assert!(EncodingAesKey::new(&SAMPLE[..42]).is_err());
        assert!(EncodingAesKey::new(&format!("{}+", &SAMPLE[..42])).is_err());
        assert!(EncodingAesKey::new(&format!("{}é", &SAMPLE[..41])).is_err());
        assert!(EncodingAesKey::new("").is_err());
    }

    #[test]
    fn token_rules() {
        assert!(Token::new("QDG6eK").is_ok());
        assert!(Token::new(&"a".repeat(32)).is_ok());
        assert!(Token::new(&"a".repeat(33)).is_err());
        assert!(Token::new("").is_err());
        assert!(Token::new("tok_en").is_err());
        assert!(Token::new("токен").is_err());
    }

    #[test]
    fn receive_id_rules() {
        assert!(validate_receive_id("wx5823bf96d3bd56c7").is_ok());
        assert!(validate_receive_id("").is_ok());
        assert!(validate_receive_id("ww123\n").is_err());
        assert!(validate_receive_id(" ww123").is_err());
    }

    #[test]
    fn generated_values_are_valid_and_differ() {
        let a = EncodingAesKey::generate().unwrap();
        let b = EncodingAesKey::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), 43);
        assert!(EncodingAesKey::new(a.expose_secret()).is_ok());
        let t = Token::generate().unwrap();
        assert_eq!(t.expose_secret().len(), 32);
        assert!(Token::new(t.expose_secret()).is_ok());
    }

    #[test]
    fn debug_is_redacted() {
        let k = EncodingAesKey::new(SAMPLE).unwrap();
        let t = Token::new("QDG6eK").unwrap();
        let shown = format!("{k:?} {t:?}");
        assert!(!shown.contains("jWmY") && !shown.contains("QDG6eK"), "{shown}");
    }
}
