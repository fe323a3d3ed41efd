//! Callback plaintext tests (kf-api.md §12): the documented XML, its JSON twin, layout variations,
//! the Kf-component auth event, unrelated events, and malformed input that must be an error, never
//! a panic.

use wxkf_types::callback::{CallbackEvent, CallbackParseError, XmlErrorKind};

const TOKEN: &str = "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/callback/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(name: &str) -> CallbackEvent {
    CallbackEvent::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn documented() -> CallbackEvent {
    CallbackEvent::parse(&fixture("kf_msg_or_event.xml")).expect("the §12 example parses")
}

fn xml_kind(input: &str) -> XmlErrorKind {
    match CallbackEvent::parse(input) {
        Err(CallbackParseError::Xml { kind, .. }) => kind,
        other => panic!("{input:?}: expected an XML error, got {other:?}"),
    }
}

#[test]
fn documented_kf_msg_or_event() {
    let e = documented();
    let CallbackEvent::KfMsgOrEvent { to_user_name, create_time, token, open_kfid } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(to_user_name, "ww12345678910");
    assert_eq!(*create_time, 1348831860);
    assert_eq!(token, TOKEN);
    assert_eq!(open_kfid.as_deref(), Some("wkxxxxxxx"));
    assert_eq!(e.token(), Some(TOKEN));
    assert_eq!(e.open_kfid(), Some("wkxxxxxxx"));
    // The token is a short-lived sync_msg token, not a secret: Debug shows it.
    assert!(format!("{e:?}").contains(TOKEN));
}

#[test]
fn json_and_layout_variants_give_the_same_event() {
    let expected = documented();
    for name in ["kf_msg_or_event.json", "kf_msg_or_event.variant.xml"] {
        assert_eq!(parse(name), expected, "{name}");
    }
    let bytes = fixture("kf_msg_or_event.xml").into_bytes();
    assert_eq!(CallbackEvent::parse_bytes(&bytes).expect("bytes"), expected);
    // What we write reads back the same, as XML and as JSON.
    assert_eq!(CallbackEvent::parse(&expected.to_xml()).expect("own xml"), expected);
    assert_eq!(CallbackEvent::parse(&expected.to_json().to_string()).expect("own json"), expected);
    // Numbers as strings and self-closing empty elements are fine too.
    let e = CallbackEvent::parse(
        r#"{"ToUserName":"ww12345678910","CreateTime":"1348831860","MsgType":"event",
            "Event":"kf_msg_or_event","Token":"ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR","OpenKfId":"wkxxxxxxx"}"#,
    )
    .expect("string CreateTime");
    assert_eq!(e, expected);
}

#[test]
fn missing_open_kfid_is_tolerated() {
    let e = parse("kf_msg_or_event.no_open_kfid.xml");
    let CallbackEvent::KfMsgOrEvent { to_user_name, open_kfid, token, .. } = &e else { panic!("{e:?}") };
    assert_eq!(to_user_name, "wpKfComponentId");
    assert_eq!(token, TOKEN);
    assert_eq!(*open_kfid, None);
    let empty =
        CallbackEvent::parse("<xml><Event>kf_msg_or_event</Event><OpenKfId/></xml>").expect("empty id");
    assert_eq!(empty.open_kfid(), None);
    assert_eq!(empty.token(), None);
}

