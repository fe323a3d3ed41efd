//! Arbitrary text as a decrypted callback body: `CallbackEvent::parse` never panics, and whatever
//! parses as a Kf event is written back and parsed again to the same event.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wxkf_types::callback::CallbackEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(event @ CallbackEvent::KfMsgOrEvent { .. }) = CallbackEvent::parse(text) {
        let again = CallbackEvent::parse(&event.to_xml()).expect("our own XML parses");
        assert_eq!(again, event);
    }
});
