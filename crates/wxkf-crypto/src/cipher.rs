//! Base64, AES-256-CBC with IV = key[..16], PKCS#7 padding to 32-byte blocks, and the frame
//! `random(16) | msg_len (u32 BE) | msg | receive_id`.

use crate::Error;
use aes::{Aes256Dec, Aes256Enc};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use std::ops::Range;

/// PKCS#7 block size of the WeCom scheme: 32, not AES's 16.
pub(crate) const PAD_BLOCK: usize = 32;
/// Random prefix length.
pub(crate) const RANDOM_LEN: usize = 16;
/// Random prefix plus the length field.
pub(crate) const HEADER_LEN: usize = RANDOM_LEN + 4;

/// Decodes like WeCom's libraries: standard alphabet, `=` padding optional, trailing bits ignored.
/// The ciphertext and the EncodingAESKey are both read with it.
pub(crate) const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes as WeCom does: standard alphabet with `=` padding.
const STANDARD: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A decrypted buffer with the positions of the message and the receive id inside it.
pub(crate) struct Opened {
    pub(crate) buf: Vec<u8>,
    pub(crate) msg: Range<usize>,
    pub(crate) receive_id: Range<usize>,
}

/// The key schedules, computed once per configured key.
#[derive(Clone)]
pub(crate) struct Cipher {
    enc: Aes256Enc,
    dec: Aes256Dec,
    iv: [u8; 16],
}

impl Cipher {
    pub(crate) fn new(key: &[u8; 32]) -> Cipher {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key[..16]);
        Cipher { enc: Aes256Enc::new(key.into()), dec: Aes256Dec::new(key.into()), iv }
    }

    /// Decrypts `encrypt` (base64) and checks padding and frame; returns the buffer with the
    /// ranges of the message and of the receive id inside it.
    pub(crate) fn open(&self, encrypt: &str) -> Result<Opened, Error> {
        let mut buf = decode_base64(encrypt)?;
        let len = buf.len();
        if len == 0 || len % 16 != 0 {
            return Err(Error::InvalidCiphertextLength { len });
        }
        cbc::Decryptor::<Aes256Dec>::inner_iv_init(self.dec.clone(), (&self.iv).into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| Error::InvalidCiphertextLength { len })?;
        let unpadded = unpad(&buf)?;
        let (msg, receive_id) = split_frame(&buf[..unpadded])?;
        Ok(Opened { buf, msg, receive_id })
    }

    /// Frames, pads, encrypts and base64-encodes `msg`.
    pub(crate) fn seal(
        &self,
        random: &[u8; RANDOM_LEN],
        msg: &[u8],
        receive_id: &[u8],
    ) -> Result<String, Error> {
        let msg_len = u32::try_from(msg.len()).map_err(|_| Error::PlaintextTooLarge { len: msg.len() })?;
        let frame_len = HEADER_LEN + msg.len() + receive_id.len();
        let pad = PAD_BLOCK - frame_len % PAD_BLOCK;
        let mut buf = Vec::with_capacity(frame_len + pad);
        buf.extend_from_slice(random);
        buf.extend_from_slice(&msg_len.to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(receive_id);
        // pad ∈ 1..=32, so it fits a byte
        buf.resize(frame_len + pad, pad as u8);
        let total = buf.len();
        cbc::Encryptor::<Aes256Enc>::inner_iv_init(self.enc.clone(), (&self.iv).into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, total)
            .map_err(|_| Error::PlaintextTooLarge { len: msg.len() })?;
        Ok(STANDARD.encode(&buf))
    }
}

