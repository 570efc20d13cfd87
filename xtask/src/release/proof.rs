//! What a verify proved, for `release --env ENV`: every verify (and so every deploy) leaves
//! `envs/<env>/.xtask/verified.json` with its outcome and the SHA-256 of each local zip it
//! compared with the state and, unless `--offline`, with the live CodeSha256. A release is
//! refused unless that record passed, was live, and names exactly the zips being released.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;

const FILE: &str = "verified.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct Proof {
    pub env: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// The live checks ran (not `--offline`) and at least one compared something.
    pub live: bool,
    /// `V4 subject: message` of each failed check; empty when verify passed.
    pub failed: Vec<String>,
    /// Each local zip verify compared, by absolute path: its `filebase64sha256`.
    pub zips: BTreeMap<PathBuf, String>,
}

/// Written at the end of every verify; a failure to write is a warning (verify's own result
/// stands), and the next release then says no verify is recorded.
pub fn record(env_dir: &Path, proof: &Proof) {
    let dir = env_dir.join(".xtask");
    let write = || -> Result<()> {
        std::fs::create_dir_all(&dir)?;
        // As plan leaves it: the env's .xtask/ holds saved plans, readable by its owner only.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        if !dir.join(".gitignore").exists() {
            write_atomic(
                &dir.join(".gitignore"),
                b"# Written by cargo xtask: saved plans hold secrets.\n*\n",
            )?;
        }
        write_atomic(&dir.join(FILE), &serde_json::to_vec_pretty(proof)?)
    };
    if let Err(e) = write() {
        crate::ui::warn(&format!(
            "cannot record this verify in {}: {e:#}; `cargo xtask release --env {}` will ask \
             for another verify",
            dir.join(FILE).display(),
            proof.env
        ));
    }
}

/// The last verify of `env`, required to have passed, live.
pub fn read(env_dir: &Path, env: &str) -> Result<Proof> {
    let path = env_dir.join(".xtask").join(FILE);
    let verify = format!("`cargo xtask deploy --env {env}` (or `cargo xtask verify --env {env}`)");
    let Some(proof) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Proof>(&b).ok())
    else {
        bail!(
            "release refused: no verify of env {env} is recorded here ({} is missing); run \
             {verify} first, then release",
            path.display()
        );
    };
    if !proof.failed.is_empty() {
        bail!(
            "release refused: the last verify of env {env} ({}) failed:\n  {}\nfix it and run \
             {verify}, then release",
            proof.at,
            proof.failed.join("\n  ")
        );
    }
    if !proof.live {
        bail!(
            "release refused: the last verify of env {env} ({}) did not compare AWS's live \
             CodeSha256 (--offline); run `cargo xtask verify --env {env}`, then release",
            proof.at
        );
    }
    Ok(proof)
}

/// How a zip is named in a proof: absolute and without `.`/`..`, however the infra repo or the
/// Terraform `filename` that led to it was spelled.
pub fn key(zip: &Path) -> PathBuf {
    crate::stack::hcl::normalize(&std::path::absolute(zip).unwrap_or_else(|_| zip.to_path_buf()))
}

/// Why `zip` (built as `sha256_base64`) is not what `proof` verified, if it is not.
pub fn mismatch(proof: &Proof, zip: &Path, sha256_base64: &str) -> Option<String> {
    match proof.zips.get(zip) {
        Some(v) if v == sha256_base64 => None,
        Some(v) => Some(format!(
            "changed since verify of env {} passed ({}): it verified {v}, the build is \
             {sha256_base64}",
            proof.env, proof.at
        )),
        None => Some(format!(
            "was not verified in env {} (no function or layer of its state reads it)",
            proof.env
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof(failed: &[&str], live: bool) -> Proof {
        Proof {
            env: "dev".into(),
            at: "2026-12-06T03:00:00Z".into(),
            live,
            failed: failed.iter().map(|s| s.to_string()).collect(),
            zips: BTreeMap::from([(PathBuf::from("/s/a.zip"), "AAA=".to_string())]),
        }
    }

    #[test]
    fn a_failed_offline_or_missing_verify_refuses_the_release_naming_why() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(dir.path(), "dev").unwrap_err().to_string();
        assert!(err.contains("no verify of env dev is recorded"), "{err}");
        record(
            dir.path(),
            &proof(&["live fn: AWS runs CodeSha256 x"], true),
        );
        let err = read(dir.path(), "dev").unwrap_err().to_string();
        assert!(
            err.contains("failed:\n  live fn: AWS runs CodeSha256 x"),
            "{err}"
        );
        record(dir.path(), &proof(&[], false));
        let err = read(dir.path(), "dev").unwrap_err().to_string();
        assert!(err.contains("--offline"), "{err}");
        record(dir.path(), &proof(&[], true));
        assert!(read(dir.path(), "dev").is_ok());
    }

    #[test]
    fn zips_are_keyed_absolute_and_normalized() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            key(Path::new("/s/envs/dev/../../b/x.zip")),
            PathBuf::from("/s/b/x.zip")
        );
        assert_eq!(key(Path::new("./a/../x.zip")), cwd.join("x.zip"));
    }

    #[test]
    fn only_the_zips_verified_byte_for_byte_pass() {
        let p = proof(&[], true);
        assert_eq!(mismatch(&p, Path::new("/s/a.zip"), "AAA="), None);
        assert!(mismatch(&p, Path::new("/s/a.zip"), "BBB=")
            .unwrap()
            .contains("it verified AAA=, the build is BBB="));
        assert!(mismatch(&p, Path::new("/s/b.zip"), "AAA=")
            .unwrap()
            .contains("was not verified in env dev"));
    }
}
