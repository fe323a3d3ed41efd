//! Fixture tests for the message area (kf-api.md §5, Appendix A.1/A.2): every fixture parses, the
//! fields that matter have the expected values, and serializing gives back equal JSON.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use wxkf_types::message::*;
use wxkf_types::{ApiResponse, EmptyResponse, Endpoint, Method, RequestBody};

const KF: &str = "wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q";
const WM: &str = "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/message/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse<T: DeserializeOwned>(name: &str) -> (T, Value) {
    let json = fixture(name);
    let value = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    (value, json)
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("serializes")
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.iter().any(has_null),
        Value::Object(o) => o.values().any(has_null),
        _ => false,
    }
}

/// A request fixture: parses, round-trips to equal JSON, and contains no `null`.
fn request<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let (req, json): (T, Value) = parse(name);
    let back = to_json(&req);
    assert_eq!(back, json, "{name} round trip");
    assert!(!has_null(&back), "{name} serializes a null");
    req
}

/// A response fixture, round-tripped as a whole body through `ApiResponse<T>`.
fn response<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let (resp, json): (ApiResponse<T>, Value) = parse(name);
    assert!(resp.status.is_ok(), "{name}");
    assert_eq!(to_json(&resp), json, "{name} round trip");
    resp.body
}

#[test]
fn endpoint_metadata() {
    assert_eq!(SyncMsgRequest::PATH, "/cgi-bin/kf/sync_msg");
    assert_eq!(SendMsgRequest::PATH, "/cgi-bin/kf/send_msg");
    assert_eq!(SendMsgOnEventRequest::PATH, "/cgi-bin/kf/send_msg_on_event");
    assert_eq!(RecallMsgRequest::PATH, "/cgi-bin/kf/recall_msg");
    assert_eq!(SyncMsgRequest::METHOD, Method::Post);
    assert_eq!(SendMsgRequest::REQUEST_BODY, RequestBody::Json);
    let idempotent = [
        SyncMsgRequest::IDEMPOTENT,
        SendMsgRequest::IDEMPOTENT,
        SendMsgOnEventRequest::IDEMPOTENT,
        RecallMsgRequest::IDEMPOTENT,
    ];
    assert_eq!(idempotent, [true, false, false, true]);
}

#[test]
fn sync_msg_request() {
    let req: SyncMsgRequest = request("sync_msg.request.json");
    assert_eq!(req.cursor.as_deref(), Some("4gw7MepFLfgF2VC5npN"));
    assert_eq!(req.token.as_deref(), Some("ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"));
    assert_eq!(req.limit, Some(1000));
    assert_eq!(req.voice_format, Some(VoiceFormat::Amr));
    assert_eq!(req.open_kfid, KF);
    let built = SyncMsgRequest::new(KF)
        .with_cursor("4gw7MepFLfgF2VC5npN")
        .with_token("ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR")
        .with_limit(1000)
        .with_voice_format(VoiceFormat::Amr);
    assert_eq!(built, req);
    assert_eq!(to_json(&SyncMsgRequest::new(KF).with_token("")), json!({"open_kfid": KF}));
}

