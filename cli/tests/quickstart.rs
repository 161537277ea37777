//! The README's quick start, as a user runs it: `hookrail dev` prints its base URL and an API
//! key that works, the same key at every start; `hookrail tenants create` prints a new key.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const HOOKRAIL: &str = env!("CARGO_BIN_EXE_hookrail");

struct Dev {
    child: Child,
    base_url: String,
    api_key: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dev(data_dir: &std::path::Path) -> Dev {
    let mut child = Command::new(HOOKRAIL)
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hookrail dev");
    let stdout = child.stdout.take().expect("stdout");
    let (mut base_url, mut api_key) = (None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(url) = line.strip_prefix("base url: ") {
            base_url = Some(url.to_owned());
        }
        if let Some(key) = line.strip_prefix("api key: ") {
            api_key = Some(key.to_owned());
        }
        if base_url.is_some() && api_key.is_some() {
            break;
        }
    }
    Dev {
        child,
        base_url: base_url.expect("hookrail dev printed its base url"),
        api_key: api_key.expect("hookrail dev printed an api key"),
    }
}

#[tokio::test]
async fn dev_prints_a_working_api_key_and_the_same_one_after_a_restart() {
    let data = tempfile::tempdir().expect("temp dir");
    let first = start_dev(data.path());
    let response = reqwest::Client::new()
        .get(format!("{}/v1/integrations", first.base_url))
        .bearer_auth(&first.api_key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let key = first.api_key.clone();
    drop(first);

    let second = start_dev(data.path());
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
