//! What terraform prints, condensed: every line (masked) goes to a log file under the env's
//! `.xtask/`; the terminal gets progress, and the error blocks in full when terraform fails.
//! `--verbose` streams everything as terraform prints it.
//!
//! Apply progress comes from `terraform apply -json` (the machine-readable UI, format 1.x):
//! typed events, not matched human text.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde_json::Value;

/// The log of one xtask run against an env: `envs/<env>/.xtask/<env>.log`, 0600, rewritten by
/// each run. It holds what terraform printed, masked as the terminal would show it.
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    file: Mutex<File>,
}

impl Log {
    pub fn create(path: &Path) -> Result<Log> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // An existing log keeps its old mode through `open`: make it private whatever it was.
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", path.display()))?;
        Ok(Log {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One line as terraform printed it (already masked). A log that cannot be written loses
    /// lines, never the run.
    pub fn line(&self, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{line}");
        }
    }

    /// A header between the commands of one run (`init`, `plan`, `apply`).
    pub fn section(&self, what: &str) {
        self.line(&format!("==> terraform {what}"));
    }
}

/// What a line of terraform's human output says about progress, for init and plan: each
/// resource in the state prints `<addr>: Refreshing state... [id=…]` once, each data source
/// `<addr>: Reading...` once (then `Read complete`, or `Still reading...`, not counted).
#[derive(Debug, Default)]
pub struct Counts {
    refreshed: u64,
    read: u64,
}

impl Counts {
    /// The status after `line`, when it moved: a running count, so it says "so far" (off a
    /// terminal only one status line in ten seconds is printed, often the first).
    pub fn status(&mut self, line: &str) -> Option<String> {
        if line.contains(": Refreshing state...") {
            self.refreshed += 1;
        } else if line.contains(": Reading...") {
            self.read += 1;
        } else {
            return None;
        }
        Some(format!("{} so far", self.counted()))
    }

    /// The totals once the command ended; `None` when nothing was refreshed or read.
    pub fn total(&self) -> Option<String> {
        (self.refreshed + self.read > 0).then(|| self.counted())
    }

    fn counted(&self) -> String {
        let n = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{} refreshed, {} read",
            n(self.refreshed, "resource", "resources"),
            n(self.read, "data source", "data sources")
        )
    }
}

/// One event of `terraform apply -json` that the xtask acts on.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// The first line: the UI format, which must be 1.x.
    Version { ui: String },
    /// A resource operation started (`Creating...`).
    Started { address: String, action: String },
    /// A resource operation finished (`Creation complete after 2s`).
    Completed { address: String, action: String },
    /// A resource operation failed; its diagnostic follows.
    Errored { address: String },
    /// An error or warning, with where terraform located it.
    Diagnostic { severity: String, text: String },
    /// Anything else (outputs, change summary, refreshes): only logged.
    Other,
}

impl Event {
    pub fn parse(line: &str) -> Option<(Event, String)> {
        let v: Value = serde_json::from_str(line).ok()?;
        let message = v["@message"].as_str().unwrap_or_default().to_string();
        let hook = &v["hook"];
        let address = || hook["resource"]["addr"].as_str().unwrap_or("?").to_string();
        let action = || hook["action"].as_str().unwrap_or("?").to_string();
        let event = match v["type"].as_str()? {
            "version" => Event::Version {
                ui: v["ui"].as_str().unwrap_or_default().to_string(),
            },
            "apply_start" => Event::Started {
                address: address(),
                action: action(),
            },
            "apply_complete" => Event::Completed {
                address: address(),
                action: action(),
            },
            "apply_errored" => Event::Errored { address: address() },
            "diagnostic" => Event::Diagnostic {
                severity: v["diagnostic"]["severity"]
                    .as_str()
                    .unwrap_or("error")
                    .to_string(),
                text: diagnostic_text(&v["diagnostic"]),
            },
            _ => Event::Other,
        };
        Some((event, message))
    }
}

/// The machine-readable UI versions this reader understands.
pub fn ui_supported(ui: &str) -> bool {
    ui.split('.').next() == Some("1")
}

