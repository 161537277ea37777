//! Standard Webhooks (and Svix, which originated it): `webhook-id` / `webhook-timestamp` /
//! `webhook-signature: v1,<base64> ...`, HMAC-SHA256 of `"{id}.{timestamp}.{body}"` keyed with
//! the base64-decoded `whsec_` secret.

use crate::verify::crypto::{
    check_tolerance, ct_eq_any, decode_base64, decode_base64_header, hmac_sha256, parse_timestamp,
};
use crate::verify::support::{json_field, optional_header, required_header};
use crate::verify::{InboundRequest, Scheme, VerifyError};

const SECRET_PREFIX: &str = "whsec_";

/// The names one sender uses for the three headers.
#[derive(Clone, Copy)]
struct HeaderFamily {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const STANDARD: HeaderFamily = HeaderFamily {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

const SVIX: HeaderFamily = HeaderFamily {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// Standard Webhooks / Svix deliveries; both vendors accept either header family because Svix
/// customers can white-label to `webhook-*` and Standard Webhooks senders often run on Svix.
pub(crate) struct StandardWebhooks {
    vendor: &'static str,
    preferred: HeaderFamily,
    fallback: HeaderFamily,
}

impl StandardWebhooks {
    /// The scheme registered as "standard-webhooks".
    pub(crate) fn standard() -> Self {
        Self {
            vendor: "standard-webhooks",
            preferred: STANDARD,
            fallback: SVIX,
        }
    }

    /// The scheme registered as "svix".
    pub(crate) fn svix() -> Self {
        Self {
            vendor: "svix",
            preferred: SVIX,
            fallback: STANDARD,
        }
    }

    /// Picks one family for all three headers, so an id from one family can never be combined
    /// with a signature from the other.
    fn family(&self, headers: &http::HeaderMap) -> HeaderFamily {
        let present = |f: &HeaderFamily| {
            [f.id, f.timestamp, f.signature]
                .iter()
                .any(|name| headers.contains_key(*name))
        };
        if !present(&self.preferred) && present(&self.fallback) {
            self.fallback
        } else {
            self.preferred
        }
    }
}

/// Decodes a `whsec_<base64>` secret (the prefix is optional).
fn decode_secret(secret: &str) -> Result<Vec<u8>, VerifyError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    match decode_base64(encoded) {
        Some(key) if !key.is_empty() => Ok(key),
        Some(_) => Err(VerifyError::InvalidSecret("secret is empty".into())),
        None => Err(VerifyError::InvalidSecret(
            "secret is not base64 after the optional `whsec_` prefix".into(),
        )),
    }
}

/// Collects the decoded `v1` signatures; other versions (e.g. asymmetric `v1a`) are skipped.
fn v1_signatures(header: &str, value: &str) -> Result<Vec<Vec<u8>>, VerifyError> {
    let mut signatures = Vec::new();
    for entry in value.split_ascii_whitespace() {
        if let Some(("v1", sig)) = entry.split_once(',') {
            signatures.push(decode_base64_header(header, sig)?);
        }
    }
    Ok(signatures)
}

impl Scheme for StandardWebhooks {
    fn vendor(&self) -> &'static str {
        self.vendor
    }