#[test]
fn sync_msg_response_appendix_a1() {
    let page: SyncMsgResponse = response("sync_msg.response.json");
    assert_eq!(page.next_cursor, "4gw7MepFLfgF2VC5npN");
    assert!(page.has_more);
    let m = &page.msg_list;
    assert_eq!(m.len(), 15);

    assert_eq!(m[0].msgid, "from_msgid_4622416642169452483");
    assert_eq!(m[0].origin, Origin::Customer);
    assert_eq!(m[0].send_time, 1615478585);
    assert_eq!(m[0].open_kfid(), Some(KF));
    assert!(
        matches!(&m[0].content, MessageContent::Text(t) if t.content == "hello" && t.menu_id.as_deref() == Some("101"))
    );

    assert_eq!(m[1].origin, Origin::Servicer);
    assert_eq!(m[1].servicer_userid.as_deref(), Some("Zhangsan"));
    assert!(matches!(&m[1].content, MessageContent::Image(i) if i.media_id == "MEDIA_ID"));

    // Event items have no top-level ids; the accessors fall back to the event's.
    assert_eq!(m[2].origin, Origin::Event);
    assert_eq!(m[2].open_kfid, None);
    assert_eq!(m[2].open_kfid(), Some(KF));
    assert_eq!(m[2].external_userid(), Some(WM));
    let Some(Event::EnterSession(e)) = m[2].event() else { panic!("{:?}", m[2]) };
    assert_eq!((e.scene.as_str(), e.scene_param.as_str()), ("123", "abc"));
    assert_eq!(e.welcome_code.as_deref(), Some("aaaaaa"));
    let ch = e.wechat_channels.as_ref().expect("wechat_channels");
    assert_eq!(ch.nickname.as_deref(), Some("NICKNAME"));
    assert_eq!(ch.scene, Some(ChannelsScene::HomePage));

    let Some(Event::MsgSendFail(f)) = m[3].event() else { panic!("{:?}", m[3]) };
    assert_eq!((f.fail_msgid.as_str(), f.fail_type), ("FAIL_MSGID", FailType::SessionExpired));

    let Some(Event::SessionStatusChange(s)) = m[4].event() else { panic!("{:?}", m[4]) };
    assert_eq!(s.change_type, ChangeType::TakenFromPool);
    assert_eq!(s.new_servicer_userid.as_deref(), Some("NEW_USERID"));
    assert_eq!(s.old_servicer_userid, None);
    assert_eq!(s.msg_code.as_deref(), Some("MSG_CODE"));

    let Some(Event::ServicerStatusChange(s)) = m[5].event() else { panic!("{:?}", m[5]) };
    assert_eq!(s.status, ServicerEventStatus::Stopped);
    assert_eq!(s.stop_type, Some(StopType::Suspended));
    assert_eq!(m[5].external_userid(), None);

    let Some(Event::UserRecallMsg(r)) = m[6].event() else { panic!("{:?}", m[6]) };
    assert_eq!(r.recall_msgid, "RECALL_MSGID");
    let Some(Event::ServicerRecallMsg(r)) = m[7].event() else { panic!("{:?}", m[7]) };
    assert_eq!(r.servicer_userid, "SERVICER_USERID");
    let Some(Event::RejectCustomerMsgSwitchChange(r)) = m[8].event() else { panic!("{:?}", m[8]) };
    assert!(r.reject_switch);

    let MessageContent::ChannelsShopProduct(p) = &m[9].content else { panic!("{:?}", m[9]) };
    assert_eq!(p.head_img, "PRODUCT_IMANGE_URL");
    assert_eq!(p.shop_head_img, "SHOP_HEAD_IMG");
    assert_eq!(p.sales_price, Some(SalesPrice::Text("SALES_PRICE".into())));
    assert_eq!(p.sales_price.as_ref().and_then(SalesPrice::fen), None);

    let MessageContent::ChannelsShopOrder(o) = &m[10].content else { panic!("{:?}", m[10]) };
    assert_eq!((o.order_id.as_str(), o.product_titles.as_str()), ("ORDER_ID", "PRODUCT_TITLES"));

    let MessageContent::Channels(c) = &m[11].content else { panic!("{:?}", m[11]) };
    assert_eq!(c.sub_type, ChannelsSubType::Post);
    assert_eq!(c.title.as_deref(), Some("动态标题"));

    let MessageContent::MergedMsg(mm) = &m[12].content else { panic!("{:?}", m[12]) };
    assert_eq!(mm.item.len(), 1);
    assert_eq!(mm.item[0].send_time, 1665649618);
    assert!(matches!(mm.item[0].parse_content(), MessageContent::Text(t) if t.content == "消息内容"));

    let MessageContent::Location(l) = &m[13].content else { panic!("{:?}", m[13]) };
    assert_eq!((l.latitude, l.longitude), (23.106021881103501, 113.320503234863));
    assert_eq!(l.address.as_deref(), Some("ADDRESS"));

    let MessageContent::Unknown { msgtype, raw } = &m[14].content else { panic!("{:?}", m[14]) };
    assert_eq!(msgtype, "some_future_type");
    assert_eq!(raw["some_future_type"], json!({"x": 1}));
    assert_eq!(m[14].msgid, "from_msgid_15");
}

