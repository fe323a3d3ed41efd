//! Fixture-driven tests of the API areas other than messages and callbacks: token, account,
//! servicer, service_state, upgrade, customer, corp, statistic, knowledge, media
//! (kf-api.md §1-4, §6-11, Appendix A.3).
//!
//! Every fixture under `tests/fixtures/<area>/` of these areas is read by exactly one row of
//! [`ROWS`]; `every_fixture_is_checked` fails when a fixture file is not.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wxkf_types::account::*;
use wxkf_types::corp::*;
use wxkf_types::customer::*;
use wxkf_types::knowledge::*;
use wxkf_types::media::*;
use wxkf_types::service_state::*;
use wxkf_types::servicer::*;
use wxkf_types::statistic::*;
use wxkf_types::token::*;
use wxkf_types::upgrade::*;
use wxkf_types::{ApiResponse, EmptyResponse, Endpoint, Method, RequestBody, ResponseBody};

const AREAS: &[&str] =
    &["token", "account", "servicer", "service_state", "customer", "corp", "statistic", "knowledge", "media"];

thread_local! {
    static LOADED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Read `tests/fixtures/<name>` and remember that it was checked.
fn load(name: &str) -> Value {
    LOADED.with(|l| l.borrow_mut().insert(name.to_owned()));
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_no_nulls(v: &Value, at: &str) {
    match v {
        Value::Null => panic!("null at {at}"),
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, v)| assert_no_nulls(v, &format!("{at}[{i}]")))
        }
        Value::Object(map) => map.iter().for_each(|(k, v)| assert_no_nulls(v, &format!("{at}.{k}"))),
        _ => {}
    }
}

/// Parse a request fixture, check it serializes back to the same JSON without nulls.
fn request_file<T: Serialize + DeserializeOwned + Debug>(name: &str) -> T {
    let json = load(name);
    let req: T = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&req).unwrap();
    assert_eq!(back, json, "{name} does not round-trip");
    assert_no_nulls(&back, name);
    req
}

/// Parse a whole response body fixture through `ApiResponse<T>`; it must succeed and round-trip.
fn response_file<T: Serialize + DeserializeOwned + Debug>(name: &str) -> T {
    let json = load(name);
    let resp: ApiResponse<T> = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(resp.status.is_ok(), "{name}: {:?}", resp.status);
    assert_eq!(serde_json::to_value(&resp).unwrap(), json, "{name} does not round-trip");
    resp.body
}

/// The request and response fixtures of `stem`, typed by the endpoint, with its metadata checked.
fn exchange<T>(
    stem: &str,
    method: Method,
    path: &str,
    body: RequestBody,
    idempotent: bool,
) -> (T, T::Response)
where
    T: Endpoint + DeserializeOwned + Debug,
    T::Response: Serialize + Debug,
{
    assert_eq!(
        (T::METHOD, T::PATH, T::REQUEST_BODY, T::IDEMPOTENT),
        (method, path, body, idempotent),
        "{stem}"
    );
    assert_eq!(T::RESPONSE_BODY, ResponseBody::Json, "{stem}");
    let req = request_file::<T>(&format!("{stem}.request.json"));
    let resp = response_file::<T::Response>(&format!("{stem}.response.json"));
    (req, resp)
}

/// The `.response.alt.json` of `stem` holds the same data as `.response.json` in a form WeCom or
/// another source also uses: it must read as the same value and be written in the canonical form.
fn alt_response<T: Serialize + DeserializeOwned + Debug + PartialEq>(stem: &str) -> T {
    let canonical_json = load(&format!("{stem}.response.json"));
    let alt_name = format!("{stem}.response.alt.json");
    let alt_json = load(&alt_name);
    assert_ne!(alt_json, canonical_json, "{alt_name} is not an alternative form");
    let canonical: ApiResponse<T> = serde_json::from_value(canonical_json.clone()).unwrap();
    let alt: ApiResponse<T> = serde_json::from_value(alt_json).unwrap_or_else(|e| panic!("{alt_name}: {e}"));
    assert_eq!(alt, canonical, "{alt_name} reads differently from the canonical fixture");
    assert_eq!(serde_json::to_value(&alt).unwrap(), canonical_json, "{alt_name} is not written canonically");
    alt.body
}

