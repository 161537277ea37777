//! `hookrail status`, as an operator runs it beside a running `hookrail dev`: an endpoint that
//! refuses connections trips its circuit, and the report across tenants says so.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{start_dev, HOOKRAIL};

fn status(data: &std::path::Path, json: bool) -> String {
    let mut command = Command::new(HOOKRAIL);
    command.args(["status", "--data-dir"]).arg(data);
    if json {
        command.arg("--json");
    }
    let output = command
        .env_remove("HOOKRAIL_BACKEND")
        .output()
        .expect("run hookrail status");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn status_lists_failing_endpoints_and_open_circuits_across_tenants() {
    let data = tempfile::tempdir().expect("temp dir");
    assert!(status(data.path(), false).contains("All clear."));

    let dev = start_dev(data.path(), "127.0.0.1:0", &[]);
    // A port nobody listens on: every delivery fails at once with "connection refused".
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{}/v1/endpoints", dev.base_url))
        .bearer_auth(&dev.api_key)
        .json(&serde_json::json!({ "url": format!("http://{closed}/hook"), "event_types": ["*"] }))
        .send()
        .await
        .expect("create endpoint")
        .json()
        .await
        .expect("json");
    let endpoint = created["id"].as_str().expect("id").to_owned();
    for n in 0..5 {
        let published = http
            .post(format!("{}/v1/events", dev.base_url))
            .bearer_auth(&dev.api_key)
            .json(&serde_json::json!({ "type": "order.created", "data": { "n": n } }))
            .send()
            .await
            .expect("publish");
        assert_eq!(published.status(), 202);
    }
    let mut report = serde_json::Value::Null;
    for _ in 0..200 {
        report = serde_json::from_str(&status(data.path(), true)).expect("json report");
        if report["open_circuits"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(report["open_circuits"], 1, "{report:#}");
    let line = &report["failing_endpoints"][0];
    assert_eq!(line["endpoint_id"], endpoint.as_str());
    assert_eq!(line["circuit"], "open");
    assert_eq!(line["consecutive_failures"], 5);
    assert_eq!(line["last_error"], "connect");

    let text = status(data.path(), false);
    assert!(
        text.contains("Failing endpoints: 1 (1 with an open circuit)"),
        "{text}"
    );
    assert!(text.contains(&endpoint), "{text}");
    assert!(
        text.contains("Dead letters: 0 inbound jobs, 0 dispatch jobs"),
        "{text}"
    );
}
