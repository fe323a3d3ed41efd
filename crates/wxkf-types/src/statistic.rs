//! Statistics: daily figures per corp account and per servicer (kf-api.md §9).
//!
//! Both endpoints take a closed interval of days `[start_time, end_time]` (unix times, floored to
//! 00:00 of their day), at most 31 days, within the last 180 days; a day is available the next day
//! after 06:00. Counts may arrive as numbers or numeric strings; rates are `None` when WeCom could
//! not compute them.
//!
//! ```
//! use wxkf_types::statistic::GetCorpStatisticResponse;
//!
//! let resp: GetCorpStatisticResponse = serde_json::from_str(
//!     r#"{"statistic_list":[{"stat_time":1645545600,"statistic":{"session_cnt":"2","ai_transfer_rate":1}},
//!                           {"stat_time":1645632000}]}"#,
//! ).unwrap();
//! let day = resp.statistic_list[0].statistic.as_ref().unwrap();
//! assert_eq!(day.session_cnt, 2);
//! assert_eq!(day.ai_transfer_rate, Some(1.0));
//! assert_eq!(day.ai_knowledge_hit_rate, None);
//! assert!(resp.statistic_list[1].statistic.is_none());
//! ```

use serde::{Deserialize, Serialize};

/// Seconds in a day: both statistics endpoints work in whole days.
pub const SECONDS_PER_DAY: u64 = 86_400;

/// Longest span of one statistics query, in days (kf-api.md §9.1).
pub const MAX_SPAN_DAYS: u64 = 31;

/// Rates: read from a number or a numeric string (absent, `null` or `""` is `None`); written as an
/// integer when whole (WeCom's examples write `1` and `0`), else as a float.
mod rate {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match *v {
            Some(v) if v.is_finite() && v.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&v) => {
                // Whole and within f64's exact integer range, so the cast is exact.
                s.serialize_u64(v as u64)
            }
            Some(v) => s.serialize_f64(v),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        crate::serde_util::opt_f64_lenient::deserialize(d)
    }
}

/// Body of `POST /cgi-bin/kf/get_corp_statistic` (kf-api.md §9.1): daily figures of one account.
#[doc(alias = "/cgi-bin/kf/get_corp_statistic")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetCorpStatisticRequest {
    /// The account.
    pub open_kfid: String,
    /// First day (unix time of its 00:00).
    pub start_time: u64,
    /// Last day, inclusive (unix time of its 00:00).
    pub end_time: u64,
}

impl GetCorpStatisticRequest {
    /// Figures of `open_kfid` for the days `start_time..=end_time`.
    pub fn new(open_kfid: impl Into<String>, start_time: u64, end_time: u64) -> Self {
        GetCorpStatisticRequest { open_kfid: open_kfid.into(), start_time, end_time }
    }
}

/// Response of `get_corp_statistic` (kf-api.md §9.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetCorpStatisticResponse {
    /// One entry per day.
    #[serde(default)]
    pub statistic_list: Vec<CorpStatisticDay>,
}

/// One day of `get_corp_statistic` (kf-api.md §9.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CorpStatisticDay {
    /// The day (unix time of its 00:00).
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub stat_time: u64,
    /// The figures; `None` when the day has no data or is not computed yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<CorpStatistic>,
}

/// Daily figures of one account (kf-api.md §9.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CorpStatistic {
    /// Sessions in which the customer wrote and which were assigned to a servicer or the bot
    /// (transfers do not count as new sessions).
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub session_cnt: u64,
    /// Distinct customers who wrote.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub customer_cnt: u64,
    /// Customer messages.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub customer_msg_cnt: u64,
    /// Customers who added a member or joined a group through 升级服务.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub upgrade_service_customer_cnt: u64,
    /// Sessions assigned to the bot (API sending or smart reply).
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub ai_session_reply_cnt: u64,
    /// Share (0..=1) of bot sessions transferred to humans; `None` when not computable.
    #[serde(default, with = "rate", skip_serializing_if = "Option::is_none")]
    pub ai_transfer_rate: Option<f64>,
    /// Share (0..=1) of customer messages to the bot that hit the knowledge base; `None` when not
    /// computable (needs native smart reply, which API management disables).
    #[serde(default, with = "rate", skip_serializing_if = "Option::is_none")]
    pub ai_knowledge_hit_rate: Option<f64>,
    /// Customers set to "refuse messages" by servicers.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub msg_rejected_customer_cnt: u64,
}

