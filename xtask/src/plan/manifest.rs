//! The manifest saved next to a plan: the hash of every input it was made from, and the stale
//! checks apply runs against it before applying the saved plan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Summary, Target};
use crate::stack::discover;
use crate::terraform;

/// Bump when the manifest changes meaning: an older one then asks for a new plan.
pub(super) const MANIFEST_FORMAT: u32 = 2;

/// Written next to the saved plan: what it was made from.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Manifest {
    pub(super) format: u32,
    pub(super) plan_sha256: String,
    /// `--profile` and `--region`: a plan made for one account or region applies only there.
    pub(super) profile: Option<String>,
    pub(super) region: Option<String>,
    pub(super) var_files: Vec<PathBuf>,
    /// Every input file and its SHA-256 (`missing` when absent).
    pub(super) inputs: BTreeMap<PathBuf, String>,
    pub(super) summary: Summary,
}

pub(super) fn sha256_file(path: &Path) -> Result<String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(crate::fsutil::hex(&Sha256::digest(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok("missing".into()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The files a plan depends on: every zip the build produces (what Terraform reads), the `.tf`
/// files of the env and of its local modules, the lock file, and the var files.
pub(super) fn inputs(t: &Target, var_files: &[PathBuf]) -> Result<BTreeMap<PathBuf, String>> {
    let mut files: BTreeSet<PathBuf> = discover::discover(t.cfg, Some(&t.infra), &[])?
        .artifacts
        .into_iter()
        .map(|a| a.out)
        .collect();
    files.extend(terraform_files(&t.dir, true));
    for m in crate::stack::env::local_modules(&t.dir) {
        files.extend(terraform_files(&m, false));
    }
    files.extend(var_files.iter().cloned());
    files
        .into_iter()
        .map(|p| sha256_file(&p).map(|h| (p, h)))
        .collect()
}

/// The `.tf` and `.tf.json` files of a directory; for the env dir (`root`) also its var files,
/// passed or auto-loaded, and its dependency lock file.
fn terraform_files(dir: &Path, root: bool) -> Vec<PathBuf> {
    let wanted = |n: &str| {
        n.ends_with(".tf")
            || n.ends_with(".tf.json")
            || (root
                && (n.ends_with(".tfvars")
                    || n.ends_with(".tfvars.json")
                    || n == ".terraform.lock.hcl"))
    };
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| wanted(&e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// What changed between two snapshots of the inputs, for the message.
fn changes(
    t: &Target,
    old: &BTreeMap<PathBuf, String>,
    new: &BTreeMap<PathBuf, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let keys: BTreeSet<&PathBuf> = old.keys().chain(new.keys()).collect();
    for k in keys {
        let shown = t.show(k);
        match (
            old.get(k).map(String::as_str),
            new.get(k).map(String::as_str),
        ) {
            (a, b) if a == b => {}
            (None | Some("missing"), Some(_)) => out.push(format!("{shown} was added")),
            (Some(_), None | Some("missing")) => out.push(format!("{shown} was removed")),
            _ => out.push(format!("{shown} changed")),
        }
    }
    out
}

/// The saved plan of an env, refused when missing, replaced, stale, or made with another
/// `--profile` or `--region` than `aws`.
pub(super) fn saved_plan(t: &Target, aws: &terraform::Aws) -> Result<Manifest> {
    let (plan_file, manifest_file) = (t.plan_file(), t.manifest_file());
    let text = match std::fs::read(&manifest_file) {
        Ok(text) if plan_file.is_file() => text,
        _ => bail!(
            "no saved plan for env {} ({} does not exist); run {} first",
            t.env,
            t.show(&plan_file),
            t.plan_command()
        ),
    };
    let manifest: Manifest = serde_json::from_slice(&text)
        .ok()
        .filter(|m: &Manifest| m.format == MANIFEST_FORMAT)
        .with_context(|| {
            format!(
                "{} was written by another version of the xtask; run {}",
                t.show(&manifest_file),
                t.plan_command()
            )
        })?;
    if sha256_file(&plan_file)? != manifest.plan_sha256 {
        bail!(
            "{} was replaced since {} made it; run {}",
            t.show(&plan_file),
            t.plan_command(),
            t.plan_command()
        );
    }
    if (&manifest.profile, &manifest.region) != (&aws.profile, &aws.region) {
        bail!(
            "plan is stale: it was made with {}, this apply has {}; pass the same --profile and \
             --region as the plan, or run {}",
            aws_flags(&manifest.profile, &manifest.region),
            aws_flags(&aws.profile, &aws.region),
            t.plan_command()
        );
    }
    let changed = changes(t, &manifest.inputs, &inputs(t, &manifest.var_files)?);
    if !changed.is_empty() {
        bail!(
            "plan is stale: {} since the plan; run {}",
            changed.join(", "),
            t.plan_command()
        );
    }
    Ok(manifest)
}

/// `--profile p --region r` as given, for messages.
fn aws_flags(profile: &Option<String>, region: &Option<String>) -> String {
    let flags: Vec<String> = [("--profile", profile), ("--region", region)]
        .into_iter()
        .filter_map(|(flag, v)| v.as_ref().map(|v| format!("{flag} {v}")))
        .collect();
    if flags.is_empty() {
        "no --profile or --region".into()
    } else {
        flags.join(" ")
    }
}
