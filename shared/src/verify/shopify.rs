//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`.

use crate::verify::crypto::{ct_eq, decode_base64_header, hmac_sha256, require_secret};
use crate::verify::support::{header_text, required_header};
use crate::verify::{InboundRequest, Scheme, VerifyError};

const SIGNATURE: &str = "X-Shopify-Hmac-Sha256";
const WEBHOOK_ID: &str = "X-Shopify-Webhook-Id";
const EVENT_ID: &str = "X-Shopify-Event-Id";
const TOPIC: &str = "X-Shopify-Topic";

/// Shopify webhook deliveries.
pub(crate) struct Shopify;

impl Scheme for Shopify {
    fn vendor(&self) -> &'static str {
        "shopify"
    }

    fn verify(&self, req: &InboundRequest<'_>, secret: &str) -> Result<(), VerifyError> {
        let key = require_secret(secret)?;
        let given = decode_base64_header(SIGNATURE, required_header(req.headers, SIGNATURE)?)?;
        let expected = hmac_sha256(key, &[req.body])?;
        if ct_eq(&expected, &given) {
            Ok(())
        } else {
            Err(VerifyError::SignatureMismatch)
        }
    }

    fn delivery_id(&self, req: &InboundRequest<'_>) -> Option<String> {
        header_text(req.headers, WEBHOOK_ID).or_else(|| header_text(req.headers, EVENT_ID))
    }

    fn event_type(&self, headers: &http::HeaderMap, _body: &[u8]) -> Option<String> {
        // Topics are path-like ("orders/create"); the hub's event names are dotted.
        header_text(headers, TOPIC).map(|topic| topic.replace('/', "."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{b64, headers, hmac_sha256 as sign, request};

    // Shopify publishes no (secret, payload, signature) test vector; the signature here comes
    // from an independent HMAC and tests/official_libs.rs cross-checks with Python's hmac.
    const SECRET: &str = "shpss_0123456789abcdef";
    const BODY: &[u8] = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;

    fn good_sig() -> String {
        b64(&sign(SECRET.as_bytes(), BODY))
    }

    fn verify(pairs: &[(&str, &str)], body: &[u8], secret: &str) -> Result<(), VerifyError> {
        let h = headers(pairs);
        Shopify.verify(&request(&h, body, 0), secret)
    }

    #[test]
    fn accepts_valid_base64_signature() {
        assert_eq!(verify(&[(SIGNATURE, &good_sig())], BODY, SECRET), Ok(()));
    }

    #[test]
    fn accepts_signature_without_padding() {
        let unpadded = good_sig().trim_end_matches('=').to_string();
        assert_eq!(verify(&[(SIGNATURE, &unpadded)], BODY, SECRET), Ok(()));
    }

    #[test]
    fn hex_encoded_signature_does_not_pass() {
        let hex_sig = hex::encode(sign(SECRET.as_bytes(), BODY));
        assert_eq!(
            verify(&[(SIGNATURE, &hex_sig)], BODY, SECRET),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_wrong_secret() {
        assert_eq!(
            verify(&[(SIGNATURE, &good_sig())], BODY, "shpss_other"),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_tampered_body() {
        assert_eq!(
            verify(&[(SIGNATURE, &good_sig())], br#"{"id":1}"#, SECRET),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_missing_header() {
        assert_eq!(
            verify(&[(TOPIC, "orders/create")], BODY, SECRET),
            Err(VerifyError::MissingHeader(SIGNATURE.into()))
        );
    }

    #[test]
    fn non_base64_signature_is_malformed() {
        for bad in ["not base64!", "@@@@", "a"] {
            let err = verify(&[(SIGNATURE, bad)], BODY, SECRET).err();
            assert!(
                err.as_ref().is_some_and(VerifyError::is_malformed),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn delivery_id_prefers_webhook_id_then_event_id() {
        let both = headers(&[(WEBHOOK_ID, "b54557e4-bdd9"), (EVENT_ID, "98880550-7158")]);
        assert_eq!(
            Shopify.delivery_id(&request(&both, BODY, 0)).as_deref(),
            Some("b54557e4-bdd9")
        );
        let fallback = headers(&[(EVENT_ID, "98880550-7158")]);
        assert_eq!(
            Shopify.delivery_id(&request(&fallback, BODY, 0)).as_deref(),
            Some("98880550-7158")
        );
        assert_eq!(Shopify.delivery_id(&request(&headers(&[]), BODY, 0)), None);
    }

    #[test]
    fn topic_slashes_become_dots() {
        let h = headers(&[(TOPIC, "orders/create")]);
        assert_eq!(
            Shopify.event_type(&h, BODY).as_deref(),
            Some("orders.create")
        );
        let nested = headers(&[(TOPIC, "app/scopes_update")]);
        assert_eq!(
            Shopify.event_type(&nested, BODY).as_deref(),
            Some("app.scopes_update")
        );
        assert_eq!(Shopify.event_type(&headers(&[]), BODY), None);
    }
}
