//! `/cgi-bin/kf/customer/*`: customer info (`customer/batchget`, kf-api.md §7: nickname, avatar,
//! gender, unionid and the last enter-session context of WeChat customers) and the upgrade service
//! (升级服务, `customer/get_upgrade_service_config`, `customer/upgrade_service`,
//! `customer/cancel_upgrade_service`, kf-api.md §6).
//!
//! ```
//! use wxkf_types::customer::{CustomerBatchgetRequest, CustomerBatchgetResponse, Gender};
//!
//! let ids: Vec<String> = (0..250).map(|i| format!("wm{i}")).collect();
//! let requests = CustomerBatchgetRequest::chunks(ids, true);
//! assert_eq!(requests.len(), 3);
//! assert_eq!(requests[2].external_userid_list.len(), 50);
//!
//! let resp: CustomerBatchgetResponse = serde_json::from_str(
//!     r#"{"customer_list":[{"external_userid":"wm1","nickname":"N","avatar":"","gender":"2"}]}"#,
//! ).unwrap();
//! assert_eq!(resp.customer_list[0].gender, Gender::Female);
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

mod upgrade;
pub use upgrade::*;

/// Body of `POST /cgi-bin/kf/customer/batchget` (kf-api.md §7): up to 100 customers per call.
/// Works even while the account's API switch is off.
#[doc(alias = "/cgi-bin/kf/customer/batchget")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerBatchgetRequest {
    /// Customer ids, 1..=100 (use [`chunks`](Self::chunks) for more).
    pub external_userid_list: Vec<String>,
    /// Also return each customer's last enter-session context within 48 h (sent as 0/1).
    #[serde(default, with = "crate::serde_util::opt_int_bool", skip_serializing_if = "Option::is_none")]
    pub need_enter_session_context: Option<bool>,
}

/// Why a `customer/batchget` request would be refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CustomerBatchgetError {
    /// No ids.
    Empty,
    /// More than [`CustomerBatchgetRequest::MAX_IDS`] ids.
    TooMany {
        /// Number of ids given.
        len: usize,
    },
}

impl fmt::Display for CustomerBatchgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CustomerBatchgetError::Empty => {
                f.write_str("customer/batchget needs at least one external_userid")
            }
            CustomerBatchgetError::TooMany { len } => write!(
                f,
                "{len} external_userids in one customer/batchget call; at most {} (split with chunks())",
                CustomerBatchgetRequest::MAX_IDS
            ),
        }
    }
}

impl std::error::Error for CustomerBatchgetError {}

impl CustomerBatchgetRequest {
    /// Most ids per call.
    pub const MAX_IDS: usize = 100;

    /// Ask for the customers `external_userid_list` (1..=100 ids; see [`validate`](Self::validate)).
    pub fn new(external_userid_list: impl IntoIterator<Item = impl Into<String>>) -> Self {
        CustomerBatchgetRequest {
            external_userid_list: external_userid_list.into_iter().map(Into::into).collect(),
            need_enter_session_context: None,
        }
    }

    /// Ask (or not) for the enter-session context.
    pub fn with_enter_session_context(mut self, need: bool) -> Self {
        self.need_enter_session_context = Some(need);
        self
    }

    /// Split any number of ids into requests of at most 100 ids each, in order. No ids, no
    /// requests.
    pub fn chunks(
        external_userids: impl IntoIterator<Item = impl Into<String>>,
        need_enter_session_context: bool,
    ) -> Vec<Self> {
        let ids: Vec<String> = external_userids.into_iter().map(Into::into).collect();
        ids.chunks(Self::MAX_IDS)
            .map(|chunk| {
                let req = Self::new(chunk.iter().cloned());
                if need_enter_session_context { req.with_enter_session_context(true) } else { req }
            })
            .collect()
    }

    /// Check the id count WeCom enforces (1..=100).
    pub fn validate(&self) -> Result<(), CustomerBatchgetError> {
        match self.external_userid_list.len() {
            0 => Err(CustomerBatchgetError::Empty),
            len if len > Self::MAX_IDS => Err(CustomerBatchgetError::TooMany { len }),
            _ => Ok(()),
        }
    }
}

/// Response of `customer/batchget` (kf-api.md §7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerBatchgetResponse {
    /// The customers found.
    #[serde(default)]
    pub customer_list: Vec<Customer>,
    /// Ids that could not be resolved (the call still succeeds).
    #[serde(default)]
    pub invalid_external_userid: Vec<String>,
}

/// One WeChat customer (kf-api.md §7 `customer_list[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Customer {
    /// Customer id.
    #[serde(default)]
    pub external_userid: String,
    /// WeChat nickname.
    #[serde(default)]
    pub nickname: String,
    /// Avatar URL (not available to third-party apps).
    #[serde(default)]
    pub avatar: String,
    /// Gender.
    #[serde(default)]
    pub gender: Gender,
    /// Unionid, only when the corp has bound a WeChat developer account (not for third-party apps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// Context of the last entry into a session within 48 h, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enter_session_context: Option<EnterSessionContext>,
}

