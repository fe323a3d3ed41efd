//! What can go wrong, one variant per failure, each mapped to the official library's return code.

/// Every way verifying, decrypting or encrypting a callback can fail.
///
/// `Display` says what went wrong; [`Error::hint`] says what to check; [`Error::code`] gives the
/// return code WeCom's sample libraries use for the same failure (−40001 … −40011), which is what
/// WeCom's documentation and most forum answers quote. No variant ever holds the Token or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Token is not 1–32 ASCII letters and digits.
    #[error("invalid Token: {reason}")]
    InvalidToken {
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The EncodingAESKey is not 43 ASCII letters and digits.
    #[error("invalid EncodingAESKey: {reason}")]
    InvalidAesKey {
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The receive id (CorpID, suite id or app id) has characters no such id has.
    #[error("invalid receive id: {reason}")]
    InvalidReceiveId {
        /// Which rule it broke.
        reason: &'static str,
    },
    /// `msg_signature` is not 40 hexadecimal characters.
    #[error("msg_signature is not 40 hexadecimal characters")]
    MalformedSignature,
    /// `msg_signature` does not match SHA-1 over the sorted Token, timestamp, nonce and ciphertext.
    #[error("msg_signature does not match")]
    SignatureMismatch,
    /// The POST body is neither an XML nor a JSON envelope with an `Encrypt` value.
    #[error("cannot read the callback envelope: {reason}")]
    InvalidEnvelope {
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The ciphertext is not base64.
    #[error("the ciphertext is not valid base64")]
    InvalidBase64,
    /// The decoded ciphertext is empty or not a whole number of AES blocks.
    #[error("the ciphertext is {len} bytes, not a non-zero multiple of 16")]
    InvalidCiphertextLength {
        /// Length after base64 decoding.
        len: usize,
    },
    /// The last decrypted byte is not a PKCS#7 pad length in 1..=32.
    #[error("the decrypted padding byte is {pad}, not in 1..=32")]
    InvalidPadding {
        /// The last decrypted byte.
        pad: u8,
    },
    /// The pad length is plausible but the padding bytes do not all equal it.
    #[error("the decrypted padding of {pad} bytes is inconsistent")]
    InconsistentPadding {
        /// The pad length the last byte claims.
        pad: u8,
    },
    /// The unpadded plaintext is shorter than the 16-byte random prefix plus the 4-byte length.
    #[error("the decrypted frame is {len} bytes, shorter than its 20-byte header")]
    FrameTooShort {
        /// Unpadded length.
        len: usize,
    },
    /// The length field claims more message bytes than the frame holds.
    #[error("the frame's length field says {msg_len} bytes but only {available} follow it")]
    LengthOutOfBounds {
        /// The big-endian length field.
        msg_len: u32,
        /// Bytes after the header.
        available: usize,
    },
    /// The receive id at the end of the frame is not the configured one.
    #[error("receive id mismatch: expected {expected:?}, the message carries {found:?}")]
    ReceiveIdMismatch {
        /// The configured receive id.
        expected: String,
        /// What the message carries (lossily decoded if it is not UTF-8).
        found: String,
    },
    /// The decrypted message is not UTF-8 text.
    #[error("the decrypted message is not valid UTF-8")]
    InvalidUtf8,
    /// The plaintext is too large to frame (its length does not fit the 32-bit length field).
    #[error("the plaintext is {len} bytes, more than the 4 GiB a frame can hold")]
    PlaintextTooLarge {
        /// Plaintext length.
        len: usize,
    },
    /// A reply's timestamp or nonce cannot be put in an envelope.
    #[error("cannot build the reply envelope: {reason}")]
    InvalidReplyField {
        /// What was wrong.
        reason: &'static str,
    },
    /// The operating system's random source failed.
    #[error("the system random source failed")]
    Random,
}

impl Error {
    /// The official sample library's return code for this failure (page 90307/90468):
    /// −40001 signature, −40002 envelope, −40004 AES key, −40005 receive id, −40006 encrypt,
    /// −40007 AES decrypt, −40008 illegal buffer, −40010 base64 decode, −40011 reply envelope.
    /// Invalid Token and receive id, which the official libraries do not check, use −40001 and
    /// −40005, the codes of the checks they would fail later.
    pub fn code(&self) -> i32 {
        match self {
            Error::InvalidToken { .. } | Error::MalformedSignature | Error::SignatureMismatch => -40001,
            Error::InvalidEnvelope { .. } => -40002,
            Error::InvalidAesKey { .. } => -40004,
            Error::InvalidReceiveId { .. } | Error::ReceiveIdMismatch { .. } => -40005,
            Error::PlaintextTooLarge { .. } | Error::Random => -40006,
            Error::InvalidCiphertextLength { .. } => -40007,
            Error::InvalidPadding { .. }
            | Error::InconsistentPadding { .. }
            | Error::FrameTooShort { .. }
            | Error::LengthOutOfBounds { .. }
            | Error::InvalidUtf8 => -40008,
            Error::InvalidBase64 => -40010,
            Error::InvalidReplyField { .. } => -40011,
        }
    }

    /// What to check, in a sentence, for the person debugging a failing callback.
    pub fn hint(&self) -> &'static str {
        match self {
            Error::InvalidToken { .. } => {
                "copy the Token exactly as set in the WeCom admin console (1-32 letters and digits)"
            }
            Error::InvalidAesKey { .. } => {
                "copy the EncodingAESKey exactly as set in the WeCom admin console: 43 letters and digits, \
                 without a trailing '='"
            }
            Error::InvalidReceiveId { .. } => {
                "the receive id is your CorpID (ww… / wx…), a suite id, an app id, or empty; check for \
                 pasted spaces"
            }
            Error::MalformedSignature => {
                "pass the msg_signature query parameter as received: 40 hexadecimal characters"
            }
            Error::SignatureMismatch => {
                "check the Token; sign timestamp, nonce and the Encrypt/echostr text exactly as received, \
                 percent-decoded once (the <Token> element inside a Kf callback is the sync_msg token, \
                 not the callback Token)"
            }
            Error::InvalidEnvelope { .. } => {
                "the POST body must be <xml>…<Encrypt>…</Encrypt>…</xml> or a JSON object with an \
                 \"encrypt\" key; pass the raw body"
            }
            Error::InvalidBase64 => {
                "pass the Encrypt/echostr value as received, percent-decoded exactly once"
            }
            Error::InvalidCiphertextLength { .. } => {
                "the ciphertext was truncated or is not a WeCom ciphertext"
            }
            Error::InvalidPadding { .. } | Error::InconsistentPadding { .. } => {
                "the EncodingAESKey is probably not the one configured for this callback URL (or the \
                 ciphertext was altered)"
            }
            Error::FrameTooShort { .. } | Error::LengthOutOfBounds { .. } | Error::InvalidUtf8 => {
                "the EncodingAESKey is probably wrong, or the ciphertext was altered"
            }
            Error::ReceiveIdMismatch { .. } => {
                "use your CorpID for a self-built app's Kf callback, the suite id for third-party \
                 suite callbacks, the empty string for personal third-party apps, the AppID for \
                 Official Accounts"
            }
            Error::PlaintextTooLarge { .. } => "split the message",
            Error::InvalidReplyField { .. } => {
                "use a decimal unix timestamp and a nonce of printable characters"
            }
            Error::Random => "the operating system's random source is unavailable; retry",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn codes_follow_the_official_table() {
        assert_eq!(Error::SignatureMismatch.code(), -40001);
        assert_eq!(Error::InvalidEnvelope { reason: "x" }.code(), -40002);
        assert_eq!(Error::InvalidAesKey { reason: "x" }.code(), -40004);
        assert_eq!(Error::ReceiveIdMismatch { expected: "a".into(), found: "b".into() }.code(), -40005);
        assert_eq!(Error::InvalidCiphertextLength { len: 3 }.code(), -40007);
        assert_eq!(Error::InvalidPadding { pad: 0 }.code(), -40008);
        assert_eq!(Error::LengthOutOfBounds { msg_len: 9, available: 1 }.code(), -40008);
        // -40010 is base64 *decode* per the official table (a Python copy swaps -40009/-40010).
        assert_eq!(Error::InvalidBase64.code(), -40010);
        assert_eq!(Error::InvalidReplyField { reason: "x" }.code(), -40011);
    }
}