type Row = (&'static str, fn());

/// One row per endpoint (fixture stem as in `src/endpoints.rs`).
const ROWS: &[Row] = &[
    ("token/gettoken", token_gettoken),
    ("account/add", account_add),
    ("account/del", account_del),
    ("account/update", account_update),
    ("account/list", account_list),
    ("account/add_contact_way", account_add_contact_way),
    ("servicer/add", servicer_add),
    ("servicer/del", servicer_del),
    ("servicer/list", servicer_list),
    ("service_state/get", service_state_get),
    ("service_state/trans", service_state_trans),
    ("customer/get_upgrade_service_config", upgrade_get_config),
    ("customer/upgrade_service", upgrade_service),
    ("customer/cancel_upgrade_service", upgrade_cancel),
    ("customer/batchget", customer_batchget),
    ("corp/get_corp_qualification", corp_qualification),
    ("statistic/get_corp_statistic", statistic_corp),
    ("statistic/get_servicer_statistic", statistic_servicer),
    ("knowledge/add_group", knowledge_add_group),
    ("knowledge/del_group", knowledge_del_group),
    ("knowledge/mod_group", knowledge_mod_group),
    ("knowledge/list_group", knowledge_list_group),
    ("knowledge/add_intent", knowledge_add_intent),
    ("knowledge/del_intent", knowledge_del_intent),
    ("knowledge/mod_intent", knowledge_mod_intent),
    ("knowledge/list_intent", knowledge_list_intent),
    ("media/upload", media_upload),
    ("media/get", media_get),
];

#[test]
fn every_fixture_is_checked() {
    for (stem, check) in ROWS {
        check();
        let loaded = LOADED.with(|l| l.borrow().clone());
        assert!(loaded.contains(&format!("{stem}.request.json")), "{stem}: request fixture not read");
        assert!(loaded.contains(&format!("{stem}.response.json")), "{stem}: response fixture not read");
    }
    let mut on_disk = BTreeSet::new();
    for area in AREAS {
        for entry in std::fs::read_dir(fixtures_dir().join(area)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            on_disk.insert(format!("{area}/{name}"));
        }
    }
    let loaded = LOADED.with(|l| l.borrow().clone());
    let unread: Vec<_> = on_disk.difference(&loaded).collect();
    assert!(unread.is_empty(), "fixtures no row reads: {unread:?}");
    assert_eq!(ROWS.len(), 28);
}

// ---- rows ---------------------------------------------------------------------------------------

fn token_gettoken() {
    let (req, resp) = exchange::<GetTokenRequest>(
        "token/gettoken",
        Method::Get,
        "/cgi-bin/gettoken",
        RequestBody::Query,
        true,
    );
    assert_eq!(req.corpid, "wwabcddzxdkrsdv");
    assert_eq!(req.corpsecret, "vQT_03RDVA3uE6JDASDASDAiXUvccqV8mDgLdLI");
    assert_eq!(resp.access_token, "accesstoken000001");
    assert_eq!(resp.expires_in, 7200);
}

fn account_add() {
    let (req, resp) = exchange::<AccountAddRequest>(
        "account/add",
        Method::Post,
        "/cgi-bin/kf/account/add",
        RequestBody::Json,
        false,
    );
    assert_eq!(req, AccountAddRequest::new("新建的客服账号", req.media_id.clone()));
    assert!(req.media_id.starts_with("294DpAog"));
    assert_eq!(resp.open_kfid, "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw");
}

fn account_del() {
    let (req, resp) = exchange::<AccountDelRequest>(
        "account/del",
        Method::Post,
        "/cgi-bin/kf/account/del",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, AccountDelRequest::new("wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"));
    assert_eq!(resp, EmptyResponse::default());
}

fn account_update() {
    let (req, _) = exchange::<AccountUpdateRequest>(
        "account/update",
        Method::Post,
        "/cgi-bin/kf/account/update",
        RequestBody::Json,
        true,
    );
    assert_eq!(req.name.as_deref(), Some("修改客服名"));
    assert_eq!(
        req,
        AccountUpdateRequest::new("wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw")
            .with_name("修改客服名")
            .with_media_id(req.media_id.clone().unwrap())
    );
}

fn account_list() {
    let (req, resp) = exchange::<AccountListRequest>(
        "account/list",
        Method::Post,
        "/cgi-bin/kf/account/list",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, AccountListRequest::new().with_offset(0).with_limit(100));
    let [account] = resp.account_list.as_slice() else { panic!("one account expected") };
    assert_eq!(account.open_kfid, "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q");
    assert_eq!(account.name, "咨询客服");
    assert!(account.avatar.starts_with("https://wework.qpic.cn/wwhead/"));
    assert_eq!(account.manage_privilege, Some(false));
}

fn account_add_contact_way() {
    let (req, resp) = exchange::<AddContactWayRequest>(
        "account/add_contact_way",
        Method::Post,
        "/cgi-bin/kf/add_contact_way",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, AddContactWayRequest::new("OPEN_KFID").with_scene("12345"));
    assert_eq!(
        resp.url_with_scene_param("a=1&b=2").unwrap(),
        "https://work.weixin.qq.com/kf/kfcbf8f8d07ac7215f?enc_scene=ENCGFSDF567DF&scene_param=a%3D1%26b%3D2"
    );
}

fn servicer_add() {
    let (req, resp) = exchange::<ServicerAddRequest>(
        "servicer/add",
        Method::Post,
        "/cgi-bin/kf/servicer/add",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, ServicerAddRequest::new("kfxxxxxxxxxxxxxx", ["zhangsan", "lisi"], [2, 3]));
    assert!(req.validate().is_ok());
    let targets: Vec<_> = resp.result_list.iter().map(|r| r.target.clone()).collect();
    assert_eq!(
        targets,
        [
            ServicerTarget::User("zhangsan".into()),
            ServicerTarget::User("lisi".into()),
            ServicerTarget::Department(2),
            ServicerTarget::Department(3)
        ]
    );
    assert!(resp.result_list.iter().all(ServicerResult::is_ok));
    assert_eq!(resp.result_list[1].errmsg, "ignored");
    assert_eq!(resp.failures().count(), 0);
}

fn servicer_del() {
    let (req, resp) = exchange::<ServicerDelRequest>(
        "servicer/del",
        Method::Post,
        "/cgi-bin/kf/servicer/del",
        RequestBody::Json,
        true,
    );
    assert_eq!(req.department_id_list, [2, 3]);
    let failed: Vec<_> = resp.failures().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].target.userid(), Some("lisi"));
    assert_eq!(failed[0].errcode, 60111);
    assert_eq!(resp.result_list[2].target.department_id(), Some(2));
}