/// One page with every received msgtype, every event type, an unknown msgtype, an unknown
/// event_type and one malformed item. `meeting`/`schedule` payload fields are ours (the reference
/// does not know them); they must be kept raw. The whole page, malformed item included, round-trips
/// exactly, because a malformed item is written back as it came.
#[test]
fn sync_msg_response_every_kind() {
    let page: SyncMsgResponse = response("sync_msg.response.all.json");
    assert!(!page.has_more);
    assert_eq!(page.next_cursor, "NEXT_CURSOR_ALL");
    let by_id = |id: &str| -> &Message {
        page.msg_list.iter().find(|m| m.msgid == id).unwrap_or_else(|| panic!("no item {id}"))
    };
    // 17 msgtypes, 7 events + 1 unknown event, 1 unknown msgtype, 1 malformed, 1 text after it.
    assert_eq!(page.msg_list.len(), 28);
    // Everything but the one malformed item parsed, in order.
    let malformed: Vec<_> =
        page.msg_list.iter().filter(|m| m.content.is_malformed()).map(|m| &m.msgid).collect();
    assert_eq!(malformed, ["msg_malformed"]);
    assert!(page.msg_list.iter().all(|m| m.open_kfid() == Some(KF)));

    let MessageContent::Text(t) = &by_id("msg_text").content else { panic!() };
    assert_eq!((t.content.as_str(), t.menu_id.as_deref()), ("你好 hello", Some("101")));
    let m = by_id("msg_image");
    assert_eq!((m.origin, m.servicer_userid.as_deref()), (Origin::Servicer, Some("zhangsan")));
    assert!(matches!(&m.content, MessageContent::Image(i) if i.media_id == "IMAGE_MEDIA_ID"));
    assert!(
        matches!(&by_id("msg_voice").content, MessageContent::Voice(i) if i.media_id == "VOICE_MEDIA_ID")
    );
    assert!(
        matches!(&by_id("msg_video").content, MessageContent::Video(i) if i.media_id == "VIDEO_MEDIA_ID")
    );
    assert!(matches!(&by_id("msg_file").content, MessageContent::File(i) if i.media_id == "FILE_MEDIA_ID"));

    let MessageContent::Location(l) = &by_id("msg_location").content else { panic!() };
    assert_eq!(l.name, "广州塔");
    assert!((l.latitude - 23.106).abs() < 1e-3 && (l.longitude - 113.3205).abs() < 1e-3);

    let MessageContent::Link(l) = &by_id("msg_link").content else { panic!() };
    assert_eq!((l.title.as_str(), l.desc.as_str()), ("TITLE", "DESC"));
    assert_eq!(
        (l.url.as_str(), l.pic_url.as_str()),
        ("https://work.weixin.qq.com", "https://example.com/pic.png")
    );

    assert!(
        matches!(&by_id("msg_business_card").content, MessageContent::BusinessCard(c) if c.userid == "lisi")
    );

    let MessageContent::Miniprogram(p) = &by_id("msg_miniprogram").content else { panic!() };
    assert_eq!((p.appid.as_str(), p.pagepath.as_str()), ("wx123123123123123", "pages/index"));
    assert_eq!((p.title.as_str(), p.thumb_media_id.as_str()), ("TITLE", "THUMB_MEDIA_ID"));

    let MessageContent::Msgmenu(menu) = &by_id("msg_msgmenu").content else { panic!() };
    assert_eq!(menu.head_content.as_deref(), Some("您对本次服务是否满意呢?"));
    assert_eq!(menu.tail_content.as_deref(), Some("欢迎再次光临"));
    let types: Vec<_> = menu.list.iter().map(MenuItem::item_type).collect();
    assert_eq!(types, ["click", "view", "miniprogram", "text"]);
    assert!(matches!(&menu.list[0], MenuItem::Click(c) if c.id == "101" && c.content == "满意"));
    assert!(matches!(&menu.list[1], MenuItem::View(v) if v.url == "https://work.weixin.qq.com"));
    assert!(matches!(&menu.list[2], MenuItem::Miniprogram(v) if v.appid == "wx123123123123123"));
    assert!(matches!(&menu.list[3], MenuItem::Text(v) if v.no_newline == Some(true)));

    let MessageContent::ChannelsShopProduct(p) = &by_id("msg_channels_shop_product").content else {
        panic!()
    };
    assert_eq!(p.sales_price.as_ref().and_then(SalesPrice::fen), Some(1990));
    assert_eq!((p.product_id.as_str(), p.shop_nickname.as_str()), ("PRODUCT_ID", "SHOP_NICKNAME"));

    let MessageContent::ChannelsShopOrder(o) = &by_id("msg_channels_shop_order").content else { panic!() };
    assert_eq!((o.price_wording.as_str(), o.state.as_str()), ("¥19.90", "已发货"));
    assert_eq!(o.image_url, "IMAGE_URL");

    let MessageContent::MergedMsg(mm) = &by_id("msg_merged_msg").content else { panic!() };
    assert_eq!(mm.title, "群聊的聊天记录");
    assert_eq!(mm.item[1].sender_name, "发送者");
    assert!(matches!(mm.item[1].parse_content(), MessageContent::Image(i) if i.media_id == "INNER_MEDIA_ID"));

    let MessageContent::Channels(c) = &by_id("msg_channels").content else { panic!() };
    assert_eq!(
        (c.sub_type, c.nickname.as_str(), c.title.as_deref()),
        (ChannelsSubType::Live, "视频号名称", None)
    );

    assert_eq!(
        by_id("msg_meeting").content,
        MessageContent::Meeting(Some(json!({"meetingid": "MEETING_ID"})))
    );
    assert_eq!(
        by_id("msg_schedule").content,
        MessageContent::Schedule(Some(json!({"schedule_id": "SCHEDULE_ID"})))
    );
    assert_eq!(by_id("msg_note").content, MessageContent::Note(None));

    let Some(Event::EnterSession(e)) = by_id("event_enter_session").event() else { panic!() };
    assert_eq!(e.welcome_code.as_deref(), Some("WELCOME_CODE"));
    let ch = e.wechat_channels.as_ref().expect("wechat_channels");
    assert_eq!(
        (ch.shop_nickname.as_deref(), ch.scene),
        (Some("SHOP_NICKNAME"), Some(ChannelsScene::ShopProductDetail))
    );
    let Some(Event::MsgSendFail(f)) = by_id("event_msg_send_fail").event() else { panic!() };
    assert_eq!(f.fail_type, FailType::CustomerRefused);
    let Some(Event::ServicerStatusChange(s)) = by_id("event_servicer_status_change").event() else {
        panic!()
    };
    assert_eq!(
        (s.status, s.stop_type, s.servicer_userid.as_str()),
        (ServicerEventStatus::Receiving, None, "zhangsan")
    );
    let Some(Event::SessionStatusChange(s)) = by_id("event_session_status_change").event() else { panic!() };
    assert_eq!(s.change_type, ChangeType::Ended);
    assert_eq!(
        (s.old_servicer_userid.as_deref(), s.new_servicer_userid.as_deref()),
        (Some("OLD_USERID"), None)
    );
    let Some(Event::UserRecallMsg(r)) = by_id("event_user_recall_msg").event() else { panic!() };
    assert_eq!(r.recall_msgid, "RECALL_MSGID");
    let Some(Event::ServicerRecallMsg(r)) = by_id("event_servicer_recall_msg").event() else { panic!() };
    assert_eq!((r.recall_msgid.as_str(), r.servicer_userid.as_str()), ("RECALL_MSGID_2", "zhangsan"));
    let m = by_id("event_reject_customer_msg_switch_change");
    let Some(Event::RejectCustomerMsgSwitchChange(r)) = m.event() else { panic!() };
    assert!(!r.reject_switch);
    assert_eq!(m.external_userid(), Some(WM));

    let m = by_id("event_some_future_event");
    let Some(Event::Unknown { event_type, raw }) = m.event() else { panic!("{m:?}") };
    assert_eq!(event_type, "some_future_event");
    assert_eq!(raw["detail"], json!({"k": [1, 2]}));
    assert_eq!(m.external_userid(), Some(WM));

    let MessageContent::Unknown { msgtype, raw } = &by_id("msg_some_future_type").content else { panic!() };
    assert_eq!(msgtype, "some_future_type");
    assert_eq!(raw["some_future_type"], json!({"x": 1, "y": "z"}));

    let m = by_id("msg_malformed");
    let MessageContent::Malformed { msgtype, raw, error } = &m.content else { panic!("{m:?}") };
    assert_eq!(msgtype, "text");
    assert_eq!(raw["text"], json!({"content": 5}));
    assert!(error.starts_with("text:"), "{error}");
    // Common fields of the malformed item are still read, so the caller can log or skip it.
    assert_eq!((m.origin, m.open_kfid.as_deref()), (Origin::Customer, Some(KF)));

    let last = page.msg_list.last().expect("non-empty");
    assert!(matches!(&last.content, MessageContent::Text(t) if t.content == "after the malformed one"));
}

