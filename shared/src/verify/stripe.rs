//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 of `"{t}.{body}"`.

use crate::verify::crypto::{
    check_tolerance, ct_eq_any, decode_hex, hmac_sha256, malformed, parse_timestamp, require_secret,
};
use crate::verify::support::{json_field, required_header};
use crate::verify::{InboundRequest, Scheme, VerifyError};

const SIGNATURE: &str = "Stripe-Signature";

/// Stripe webhook events.
pub(crate) struct Stripe;

/// The parts of a `Stripe-Signature` header we use.
struct ParsedHeader<'a> {
    timestamp_text: &'a str,
    timestamp: i64,
    v1: Vec<Vec<u8>>,
}

fn parse_header(value: &str) -> Result<ParsedHeader<'_>, VerifyError> {
    let mut timestamp_text = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        // Unknown keys (v0 test-mode signatures, future schemes) are ignored, as Stripe advises.
        let Some((key, val)) = item.split_once('=') else {
            continue;
        };
        match key.trim() {
            "t" if timestamp_text.is_some() => {
                return Err(malformed(SIGNATURE, "more than one `t=` timestamp"));
            }
            "t" => timestamp_text = Some(val.trim()),
            "v1" => v1.push(decode_hex(SIGNATURE, val)?),
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or_else(|| malformed(SIGNATURE, "no `t=` timestamp"))?;
    let timestamp = parse_timestamp(SIGNATURE, timestamp_text)?;
    Ok(ParsedHeader {
        timestamp_text,
        timestamp,
        v1,
    })
}