fn servicer_list() {
    let (req, resp) = exchange::<ServicerListRequest>(
        "servicer/list",
        Method::Get,
        "/cgi-bin/kf/servicer/list",
        RequestBody::Query,
        true,
    );
    assert_eq!(req, ServicerListRequest::new("XXX"));
    let l = &resp.servicer_list;
    assert_eq!(l.len(), 4);
    assert_eq!(l[0].target, ServicerTarget::User("zhangsan".into()));
    assert_eq!((l[0].status, l[0].stop_type), (Some(ServicerStatus::Receiving), None));
    assert_eq!(
        (l[1].status, l[1].stop_type),
        (Some(ServicerStatus::Stopped), Some(ServicerStopType::Suspended))
    );
    assert_eq!(l[3].target, ServicerTarget::Department(3));
    assert_eq!((l[3].status, l[3].stop_type), (None, None));
}

fn service_state_get() {
    let (req, resp) = exchange::<ServiceStateGetRequest>(
        "service_state/get",
        Method::Post,
        "/cgi-bin/kf/service_state/get",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, ServiceStateGetRequest::new("wkxxxxxxxxxxxxxxxxxx", "wmxxxxxxxxxxxxxxxxxx"));
    assert_eq!(resp.service_state, ServiceState::Human);
    assert_eq!(resp.servicer_userid.as_deref(), Some("zhangsan"));
}

fn service_state_trans() {
    let (req, resp) = exchange::<ServiceStateTransRequest>(
        "service_state/trans",
        Method::Post,
        "/cgi-bin/kf/service_state/trans",
        RequestBody::Json,
        false,
    );
    assert_eq!(
        req,
        ServiceStateTransRequest::to_servicer("wkxxxxxxxxxxxxxxxxxx", "wmxxxxxxxxxxxxxxxxxx", "zhangsan")
    );
    assert_eq!(resp.msg_code.as_deref(), Some("MSG_CODE"));
}

fn upgrade_get_config() {
    let (req, resp) = exchange::<GetUpgradeServiceConfigRequest>(
        "customer/get_upgrade_service_config",
        Method::Get,
        "/cgi-bin/kf/customer/get_upgrade_service_config",
        RequestBody::Query,
        true,
    );
    assert_eq!(req, GetUpgradeServiceConfigRequest::new());
    assert_eq!(resp.member_range.userid_list, ["zhangsan", "lisi"]);
    assert_eq!(resp.member_range.department_id_list, [2, 3]);
    assert_eq!(resp.groupchat_range.chat_id_list, ["wraaaaaaaaaaaaaaaa", "wrbbbbbbbbbbbbbbb"]);
    // DISAGREEMENT §6.1: `department_list` (field table) is read as `department_id_list`.
    let alt = alt_response::<GetUpgradeServiceConfigResponse>("customer/get_upgrade_service_config");
    assert_eq!(alt.member_range.department_id_list, [2, 3]);
}

fn upgrade_service() {
    let (req, _) = exchange::<UpgradeServiceRequest>(
        "customer/upgrade_service",
        Method::Post,
        "/cgi-bin/kf/customer/upgrade_service",
        RequestBody::Json,
        true,
    );
    assert_eq!(
        req,
        UpgradeServiceRequest::member("kfxxxxxxxxxxxxxx", "wmxxxxxxxxxxxxxxxxxx", "zhangsan")
            .with_wording("你好，我是你的专属服务专员zhangsan")
    );
    assert_eq!(req.target.type_code(), 1);
    // The other `type`: a customer group.
    let group = request_file::<UpgradeServiceRequest>("customer/upgrade_service.request.alt.json");
    assert_eq!(
        group,
        UpgradeServiceRequest::groupchat("kfxxxxxxxxxxxxxx", "wmxxxxxxxxxxxxxxxxxx", "wraaaaaaaaaaaaaaaa")
            .with_wording("欢迎加入你的专属服务群")
    );
    assert_eq!(group.target.type_code(), 2);
    let json = serde_json::to_value(&group).unwrap();
    assert_eq!(json["type"], 2);
    assert!(json.get("member").is_none());
}

fn upgrade_cancel() {
    let (req, _) = exchange::<CancelUpgradeServiceRequest>(
        "customer/cancel_upgrade_service",
        Method::Post,
        "/cgi-bin/kf/customer/cancel_upgrade_service",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, CancelUpgradeServiceRequest::new("kfxxxxxxxxxxxxxx", "wmxxxxxxxxxxxxxxxxxx"));
}

fn customer_batchget() {
    let (req, resp) = exchange::<CustomerBatchGetRequest>(
        "customer/batchget",
        Method::Post,
        "/cgi-bin/kf/customer/batchget",
        RequestBody::Json,
        true,
    );
    assert_eq!(
        req,
        CustomerBatchGetRequest::new(["wmxxxxxxxxxxxxxxxxxxxxxx", "zhangsan"])
            .with_enter_session_context(true)
    );
    let c = &resp.customer_list[0];
    assert_eq!((c.nickname.as_str(), c.gender), ("张三", Gender::Male));
    assert_eq!(c.unionid.as_deref(), Some("oxasdaosaosdasdasdasd"));
    let ctx = c.enter_session_context.as_ref().unwrap();
    assert_eq!((ctx.scene.as_str(), ctx.scene_param.as_str()), ("123", "abc"));
    let channels = ctx.wechat_channels.as_ref().unwrap();
    assert_eq!(channels.nickname.as_deref(), Some("进入会话的视频号名称"));
    assert_eq!(channels.scene, Some(WechatChannelsScene::HomePage));
    let shop =
        resp.customer_list[1].enter_session_context.as_ref().unwrap().wechat_channels.as_ref().unwrap();
    assert_eq!(
        (shop.shop_nickname.as_deref(), shop.scene),
        (Some("视频号小店名称"), Some(WechatChannelsScene::ShopProductDetail))
    );
    assert_eq!(resp.customer_list[1].gender, Gender::Female);
    assert_eq!(resp.customer_list[1].unionid, None);
    assert_eq!(resp.invalid_external_userid, ["zhangsan"]);
    // DISAGREEMENT §0/§7: gender as a string.
    let alt = alt_response::<CustomerBatchGetResponse>("customer/batchget");
    assert_eq!(alt.customer_list[0].gender, Gender::Male);
}

