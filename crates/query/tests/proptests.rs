//! Property tests: nothing network-facing may panic, and decoding/signing
//! round-trip.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use query::sigv4::{self, Credential, RequestParts, SigV4Error, SignatureInfo};
use query::{Params, XmlWriter, xml};

/// Keys shaped like Query parameters (`A.1.B`, `A.member.2`, …) plus noise, so
/// the structural accessors see both valid and invalid indexes.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-C]{1,2}(\\.(member|[0-9]{1,3}|0[0-9]|[A-C]{1,2}|)){0,4}",
        "[A-C.]{0,8}",
        any::<String>(),
    ]
}

fn params() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(key(), any::<String>(), 0..24)
}

/// Exercise every accessor on `p` for `name`, recursing into structures.
fn exercise(p: &Params, name: &str, depth: u32) {
    let _ = p.get(name);
    let _ = p.contains(name);
    let _ = p.required(name);
    let _ = p.bool(name);
    let _ = p.int(name);
    if let Ok(items) = p.list(name) {
        assert!(items.len() <= p.len());
    }
    if let Ok(items) = p.member_list(name) {
        assert!(items.len() <= p.len());
    }
    let nested = p.nested(name);
    assert!(nested.len() <= p.len());
    if depth == 0 {
        return;
    }
    for structs in [p.structs(name), p.member_structs(name)]
        .into_iter()
        .flatten()
    {
        assert!(structs.len() <= p.len());
        for s in &structs {
            assert!(!s.is_empty());
            for inner in ["A", "B", "C", "member", ""] {
                exercise(s, inner, depth - 1);
            }
        }
    }
    for inner in ["A", "B", "C", ""] {
        exercise(&nested, inner, depth - 1);
    }
}

fn encode(map: &BTreeMap<String, String>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in map {
        out.append_pair(k, v);
    }
    out.finish()
}

proptest! {
    #[test]
    fn parse_form_never_panics(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Params::parse_form(&body);
    }

    #[test]
    fn parse_form_never_panics_on_formish_text(body in "[A-Za-z0-9.=&%+ ]{0,64}") {
        if let Ok(p) = Params::parse_form(body.as_bytes()) {
            for key in p.keys() {
                prop_assert!(!key.is_empty());
            }
        }
    }

    #[test]
    fn accessors_never_panic(map in params(), extra in any::<String>()) {
        let p = Params::from_pairs(map.clone());
        let mut names: Vec<String> = vec!["A".into(), "B".into(), "C".into(), extra];
        // Every dotted prefix of every key is a plausible list/struct name.
        for k in map.keys() {
            for (i, c) in k.char_indices() {
                if c == '.' {
                    names.push(k[..i].to_owned());
                }
            }
        }
        for name in &names {
            exercise(&p, name, 2);
        }
        let _ = p.keys().count();
        let mut merged = p.clone();
        merged.merge(Params::from_pairs(map));
        prop_assert_eq!(merged, p);
    }

    #[test]
    fn form_round_trip(map in prop::collection::btree_map(".+", any::<String>(), 0..16)) {
        let parsed = Params::parse_form(encode(&map).as_bytes()).unwrap();
        prop_assert_eq!(parsed, Params::from_pairs(map));
    }

    #[test]
    fn list_returns_values_in_index_order(values in prop::collection::btree_map(1u32..1000, "[a-z]{0,4}", 0..16)) {
        let p = Params::from_pairs(values.iter().map(|(i, v)| (format!("N.{i}"), v.clone())));
        let expected: Vec<&str> = values.values().map(String::as_str).collect();
        prop_assert_eq!(p.list("N").unwrap(), expected.clone());
        let m = Params::from_pairs(values.iter().map(|(i, v)| (format!("N.member.{i}"), v.clone())));
        prop_assert_eq!(m.member_list("N").unwrap(), expected);
    }

    #[test]
    fn xml_text_never_breaks_markup(text in any::<String>()) {
        let mut w = XmlWriter::new();
        w.elem("t", &text);
        let s = w.into_string();
        let inner = &s[3..s.len() - 4];
        prop_assert!(!inner.contains('<') && !inner.contains('>'));
        prop_assert_eq!(xml::escape(&text), inner);
    }
}

// === SigV4 ===

fn header_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("Authorization".to_owned()),
        Just("X-Amz-Date".to_owned()),
        Just("Date".to_owned()),
        Just("Host".to_owned()),
        Just("X-Amz-Content-SHA256".to_owned()),
        any::<String>(),
    ];
    let value = prop_oneof![
        any::<String>(),
        "AWS4-HMAC-SHA256 (Credential|SignedHeaders|Signature)=[A-Za-z0-9/;,= _-]{0,60}",
        "AWS4-HMAC-SHA256 Credential=[A-Z]{1,4}/2015083[0-9]/[a-z-]{0,9}/[a-z]{0,4}/aws4_request, \
         SignedHeaders=host(;[a-z-]{1,6}){0,2}, Signature=[0-9a-f]{0,64}",
        "2015[0-9]{4}T[0-9]{6}Z",
        "[A-Za-z]{3}, [0-9]{1,2} [A-Za-z]{3} [0-9]{4} [0-9:]{8} [A-Z+0-9-]{1,5}",
    ];
    prop::collection::vec((name, value), 0..6)
}

