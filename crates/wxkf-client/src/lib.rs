#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod api;
mod client;
mod config;
pub mod error;
pub mod paging;
#[cfg(feature = "redis")]
pub mod redis_store;
mod retry;
mod store_error;
mod telemetry;
pub mod token;
mod transport;

pub use client::Client;
pub use config::{
    ClientBuilder, DEFAULT_BASE_URL, DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_MEDIA_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES, ENV_APP_SECRET, ENV_BASE_URL, ENV_CORP_ID,
};
pub use error::Error;
#[cfg(feature = "redis")]
pub use redis_store::RedisTokenStore;
pub use retry::RetryPolicy;
pub use telemetry::{METRIC_NAMES, describe_metrics};
pub use token::{
    AccessToken, BoxFuture, CachedToken, CorpSecret, MAX_TOKEN_LIFETIME, MemoryTokenStore, RefreshLease,
    RefreshLockAttempt, TokenKey, TokenStore, TokenStoreError,
};

/// The model crate, re-exported so callers need one dependency.
pub use wxkf_types as types;
