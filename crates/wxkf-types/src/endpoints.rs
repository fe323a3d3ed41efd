//! The one definition of every endpoint: [`kf_endpoints!`](crate::kf_endpoints) is a table with one
//! row per endpoint of the Kf API reference, and everything else is expanded from it — here the
//! [`Endpoint`] impls and [`ENDPOINTS`]; in `wxkf-client` the named client methods.

use crate::endpoint::{Endpoint, EndpointMeta};

/// The table of every Kf endpoint: one row per endpoint, in reference order, written once.
///
/// Invoke it with the name of a macro of your own; that macro receives every row:
///
/// ```text
/// $(#[doc = "…"])*                       // what the client method does
/// METHOD "/cgi-bin/…" => area::AreaNameRequest: RequestBody -> AreaNameResponse: ResponseBody,
///     idempotent: bool, fixture: "area/name", client: handle.method(kind);
/// ```
///
/// * `METHOD` is `GET` or `POST`; `RequestBody` and `ResponseBody` name variants of
///   [`RequestBody`](crate::RequestBody) and [`ResponseBody`](crate::ResponseBody).
/// * `area` is the module of `wxkf_types` the types live in: the path's area
///   (`/cgi-bin/kf/customer/get_upgrade_service_config` → `customer`), or `kf` for paths without
///   one (`/cgi-bin/kf/add_contact_way`), `token` for `/cgi-bin/gettoken`, `media` for
///   `/cgi-bin/media/…`. Types are named after the path's words in the path's order
///   (`account/add` → `AccountAddRequest`, `add_contact_way` → `AddContactWayRequest`).
///   The response is the same module's type, or `EmptyResponse` for endpoints that return only
///   `errcode`/`errmsg`.
/// * `idempotent`: whether repeating the call after a lost answer is harmless (the client retries
///   only these; see [`Endpoint::IDEMPOTENT`]).
/// * `fixture`: the stem of the request/response fixtures below `tests/fixtures/`.
/// * `client: handle.method(kind)`: the `wxkf-client` method, `client.handle().method(…)`, where
///   `kind` says how that crate writes it: `plain` (sends the request as is), `checked` (runs the
///   area's checks first), `no_args` (a parameterless GET), `custom` (written by hand: token
///   cache, `msgid` handling, multipart and raw downloads).
///
/// wxkf-types expands it into the [`Endpoint`] impls and [`ENDPOINTS`](crate::ENDPOINTS):
///
/// ```
/// macro_rules! paths {
///     ($(
///         $(#[$doc:meta])*
///         $method:ident $path:literal => $area:ident :: $req:ident : $body:ident -> $resp:ident : $rbody:ident,
///             idempotent: $idempotent:literal, fixture: $fixture:literal,
///             client: $handle:ident . $client_fn:ident ($kind:ident);
///     )*) => {
///         [$($path),*]
///     };
/// }
/// let paths: &[&str] = &wxkf_types::kf_endpoints!(paths);
/// assert_eq!(paths.len(), wxkf_types::ENDPOINTS.len());
/// assert!(paths.contains(&"/cgi-bin/kf/customer/get_upgrade_service_config"));
/// ```
#[macro_export]
macro_rules! kf_endpoints {
    ($callback:ident) => {
        $callback! {
            /// The cached access token (see `Client::access_token`).
            GET "/cgi-bin/gettoken" => token::GettokenRequest: Query -> GettokenResponse: Json,
                idempotent: true, fixture: "token/gettoken", client: token.get(custom);

            /// `account/add` (kf-api.md §2.1): create an account; the avatar is an uploaded image's
            /// `media_id`. Not retried on transient failures (a retry could create two accounts).
            POST "/cgi-bin/kf/account/add" => account::AccountAddRequest: Json -> AccountAddResponse: Json,
                idempotent: false, fixture: "account/add", client: account.add(plain);
            /// `account/del` (kf-api.md §2.2): delete an account.
            POST "/cgi-bin/kf/account/del" => account::AccountDelRequest: Json -> EmptyResponse: Json,
                idempotent: true, fixture: "account/del", client: account.del(plain);
            /// `account/update` (kf-api.md §2.3): rename an account or change its avatar.
            POST "/cgi-bin/kf/account/update" => account::AccountUpdateRequest: Json -> EmptyResponse: Json,
                idempotent: true, fixture: "account/update", client: account.update(plain);
            /// `account/list` (kf-api.md §2.4): one page.
            POST "/cgi-bin/kf/account/list" => account::AccountListRequest: Json -> AccountListResponse: Json,
                idempotent: true, fixture: "account/list", client: account.list(plain);
            /// `add_contact_way` (kf-api.md §2.5): the link customers open to chat with an account. A
            /// `scene` that WeCom would reject (more than 32 bytes, or not `[0-9a-zA-Z_-]`) is refused
            /// before sending.
            POST "/cgi-bin/kf/add_contact_way" => kf::AddContactWayRequest: Json -> AddContactWayResponse: Json,
                idempotent: true, fixture: "account/add_contact_way", client: account.add_contact_way(checked);

            /// `servicer/add` (kf-api.md §3.1): add members and departments as servicers. Check every
            /// entry of the answer: the call succeeds while single ids fail. Lists that break WeCom's
            /// rules (both empty, more than 100 of either) are refused before sending.
            POST "/cgi-bin/kf/servicer/add" => servicer::ServicerAddRequest: Json -> ServicerAddResponse: Json,
                idempotent: true, fixture: "servicer/add", client: servicer.add(checked);
            /// `servicer/del` (kf-api.md §3.2): remove servicers; the same list rules as `add`.
            POST "/cgi-bin/kf/servicer/del" => servicer::ServicerDelRequest: Json -> ServicerDelResponse: Json,
                idempotent: true, fixture: "servicer/del", client: servicer.del(checked);
            /// `servicer/list` (kf-api.md §3.3): the servicers of an account and their receiving status.
            GET "/cgi-bin/kf/servicer/list" => servicer::ServicerListRequest: Query -> ServicerListResponse: Json,
                idempotent: true, fixture: "servicer/list", client: servicer.list(plain);

            /// `service_state/get` (kf-api.md §4.1): the session's state and servicer.
            POST "/cgi-bin/kf/service_state/get" => service_state::ServiceStateGetRequest: Json -> ServiceStateGetResponse: Json,
                idempotent: true, fixture: "service_state/get", client: service_state.get(plain);
            /// `service_state/trans` (kf-api.md §4.2): move the session (to the bot, the pool, a
            /// servicer, or end it). A transfer to a servicer (state 3) without `servicer_userid` is
            /// refused before sending. Not retried on transient failures (a repeated transfer may fail
            /// with 95016 or issue a second `msg_code`).
            POST "/cgi-bin/kf/service_state/trans" => service_state::ServiceStateTransRequest: Json -> ServiceStateTransResponse: Json,
                idempotent: false, fixture: "service_state/trans", client: service_state.trans(checked);

            /// `sync_msg` (kf-api.md §5.1): one page. `open_kfid` is required (the current reference
            /// says so); a request without it is refused before sending.
            POST "/cgi-bin/kf/sync_msg" => kf::SyncMsgRequest: Json -> SyncMsgResponse: Json,
                idempotent: true, fixture: "message/sync_msg", client: message.sync_msg(checked);
            /// `send_msg` (kf-api.md §5.4), made safe to retry with a generated `msgid`.
            POST "/cgi-bin/kf/send_msg" => kf::SendMsgRequest: Json -> SendMsgResponse: Json,
                idempotent: false, fixture: "message/send_msg", client: message.send_msg(custom);
            /// `send_msg_on_event` (kf-api.md §5.5), made safe to retry with a generated `msgid`.
            POST "/cgi-bin/kf/send_msg_on_event" => kf::SendMsgOnEventRequest: Json -> SendMsgOnEventResponse: Json,
                idempotent: false, fixture: "message/send_msg_on_event", client: message.send_msg_on_event(custom);
            /// `recall_msg` (kf-api.md §5.6): recall a message sent through the API within 2 minutes.
            POST "/cgi-bin/kf/recall_msg" => kf::RecallMsgRequest: Json -> EmptyResponse: Json,
                idempotent: true, fixture: "message/recall_msg", client: message.recall_msg(plain);

            /// `customer/get_upgrade_service_config` (kf-api.md §6.1): the members and groups
            /// configured for the upgrade service.
            GET "/cgi-bin/kf/customer/get_upgrade_service_config" => customer::CustomerGetUpgradeServiceConfigRequest: Query -> CustomerGetUpgradeServiceConfigResponse: Json,
                idempotent: true, fixture: "customer/get_upgrade_service_config", client: customer.get_upgrade_service_config(no_args);
            /// `customer/upgrade_service` (kf-api.md §6.2): recommend a member or a group to the customer.
            POST "/cgi-bin/kf/customer/upgrade_service" => customer::CustomerUpgradeServiceRequest: Json -> EmptyResponse: Json,
                idempotent: true, fixture: "customer/upgrade_service", client: customer.upgrade_service(plain);
            /// `customer/cancel_upgrade_service` (kf-api.md §6.3): withdraw the recommendation.
            POST "/cgi-bin/kf/customer/cancel_upgrade_service" => customer::CustomerCancelUpgradeServiceRequest: Json -> EmptyResponse: Json,
                idempotent: true, fixture: "customer/cancel_upgrade_service", client: customer.cancel_upgrade_service(plain);
            /// `customer/batchget` (kf-api.md §7): 1 to 100 customers per call (more are refused before
            /// sending; see `batchget_all`). Unknown ids come back in `invalid_external_userid`, not
            /// as an error.
            POST "/cgi-bin/kf/customer/batchget" => customer::CustomerBatchgetRequest: Json -> CustomerBatchgetResponse: Json,
                idempotent: true, fixture: "customer/batchget", client: customer.batchget(checked);

            /// `get_corp_qualification` (kf-api.md §8): whether the corp has bound a WeChat Channels
            /// account.
            GET "/cgi-bin/kf/get_corp_qualification" => kf::GetCorpQualificationRequest: Query -> GetCorpQualificationResponse: Json,
                idempotent: true, fixture: "corp/get_corp_qualification", client: corp.get_corp_qualification(no_args);

            /// `get_corp_statistic` (kf-api.md §9.1): daily figures of an account. A span that starts
            /// after it ends or covers more than 31 days is refused before sending.
            POST "/cgi-bin/kf/get_corp_statistic" => kf::GetCorpStatisticRequest: Json -> GetCorpStatisticResponse: Json,
                idempotent: true, fixture: "statistic/get_corp_statistic", client: statistic.get_corp_statistic(checked);
            /// `get_servicer_statistic` (kf-api.md §9.2): a servicer's (or the account's) daily
            /// figures; the same span rules as `get_corp_statistic`.
            POST "/cgi-bin/kf/get_servicer_statistic" => kf::GetServicerStatisticRequest: Json -> GetServicerStatisticResponse: Json,
                idempotent: true, fixture: "statistic/get_servicer_statistic", client: statistic.get_servicer_statistic(checked);

            /// `knowledge/add_group` (kf-api.md §10.1): create a group. Not retried on transient
            /// failures (a retry could create two groups).
            POST "/cgi-bin/kf/knowledge/add_group" => knowledge::KnowledgeAddGroupRequest: Json -> KnowledgeAddGroupResponse: Json,
                idempotent: false, fixture: "knowledge/add_group", client: knowledge.add_group(plain);
            /// `knowledge/del_group` (kf-api.md §10.1): delete a group (not the default one).
            POST "/cgi-bin/kf/knowledge/del_group" => knowledge::KnowledgeDelGroupRequest: Json -> EmptyResponse: Json,
                idempotent: true, fixture: "knowledge/del_group", client: knowledge.del_group(plain);
            /// `knowledge/mod_group` (kf-api.md §10.1): rename a group.
            POST "/cgi-bin/kf/knowledge/mod_group" => knowledge::KnowledgeModGroupRequest: Json -> EmptyResponse: Json,
                idempotent: true, fixture: "knowledge/mod_group", client: knowledge.mod_group(plain);
            /// `knowledge/list_group` (kf-api.md §10.1): one page of groups.
            POST "/cgi-bin/kf/knowledge/list_group" => knowledge::KnowledgeListGroupRequest: Json -> KnowledgeListGroupResponse: Json,
                idempotent: true, fixture: "knowledge/list_group", client: knowledge.list_group(plain);
            /// `knowledge/add_intent` (kf-api.md §10.2): create an intent (a question and its answer).
            /// Not retried on transient failures (a retry could create two intents).
            POST "/cgi-bin/kf/knowledge/add_intent" => knowledge::KnowledgeAddIntentRequest: Json -> KnowledgeAddIntentResponse: Json,
                idempotent: false, fixture: "knowledge/add_intent", client: knowledge.add_intent(plain);
            /// `knowledge/del_intent` (kf-api.md §10.2): delete an intent.
            POST "/cgi-bin/kf/knowledge/del_intent" => knowledge::KnowledgeDelIntentRequest: Json -> EmptyResponse: Json,
                idempotent: true, fixture: "knowledge/del_intent", client: knowledge.del_intent(plain);
            /// `knowledge/mod_intent` (kf-api.md §10.2): change an intent; each part given replaces that
            /// part entirely.
            POST "/cgi-bin/kf/knowledge/mod_intent" => knowledge::KnowledgeModIntentRequest: Json -> EmptyResponse: Json,
                idempotent: true, fixture: "knowledge/mod_intent", client: knowledge.mod_intent(plain);
            /// `knowledge/list_intent` (kf-api.md §10.2): one page of intents.
            POST "/cgi-bin/kf/knowledge/list_intent" => knowledge::KnowledgeListIntentRequest: Json -> KnowledgeListIntentResponse: Json,
                idempotent: true, fixture: "knowledge/list_intent", client: knowledge.list_intent(plain);

            /// `media/upload` (kf-api.md §11.1): a multipart upload, checked against WeCom's limits.
            POST "/cgi-bin/media/upload" => media::MediaUploadRequest: Multipart -> MediaUploadResponse: Json,
                idempotent: true, fixture: "media/upload", client: media.upload(custom);
            /// `media/get` (kf-api.md §11.2): a raw download, whole or by byte range.
            GET "/cgi-bin/media/get" => media::MediaGetRequest: Query -> MediaGetResponse: Raw,
                idempotent: true, fixture: "media/get", client: media.get(custom);
        }
    };
}

