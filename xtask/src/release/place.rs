//! `plan`/`deploy --release NAME|FILE|s3://…`: no installer, no Python, no build. The release's
//! manifest is read, every artifact this checkout's Terraform reads is matched to it, the
//! sources compared, every zip downloaded by its hash and checked; only when all of that holds
//! are the zips moved where Terraform reads them (the paths the build would write, from
//! `stack::discover`). Anything wrong is refused, named, before terraform runs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::manifest::{self, Manifest};
use super::store::{self, Store};
use crate::build::select::Selector;
use crate::config::Config;
use crate::fsutil::{hex, write_atomic};
use crate::s3::Answer;
use crate::stack::discover;
use crate::ui;

/// `--release` and `--allow-source-drift`.
#[derive(Debug, Clone)]
pub struct Request {
    pub release: String,
    pub allow_source_drift: bool,
}

/// What was placed: written to `envs/<env>/.xtask/release.json` and named in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Placed {
    pub name: String,
    pub describe: String,
    pub commit: Option<String>,
    pub manifest_sha256: String,
    pub at: String,
    /// Artifacts whose source here differs from the release's; non-empty only with
    /// `--allow-source-drift`.
    pub source_drift: Vec<String>,
}

/// Places the release's zips for `env`, or refuses naming what is wrong.
pub fn place(cfg: &Config, infra: &Path, env: &str, req: &Request) -> Result<Placed> {
    let scratch = tempfile::Builder::new()
        .prefix(".tmp-release-")
        .tempdir_in(scratch_dir(cfg)?)
        .context("cannot create a scratch directory in the stack's .xtask/")?;
    let (manifest, bytes, mut store) = resolve(cfg, &req.release, scratch.path())?;
    ui::step(&format!(
        "{}: {} zips, from {}",
        manifest.describe(),
        manifest.artifacts.len(),
        store.url()
    ));

    if manifest.verified.is_none() {
        ui::warn(&format!(
            "release {} was made without --env: no env's verify vouches for its zips",
            manifest.name
        ));
    }

    // Every zip Terraform reads here must be in the release.
    let found = discover::discover(cfg, Some(infra), &[])?;
    let missing: Vec<String> = found
        .artifacts
        .iter()
        .filter(|a| manifest.entry(&a.module, &a.name).is_none())
        .map(|a| format!("{} ({})", a.id(), a.out.display()))
        .collect();
    if !missing.is_empty() {
        bail!(
            "deploy refused: release {} has no zip for what this stack's Terraform reads:\n  {}\n\
             release a build of this stack (`cargo xtask release`), or check out the commit the \
             release was made from",
            manifest.name,
            missing.join("\n  ")
        );
    }

    let selector = Selector::new(cfg);
    let mut drift = Vec::new();
    for a in &found.artifacts {
        let e = manifest.entry(&a.module, &a.name).expect("checked above");
        if manifest::source_sha256(&selector, a)? != e.source_sha256 {
            drift.push(a.id());
        }
    }
    let commit = manifest.git.as_ref().map(|g| g.commit.clone());
    if !drift.is_empty() {
        let at = commit
            .as_deref()
            .map_or(String::new(), |c| format!(" (commit {c})"));
        if !req.allow_source_drift {
            bail!(
                "deploy refused: this checkout's source differs from release {}'s{at} for:\n  \
                 {}\ncheck out the release's commit, or pass --allow-source-drift to deploy the \
                 release's zips anyway (recorded)",
                manifest.name,
                drift.join("\n  ")
            );
        }
        ui::warn(&format!(
            "source drift allowed (--allow-source-drift, recorded): {} differ from release {}{at}",
            drift.join(", "),
            manifest.name
        ));
    }

    // Every object fetched and checked before any zip is moved.
    let items: Vec<(String, PathBuf)> = found
        .artifacts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let e = manifest.entry(&a.module, &a.name).expect("checked above");
            (store.zip_key(&e.sha256), scratch.path().join(i.to_string()))
        })
        .collect();
    let answers = store.get(&items)?;
    let mut wrong = Vec::new();
    for ((a, (key, file)), answer) in found.artifacts.iter().zip(&items).zip(answers) {
        let e = manifest.entry(&a.module, &a.name).expect("checked above");
        let url = store.object_url(key);
        match answer {
            Answer::Ok => {
                let got = hex(&Sha256::digest(std::fs::read(file)?));
                if got != e.sha256 {
                    wrong.push(format!(
                        "{}: {url} has sha256 {got}, the release says {} (corrupt or replaced)",
                        a.id(),
                        e.sha256
                    ));
                }
            }
            Answer::Missing => wrong.push(format!("{}: {url} is missing from the store", a.id())),
            Answer::Failed(why) => wrong.push(format!("{}: cannot download {url}: {why}", a.id())),
            Answer::Exists => unreachable!("a GET is never answered 412"),
        }
    }
    if !wrong.is_empty() {
        bail!(
            "deploy refused before terraform ran: release {}'s zips cannot be trusted:\n  {}\n\
             nothing was placed; release again from a checkout that built them, or fix the store",
            manifest.name,
            wrong.join("\n  ")
        );
    }
    // A build of this checkout writes the same paths: one or the other, never both at once.
    let _build = crate::fsutil::lock(&scratch_dir(cfg)?, "another build of this stack")?;
    for (a, (_, file)) in found.artifacts.iter().zip(&items) {
        let dir = a.out.parent().context("a zip path has a parent")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = crate::archive::temp_zip(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        std::fs::copy(file, tmp.path())
            .with_context(|| format!("cannot write {}", tmp.path().display()))?;
        tmp.persist(&a.out)
            .with_context(|| format!("cannot write {}", a.out.display()))?;
    }
    ui::step(&format!(
        "placed {} zips of release {}, each checked against its sha256",
        found.artifacts.len(),
        manifest.name
    ));
    let placed = Placed {
        name: manifest.name.clone(),
        describe: manifest.describe(),
        commit,
        manifest_sha256: hex(&Sha256::digest(&bytes)),
        at: manifest::now(),
        source_drift: drift,
    };
    let record = crate::terraform::env_dir(infra, env)?
        .join(".xtask")
        .join("release.json");
    if let Some(dir) = record.parent() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir)?;
        // As plan leaves it: the env's .xtask/ holds saved plans, readable by its owner only.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    write_atomic(&record, &serde_json::to_vec_pretty(&placed)?)?;
    Ok(placed)
}

