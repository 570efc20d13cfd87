//! Doctor's Terraform checks: the binary and its version, and where `terraform init` gets the
//! hashicorp/aws provider from (read from the CLI config; nothing is downloaded or probed).

use std::path::{Path, PathBuf};

use super::Item;
use crate::config::Config;
use crate::proc::Cmd;

/// Terraform (or OpenTofu) and where its providers come from. `needed`: the infra repo has envs.
pub fn check(cfg: &Config, needed: bool) -> Vec<Item> {
    let name = crate::terraform::configured_bin(None, cfg.terraform.bin.as_deref());
    let why = if needed {
        ""
    } else {
        " (no infra env found: only plan/apply/deploy/verify need it)"
    };
    let tf = match which::which(&name) {
        Err(_) => Item::problem(
            "terraform",
            needed,
            None,
            format!("{name} not found on PATH{why}"),
            crate::terraform::INSTALL,
        ),
        Ok(bin) => match Cmd::new(&bin).args(["version", "-json"]).output() {
            Ok(out) if out.success() => {
                let version = serde_json::from_str::<serde_json::Value>(&out.stdout)
                    .ok()
                    .and_then(|v| v["terraform_version"].as_str().map(str::to_string));
                match version {
                    Some(v) => match crate::terraform::check_version(&name, &v) {
                        Ok(()) => Item::ok("terraform", Some(v), bin.display().to_string()),
                        Err(e) => Item::problem(
                            "terraform",
                            needed,
                            Some(v),
                            format!("{e:#}"),
                            crate::terraform::INSTALL,
                        ),
                    },
                    None => Item::problem(
                        "terraform",
                        needed,
                        None,
                        format!(
                            "`{} version -json` printed no terraform_version",
                            bin.display()
                        ),
                        crate::terraform::INSTALL,
                    ),
                }
            }
            Ok(out) => Item::problem(
                "terraform",
                needed,
                None,
                out.tail(1),
                crate::terraform::INSTALL,
            ),
            Err(e) => Item::problem(
                "terraform",
                needed,
                None,
                format!("{e:#}"),
                crate::terraform::INSTALL,
            ),
        },
    };
    vec![tf, providers(needed)]
}

/// Where `terraform init` gets hashicorp/aws: a filesystem mirror named in the CLI config
/// (`TF_CLI_CONFIG_FILE`, else ~/.terraformrc), a network mirror, or the public registry.
fn providers(needed: bool) -> Item {
    let (file, from_env) = match std::env::var_os("TF_CLI_CONFIG_FILE").filter(|v| !v.is_empty()) {
        Some(f) => (Some(PathBuf::from(f)), true),
        None => (
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".terraformrc")),
            false,
        ),
    };
    let registry = || {
        Item::ok(
            "providers",
            None,
            "registry.terraform.io (no mirror configured; `terraform init` needs the network, not probed here)",
        )
    };
    let Some(file) = file else { return registry() };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(_) if !from_env => return registry(),
        // Terraform warns about an unreadable CLI config and goes on with the registry.
        Err(e) => {
            return Item::problem(
                "providers",
                false,
                None,
                format!("TF_CLI_CONFIG_FILE={}: {e}; terraform warns and uses the registry", file.display()),
                "point TF_CLI_CONFIG_FILE at a readable CLI config (with a filesystem_mirror when offline), or unset it",
            )
        }
    };
    let body = match crate::stack::hcl::parse_body(&text) {
        Ok(b) => b,
        Err(e) => {
            return Item::problem(
                "providers",
                needed,
                None,
                format!(
                    "{}:{}: {}",
                    file.display(),
                    e.location().line(),
                    e.message()
                ),
                "fix the Terraform CLI config file",
            )
        }
    };
    let installation = body.get_blocks("provider_installation").next();
    let mirror = installation.and_then(|pi| {
        pi.body.get_blocks("filesystem_mirror").find_map(|m| {
            crate::stack::hcl::attr(&m.body, "path").and_then(crate::stack::hcl::template_text)
        })
    });
    let network = installation.and_then(|pi| {
        pi.body.get_blocks("network_mirror").find_map(|m| {
            crate::stack::hcl::attr(&m.body, "url").and_then(crate::stack::hcl::template_text)
        })
    });
    if let Some(path) = mirror {
        let aws = Path::new(&path).join("registry.terraform.io/hashicorp/aws");
        let versions: Vec<String> = std::fs::read_dir(&aws)
            .map(|rd| {
                let mut v: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                v.sort();
                v
            })
            .unwrap_or_default();
        return if versions.is_empty() {
            Item::problem(
                "providers",
                needed,
                None,
                format!("the filesystem mirror {path} ({}) has no registry.terraform.io/hashicorp/aws", file.display()),
                format!("fill it: terraform providers mirror {path} (in an env, on a machine with network), or fix the path"),
            )
        } else {
            Item::ok(
                "providers",
                Some(versions.join(",")),
                format!(
                    "hashicorp/aws in the filesystem mirror {path} ({})",
                    file.display()
                ),
            )
        };
    }
    match network {
        Some(url) => Item::ok(
            "providers",
            None,
            format!("network mirror {url} ({}; not probed)", file.display()),
        ),
        None => registry(),
    }
}