/// Expands the rows of [`kf_endpoints!`](crate::kf_endpoints) into the `Endpoint` impls and
/// [`ENDPOINTS`].
macro_rules! define_endpoints {
    ($(
        $(#[$doc:meta])*
        $method:ident $path:literal => $area:ident :: $req:ident : $body:ident -> $resp:ident : $rbody:ident,
            idempotent: $idempotent:literal, fixture: $fixture:literal,
            client: $handle:ident . $client_fn:ident ($kind:ident);
    )*) => {
        $(
            impl Endpoint for crate::$area::$req {
                type Response = define_endpoints!(@response $area $resp);
                const METHOD: crate::Method = define_endpoints!(@method $method);
                const PATH: &'static str = $path;
                const REQUEST_BODY: crate::RequestBody = crate::RequestBody::$body;
                const RESPONSE_BODY: crate::ResponseBody = crate::ResponseBody::$rbody;
                const IDEMPOTENT: bool = $idempotent;
            }
        )*

        /// Every Kf endpoint this crate models, in reference order, expanded from
        /// [`kf_endpoints!`](crate::kf_endpoints).
        ///
        /// ```
        /// let send = wxkf_types::ENDPOINTS.iter().find(|e| e.path == "/cgi-bin/kf/send_msg").unwrap();
        /// assert_eq!(send.method, wxkf_types::Method::Post);
        /// assert_eq!(send.request, "SendMsgRequest");
        /// assert_eq!(send.module, "kf");
        /// assert_eq!(send.fixture, "message/send_msg");
        /// assert_eq!(send.client_method, "message().send_msg");
        /// assert!(!send.idempotent);
        /// ```
        pub const ENDPOINTS: &[EndpointMeta] = &[
            $(EndpointMeta {
                method: <crate::$area::$req as Endpoint>::METHOD,
                path: <crate::$area::$req as Endpoint>::PATH,
                module: stringify!($area),
                request: stringify!($req),
                response: stringify!($resp),
                fixture: $fixture,
                request_body: <crate::$area::$req as Endpoint>::REQUEST_BODY,
                response_body: <crate::$area::$req as Endpoint>::RESPONSE_BODY,
                idempotent: <crate::$area::$req as Endpoint>::IDEMPOTENT,
                client_method: concat!(stringify!($handle), "().", stringify!($client_fn)),
            },)*
        ];
    };
    (@response $area:ident EmptyResponse) => { crate::EmptyResponse };
    (@response $area:ident $resp:ident) => { crate::$area::$resp };
    (@method GET) => { crate::Method::Get };
    (@method POST) => { crate::Method::Post };
}

crate::kf_endpoints!(define_endpoints);
