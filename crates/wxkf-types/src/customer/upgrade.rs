//! Upgrade service (升级服务, `/cgi-bin/kf/customer/*upgrade_service*`): recommend a dedicated member or a customer group to a customer
//! (kf-api.md §6).
//!
//! ```
//! use wxkf_types::customer::CustomerUpgradeServiceRequest;
//!
//! let req = CustomerUpgradeServiceRequest::member("wkAAA", "wmBBB", "zhangsan").with_wording("Ask Zhang");
//! assert_eq!(
//!     serde_json::to_string(&req).unwrap(),
//!     r#"{"open_kfid":"wkAAA","external_userid":"wmBBB","type":1,"member":{"userid":"zhangsan","wording":"Ask Zhang"}}"#
//! );
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Query of `GET /cgi-bin/kf/customer/get_upgrade_service_config` (kf-api.md §6.1): no parameters.
#[doc(alias = "/cgi-bin/kf/customer/get_upgrade_service_config")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerGetUpgradeServiceConfigRequest {}

impl CustomerGetUpgradeServiceConfigRequest {
    /// The (parameterless) request.
    pub fn new() -> Self {
        CustomerGetUpgradeServiceConfigRequest {}
    }
}

/// Response of `get_upgrade_service_config` (kf-api.md §6.1): who may be recommended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerGetUpgradeServiceConfigResponse {
    /// Members configured for 专员服务.
    #[serde(default)]
    pub member_range: UpgradeMemberRange,
    /// Customer groups configured for 客户群服务.
    #[serde(default)]
    pub groupchat_range: UpgradeGroupChatRange,
}

/// `member_range` of `get_upgrade_service_config` (kf-api.md §6.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpgradeMemberRange {
    /// Member userids.
    #[serde(default)]
    pub userid_list: Vec<String>,
    /// Department ids. DISAGREEMENT: the official field table calls it `department_list`, its
    /// example and other sources `department_id_list`; both are read, the latter is written.
    #[serde(default, alias = "department_list")]
    pub department_id_list: Vec<u32>,
}

/// `groupchat_range` of `get_upgrade_service_config` (kf-api.md §6.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpgradeGroupChatRange {
    /// Customer group chat ids.
    #[serde(default)]
    pub chat_id_list: Vec<String>,
}

/// Body of `POST /cgi-bin/kf/customer/upgrade_service` (kf-api.md §6.2): recommend a member
/// (`type` 1) or a customer group (`type` 2). The member or group must be configured under 升级服务
/// (else 95021).
///
/// On the wire `type` and the matching object (`member` or `groupchat`) come from [`target`](Self::target).
#[doc(alias = "/cgi-bin/kf/customer/upgrade_service")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawCustomerUpgradeServiceRequest", into = "RawCustomerUpgradeServiceRequest")]
#[non_exhaustive]
pub struct CustomerUpgradeServiceRequest {
    /// The account.
    pub open_kfid: String,
    /// The customer.
    pub external_userid: String,
    /// Whom to recommend.
    pub target: UpgradeTarget,
}

/// What `upgrade_service` recommends (kf-api.md §6.2 `type` with `member` / `groupchat`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpgradeTarget {
    /// `type` 1: a dedicated member (专员).
    Member(UpgradeMember),
    /// `type` 2: a customer group.
    GroupChat(UpgradeGroupChat),
}

impl UpgradeTarget {
    /// The wire value of `type`: 1 for a member, 2 for a group.
    pub fn type_code(&self) -> u32 {
        match self {
            UpgradeTarget::Member(_) => 1,
            UpgradeTarget::GroupChat(_) => 2,
        }
    }
}

/// `member` of `upgrade_service` (kf-api.md §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpgradeMember {
    /// The member's userid.
    pub userid: String,
    /// Recommendation text shown to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wording: Option<String>,
}

/// `groupchat` of `upgrade_service` (kf-api.md §6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpgradeGroupChat {
    /// The customer group's chat id.
    pub chat_id: String,
    /// Recommendation text shown to the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wording: Option<String>,
}

impl CustomerUpgradeServiceRequest {
    /// Recommend the member `userid` (`type` 1).
    pub fn member(
        open_kfid: impl Into<String>,
        external_userid: impl Into<String>,
        userid: impl Into<String>,
    ) -> Self {
        CustomerUpgradeServiceRequest {
            open_kfid: open_kfid.into(),
            external_userid: external_userid.into(),
            target: UpgradeTarget::Member(UpgradeMember { userid: userid.into(), wording: None }),
        }
    }

