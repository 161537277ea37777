//! Cross-checks our verifiers against signatures produced by the vendors' official libraries
//! (via vendor_libs/sign.py). Runs only when HOOKRAIL_PYTHON names a Python with
//! vendor_libs/requirements.txt installed; otherwise each test prints a note and passes.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use hookrail::verify::{self, InboundRequest, VerifyError};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use support::python;

const TS: i64 = 1_714_000_000;

/// One signing request for sign.py and what we expect our scheme to make of it.
struct Case {
    vendor: &'static str,
    secret: &'static str,
    body: String,
    id: &'static str,
    config: serde_json::Value,
    /// GitLab sends a token, not a MAC, so a changed body still verifies there.
    body_is_signed: bool,
    timestamped: bool,
    expected_delivery_id: Option<&'static str>,
}

impl Case {
    fn new(vendor: &'static str, secret: &'static str, body: serde_json::Value) -> Self {
        Self {
            vendor,
            secret,
            body: body.to_string(),
            id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            config: json!({}),
            body_is_signed: true,
            timestamped: false,
            expected_delivery_id: None,
        }
    }
}

fn sign_with_official_library(python: &str, case: &Case) -> HeaderMap {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/vendor_libs/sign.py");
    let input = json!({
        "vendor": case.vendor,
        "secret": case.secret,
        "body": case.body,
        "timestamp": TS,
        "id": case.id,
        "config": case.config,
    });
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start HOOKRAIL_PYTHON");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write request");
    let output = child.wait_with_output().expect("sign.py runs");
    assert!(
        output.status.success(),
        "sign.py failed for {}: {}",
        case.vendor,
        String::from_utf8_lossy(&output.stderr)
    );
    let reply: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("sign.py prints JSON");
    let mut headers = HeaderMap::new();
    for (name, value) in reply["headers"].as_object().expect("headers object") {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value.as_str().expect("string value")).expect("header value"),
        );
    }
    headers
}

fn check(cases: &[Case]) {
    let Some(python) = python("the official-library cross-check") else {
        return;
    };
    for case in cases {
        let scheme = verify::scheme_for(case.vendor, &case.config).expect("scheme builds");
        let headers = sign_with_official_library(&python, case);
        let label = format!("{} / secret {:?}", case.vendor, case.secret);
        let at = |body: &'_ [u8], now: i64| {
            scheme.verify(
                &InboundRequest {
                    headers: &headers,
                    body,
                    now_unix: now,
                },
                case.secret,
            )
        };
        let body = case.body.as_bytes();

        assert_eq!(
            at(body, TS),
            Ok(()),
            "{label}: official signature must verify"
        );

        let mut tampered = body.to_vec();
        tampered.push(b' ');
        let expected = if case.body_is_signed {
            Err(VerifyError::SignatureMismatch)
        } else {
            Ok(())
        };
        assert_eq!(at(&tampered, TS), expected, "{label}: tampered body");

        if case.timestamped {
            assert_eq!(
                at(body, TS + 301),
                Err(VerifyError::StaleTimestamp { age_secs: 301 }),
                "{label}: replay after the window"
            );
        }

        let req = InboundRequest {
            headers: &headers,
            body,
            now_unix: TS,
        };
        assert_eq!(
            scheme.delivery_id(&req).as_deref(),
            case.expected_delivery_id,
            "{label}: delivery id"
        );
    }
}

/// Bodies with non-ASCII text and a newline, to catch any re-encoding on either side.
fn note() -> &'static str {
    "Zoë ☃ — naïve\ncafé"
}

#[test]
fn github_signature_from_reference_algorithm_verifies() {
    let mut case = Case::new(
        "github",
        "It's a Secret to Everybody",
        json!({"zen": note()}),
    );
    case.expected_delivery_id = Some(case.id);
    check(&[case]);
}

#[test]
fn gitlab_token_verifies() {
    let mut case = Case::new("gitlab", "gl-token-Zx9", json!({"object_kind": "push"}));
    case.body_is_signed = false;
    case.expected_delivery_id = Some(case.id);
    check(&[case]);
}

#[test]
fn stripe_signature_from_official_library_verifies() {
    let body = json!({"id": "evt_1PzStripe", "type": "invoice.paid", "note": note()});
    let mut case = Case::new("stripe", "whsec_5f4dcc3b5aa765d61d8327deb882cf99", body);
    case.timestamped = true;
    case.expected_delivery_id = Some("evt_1PzStripe");
    check(&[case]);
}

#[test]
fn slack_signature_from_official_sdk_verifies() {
    let body = json!({
        "type": "event_callback",
        "event_id": "Ev0PV52K25",
        "event": {"type": "app_mention", "text": note()}
    });
    let mut case = Case::new("slack", "8f742231b10e8888abcd99yyyzzz85a5", body);
    case.timestamped = true;
    case.expected_delivery_id = Some("Ev0PV52K25");
    check(&[case]);
}

#[test]
fn shopify_signature_from_reference_algorithm_verifies() {
    let mut case = Case::new("shopify", "shpss_0123456789abcdef", json!({"note": note()}));
    case.expected_delivery_id = Some(case.id);
    check(&[case]);
}

fn standard_family_cases(vendor: &'static str) -> Vec<Case> {
    // With prefix, without prefix, and unpadded base64 (25-byte key, normally "==") secrets.
    let secrets = [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ubw",
    ];
    secrets
        .into_iter()
        .map(|secret| {
            let body = json!({"type": "contact.created", "data": {"note": note()}});
            let mut case = Case::new(vendor, secret, body);
            case.timestamped = true;
            case.expected_delivery_id = Some(case.id);
            case
        })
        .collect()
}

#[test]
fn standard_webhooks_signature_from_official_library_verifies() {
    check(&standard_family_cases("standard-webhooks"));
}

#[test]
fn svix_signature_from_official_library_verifies() {
    check(&standard_family_cases("svix"));
}

#[test]
fn generic_hmac_signatures_from_independent_implementation_verify() {
    let configs = [
        json!({"header": "X-Signature"}),
        json!({"header": "X-Signature", "algorithm": "sha1", "prefix": "sha1="}),
        json!({"header": "X-Signature", "algorithm": "sha512", "encoding": "base64"}),
        json!({
            "header": "X-Signature", "timestamp_header": "X-Timestamp",
            "delivery_id_header": "X-Delivery"
        }),
        json!({
            "header": "X-Signature", "timestamp_header": "X-Timestamp",
            "signed_content": "v0:{timestamp}:{body}", "encoding": "base64", "prefix": "v0="
        }),
    ];
    let cases: Vec<Case> = configs
        .into_iter()
        .map(|config| {
            let mut case = Case::new("generic-hmac", "generic-secret", json!({"note": note()}));
            case.timestamped = config.get("timestamp_header").is_some();
            if config.get("delivery_id_header").is_some() {
                case.expected_delivery_id = Some(case.id);
            }
            case.config = config;
            case
        })
        .collect();
    check(&cases);
}
