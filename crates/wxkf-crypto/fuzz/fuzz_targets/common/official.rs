//! The official sample configuration (callback-crypto.md), shared by the targets.

use std::sync::OnceLock;
use wxkf_crypto::CallbackCrypto;

/// Token `QDG6eK`, the official EncodingAESKey and receive id, built once.
pub fn crypto() -> &'static CallbackCrypto {
    static CRYPTO: OnceLock<CallbackCrypto> = OnceLock::new();
    CRYPTO.get_or_init(|| {
        CallbackCrypto::new("QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7")
            .expect("the official configuration is valid")
    })
}
