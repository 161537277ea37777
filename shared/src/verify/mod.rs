//! Inbound webhook signature verifiers, one [`Scheme`] per vendor signing convention.
//!
//! Every verifier works on the raw body bytes exactly as received: re-serialising JSON
//! before verifying would change the bytes the vendor signed.

mod crypto;
mod generic_hmac;
mod github;
mod gitlab;
mod shopify;
mod slack;
mod standard_webhooks;
mod stripe;
mod support;

pub use generic_hmac::{GenericHmacConfig, HmacAlgorithm, SignatureEncoding};

/// What a verifier sees of one inbound request.
#[derive(Debug, Clone, Copy)]
pub struct InboundRequest<'a> {
    /// The request headers as received.
    pub headers: &'a http::HeaderMap,
    /// The raw, unparsed request body.
    pub body: &'a [u8],
    /// The receiver's current Unix time in seconds, used for replay-window checks.
    pub now_unix: i64,
}

/// A vendor's reply to a handshake that must be answered instead of the normal ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// HTTP status code of the reply.
    pub status: u16,
    /// Value of the reply's Content-Type header.
    pub content_type: &'static str,
    /// The reply body.
    pub body: Vec<u8>,
}

/// Why an inbound request failed verification.
///
/// Messages name headers and describe the problem but never include the secret or the
/// signature we expected, so they are safe to log and to show an operator.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// A header the scheme requires is absent (or empty).
    #[error("missing required header `{0}`")]
    MissingHeader(String),
    /// A header is present but cannot be parsed; the API answers 400.
    #[error("malformed header `{header}`: {reason}")]
    MalformedHeader {
        /// The header that could not be parsed.
        header: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The signature (or token) is well-formed but does not match; the API answers 401.
    #[error("signature does not match")]
    SignatureMismatch,
    /// The signed timestamp is outside the tolerance window; negative ages are in the future.
    #[error(
        "timestamp outside the allowed tolerance (age {age_secs}s; negative means in the future)"
    )]
    StaleTimestamp {
        /// Receiver time minus signed time, in seconds.
        age_secs: i64,
    },
    /// The configured secret itself is unusable (e.g. a `whsec_` secret that is not base64).
    #[error("configured webhook secret is unusable: {0}")]
    InvalidSecret(String),
}

impl VerifyError {
    /// True only for [`VerifyError::MalformedHeader`], the one failure answered with 400.
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::MalformedHeader { .. })
    }
}

