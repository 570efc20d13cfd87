//! `cargo xtask doctor`: every prerequisite, its version, and the fix for what is missing or
//! too old, in one run instead of one failure at a time mid-plan. An error is something the
//! configured features need (exit 1); a warning is something optional or only some commands
//! need (exit 0). Secrets are never printed: AWS credentials are reported as found or not.

mod probes;
mod terraform;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::config::{self, Config};
use crate::ui;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Serialize)]
pub struct Item {
    pub name: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Item {
    fn ok(name: &str, version: Option<String>, detail: impl Into<String>) -> Item {
        Item {
            name: name.into(),
            status: Status::Ok,
            version,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A problem: an error when `needed`, else a warning.
    fn problem(
        name: &str,
        needed: bool,
        version: Option<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Item {
        Item {
            name: name.into(),
            status: if needed {
                Status::Error
            } else {
                Status::Warning
            },
            version,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs every check. The config is loaded here, not before: a broken xtask.toml is one of the
/// things doctor reports, and the tools are still checked (with the defaults).
pub fn run(stack: Option<&Path>, infra_flag: Option<&Path>, json: bool) -> Result<ExitCode> {
    let mut items = Vec::new();
    let cfg = match config::load(stack) {
        Ok(cfg) => Some(cfg),
        Err(e) => {
            items.push(Item::problem(
                "xtask.toml",
                true,
                None,
                format!("{e:#}"),
                "fix the file (keys: README, \"Configuration\"); the checks below use the defaults",
            ));
            None
        }
    };
    let infra = cfg.as_ref().map(|c| config::infra_dir(c, infra_flag));
    let infra = match infra {
        Some(Ok(dir)) => dir,
        Some(Err(e)) => {
            items.push(Item::problem(
                "infra",
                true,
                None,
                format!("{e:#}"),
                "fix --infra or `infra` in xtask.toml",
            ));
            None
        }
        None => None,
    };
    if let Some(cfg) = &cfg {
        items.push(probes::files_config(cfg, infra.as_deref()));
        items.push(probes::infra(cfg, infra.as_deref()));
    }
    let envs = infra
        .as_deref()
        .map(|i| crate::stack::hcl::env_names(&i.join("envs")))
        .unwrap_or_default();
    let defaults;
    let c: &Config = match &cfg {
        Some(c) => c,
        None => {
            defaults = config::defaults();
            &defaults
        }
    };
    items.extend(probes::rust());
    items.extend(terraform::check(c, !envs.is_empty()));
    items.extend(probes::installer(c));
    items.push(probes::python(c));
    items.extend(probes::curl(c));
    items.push(probes::aws());

    let errors = items.iter().filter(|i| i.status == Status::Error).count();
    let warnings = items.iter().filter(|i| i.status == Status::Warning).count();
    if json {
        let doc = serde_json::json!({
            "stack": cfg.as_ref().map(|c| c.stack.display().to_string()),
            "checks": items,
            "errors": errors,
            "warnings": warnings,
        });
        ui::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        ui::out(&render(&items, errors, warnings))?;
    }
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn render(items: &[Item], errors: usize, warnings: usize) -> String {
    let name_w = items.iter().map(|i| i.name.len()).max().unwrap_or(0);
    let ver_w = items
        .iter()
        .map(|i| i.version.as_deref().unwrap_or("-").len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for i in items {
        let status = match i.status {
            Status::Ok => "ok",
            Status::Warning => "warn",
            Status::Error => "error",
        };
        let version = i.version.as_deref().unwrap_or("-");
        out.push_str(&format!(
            "{status:<5}  {:<name_w$}  {version:<ver_w$}  {}\n",
            i.name, i.detail
        ));
        if let Some(fix) = &i.fix {
            out.push_str(&format!("{:<5}  {:<name_w$}  fix: {fix}\n", "", ""));
        }
    }
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    out.push_str(&format!(
        "\ndoctor: {}, {}\n",
        plural(errors, "error"),
        plural(warnings, "warning")
    ));
    out
}

/// `1.89.0` ≥ `1.89`: numeric components compared in order, missing ones are 0.
fn at_least(version: &str, min: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> {
        v.split(['.', '-', '+'])
            .map_while(|p| p.parse().ok())
            .collect()
    };
    let (v, m) = (parse(version), parse(min));
    for k in 0..v.len().max(m.len()) {
        let (a, b) = (
            v.get(k).copied().unwrap_or(0),
            m.get(k).copied().unwrap_or(0),
        );
        if a != b {
            return a > b;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(at_least("1.89.0", "1.89"));
        assert!(at_least("1.100.0", "1.89"));
        assert!(!at_least("1.88.9", "1.89"));
        assert!(at_least("7.66.0", "7.66"));
        assert!(!at_least("7.9.0", "7.66"));
        assert!(at_least("8.5.0-DEV", "7.66"));
    }
}
