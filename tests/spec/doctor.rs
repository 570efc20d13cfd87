//! `cargo xtask doctor`: run with PATH pointing at a directory of fake tools (or at nothing),
//! HOME and the Terraform CLI config in a temporary directory, and no inherited AWS variables.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::common::*;

struct Doctor {
    demo: Demo,
    bin: PathBuf,
    home: PathBuf,
    env: Vec<(String, String)>,
}

impl Doctor {
    /// Every tool present at a good version, hashicorp/aws in a filesystem mirror.
    fn new() -> Doctor {
        let demo = Demo::new();
        let bin = demo.tmp.path().join("bin");
        let home = demo.tmp.path().join("home");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let mirror = demo.tmp.path().join("mirror");
        std::fs::create_dir_all(mirror.join("registry.terraform.io/hashicorp/aws/5.100.0"))
            .unwrap();
        let rc = demo.tmp.path().join("tf.rc");
        write(
            &rc,
            &format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
                mirror.display()
            ),
        );
        let d = Doctor {
            demo,
            bin,
            home,
            env: vec![("TF_CLI_CONFIG_FILE".into(), rc.display().to_string())],
        };
        d.fake("rustc", "echo 'rustc 1.89.0 (29483883e 2025-08-04)'");
        d.fake("cargo", "echo 'cargo 1.89.0 (c24e10642 2025-06-23)'");
        d.fake(
            "terraform",
            "[ \"$1\" = version ] && echo '{\"terraform_version\": \"1.9.8\"}'",
        );
        d.fake("uv", "[ \"$1\" = --version ] && echo 'uv 0.8.3' || exit 2");
        d.fake(
            "python3.13",
            "case \"$*\" in *platform*) echo '3.13 x86_64';; --version) echo 'Python 3.13.1';; *) exit 2;; esac",
        );
        d
    }

    fn fake(&self, name: &str, body: &str) {
        let p = self.bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn remove(&self, name: &str) {
        std::fs::remove_file(self.bin.join(name)).unwrap();
    }

    fn set(&mut self, k: &str, v: &str) {
        self.env.push((k.into(), v.into()));
    }

    /// `doctor --json` in a clean environment: only PATH, HOME and what the test set.
    fn run(&self) -> (Out, Value) {
        let mut cmd = Command::new(xtask_bin());
        cmd.args(["doctor", "--json", "--stack"])
            .arg(&self.demo.stack)
            .env_clear()
            .env("PATH", &self.bin)
            .env("HOME", &self.home)
            .env("PYENV_ROOT", self.home.join("no-pyenv"))
            .env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = run(cmd);
        let doc = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
        (out, doc)
    }
}

fn item<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {doc:#}"))
}

fn status(doc: &Value, name: &str) -> String {
    item(doc, name)["status"].as_str().unwrap().to_string()
}

fn has(doc: &Value, name: &str) -> bool {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == name)
}

#[test]
fn doctor_reports_every_prerequisite_with_its_version_and_passes_when_all_are_there() {
    let mut d = Doctor::new();
    d.set("AWS_ACCESS_KEY_ID", "AKIDDOCTORSPEC");
    d.set("AWS_SECRET_ACCESS_KEY", "doctor-secret-value");
    d.set("AWS_SESSION_TOKEN", "doctor-session-token");
    d.set("AWS_REGION", "eu-west-3");
    let (out, doc) = d.run();
    assert_eq!(out.code, 0, "{doc:#}");
    assert_eq!(doc["errors"], 0, "{doc:#}");
    for (name, version) in [
        ("rustc", Some("1.89.0")),
        ("cargo", Some("1.89.0")),
        ("terraform", Some("1.9.8")),
        ("providers", Some("5.100.0")),
        ("installer", Some("0.8.3")),
        ("xtask.toml", None),
        ("infra", None),
        ("aws", None),
    ] {
        assert_eq!(status(&doc, name), "ok", "{name}: {doc:#}");
        assert_eq!(item(&doc, name)["version"].as_str(), version, "{name}");
    }
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(status(&doc, "python3.13"), "ok", "{doc:#}");
        assert_eq!(item(&doc, "python3.13")["version"], "3.13.1");
    }
    assert!(item(&doc, "aws")["detail"]
        .as_str()
        .unwrap()
        .contains("region eu-west-3"));
    // The aws CLI is optional: without it verify uses the built-in client.
    assert!(
        item(&doc, "aws")["detail"]
            .as_str()
            .unwrap()
            .ends_with("no aws CLI: verify calls AWS through the built-in client (curl)"),
        "{doc:#}"
    );
    d.fake("aws", "exit 0");
    let (_, with_cli) = d.run();
    assert!(
        item(&with_cli, "aws")["detail"]
            .as_str()
            .unwrap()
            .ends_with("verify calls AWS through the aws CLI"),
        "{with_cli:#}"
    );
    d.remove("aws");
    // No cache configured: curl is not a prerequisite.
    assert!(!has(&doc, "curl"));
    // Credentials are found, never shown.
    for secret in [
        "AKIDDOCTORSPEC",
        "doctor-secret-value",
        "doctor-session-token",
    ] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{secret}"
        );
    }
}

