//! Servicers (接待人员): add and remove the members and departments who serve an account, and list
//! them with their receiving status (kf-api.md §3).
//!
//! ```
//! use wxkf_types::servicer::{ServicerAddRequest, ServicerAddResponse, ServicerTarget};
//!
//! let req = ServicerAddRequest::for_users("wkAAA", ["zhangsan", "lisi"]);
//! assert!(req.validate().is_ok());
//! assert!(ServicerAddRequest::for_users("wkAAA", Vec::<String>::new()).validate().is_err());
//!
//! let resp: ServicerAddResponse = serde_json::from_str(
//!     r#"{"result_list":[{"userid":"zhangsan","errcode":0,"errmsg":"success"},
//!                        {"department_id":2,"errcode":60111,"errmsg":"bad"}]}"#,
//! ).unwrap();
//! assert_eq!(resp.result_list[0].target, ServicerTarget::User("zhangsan".into()));
//! assert!(!resp.result_list[1].is_ok());
//! assert_eq!(resp.failures().count(), 1);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Most ids of each kind per `servicer/add` or `servicer/del` call (kf-api.md §3.1).
pub const MAX_IDS_PER_CALL: usize = 100;

/// Why a servicer add/del request would be refused by WeCom before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServicerRequestError {
    /// Both `userid_list` and `department_id_list` are empty; at least one must name someone.
    Empty,
    /// More than [`MAX_IDS_PER_CALL`] user ids.
    TooManyUsers {
        /// Number of user ids given.
        len: usize,
    },
    /// More than [`MAX_IDS_PER_CALL`] department ids.
    TooManyDepartments {
        /// Number of department ids given.
        len: usize,
    },
}

impl fmt::Display for ServicerRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServicerRequestError::Empty => {
                f.write_str("give at least one userid or department id (both lists are empty)")
            }
            ServicerRequestError::TooManyUsers { len } => {
                write!(f, "{len} userids in one call; WeCom accepts at most {MAX_IDS_PER_CALL}")
            }
            ServicerRequestError::TooManyDepartments { len } => {
                write!(f, "{len} department ids in one call; WeCom accepts at most {MAX_IDS_PER_CALL}")
            }
        }
    }
}

impl std::error::Error for ServicerRequestError {}

fn validate_lists(users: &[String], departments: &[u32]) -> Result<(), ServicerRequestError> {
    if users.is_empty() && departments.is_empty() {
        Err(ServicerRequestError::Empty)
    } else if users.len() > MAX_IDS_PER_CALL {
        Err(ServicerRequestError::TooManyUsers { len: users.len() })
    } else if departments.len() > MAX_IDS_PER_CALL {
        Err(ServicerRequestError::TooManyDepartments { len: departments.len() })
    } else {
        Ok(())
    }
}

/// Defines the add and del requests, which share their body (kf-api.md §3.1, §3.2).
macro_rules! servicer_change_request {
    ($(#[$doc:meta])* $name:ident, $verb:literal) => {
        $(#[$doc])*
        ///
        /// At least one of the two lists must be non-empty, each at most 100 ids; check with
        /// `validate()`. (Older docs required `userid_list` — DISAGREEMENT; the current page wins.)
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[non_exhaustive]
        pub struct $name {
            /// The account.
            pub open_kfid: String,
            /// Member userids (third-party apps: `open_userid`), 0..=100.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub userid_list: Vec<String>,
            /// Department ids whose members serve, 0..=100.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub department_id_list: Vec<u32>,
        }

        impl $name {
            #[doc = concat!("A request that ", $verb, " the given members and departments.")]
            pub fn new(
                open_kfid: impl Into<String>,
                userid_list: impl IntoIterator<Item = impl Into<String>>,
                department_id_list: impl IntoIterator<Item = u32>,
            ) -> Self {
                $name {
                    open_kfid: open_kfid.into(),
                    userid_list: userid_list.into_iter().map(Into::into).collect(),
                    department_id_list: department_id_list.into_iter().collect(),
                }
            }

            #[doc = concat!("A request that ", $verb, " members only.")]
            pub fn for_users(
                open_kfid: impl Into<String>,
                userid_list: impl IntoIterator<Item = impl Into<String>>,
            ) -> Self {
                Self::new(open_kfid, userid_list, [])
            }

            #[doc = concat!("A request that ", $verb, " departments only.")]
            pub fn for_departments(
                open_kfid: impl Into<String>,
                department_id_list: impl IntoIterator<Item = u32>,
            ) -> Self {
                Self::new(open_kfid, Vec::<String>::new(), department_id_list)
            }

            /// Check the list rules WeCom enforces: not both empty, at most 100 of each.
            pub fn validate(&self) -> Result<(), ServicerRequestError> {
                validate_lists(&self.userid_list, &self.department_id_list)
            }
        }

    };
}

servicer_change_request!(
    /// Body of `POST /cgi-bin/kf/servicer/add` (kf-api.md §3.1): add servicers to an account (at
    /// most 2000 members and 20 departments per account).
    #[doc(alias = "/cgi-bin/kf/servicer/add")]
    ServicerAddRequest, "adds"
);

servicer_change_request!(
    /// Body of `POST /cgi-bin/kf/servicer/del` (kf-api.md §3.2): remove servicers from an account.
    #[doc(alias = "/cgi-bin/kf/servicer/del")]
    ServicerDelRequest, "removes"
);

/// Response of `servicer/add` (kf-api.md §3.1): one result per requested id. The call's own
/// `errcode` may be 0 while entries fail — check every entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServicerAddResponse {
    /// One entry per requested userid or department id.
    #[serde(default)]
    pub result_list: Vec<ServicerResult>,
}

impl ServicerAddResponse {
    /// The entries that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ServicerResult> {
        self.result_list.iter().filter(|r| !r.is_ok())
    }
}

