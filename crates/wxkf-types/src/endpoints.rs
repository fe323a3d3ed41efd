//! The table of every endpoint: one row per endpoint of the Kf API reference, derived from the
//! request types themselves so the table cannot drift from the code.

use crate::endpoint::{Endpoint, EndpointMeta};

macro_rules! endpoints {
    ($( $req:ty => $resp:ty, $fixture:literal; )*) => {
        /// Every Kf endpoint this crate models, in reference order.
        ///
        /// ```
        /// let send = wxkf_types::ENDPOINTS.iter().find(|e| e.path == "/cgi-bin/kf/send_msg").unwrap();
        /// assert_eq!(send.method, wxkf_types::Method::Post);
        /// assert_eq!(send.fixture, "message/send_msg");
        /// ```
        pub const ENDPOINTS: &[EndpointMeta] = &[
            $(EndpointMeta {
                method: <$req as Endpoint>::METHOD,
                path: <$req as Endpoint>::PATH,
                request: stringify!($req),
                response: stringify!($resp),
                fixture: $fixture,
                request_body: <$req as Endpoint>::REQUEST_BODY,
                response_body: <$req as Endpoint>::RESPONSE_BODY,
                idempotent: <$req as Endpoint>::IDEMPOTENT,
            },)*
        ];

        // The named response type must be the endpoint's response type.
        #[allow(dead_code)]
        fn response_types_match() {
            $( let _: fn(<$req as Endpoint>::Response) -> $resp = |r| r; )*
        }
    };
}

endpoints! {
    crate::token::GetTokenRequest => crate::token::GetTokenResponse, "token/gettoken";
    crate::account::AccountAddRequest => crate::account::AccountAddResponse, "account/add";
    crate::account::AccountDelRequest => crate::EmptyResponse, "account/del";
    crate::account::AccountUpdateRequest => crate::EmptyResponse, "account/update";
    crate::account::AccountListRequest => crate::account::AccountListResponse, "account/list";
    crate::account::AddContactWayRequest => crate::account::AddContactWayResponse, "account/add_contact_way";
    crate::servicer::ServicerAddRequest => crate::servicer::ServicerAddResponse, "servicer/add";
    crate::servicer::ServicerDelRequest => crate::servicer::ServicerDelResponse, "servicer/del";
    crate::servicer::ServicerListRequest => crate::servicer::ServicerListResponse, "servicer/list";
    crate::service_state::ServiceStateGetRequest => crate::service_state::ServiceStateGetResponse, "service_state/get";
    crate::service_state::ServiceStateTransRequest => crate::service_state::ServiceStateTransResponse, "service_state/trans";
    crate::message::SyncMsgRequest => crate::message::SyncMsgResponse, "message/sync_msg";
    crate::message::SendMsgRequest => crate::message::SendMsgResponse, "message/send_msg";
    crate::message::SendMsgOnEventRequest => crate::message::SendMsgOnEventResponse, "message/send_msg_on_event";
    crate::message::RecallMsgRequest => crate::EmptyResponse, "message/recall_msg";
    crate::upgrade::GetUpgradeServiceConfigRequest => crate::upgrade::GetUpgradeServiceConfigResponse, "upgrade/get_upgrade_service_config";
    crate::upgrade::UpgradeServiceRequest => crate::EmptyResponse, "upgrade/upgrade_service";
    crate::upgrade::CancelUpgradeServiceRequest => crate::EmptyResponse, "upgrade/cancel_upgrade_service";
    crate::customer::CustomerBatchGetRequest => crate::customer::CustomerBatchGetResponse, "customer/batchget";
    crate::corp::GetCorpQualificationRequest => crate::corp::GetCorpQualificationResponse, "corp/get_corp_qualification";
    crate::statistic::GetCorpStatisticRequest => crate::statistic::GetCorpStatisticResponse, "statistic/get_corp_statistic";
    crate::statistic::GetServicerStatisticRequest => crate::statistic::GetServicerStatisticResponse, "statistic/get_servicer_statistic";
    crate::knowledge::KnowledgeAddGroupRequest => crate::knowledge::KnowledgeAddGroupResponse, "knowledge/add_group";
    crate::knowledge::KnowledgeDelGroupRequest => crate::EmptyResponse, "knowledge/del_group";
    crate::knowledge::KnowledgeModGroupRequest => crate::EmptyResponse, "knowledge/mod_group";
    crate::knowledge::KnowledgeListGroupRequest => crate::knowledge::KnowledgeListGroupResponse, "knowledge/list_group";
    crate::knowledge::KnowledgeAddIntentRequest => crate::knowledge::KnowledgeAddIntentResponse, "knowledge/add_intent";
    crate::knowledge::KnowledgeDelIntentRequest => crate::EmptyResponse, "knowledge/del_intent";
    crate::knowledge::KnowledgeModIntentRequest => crate::EmptyResponse, "knowledge/mod_intent";
    crate::knowledge::KnowledgeListIntentRequest => crate::knowledge::KnowledgeListIntentResponse, "knowledge/list_intent";
    crate::media::MediaUploadRequest => crate::media::MediaUploadResponse, "media/upload";
    crate::media::MediaGetRequest => crate::media::MediaGetResponse, "media/get";
}