fn corp_qualification() {
    let (req, resp) = exchange::<GetCorpQualificationRequest>(
        "corp/get_corp_qualification",
        Method::Get,
        "/cgi-bin/kf/get_corp_qualification",
        RequestBody::Query,
        true,
    );
    assert_eq!(req, GetCorpQualificationRequest::new());
    assert!(resp.wechat_channels_binding);
}

fn statistic_corp() {
    let (req, resp) = exchange::<GetCorpStatisticRequest>(
        "statistic/get_corp_statistic",
        Method::Post,
        "/cgi-bin/kf/get_corp_statistic",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, GetCorpStatisticRequest::new("OPEN_KFID", 1_645_545_600, 1_645_632_000));
    let days = &resp.statistic_list;
    assert_eq!(days.len(), 3);
    assert_eq!(days[0].stat_time, 1_645_545_600);
    let s = days[0].statistic.as_ref().unwrap();
    assert_eq!((s.session_cnt, s.customer_cnt, s.customer_msg_cnt), (2, 1, 6));
    assert_eq!(
        (s.upgrade_service_customer_cnt, s.ai_session_reply_cnt, s.msg_rejected_customer_cnt),
        (0, 1, 1)
    );
    assert_eq!((s.ai_transfer_rate, s.ai_knowledge_hit_rate), (Some(1.0), Some(0.0)));
    let s = days[1].statistic.as_ref().unwrap();
    assert_eq!((s.ai_transfer_rate, s.ai_knowledge_hit_rate), (Some(0.25), None));
    assert!(days[2].statistic.is_none());
    // Numbers as strings (as other loose fields arrive) read the same.
    let alt = alt_response::<GetCorpStatisticResponse>("statistic/get_corp_statistic");
    assert_eq!(alt.statistic_list[1].statistic.as_ref().unwrap().customer_msg_cnt, 42);
}

fn statistic_servicer() {
    let (req, resp) = exchange::<GetServicerStatisticRequest>(
        "statistic/get_servicer_statistic",
        Method::Post,
        "/cgi-bin/kf/get_servicer_statistic",
        RequestBody::Json,
        true,
    );
    assert_eq!(
        req,
        GetServicerStatisticRequest::new("OPEN_KFID", 1_645_545_600, 1_645_632_000)
            .with_servicer_userid("zhangsan")
    );
    let s = resp.statistic_list[0].statistic.as_ref().unwrap();
    assert_eq!((s.session_cnt, s.customer_cnt, s.customer_msg_cnt), (1, 1, 1));
    assert_eq!((s.reply_rate, s.first_reply_average_sec), (Some(1.0), Some(16.0)));
    assert_eq!(s.satisfaction_investgate_cnt, 1);
    assert_eq!(s.satisfaction_participation_rate, Some(1.0));
    assert_eq!((s.satisfied_rate, s.middling_rate, s.dissatisfied_rate), (Some(1.0), Some(0.0), Some(0.0)));
    assert_eq!(s.msg_rejected_customer_cnt, 1);
    let s = resp.statistic_list[1].statistic.as_ref().unwrap();
    assert_eq!((s.reply_rate, s.first_reply_average_sec, s.satisfied_rate), (None, Some(12.5), None));
    assert_eq!(
        (
            s.upgrade_service_customer_cnt,
            s.upgrade_service_member_invite_cnt,
            s.upgrade_service_member_customer_cnt,
            s.upgrade_service_groupchat_invite_cnt,
            s.upgrade_service_groupchat_customer_cnt
        ),
        (2, 1, 1, 1, 1)
    );
    let alt = alt_response::<GetServicerStatisticResponse>("statistic/get_servicer_statistic");
    assert_eq!(alt.statistic_list[1].statistic.as_ref().unwrap().first_reply_average_sec, Some(12.5));
}

fn knowledge_add_group() {
    let (req, resp) = exchange::<KnowledgeAddGroupRequest>(
        "knowledge/add_group",
        Method::Post,
        "/cgi-bin/kf/knowledge/add_group",
        RequestBody::Json,
        false,
    );
    assert_eq!(req, KnowledgeAddGroupRequest::new("分组名"));
    assert_eq!(resp.group_id, "GROUP_ID");
}

fn knowledge_del_group() {
    let (req, _) = exchange::<KnowledgeDelGroupRequest>(
        "knowledge/del_group",
        Method::Post,
        "/cgi-bin/kf/knowledge/del_group",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, KnowledgeDelGroupRequest::new("GROUP_ID"));
}

