//! Servicers (kf-api.md §3): `servicer/add`, `del`, `list`.

use wxkf_types::servicer::{ServicerAddRequest, ServicerDelRequest};

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

impl super::Check for ServicerAddRequest {
    fn check(&self) -> Result<(), Error> {
        self.validate().map_err(|e| Error::invalid_argument(e.to_string()))
    }
}

impl super::Check for ServicerDelRequest {
    fn check(&self) -> Result<(), Error> {
        self.validate().map_err(|e| Error::invalid_argument(e.to_string()))
    }
}
