//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.

use crate::verify::crypto::{ct_eq, decode_hex, hmac_sha256, malformed, require_secret};
use crate::verify::support::{header_text, required_header};
use crate::verify::{InboundRequest, Scheme, VerifyError};

const SIGNATURE: &str = "X-Hub-Signature-256";
const DELIVERY: &str = "X-GitHub-Delivery";
const EVENT: &str = "X-GitHub-Event";

/// GitHub webhook deliveries.
pub(crate) struct GitHub;

impl Scheme for GitHub {
    fn vendor(&self) -> &'static str {
        "github"
    }

    fn verify(&self, req: &InboundRequest<'_>, secret: &str) -> Result<(), VerifyError> {
        let key = require_secret(secret)?;
        let value = required_header(req.headers, SIGNATURE)?;
        let hex_sig = value
            .strip_prefix("sha256=")
            .ok_or_else(|| malformed(SIGNATURE, "expected `sha256=<hex>`"))?;
        let given = decode_hex(SIGNATURE, hex_sig)?;
        let expected = hmac_sha256(key, &[req.body])?;
        if ct_eq(&expected, &given) {
            Ok(())
        } else {
            Err(VerifyError::SignatureMismatch)
        }
    }

    fn delivery_id(&self, req: &InboundRequest<'_>) -> Option<String> {
        header_text(req.headers, DELIVERY)
    }

    fn event_type(&self, headers: &http::HeaderMap, _body: &[u8]) -> Option<String> {
        header_text(headers, EVENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{headers, hmac_sha256 as sign, request};

    const NOW: i64 = 1_700_000_000;

    // Published test values from GitHub's "Validating webhook deliveries" docs:
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    const DOC_SECRET: &str = "It's a Secret to Everybody";
    const DOC_BODY: &[u8] = b"Hello, World!";
    const DOC_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn verify(pairs: &[(&str, &str)], body: &[u8], secret: &str) -> Result<(), VerifyError> {
        let h = headers(pairs);
        GitHub.verify(&request(&h, body, NOW), secret)
    }

    #[test]
    fn accepts_githubs_published_test_vector() {
        assert_eq!(
            verify(&[(SIGNATURE, DOC_SIGNATURE)], DOC_BODY, DOC_SECRET),
            Ok(())
        );
    }

    #[test]
    fn accepts_uppercase_hex_signature() {
        let upper = format!("sha256={}", &DOC_SIGNATURE[7..].to_uppercase());
        assert_eq!(verify(&[(SIGNATURE, &upper)], DOC_BODY, DOC_SECRET), Ok(()));
    }

    #[test]
    fn rejects_wrong_secret() {
        assert_eq!(
            verify(&[(SIGNATURE, DOC_SIGNATURE)], DOC_BODY, "not the secret"),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_tampered_body() {
        assert_eq!(
            verify(&[(SIGNATURE, DOC_SIGNATURE)], b"Hello, World?", DOC_SECRET),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_missing_signature_header() {
        assert_eq!(
            verify(&[(EVENT, "push")], DOC_BODY, DOC_SECRET),
            Err(VerifyError::MissingHeader(SIGNATURE.into()))
        );
    }

    #[test]
    fn legacy_sha1_header_alone_is_not_enough() {
        let sha1_only = [(
            "X-Hub-Signature",
            "sha1=0000000000000000000000000000000000000000",
        )];
        assert_eq!(
            verify(&sha1_only, DOC_BODY, DOC_SECRET),
            Err(VerifyError::MissingHeader(SIGNATURE.into()))
        );
    }

    #[test]
    fn malformed_signatures_are_reported_as_malformed() {
        for bad in [
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha1=757107ea",
            "sha256=not-hex",
            "sha256=abc",
        ] {
            let err = verify(&[(SIGNATURE, bad)], DOC_BODY, DOC_SECRET).err();
            assert!(
                err.as_ref().is_some_and(VerifyError::is_malformed),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn well_formed_but_truncated_signature_is_a_mismatch() {
        assert_eq!(
            verify(&[(SIGNATURE, "sha256=757107ea")], DOC_BODY, DOC_SECRET),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn empty_secret_is_refused_even_with_matching_signature() {
        let sig = format!("sha256={}", hex::encode(sign(b"", DOC_BODY)));
        assert!(matches!(
            verify(&[(SIGNATURE, &sig)], DOC_BODY, ""),
            Err(VerifyError::InvalidSecret(_))
        ));
    }

    #[test]
    fn delivery_id_and_event_come_from_github_headers() {
        let h = headers(&[
            (DELIVERY, "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            (EVENT, "push"),
        ]);
        let req = request(&h, b"{}", NOW);
        assert_eq!(
            GitHub.delivery_id(&req).as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(GitHub.event_type(&h, b"{}").as_deref(), Some("push"));
        let empty = headers(&[]);
        assert_eq!(GitHub.delivery_id(&request(&empty, b"", NOW)), None);
        assert_eq!(GitHub.event_type(&empty, b""), None);
    }

    #[test]
    fn error_message_does_not_leak_expected_signature() {
        let err = verify(&[(SIGNATURE, "sha256=00")], DOC_BODY, DOC_SECRET)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains(&DOC_SIGNATURE[7..]));
        assert!(!err.contains(DOC_SECRET));
    }
}
