//! Arbitrary header values for the media download parsers: never a panic, and a parsed range is
//! consistent.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wxkf_types::media::{ContentRange, parse_content_disposition_filename};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_content_disposition_filename(text);
    if let Some(r) = ContentRange::parse(text) {
        let _ = r.part_len();
    }
});
