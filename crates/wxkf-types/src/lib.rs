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
pub mod kf;
pub mod knowledge;
pub mod media;
pub mod message;
pub mod service_state;
pub mod servicer;
pub mod statistic;
pub mod token;

mod endpoints;
pub use endpoints::ENDPOINTS;

pub use endpoint::{
    ApiResponse, ApiStatus, EmptyResponse, Endpoint, EndpointMeta, Method, RequestBody, ResponseBody,
};

/// The upgrade-service endpoints under their names before 0.2: their paths are
/// `/cgi-bin/kf/customer/…`, so they now live in [`customer`] as `Customer…Request`.
#[doc(hidden)]
pub mod upgrade {
    pub use crate::customer::{
        CustomerCancelUpgradeServiceRequest as CancelUpgradeServiceRequest,
        CustomerGetUpgradeServiceConfigRequest as GetUpgradeServiceConfigRequest,
        CustomerGetUpgradeServiceConfigResponse as GetUpgradeServiceConfigResponse,
        CustomerUpgradeServiceRequest as UpgradeServiceRequest, UpgradeGroupChat, UpgradeGroupChatRange,
        UpgradeMember, UpgradeMemberRange, UpgradeTarget,
    };
}
