//! Upgrade service (kf-api.md §6): recommend a dedicated member or a customer group.

use wxkf_types::upgrade::{
    CancelUpgradeServiceRequest, GetUpgradeServiceConfigRequest, GetUpgradeServiceConfigResponse,
    UpgradeServiceRequest,
};

use crate::error::Error;

super::area!(
    /// The upgrade-service (升级服务) area (kf-api.md §6).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// let config = client.upgrade().get_upgrade_service_config().await?;
    /// println!("{:?}", config.member_range);
    /// # Ok(()) }
    /// ```
    UpgradeApi,
    upgrade
);

impl UpgradeApi<'_> {
    /// `customer/get_upgrade_service_config` (§6.1): the members and groups configured for it.
    pub async fn get_upgrade_service_config(&self) -> Result<GetUpgradeServiceConfigResponse, Error> {
        self.client.execute(&GetUpgradeServiceConfigRequest::new()).await
    }

    /// `customer/upgrade_service` (§6.2): recommend a member or a group to the customer.
    pub async fn upgrade_service(&self, req: UpgradeServiceRequest) -> Result<(), Error> {
        self.client.execute(&req).await.map(drop)
    }

    /// `customer/cancel_upgrade_service` (§6.3): withdraw the recommendation.
    pub async fn cancel_upgrade_service(&self, req: CancelUpgradeServiceRequest) -> Result<(), Error> {
        self.client.execute(&req).await.map(drop)
    }
}