/// Response of `servicer/del` (kf-api.md §3.2), shaped like [`ServicerAddResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServicerDelResponse {
    /// One entry per requested userid or department id.
    #[serde(default)]
    pub result_list: Vec<ServicerResult>,
}

impl ServicerDelResponse {
    /// The entries that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ServicerResult> {
        self.result_list.iter().filter(|r| !r.is_ok())
    }
}

/// Whom a servicer entry names: a member or a department (kf-api.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServicerTarget {
    /// A member, by `userid` (third-party apps: `open_userid`).
    User(String),
    /// A department, by `department_id`.
    Department(u32),
    /// An entry naming neither (not expected; kept so one odd entry does not fail the response).
    Unknown,
}

impl ServicerTarget {
    fn from_parts(userid: Option<String>, department_id: Option<u32>) -> Self {
        match (userid, department_id) {
            (Some(u), _) => ServicerTarget::User(u),
            (None, Some(d)) => ServicerTarget::Department(d),
            (None, None) => ServicerTarget::Unknown,
        }
    }

    fn into_parts(self) -> (Option<String>, Option<u32>) {
        match self {
            ServicerTarget::User(u) => (Some(u), None),
            ServicerTarget::Department(d) => (None, Some(d)),
            ServicerTarget::Unknown => (None, None),
        }
    }

    /// The userid, for a member entry.
    pub fn userid(&self) -> Option<&str> {
        match self {
            ServicerTarget::User(u) => Some(u),
            _ => None,
        }
    }

    /// The department id, for a department entry.
    pub fn department_id(&self) -> Option<u32> {
        match self {
            ServicerTarget::Department(d) => Some(*d),
            _ => None,
        }
    }
}

/// Outcome for one id of a `servicer/add` or `servicer/del` call (kf-api.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawServicerResult", into = "RawServicerResult")]
#[non_exhaustive]
pub struct ServicerResult {
    /// The member or department this entry is about (`userid` or `department_id` on the wire).
    pub target: ServicerTarget,
    /// 0 when this id succeeded.
    pub errcode: i64,
    /// `"success"`, `"ignored"` (already present / absent) or an error text.
    pub errmsg: String,
}

impl ServicerResult {
    /// `errcode == 0` (this includes `"ignored"` entries).
    pub fn is_ok(&self) -> bool {
        self.errcode == 0
    }
}

impl Default for ServicerResult {
    fn default() -> Self {
        ServicerResult { target: ServicerTarget::Unknown, errcode: 0, errmsg: String::new() }
    }
}

#[derive(Serialize, Deserialize)]
struct RawServicerResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    userid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    department_id: Option<u32>,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

impl From<RawServicerResult> for ServicerResult {
    fn from(r: RawServicerResult) -> Self {
        ServicerResult {
            target: ServicerTarget::from_parts(r.userid, r.department_id),
            errcode: r.errcode,
            errmsg: r.errmsg,
        }
    }
}

impl From<ServicerResult> for RawServicerResult {
    fn from(r: ServicerResult) -> Self {
        let (userid, department_id) = r.target.into_parts();
        RawServicerResult { userid, department_id, errcode: r.errcode, errmsg: r.errmsg }
    }
}

