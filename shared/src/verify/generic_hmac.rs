//! Generic HMAC: a per-integration description of a vendor's header, algorithm, encoding and
//! signed-content layout, for vendors without a built-in scheme.

use crate::verify::crypto::{
    check_tolerance, ct_eq, decode_base64_header, decode_hex, hmac, malformed, parse_timestamp,
    require_secret,
};
use crate::verify::support::{header_text, json_field, required_header};
use crate::verify::{InboundRequest, Scheme, SchemeConfigError, VerifyError};

/// Hash function of the HMAC.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    /// HMAC-SHA1, for legacy senders only.
    Sha1,
    /// HMAC-SHA256.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How the MAC is written in the signature header.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Hexadecimal, either case.
    #[default]
    Hex,
    /// Base64, standard or URL-safe alphabet, padding optional.
    Base64,
}

/// Configuration of the generic HMAC scheme, deserialised from an integration's `config` JSON.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GenericHmacConfig {
    /// Header carrying the signature, e.g. "X-Signature".
    pub header: String,
    /// Hash function (default sha256).
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    /// Signature encoding (default hex).
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// Text before the encoded MAC in the header, e.g. "sha256=" (matched case-insensitively).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Header carrying a Unix-seconds timestamp; when set, it is required and checked for staleness.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// Allowed clock difference for `timestamp_header`, in seconds (default 300).
    #[serde(default = "default_tolerance_secs")]
    pub tolerance_secs: u64,
    /// Signed-content template using "{timestamp}" and "{body}" (default "{body}", or
    /// "{timestamp}.{body}" when `timestamp_header` is set).
    #[serde(default)]
    pub signed_content: Option<String>,
    /// Header carrying the sender's delivery id.
    #[serde(default)]
    pub delivery_id_header: Option<String>,
    /// Header carrying the event name (takes precedence over `event_type_field`).
    #[serde(default)]
    pub event_type_header: Option<String>,
    /// Top-level JSON field of the body carrying the event name.
    #[serde(default)]
    pub event_type_field: Option<String>,
}

fn default_tolerance_secs() -> u64 {
    crate::verify::crypto::DEFAULT_TOLERANCE_SECS
}

/// One piece of the signed-content template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Timestamp,
    Body,
}

/// Parses the template once at build time so a bad template fails configuration, not deliveries.
fn parse_template(template: &str) -> Result<Vec<Segment>, SchemeConfigError> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('{') {
        literal.push_str(before);
        let placeholder = after.split_once('}').filter(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        let Some((name, tail)) = placeholder else {
            // A brace that does not open a `{name}` placeholder is literal text.
            literal.push('{');
            rest = after;
            continue;
        };
        let segment = match name {
            "timestamp" => Segment::Timestamp,
            "body" => Segment::Body,
            other => {
                // Rejecting typos such as "{timestmp}" avoids silently signing a constant string.
                return Err(SchemeConfigError::InvalidConfig(format!(
                    "signed_content has unknown placeholder `{{{other}}}`; use {{timestamp}} and {{body}}"
                )));
            }
        };
        if !literal.is_empty() {
            segments.push(Segment::Literal(std::mem::take(&mut literal)));
        }
        segments.push(segment);
        rest = tail;
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

fn check_header_name(field: &str, name: &str) -> Result<(), SchemeConfigError> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| {
            SchemeConfigError::InvalidConfig(format!("{field} `{name}` is not a valid header name"))
        })
}

/// A verifier built from a validated [`GenericHmacConfig`].
pub(crate) struct GenericHmac {
    config: GenericHmacConfig,
    template: Vec<Segment>,
}

