//! Arbitrary bytes as a `sync_msg` response: never a panic, and a page that parses keeps every
//! item of its `msg_list` (one odd message never drops the others).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wxkf_types::message::SyncMsgResponse;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = serde_json::from_slice::<SyncMsgResponse>(data) else { return };
    if let Ok(raw) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Some(list) = raw.get("msg_list").and_then(|l| l.as_array()) {
            assert_eq!(page.msg_list.len(), list.len(), "every item is kept");
        }
    }
    // what parsed can be written back
    let _ = serde_json::to_vec(&page).expect("serializes");
});
