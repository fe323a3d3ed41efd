#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod cipher;
mod envelope;
mod error;
mod key;
mod query;
mod reply;
mod signature;

pub use envelope::{Envelope, EnvelopeFormat};
pub use error::Error;
pub use key::{EncodingAesKey, Token, validate_receive_id};
pub use query::{CallbackQuery, percent_decode};
pub use reply::EncryptedReply;
pub use signature::Signature;

use cipher::{Cipher, RANDOM_LEN};
use std::fmt;

/// The crypto context of one callback URL: Token, EncodingAESKey and receive id.
///
/// Cheap to share (`Send + Sync`, no interior mutability); build it once at start-up. The AES key
/// schedule is computed here, not per message. `Debug` shows only the receive id.
///
/// ```
/// use wxkf_crypto::CallbackCrypto;
///
/// let crypto = CallbackCrypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")?;
/// let reply = crypto.encrypt_reply("<xml>hi</xml>", "1409659813", "1372623149")?;
/// let body = reply.to_xml();
/// let plain = crypto.decrypt_message(&reply.msg_signature, &reply.timestamp, &reply.nonce, body.as_bytes())?;
/// assert_eq!(plain, "<xml>hi</xml>");
/// # Ok::<(), wxkf_crypto::Error>(())
/// ```
#[derive(Clone)]
pub struct CallbackCrypto {
    token: Token,
    key: EncodingAesKey,
    receive_id: String,
    cipher: Cipher,
}

impl fmt::Debug for CallbackCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackCrypto")
            .field("token", &self.token)
            .field("key", &self.key)
            .field("receive_id", &self.receive_id)
            .finish()
    }
}

impl CallbackCrypto {
    /// Validates the three values and prepares the cipher.
    ///
    /// `receive_id` is the CorpID for a corp's own app (this is the Kf case), the suite id for
    /// third-party suite callbacks, the AppID for Official Accounts, and the empty string for
    /// personal third-party apps.
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, Error> {
        let token = Token::new(token)?;
        let key = EncodingAesKey::new(encoding_aes_key)?;
        validate_receive_id(receive_id)?;
        Ok(Self::from_parts(token, key, receive_id.to_owned()))
    }

    /// Builds a context from already-validated parts.
    pub fn from_parts(token: Token, key: EncodingAesKey, receive_id: String) -> Self {
        let cipher = Cipher::new(key.aes_key());
        CallbackCrypto { token, key, receive_id, cipher }
    }

    /// The configured receive id.
    pub fn receive_id(&self) -> &str {
        &self.receive_id
    }

    /// The configured key (its `Debug` is redacted).
    pub fn encoding_aes_key(&self) -> &EncodingAesKey {
        &self.key
    }

    /// The signature of `encrypt` with this Token.
    pub fn sign(&self, timestamp: &str, nonce: &str, encrypt: &str) -> Signature {
        Signature::compute(self.token.expose_secret(), timestamp, nonce, encrypt)
    }

    /// Checks `msg_signature` against timestamp, nonce and the ciphertext text, in constant time.
    ///
    /// If it does not match and the ciphertext contains spaces, it is checked once more with the
    /// spaces turned back into `+` (the form WeCom signed before a framework form-decoded the query).
    pub fn verify_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<(), Error> {
        match self.sign(timestamp, nonce, encrypt).verify(msg_signature) {
            Err(Error::SignatureMismatch) if encrypt.contains(' ') => {
                self.sign(timestamp, nonce, &encrypt.replace(' ', "+")).verify(msg_signature)
            }
            other => other,
        }
    }

    /// Decrypts a ciphertext **without** checking a signature and returns the message bytes
    /// (checks padding, frame and receive id). Prefer [`Self::verify_url`] and
    /// [`Self::decrypt_message`], which verify first.
    pub fn decrypt(&self, encrypt: &str) -> Result<Vec<u8>, Error> {
        let cipher::Opened { mut buf, msg, receive_id: rid } = self.cipher.open(encrypt)?;
        if buf[rid.clone()] != *self.receive_id.as_bytes() {
            return Err(Error::ReceiveIdMismatch {
                expected: self.receive_id.clone(),
                found: String::from_utf8_lossy(&buf[rid]).into_owned(),
            });
        }
        // move the message to the front of the buffer instead of copying it into a new one
        let len = msg.len();
        buf.copy_within(msg, 0);
        buf.truncate(len);
        Ok(buf)
    }