impl GenericHmac {
    /// Validates the configuration so every later failure is about the request, not the setup.
    pub(crate) fn new(config: GenericHmacConfig) -> Result<Self, SchemeConfigError> {
        check_header_name("header", &config.header)?;
        let optional_headers = [
            ("timestamp_header", &config.timestamp_header),
            ("delivery_id_header", &config.delivery_id_header),
            ("event_type_header", &config.event_type_header),
        ];
        for (field, name) in optional_headers {
            if let Some(name) = name {
                check_header_name(field, name)?;
            }
        }
        let default_template = if config.timestamp_header.is_some() {
            "{timestamp}.{body}"
        } else {
            "{body}"
        };
        let template =
            parse_template(config.signed_content.as_deref().unwrap_or(default_template))?;
        if !template.contains(&Segment::Body) {
            return Err(SchemeConfigError::InvalidConfig(
                "signed_content must include {body}, otherwise the body is not authenticated"
                    .into(),
            ));
        }
        if template.contains(&Segment::Timestamp) && config.timestamp_header.is_none() {
            return Err(SchemeConfigError::InvalidConfig(
                "signed_content uses {timestamp} but timestamp_header is not set".into(),
            ));
        }
        if config.prefix.as_deref() == Some("") {
            return Err(SchemeConfigError::InvalidConfig(
                "prefix must be omitted rather than empty".into(),
            ));
        }
        Ok(Self { config, template })
    }

    fn strip_prefix<'v>(&self, value: &'v str) -> Result<&'v str, VerifyError> {
        let Some(prefix) = self.config.prefix.as_deref() else {
            return Ok(value);
        };
        match (value.get(..prefix.len()), value.get(prefix.len()..)) {
            (Some(head), Some(rest)) if head.eq_ignore_ascii_case(prefix) => Ok(rest),
            _ => Err(malformed(
                &self.config.header,
                &format!("expected the signature to start with `{prefix}`"),
            )),
        }
    }
}

