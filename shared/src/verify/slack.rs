//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{ts}:{body}">` plus the
//! `url_verification` handshake of the Events API.

use crate::verify::crypto::{
    check_tolerance, ct_eq, decode_hex, hmac_sha256, malformed, parse_timestamp, require_secret,
};
use crate::verify::support::{form_field, json_body, required_header, value_text};
use crate::verify::{Handshake, InboundRequest, Scheme, VerifyError};

const SIGNATURE: &str = "X-Slack-Signature";
const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

/// Slack Events API, slash command and interactivity requests.
pub(crate) struct Slack;

impl Scheme for Slack {
    fn vendor(&self) -> &'static str {
        "slack"
    }

    fn verify(&self, req: &InboundRequest<'_>, secret: &str) -> Result<(), VerifyError> {
        let key = require_secret(secret)?;
        let signature = required_header(req.headers, SIGNATURE)?;
        let timestamp_text = required_header(req.headers, TIMESTAMP)?;
        let hex_sig = signature
            .strip_prefix("v0=")
            .ok_or_else(|| malformed(SIGNATURE, "expected `v0=<hex>`"))?;
        let given = decode_hex(SIGNATURE, hex_sig)?;
        let timestamp = parse_timestamp(TIMESTAMP, timestamp_text)?;
        let expected = hmac_sha256(key, &[b"v0:", timestamp_text.as_bytes(), b":", req.body])?;
        if !ct_eq(&expected, &given) {
            return Err(VerifyError::SignatureMismatch);
        }
        // Checked after the MAC so only authentic requests are ever reported as stale.
        check_tolerance(
            timestamp,
            req.now_unix,
            crate::verify::crypto::DEFAULT_TOLERANCE_SECS,
        )
    }

    fn delivery_id(&self, req: &InboundRequest<'_>) -> Option<String> {
        // X-Slack-Retry-Num counts retries of the same event, so it is not an id; only
        // Events API callbacks carry a stable event_id.
        let body = json_body(req.body)?;
        if body.get("type")?.as_str()? != "event_callback" {
            return None;
        }
        value_text(body.get("event_id")?)
    }

    fn event_type(&self, _headers: &http::HeaderMap, body: &[u8]) -> Option<String> {
        if let Some(json) = json_body(body) {
            let outer = json.get("type")?;
            if outer.as_str() == Some("event_callback") {
                return value_text(json.get("event")?.get("type")?);
            }
            return value_text(outer);
        }
        // Interactivity posts `payload=<json>`, slash commands post `command=/name&...`.
        if let Some(payload) = form_field(body, "payload") {
            let payload: serde_json::Value = serde_json::from_str(&payload).ok()?;
            return value_text(payload.get("type")?);
        }
        form_field(body, "command").map(|_| "command".to_string())
    }

    fn handshake(&self, req: &InboundRequest<'_>) -> Option<Handshake> {
        let body = json_body(req.body)?;
        if body.get("type")?.as_str()? != "url_verification" {
            return None;
        }
        let challenge = body.get("challenge")?.as_str()?;
        Some(Handshake {
            status: 200,
            content_type: "text/plain",
            body: challenge.as_bytes().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{headers, hmac_sha256 as sign, request};

    // Worked example from Slack's "Verifying requests from Slack":
    // https://api.slack.com/authentication/verifying-requests-from-slack
    // (now https://docs.slack.dev/authentication/verifying-requests-from-slack/)
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TIMESTAMP: &str = "1531420618";
    const DOC_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIGNATURE: &str =
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const DOC_NOW: i64 = 1_531_420_618;

    fn sig(secret: &str, ts: &str, body: &[u8]) -> String {
        let mut msg = format!("v0:{ts}:").into_bytes();
        msg.extend_from_slice(body);
        format!("v0={}", hex::encode(sign(secret.as_bytes(), &msg)))
    }

    fn verify_at(
        pairs: &[(&str, &str)],
        body: &[u8],
        secret: &str,
        now: i64,
    ) -> Result<(), VerifyError> {
        let h = headers(pairs);
        Slack.verify(&request(&h, body, now), secret)
    }

    #[test]
    fn accepts_slacks_published_example() {
        let pairs = [(SIGNATURE, DOC_SIGNATURE), (TIMESTAMP, DOC_TIMESTAMP)];
        assert_eq!(verify_at(&pairs, DOC_BODY, DOC_SECRET, DOC_NOW), Ok(()));
    }

    #[test]
    fn rejects_wrong_secret() {
        let pairs = [(SIGNATURE, DOC_SIGNATURE), (TIMESTAMP, DOC_TIMESTAMP)];
        assert_eq!(
            verify_at(
                &pairs,
                DOC_BODY,
                "8f742231b10e8888abcd99yyyzzz85a6",
                DOC_NOW
            ),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_tampered_body() {
        let pairs = [(SIGNATURE, DOC_SIGNATURE), (TIMESTAMP, DOC_TIMESTAMP)];
        let mut body = DOC_BODY.to_vec();
        body.extend_from_slice(b"&admin=true");
        assert_eq!(
            verify_at(&pairs, &body, DOC_SECRET, DOC_NOW),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_signature_moved_to_another_timestamp() {
        let pairs = [(SIGNATURE, DOC_SIGNATURE), (TIMESTAMP, "1531420619")];
        assert_eq!(
            verify_at(&pairs, DOC_BODY, DOC_SECRET, DOC_NOW),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_timestamp_too_old() {
        let pairs = [(SIGNATURE, DOC_SIGNATURE), (TIMESTAMP, DOC_TIMESTAMP)];
        assert_eq!(
            verify_at(&pairs, DOC_BODY, DOC_SECRET, DOC_NOW + 301),
            Err(VerifyError::StaleTimestamp { age_secs: 301 })
        );
        assert_eq!(
            verify_at(&pairs, DOC_BODY, DOC_SECRET, DOC_NOW + 300),
            Ok(())
        );
    }

    #[test]
    fn rejects_timestamp_too_far_in_future() {
        let pairs = [(SIGNATURE, DOC_SIGNATURE), (TIMESTAMP, DOC_TIMESTAMP)];
        assert_eq!(
            verify_at(&pairs, DOC_BODY, DOC_SECRET, DOC_NOW - 301),
            Err(VerifyError::StaleTimestamp { age_secs: -301 })
        );
    }

    #[test]
    fn rejects_missing_signature_or_timestamp_header() {
        assert_eq!(
            verify_at(&[(TIMESTAMP, DOC_TIMESTAMP)], DOC_BODY, DOC_SECRET, DOC_NOW),
            Err(VerifyError::MissingHeader(SIGNATURE.into()))
        );
        assert_eq!(
            verify_at(&[(SIGNATURE, DOC_SIGNATURE)], DOC_BODY, DOC_SECRET, DOC_NOW),
            Err(VerifyError::MissingHeader(TIMESTAMP.into()))
        );
    }

    #[test]
    fn malformed_headers_are_reported_as_malformed() {
        let cases = [
            [(SIGNATURE, "a2114d57b48eac39"), (TIMESTAMP, DOC_TIMESTAMP)],
            [
                (SIGNATURE, "v1=a2114d57b48eac39"),
                (TIMESTAMP, DOC_TIMESTAMP),
            ],
            [(SIGNATURE, "v0=xyz"), (TIMESTAMP, DOC_TIMESTAMP)],
            [(SIGNATURE, DOC_SIGNATURE), (TIMESTAMP, "yesterday")],
            [(SIGNATURE, DOC_SIGNATURE), (TIMESTAMP, "1531420618.5")],
        ];
        for pairs in cases {
            let err = verify_at(&pairs, DOC_BODY, DOC_SECRET, DOC_NOW).err();
            assert!(
                err.as_ref().is_some_and(VerifyError::is_malformed),
                "{pairs:?}: {err:?}"
            );
        }
    }

    #[test]
    fn url_verification_is_answered_with_the_challenge_as_plain_text() {
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let ts = "1700000000";
        let h = headers(&[(SIGNATURE, &sig(DOC_SECRET, ts, body)), (TIMESTAMP, ts)]);
        let req = request(&h, body, 1_700_000_000);
        assert_eq!(Slack.verify(&req, DOC_SECRET), Ok(()));
        assert_eq!(
            Slack.handshake(&req),
            Some(Handshake {
                status: 200,
                content_type: "text/plain",
                body: b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".to_vec(),
            })
        );
    }

    #[test]
    fn no_handshake_for_ordinary_events_or_odd_bodies() {
        let h = headers(&[]);
        for body in [
            &br#"{"type":"event_callback","event":{"type":"message"}}"#[..],
            br#"{"type":"url_verification"}"#,
            br#"{"type":"url_verification","challenge":42}"#,
            DOC_BODY,
            b"",
        ] {
            assert_eq!(Slack.handshake(&request(&h, body, 0)), None);
        }
    }

    #[test]
    fn event_callback_uses_inner_event_type_and_event_id() {
        let body = br#"{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"hi"}}"#;
        let h = headers(&[("X-Slack-Retry-Num", "1")]);
        assert_eq!(Slack.event_type(&h, body).as_deref(), Some("app_mention"));
        assert_eq!(
            Slack.delivery_id(&request(&h, body, 0)).as_deref(),
            Some("Ev08MFMKH6")
        );
    }

    #[test]
    fn non_callback_json_uses_outer_type_and_has_no_delivery_id() {
        let body = br#"{"type":"app_rate_limited","event_id":"Ev1"}"#;
        let h = headers(&[("X-Slack-Retry-Num", "2")]);
        assert_eq!(
            Slack.event_type(&h, body).as_deref(),
            Some("app_rate_limited")
        );
        assert_eq!(Slack.delivery_id(&request(&h, body, 0)), None);
    }

    #[test]
    fn slash_command_form_body_is_a_command_event() {
        let h = headers(&[]);
        assert_eq!(Slack.event_type(&h, DOC_BODY).as_deref(), Some("command"));
        assert_eq!(Slack.delivery_id(&request(&h, DOC_BODY, 0)), None);
    }

    #[test]
    fn interactivity_payload_uses_the_payloads_type() {
        let body = b"payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%7D";
        assert_eq!(
            Slack.event_type(&headers(&[]), body).as_deref(),
            Some("block_actions")
        );
    }

    #[test]
    fn unparseable_bodies_yield_no_event_type_without_panicking() {
        let h = headers(&[]);
        for body in [
            &b"payload=%7Bnot-json"[..],
            b"payload=%",
            b"hello",
            b"\xff\xfe\x00",
            b"{\"type\":",
            br#"{"type":"event_callback"}"#,
            br#"{"type":"event_callback","event":"message"}"#,
        ] {
            assert_eq!(Slack.event_type(&h, body), None, "{body:?}");
            assert_eq!(Slack.delivery_id(&request(&h, body, 0)), None);
        }
    }
}