/// The DISAGREEMENT alternatives of §5.2 and lenient common fields. These do not round-trip to the
/// same JSON on purpose: they are written back in the official form.
#[test]
fn sync_msg_response_alternative_spellings() {
    let (resp, _): (ApiResponse<SyncMsgResponse>, Value) = parse("sync_msg.response.alt.json");
    let page = resp.body;
    assert!(page.has_more);
    assert!(page.msg_list.iter().all(|m| !m.content.is_malformed()), "{:?}", page.msg_list);

    let m = &page.msg_list[0];
    assert_eq!((m.msgid.as_str(), m.send_time, m.origin), ("12345", 1615478594, Origin::Customer));
    let MessageContent::ChannelsShopProduct(p) = &m.content else { panic!("{m:?}") };
    assert_eq!((p.head_img.as_str(), p.shop_head_img.as_str()), ("PRODUCT_IMAGE_URL", "SHOP_HEAD_IMAGE"));
    assert_eq!(p.sales_price.as_ref().and_then(SalesPrice::fen), Some(1990));
    let out = to_json(m);
    assert_eq!(out["channels_shop_product"]["head_img"], "PRODUCT_IMAGE_URL");
    assert_eq!(out["channels_shop_product"]["shop_head_img"], "SHOP_HEAD_IMAGE");
    assert_eq!(out["channels_shop_product"]["sales_price"], json!(1990), "number form kept");
    assert_eq!((out["msgid"].clone(), out["send_time"].clone()), (json!("12345"), json!(1615478594)));

    let MessageContent::ChannelsShopOrder(o) = &page.msg_list[1].content else { panic!() };
    assert_eq!(o.product_titles, "A,B");
    let MessageContent::MergedMsg(mm) = &page.msg_list[2].content else { panic!() };
    assert_eq!(mm.item[0].send_time, 1665649618);
    let Some(Event::SessionStatusChange(s)) = page.msg_list[3].event() else { panic!() };
    assert_eq!(s.change_type, ChangeType::Transferred);
    assert_eq!((s.old_servicer_userid.as_deref(), s.new_servicer_userid.as_deref()), (Some("A"), Some("B")));
    let MessageContent::Location(l) = &page.msg_list[4].content else { panic!() };
    assert_eq!((l.latitude, l.longitude), (23.5, 113.0));
    assert_eq!(to_json(&page.msg_list[4])["location"]["longitude"], json!(113));
}

