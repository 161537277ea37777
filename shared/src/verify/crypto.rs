//! MAC computation, constant-time comparison, encodings and the replay window, shared by all schemes.

use base64::Engine as _;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use subtle::{Choice, ConstantTimeEq};

use crate::verify::{HmacAlgorithm, VerifyError};

/// Default replay window of every timestamped vendor scheme (Stripe, Slack, Standard Webhooks).
pub(crate) const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Computes an HMAC over the concatenation of `parts`, so callers never build a joined copy of the body.
pub(crate) fn hmac(
    algorithm: HmacAlgorithm,
    key: &[u8],
    parts: &[&[u8]],
) -> Result<Vec<u8>, VerifyError> {
    match algorithm {
        HmacAlgorithm::Sha1 => mac_over::<Hmac<sha1::Sha1>>(key, parts),
        HmacAlgorithm::Sha256 => mac_over::<Hmac<sha2::Sha256>>(key, parts),
        HmacAlgorithm::Sha512 => mac_over::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// HMAC-SHA256, the algorithm every fixed vendor scheme uses.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, VerifyError> {
    hmac(HmacAlgorithm::Sha256, key, parts)
}

fn mac_over<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, VerifyError> {
    // HMAC accepts keys of any length, so this error is unreachable; mapping it keeps the
    // verifier free of panics rather than trusting that invariant with an unwrap.
    let mut mac = <M as Mac>::new_from_slice(key)
        .map_err(|_| VerifyError::InvalidSecret("key rejected by HMAC".into()))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Constant-time equality; differing lengths are rejected (lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Constant-time check that `expected` equals at least one candidate.
///
/// Every candidate is compared even after a match so timing does not reveal which one matched.
pub(crate) fn ct_eq_any(expected: &[u8], candidates: &[Vec<u8>]) -> bool {
    candidates
        .iter()
        .fold(Choice::from(0), |found, candidate| {
            found | expected.ct_eq(candidate.as_slice())
        })
        .into()
}

/// Decodes a hex signature (either case); failure means the header is malformed, not mismatched.
pub(crate) fn decode_hex(header: &str, value: &str) -> Result<Vec<u8>, VerifyError> {
    hex::decode(value.trim()).map_err(|_| malformed(header, "signature is not valid hex"))
}

/// Decodes a base64 signature from a header; failure means the header is malformed.
pub(crate) fn decode_base64_header(header: &str, value: &str) -> Result<Vec<u8>, VerifyError> {
    decode_base64(value).ok_or_else(|| malformed(header, "signature is not valid base64"))
}

/// Lenient base64: padding optional, standard alphabet first, then URL-safe.
///
/// Senders disagree about padding and alphabet, and being strict there would reject genuine
/// deliveries without adding any security (the decoded MAC is still compared in full).
pub(crate) fn decode_base64(value: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    let value = value.trim();
    STANDARD
        .decode(value)
        .or_else(|_| URL_SAFE.decode(value))
        .ok()
}

/// Parses a Unix-seconds timestamp header; only ASCII digits are accepted so that the string
/// we verify is exactly the number we check for staleness.
pub(crate) fn parse_timestamp(header: &str, value: &str) -> Result<i64, VerifyError> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            header,
            "timestamp is not a whole number of seconds",
        ));
    }
    value
        .parse::<i64>()
        .map_err(|_| malformed(header, "timestamp is out of range"))
}

/// Rejects timestamps more than `tolerance_secs` away from `now_unix` in either direction.
pub(crate) fn check_tolerance(
    signed_at: i64,
    now_unix: i64,
    tolerance_secs: u64,
) -> Result<(), VerifyError> {
    let age_secs = now_unix.saturating_sub(signed_at);
    // unsigned_abs because i64::MIN.abs() would overflow on a hostile timestamp.
    if age_secs.unsigned_abs() > tolerance_secs {
        return Err(VerifyError::StaleTimestamp { age_secs });
    }
    Ok(())
}

/// Refuses an empty secret: HMAC with an empty key, or an empty shared token, authenticates nobody.
pub(crate) fn require_secret(secret: &str) -> Result<&[u8], VerifyError> {
    if secret.is_empty() {
        return Err(VerifyError::InvalidSecret("secret is empty".into()));
    }
    Ok(secret.as_bytes())
}

/// Shorthand for a [`VerifyError::MalformedHeader`].
pub(crate) fn malformed(header: &str, reason: &str) -> VerifyError {
    VerifyError::MalformedHeader {
        header: header.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 section 4.3 (test case 2) and RFC 2202 section 3 (test case 2):
    // https://www.rfc-editor.org/rfc/rfc4231#section-4.3
    // https://www.rfc-editor.org/rfc/rfc2202#section-3
    #[test]
    fn hmac_matches_rfc_test_vectors_for_every_algorithm() {
        let key = b"Jefe";
        let data: &[u8] = b"what do ya want for nothing?";
        let cases = [
            (
                HmacAlgorithm::Sha1,
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                HmacAlgorithm::Sha256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                HmacAlgorithm::Sha512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (algorithm, expected) in cases {
            let mac = hmac(algorithm, key, &[data]).expect("hmac");
            assert_eq!(hex::encode(mac), expected, "{algorithm:?}");
        }
    }

    #[test]
    fn hmac_over_parts_equals_hmac_over_joined_message() {
        let joined = hmac_sha256(b"k", &[b"a.b.c"]).expect("hmac");
        let parts = hmac_sha256(b"k", &[b"a", b".", b"b", b".c"]).expect("hmac");
        assert_eq!(joined, parts);
    }

    #[test]
    fn ct_eq_rejects_different_lengths_and_contents() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"", b"a"));
    }

    #[test]
    fn ct_eq_any_finds_a_match_in_any_position() {
        let candidates = vec![b"x".to_vec(), b"yy".to_vec(), b"abc".to_vec()];
        assert!(ct_eq_any(b"abc", &candidates));
        assert!(!ct_eq_any(b"abd", &candidates));
        assert!(!ct_eq_any(b"abc", &[]));
    }

    #[test]
    fn base64_accepts_missing_padding_and_url_safe_alphabet() {
        assert_eq!(decode_base64("aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("aGk"), Some(b"hi".to_vec()));
        assert_eq!(decode_base64("-_8="), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_base64("not base64!"), None);
    }

    #[test]
    fn timestamps_must_be_plain_digits() {
        assert_eq!(parse_timestamp("T", " 1700000000 "), Ok(1_700_000_000));
        for bad in ["", "abc", "-5", "+5", "1.5", "1e9", "99999999999999999999"] {
            assert!(parse_timestamp("T", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tolerance_is_inclusive_and_symmetric() {
        assert_eq!(check_tolerance(1000, 1300, 300), Ok(()));
        assert_eq!(check_tolerance(1300, 1000, 300), Ok(()));
        assert_eq!(
            check_tolerance(1000, 1301, 300),
            Err(VerifyError::StaleTimestamp { age_secs: 301 })
        );
        assert_eq!(
            check_tolerance(1301, 1000, 300),
            Err(VerifyError::StaleTimestamp { age_secs: -301 })
        );
    }

    #[test]
    fn tolerance_survives_extreme_timestamps_without_overflow() {
        assert!(check_tolerance(i64::MAX, i64::MIN, 300).is_err());
        assert!(check_tolerance(i64::MIN, i64::MAX, 300).is_err());
    }

    #[test]
    fn empty_secret_is_unusable() {
        assert!(matches!(
            require_secret(""),
            Err(VerifyError::InvalidSecret(_))
        ));
        assert_eq!(require_secret("s"), Ok(&b"s"[..]));
    }
}
