//! Running the real `hookrail` binary in tests.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const HOOKRAIL: &str = env!("CARGO_BIN_EXE_hookrail");

/// A running `hookrail dev`, killed (SIGKILL) when dropped.
pub struct Dev {
    pub child: Child,
    pub base_url: String,
    pub api_key: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hookrail dev` on `listen` with `data_dir` and extra environment, and reads the
/// base URL and API key it prints.
pub fn start_dev(data_dir: &std::path::Path, listen: &str, env: &[(&str, &str)]) -> Dev {
    let mut command = Command::new(HOOKRAIL);
    command
        .args(["dev", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start hookrail dev");
    let stdout = child.stdout.take().expect("stdout");
    let (mut base_url, mut api_key) = (None, None);
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
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
    // Keep reading, as a terminal would, so the process never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Dev {
        child,
        base_url: base_url.expect("hookrail dev printed its base url"),
        api_key: api_key.expect("hookrail dev printed an api key"),
    }
}