impl Scheme for GenericHmac {
    fn vendor(&self) -> &'static str {
        "generic-hmac"
    }

    fn verify(&self, req: &InboundRequest<'_>, secret: &str) -> Result<(), VerifyError> {
        let key = require_secret(secret)?;
        let header = &self.config.header;
        let encoded = self.strip_prefix(required_header(req.headers, header)?)?;
        let given = match self.config.encoding {
            SignatureEncoding::Hex => decode_hex(header, encoded)?,
            SignatureEncoding::Base64 => decode_base64_header(header, encoded)?,
        };
        let timestamp = match &self.config.timestamp_header {
            Some(name) => {
                let text = required_header(req.headers, name)?;
                Some((text, parse_timestamp(name, text)?))
            }
            None => None,
        };
        let parts: Vec<&[u8]> = self
            .template
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => text.as_bytes(),
                Segment::Body => req.body,
                // `new` guarantees a timestamp header whenever the template uses it.
                Segment::Timestamp => timestamp.map_or(&b""[..], |(text, _)| text.as_bytes()),
            })
            .collect();
        let expected = hmac(self.config.algorithm, key, &parts)?;
        if !ct_eq(&expected, &given) {
            return Err(VerifyError::SignatureMismatch);
        }
        // Checked after the MAC so only authentic requests are ever reported as stale.
        match timestamp {
            Some((_, signed_at)) => {
                check_tolerance(signed_at, req.now_unix, self.config.tolerance_secs)
            }
            None => Ok(()),
        }
    }

    fn delivery_id(&self, req: &InboundRequest<'_>) -> Option<String> {
        header_text(req.headers, self.config.delivery_id_header.as_deref()?)
    }

    fn event_type(&self, headers: &http::HeaderMap, body: &[u8]) -> Option<String> {
        let from_header = self
            .config
            .event_type_header
            .as_deref()
            .and_then(|name| header_text(headers, name));
        from_header.or_else(|| json_field(body, self.config.event_type_field.as_deref()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::{b64, headers, request};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn build(config: serde_json::Value) -> GenericHmac {
        let config: GenericHmacConfig = serde_json::from_value(config).expect("config parses");
        GenericHmac::new(config).expect("config is valid")
    }

    fn build_err(config: serde_json::Value) -> Option<SchemeConfigError> {
        crate::verify::scheme_for("generic-hmac", &config).err()
    }

    fn verify(
        scheme: &GenericHmac,
        pairs: &[(&str, &str)],
        body: &[u8],
        secret: &str,
        now: i64,
    ) -> Result<(), VerifyError> {
        let h = headers(pairs);
        scheme.verify(&request(&h, body, now), secret)
    }

    // RFC 4231 section 4.3, test case 2 (https://www.rfc-editor.org/rfc/rfc4231#section-4.3):
    // key "Jefe", data "what do ya want for nothing?".
    const RFC_KEY: &str = "Jefe";
    const RFC_DATA: &[u8] = b"what do ya want for nothing?";
    const RFC_SHA256: &str = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    const RFC_SHA512: &str = "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737";
    // RFC 2202 section 3, test case 2 (https://www.rfc-editor.org/rfc/rfc2202#section-3).
    const RFC_SHA1: &str = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";

    #[test]
    fn config_defaults_follow_the_documented_values() {
        let config: GenericHmacConfig =
            serde_json::from_value(json!({ "header": "X-Signature" })).expect("parses");
        assert_eq!(
            config,
            GenericHmacConfig {
                header: "X-Signature".into(),
                algorithm: HmacAlgorithm::Sha256,
                encoding: SignatureEncoding::Hex,
                prefix: None,
                timestamp_header: None,
                tolerance_secs: 300,
                signed_content: None,
                delivery_id_header: None,
                event_type_header: None,
                event_type_field: None,
            }
        );
    }

    #[test]
    fn config_round_trips_through_json() {
        let config: GenericHmacConfig = serde_json::from_value(json!({
            "header": "X-Sig", "algorithm": "sha512", "encoding": "base64", "prefix": "v1=",
            "timestamp_header": "X-Ts", "tolerance_secs": 60, "signed_content": "{timestamp}:{body}",
            "delivery_id_header": "X-Id", "event_type_header": "X-Event", "event_type_field": "kind"
        }))
        .expect("parses");
        let back: GenericHmacConfig =
            serde_json::from_value(serde_json::to_value(&config).expect("serialises"))
                .expect("re-parses");
        assert_eq!(back, config);
    }

    #[test]
    fn verifies_rfc_vectors_for_each_algorithm_in_hex() {
        for (algorithm, mac) in [
            ("sha1", RFC_SHA1),
            ("sha256", RFC_SHA256),
            ("sha512", RFC_SHA512),
        ] {
            let scheme = build(json!({ "header": "X-Sig", "algorithm": algorithm }));
            assert_eq!(
                verify(&scheme, &[("X-Sig", mac)], RFC_DATA, RFC_KEY, NOW),
                Ok(()),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn verifies_base64_encoding_with_prefix() {
        let raw = hex::decode(RFC_SHA256).expect("hex");
        let scheme = build(json!({ "header": "X-Sig", "encoding": "base64", "prefix": "sha256=" }));
        let value = format!("sha256={}", b64(&raw));
        assert_eq!(
            verify(&scheme, &[("X-Sig", &value)], RFC_DATA, RFC_KEY, NOW),
            Ok(())
        );
        let upper_prefix = format!("SHA256={}", b64(&raw));
        assert_eq!(
            verify(&scheme, &[("X-Sig", &upper_prefix)], RFC_DATA, RFC_KEY, NOW),
            Ok(())
        );
    }

    #[test]
    fn algorithm_mismatch_is_a_signature_mismatch() {
        let scheme = build(json!({ "header": "X-Sig", "algorithm": "sha512" }));
        assert_eq!(
            verify(&scheme, &[("X-Sig", RFC_SHA256)], RFC_DATA, RFC_KEY, NOW),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_wrong_secret_and_tampered_body() {
        let scheme = build(json!({ "header": "X-Sig" }));
        assert_eq!(
            verify(&scheme, &[("X-Sig", RFC_SHA256)], RFC_DATA, "Jeff", NOW),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify(
                &scheme,
                &[("X-Sig", RFC_SHA256)],
                b"what do ya want for something?",
                RFC_KEY,
                NOW
            ),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn rejects_missing_signature_header() {
        let scheme = build(json!({ "header": "X-Sig" }));
        assert_eq!(
            verify(&scheme, &[], RFC_DATA, RFC_KEY, NOW),
            Err(VerifyError::MissingHeader("X-Sig".into()))
        );
    }

    #[test]
    fn malformed_signatures_are_reported_as_malformed() {
        let hex_scheme = build(json!({ "header": "X-Sig", "prefix": "sha256=" }));
        for bad in [RFC_SHA256, "sha256=zz", "sha256=abc", "sh"] {
            let err = verify(&hex_scheme, &[("X-Sig", bad)], RFC_DATA, RFC_KEY, NOW).err();
            assert!(
                err.as_ref().is_some_and(VerifyError::is_malformed),
                "{bad}: {err:?}"
            );
        }
        let b64_scheme = build(json!({ "header": "X-Sig", "encoding": "base64" }));
        let err = verify(&b64_scheme, &[("X-Sig", "***")], RFC_DATA, RFC_KEY, NOW).err();
        assert!(err.is_some_and(|e| e.is_malformed()));
    }

    #[test]
    fn non_ascii_signature_header_is_malformed_not_a_panic() {
        let scheme = build(json!({ "header": "X-Sig", "prefix": "sha256=" }));
        let h = {
            let mut map = http::HeaderMap::new();
            map.insert(
                "x-sig",
                http::HeaderValue::from_bytes("é=é=é=ab".as_bytes()).expect("opaque bytes"),
            );
            map
        };
        let err = scheme.verify(&request(&h, RFC_DATA, NOW), RFC_KEY).err();
        assert!(err.is_some_and(|e| e.is_malformed()));
    }

    fn timestamped() -> GenericHmac {
        build(json!({ "header": "X-Sig", "timestamp_header": "X-Ts", "tolerance_secs": 60 }))
    }

    fn timestamped_sig(ts: &str, body: &[u8]) -> String {
        let mut msg = format!("{ts}.").into_bytes();
        msg.extend_from_slice(body);
        hex::encode(crate::verify::test_support::hmac_sha256(
            RFC_KEY.as_bytes(),
            &msg,
        ))
    }

    #[test]
    fn timestamp_header_defaults_template_to_timestamp_dot_body() {
        let ts = NOW.to_string();
        let sig = timestamped_sig(&ts, RFC_DATA);
        assert_eq!(
            verify(
                &timestamped(),
                &[("X-Sig", &sig), ("X-Ts", &ts)],
                RFC_DATA,
                RFC_KEY,
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_stale_timestamp_in_both_directions_using_configured_tolerance() {
        let ts = NOW.to_string();
        let sig = timestamped_sig(&ts, RFC_DATA);
        let pairs = [("X-Sig", sig.as_str()), ("X-Ts", ts.as_str())];
        assert_eq!(
            verify(&timestamped(), &pairs, RFC_DATA, RFC_KEY, NOW + 61),
            Err(VerifyError::StaleTimestamp { age_secs: 61 })
        );
        assert_eq!(
            verify(&timestamped(), &pairs, RFC_DATA, RFC_KEY, NOW - 61),
            Err(VerifyError::StaleTimestamp { age_secs: -61 })
        );
        assert_eq!(
            verify(&timestamped(), &pairs, RFC_DATA, RFC_KEY, NOW + 60),
            Ok(())
        );
    }

    #[test]
    fn timestamp_header_is_required_and_must_be_numeric() {
        let sig = timestamped_sig("x", RFC_DATA);
        assert_eq!(
            verify(&timestamped(), &[("X-Sig", &sig)], RFC_DATA, RFC_KEY, NOW),
            Err(VerifyError::MissingHeader("X-Ts".into()))
        );
        let err = verify(
            &timestamped(),
            &[("X-Sig", &sig), ("X-Ts", "x")],
            RFC_DATA,
            RFC_KEY,
            NOW,
        )
        .err();
        assert!(err.is_some_and(|e| e.is_malformed()));
    }

    #[test]
    fn custom_template_with_literals_is_honoured() {
        let scheme = build(json!({
            "header": "X-Sig", "timestamp_header": "X-Ts", "signed_content": "v0:{timestamp}:{body}"
        }));
        let ts = NOW.to_string();
        let mut msg = format!("v0:{ts}:").into_bytes();
        msg.extend_from_slice(RFC_DATA);
        let sig = hex::encode(crate::verify::test_support::hmac_sha256(
            RFC_KEY.as_bytes(),
            &msg,
        ));
        assert_eq!(
            verify(
                &scheme,
                &[("X-Sig", &sig), ("X-Ts", &ts)],
                RFC_DATA,
                RFC_KEY,
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn template_parser_keeps_stray_braces_literal() {
        assert_eq!(
            parse_template("{ {body}}{").expect("parses"),
            vec![
                Segment::Literal("{ ".into()),
                Segment::Body,
                Segment::Literal("}{".into()),
            ]
        );
        assert_eq!(
            parse_template("{}{body}").expect("parses")[0],
            Segment::Literal("{}".into())
        );
    }

    #[test]
    fn invalid_configs_are_rejected_at_build_time() {
        let cases = [
            json!({}),
            json!({ "header": "X-Sig", "algorithm": "md5" }),
            json!({ "header": "X-Sig", "encoding": "base32" }),
            json!({ "header": "X-Sig", "unexpected": true }),
            json!({ "header": "bad header" }),
            json!({ "header": "X-Sig", "timestamp_header": "" }),
            json!({ "header": "X-Sig", "tolerance_secs": -1 }),
            json!({ "header": "X-Sig", "signed_content": "{timestamp}" }),
            json!({ "header": "X-Sig", "signed_content": "{timestamp}.{body}" }),
            json!({ "header": "X-Sig", "signed_content": "{timestmp}.{body}" }),
            json!({ "header": "X-Sig", "prefix": "" }),
            json!("not an object"),
        ];
        for config in cases {
            assert!(
                matches!(
                    build_err(config.clone()),
                    Some(SchemeConfigError::InvalidConfig(_))
                ),
                "{config}"
            );
        }
    }

    #[test]
    fn delivery_id_and_event_type_follow_configured_sources() {
        let scheme = build(json!({
            "header": "X-Sig", "delivery_id_header": "X-Delivery",
            "event_type_header": "X-Event", "event_type_field": "event"
        }));
        let body = br#"{"event":"order.shipped"}"#;
        let with_headers = headers(&[("X-Delivery", "d-1"), ("X-Event", "order.created")]);
        assert_eq!(
            scheme
                .delivery_id(&request(&with_headers, body, NOW))
                .as_deref(),
            Some("d-1")
        );
        assert_eq!(
            scheme.event_type(&with_headers, body).as_deref(),
            Some("order.created")
        );
        let bare = headers(&[]);
        assert_eq!(
            scheme.event_type(&bare, body).as_deref(),
            Some("order.shipped")
        );
        assert_eq!(scheme.delivery_id(&request(&bare, body, NOW)), None);

        let unconfigured = build(json!({ "header": "X-Sig" }));
        assert_eq!(
            unconfigured.delivery_id(&request(&with_headers, body, NOW)),
            None
        );
        assert_eq!(unconfigured.event_type(&with_headers, body), None);
    }

    #[test]
    fn empty_secret_is_refused() {
        let scheme = build(json!({ "header": "X-Sig" }));
        assert!(matches!(
            verify(&scheme, &[("X-Sig", RFC_SHA256)], RFC_DATA, "", NOW),
            Err(VerifyError::InvalidSecret(_))
        ));
    }
}
