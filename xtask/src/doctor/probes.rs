//! The checks doctor runs, one function each. Tools are found on PATH and asked their version
//! through `proc`; nothing here installs, downloads or reaches the network.

use std::path::Path;

use super::{at_least, Item};
use crate::config::{Config, InstallerChoice};
use crate::install::Installer;
use crate::proc::Cmd;

/// The Rust the crate needs (`rust-version` in xtask/Cargo.toml).
const RUST_VERSION: &str = env!("CARGO_PKG_RUST_VERSION");
/// curl's `%{...}` write-out variables the cache client reads need 7.66 (see s3).
const CURL_MIN: &str = "7.66";

/// `<tool> <args>` → its stdout's first line, or why it did not answer.
fn ask(bin: &Path, args: &[&str]) -> Result<String, String> {
    match Cmd::new(bin).args(args).output() {
        Ok(out) if out.success() => Ok(out.stdout.lines().next().unwrap_or("").trim().to_string()),
        Ok(out) => Err(format!(
            "`{} {}` failed: {}",
            bin.display(),
            args.join(" "),
            out.tail(1)
        )),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// The second word of `rustc 1.89.0 (…)`, `curl 8.5.0 (…)`, `uv 0.8.3`.
fn second_word(line: &str) -> Option<String> {
    line.split_whitespace().nth(1).map(str::to_string)
}

pub fn rust() -> Vec<Item> {
    let fix_missing = "install Rust with rustup: https://rustup.rs";
    ["rustc", "cargo"]
        .into_iter()
        .map(|tool| {
            let Ok(bin) = which::which(tool) else {
                return Item::problem(tool, true, None, "not found on PATH", fix_missing);
            };
            match ask(&bin, &["--version"]).map(|l| second_word(&l)) {
                Ok(Some(v)) if at_least(&v, RUST_VERSION) => {
                    Item::ok(tool, Some(v), format!("rust-version {RUST_VERSION}"))
                }
                Ok(Some(v)) => Item::problem(
                    tool,
                    true,
                    Some(v.clone()),
                    format!("{v} is older than the xtask's rust-version {RUST_VERSION}"),
                    "rustup update stable (or pin a newer toolchain in rust-toolchain.toml)",
                ),
                Ok(None) => Item::problem(tool, true, None, "printed no version", fix_missing),
                Err(why) => Item::problem(tool, true, None, why, fix_missing),
            }
        })
        .collect()
}

/// The dependency installer xtask.toml asks for, and uv, which `lock` needs.
pub fn installer(cfg: &Config) -> Vec<Item> {
    let mut items = Vec::new();
    let fix = "install uv (https://docs.astral.sh/uv/, or `pip install uv`), or python3 with pip";
    let found = match Installer::detect(cfg.installer) {
        Err(e) => {
            items.push(Item::problem(
                "installer",
                true,
                None,
                format!("{e:#}"),
                fix,
            ));
            None
        }
        Ok(i) => Some(i),
    };
    match &found {
        Some(Installer::Uv(bin)) => match ask(bin, &["--version"]) {
            Ok(l) => items.push(Item::ok(
                "installer",
                second_word(&l),
                format!("uv ({})", bin.display()),
            )),
            Err(why) => items.push(Item::problem("installer", true, None, why, fix)),
        },
        Some(Installer::Pip(python)) => {
            match ask(python, &["-m", "pip", "--version"]) {
                Ok(l) => items.push(Item::ok(
                    "installer",
                    second_word(&l),
                    format!("pip ({} -m pip)", python.display()),
                )),
                Err(why) => items.push(Item::problem(
                    "installer",
                    true,
                    None,
                    format!("{} has no pip: {why}", python.display()),
                    "python3 -m ensurepip, or install uv",
                )),
            }
            if cfg.installer == InstallerChoice::Pip || which::which("uv").is_err() {
                items.push(Item::problem(
                    "uv",
                    false,
                    None,
                    "not found: `cargo xtask lock` needs it (builds use pip)",
                    "install uv: https://docs.astral.sh/uv/ (or `pip install uv`)",
                ));
            }
        }
        None => {}
    }
    items
}

/// The interpreter smoke imports handlers with; without one smoke skips (or fails with --require).
pub fn python(cfg: &Config) -> Item {
    let name = format!("python{}", cfg.python);
    match crate::smoke::interp::find(cfg, None) {
        Ok(i) => {
            let version = ask(&i.path, &["--version"]).ok().and_then(|l| second_word(&l));
            Item::ok(&name, version, format!("for smoke: {}", i.path.display()))
        }
        Err(why) => Item::problem(
            &name,
            false,
            None,
            format!("for smoke: {why}; smoke skips every function (fails with --require)"),
            format!(
                "uv python install {0}, or pyenv install {0}, or set python under [smoke] in xtask.toml",
                cfg.python
            ),
        ),
    }
}

/// curl, which the shared build cache and the release store talk to S3 through: checked only
/// when one is configured.
pub fn curl(cfg: &Config) -> Option<Item> {
    let detail = std::env::var("XTASK_CACHE")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| cfg.cache.url.clone())
        .map(|url| format!("for the build cache {url}"))
        .or_else(|| {
            let url = cfg.release.url.as_ref()?;
            Some(format!("for the release store {url}"))
        })?;
    let fix = format!("install curl {CURL_MIN} or newer (apt-get install curl, brew install curl)");
    Some(match which::which("curl") {
        Err(_) => Item::problem(
            "curl",
            true,
            None,
            format!("not found on PATH, needed {detail}"),
            fix,
        ),
        Ok(bin) => match ask(&bin, &["--version"]).map(|l| second_word(&l)) {
            Ok(Some(v)) if at_least(&v, CURL_MIN) => Item::ok("curl", Some(v), detail),
            Ok(Some(v)) => Item::problem(
                "curl",
                true,
                Some(v.clone()),
                format!("{v} is older than {CURL_MIN}, needed {detail}"),
                fix,
            ),
            Ok(None) => Item::problem("curl", true, None, "printed no version", fix),
            Err(why) => Item::problem("curl", true, None, why, fix),
        },
    })
}

/// AWS credentials and region as the cache client resolves them (the SDKs' chain), reported
/// as found or not: never a key, a secret or a token.
pub fn aws() -> Item {
    let profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    match crate::s3::chain::resolve(&crate::s3::chain::Inputs::of_process()) {
        Ok(r) => {
            let mut detail = format!(
                "credentials found ({}), region {}",
                profile.map_or("environment or default profile".into(), |p| format!("profile {p}")),
                r.region
            );
            if let Some(e) = &r.endpoint {
                detail.push_str(&format!(", endpoint {e}"));
            }
            // Optional: verify calls AWS through it when it is on PATH, else through curl.
            detail.push_str(match which::which("aws") {
                Ok(_) => "; verify calls AWS through the aws CLI",
                Err(_) => "; no aws CLI: verify calls AWS through the built-in client (curl)",
            });
            Item::ok("aws", None, detail)
        }
        Err(e) => Item::problem(
            "aws",
            false,
            None,
            format!("{e:#} (plan, apply, deploy, verify and the build cache need them)"),
            "aws configure sso / aws sso login, or export AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        ),
    }
}

/// The infra repo: where plan, deploy, verify and check's env rules look.
pub fn infra(cfg: &Config, infra: Option<&Path>) -> Item {
    match infra {
        Some(dir) => {
            let envs = crate::stack::hcl::env_names(&dir.join("envs"));
            if envs.is_empty() {
                Item::problem(
                    "infra",
                    false,
                    None,
                    format!("{} has no env (envs/<env>/ with .tf files)", dir.display()),
                    "cargo xtask new env NAME --from ENV, or add envs/<env>/",
                )
            } else {
                Item::ok("infra", None, format!("{} (envs: {})", dir.display(), envs.join(", ")))
            }
        }
        None => Item::problem(
            "infra",
            false,
            None,
            "no infra repo found: check skips the env rules; plan, deploy and verify cannot run",
            format!(
                "put it at ../<project>-infra beside {}, or set infra = \"…\" in xtask.toml, or pass --infra DIR",
                cfg.stack.display()
            ),
        ),
    }
}

/// xtask.toml beyond its syntax: what only a build would notice, such as `[files."m/a"]`
/// tables that name no artifact.
pub fn files_config(cfg: &Config, infra: Option<&Path>) -> Item {
    let file = cfg.stack.join("xtask.toml");
    let shown = if file.is_file() {
        file.display().to_string()
    } else {
        "none (every key at its default)".into()
    };
    if let Err(e) = crate::stack::discover::require_stack(&cfg.stack) {
        return Item::problem(
            "xtask.toml",
            true,
            None,
            format!("{e:#}"),
            "pass --stack DIR or set `stack` in the workspace's xtask.toml",
        );
    }
    let found = match crate::stack::discover::discover(cfg, infra, &[]) {
        Ok(f) => f,
        Err(e) => {
            return Item::problem(
                "xtask.toml",
                true,
                None,
                format!("{e:#}"),
                "fix what it names",
            )
        }
    };
    let unknown = crate::build::select::unknown_artifacts(cfg, &found.artifacts, true);
    if unknown.is_empty() {
        return Item::ok("xtask.toml", None, format!("valid: {shown}"));
    }
    let mut ids: Vec<String> = found.artifacts.iter().map(|a| a.id()).collect();
    ids.sort();
    Item::problem(
        "xtask.toml",
        true,
        None,
        format!(
            "{shown}: {} name{} no artifact",
            unknown
                .iter()
                .map(|k| format!("[files.\"{k}\"]"))
                .collect::<Vec<_>>()
                .join(", "),
            if unknown.len() == 1 { "s" } else { "" }
        ),
        format!("use one of: {}", ids.join(", ")),
    )
}
