//! Signatures on outbound deliveries.
//!
//! Every delivery carries two signature headers so that tenants can verify it
//! with whichever tooling they already have: the Standard Webhooks headers
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`), which the official
//! Standard Webhooks libraries verify as they are, and `X-Hookrail-Signature`,
//! a Stripe-style `t=…,v1=…` header for receivers that hand-roll HMAC checks.
//! During a secret rotation both old and new secrets sign, so a receiver that
//! still holds the old secret keeps accepting deliveries.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Prefix of endpoint secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// Bytes of key material in a generated secret.
const SECRET_BYTES: usize = 32;

/// Decodes secrets the way the official Standard Webhooks libraries do:
/// padding optional and non-zero trailing bits tolerated, so any secret they
/// accept yields the same key bytes here.
const SECRET_DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

type HmacSha256 = Hmac<Sha256>;

/// Why a delivery could not be signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    /// A secret could not be decoded; the text says why but never contains the secret.
    #[error("invalid endpoint secret: {0}")]
    InvalidSecret(String),
    /// No secret was given, so there is nothing to sign with.
    #[error("no endpoint secret to sign with")]
    NoSecret,
}

/// A new endpoint secret: "whsec_" + standard base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    // Straight from the OS: secrets live for months and guard every delivery.
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a secret ("whsec_" prefix optional; standard base64, padding optional).
pub fn secret_key(secret: &str) -> Result<Vec<u8>, SignError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    // The decoder's error names the offending byte, which would leak part of
    // the secret into logs, so only a fixed reason is reported.
    let key = SECRET_DECODER
        .decode(encoded)
        .map_err(|_| SignError::InvalidSecret("not standard base64".to_owned()))?;
    if key.is_empty() {
        return Err(SignError::InvalidSecret("empty key".to_owned()));
    }
    Ok(key)
}

/// The headers of one signed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// Value of `webhook-id`: the message id, stable across retries.
    pub webhook_id: String,
    /// Value of `webhook-timestamp`: Unix seconds of this attempt.
    pub webhook_timestamp: String,
    /// Value of `webhook-signature`: space-separated `v1,<base64>` entries.
    pub webhook_signature: String,
    /// Value of `X-Hookrail-Signature`: `t=<timestamp>,v1=<hex>[,v1=<hex>…]`.
    pub hookrail_signature: String,
}

impl SignedHeaders {
    /// As (name, value) pairs: webhook-id, webhook-timestamp, webhook-signature, X-Hookrail-Signature.
    ///
    /// The names are not all lowercase, so build `http::HeaderName`s with
    /// `HeaderName::try_from`/`from_bytes` (which lowercase), not `from_static`.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("webhook-id", &self.webhook_id),
            ("webhook-timestamp", &self.webhook_timestamp),
            ("webhook-signature", &self.webhook_signature),
            ("X-Hookrail-Signature", &self.hookrail_signature),
        ]
    }
}

/// Signs `body` for every live secret (newest first).
///
/// webhook-signature: space-separated "v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>", one per secret (Standard Webhooks).
/// X-Hookrail-Signature: "t=<timestamp>,v1=<hex HMAC-SHA256(key, "{timestamp}.{body}")>[,v1=<hex>…]", one v1 per secret (Stripe-style scheme).
pub fn sign(
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: &[&str],
) -> Result<SignedHeaders, SignError> {
    if secrets.is_empty() {
        return Err(SignError::NoSecret);
    }
    let ts = timestamp.to_string();
    let mut standard = Vec::with_capacity(secrets.len());
    let mut hookrail = format!("t={ts}");
    for (index, secret) in secrets.iter().enumerate() {
        // Say which secret is bad so the operator can find it without seeing it.
        let key = secret_key(secret).map_err(|err| match err {
            SignError::InvalidSecret(why) => SignError::InvalidSecret(format!(
                "secret {} of {}: {why}",
                index + 1,
                secrets.len()
            )),
            other => other,
        })?;
        let standard_mac =
            hmac_sha256(&key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body])?;
        standard.push(format!("v1,{}", STANDARD.encode(standard_mac)));
        let hookrail_mac = hmac_sha256(&key, &[ts.as_bytes(), b".", body])?;
        hookrail.push_str(",v1=");
        hookrail.push_str(&hex::encode(hookrail_mac));
    }
    Ok(SignedHeaders {
        webhook_id: msg_id.to_owned(),
        webhook_timestamp: ts,
        webhook_signature: standard.join(" "),
        hookrail_signature: hookrail,
    })
}

/// HMAC-SHA256 over the concatenation of `parts`, without copying the body.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], SignError> {
    // HMAC takes keys of any length; the error arm exists only because the
    // generic `KeyInit` API is fallible.
    let mut mac = HmacSha256::new_from_slice(key)
        .map_err(|_| SignError::InvalidSecret("key rejected by HMAC".to_owned()))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks reference vector, from the official libraries'
    // test suites: github.com/standard-webhooks/standard-webhooks,
    // libraries/python/tests/test_webhooks.py (`test_sign_function`; the same
    // values appear in the JavaScript, Go and Rust libraries' tests).
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TIMESTAMP: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    /// An HMAC computed here directly, independent of the module's helper.
    fn independent_hex_hmac(key: &[u8], message: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    fn independent_b64_hmac(key: &[u8], message: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(message);
        STANDARD.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn reproduces_the_standard_webhooks_test_vector() {
        let headers = sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY, &[VECTOR_SECRET]).unwrap();
        assert_eq!(headers.webhook_signature, VECTOR_SIGNATURE);
        assert_eq!(headers.webhook_id, VECTOR_ID);
        assert_eq!(headers.webhook_timestamp, "1614265330");
    }

    #[test]
    fn vector_secret_signs_the_same_without_prefix_or_padding() {
        let bare = VECTOR_SECRET.strip_prefix(SECRET_PREFIX).unwrap();
        let headers = sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY, &[bare]).unwrap();
        assert_eq!(headers.webhook_signature, VECTOR_SIGNATURE);
    }

    #[test]
    fn hookrail_signature_matches_an_independent_hmac() {
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let expected = format!(
            "t=1614265330,v1={}",
            independent_hex_hmac(&key, br#"1614265330.{"test": 2432232314}"#)
        );
        let headers = sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY, &[VECTOR_SECRET]).unwrap();
        assert_eq!(headers.hookrail_signature, expected);
    }

    #[test]
    fn two_secrets_give_two_entries_in_each_header_newest_first() {
        let newest = generate_secret();
        let oldest = VECTOR_SECRET;
        let body = b"{\"event\":\"ping\"}";
        let headers = sign("msg_1", 1_700_000_000, body, &[&newest, oldest]).unwrap();

        let entries: Vec<&str> = headers.webhook_signature.split(' ').collect();
        assert_eq!(entries.len(), 2);
        let new_key = secret_key(&newest).unwrap();
        let old_key = secret_key(oldest).unwrap();
        let signed = b"msg_1.1700000000.{\"event\":\"ping\"}";
        assert_eq!(
            entries[0],
            format!("v1,{}", independent_b64_hmac(&new_key, signed))
        );
        assert_eq!(
            entries[1],
            format!("v1,{}", independent_b64_hmac(&old_key, signed))
        );

        let fields: Vec<&str> = headers.hookrail_signature.split(',').collect();
        let stripe_signed = b"1700000000.{\"event\":\"ping\"}";
        assert_eq!(
            fields,
            vec![
                "t=1700000000".to_owned(),
                format!("v1={}", independent_hex_hmac(&new_key, stripe_signed)),
                format!("v1={}", independent_hex_hmac(&old_key, stripe_signed)),
            ]
        );
    }

    #[test]
    fn signs_bodies_that_are_not_utf8() {
        let key = secret_key(VECTOR_SECRET).unwrap();
        let body = [0xff, 0x00, 0xfe];
        let headers = sign("msg_bin", 5, &body, &[VECTOR_SECRET]).unwrap();
        let mut signed = b"5.".to_vec();
        signed.extend_from_slice(&body);
        assert_eq!(
            headers.hookrail_signature,
            format!("t=5,v1={}", independent_hex_hmac(&key, &signed))
        );
    }

    #[test]
    fn a_bad_secret_is_an_error_that_does_not_reveal_it() {
        for bad in ["whsec_not*base64!!", "whsec_sekrit$value", "p@ssw0rd-🙂"] {
            let err = sign("msg_1", 1, b"{}", &[VECTOR_SECRET, bad]).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, SignError::InvalidSecret(_)), "{bad}: {err:?}");
            assert!(text.contains("secret 2 of 2"), "{text}");
            let material = bad.strip_prefix(SECRET_PREFIX).unwrap_or(bad);
            assert!(
                !text.contains(material),
                "error text leaks the secret: {text}"
            );
            assert!(
                !format!("{err:?}").contains(material),
                "debug leaks the secret"
            );
            // No fragment of the secret either (the decoder's own error would quote one byte).
            for symbol in ["*", "!", "$", "@", "🙂"] {
                if material.contains(symbol) {
                    assert!(!text.contains(symbol), "error text quotes {symbol}: {text}");
                }
            }
        }
    }

    #[test]
    fn empty_secrets_are_refused() {
        assert!(matches!(
            secret_key("whsec_"),
            Err(SignError::InvalidSecret(_))
        ));
        assert!(matches!(secret_key(""), Err(SignError::InvalidSecret(_))));
        assert_eq!(sign("msg_1", 1, b"{}", &[]), Err(SignError::NoSecret));
    }

    #[test]
    fn generated_secrets_are_prefixed_32_random_bytes() {
        let a = generate_secret();
        let b = generate_secret();
        assert!(a.starts_with(SECRET_PREFIX));
        assert_ne!(a, b);
        assert_eq!(secret_key(&a).unwrap().len(), 32);
        let padded = STANDARD.encode([0u8; 32]);
        assert_eq!(a.len(), SECRET_PREFIX.len() + padded.len());
    }

    #[test]
    fn secret_key_accepts_missing_padding_and_prefix() {
        // 4 bytes -> "AQIDBA==" padded.
        let expected = vec![1u8, 2, 3, 4];
        for form in ["whsec_AQIDBA==", "whsec_AQIDBA", "AQIDBA==", "AQIDBA"] {
            assert_eq!(secret_key(form).unwrap(), expected, "{form}");
        }
    }

    #[test]
    fn pairs_are_valid_http_headers_in_order() {
        let headers = sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY, &[VECTOR_SECRET]).unwrap();
        let pairs = headers.pairs();
        let names: Vec<&str> = pairs.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "X-Hookrail-Signature"
            ]
        );
        assert_eq!(pairs[2].1, VECTOR_SIGNATURE);
        for (name, value) in pairs {
            http::HeaderName::try_from(name).unwrap();
            http::HeaderValue::from_str(value).unwrap();
        }
    }
}