fn knowledge_mod_group() {
    let (req, _) = exchange::<KnowledgeModGroupRequest>(
        "knowledge/mod_group",
        Method::Post,
        "/cgi-bin/kf/knowledge/mod_group",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, KnowledgeModGroupRequest::new("GROUP_ID", "修改后的分组名"));
}

fn knowledge_list_group() {
    let (req, resp) = exchange::<KnowledgeListGroupRequest>(
        "knowledge/list_group",
        Method::Post,
        "/cgi-bin/kf/knowledge/list_group",
        RequestBody::Json,
        true,
    );
    assert_eq!(
        req,
        KnowledgeListGroupRequest::new().with_cursor("CURSOR").with_limit(100).with_group_id("GROUP_ID")
    );
    assert_eq!(resp.next_cursor.as_deref(), Some("NEXT_CURSOR"));
    assert!(resp.has_more);
    let defaults: Vec<bool> = resp.group_list.iter().map(|g| g.is_default).collect();
    assert_eq!(defaults, [true, false]);
    assert_eq!(resp.group_list[0].name, "NAME");
}

/// The attachments of the write-form fixtures.
fn written_answer() -> KnowledgeAnswer {
    KnowledgeAnswer::new("问题的回复")
        .with_attachment(KnowledgeAttachment::image("MEDIA_ID"))
        .with_attachment(KnowledgeAttachment::video("MEDIA_ID"))
        .with_attachment(KnowledgeAttachment::Link(
            KnowledgeLink::new("TITLE", "URL").with_desc("DESC").with_pic_url("PIC_URL"),
        ))
        .with_attachment(KnowledgeAttachment::MiniProgram(
            KnowledgeMiniProgram::new("APPID", "PAGE_PATH")
                .with_title("TITLE")
                .with_thumb_media_id("THUMB_MEDIA_ID"),
        ))
}

fn knowledge_add_intent() {
    let (req, resp) = exchange::<KnowledgeAddIntentRequest>(
        "knowledge/add_intent",
        Method::Post,
        "/cgi-bin/kf/knowledge/add_intent",
        RequestBody::Json,
        false,
    );
    assert_eq!(
        req,
        KnowledgeAddIntentRequest::new("GROUP_ID", "主问题", written_answer())
            .with_similar_questions(["相似问题1", "相似问题2"])
    );
    assert_eq!(resp.intent_id, "INTENT_ID");
}

fn knowledge_del_intent() {
    let (req, _) = exchange::<KnowledgeDelIntentRequest>(
        "knowledge/del_intent",
        Method::Post,
        "/cgi-bin/kf/knowledge/del_intent",
        RequestBody::Json,
        true,
    );
    assert_eq!(req, KnowledgeDelIntentRequest::new("INTENT_ID"));
}

fn knowledge_mod_intent() {
    let (req, _) = exchange::<KnowledgeModIntentRequest>(
        "knowledge/mod_intent",
        Method::Post,
        "/cgi-bin/kf/knowledge/mod_intent",
        RequestBody::Json,
        true,
    );
    assert_eq!(
        req,
        KnowledgeModIntentRequest::new("INTENT_ID")
            .with_question("主问题")
            .with_similar_questions(["相似问题1", "相似问题2"])
            .with_answer(written_answer())
    );
}

fn knowledge_list_intent() {
    let (req, resp) = exchange::<KnowledgeListIntentRequest>(
        "knowledge/list_intent",
        Method::Post,
        "/cgi-bin/kf/knowledge/list_intent",
        RequestBody::Json,
        true,
    );
    assert_eq!(
        req,
        KnowledgeListIntentRequest::new()
            .with_cursor("CURSOR")
            .with_limit(100)
            .with_group_id("GROUP_ID")
            .with_intent_id("INTENT_ID")
    );
    assert!(resp.has_more);
    let intent = &resp.intent_list[0];
    assert_eq!((intent.group_id.as_str(), intent.intent_id.as_str()), ("GROUP_ID", "INTENT_ID"));
    assert_eq!(intent.question.text.content, "主问题");
    let similar: Vec<&str> =
        intent.similar_questions.as_ref().unwrap().items.iter().map(|q| q.text.content.as_str()).collect();
    assert_eq!(similar, ["相似问题1", "相似问题2"]);
    let attachments = &intent.answers[0].attachments;
    let KnowledgeAttachment::Image(image) = &attachments[0] else {
        panic!("image expected: {attachments:?}")
    };
    assert_eq!((image.name.as_deref(), image.media_id.as_deref()), (Some("图片（仅返回名字）.jpg"), None));
    let kinds: Vec<&str> = attachments.iter().map(KnowledgeAttachment::msgtype).collect();
    assert_eq!(kinds, ["image", "video", "link", "miniprogram"]);
    // DISAGREEMENT §10.2: the official example nests similar_questions/answers inside question.
    let alt = alt_response::<KnowledgeListIntentResponse>("knowledge/list_intent");
    assert_eq!(alt.intent_list[0].answers[0].text.content, "问题的回复");
}

fn media_upload() {
    let (req, resp) = exchange::<MediaUploadRequest>(
        "media/upload",
        Method::Post,
        "/cgi-bin/media/upload",
        RequestBody::Multipart,
        true,
    );
    assert_eq!(req, MediaUploadRequest::new(MediaType::Image));
    assert_eq!(resp.media_type, MediaType::Image);
    assert_eq!(resp.media_id, "1G6nrLmr5EC3MMb_-zK1dDdzmd0p7cNliYu9V5w7o8K0");
    assert_eq!(resp.created_at, 1_380_000_000);
    // `created_at` as a number reads the same and is written as the official string.
    let alt = alt_response::<MediaUploadResponse>("media/upload");
    assert_eq!(alt.created_at, 1_380_000_000);
}