/// The stack's `.xtask/`, made when missing (a fresh clone has none).
fn scratch_dir(cfg: &Config) -> Result<PathBuf> {
    let dir = crate::build::cache_dir(cfg);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// The manifest `--release` names, its bytes, and the store its zips come from:
/// `s3://…/releases/NAME/release.json` (that store), a file (the configured store, else the
/// one it records), or a name (the configured store).
fn resolve(cfg: &Config, release: &str, scratch: &Path) -> Result<(Manifest, Vec<u8>, Store)> {
    let (bytes, store, what) = if release.starts_with("s3://") {
        let Some((root, name)) = store::split_manifest_url(release) else {
            return Err(ui::Usage(format!(
                "--release {release}: an s3:// release is s3://bucket/prefix/releases/NAME/release.json"
            ))
            .into());
        };
        let mut s = Store::at(cfg, &root)?;
        let key = s.manifest_key(&name);
        let bytes = s.read(&key, scratch)?;
        (bytes, s, release.to_string())
    } else if Path::new(release).is_file() {
        let bytes = std::fs::read(release).with_context(|| format!("cannot read {release}"))?;
        let m = parse(&bytes, release)?;
        let s = match Store::configured(cfg)? {
            Some(s) => s,
            None => Store::at(cfg, &m.store)?,
        };
        (Some(bytes), s, release.to_string())
    } else if store::valid_name(release) {
        let Some(mut s) = Store::configured(cfg)? else {
            bail!(
                "--release {release}: no release store to find it in; set `url` under [release] \
                 (or [cache]) in {}, or pass the manifest's s3:// URL or a file",
                crate::config::FILE_NAME
            );
        };
        let key = s.manifest_key(release);
        let url = s.object_url(&key);
        (s.read(&key, scratch)?, s, url)
    } else {
        return Err(ui::Usage(format!(
            "--release {release}: not a file, an s3:// manifest URL or a release name"
        ))
        .into());
    };
    let Some(bytes) = bytes else {
        bail!(
            "release {release} not found: {what} does not exist in the store {}; \
             `cargo xtask release` prints the name and URL it stores",
            store.url()
        );
    };
    let manifest = parse(&bytes, &what)?;
    Ok((manifest, bytes, store))
}

fn parse(bytes: &[u8], what: &str) -> Result<Manifest> {
    let m: Manifest = serde_json::from_slice(bytes)
        .with_context(|| format!("{what} is not a release manifest (release.json)"))?;
    if m.format != manifest::FORMAT {
        bail!(
            "{what} is a {} manifest; this xtask reads {}: deploy it with the xtask that made it",
            m.format,
            manifest::FORMAT
        );
    }
    if m.artifacts.iter().any(|e| {
        e.sha256.len() != 64
            || base64::engine::general_purpose::STANDARD
                .decode(&e.sha256_base64)
                .map(|d| hex(&d) != e.sha256)
                .unwrap_or(true)
    }) {
        bail!("{what}: an artifact's sha256 and sha256_base64 disagree; the manifest was edited");
    }
    Ok(m)
}

/// `from release NAME (commit …)`, and any source drift allowed: the summary's line.
pub fn summary_line(p: &Placed) -> String {
    match p.source_drift.is_empty() {
        true => format!("from {}", p.describe),
        false => format!(
            "from {}; source drift allowed (--allow-source-drift) for {}",
            p.describe,
            p.source_drift.join(", ")
        ),
    }
}

/// The manifest `--release` names, for `verify --release`.
pub fn read_manifest(cfg: &Config, release: &str) -> Result<Manifest> {
    let scratch = tempfile::Builder::new()
        .prefix(".tmp-release-")
        .tempdir_in(scratch_dir(cfg)?)
        .context("cannot create a scratch directory in the stack's .xtask/")?;
    Ok(resolve(cfg, release, scratch.path())?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_json(format: &str, sha256: &str, sha256_base64: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "format": format, "name": "r1", "created": "2026-12-06T03:00:00Z",
            "xtask": "0.1.0", "store": "s3://b-b/p", "git": null, "source_sha256": "00",
            "verified": null,
            "artifacts": [{
                "module": "module-access", "name": "orgs", "kind": "function",
                "sha256": sha256, "sha256_base64": sha256_base64,
                "zip_bytes": 1, "unzipped_bytes": 1, "root": "stack",
                "path": "packages/module-access/backend/.build/orgs.zip",
                "source_sha256": "00", "lock": null
            }]
        }))
        .unwrap()
    }

    #[test]
    fn a_manifest_of_another_format_or_with_edited_hashes_is_refused_by_name() {
        let hex_sha = "00".repeat(32);
        let b64 = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
        assert!(parse(&manifest_json(manifest::FORMAT, &hex_sha, &b64), "r1.json").is_ok());
        let err = parse(
            &manifest_json("cora-xtask-release/9", &hex_sha, &b64),
            "r1.json",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("r1.json is a cora-xtask-release/9 manifest"),
            "{err}"
        );
        let err = parse(
            &manifest_json(manifest::FORMAT, &"11".repeat(32), &b64),
            "r1.json",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sha256 and sha256_base64 disagree"), "{err}");
        // A key that is not a hash never reaches the store.
        let err = parse(&manifest_json(manifest::FORMAT, "../../x", &b64), "r1.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("disagree"), "{err}");
        assert!(parse(b"{}", "r1.json")
            .unwrap_err()
            .to_string()
            .contains("r1.json is not a release manifest"));
    }
}