#[test]
fn kf_account_auth_change_with_repeated_elements() {
    let e = parse("kf_account_auth_change.xml");
    let CallbackEvent::KfAccountAuthChange {
        to_user_name,
        create_time,
        auth_add_open_kfid,
        auth_del_open_kfid,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((to_user_name.as_str(), *create_time), ("ww12345678910", 1348831860));
    assert_eq!(auth_add_open_kfid, &["wkADD1", "wkADD2"]);
    assert_eq!(auth_del_open_kfid, &["wkDEL1"]);
    assert_eq!(e.token(), None);
    // JSON form: repeated names as arrays.
    let json = e.to_json();
    assert_eq!(json["AuthAddOpenKfId"], serde_json::json!(["wkADD1", "wkADD2"]));
    assert_eq!(CallbackEvent::parse(&json.to_string()).expect("json"), e);
    assert_eq!(CallbackEvent::parse(&e.to_xml()).expect("xml"), e);
}

#[test]
fn unrelated_event_keeps_every_field() {
    let e = parse("change_contact.xml");
    let CallbackEvent::Other { msg_type, event, fields } = &e else { panic!("{e:?}") };
    assert_eq!(msg_type, "event");
    assert_eq!(event.as_deref(), Some("change_contact"));
    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("UserID"), Some("zhangsan"));
    assert_eq!(get("ChangeType"), Some("create_user"));
    assert_eq!(get("Name"), Some("张三 &amp; 李四"), "CDATA is verbatim");
    assert_eq!(get("Alias"), Some("a <b> 中文"), "references decoded");
    assert_eq!(get("ExtAttr"), Some("爱好旅游"), "nested text kept");
    let names: Vec<_> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "ToUserName",
            "FromUserName",
            "CreateTime",
            "MsgType",
            "Event",
            "ChangeType",
            "UserID",
            "Name",
            "Alias",
            "Department",
            "ExtAttr"
        ]
    );
    assert_eq!(CallbackEvent::parse(&e.to_xml()).expect("own xml"), e);

    let text = CallbackEvent::parse("<xml><MsgType>text</MsgType><Content>hi</Content></xml>").expect("text");
    assert!(matches!(&text, CallbackEvent::Other { msg_type, event: None, .. } if msg_type == "text"));
}

#[test]
fn cdata_with_terminator_survives_writing() {
    let e = CallbackEvent::parse("<xml><Event>x</Event><A><![CDATA[a]]]]><![CDATA[>b]]></A></xml>")
        .expect("split");
    let CallbackEvent::Other { fields, .. } = &e else { panic!("{e:?}") };
    assert_eq!(fields[1], ("A".to_owned(), "a]]>b".to_owned()));
    assert_eq!(CallbackEvent::parse(&e.to_xml()).expect("own xml"), e);
}