impl Scheme for Stripe {
    fn vendor(&self) -> &'static str {
        "stripe"
    }

    fn verify(&self, req: &InboundRequest<'_>, secret: &str) -> Result<(), VerifyError> {
        // Stripe keys the MAC with the whole secret string, `whsec_` prefix included.
        let key = require_secret(secret)?;
        let header = parse_header(required_header(req.headers, SIGNATURE)?)?;
        let expected = hmac_sha256(key, &[header.timestamp_text.as_bytes(), b".", req.body])?;
        // A header with no v1 entry is well-formed but carries nothing we can accept.
        if !ct_eq_any(&expected, &header.v1) {
            return Err(VerifyError::SignatureMismatch);
        }
        // Checked after the MAC so only authentic requests are ever reported as stale.
        check_tolerance(
            header.timestamp,
            req.now_unix,
            crate::verify::crypto::DEFAULT_TOLERANCE_SECS,
        )
    }

    fn delivery_id(&self, req: &InboundRequest<'_>) -> Option<String> {
        json_field(req.body, "id")
    }

    fn event_type(&self, _headers: &http::HeaderMap, body: &[u8]) -> Option<String> {
        json_field(body, "type")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{headers, hmac_sha256 as sign, request};

    // Stripe publishes no (secret, payload, signature) test vector, only the header format
    // (https://stripe.com/docs/webhooks/signatures#verify-manually). Signatures here come from an
    // independent HMAC, and tests/official_libs.rs cross-checks against the official `stripe`
    // Python library's `WebhookSignature.generate_signature_header`.
    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] =
        br#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"invoice.paid"}"#;
    const T: i64 = 1_492_774_577;

    fn v1(secret: &str, t: i64, body: &[u8]) -> String {
        let mut msg = format!("{t}.").into_bytes();
        msg.extend_from_slice(body);
        hex::encode(sign(secret.as_bytes(), &msg))
    }

    fn verify_at(header: &str, body: &[u8], secret: &str, now: i64) -> Result<(), VerifyError> {
        let h = headers(&[(SIGNATURE, header)]);
        Stripe.verify(&request(&h, body, now), secret)
    }

    fn verify(header: &str, body: &[u8], secret: &str) -> Result<(), VerifyError> {
        verify_at(header, body, secret, T + 10)
    }

    #[test]
    fn accepts_valid_signature_keyed_with_whole_whsec_secret() {
        let header = format!("t={T},v1={}", v1(SECRET, T, BODY));
        assert_eq!(verify(&header, BODY, SECRET), Ok(()));
        // Decoding the whsec_ part (as Standard Webhooks does) would be wrong for Stripe.
        let stripped = format!("t={T},v1={}", v1("test_secret", T, BODY));
        assert_eq!(
            verify(&stripped, BODY, SECRET),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn accepts_when_one_of_several_v1_signatures_matches() {
        let header = format!(
            "t={T},v1={},v1={},v0={}",
            v1("whsec_old_rotated_secret", T, BODY),
            v1(SECRET, T, BODY),
            "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
        );
        assert_eq!(verify(&header, BODY, SECRET), Ok(()));
    }

    #[test]
    fn ignores_unknown_keys_and_spaces_around_items() {
        let header = format!("t={T}, scheme=future, v1={} ,junk", v1(SECRET, T, BODY));
        assert_eq!(verify(&header, BODY, SECRET), Ok(()));
    }

    #[test]
    fn rejects_wrong_secret() {
        let header = format!("t={T},v1={}", v1(SECRET, T, BODY));
        assert_eq!(
            verify(&header, BODY, "whsec_other"),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_tampered_body() {
        let header = format!("t={T},v1={}", v1(SECRET, T, BODY));
        assert_eq!(
            verify(&header, br#"{"id":"evt_forged"}"#, SECRET),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_signature_replayed_with_a_different_timestamp() {
        let header = format!("t={},v1={}", T + 1, v1(SECRET, T, BODY));
        assert_eq!(
            verify(&header, BODY, SECRET),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn header_with_only_v0_has_nothing_acceptable() {
        let header = format!("t={T},v0={}", v1(SECRET, T, BODY));
        assert_eq!(
            verify(&header, BODY, SECRET),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_timestamp_too_old() {
        let header = format!("t={T},v1={}", v1(SECRET, T, BODY));
        assert_eq!(
            verify_at(&header, BODY, SECRET, T + 301),
            Err(VerifyError::StaleTimestamp { age_secs: 301 })
        );
        assert_eq!(verify_at(&header, BODY, SECRET, T + 300), Ok(()));
    }

    #[test]
    fn rejects_timestamp_too_far_in_future() {
        let header = format!("t={T},v1={}", v1(SECRET, T, BODY));
        assert_eq!(
            verify_at(&header, BODY, SECRET, T - 301),
            Err(VerifyError::StaleTimestamp { age_secs: -301 })
        );
    }

    #[test]
    fn rejects_missing_header() {
        let h = headers(&[]);
        assert_eq!(
            Stripe.verify(&request(&h, BODY, T), SECRET),
            Err(VerifyError::MissingHeader(SIGNATURE.into()))
        );
    }

    #[test]
    fn malformed_headers_are_reported_as_malformed() {
        let good = v1(SECRET, T, BODY);
        for bad in [
            format!("v1={good}"),
            format!("t=abc,v1={good}"),
            format!("t=,v1={good}"),
            format!("t={T},t={T},v1={good}"),
            format!("t={T},v1=zz"),
            "garbage".to_string(),
        ] {
            let err = verify(&bad, BODY, SECRET).err();
            assert!(
                err.as_ref().is_some_and(VerifyError::is_malformed),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn delivery_id_and_event_type_come_from_the_event_body() {
        let h = headers(&[]);
        assert_eq!(
            Stripe.delivery_id(&request(&h, BODY, T)).as_deref(),
            Some("evt_1NG8Du2eZvKYlo2CUI79vXWy")
        );
        assert_eq!(Stripe.event_type(&h, BODY).as_deref(), Some("invoice.paid"));
        assert_eq!(Stripe.delivery_id(&request(&h, b"\xff\x00", T)), None);
        assert_eq!(Stripe.event_type(&h, b"[]"), None);
    }
}
