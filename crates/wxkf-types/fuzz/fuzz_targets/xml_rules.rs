//! One XML text through both XML readers of the workspace — `wxkf-crypto`'s envelope tokenizer and
//! this crate's quick-xml callback reader — which must apply the same rules: what one refuses as
//! XML the other refuses too (the envelope may stop earlier, at a missing or repeated field), and a
//! value both read is the same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wxkf_crypto::{Envelope, Error};
use wxkf_types::callback::{CallbackEvent, CallbackParseError};

/// Refusals of the envelope that are about its fields, not about the XML.
const ENVELOPE_ONLY: [&str; 2] = ["it has no Encrypt element or key", "an element appears twice"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // XML only: the two JSON readers differ by design (the envelope's keys are case-insensitive)
    if !text.strip_prefix('\u{feff}').unwrap_or(text).trim_start().starts_with('<') {
        return;
    }
    let envelope = Envelope::parse(data);
    let callback = CallbackEvent::parse(text);
    // a refusal about the envelope's fields may come before the XML would have been refused
    let envelope_refused_xml =
        matches!(&envelope, Err(Error::InvalidEnvelope { reason }) if !ENVELOPE_ONLY.contains(reason));
    let callback_refused_xml = matches!(&callback, Err(CallbackParseError::Xml { .. }));
    assert!(
        !(envelope.is_ok() && callback_refused_xml) && !(envelope_refused_xml && !callback_refused_xml),
        "the readers disagree: envelope {envelope:?}, callback {callback:?}"
    );
    if let (Ok(envelope), Ok(CallbackEvent::Other { fields, .. })) = (&envelope, &callback) {
        let encrypt = fields.iter().find(|(name, _)| name == "Encrypt").map(|(_, v)| v.trim());
        assert_eq!(encrypt, Some(&*envelope.encrypt), "the readers read different text");
    }
});