    /// Recommend the customer group `chat_id` (`type` 2).
    pub fn groupchat(
        open_kfid: impl Into<String>,
        external_userid: impl Into<String>,
        chat_id: impl Into<String>,
    ) -> Self {
        CustomerUpgradeServiceRequest {
            open_kfid: open_kfid.into(),
            external_userid: external_userid.into(),
            target: UpgradeTarget::GroupChat(UpgradeGroupChat { chat_id: chat_id.into(), wording: None }),
        }
    }

    /// Set the recommendation text; an empty string means none.
    pub fn with_wording(mut self, wording: impl Into<String>) -> Self {
        let wording = Some(wording.into()).filter(|w: &String| !w.is_empty());
        match &mut self.target {
            UpgradeTarget::Member(m) => m.wording = wording,
            UpgradeTarget::GroupChat(g) => g.wording = wording,
        }
        self
    }
}

#[derive(Serialize, Deserialize)]
struct RawCustomerUpgradeServiceRequest {
    open_kfid: String,
    external_userid: String,
    #[serde(rename = "type")]
    kind: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    member: Option<UpgradeMember>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    groupchat: Option<UpgradeGroupChat>,
}

/// An `upgrade_service` body whose `type` and object do not match.
#[derive(Debug)]
struct UpgradeTypeMismatch(u32);

impl fmt::Display for UpgradeTypeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("upgrade_service type 1 needs a `member` object"),
            2 => f.write_str("upgrade_service type 2 needs a `groupchat` object"),
            other => write!(f, "unknown upgrade_service type {other} (expected 1 or 2)"),
        }
    }
}

impl TryFrom<RawCustomerUpgradeServiceRequest> for CustomerUpgradeServiceRequest {
    type Error = UpgradeTypeMismatch;
    fn try_from(r: RawCustomerUpgradeServiceRequest) -> Result<Self, Self::Error> {
        let target = match (r.kind, r.member, r.groupchat) {
            (1, Some(m), _) => UpgradeTarget::Member(m),
            (2, _, Some(g)) => UpgradeTarget::GroupChat(g),
            (other, _, _) => return Err(UpgradeTypeMismatch(other)),
        };
        Ok(CustomerUpgradeServiceRequest {
            open_kfid: r.open_kfid,
            external_userid: r.external_userid,
            target,
        })
    }
}

impl From<CustomerUpgradeServiceRequest> for RawCustomerUpgradeServiceRequest {
    fn from(r: CustomerUpgradeServiceRequest) -> Self {
        let kind = r.target.type_code();
        let (member, groupchat) = match r.target {
            UpgradeTarget::Member(m) => (Some(m), None),
            UpgradeTarget::GroupChat(g) => (None, Some(g)),
        };
        RawCustomerUpgradeServiceRequest {
            open_kfid: r.open_kfid,
            external_userid: r.external_userid,
            kind,
            member,
            groupchat,
        }
    }
}

/// Body of `POST /cgi-bin/kf/customer/cancel_upgrade_service` (kf-api.md §6.3): withdraw the
/// recommendation (and the servicer-side marker).
#[doc(alias = "/cgi-bin/kf/customer/cancel_upgrade_service")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerCancelUpgradeServiceRequest {
    /// The account.
    pub open_kfid: String,
    /// The customer.
    pub external_userid: String,
}

impl CustomerCancelUpgradeServiceRequest {
    /// Cancel the recommendation made to `external_userid` on `open_kfid`.
    pub fn new(open_kfid: impl Into<String>, external_userid: impl Into<String>) -> Self {
        CustomerCancelUpgradeServiceRequest {
            open_kfid: open_kfid.into(),
            external_userid: external_userid.into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn type_and_object_must_match() {
        let bad = r#"{"open_kfid":"wk","external_userid":"wm","type":1,"groupchat":{"chat_id":"wr"}}"#;
        let err = serde_json::from_str::<CustomerUpgradeServiceRequest>(bad).unwrap_err().to_string();
        assert!(err.contains("needs a `member`"), "{err}");
        let req = CustomerUpgradeServiceRequest::groupchat("wk", "wm", "wr").with_wording("");
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"open_kfid":"wk","external_userid":"wm","type":2,"groupchat":{"chat_id":"wr"}}"#
        );
    }
}