/// One inbound signature scheme.
pub trait Scheme: Send + Sync {
    /// The registry name of this scheme's vendor, e.g. "github" or "stripe".
    fn vendor(&self) -> &'static str;
    /// Checks that the request was signed with `secret`; never panics on any input.
    fn verify(&self, req: &InboundRequest<'_>, secret: &str) -> Result<(), VerifyError>;
    /// The vendor's own delivery id, used to drop redeliveries; None -> caller hashes the body.
    fn delivery_id(&self, req: &InboundRequest<'_>) -> Option<String>;
    /// The vendor's event name WITHOUT vendor prefix, e.g. "push", "invoice.paid", "orders.create"; None if unknown.
    fn event_type(&self, headers: &http::HeaderMap, body: &[u8]) -> Option<String>;
    /// A reply that replaces the normal ack; called only after verify() succeeded.
    fn handshake(&self, _req: &InboundRequest<'_>) -> Option<Handshake> {
        None
    }
}

/// Every vendor name the registry knows.
pub const VENDORS: &[&str] = &[
    "github",
    "gitlab",
    "stripe",
    "slack",
    "shopify",
    "standard-webhooks",
    "svix",
    "generic-hmac",
];

/// Why a scheme could not be built for an integration.
#[derive(Debug, thiserror::Error)]
pub enum SchemeConfigError {
    /// The vendor name is not one of [`VENDORS`].
    #[error("unknown webhook vendor `{0}`; known vendors: {known}", known = VENDORS.join(", "))]
    UnknownVendor(String),
    /// The integration's config JSON is not valid for this vendor.
    #[error("invalid webhook verifier config: {0}")]
    InvalidConfig(String),
}

/// Builds the scheme for a vendor name; `config` is the integration's config JSON object (only generic-hmac reads it).
pub fn scheme_for(
    vendor: &str,
    config: &serde_json::Value,
) -> Result<Box<dyn Scheme>, SchemeConfigError> {
    match vendor {
        "github" => Ok(Box::new(github::GitHub)),
        "gitlab" => Ok(Box::new(gitlab::GitLab)),
        "stripe" => Ok(Box::new(stripe::Stripe)),
        "slack" => Ok(Box::new(slack::Slack)),
        "shopify" => Ok(Box::new(shopify::Shopify)),
        "standard-webhooks" => Ok(Box::new(standard_webhooks::StandardWebhooks::standard())),
        "svix" => Ok(Box::new(standard_webhooks::StandardWebhooks::svix())),
        "generic-hmac" => {
            let parsed: GenericHmacConfig = serde_json::from_value(config.clone())
                .map_err(|e| SchemeConfigError::InvalidConfig(e.to_string()))?;
            Ok(Box::new(generic_hmac::GenericHmac::new(parsed)?))
        }
        other => Err(SchemeConfigError::UnknownVendor(other.to_string())),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders shared by the per-scheme tests.

    use crate::verify::InboundRequest;
    use http::{HeaderMap, HeaderName, HeaderValue};

    /// A header map from (name, value) pairs, keeping repeats.
    pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        map
    }

    /// An inbound request over borrowed parts.
    pub fn request<'a>(
        headers: &'a HeaderMap,
        body: &'a [u8],
        now_unix: i64,
    ) -> InboundRequest<'a> {
        InboundRequest {
            headers,
            body,
            now_unix,
        }
    }