#[test]
fn malformed_input_is_an_error() {
    assert!(matches!(CallbackEvent::parse(""), Err(CallbackParseError::Empty)));
    assert!(matches!(CallbackEvent::parse(" \n\t "), Err(CallbackParseError::Empty)));
    assert!(matches!(CallbackEvent::parse("hello"), Err(CallbackParseError::UnrecognizedFormat)));
    assert!(matches!(CallbackEvent::parse("{\"a\":"), Err(CallbackParseError::Json(_))));
    assert!(matches!(CallbackEvent::parse("[1]"), Err(CallbackParseError::UnrecognizedFormat)));
    assert!(matches!(
        CallbackEvent::parse_bytes(&[0xff, 0xfe, 0x00, 0x3c]),
        Err(CallbackParseError::InvalidUtf8(_))
    ));
    assert!(matches!(
        CallbackEvent::parse("<xml><Event>kf_msg_or_event</Event><CreateTime>soon</CreateTime></xml>"),
        Err(CallbackParseError::InvalidField { name: "CreateTime", .. })
    ));

    use XmlErrorKind::*;
    let cases: &[(&str, XmlErrorKind)] = &[
        ("<xml><Token>abc</Token>", UnexpectedEof),
        ("<xml><Token>abc</Tok", UnexpectedEof),
        ("<xml><Token", UnexpectedEof),
        ("<!DOCTYPE xml [<!ENTITY x \"y\">]><xml><A>&x;</A></xml>", DeclarationNotAllowed),
        ("<xml><!ENTITY x \"y\"><A/></xml>", DeclarationNotAllowed),
        ("<!DOCTYPE><xml/>", DeclarationNotAllowed),
        ("<xml><A><![CDATA[never closed</A></xml>", UnclosedCdata),
        ("<xml><!-- never closed <A/></xml>", UnclosedComment),
        ("<?xml version='1.0'<xml/>", UnclosedProcessingInstruction),
        ("<xml><A>x</B></xml>", MismatchedTag { expected: "A".into(), found: "B".into() }),
        ("</xml>", UnexpectedClosingTag),
        ("<xml><A>&unknown;</A></xml>", InvalidReference),
        ("<xml><A>a & b</A></xml>", InvalidReference),
        ("<xml><A>&#0;</A></xml>", InvalidReference),
        ("<xml><1A>x</1A></xml>", InvalidName),
        ("<xml>< A>x</A></xml>", InvalidName),
        ("<xml><A <B>></A></xml>", InvalidName),
        ("<xml><A x=\"<\">v</A></xml>", InvalidName),
        ("<xml><A>&#X41;</A></xml>", InvalidReference),
        ("<xml></A></xml>", MismatchedTag { expected: "xml".into(), found: "A".into() }),
        ("<xml>&amp;<A/></xml>&amp;", ContentAfterRoot),
        ("\u{3000}<xml/>", TextOutsideRoot),
        ("<xml/>junk", ContentAfterRoot),
        ("<xml></xml><xml></xml>", ContentAfterRoot),
        ("<xml></xml><![CDATA[x]]>", ContentAfterRoot),
        ("<!-- only a comment -->", NoRootElement),
        ("<?xml version='1.0'?>", NoRootElement),
    ];
    for (input, kind) in cases {
        assert_eq!(&xml_kind(input), kind, "{input:?}");
    }
    // Comments, processing instructions and whitespace after the root are fine.
    assert!(CallbackEvent::parse("<xml><Event>e</Event></xml> <!-- c --> <?pi?>\n").is_ok());
    // The error says where and what.
    let err = CallbackEvent::parse("<xml><A>x</B></xml>").expect_err("mismatch");
    assert_eq!(err.to_string(), "callback XML at byte 9: closing tag </B> does not match <A>");
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    let depth = 100_000;
    let doc = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    assert_eq!(xml_kind(&doc), XmlErrorKind::TooDeep);
    let ok = format!("<xml><A>{}x{}</A></xml>", "<b>".repeat(20), "</b>".repeat(20));
    let e = CallbackEvent::parse(&ok).expect("moderate nesting");
    assert!(
        matches!(&e, CallbackEvent::Other { fields, .. } if fields == &[("A".to_owned(), "x".to_owned())])
    );
    // JSON nesting is bounded by serde_json's own recursion limit.
    let json = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    assert!(matches!(CallbackEvent::parse(&json), Err(CallbackParseError::Json(_))));
}

#[test]
fn binary_garbage_is_an_error() {
    // Deterministic pseudo-random bytes (xorshift), read lossily so they reach the XML reader.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..200 {
        let mut bytes = vec![b'<'];
        for _ in 0..(round * 7 % 300) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.push((state >> 24) as u8);
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = CallbackEvent::parse(&text);
        let _ = CallbackEvent::parse_bytes(&bytes);
    }
    assert!(CallbackEvent::parse("<\u{0}\u{1}\u{2}>").is_err());
    assert!(CallbackEvent::parse_bytes(b"\x00\x01\x02\x03").is_err());
}

/// Every prefix of valid documents is either an error or a complete parse — never a panic — and a
/// prefix that cuts the root element open is always an error.
#[test]
fn every_truncation_is_ok_or_err() {
    for name in
        ["kf_msg_or_event.xml", "kf_msg_or_event.variant.xml", "change_contact.xml", "kf_msg_or_event.json"]
    {
        let doc = fixture(name);
        let full = CallbackEvent::parse(&doc).expect("full document");
        let mut errors = 0;
        for (cut, _) in doc.char_indices() {
            match CallbackEvent::parse(&doc[..cut]) {
                Ok(e) => assert_eq!(e, full, "{name}: prefix of {cut} bytes parsed to something else"),
                Err(e) => {
                    errors += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        // Only prefixes that already hold the complete document (up to trailing whitespace) parse.
        let complete_from = doc.trim_end().len();
        assert_eq!(errors, doc[..complete_from].char_indices().count(), "{name}");
    }
}