/// Base64-decodes a ciphertext, tolerating what proxies and frameworks do to it: URL-safe `-`/`_`,
/// stripped `=`, spaces that were `+` before a form-decode, and line breaks.
pub(crate) fn decode_base64(encrypt: &str) -> Result<Vec<u8>, Error> {
    // The clean case is the common one: try it first and normalise only on failure.
    if let Ok(v) = LENIENT.decode(encrypt) {
        return Ok(v);
    }
    let normalized: Vec<u8> = encrypt
        .bytes()
        .filter(|b| !matches!(b, b'\r' | b'\n' | b'\t'))
        .map(|b| match b {
            b' ' => b'+',
            b'-' => b'+',
            b'_' => b'/',
            other => other,
        })
        .collect();
    LENIENT.decode(normalized).map_err(|_| Error::InvalidBase64)
}

/// Strict PKCS#7 with block size 32: returns the unpadded length.
fn unpad(buf: &[u8]) -> Result<usize, Error> {
    let Some(&pad) = buf.last() else { return Err(Error::InvalidPadding { pad: 0 }) };
    let n = usize::from(pad);
    if n == 0 || n > PAD_BLOCK || n > buf.len() {
        return Err(Error::InvalidPadding { pad });
    }
    if buf[buf.len() - n..].iter().any(|&b| b != pad) {
        return Err(Error::InconsistentPadding { pad });
    }
    Ok(buf.len() - n)
}

/// Splits `random | len | msg | receive_id` into the ranges of msg and receive_id.
fn split_frame(frame: &[u8]) -> Result<(Range<usize>, Range<usize>), Error> {
    if frame.len() < HEADER_LEN {
        return Err(Error::FrameTooShort { len: frame.len() });
    }
    let msg_len = u32::from_be_bytes([frame[16], frame[17], frame[18], frame[19]]);
    let available = frame.len() - HEADER_LEN;
    let end = usize::try_from(msg_len)
        .ok()
        .filter(|&m| m <= available)
        .map(|m| HEADER_LEN + m)
        .ok_or(Error::LengthOutOfBounds { msg_len, available })?;
    Ok((HEADER_LEN..end, end..frame.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpad_rules() {
        let mut b = vec![7u8; 64];
        assert_eq!(unpad(&b), Ok(57));
        b[63] = 0;
        assert_eq!(unpad(&b), Err(Error::InvalidPadding { pad: 0 }));
        b[63] = 33;
        assert_eq!(unpad(&b), Err(Error::InvalidPadding { pad: 33 }));
        b[63] = 32;
        assert_eq!(unpad(&b), Err(Error::InconsistentPadding { pad: 32 }));
        assert_eq!(unpad(&[2u8]), Err(Error::InvalidPadding { pad: 2 }));
        assert_eq!(unpad(&[]), Err(Error::InvalidPadding { pad: 0 }));
        assert_eq!(unpad(&[32u8; 32]), Ok(0));
    }

    #[test]
    fn frame_rules() {
        let mut f = vec![b'r'; 16];
        f.extend_from_slice(&3u32.to_be_bytes());
        f.extend_from_slice(b"abcID");
        assert_eq!(split_frame(&f), Ok((20..23, 23..25)));
        assert_eq!(split_frame(&f[..19]), Err(Error::FrameTooShort { len: 19 }));
        f[16..20].copy_from_slice(&6u32.to_be_bytes());
        assert_eq!(split_frame(&f), Err(Error::LengthOutOfBounds { msg_len: 6, available: 5 }));
        f[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(split_frame(&f), Err(Error::LengthOutOfBounds { msg_len: u32::MAX, available: 5 }));
    }

    #[test]
    fn base64_tolerance() {
        let canonical =
            "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==";
        let want = decode_base64(canonical).unwrap();
        assert_eq!(want.len(), 64);
        for variant in [
            canonical.trim_end_matches('='),
            &canonical.replace('+', " "),
            &canonical.replace('+', "-").replace('/', "_"),
            &format!("{}\n{}", &canonical[..40], &canonical[40..]),
        ] {
            assert_eq!(decode_base64(variant).unwrap(), want, "{variant}");
        }
        assert_eq!(decode_base64("not base64!"), Err(Error::InvalidBase64));
        assert_eq!(decode_base64("ab=c"), Err(Error::InvalidBase64));
    }
}