/// Query of `GET /cgi-bin/kf/servicer/list` (kf-api.md §3.3): the servicers of one account.
#[doc(alias = "/cgi-bin/kf/servicer/list")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServicerListRequest {
    /// The account.
    pub open_kfid: String,
}

impl ServicerListRequest {
    /// List the servicers of `open_kfid`.
    pub fn new(open_kfid: impl Into<String>) -> Self {
        ServicerListRequest { open_kfid: open_kfid.into() }
    }
}

/// Response of `servicer/list` (kf-api.md §3.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServicerListResponse {
    /// Members and departments serving the account.
    #[serde(default)]
    pub servicer_list: Vec<ServicerEntry>,
}

/// One entry of `servicer_list` (kf-api.md §3.3): a member with their receiving status, or a
/// department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawServicerEntry", into = "RawServicerEntry")]
#[non_exhaustive]
pub struct ServicerEntry {
    /// The member (`userid`) or department (`department_id`).
    pub target: ServicerTarget,
    /// Receiving status of a member; only returned when the caller manages this account.
    pub status: Option<ServicerStatus>,
    /// Why a member stopped receiving, when `status` is [`ServicerStatus::Stopped`].
    pub stop_type: Option<ServicerStopType>,
}

#[derive(Serialize, Deserialize)]
struct RawServicerEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    userid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    department_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<ServicerStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_type: Option<ServicerStopType>,
}

impl From<RawServicerEntry> for ServicerEntry {
    fn from(r: RawServicerEntry) -> Self {
        ServicerEntry {
            target: ServicerTarget::from_parts(r.userid, r.department_id),
            status: r.status,
            stop_type: r.stop_type,
        }
    }
}

impl From<ServicerEntry> for RawServicerEntry {
    fn from(e: ServicerEntry) -> Self {
        let (userid, department_id) = e.target.into_parts();
        RawServicerEntry { userid, department_id, status: e.status, stop_type: e.stop_type }
    }
}

/// Receiving status of a member in `servicer/list` (kf-api.md §3.3).
///
/// Beware: this list numbers 0 = receiving, 1 = stopped, while the `servicer_status_change`
/// event (§5.3) numbers 1 = receiving, 2 = stopped. This type is for the list only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
#[non_exhaustive]
pub enum ServicerStatus {
    /// 0: receiving (接待中) — can be assigned sessions.
    Receiving,
    /// 1: stopped receiving (停止接待); see [`ServicerStopType`].
    Stopped,
    /// A value this crate does not know.
    Unknown(u32),
}

impl From<u32> for ServicerStatus {
    fn from(v: u32) -> Self {
        match v {
            0 => ServicerStatus::Receiving,
            1 => ServicerStatus::Stopped,
            other => ServicerStatus::Unknown(other),
        }
    }
}

impl From<ServicerStatus> for u32 {
    fn from(v: ServicerStatus) -> Self {
        match v {
            ServicerStatus::Receiving => 0,
            ServicerStatus::Stopped => 1,
            ServicerStatus::Unknown(other) => other,
        }
    }
}

/// Kind of stop of a member who is not receiving (kf-api.md §3.3 `stop_type`): the same codes as
/// the `servicer_status_change` event's, so one type serves both.
pub use crate::message::event::StopType as ServicerStopType;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_both_ways() {
        for (n, s) in
            [(0, ServicerStatus::Receiving), (1, ServicerStatus::Stopped), (7, ServicerStatus::Unknown(7))]
        {
            assert_eq!(ServicerStatus::from(n), s);
            assert_eq!(u32::from(s), n);
        }
        for (n, s) in [
            (0, ServicerStopType::Stopped),
            (1, ServicerStopType::Suspended),
            (9, ServicerStopType::Unknown(9)),
        ] {
            assert_eq!(ServicerStopType::from(n), s);
            assert_eq!(u32::from(s), n);
        }
    }

    #[test]
    fn validation_reports_each_rule() {
        let users: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
        assert_eq!(
            ServicerDelRequest::for_users("wk", users).validate(),
            Err(ServicerRequestError::TooManyUsers { len: 101 })
        );
        assert_eq!(
            ServicerAddRequest::for_departments("wk", 0..101).validate(),
            Err(ServicerRequestError::TooManyDepartments { len: 101 })
        );
        assert_eq!(
            ServicerAddRequest::for_departments("wk", []).validate(),
            Err(ServicerRequestError::Empty)
        );
        assert!(ServicerAddRequest::new("wk", ["a"], [1]).validate().is_ok());
    }
}