    fn verify(&self, req: &InboundRequest<'_>, secret: &str) -> Result<(), VerifyError> {
        let key = decode_secret(secret)?;
        let names = self.family(req.headers);
        let id = required_header(req.headers, names.id)?;
        let timestamp_text = required_header(req.headers, names.timestamp)?;
        let signature = required_header(req.headers, names.signature)?;
        let timestamp = parse_timestamp(names.timestamp, timestamp_text)?;
        let candidates = v1_signatures(names.signature, signature)?;
        let expected = hmac_sha256(
            &key,
            &[
                id.as_bytes(),
                b".",
                timestamp_text.as_bytes(),
                b".",
                req.body,
            ],
        )?;
        if !ct_eq_any(&expected, &candidates) {
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
        let names = self.family(req.headers);
        optional_header(req.headers, names.id)
            .ok()
            .flatten()
            .map(str::to_string)
    }

    fn event_type(&self, _headers: &http::HeaderMap, body: &[u8]) -> Option<String> {
        json_field(body, "type")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{b64, headers, hmac_sha256 as sign, request};

    // Test vector from the Standard Webhooks reference library tests (`test_sign_function`):
    // https://github.com/standard-webhooks/standard-webhooks/blob/main/libraries/python/tests/test_webhooks.py
    const VEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VEC_TS: &str = "1614265330";
    const VEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const VEC_NOW: i64 = 1_614_265_330;

    fn std_headers(sig: &str) -> Vec<(&'static str, String)> {
        vec![
            ("webhook-id", VEC_ID.to_string()),
            ("webhook-timestamp", VEC_TS.to_string()),
            ("webhook-signature", sig.to_string()),
        ]
    }

    fn run(
        scheme: &StandardWebhooks,
        pairs: &[(&str, String)],
        body: &[u8],
        secret: &str,
        now: i64,
    ) -> Result<(), VerifyError> {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let h = headers(&borrowed);
        scheme.verify(&request(&h, body, now), secret)
    }

    fn both() -> [StandardWebhooks; 2] {
        [StandardWebhooks::standard(), StandardWebhooks::svix()]
    }

    #[test]
    fn accepts_the_standard_webhooks_spec_vector_with_either_vendor() {
        for scheme in both() {
            assert_eq!(
                run(
                    &scheme,
                    &std_headers(VEC_SIG),
                    VEC_BODY,
                    VEC_SECRET,
                    VEC_NOW
                ),
                Ok(()),
                "{}",
                scheme.vendor
            );
        }
    }

    #[test]
    fn accepts_svix_header_family_with_either_vendor() {
        let svix = [
            ("svix-id", VEC_ID.to_string()),
            ("svix-timestamp", VEC_TS.to_string()),
            ("svix-signature", VEC_SIG.to_string()),
        ];
        for scheme in both() {
            assert_eq!(
                run(&scheme, &svix, VEC_BODY, VEC_SECRET, VEC_NOW),
                Ok(()),
                "{}",
                scheme.vendor
            );
        }
    }

    #[test]
    fn accepts_secret_without_whsec_prefix() {
        assert_eq!(
            run(
                &StandardWebhooks::standard(),
                &std_headers(VEC_SIG),
                VEC_BODY,
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                VEC_NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn accepts_when_any_v1_entry_matches_and_ignores_other_versions() {
        let header = format!(
            "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== \
             v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= \
             v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= \
             noversion {VEC_SIG}"
        );
        assert_eq!(
            run(
                &StandardWebhooks::standard(),
                &std_headers(&header),
                VEC_BODY,
                VEC_SECRET,
                VEC_NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_wrong_secret() {
        let other = format!("whsec_{}", b64(b"a completely different key!!"));
        assert_eq!(
            run(
                &StandardWebhooks::standard(),
                &std_headers(VEC_SIG),
                VEC_BODY,
                &other,
                VEC_NOW
            ),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_tampered_body_and_tampered_id() {
        let scheme = StandardWebhooks::standard();
        assert_eq!(
            run(
                &scheme,
                &std_headers(VEC_SIG),
                br#"{"test": 2432232315}"#,
                VEC_SECRET,
                VEC_NOW
            ),
            Err(VerifyError::SignatureMismatch)
        );
        let mut pairs = std_headers(VEC_SIG);
        pairs[0].1 = "msg_other".into();
        assert_eq!(
            run(&scheme, &pairs, VEC_BODY, VEC_SECRET, VEC_NOW),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn signature_with_only_non_v1_entries_is_a_mismatch() {
        let only_v1a = "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==";
        assert_eq!(
            run(
                &StandardWebhooks::standard(),
                &std_headers(only_v1a),
                VEC_BODY,
                VEC_SECRET,
                VEC_NOW
            ),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_timestamp_too_old_and_too_new() {
        let scheme = StandardWebhooks::standard();
        let pairs = std_headers(VEC_SIG);
        assert_eq!(
            run(&scheme, &pairs, VEC_BODY, VEC_SECRET, VEC_NOW + 301),
            Err(VerifyError::StaleTimestamp { age_secs: 301 })
        );
        assert_eq!(
            run(&scheme, &pairs, VEC_BODY, VEC_SECRET, VEC_NOW - 301),
            Err(VerifyError::StaleTimestamp { age_secs: -301 })
        );
        assert_eq!(
            run(&scheme, &pairs, VEC_BODY, VEC_SECRET, VEC_NOW - 300),
            Ok(())
        );
    }

    #[test]
    fn missing_header_is_named_in_the_vendors_own_family() {
        let only_id = [("webhook-id", VEC_ID.to_string())];
        assert_eq!(
            run(
                &StandardWebhooks::standard(),
                &only_id,
                VEC_BODY,
                VEC_SECRET,
                VEC_NOW
            ),
            Err(VerifyError::MissingHeader("webhook-timestamp".into()))
        );
        assert_eq!(
            run(
                &StandardWebhooks::svix(),
                &[],
                VEC_BODY,
                VEC_SECRET,
                VEC_NOW
            ),
            Err(VerifyError::MissingHeader("svix-id".into()))
        );
        let mut no_sig = std_headers(VEC_SIG);
        no_sig.pop();
        assert_eq!(
            run(
                &StandardWebhooks::svix(),
                &no_sig,
                VEC_BODY,
                VEC_SECRET,
                VEC_NOW
            ),
            Err(VerifyError::MissingHeader("webhook-signature".into()))
        );
    }

    #[test]
    fn families_are_never_mixed() {
        // id from svix-*, timestamp and signature from webhook-*: the svix family is chosen
        // (it is present) and lacks a timestamp, so the request is refused.
        let mixed = [
            ("svix-id", VEC_ID.to_string()),
            ("webhook-timestamp", VEC_TS.to_string()),
            ("webhook-signature", VEC_SIG.to_string()),
        ];
        assert_eq!(
            run(
                &StandardWebhooks::svix(),
                &mixed,
                VEC_BODY,
                VEC_SECRET,
                VEC_NOW
            ),
            Err(VerifyError::MissingHeader("svix-timestamp".into()))
        );
    }

    #[test]
    fn malformed_headers_are_reported_as_malformed() {
        let scheme = StandardWebhooks::standard();
        let mut bad_ts = std_headers(VEC_SIG);
        bad_ts[1].1 = "hello".into();
        let bad_b64 = std_headers("v1,!!!not-base64!!!");
        for pairs in [bad_ts, bad_b64] {
            let err = run(&scheme, &pairs, VEC_BODY, VEC_SECRET, VEC_NOW).err();
            assert!(
                err.as_ref().is_some_and(VerifyError::is_malformed),
                "{pairs:?}: {err:?}"
            );
        }
    }

    #[test]
    fn unusable_secrets_are_invalid_secret_errors() {
        for secret in ["whsec_!!!", "whsec_", "", "not base64 at all"] {
            let err = run(
                &StandardWebhooks::standard(),
                &std_headers(VEC_SIG),
                VEC_BODY,
                secret,
                VEC_NOW,
            )
            .err();
            assert!(
                matches!(err, Some(VerifyError::InvalidSecret(_))),
                "{secret:?}: {err:?}"
            );
        }
    }

    #[test]
    fn invalid_secret_message_does_not_echo_the_secret() {
        let err = decode_secret("whsec_sup3r-s3cret!")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|m| !m.contains("sup3r")));
    }

    #[test]
    fn unpadded_secret_is_accepted() {
        let key = b"0123456789abcdefghijklmno"; // 25 bytes: padded base64 would end in "=="
        assert!(b64(key).ends_with("=="));
        let secret = format!("whsec_{}", b64(key).trim_end_matches('='));
        let body = br#"{"type":"contact.created"}"#;
        let mut msg = format!("{VEC_ID}.{VEC_TS}.").into_bytes();
        msg.extend_from_slice(body);
        let sig = format!("v1,{}", b64(&sign(key, &msg)));
        assert_eq!(
            run(
                &StandardWebhooks::standard(),
                &std_headers(&sig),
                body,
                &secret,
                VEC_NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn delivery_id_is_the_id_header_and_event_type_is_body_type() {
        let body = br#"{"type":"invoice.paid","data":{}}"#;
        let std = headers(&[("webhook-id", "msg_1")]);
        let svix = headers(&[("svix-id", "msg_2")]);
        for scheme in both() {
            assert_eq!(
                scheme.delivery_id(&request(&std, body, 0)).as_deref(),
                Some("msg_1")
            );
            assert_eq!(
                scheme.delivery_id(&request(&svix, body, 0)).as_deref(),
                Some("msg_2")
            );
            assert_eq!(
                scheme.event_type(&std, body).as_deref(),
                Some("invoice.paid")
            );
            assert_eq!(scheme.event_type(&std, b"nope"), None);
        }
    }
}