fn media_get() {
    assert_eq!(
        (
            MediaGetRequest::METHOD,
            MediaGetRequest::PATH,
            MediaGetRequest::REQUEST_BODY,
            MediaGetRequest::RESPONSE_BODY
        ),
        (Method::Get, "/cgi-bin/media/get", RequestBody::Query, ResponseBody::Raw)
    );
    let req = request_file::<MediaGetRequest>("media/get.request.json");
    assert_eq!(req, MediaGetRequest::new("MEDIA_ID"));
    // The "response" is the metadata a client reads from the download headers.
    let json = load("media/get.response.json");
    let meta: MediaGetResponse = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(serde_json::to_value(&meta).unwrap(), json);
    assert_eq!(
        meta,
        MediaGetResponse::from_headers(
            "image/jpeg",
            Some(r#"attachment; filename="MEDIA_ID.jpg""#),
            Some("100"),
            Some("bytes 0-99/1000")
        )
    );
    let range = meta.content_range.unwrap();
    assert_eq!((range.part_len(), range.is_last()), (100, Some(false)));
}

// ---- behaviour beyond the fixtures ---------------------------------------------------------------

#[test]
fn credentials_never_appear_in_debug_output() {
    let req = GetTokenRequest::new("wwcorp", "TOPSECRET-corpsecret");
    let shown = format!("{req:?} {req:#?}");
    assert!(!shown.contains("TOPSECRET"), "{shown}");
    assert!(shown.contains("wwcorp"));
    assert_eq!(serde_json::to_value(&req).unwrap()["corpsecret"], "TOPSECRET-corpsecret");

    let resp: ApiResponse<GetTokenResponse> = serde_json::from_value(
        json!({"errcode": 0, "errmsg": "ok", "access_token": "TOKEN-xyz-123", "expires_in": "7200"}),
    )
    .unwrap();
    let shown = format!("{resp:?} {:?} {:#?}", resp.body, resp.body);
    assert!(!shown.contains("TOKEN-xyz-123"), "{shown}");
    assert!(shown.contains("7200"));
    assert_eq!(serde_json::to_value(&resp.body).unwrap()["access_token"], "TOKEN-xyz-123");
}

#[test]
fn numeric_codes_map_both_ways_through_json() {
    fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(cases: &[(u32, T)]) {
        for (n, v) in cases {
            assert_eq!(&serde_json::from_value::<T>(json!(n)).unwrap(), v);
            assert_eq!(serde_json::to_value(v).unwrap(), json!(n));
        }
    }
    use ServiceState::*;
    check(&[(0, New), (1, Bot), (2, Queued), (3, Human), (4, Ended), (99, Unknown(99))]);
    check(&[(0, ServicerStatus::Receiving), (1, ServicerStatus::Stopped), (2, ServicerStatus::Unknown(2))]);
    check(&[
        (0, ServicerStopType::Stopped),
        (1, ServicerStopType::Suspended),
        (5, ServicerStopType::Unknown(5)),
    ]);
    check(&[(0, Gender::Unspecified), (1, Gender::Male), (2, Gender::Female), (3, Gender::Unknown(3))]);
    check(&[
        (1, WechatChannelsScene::HomePage),
        (2, WechatChannelsScene::LiveProductList),
        (3, WechatChannelsScene::Showcase),
        (4, WechatChannelsScene::ShopProductDetail),
        (5, WechatChannelsScene::ShopOrder),
        (0, WechatChannelsScene::Unknown(0)),
    ]);
    assert_eq!(serde_json::from_value::<Gender>(json!("2")).unwrap(), Gender::Female);
    for (name, t) in [
        ("image", MediaType::Image),
        ("voice", MediaType::Voice),
        ("video", MediaType::Video),
        ("file", MediaType::File),
    ] {
        assert_eq!(serde_json::from_value::<MediaType>(json!(name)).unwrap(), t);
        assert_eq!(serde_json::to_value(t).unwrap(), json!(name));
        assert_eq!(t.as_str(), name);
    }
    assert!(serde_json::from_value::<MediaType>(json!("Image")).is_err());
}

#[test]
fn service_state_transition_matrix() {
    use ServiceState::*;
    let states = [New, Bot, Queued, Human, Ended];
    // Rows: from 0..=4; columns: to 0..=4 (kf-api.md §4.0).
    let allowed = [
        [false, true, true, true, true],
        [false, false, true, true, true],
        [false, false, false, true, true],
        [false, false, false, true, true],
        [false, false, false, false, false],
    ];
    for (from, row) in states.iter().zip(allowed) {
        for (to, ok) in states.iter().zip(row) {
            assert_eq!(from.can_transition_to(*to), ok, "{from:?} -> {to:?}");
        }
        assert!(!from.can_transition_to(Unknown(7)));
        assert!(!Unknown(7).can_transition_to(*from));
    }
    let senders: Vec<_> = states.iter().filter(|s| s.can_send_msg()).collect();
    assert_eq!(senders, [&New, &Bot]);
    assert!(!Unknown(9).can_send_msg());
}

#[test]
fn trans_constructors_pick_state_and_servicer() {
    let cases = [
        (ServiceStateTransRequest::to_bot("wk", "wm"), 1),
        (ServiceStateTransRequest::to_pool("wk", "wm"), 2),
        (ServiceStateTransRequest::end("wk", "wm"), 4),
    ];
    for (req, state) in cases {
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"open_kfid": "wk", "external_userid": "wm", "service_state": state})
        );
    }
    let to = ServiceStateTransRequest::to_servicer("wk", "wm", "lisi");
    assert_eq!((to.service_state, to.servicer_userid.as_deref()), (ServiceState::Human, Some("lisi")));
    let resp: ServiceStateTransResponse = serde_json::from_value(json!({})).unwrap();
    assert_eq!(resp.msg_code, None);
}