/// Body of `POST /cgi-bin/kf/get_servicer_statistic` (kf-api.md §9.2): daily figures of one
/// servicer, or of the account's servicers together when `servicer_userid` is absent.
#[doc(alias = "/cgi-bin/kf/get_servicer_statistic")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetServicerStatisticRequest {
    /// The account.
    pub open_kfid: String,
    /// The servicer (third-party apps: `open_userid`); `None` for account-level totals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servicer_userid: Option<String>,
    /// First day (unix time of its 00:00).
    pub start_time: u64,
    /// Last day, inclusive (unix time of its 00:00).
    pub end_time: u64,
}

impl GetServicerStatisticRequest {
    /// Account-level servicer figures of `open_kfid` for `start_time..=end_time`.
    pub fn new(open_kfid: impl Into<String>, start_time: u64, end_time: u64) -> Self {
        GetServicerStatisticRequest {
            open_kfid: open_kfid.into(),
            servicer_userid: None,
            start_time,
            end_time,
        }
    }

    /// Narrow to one servicer; an empty string keeps the account-level totals.
    pub fn with_servicer_userid(mut self, servicer_userid: impl Into<String>) -> Self {
        self.servicer_userid = Some(servicer_userid.into()).filter(|s: &String| !s.is_empty());
        self
    }
}

/// Response of `get_servicer_statistic` (kf-api.md §9.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GetServicerStatisticResponse {
    /// One entry per day.
    #[serde(default)]
    pub statistic_list: Vec<ServicerStatisticDay>,
}

/// One day of `get_servicer_statistic` (kf-api.md §9.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServicerStatisticDay {
    /// The day (unix time of its 00:00).
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub stat_time: u64,
    /// The figures; `None` when the day has no data or is not computed yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<ServicerStatistic>,
}

/// Daily figures of a servicer (or of all servicers of an account) (kf-api.md §9.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServicerStatistic {
    /// Sessions handed to humans.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub session_cnt: u64,
    /// Customers who wrote and reached a human.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub customer_cnt: u64,
    /// Customer messages.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub customer_msg_cnt: u64,
    /// Share (0..=1) of sessions the servicer answered; `None` when not computable.
    #[serde(default, with = "rate", skip_serializing_if = "Option::is_none")]
    pub reply_rate: Option<f64>,
    /// Mean time to first reply, in seconds; `None` when not computable. (The official name; one
    /// SDK's `first_reply_avg_sec` is a misspelling.)
    #[serde(default, with = "rate", skip_serializing_if = "Option::is_none")]
    pub first_reply_average_sec: Option<f64>,
    /// Satisfaction surveys sent; 0 when the API manages sessions. The spelling
    /// `satisfaction_investgate_cnt` is WeCom's own.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub satisfaction_investgate_cnt: u64,
    /// Share (0..=1) of surveys answered; `None` when not computable.
    #[serde(default, with = "rate", skip_serializing_if = "Option::is_none")]
    pub satisfaction_participation_rate: Option<f64>,
    /// Share (0..=1) of "satisfied" answers; `None` when not computable.
    #[serde(default, with = "rate", skip_serializing_if = "Option::is_none")]
    pub satisfied_rate: Option<f64>,
    /// Share (0..=1) of "average" answers; `None` when not computable.
    #[serde(default, with = "rate", skip_serializing_if = "Option::is_none")]
    pub middling_rate: Option<f64>,
    /// Share (0..=1) of "dissatisfied" answers; `None` when not computable.
    #[serde(default, with = "rate", skip_serializing_if = "Option::is_none")]
    pub dissatisfied_rate: Option<f64>,
    /// Customers who added a member or joined a group through 升级服务.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub upgrade_service_customer_cnt: u64,
    /// Member-card invitations sent through 升级服务.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub upgrade_service_member_invite_cnt: u64,
    /// Customers who added the recommended member.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub upgrade_service_member_customer_cnt: u64,
    /// Group invitations sent through 升级服务.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub upgrade_service_groupchat_invite_cnt: u64,
    /// Customers who joined the recommended group.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub upgrade_service_groupchat_customer_cnt: u64,
    /// Customers refused by servicers.
    #[serde(default, with = "crate::serde_util::u64_lenient")]
    pub msg_rejected_customer_cnt: u64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rates_keep_their_form() {
        let s: CorpStatistic =
            serde_json::from_str(r#"{"ai_transfer_rate":"0.25","ai_knowledge_hit_rate":null}"#).unwrap();
        assert_eq!(s.ai_transfer_rate, Some(0.25));
        assert_eq!(s.ai_knowledge_hit_rate, None);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["ai_transfer_rate"], serde_json::json!(0.25));
        assert!(v.get("ai_knowledge_hit_rate").is_none());
        let whole: CorpStatistic = serde_json::from_str(r#"{"ai_transfer_rate":1.0}"#).unwrap();
        assert!(serde_json::to_string(&whole).unwrap().contains(r#""ai_transfer_rate":1,"#));
    }
}
