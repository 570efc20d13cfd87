//! A real AWS API for the end-to-end specs: `moto_server` on 127.0.0.1 (started by
//! `scripts/local-aws.sh`), terraform with the hashicorp/aws provider from the machine's
//! filesystem mirror. Missing prerequisites fail the run under CI and skip it, loudly, elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use crate::common::workspace;

/// End-to-end specs deploy for tens of seconds each on a 2-core machine: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Held by a spec that loads both cores for minutes (a cold cargo build), so no deploy runs
/// beside it: once, a deploy beside it left moto with an integration that was not in the
/// state (a create retried under load, by all signs), and verify rightly failed on it.
pub fn exclusive() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct LocalAws {
    pub dir: tempfile::TempDir,
    /// Variables from the script's env.sh: endpoint, dummy credentials, region, CLI config.
    pub env: Vec<(String, String)>,
    _serial: MutexGuard<'static, ()>,
}

impl LocalAws {
    /// Starts a fresh server, or returns `None` after saying why when a prerequisite is missing
    /// outside CI. Under CI (`CI` set) a missing prerequisite is a test failure.
    pub fn start() -> Option<LocalAws> {
        let serial = exclusive();
        let missing: Vec<&str> = [
            ("terraform", which("terraform")),
            ("moto_server", which("moto_server")),
            ("aws", which("aws")),
        ]
        .into_iter()
        .filter(|(_, found)| !found)
        .map(|(name, _)| name)
        .collect();
        if !missing.is_empty() {
            let why = format!(
                "end-to-end prerequisites missing on PATH: {}",
                missing.join(", ")
            );
            if std::env::var_os("CI").is_some() {
                panic!("{why} (CI must install them: see .ci/run)");
            }
            eprintln!("SKIPPED end-to-end spec: {why}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(workspace().join("scripts/local-aws.sh"))
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("scripts/local-aws.sh runs");
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).into_owned();
            if std::env::var_os("CI").is_some() || !why.contains("mirror") {
                panic!("scripts/local-aws.sh start failed:\n{why}");
            }
            eprintln!("SKIPPED end-to-end spec: {why}");
            return None;
        }
        let env = parse_env(&dir.path().join("env.sh"));
        Some(LocalAws {
            dir,
            env,
            _serial: serial,
        })
    }

    pub fn env_refs(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Runs the aws CLI against the local API; panics with its output when it fails.
    pub fn aws(&self, args: &[&str]) -> serde_json::Value {
        let mut cmd = Command::new("aws");
        cmd.args(args)
            .args(["--output", "json"])
            .env_remove("AWS_PROFILE");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("aws runs");
        assert!(
            out.status.success(),
            "aws {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return serde_json::Value::Null;
        }
        serde_json::from_slice(&out.stdout).expect("aws prints JSON")
    }
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        let _ = Command::new(workspace().join("scripts/local-aws.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p: PathBuf| p.join(bin).is_file()))
}

/// `export K=V` lines of env.sh (values are written unquoted by the script).
fn parse_env(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl crate::common::Demo {
    /// Runs the xtask against the local AWS API (no AWS_PROFILE, the server's endpoint).
    pub fn xtask_aws(&self, aws: &LocalAws, args: &[&str]) -> crate::common::Out {
        self.xtask_env(args, &aws.env_refs())
    }
}

#[test]
fn the_local_aws_api_answers_on_loopback() {
    let Some(aws) = LocalAws::start() else { return };
    let endpoint = &aws
        .env
        .iter()
        .find(|(k, _)| k == "AWS_ENDPOINT_URL")
        .unwrap()
        .1;
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let id = aws.aws(&["sts", "get-caller-identity"]);
    assert!(
        id["Account"].as_str().is_some_and(|a| a.len() == 12),
        "{id}"
    );
}