#[test]
fn servicer_requests_are_validated() {
    assert_eq!(
        ServicerAddRequest::for_users("wk", Vec::<String>::new()).validate(),
        Err(ServicerRequestError::Empty)
    );
    assert_eq!(ServicerDelRequest::for_departments("wk", []).validate(), Err(ServicerRequestError::Empty));
    let err = ServicerAddRequest::for_departments("wk", 1..=101).validate().unwrap_err();
    assert_eq!(err, ServicerRequestError::TooManyDepartments { len: 101 });
    assert!(err.to_string().contains("at most 100"), "{err}");
    assert!(ServicerAddRequest::for_users("wk", ["a"]).validate().is_ok());
    // A department-only request sends no userid_list at all.
    assert_eq!(
        serde_json::to_value(ServicerDelRequest::for_departments("wk", [7])).unwrap(),
        json!({"open_kfid": "wk", "department_id_list": [7]})
    );
    // An entry naming neither a user nor a department is kept, not fatal.
    let resp: ServicerAddResponse =
        serde_json::from_value(json!({"result_list": [{"errcode": 1, "errmsg": "x"}]})).unwrap();
    assert_eq!(resp.result_list[0].target, ServicerTarget::Unknown);
}

#[test]
fn optional_fields_are_never_sent_empty() {
    assert_eq!(
        serde_json::to_value(AccountUpdateRequest::new("wk").with_name("").with_media_id("")).unwrap(),
        json!({"open_kfid": "wk"})
    );
    assert_eq!(serde_json::to_value(AccountListRequest::new()).unwrap(), json!({}));
    assert_eq!(
        serde_json::to_value(AddContactWayRequest::new("wk").with_scene("")).unwrap(),
        json!({"open_kfid": "wk"})
    );
    assert_eq!(
        serde_json::to_value(GetServicerStatisticRequest::new("wk", 1, 2).with_servicer_userid("")).unwrap(),
        json!({"open_kfid": "wk", "start_time": 1, "end_time": 2})
    );
    assert_eq!(
        serde_json::to_value(CustomerBatchGetRequest::new(["wm"]).with_enter_session_context(false)).unwrap(),
        json!({"external_userid_list": ["wm"], "need_enter_session_context": 0})
    );
    // Clearing similar questions in mod_intent sends an explicit empty list.
    assert_eq!(
        serde_json::to_value(
            KnowledgeModIntentRequest::new("I").with_similar_questions(Vec::<String>::new())
        )
        .unwrap(),
        json!({"intent_id": "I", "similar_questions": {"items": []}})
    );
    assert_eq!(serde_json::to_value(GetCorpQualificationRequest::new()).unwrap(), json!({}));
}

#[test]
fn account_without_manage_privilege() {
    let resp: AccountListResponse = serde_json::from_value(json!({"account_list": [
        {"open_kfid": "wk1", "name": "A", "avatar": "u"},
        {"open_kfid": "wk2", "name": "B", "avatar": "u", "manage_privilege": true},
        {"open_kfid": "wk3", "name": "C", "avatar": "u", "manage_privilege": 1}
    ]}))
    .unwrap();
    let privileges: Vec<_> = resp.account_list.iter().map(|a| a.manage_privilege).collect();
    assert_eq!(privileges, [None, Some(true), Some(true)]);
    assert!(serde_json::to_value(&resp.account_list[0]).unwrap().get("manage_privilege").is_none());
}

#[test]
fn scene_param_is_appended_encoded_and_checked() {
    let url = "https://work.weixin.qq.com/kf/kfc?enc_scene=X";
    assert_eq!(
        append_scene_param(url, "订单/42 ok").unwrap(),
        format!("{url}&scene_param=%E8%AE%A2%E5%8D%95%2F42%20ok")
    );
    assert!(append_scene_param(url, &"x".repeat(MAX_SCENE_PARAM_BYTES)).is_ok());
    let err = append_scene_param(url, &"&".repeat(43)).unwrap_err();
    assert_eq!(err, SceneParamError::TooLong { encoded_len: 129 });
    assert!(err.to_string().contains("128"));
    assert_eq!(append_scene_param("https://x/kf?encScene=OLD", "a"), Err(SceneParamError::LegacyLink));
}