    /// Independent HMAC used only to produce fixtures, so tests do not sign with the code under test.
    pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("hmac key");
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    }

    /// Standard padded base64, as most senders emit it.
    pub fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_vendor_builds_and_reports_its_own_name() {
        let generic = serde_json::json!({ "header": "X-Signature" });
        for vendor in VENDORS {
            let config = if *vendor == "generic-hmac" {
                generic.clone()
            } else {
                serde_json::json!({})
            };
            let scheme = scheme_for(vendor, &config).expect("known vendor builds");
            assert_eq!(scheme.vendor(), *vendor);
        }
    }

    #[test]
    fn unknown_vendor_is_rejected_by_name() {
        let err = scheme_for("bitbucket", &serde_json::Value::Null).err();
        let message = err.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(matches!(err, Some(SchemeConfigError::UnknownVendor(v)) if v == "bitbucket"));
        assert!(
            message.contains("standard-webhooks, svix, generic-hmac"),
            "{message}"
        );
    }

    #[test]
    fn generic_hmac_with_bad_config_is_invalid_config() {
        let err = scheme_for("generic-hmac", &serde_json::json!({ "algorithm": "md5" })).err();
        assert!(matches!(err, Some(SchemeConfigError::InvalidConfig(_))));
    }

    #[test]
    fn only_malformed_header_counts_as_malformed() {
        let malformed = VerifyError::MalformedHeader {
            header: "X".into(),
            reason: "bad".into(),
        };
        assert!(malformed.is_malformed());
        for other in [
            VerifyError::MissingHeader("X".into()),
            VerifyError::SignatureMismatch,
            VerifyError::StaleTimestamp { age_secs: 400 },
            VerifyError::InvalidSecret("x".into()),
        ] {
            assert!(!other.is_malformed(), "{other:?}");
        }
    }

    #[test]
    fn error_messages_name_the_header_and_direction_of_staleness() {
        assert_eq!(
            VerifyError::MissingHeader("Stripe-Signature".into()).to_string(),
            "missing required header `Stripe-Signature`"
        );
        let future = VerifyError::StaleTimestamp { age_secs: -400 }.to_string();
        assert!(future.contains("-400s"));
    }

    #[test]
    fn no_error_message_contains_the_secret() {
        let secret = "whsec_c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==";
        let garbage = test_support::headers(&[
            ("X-Hub-Signature-256", "sha256=00"),
            ("X-Gitlab-Token", "wrong"),
            ("Stripe-Signature", "t=1,v1=00"),
            ("X-Slack-Signature", "v0=00"),
            ("X-Slack-Request-Timestamp", "1"),
            ("X-Shopify-Hmac-Sha256", "AA=="),
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1"),
            ("webhook-signature", "v1,AA=="),
            ("X-Signature", "00"),
        ]);
        let generic = serde_json::json!({ "header": "X-Signature" });
        for vendor in VENDORS {
            let scheme = scheme_for(vendor, &generic).expect("known vendor builds");
            let req = test_support::request(&garbage, b"{}", 1);
            for candidate in [secret, "not base64 !!"] {
                let message = scheme
                    .verify(&req, candidate)
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                assert!(!message.is_empty(), "{vendor} accepted garbage");
                assert!(!message.contains(candidate), "{vendor}: {message}");
                assert!(!message.contains("c2VjcmV0"), "{vendor}: {message}");
            }
        }
    }

    #[test]
    fn hostile_inputs_never_panic_in_any_scheme() {
        // Deterministic LCG so failures reproduce; values mix plausible syntax with junk bytes.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let fragments: &[&[u8]] = &[
            b"t=",
            b"v1=",
            b"v0=",
            b"v1,",
            b"sha256=",
            b",",
            b" ",
            b"=",
            b"%",
            b"%7B",
            b"{",
            b"}",
            b"\"type\"",
            b":",
            b"\"event_callback\"",
            b"\"url_verification\"",
            b"payload=",
            b"command=",
            b"&",
            b"99999999999999999999999",
            b"-1",
            b"ab",
            b"zz",
            b"\xff",
            b"\xc3",
            b"\x00",
            b"AA==",
            b"whsec_",
            "\u{2603}".as_bytes(),
        ];
        let names = [
            "X-Hub-Signature-256",
            "X-GitHub-Delivery",
            "X-GitHub-Event",
            "X-Gitlab-Token",
            "X-Gitlab-Event",
            "Stripe-Signature",
            "X-Slack-Signature",
            "X-Slack-Request-Timestamp",
            "X-Shopify-Hmac-Sha256",
            "X-Shopify-Topic",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "svix-id",
            "svix-timestamp",
            "svix-signature",
            "X-Signature",
            "X-Ts",
        ];
        let generic = serde_json::json!({
            "header": "X-Signature", "timestamp_header": "X-Ts", "prefix": "sha256=",
            "delivery_id_header": "webhook-id", "event_type_field": "type"
        });
        let schemes: Vec<Box<dyn Scheme>> = VENDORS
            .iter()
            .map(|v| scheme_for(v, &generic).expect("known vendor builds"))
            .collect();
        for _ in 0..2000 {
            let mut junk = |max: usize| {
                let mut out = Vec::new();
                for _ in 0..next() % max {
                    out.extend_from_slice(fragments[next() % fragments.len()]);
                }
                out
            };
            let body = junk(12);
            let mut headers = http::HeaderMap::new();
            for name in names {
                let value = junk(6);
                if let Ok(value) = http::HeaderValue::from_bytes(&value) {
                    headers.append(name, value);
                }
            }
            let secret = String::from_utf8_lossy(&junk(3)).into_owned();
            let req = InboundRequest {
                headers: &headers,
                body: &body,
                now_unix: i64::MAX,
            };
            for scheme in &schemes {
                let _ = scheme.verify(&req, &secret);
                let _ = scheme.delivery_id(&req);
                let _ = scheme.event_type(&headers, &body);
                let _ = scheme.handshake(&req);
            }
        }
    }

    #[test]
    fn schemes_are_usable_behind_shared_references_across_threads() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<dyn Scheme>();
        assert_send_sync::<Box<dyn Scheme>>();
    }
}
