//! Session state (kf-api.md §4): `service_state/get`, `trans`, and a check before sending.

use wxkf_types::service_state::{ServiceState, ServiceStateGetRequest, ServiceStateTransRequest};

use crate::error::Error;

super::area!(
    /// The session-state area (kf-api.md §4).
    ///
    /// ```no_run
    /// # async fn demo(client: wxkf_client::Client) -> Result<(), wxkf_client::Error> {
    /// use wxkf_client::types::service_state::{ServiceStateGetRequest, ServiceStateTransRequest};
    /// let state = client.service_state().get(ServiceStateGetRequest::new("wkACCOUNT", "wmCUSTOMER")).await?;
    /// if !state.service_state.can_send_msg() {
    ///     client.service_state().trans(ServiceStateTransRequest::to_pool("wkACCOUNT", "wmCUSTOMER")).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ServiceStateApi,
    service_state
);

impl ServiceStateApi<'_> {
    /// Checks that `send_msg` may send to this session now (state new or bot, §4.0) and returns the
    /// state; otherwise fails with [`Error::SessionNotSendable`], which says what to do, instead of the
    /// 95018 WeCom would answer.
    pub async fn ensure_sendable(
        &self,
        open_kfid: &str,
        external_userid: &str,
    ) -> Result<ServiceState, Error> {
        let state = self.get(ServiceStateGetRequest::new(open_kfid, external_userid)).await?;
        if state.service_state.can_send_msg() {
            Ok(state.service_state)
        } else {
            Err(Error::SessionNotSendable {
                state: state.service_state,
                servicer_userid: state.servicer_userid,
            })
        }
    }
}

impl super::Check for ServiceStateTransRequest {
    fn check(&self) -> Result<(), Error> {
        if self.service_state == ServiceState::Human
            && self.servicer_userid.as_deref().unwrap_or("").is_empty()
        {
            return Err(Error::invalid_argument(
                "service_state/trans to a servicer (3) needs servicer_userid",
            ));
        }
        Ok(())
    }
}
