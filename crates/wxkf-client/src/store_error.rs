//! [`TokenStoreError`], the error a [`TokenStore`](crate::TokenStore) hands the client: its own
//! module so that [`Error`](crate::Error) and the token logic (which returns `Error`) both use it
//! without importing each other. Re-exported as `wxkf_client::TokenStoreError` and
//! `wxkf_client::token::TokenStoreError`.

use std::sync::Arc;

/// A [`TokenStore`](crate::TokenStore)'s error as [`Error::TokenStore`](crate::Error::TokenStore)
/// carries it: the store's `std::io::Error` (the one error type of every store trait in the
/// workspace) behind an `Arc`, so that the error, like [`Error`](crate::Error), is cheap to clone
/// and can be shared by every caller of one fetch.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct TokenStoreError(Arc<dyn std::error::Error + Send + Sync>);

impl TokenStoreError {
    /// Wraps a store's own error.
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        TokenStoreError(Arc::from(err.into()))
    }
}