fn raw_query() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "(X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature)=[A-Za-z0-9%/;-]{0,24}&?){0,7}",
    ]
}

fn info() -> impl Strategy<Value = SignatureInfo> {
    (
        any::<String>(),
        "[0-9]{8}|.*",
        any::<String>(),
        any::<String>(),
        prop::collection::vec(any::<String>(), 0..4),
        "[0-9a-fA-F]{0,70}|.*",
        "[0-9]{8}T[0-9]{6}Z|.*",
        any::<bool>(),
    )
        .prop_map(
            |(
                access_key_id,
                date,
                region,
                service,
                signed_headers,
                signature,
                amz_date,
                presigned,
            )| {
                SignatureInfo {
                    credential: Credential {
                        access_key_id,
                        date,
                        region,
                        service,
                    },
                    signed_headers,
                    signature,
                    amz_date,
                    presigned,
                }
            },
        )
}

proptest! {
    #[test]
    fn sigv4_parse_and_verify_never_panic(
        method in "[A-Z]{0,7}|.*",
        path in any::<String>(),
        query in raw_query(),
        headers in header_pairs(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any::<u64>(),
        secret in any::<String>(),
    ) {
        let req = RequestParts { method: &method, path: &path, query: &query, headers: &headers, body: &body };
        let now = UNIX_EPOCH.checked_add(Duration::from_secs(now)).unwrap_or(UNIX_EPOCH);
        if let Ok(info) = sigv4::parse(&req) {
            let _ = sigv4::verify(&req, &info, &secret, now);
        }
    }

    #[test]
    fn sigv4_verify_never_panics_on_arbitrary_info(
        info in info(),
        path in any::<String>(),
        query in raw_query(),
        headers in header_pairs(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any::<u64>(),
    ) {
        let req = RequestParts { method: "POST", path: &path, query: &query, headers: &headers, body: &body };
        let now = UNIX_EPOCH.checked_add(Duration::from_secs(now)).unwrap_or(UNIX_EPOCH);
        let _ = sigv4::verify(&req, &info, "secret", now);
        let _ = sigv4::compute_signature(&req, &info, "secret");
    }

    #[test]
    fn sigv4_sign_then_verify(
        path in "(/[A-Za-z0-9 ._~%ሴ-]{0,6}){0,4}/?",
        query in "([A-Za-z0-9._~%+-]{1,6}(=[A-Za-z0-9._~%+ -]{0,6})?&?){0,4}",
        extra in "[ -~]{0,20}",
        body in prop::collection::vec(any::<u8>(), 0..64),
        skew in 0u64..=900,
        flip in any::<prop::sample::Index>(),
    ) {
        let headers = vec![
            ("Host".to_owned(), "127.0.0.1:4566".to_owned()),
            ("X-Amz-Date".to_owned(), "20260504T123456Z".to_owned()),
            ("X-Extra".to_owned(), extra),
        ];
        let mut info = SignatureInfo {
            credential: Credential {
                access_key_id: "AKID".into(),
                date: "20260504".into(),
                region: "us-east-1".into(),
                service: "ec2".into(),
            },
            signed_headers: vec!["host".into(), "x-amz-date".into(), "x-extra".into()],
            signature: String::new(),
            amz_date: "20260504T123456Z".into(),
            presigned: false,
        };
        let req = RequestParts { method: "POST", path: &path, query: &query, headers: &headers, body: &body };
        info.signature = sigv4::compute_signature(&req, &info, "secret").unwrap();

        let mut signed = headers.clone();
        signed.push(("Authorization".into(), info.authorization_header()));
        let req = RequestParts { headers: &signed, ..req };
        let parsed = sigv4::parse(&req).unwrap();
        prop_assert_eq!(&parsed, &info);
        let now = UNIX_EPOCH + Duration::from_secs(1_777_898_096 + skew);
        prop_assert_eq!(sigv4::verify(&req, &parsed, "secret", now), Ok(()));
        prop_assert_eq!(sigv4::verify(&req, &parsed, "secreT", now), Err(SigV4Error::Mismatch));

        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip.index(body.len())] ^= 0x80;
            let req = RequestParts { body: &tampered, ..req };
            prop_assert_eq!(sigv4::verify(&req, &parsed, "secret", now), Err(SigV4Error::Mismatch));
        }
    }
}
