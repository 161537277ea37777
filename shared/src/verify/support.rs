//! Header and body readers shared by the schemes; all of them tolerate hostile input.

use http::HeaderMap;

use crate::verify::VerifyError;

use crate::verify::crypto::malformed;

/// Reads a header that may be absent; empty counts as absent.
///
/// A repeated header is malformed: with two values, which one was signed is ambiguous, and
/// picking one silently invites request-smuggling style confusion between proxies and us.
pub(crate) fn optional_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<&'h str>, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(malformed(name, "header was sent more than once"));
    }
    let text = first
        .to_str()
        .map_err(|_| malformed(name, "header value is not visible ASCII"))?
        .trim();
    Ok(if text.is_empty() { None } else { Some(text) })
}

/// Reads a header the scheme cannot do without.
pub(crate) fn required_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<&'h str, VerifyError> {
    optional_header(headers, name)?.ok_or_else(|| VerifyError::MissingHeader(name.to_string()))
}

/// Best-effort header read for ids and event names, where a bad header just means "unknown".
pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    optional_header(headers, name)
        .ok()
        .flatten()
        .map(str::to_string)
}

/// Parses the body as JSON, or None if it is not JSON.
pub(crate) fn json_body(body: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(body).ok()
}

/// A top-level string (or number) field of a JSON object body, as text.
pub(crate) fn json_field(body: &[u8], field: &str) -> Option<String> {
    value_text(json_body(body)?.get(field)?)
}

/// Renders a JSON scalar as an id or event name; objects, arrays and empty strings are not names.
pub(crate) fn value_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Looks up one field of an `application/x-www-form-urlencoded` body, percent-decoded.
pub(crate) fn form_field(body: &[u8], key: &str) -> Option<String> {
    body.split(|b| *b == b'&').find_map(|pair| {
        let mut halves = pair.splitn(2, |b| *b == b'=');
        let name = halves.next().unwrap_or_default();
        let value = halves.next().unwrap_or_default();
        (form_decode(name) == key).then(|| form_decode(value))
    })
}

/// Percent-decodes one form component; invalid escapes are kept literally rather than rejected,
/// because event classification must never fail hard.
fn form_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let decoded = raw
                    .get(i + 1..i + 3)
                    .and_then(|hex_pair| std::str::from_utf8(hex_pair).ok())
                    .and_then(|hex_pair| u8::from_str_radix(hex_pair, 16).ok());
                match decoded {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::headers;

    #[test]
    fn header_lookup_ignores_name_case() {
        let h = headers(&[("x-hub-signature-256", "sha256=ab")]);
        assert_eq!(required_header(&h, "X-Hub-Signature-256"), Ok("sha256=ab"));
    }

    #[test]
    fn empty_header_counts_as_missing() {
        let h = headers(&[("x-token", "  ")]);
        assert_eq!(
            required_header(&h, "X-Token"),
            Err(VerifyError::MissingHeader("X-Token".into()))
        );
    }

    #[test]
    fn repeated_header_is_malformed() {
        let h = headers(&[("x-token", "a"), ("x-token", "b")]);
        let err = required_header(&h, "X-Token").err();
        assert!(err.is_some_and(|e| e.is_malformed()));
    }

    #[test]
    fn non_ascii_header_value_is_malformed_not_a_panic() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-token",
            http::HeaderValue::from_bytes(b"caf\xc3\xa9").expect("opaque bytes allowed"),
        );
        let err = required_header(&h, "X-Token").err();
        assert!(err.is_some_and(|e| e.is_malformed()));
        assert_eq!(header_text(&h, "X-Token"), None);
    }

    #[test]
    fn json_field_reads_strings_and_numbers_only() {
        let body = br#"{"id":"evt_1","n":7,"o":{},"e":""}"#;
        assert_eq!(json_field(body, "id"), Some("evt_1".into()));
        assert_eq!(json_field(body, "n"), Some("7".into()));
        assert_eq!(json_field(body, "o"), None);
        assert_eq!(json_field(body, "e"), None);
        assert_eq!(json_field(b"not json", "id"), None);
        assert_eq!(json_field(b"[1,2]", "id"), None);
    }

    #[test]
    fn form_field_percent_decodes_and_tolerates_garbage() {
        let body = b"a=1&command=%2Fdeploy+now&bad=%zz%4&payload=%7B%22type%22%3A%22x%22%7D";
        assert_eq!(form_field(body, "command"), Some("/deploy now".into()));
        assert_eq!(form_field(body, "bad"), Some("%zz%4".into()));
        assert_eq!(form_field(body, "payload"), Some(r#"{"type":"x"}"#.into()));
        assert_eq!(form_field(body, "missing"), None);
        assert_eq!(form_field(b"", "a"), None);
        assert_eq!(form_field(b"%", "a"), None);
        assert_eq!(form_field(b"flag", "flag"), Some(String::new()));
    }
}