    /// Verifies and decrypts, returning the message as text.
    fn open_text(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, Error> {
        self.verify_signature(msg_signature, timestamp, nonce, encrypt)?;
        String::from_utf8(self.decrypt(encrypt)?).map_err(|_| Error::InvalidUtf8)
    }

    /// Answers URL verification (the GET WeCom sends when the admin saves the callback URL):
    /// verifies the signature over `echostr` and returns the decrypted echo, which must be the
    /// whole response body — no quotes, no newline.
    ///
    /// `echostr` is the query value percent-decoded once (see [`CallbackQuery`]).
    ///
    /// ```
    /// # let crypto = wxkf_crypto::CallbackCrypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")?;
    /// let echo = crypto.verify_url(
    ///     "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    ///     "1409659589",
    ///     "263014780",
    ///     "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
    /// )?;
    /// assert_eq!(echo, "1616140317555161061");
    /// # Ok::<(), wxkf_crypto::Error>(())
    /// ```
    pub fn verify_url(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        echostr: &str,
    ) -> Result<String, Error> {
        self.open_text(msg_signature, timestamp, nonce, echostr)
    }

    /// Verifies and decrypts a callback POST body (XML or JSON envelope) and returns the plaintext
    /// (for Kf, the `kf_msg_or_event` XML).
    pub fn decrypt_message(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        body: &[u8],
    ) -> Result<String, Error> {
        let envelope = Envelope::parse(body)?;
        self.open_text(msg_signature, timestamp, nonce, &envelope.encrypt)
    }

    /// Encrypts `plaintext` with a fresh random prefix; returns the base64 ciphertext.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, Error> {
        let mut random = [0u8; RANDOM_LEN];
        key::fill_alphanumeric(&mut random)?;
        self.encrypt_with_random(&random, plaintext)
    }

    /// Encrypts with a caller-chosen 16-byte random prefix (for reproducing fixtures; use
    /// [`Self::encrypt`] otherwise).
    pub fn encrypt_with_random(&self, random: &[u8; 16], plaintext: &[u8]) -> Result<String, Error> {
        self.cipher.seal(random, plaintext, self.receive_id.as_bytes())
    }

    /// Encrypts and signs a passive reply. `timestamp` and `nonce` may be the request's own.
    pub fn encrypt_reply(
        &self,
        plaintext: &str,
        timestamp: &str,
        nonce: &str,
    ) -> Result<EncryptedReply, Error> {
        reply::check_reply_field(timestamp, "the timestamp must be printable ASCII without <>&\"\\]")?;
        reply::check_reply_field(nonce, "the nonce must be printable ASCII without <>&\"\\]")?;
        let encrypt = self.encrypt(plaintext.as_bytes())?;
        let msg_signature = self.sign(timestamp, nonce, &encrypt).to_hex();
        Ok(EncryptedReply {
            encrypt,
            msg_signature,
            timestamp: timestamp.to_owned(),
            nonce: nonce.to_owned(),
        })
    }

    /// Like [`Self::encrypt_reply`] with the current unix time and a random 10-digit nonce.
    pub fn encrypt_reply_now(&self, plaintext: &str) -> Result<EncryptedReply, Error> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.encrypt_reply(plaintext, &now.to_string(), &reply::random_nonce()?)
    }
}

/// A new random Token (32 letters and digits) and EncodingAESKey (43 letters and digits), to
/// paste into the WeCom admin console.
///
/// ```
/// let (token, key) = wxkf_crypto::generate_credentials()?;
/// assert_eq!(token.expose_secret().len(), 32);
/// assert_eq!(key.expose_secret().len(), 43);
/// # Ok::<(), wxkf_crypto::Error>(())
/// ```
pub fn generate_credentials() -> Result<(Token, EncodingAesKey), Error> {
    Ok((Token::generate()?, EncodingAesKey::generate()?))
}