#[test]
fn doctor_fails_naming_the_fix_for_each_missing_tool() {
    let d = Doctor::new();
    for tool in ["rustc", "cargo", "terraform", "uv", "python3.13"] {
        d.remove(tool);
    }
    let (out, doc) = d.run();
    assert_eq!(out.code, 1, "{doc:#}");
    for name in ["rustc", "cargo", "terraform", "installer"] {
        assert_eq!(status(&doc, name), "error", "{name}: {doc:#}");
    }
    assert!(item(&doc, "rustc")["fix"]
        .as_str()
        .unwrap()
        .contains("rustup"));
    assert!(item(&doc, "terraform")["fix"]
        .as_str()
        .unwrap()
        .contains("terraform/install"));
    assert!(item(&doc, "installer")["fix"]
        .as_str()
        .unwrap()
        .contains("uv"));
    // Optional: smoke skips without Python, only some commands need AWS.
    assert_eq!(status(&doc, "python3.13"), "warning");
    assert!(item(&doc, "python3.13")["fix"]
        .as_str()
        .unwrap()
        .contains("uv python install 3.13"));
    assert_eq!(status(&doc, "aws"), "warning");

    // The human report: one line each, the fix under it, the counts last.
    let mut cmd = Command::new(xtask_bin());
    cmd.args(["doctor", "--stack"])
        .arg(&d.demo.stack)
        .env_clear()
        .env("PATH", &d.bin)
        .env("HOME", &d.home);
    let text = run(cmd);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("error  terraform"), "{}", text.stdout);
    assert!(
        text.stdout.contains("fix: install Terraform"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .trim_end()
            .ends_with("doctor: 4 errors, 2 warnings"),
        "{}",
        text.stdout
    );
}

#[test]
fn doctor_fails_on_tools_older_than_the_xtask_needs_and_an_empty_provider_mirror() {
    let mut d = Doctor::new();
    d.fake("rustc", "echo 'rustc 1.80.1 (3f5fd8dd4 2024-08-06)'");
    d.fake(
        "terraform",
        "[ \"$1\" = version ] && echo '{\"terraform_version\": \"1.4.6\"}'",
    );
    d.fake(
        "curl",
        "echo 'curl 7.61.1 (x86_64-redhat-linux-gnu) libcurl/7.61.1'",
    );
    d.set("XTASK_CACHE", "s3://acme-ci-cache/acme-stack");
    let empty = d.demo.tmp.path().join("empty-mirror");
    std::fs::create_dir_all(&empty).unwrap();
    let rc = d.demo.tmp.path().join("empty.rc");
    write(
        &rc,
        &format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
            empty.display()
        ),
    );
    d.set("TF_CLI_CONFIG_FILE", rc.to_str().unwrap());
    let (out, doc) = d.run();
    assert_eq!(out.code, 1);
    let rustc = item(&doc, "rustc");
    assert_eq!(
        (rustc["status"].as_str(), rustc["version"].as_str()),
        (Some("error"), Some("1.80.1"))
    );
    assert!(
        rustc["detail"]
            .as_str()
            .unwrap()
            .contains("rust-version 1.89"),
        "{rustc}"
    );
    assert!(item(&doc, "terraform")["detail"]
        .as_str()
        .unwrap()
        .contains("older than 1.5.0"));
    let curl = item(&doc, "curl");
    assert_eq!(curl["status"], "error");
    assert!(
        curl["detail"].as_str().unwrap().contains("older than 7.66"),
        "{curl}"
    );
    let providers = item(&doc, "providers");
    assert_eq!(providers["status"], "error");
    assert!(providers["detail"]
        .as_str()
        .unwrap()
        .contains("no registry.terraform.io/hashicorp/aws"));

    d.fake(
        "curl",
        "echo 'curl 8.5.0 (x86_64-pc-linux-gnu) libcurl/8.5.0'",
    );
    let (_, doc) = d.run();
    assert_eq!(
        (
            status(&doc, "curl").as_str(),
            item(&doc, "curl")["version"].as_str()
        ),
        ("ok", Some("8.5.0"))
    );

    // A release store alone needs curl too (release and deploy --release talk to it).
    d.set("XTASK_CACHE", "");
    d.demo
        .config("[release]\nurl = \"s3://acme-releases/acme-stack\"\n");
    let (_, doc) = d.run();
    assert!(
        item(&doc, "curl")["detail"]
            .as_str()
            .unwrap()
            .contains("for the release store s3://acme-releases/acme-stack"),
        "{doc}"
    );
}

#[test]
fn doctor_checks_every_key_of_xtask_toml_including_files_tables_that_name_no_artifact() {
    let d = Doctor::new();
    d.demo
        .config("[files.\"module-access/profile\"]\ninclude = [\"data/*.csv\"]\n");
    let (out, doc) = d.run();
    assert_eq!(out.code, 1);
    let toml = item(&doc, "xtask.toml");
    assert_eq!(toml["status"], "error");
    assert!(
        toml["detail"]
            .as_str()
            .unwrap()
            .contains("[files.\"module-access/profile\"] names no artifact"),
        "{toml}"
    );
    assert!(
        toml["fix"]
            .as_str()
            .unwrap()
            .contains("module-access/profiles"),
        "{toml}"
    );

    // A file that does not load is reported, and the tools are still checked.
    d.demo.config("pyhton = \"3.13\"");
    let (out, doc) = d.run();
    assert_eq!(out.code, 1);
    let toml = item(&doc, "xtask.toml");
    assert!(
        toml["detail"].as_str().unwrap().contains("pyhton"),
        "{toml}"
    );
    assert_eq!(status(&doc, "terraform"), "ok");
}
