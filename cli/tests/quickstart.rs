//! The README's quick start, as a user runs it: `hookrail dev` prints its base URL and an API
//! key that works, the same key at every start; `hookrail tenants create` prints a new key.

mod support;

use std::process::Command;

use support::{start_dev, HOOKRAIL};

#[tokio::test]
async fn dev_prints_a_working_api_key_and_the_same_one_after_a_restart() {
    let data = tempfile::tempdir().expect("temp dir");
    let first = start_dev(data.path(), "127.0.0.1:0", &[]);
    let response = reqwest::Client::new()
        .get(format!("{}/v1/integrations", first.base_url))
        .bearer_auth(&first.api_key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let key = first.api_key.clone();
    drop(first);

    let second = start_dev(data.path(), "127.0.0.1:0", &[]);
    assert_eq!(second.api_key, key);
}

#[test]
fn tenants_create_prints_a_new_key() {
    let data = tempfile::tempdir().expect("temp dir");
    let output = Command::new(HOOKRAIL)
        .args(["tenants", "create", "Acme", "--data-dir"])
        .arg(data.path())
        .env_remove("HOOKRAIL_BACKEND")
        .output()
        .expect("run hookrail tenants create");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("api key: hr_")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("tenant: tnt_")),
        "{stdout}"
    );
}

#[tokio::test]
async fn dev_keeps_serving_after_its_stdout_is_closed() {
    let data = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(HOOKRAIL)
        .args([
            "dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start hookrail dev");
    // The reader goes away before the server prints anything, as `hookrail dev | head -0`.
    drop(child.stdout.take());
    let mut up = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if let Ok(answer) = reqwest::get(format!("http://127.0.0.1:{port}/v1/openapi.json")).await {
            up = answer.status() == 200;
            break;
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let still_running = child.try_wait().expect("status").is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        up && still_running,
        "hookrail dev died when its stdout was closed"
    );
}

#[test]
fn queues_redrive_reports_what_it_moved() {
    let data = tempfile::tempdir().expect("temp dir");
    let output = Command::new(HOOKRAIL)
        .args(["queues", "redrive", "dispatch", "--data-dir"])
        .arg(data.path())
        .env_remove("HOOKRAIL_BACKEND")
        .output()
        .expect("run hookrail queues redrive");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("redriven: 0 jobs from the dispatch dead-letter queue"),
        "{stdout}"
    );
}
