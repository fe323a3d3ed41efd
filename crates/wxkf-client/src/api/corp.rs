//! Corp qualification (kf-api.md §8).

use wxkf_types::corp::{GetCorpQualificationRequest, GetCorpQualificationResponse};

use crate::error::Error;

super::area!(
    /// The corp area (kf-api.md §8).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// let q = client.corp().get_corp_qualification().await?;
    /// println!("Channels bound: {}", q.wechat_channels_binding);
    /// # Ok(()) }
    /// ```
    CorpApi,
    corp
);

impl CorpApi<'_> {
    /// `get_corp_qualification` (§8): whether the corp has bound a WeChat Channels account.
    pub async fn get_corp_qualification(&self) -> Result<GetCorpQualificationResponse, Error> {
        self.client.execute(&GetCorpQualificationRequest::new()).await
    }
}
