//! Servicers (kf-api.md §3): `servicer/add`, `del`, `list`.

use wxkf_types::servicer::{
    ServicerAddRequest, ServicerAddResponse, ServicerDelRequest, ServicerDelResponse, ServicerListRequest,
    ServicerListResponse,
};

use crate::error::Error;

super::area!(
    /// The servicer (接待人员) area (kf-api.md §3).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// use wxkf_client::types::servicer::{ServicerAddRequest, ServicerListRequest};
    /// let added = client.servicer().add(ServicerAddRequest::for_users("wkACCOUNT", ["zhangsan"])).await?;
    /// for result in &added.result_list {
    ///     println!("{result:?}"); // each entry has its own errcode
    /// }
    /// let list = client.servicer().list(ServicerListRequest::new("wkACCOUNT")).await?;
    /// println!("{} servicers", list.servicer_list.len());
    /// # Ok(()) }
    /// ```
    ServicerApi,
    servicer
);

impl ServicerApi<'_> {
    /// `servicer/add` (§3.1). Lists that are both empty or longer than 100 are refused before
    /// sending. The top-level call can succeed while single entries fail: check each result.
    pub async fn add(&self, req: ServicerAddRequest) -> Result<ServicerAddResponse, Error> {
        req.validate().map_err(|e| Error::invalid_argument(e.to_string()))?;
        self.client.execute(&req).await
    }

    /// `servicer/del` (§3.2); same checks as [`add`](Self::add).
    pub async fn del(&self, req: ServicerDelRequest) -> Result<ServicerDelResponse, Error> {
        req.validate().map_err(|e| Error::invalid_argument(e.to_string()))?;
        self.client.execute(&req).await
    }

    /// `servicer/list` (§3.3): the servicers of an account and their receiving status.
    pub async fn list(&self, req: ServicerListRequest) -> Result<ServicerListResponse, Error> {
        self.client.execute(&req).await
    }
}
