//! Statistics (kf-api.md §9).

use wxkf_types::statistic::{GetCorpStatisticRequest, GetServicerStatisticRequest};

use crate::error::Error;

super::area!(
    /// The statistics area (kf-api.md §9).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// use wxkf_client::types::statistic::GetCorpStatisticRequest;
    /// let stats = client.statistic().get_corp_statistic(GetCorpStatisticRequest::new("wkACCOUNT", 1_700_000_000, 1_700_086_400)).await?;
    /// println!("{} days", stats.statistic_list.len());
    /// # Ok(()) }
    /// ```
    StatisticApi,
    statistic
);

/// §9: `start_time ≤ end_time`, at most 31 days apart.
fn check_span(start: u64, end: u64) -> Result<(), Error> {
    const MAX_SPAN: u64 = 31 * 24 * 3600;
    if start > end {
        return Err(Error::invalid_argument(format!("start_time {start} is after end_time {end}")));
    }
    // Both are floored to 00:00 by WeCom: a span of 31 whole days ends on day 31's midnight.
    if end - start > MAX_SPAN {
        return Err(Error::invalid_argument("statistics cover at most 31 days per call"));
    }
    Ok(())
}

impl super::Check for GetCorpStatisticRequest {
    fn check(&self) -> Result<(), Error> {
        check_span(self.start_time, self.end_time)
    }
}

impl super::Check for GetServicerStatisticRequest {
    fn check(&self) -> Result<(), Error> {
        check_span(self.start_time, self.end_time)
    }
}