#[test]
fn media_upload_limits() {
    assert_eq!(MediaType::Image.max_bytes(), 10 * 1024 * 1024);
    assert_eq!(MediaType::Voice.max_bytes(), 2 * 1024 * 1024);
    assert_eq!(MediaType::Video.max_bytes(), 10 * 1024 * 1024);
    assert_eq!(MediaType::File.max_bytes(), 20 * 1024 * 1024);
    assert_eq!(MediaType::Image.allowed_extensions(), Some(&["jpg", "jpeg", "png"][..]));
    assert_eq!(MediaType::File.allowed_extensions(), None);

    assert_eq!(check_upload(MediaType::Image, "a.JPEG", 6), Ok(()));
    assert_eq!(check_upload(MediaType::Image, "a.jpg", 5), Err(MediaLimitError::TooSmall { len: 5 }));
    assert_eq!(
        check_upload(MediaType::Voice, "a.amr", 2 * 1024 * 1024 + 1),
        Err(MediaLimitError::TooLarge {
            media_type: MediaType::Voice,
            len: 2 * 1024 * 1024 + 1,
            max: 2 * 1024 * 1024
        })
    );
    assert_eq!(check_upload(MediaType::Voice, "a.amr", 2 * 1024 * 1024), Ok(()));
    assert_eq!(
        check_upload(MediaType::Video, "clip.mov", 100),
        Err(MediaLimitError::Extension { media_type: MediaType::Video, extension: "mov".into() })
    );
    assert_eq!(
        check_upload(MediaType::Image, "noext", 100),
        Err(MediaLimitError::Extension { media_type: MediaType::Image, extension: String::new() })
    );
    assert_eq!(check_upload(MediaType::File, "dir.v1/report", 20 * 1024 * 1024), Ok(()));
    assert_eq!(check_upload(MediaType::File, "", 100), Err(MediaLimitError::MissingFilename));
    assert_eq!(check_upload(MediaType::Image, "photos.png/", 100), Err(MediaLimitError::MissingFilename));
    let msg = check_upload(MediaType::Video, "clip.mov", 100).unwrap_err().to_string();
    assert!(msg.contains("mp4") && msg.contains("mov"), "{msg}");
}

#[test]
fn content_disposition_file_names() {
    let cases: &[(&str, Option<&str>)] = &[
        (r#"attachment; filename="MEDIA_ID.jpg""#, Some("MEDIA_ID.jpg")),
        ("attachment; filename=plain.amr", Some("plain.amr")),
        (r#"form-data; name="media";filename="wework.txt"; filelength=6"#, Some("wework.txt")),
        ("attachment; filename*=UTF-8''%E4%B8%AD.jpg", Some("中.jpg")),
        ("attachment; FILENAME*=utf-8'zh'%E4%B8%AD%E6%96%87.png", Some("中文.png")),
        (r#"attachment; filename="fallback.jpg"; filename*=UTF-8''%E4%B8%AD.jpg"#, Some("中.jpg")),
        (r#"attachment; filename*=UTF-8''%FF%FE.jpg; filename="fallback.jpg""#, Some("fallback.jpg")),
        ("attachment; filename*=ISO-8859-1''caf%E9.txt", Some("café.txt")),
        (r#"attachment; filename="a;b \"c\".txt""#, Some(r#"a;b "c".txt"#)),
        ("attachment; filename*=UTF-8''100%.txt", Some("100%.txt")),
        (r#"attachment; filename="""#, None),
        ("attachment", None),
        ("", None),
        ("filename*=UTF-8%E4", None),
        (r#"attachment; filename="unterminated"#, Some("unterminated")),
        ("inline; filename=\u{4e2d}.jpg", Some("中.jpg")),
    ];
    for (header, expected) in cases {
        assert_eq!(parse_content_disposition_filename(header).as_deref(), *expected, "{header}");
    }
}

#[test]
fn content_ranges() {
    let r = ContentRange::new;
    let cases: &[(&str, Option<ContentRange>)] = &[
        ("bytes 0-99/1000", r(0, 99, Some(1000))),
        ("  BYTES 900-999/1000 ", r(900, 999, Some(1000))),
        ("bytes 0-0/*", r(0, 0, None)),
        ("bytes */1000", None),
        ("bytes 100-99/1000", None),
        ("bytes 0-1000/1000", None),
        ("bytes 0-99", None),
        ("bytes=0-99/1000", None),
        ("bytes -1-99/1000", None),
        ("bytes 0-99/18446744073709551616", None),
        ("items 0-99/1000", None),
        ("bytes", None),
        ("", None),
        ("bytés 0-1/2", None),
        ("中文字符串", None),
    ];
    for (header, expected) in cases {
        assert_eq!(ContentRange::parse(header), *expected, "{header:?}");
    }
    let last = ContentRange::parse("bytes 900-999/1000").unwrap();
    assert_eq!((last.part_len(), last.is_last()), (100, Some(true)));
    assert_eq!(range_header_value(0, 20 * 1024 * 1024 - 1).as_deref(), Some("bytes=0-20971519"));
    assert_eq!(range_header_value(5, 5).as_deref(), Some("bytes=5-5"));
    assert_eq!(range_header_value(6, 5), None);
    assert_eq!(MEDIA_RANGE_CHUNK_BYTES, 20 * 1024 * 1024);
    assert!(is_error_content_type("application/json; charset=UTF-8"));
    assert!(is_error_content_type("text/plain"));
    assert!(!is_error_content_type("image/jpeg"));
}

#[test]
fn media_parsers_survive_arbitrary_input() {
    // Every byte pattern up to length 3 over a small alphabet of interesting characters.
    let alphabet =
        ["", "%", "'", "\"", ";", "=", "\\", "中", "bytes ", "-", "/", "*", "9", "filename", "filename*"];
    for a in alphabet {
        for b in alphabet {
            for c in alphabet {
                let s = format!("{a}{b}{c}");
                let _ = parse_content_disposition_filename(&s);
                if let Some(r) = ContentRange::parse(&s) {
                    assert!(r.start <= r.end);
                }
                let _ = check_upload(MediaType::Image, &s, 10);
            }
        }
    }
}
