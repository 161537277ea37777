//! GitLab: no signature, the shared secret travels verbatim in `X-Gitlab-Token`.

use sha2::{Digest, Sha256};

use crate::verify::crypto::{ct_eq, require_secret};
use crate::verify::support::{header_text, json_field, required_header};
use crate::verify::{InboundRequest, Scheme, VerifyError};

const TOKEN: &str = "X-Gitlab-Token";
const EVENT_UUID: &str = "X-Gitlab-Event-UUID";
const WEBHOOK_UUID: &str = "X-Gitlab-Webhook-UUID";
const EVENT: &str = "X-Gitlab-Event";

/// GitLab webhook deliveries.
pub(crate) struct GitLab;

impl Scheme for GitLab {
    fn vendor(&self) -> &'static str {
        "gitlab"
    }

    fn verify(&self, req: &InboundRequest<'_>, secret: &str) -> Result<(), VerifyError> {
        let secret = require_secret(secret)?;
        let token = required_header(req.headers, TOKEN)?;
        // Comparing fixed-size digests keeps the comparison constant-time without revealing
        // the secret's length through an early length check.
        let given = Sha256::digest(token.as_bytes());
        let expected = Sha256::digest(secret);
        if ct_eq(&expected, &given) {
            Ok(())
        } else {
            Err(VerifyError::SignatureMismatch)
        }
    }

    fn delivery_id(&self, req: &InboundRequest<'_>) -> Option<String> {
        header_text(req.headers, EVENT_UUID).or_else(|| header_text(req.headers, WEBHOOK_UUID))
    }

    fn event_type(&self, headers: &http::HeaderMap, body: &[u8]) -> Option<String> {
        json_field(body, "object_kind").or_else(|| {
            let hook = header_text(headers, EVENT)?;
            event_from_header(&hook)
        })
    }
}

/// "Merge Request Hook" -> "merge_request", matching the body's `object_kind` spelling.
fn event_from_header(hook: &str) -> Option<String> {
    let lower = hook.to_ascii_lowercase();
    let mut words: Vec<&str> = lower.split_whitespace().collect();
    if words.last() == Some(&"hook") {
        words.pop();
    }
    if words.is_empty() {
        return None;
    }
    Some(words.join("_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{headers, request};

    // GitLab publishes no test vector: there is no MAC, the token is compared verbatim.
    const SECRET: &str = "gl-webhook-token-123";
    const BODY: &[u8] = br#"{"object_kind":"push","ref":"refs/heads/main"}"#;

    fn verify(pairs: &[(&str, &str)], secret: &str) -> Result<(), VerifyError> {
        let h = headers(pairs);
        GitLab.verify(&request(&h, BODY, 0), secret)
    }

    #[test]
    fn accepts_matching_token() {
        assert_eq!(verify(&[(TOKEN, SECRET)], SECRET), Ok(()));
    }

    #[test]
    fn rejects_wrong_secret() {
        assert_eq!(
            verify(&[(TOKEN, SECRET)], "other-secret"),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_token_that_is_a_prefix_or_extension_of_the_secret() {
        assert_eq!(
            verify(&[(TOKEN, "gl-webhook")], SECRET),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify(&[(TOKEN, "gl-webhook-token-1234")], SECRET),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn body_is_not_signed_so_tampering_cannot_be_detected_but_token_still_gates() {
        // GitLab's scheme has no body MAC; this documents that only the token is checked.
        let h = headers(&[(TOKEN, SECRET)]);
        assert_eq!(GitLab.verify(&request(&h, b"tampered", 0), SECRET), Ok(()));
    }

    #[test]
    fn rejects_missing_token_header() {
        assert_eq!(
            verify(&[(EVENT, "Push Hook")], SECRET),
            Err(VerifyError::MissingHeader(TOKEN.into()))
        );
    }

    #[test]
    fn empty_token_counts_as_missing_even_with_empty_secret_configured() {
        assert_eq!(
            verify(&[(TOKEN, "")], SECRET),
            Err(VerifyError::MissingHeader(TOKEN.into()))
        );
        assert!(matches!(
            verify(&[(TOKEN, "")], ""),
            Err(VerifyError::InvalidSecret(_))
        ));
    }

    #[test]
    fn duplicated_token_header_is_malformed() {
        let err = verify(&[(TOKEN, SECRET), (TOKEN, "x")], SECRET).err();
        assert!(err.is_some_and(|e| e.is_malformed()));
    }

    #[test]
    fn delivery_id_prefers_event_uuid_then_webhook_uuid() {
        let both = headers(&[(EVENT_UUID, "ev-1"), (WEBHOOK_UUID, "wh-1")]);
        assert_eq!(
            GitLab.delivery_id(&request(&both, BODY, 0)).as_deref(),
            Some("ev-1")
        );
        let fallback = headers(&[(WEBHOOK_UUID, "wh-1")]);
        assert_eq!(
            GitLab.delivery_id(&request(&fallback, BODY, 0)).as_deref(),
            Some("wh-1")
        );
        assert_eq!(GitLab.delivery_id(&request(&headers(&[]), BODY, 0)), None);
    }

    #[test]
    fn event_type_prefers_body_object_kind() {
        let h = headers(&[(EVENT, "Push Hook")]);
        let body = br#"{"object_kind":"merge_request"}"#;
        assert_eq!(
            GitLab.event_type(&h, body).as_deref(),
            Some("merge_request")
        );
    }

    #[test]
    fn event_type_falls_back_to_normalised_header() {
        for (hook, expected) in [
            ("Push Hook", Some("push")),
            ("Merge Request Hook", Some("merge_request")),
            ("Tag Push Hook", Some("tag_push")),
            ("Confidential Note Hook", Some("confidential_note")),
            ("System Hook", Some("system")),
            ("Hook", None),
            ("Emoji  Hook", Some("emoji")),
        ] {
            let h = headers(&[(EVENT, hook)]);
            assert_eq!(
                GitLab.event_type(&h, b"not json").as_deref(),
                expected,
                "{hook}"
            );
        }
        assert_eq!(GitLab.event_type(&headers(&[]), b"{}"), None);
    }
}
