//! The customer's media through `media_url`, and the replies other than text: image, menu and
//! link, then the `end` action. The gateway runs as its own process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;
use support::{API_TOKEN, FILE, Hook, World, webhook_backend};

const KF: &str = "wkRICH";
const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_url_serves_the_customers_image_and_image_menu_link_replies_and_end_go_out() {
    let world = World::new("rich", &[KF]).await;
    let base: Arc<OnceLock<String>> = Arc::default();
    let hook = {
        let base = Arc::clone(&base);
        Hook::start(move |_, _| {
            let b = base.get().cloned().unwrap_or_default();
            let answer = json!({
                "replies": [
                    {"type": "image", "url": format!("{b}/files/pic.png")},
                    {"type": "menu", "head_content": "请评价", "list": [{"type": "click", "click": {"id": "1", "content": "满意"}}]},
                    {"type": "link", "title": "退货说明", "url": "https://example.com/returns", "thumb_url": format!("{b}/files/thumb.jpg")},
                    {"type": "text", "text": "感谢您的耐心"},
                ],
                "action": "end",
            });
            (200, answer.to_string(), Duration::ZERO)
        })
        .await
    };
    base.set(hook.base()).unwrap();
    let rest = format!("[conversation]\nturn_quiet_ms = 200\n{}", webhook_backend(&hook.url, 5));
    let config = world.config("gateway.toml", "", &rest);
    let gw = world.gateway(&config).await;

    let alice = world.sim.customer(KF, "wmALICE");
    let photo: &[u8] = b"\xff\xd8\xff\xe0 the customer's photo of the parcel";
    alice.send_image(photo.to_vec());
    let d = hook.wait_for_turns(1, WAIT).await;
    let msg = &d[0].json["messages"][0];
    assert_eq!(msg["msgtype"], "image");
    let url = msg["media_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/v1/media/", gw.url)), "{url}");

    let http = reqwest::Client::new();
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 401, "bearer-protected");
    for _ in 0..2 {
        let r = http.get(&url).bearer_auth(API_TOKEN).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), photo);
    }
    assert_eq!(world.sim.call_count("/cgi-bin/media/get"), 1, "fetched from WeCom once");

    let replies = alice.wait_for_replies(4, WAIT).await;
    let kinds: Vec<&str> = replies.iter().map(|r| r.msgtype.as_str()).collect();
    assert_eq!(kinds, ["image", "msgmenu", "link", "text"]);
    assert_eq!(replies[1].message["msgmenu"]["head_content"], "请评价");
    assert_eq!(replies[2].message["link"]["title"], "退货说明");
    assert_eq!(replies[3].text(), Some("感谢您的耐心"));
    let client = wxkf_client::Client::builder(world.sim.corp_id(), world.sim.secret())
        .base_url(world.sim.base_url())
        .build()
        .unwrap();
    let sent_image = replies[0].message["image"]["media_id"].as_str().unwrap();
    assert_eq!(
        client.media().get(sent_image).await.unwrap().bytes.as_ref(),
        FILE,
        "the webhook's image was uploaded"
    );
    let state = client
        .service_state()
        .get(wxkf_types::service_state::ServiceStateGetRequest::new(KF, "wmALICE"))
        .await
        .unwrap();
    assert_eq!(u32::from(state.service_state), 4, "the end action ended the session");
}