/// A diagnostic as terraform prints it: `Error: summary`, where, then the detail.
fn diagnostic_text(d: &Value) -> String {
    let severity = match d["severity"].as_str() {
        Some("warning") => "Warning",
        _ => "Error",
    };
    let mut text = format!("{severity}: {}", d["summary"].as_str().unwrap_or_default());
    if let (Some(file), Some(line)) = (
        d["range"]["filename"].as_str(),
        d["range"]["start"]["line"].as_u64(),
    ) {
        let what = d["address"]
            .as_str()
            .map(|a| format!(", in {a}"))
            .unwrap_or_default();
        text.push_str(&format!("\n  on {file} line {line}{what}"));
    } else if let Some(a) = d["address"].as_str() {
        text.push_str(&format!("\n  with {a}"));
    }
    if let Some(detail) = d["detail"].as_str().filter(|s| !s.is_empty()) {
        text.push_str(&format!("\n{detail}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_json_events_are_read_by_type() {
        let (e, msg) = Event::parse(
            r#"{"@level":"info","@message":"Terraform 1.9.8","type":"version","terraform":"1.9.8","ui":"1.2"}"#,
        )
        .unwrap();
        assert_eq!(e, Event::Version { ui: "1.2".into() });
        assert_eq!(msg, "Terraform 1.9.8");
        assert!(ui_supported("1.2") && !ui_supported("2.0"));
        let (e, _) = Event::parse(
            r#"{"@message":"aws_lambda_function.a: Creation complete after 2s","type":"apply_complete",
                "hook":{"resource":{"addr":"aws_lambda_function.a"},"action":"create","elapsed_seconds":2}}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            Event::Completed {
                address: "aws_lambda_function.a".into(),
                action: "create".into()
            }
        );
        // Human text that merely looks like an event is not one.
        assert!(Event::parse("aws_lambda_function.a: Creation complete after 2s").is_none());
    }

    #[test]
    fn a_diagnostic_reads_as_terraform_prints_it() {
        let (e, _) = Event::parse(
            r#"{"type":"diagnostic","diagnostic":{"severity":"error","summary":"creating Lambda Function (x)",
                "detail":"InvalidParameterValueException: bad role","address":"module.m.aws_lambda_function.x",
                "range":{"filename":"../../modules/m/main.tf","start":{"line":12}}}}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            Event::Diagnostic {
                severity: "error".into(),
                text: "Error: creating Lambda Function (x)\n  on ../../modules/m/main.tf line 12, \
                       in module.m.aws_lambda_function.x\nInvalidParameterValueException: bad role"
                    .into()
            }
        );
    }

    #[test]
    fn plan_progress_counts_refreshes_and_reads() {
        let mut c = Counts::default();
        assert_eq!(c.status("Terraform used the selected providers"), None);
        assert_eq!(c.total(), None);
        // Terraform 1.11's own lines for two resources in state and one data source.
        for l in [
            "terraform_data.a: Refreshing state... [id=ff7326f0-dcbc-6608-999b-dba38791b16c]",
            "terraform_data.b: Refreshing state... [id=a6f05607-8d1e-84d9-fe66-856c2f4fbf03]",
            "data.terraform_remote_state.s: Reading...",
        ] {
            c.status(l);
        }
        assert_eq!(
            c.status("data.terraform_remote_state.s: Read complete after 0s"),
            None
        );
        assert_eq!(c.status("data.x: Still reading... [10s elapsed]"), None);
        assert_eq!(
            c.total().unwrap(),
            "2 resources refreshed, 1 data source read"
        );
        c.status("aws_iam_role.r: Refreshing state... [id=r]");
        assert!(c.status("data.y: Reading...").unwrap().ends_with("so far"));
    }

    #[test]
    fn the_log_is_private_and_rewritten_each_run() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("dev.log");
        std::fs::write(&p, "old run\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let log = Log::create(&p).unwrap();
        log.section("plan");
        log.line("a line");
        drop(log);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "==> terraform plan\na line\n"
        );
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
