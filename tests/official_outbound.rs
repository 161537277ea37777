//! Checks our outbound signatures with the official Standard Webhooks Python
//! library (`standardwebhooks`, pinned in vendor_libs/requirements.txt).
//!
//! Set HOOKRAIL_PYTHON to a Python that has the library installed; set
//! HOOKRAIL_REQUIRE_EMULATOR to make a missing HOOKRAIL_PYTHON an error.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use hookrail::sign::{generate_secret, sign};
use support::{now, python};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/vendor_libs/verify_outbound.py"
);

/// Asks the official library to verify `body` under `headers` with `secret`.
fn official_verify(
    python: &str,
    secret: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), serde_json::Value::from(*value)))
        .collect();
    let request = serde_json::json!({ "secret": secret, "headers": headers, "body": body });
    let mut child = Command::new(python)
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {python}: {err}"));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let output = child.wait_with_output().expect("verifier finished");
    assert!(
        output.status.success(),
        "verifier failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "verifier printed no JSON ({err}): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn official_library_accepts_our_signature() {
    let Some(python) = python("the official standardwebhooks check") else {
        return;
    };
    let secret = generate_secret();
    let body = r#"{"type":"invoice.paid","data":{"id":"inv_1","amount":4200,"note":"ünïcode ✓"}}"#;
    let signed = sign("msg_official_1", now(), body.as_bytes(), &[&secret]).unwrap();
    let verdict = official_verify(&python, &secret, &signed.pairs(), body);
    assert_eq!(verdict, serde_json::json!({ "ok": true }));
}

#[test]
fn official_library_accepts_the_old_secret_during_rotation() {
    let Some(python) = python("the official standardwebhooks check") else {
        return;
    };
    let (newest, oldest) = (generate_secret(), generate_secret());
    let body = r#"{"type":"rotation.check"}"#;
    let signed = sign(
        "msg_official_2",
        now(),
        body.as_bytes(),
        &[&newest, &oldest],
    )
    .unwrap();
    assert_eq!(signed.webhook_signature.split(' ').count(), 2);
    // A receiver that has not yet picked up the new secret.
    let verdict = official_verify(&python, &oldest, &signed.pairs(), body);
    assert_eq!(verdict, serde_json::json!({ "ok": true }));
    let verdict = official_verify(&python, &newest, &signed.pairs(), body);
    assert_eq!(verdict, serde_json::json!({ "ok": true }));
    // And one that holds neither.
    let verdict = official_verify(&python, &generate_secret(), &signed.pairs(), body);
    assert_eq!(verdict["ok"], false, "{verdict}");
}

#[test]
fn official_library_rejects_a_tampered_body() {
    let Some(python) = python("the official standardwebhooks check") else {
        return;
    };
    let secret = generate_secret();
    let body = r#"{"amount":100}"#;
    let signed = sign("msg_official_3", now(), body.as_bytes(), &[&secret]).unwrap();
    let verdict = official_verify(&python, &secret, &signed.pairs(), r#"{"amount":900}"#);
    assert_eq!(verdict["ok"], false, "{verdict}");
    assert!(
        verdict["error"]
            .as_str()
            .unwrap_or_default()
            .contains("No matching signature"),
        "{verdict}"
    );
}
