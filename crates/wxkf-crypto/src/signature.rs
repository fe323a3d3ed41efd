//! `msg_signature = hex(SHA1(concat(sort([token, timestamp, nonce, encrypt]))))`, compared in constant time.

use crate::Error;
use sha1::{Digest, Sha1};
use std::fmt;
use subtle::ConstantTimeEq as _;

/// A callback signature: the 20-byte SHA-1 digest, shown as 40 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 20]);

impl Signature {
    /// Computes the signature over the four strings, sorted byte-wise and joined without separator.
    ///
    /// ```
    /// use wxkf_crypto::Signature;
    /// let s = Signature::compute(
    ///     "QDG6eK",
    ///     "1409659589",
    ///     "263014780",
    ///     "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
    /// );
    /// assert_eq!(s.to_string(), "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3");
    /// ```
    pub fn compute(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> Signature {
        let mut parts = [token.as_bytes(), timestamp.as_bytes(), nonce.as_bytes(), encrypt.as_bytes()];
        parts.sort_unstable();
        let mut h = Sha1::new();
        for p in parts {
            h.update(p);
        }
        Signature(h.finalize().into())
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Parses 40 hexadecimal characters (either case).
    pub fn from_hex(hex: &str) -> Result<Signature, Error> {
        let mut out = [0u8; 20];
        hex::decode_to_slice(hex, &mut out).map_err(|_| Error::MalformedSignature)?;
        Ok(Signature(out))
    }

    /// Compares with a received `msg_signature` in constant time (for well-formed input), with
    /// the `subtle` crate.
    pub fn verify(&self, msg_signature: &str) -> Result<(), Error> {
        let theirs = Signature::from_hex(msg_signature)?;
        if bool::from(self.0[..].ct_eq(&theirs.0[..])) { Ok(()) } else { Err(Error::SignatureMismatch) }
    }

    /// 40 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 40];
        // 20 bytes fill exactly 40 hex digits, all ASCII
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_bytewise_so_the_token_can_come_first() {
        // official V2: the sorted order is timestamp-ish nonce, timestamp, token, ciphertext
        let enc = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
        let s = Signature::compute("QDG6eK", "1409659813", "1372623149", enc);
        assert_eq!(s.to_hex(), "477715d11cdb4164915debcba66cb864d751f3e6");
        // argument order does not matter, only the sort
        assert_eq!(Signature::compute(enc, "1372623149", "1409659813", "QDG6eK"), s);
    }

    #[test]
    fn verify_accepts_upper_case_and_rejects_malformed() {
        let s = Signature::compute("a", "b", "c", "d");
        assert!(s.verify(&s.to_hex()).is_ok());
        assert!(s.verify(&s.to_hex().to_uppercase()).is_ok());
        assert_eq!(s.verify(&s.to_hex()[..39]), Err(Error::MalformedSignature));
        assert_eq!(s.verify(&format!("{}g", &s.to_hex()[..39])), Err(Error::MalformedSignature));
        let mut other = s.to_hex().into_bytes();
        other[39] = if other[39] == b'0' { b'1' } else { b'0' };
        assert_eq!(s.verify(std::str::from_utf8(&other).unwrap()), Err(Error::SignatureMismatch));
        assert_eq!(s.verify("ünicode-and-wrong-length"), Err(Error::MalformedSignature));
    }
}
