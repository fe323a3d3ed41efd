//! Customers (kf-api.md §7): `customer/batchget`.

use wxkf_types::customer::{CustomerBatchGetRequest, CustomerBatchGetResponse};

use crate::error::Error;

super::area!(
    /// The customer area (kf-api.md §7).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// use wxkf_client::types::customer::CustomerBatchGetRequest;
    /// let found = client.customer().batchget(CustomerBatchGetRequest::new(["wmCUSTOMER"])).await?;
    /// for customer in &found.customer_list {
    ///     println!("{} {}", customer.external_userid, customer.nickname);
    /// }
    /// # Ok(()) }
    /// ```
    CustomerApi,
    customer
);

impl CustomerApi<'_> {
    /// `customer/batchget` (§7): 1 to 100 customers per call (more are refused before sending;
    /// see [`batchget_all`](Self::batchget_all)). Unknown ids come back in
    /// `invalid_external_userid`, not as an error.
    pub async fn batchget(&self, req: CustomerBatchGetRequest) -> Result<CustomerBatchGetResponse, Error> {
        req.validate().map_err(|e| Error::invalid_argument(e.to_string()))?;
        self.client.execute(&req).await
    }

    /// Any number of customers: split into calls of 100, answers merged in order.
    pub async fn batchget_all(
        &self,
        external_userids: impl IntoIterator<Item = impl Into<String>>,
        need_enter_session_context: bool,
    ) -> Result<CustomerBatchGetResponse, Error> {
        let mut all = CustomerBatchGetResponse::default();
        for req in CustomerBatchGetRequest::chunks(external_userids, need_enter_session_context) {
            let part = self.batchget(req).await?;
            all.customer_list.extend(part.customer_list);
            all.invalid_external_userid.extend(part.invalid_external_userid);
        }
        Ok(all)
    }
}