/// Gender of a customer (kf-api.md §7). Read from a number or a numeric string (DISAGREEMENT),
/// written as a number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "u32")]
#[non_exhaustive]
pub enum Gender {
    /// 0: not known / not set.
    #[default]
    Unspecified,
    /// 1: male.
    Male,
    /// 2: female.
    Female,
    /// A value this crate does not know.
    Unknown(u32),
}

impl From<u32> for Gender {
    fn from(v: u32) -> Self {
        match v {
            0 => Gender::Unspecified,
            1 => Gender::Male,
            2 => Gender::Female,
            other => Gender::Unknown(other),
        }
    }
}

impl From<Gender> for u32 {
    fn from(v: Gender) -> Self {
        match v {
            Gender::Unspecified => 0,
            Gender::Male => 1,
            Gender::Female => 2,
            Gender::Unknown(other) => other,
        }
    }
}

impl<'de> Deserialize<'de> for Gender {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Empty strings and null mean "not set"; anything else must be a number.
        match Option::<serde_json::Value>::deserialize(d)? {
            None | Some(serde_json::Value::Null) => Ok(Gender::Unspecified),
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(Gender::Unspecified),
            Some(v) => {
                let n = crate::serde_util::u64_lenient::deserialize(v).map_err(serde::de::Error::custom)?;
                let n = u32::try_from(n)
                    .map_err(|_| serde::de::Error::custom(format!("gender {n} out of range")))?;
                Ok(Gender::from(n))
            }
        }
    }
}

/// How the customer last entered a session (kf-api.md §7 `enter_session_context`, same meaning as
/// the `enter_session` event of §5.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnterSessionContext {
    /// The `scene` given to `add_contact_way`.
    #[serde(default)]
    pub scene: String,
    /// The `scene_param` appended to the contact link.
    #[serde(default)]
    pub scene_param: String,
    /// Present when the customer came from WeChat Channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_channels: Option<WechatChannelsContext>,
}

/// Where in WeChat Channels a customer entered from (`wechat_channels.scene`).
pub use crate::message::event::ChannelsScene as WechatChannelsScene;
/// The WeChat Channels (视频号) the customer came from (kf-api.md §5.3, §7): the same object as in
/// the `enter_session` event, so one type serves both.
pub use crate::message::event::WechatChannels as WechatChannelsContext;

// Kept for code written before the naming rule (`customer/batchget` → `CustomerBatchget…`).
#[doc(hidden)]
pub use self::{
    CustomerBatchgetError as CustomerBatchGetError, CustomerBatchgetRequest as CustomerBatchGetRequest,
    CustomerBatchgetResponse as CustomerBatchGetResponse,
};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn gender_maps_both_ways_from_numbers_and_strings() {
        for (n, g) in
            [(0, Gender::Unspecified), (1, Gender::Male), (2, Gender::Female), (9, Gender::Unknown(9))]
        {
            assert_eq!(Gender::from(n), g);
            assert_eq!(u32::from(g), n);
            assert_eq!(serde_json::from_value::<Gender>(serde_json::json!(n)).unwrap(), g);
            assert_eq!(serde_json::from_value::<Gender>(serde_json::json!(n.to_string())).unwrap(), g);
            assert_eq!(serde_json::to_value(g).unwrap(), serde_json::json!(n));
        }
        assert_eq!(serde_json::from_str::<Gender>(r#""""#).unwrap(), Gender::Unspecified);
        assert!(serde_json::from_str::<Gender>(r#""male""#).is_err());
        assert!(serde_json::from_str::<Gender>("-1").is_err());
    }

    #[test]
    fn channels_scene_maps_both_ways() {
        use WechatChannelsScene::*;
        for (n, s) in [
            (1, HomePage),
            (2, LiveProductList),
            (3, Showcase),
            (4, ShopProductDetail),
            (5, ShopOrder),
            (6, Unknown(6)),
        ] {
            assert_eq!(WechatChannelsScene::from(n), s);
            assert_eq!(u32::from(s), n);
        }
    }

    #[test]
    fn chunking_and_validation() {
        assert!(CustomerBatchgetRequest::chunks(Vec::<String>::new(), false).is_empty());
        let reqs = CustomerBatchgetRequest::chunks((0..200).map(|i| i.to_string()), false);
        assert_eq!(reqs.len(), 2);
        assert!(reqs.iter().all(|r| r.validate().is_ok() && r.need_enter_session_context.is_none()));
        assert_eq!(reqs[1].external_userid_list[0], "100");
        assert_eq!(
            CustomerBatchgetRequest::new(Vec::<String>::new()).validate(),
            Err(CustomerBatchgetError::Empty)
        );
        assert_eq!(
            CustomerBatchgetRequest::new((0..101).map(|i| i.to_string())).validate(),
            Err(CustomerBatchgetError::TooMany { len: 101 })
        );
    }
}
