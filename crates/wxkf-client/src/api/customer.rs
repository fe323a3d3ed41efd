//! `/cgi-bin/kf/customer/*`: customer info (`batchget`, kf-api.md §7) and the upgrade service
//! (`get_upgrade_service_config`, `upgrade_service`, `cancel_upgrade_service`, kf-api.md §6).

use wxkf_types::customer::{CustomerBatchgetRequest, CustomerBatchgetResponse};

use crate::error::Error;

super::area!(
    /// The customer area: `/cgi-bin/kf/customer/*` (kf-api.md §6, §7).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// use wxkf_client::types::customer::CustomerBatchgetRequest;
    /// let found = client.customer().batchget(CustomerBatchgetRequest::new(["wmCUSTOMER"])).await?;
    /// for customer in &found.customer_list {
    ///     println!("{} {}", customer.external_userid, customer.nickname);
    /// }
    /// let config = client.customer().get_upgrade_service_config().await?;
    /// println!("{:?}", config.member_range);
    /// # Ok(()) }
    /// ```
    CustomerApi,
    customer
);

impl CustomerApi<'_> {
    /// Any number of customers: split into calls of 100, answers merged in order.
    pub async fn batchget_all(
        &self,
        external_userids: impl IntoIterator<Item = impl Into<String>>,
        need_enter_session_context: bool,
    ) -> Result<CustomerBatchgetResponse, Error> {
        let mut all = CustomerBatchgetResponse::default();
        for req in CustomerBatchgetRequest::chunks(external_userids, need_enter_session_context) {
            let part = self.batchget(req).await?;
            all.customer_list.extend(part.customer_list);
            all.invalid_external_userid.extend(part.invalid_external_userid);
        }
        Ok(all)
    }
}

impl super::Check for CustomerBatchgetRequest {
    fn check(&self) -> Result<(), Error> {
        self.validate().map_err(|e| Error::invalid_argument(e.to_string()))
    }
}