#[test]
fn one_bad_item_never_fails_the_page() {
    let page: SyncMsgResponse = serde_json::from_value(json!({
        "next_cursor": "C", "has_more": 1,
        "msg_list": [
            7, "x", null, [], {},
            {"msgid": "a", "msgtype": "image", "image": "not an object"},
            {"msgid": "b", "msgtype": "image"},
            {"msgid": "c", "msgtype": 3},
            {"msgid": "d", "origin": "five", "msgtype": "text", "text": {"content": "x"}},
            {"msgid": "e", "origin": 4, "msgtype": "event", "event": {"event_type": "msg_send_fail", "fail_type": "x"}},
            {"msgid": "f", "origin": 4, "msgtype": "event", "event": {"no_type": 1}},
            {"msgid": "g", "msgtype": "location", "location": {"latitude": "north"}},
            {"msgid": "h", "msgtype": "channels", "channels": {"nickname": "no sub_type"}},
            {"msgid": "ok", "send_time": "1700000000", "origin": "3", "msgtype": "text", "text": {"content": "fine"}, "extra": 1}
        ]
    }))
    .expect("a page never fails on its items");
    assert_eq!(page.msg_list.len(), 14);
    let (bad, good): (Vec<_>, Vec<_>) = page.msg_list.iter().partition(|m| m.content.is_malformed());
    assert_eq!(bad.len(), 13);
    assert_eq!(good.len(), 1);
    assert_eq!(good[0].send_time, 1700000000);
    assert_eq!(good[0].origin, Origin::Customer);
    // Every malformed item is written back exactly as it came.
    let back = to_json(&page);
    assert_eq!(back["msg_list"][0], json!(7));
    assert_eq!(back["msg_list"][5], json!({"msgid": "a", "msgtype": "image", "image": "not an object"}));
    for m in &bad {
        let MessageContent::Malformed { error, .. } = &m.content else { unreachable!() };
        assert!(!error.is_empty());
    }

    let empty: SyncMsgResponse =
        serde_json::from_str(r#"{"next_cursor":"","has_more":0,"msg_list":null}"#).expect("null list");
    assert!(empty.msg_list.is_empty());
    let bare: SyncMsgResponse = serde_json::from_str("{}").expect("all defaults");
    assert_eq!(bare, SyncMsgResponse::default());
}

#[test]
fn send_msg_requests_appendix_a2() {
    let req: SendMsgRequest = request("send_msg.request.json");
    assert_eq!((req.touser.as_str(), req.open_kfid.as_str()), ("EXTERNAL_USERID", "OPEN_KFID"));
    assert_eq!(req.msgid.as_deref(), Some("MSGID"));
    let text = "你购买的物品已发货，可点击链接查看物流状态http://work.weixin.qq.com/xxxxxx";
    assert_eq!(req, SendMsgRequest::text("EXTERNAL_USERID", "OPEN_KFID", text).with_msgid("MSGID"));

    let req: SendMsgRequest = request("send_msg.request.link.json");
    let link = SendLink::new("企业如何增长？企业微信给出3个答案", "URL", "MEDIA_ID")
        .with_desc("今年中秋节公司有豪礼相送");
    assert_eq!(req, SendMsgRequest::link("EXTERNAL_USERID", "OPEN_KFID", link));
    assert_eq!(req.msgid, None);

    let req: SendMsgRequest = request("send_msg.request.miniprogram.json");
    let card = MiniprogramContent::new("APPID", "欢迎报名夏令营", "MEDIA_ID", "PAGE_PATH");
    assert_eq!(req, SendMsgRequest::miniprogram("EXTERNAL_USERID", "OPEN_KFID", card));

    let req: SendMsgRequest = request("send_msg.request.msgmenu.json");
    let menu = MsgMenu::builder()
        .head_content("您对本次服务是否满意呢? ")
        .click("101", "满意")
        .click("102", "不满意")
        .view("https://work.weixin.qq.com", "点击跳转到自助查询页面")
        .miniprogram(
            "wx123123123123123",
            "pages/index?userid=zhangsan&orderid=123123123",
            "点击打开小程序查询更多",
        )
        .item(MenuText::new("纯文本，支持\n换行").with_no_newline(false))
        .tail_content("欢迎再次光临")
        .build();
    assert_eq!(req, SendMsgRequest::menu("EXTERNAL_USERID", "OPEN_KFID", menu));

    let req: SendMsgRequest = request("send_msg.request.location.json");
    let place = LocationContent::new("测试小区", 0.0, 0.0).with_address("实例小区，不真实存在，经纬度无意义");
    assert_eq!(req, SendMsgRequest::location("EXTERNAL_USERID", "OPEN_KFID", place));

    let req: SendMsgRequest = request("send_msg.request.business_card.json");
    assert_eq!(req, SendMsgRequest::business_card("EXTERNAL_USERID", "OPEN_KFID", "USERID"));

    let req: SendMsgRequest = request("send_msg.request.ca_link.json");
    assert_eq!(
        req,
        SendMsgRequest::ca_link("EXTERNAL_USERID", "OPEN_KFID", "https://work.weixin.qq.com/ca/xxxxxx")
    );
    assert_eq!(req.message.msgtype(), "ca_link");
}

#[test]
fn send_msg_media_constructors() {
    for (req, t) in [
        (SendMsgRequest::image("wm", "wk", "M"), "image"),
        (SendMsgRequest::voice("wm", "wk", "M"), "voice"),
        (SendMsgRequest::video("wm", "wk", "M"), "video"),
        (SendMsgRequest::file("wm", "wk", "M"), "file"),
    ] {
        let json = to_json(&req);
        assert_eq!(json, json!({"touser": "wm", "open_kfid": "wk", "msgtype": t, t: {"media_id": "M"}}));
        assert_eq!(serde_json::from_value::<SendMsgRequest>(json).ok(), Some(req));
    }
}

#[test]
fn send_msg_and_on_event_responses() {
    let r: SendMsgResponse = response("send_msg.response.json");
    assert_eq!(r.msgid, "MSG_ID");
    let r: SendMsgOnEventResponse = response("send_msg_on_event.response.json");
    assert_eq!(r.msgid, "MSG_ID");
    let _: EmptyResponse = response("recall_msg.response.json");
}

#[test]
fn send_msg_on_event_requests() {
    let req: SendMsgOnEventRequest = request("send_msg_on_event.request.json");
    assert_eq!(req, SendMsgOnEventRequest::text("WELCOME_CODE", "您好，欢迎咨询").with_msgid("MSG_ID"));

    let req: SendMsgOnEventRequest = request("send_msg_on_event.request.msgmenu.json");
    assert_eq!(req.code, "MSG_CODE");
    let menu = MsgMenu::builder()
        .head_content("您对本次服务是否满意呢? ")
        .click("101", "满意")
        .click("102", "不满意")
        .tail_content("欢迎再次光临")
        .build();
    assert_eq!(req, SendMsgOnEventRequest::menu("MSG_CODE", menu));
    assert_eq!(SendMessage::from(req.message).msgtype(), "msgmenu");

    let other = json!({"code": "C", "msgtype": "image", "image": {"media_id": "M"}});
    assert!(serde_json::from_value::<SendMsgOnEventRequest>(other).is_err());
}

#[test]
fn recall_msg_request() {
    let req: RecallMsgRequest = request("recall_msg.request.json");
    assert_eq!(req, RecallMsgRequest::new(KF, "MSG_ID"));
}

#[test]
fn received_message_serializes_in_wecom_layout() {
    let msg = Message::new("m1", 1615478585, Origin::Customer, MessageContent::Text(TextContent::new("hi")))
        .with_conversation("wk", "wm");
    assert_eq!(
        to_json(&msg),
        json!({"msgid": "m1", "open_kfid": "wk", "external_userid": "wm", "send_time": 1615478585,
               "origin": 3, "msgtype": "text", "text": {"content": "hi"}})
    );
    let content = MessageContent::from_value(json!({"msgtype": "file", "file": {"media_id": "F"}}));
    assert_eq!(content, MessageContent::File(MediaContent::new("F")));
    assert_eq!(to_json(&content), json!({"msgtype": "file", "file": {"media_id": "F"}}));
}
