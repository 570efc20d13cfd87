//! `cargo xtask new module NAME` and `cargo xtask new env NAME`: day one without hand-copying
//! the demo. What they write passes `check` with no finding and builds; they never overwrite.

mod env;
mod module;

use std::path::Path;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::ui;

#[derive(clap::Subcommand)]
pub enum New {
    /// A module: packages/module-NAME, called from the env(s), its routes on the gateway
    Module {
        /// `billing` or `module-billing`: lowercase letters, digits and single hyphens
        #[arg(value_parser = module_name)]
        name: String,
    },
    /// An env: <infra>/envs/NAME copied from another, without its secrets or state
    Env {
        /// The new env's directory name under envs/
        #[arg(value_parser = env_name)]
        name: String,
        /// The env to copy [default: dev, else the only env]
        #[arg(long, value_name = "ENV", value_parser = env_name)]
        from: Option<String>,
    },
}

pub fn run(
    cfg: &Config,
    infra: Option<&Path>,
    what: New,
    json: bool,
) -> Result<std::process::ExitCode> {
    let (files, updated, notes) = match what {
        New::Module { name } => {
            let (created, updated) = module::new_module(cfg, infra, &name)?;
            (created, updated, Vec::new())
        }
        New::Env { name, from } => {
            let c = env::new_env(infra, &name, from.as_deref())?;
            (c.files, Vec::new(), c.notes)
        }
    };
    if json {
        let doc = serde_json::json!({ "created": files, "updated": updated, "notes": notes });
        ui::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        let mut text = String::new();
        for n in &notes {
            text.push_str(&format!("note: {n}\n"));
        }
        for f in &files {
            text.push_str(&format!("created {f}\n"));
        }
        for f in &updated {
            text.push_str(&format!("updated {f}\n"));
        }
        text.push_str("next: cargo xtask check && cargo xtask build\n");
        ui::out(&text)?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// A module name as the contract spells directories: `billing` or `module-billing` →
/// `billing`. Lowercase letters, digits and single hyphens, starting with a letter (it becomes
/// a Python package name, a Terraform identifier and part of AWS resource names).
pub fn module_name(s: &str) -> Result<String, String> {
    let name = s.strip_prefix("module-").unwrap_or(s);
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        return Err(format!(
            "{s:?} is not a module name: lowercase letters, digits and single hyphens, starting \
             with a letter, at most 40 characters (e.g. billing, user-admin)"
        ));
    }
    if name == "infra" {
        return Err("\"infra\" names the infra repo's Lambdas in --module; pick another".into());
    }
    Ok(name.to_string())
}

/// An env name: a plain directory name under `envs/` (as install.sh's --env).
pub fn env_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not an env name: letters, digits, - and _, starting with a letter or digit"
        ))
    }
}

/// Writes a new file (its directory created), readable by others as source is.
fn create(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().context("path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::fsutil::write_atomic_with_mode(path, text.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_anything_is_written() {
        assert_eq!(module_name("billing").as_deref(), Ok("billing"));
        assert_eq!(
            module_name("module-user-admin").as_deref(),
            Ok("user-admin")
        );
        for bad in [
            "", "Billing", "1x", "a_b", "a--b", "a-", "a b", "infra", "../x", "module-",
        ] {
            assert!(module_name(bad).is_err(), "{bad}");
        }
        assert!(env_name("stg").is_ok() && env_name("prod_eu-1").is_ok());
        for bad in ["", ".", "..", "-x", "a/b", "a b", "dev;rm"] {
            assert!(env_name(bad).is_err(), "{bad}");
        }
    }
}
