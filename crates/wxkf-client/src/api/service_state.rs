//! Session state (kf-api.md §4): `service_state/get`, `trans`, and a check before sending.

use wxkf_types::service_state::{
    ServiceState, ServiceStateGetRequest, ServiceStateGetResponse, ServiceStateTransRequest,
    ServiceStateTransResponse,
};

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
    /// `service_state/get` (§4.1): the session's state and its servicer.
    pub async fn get(&self, req: ServiceStateGetRequest) -> Result<ServiceStateGetResponse, Error> {
        self.client.execute(&req).await
    }

    /// `service_state/trans` (§4.2): move the session (to the bot, the pool, a servicer, or end it).
    /// A transfer to a servicer (state 3) without `servicer_userid` is refused before sending. Not
    /// retried on transient failures (a repeated transfer may fail with 95016 or issue a second
    /// `msg_code`).
    pub async fn trans(&self, req: ServiceStateTransRequest) -> Result<ServiceStateTransResponse, Error> {
        if req.service_state == ServiceState::Human && req.servicer_userid.as_deref().unwrap_or("").is_empty()
        {
            return Err(Error::invalid_argument(
                "service_state/trans to a servicer (3) needs servicer_userid",
            ));
        }
        self.client.execute(&req).await
    }

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
