#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod endpoint;
pub mod errcode;
pub(crate) mod serde_util;

pub mod account;
pub mod callback;
pub mod corp;
pub mod customer;
pub mod knowledge;
pub mod media;
pub mod message;
pub mod service_state;
pub mod servicer;
pub mod statistic;
pub mod token;
pub mod upgrade;

mod endpoints;
pub use endpoints::ENDPOINTS;

pub use endpoint::{
    ApiResponse, ApiStatus, EmptyResponse, Endpoint, EndpointMeta, Method, RequestBody, ResponseBody,
};
