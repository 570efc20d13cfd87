//! `requirements.lock`: what an artifact's `requirements.txt` resolves to for the Lambda target,
//! every wheel pinned to an exact version and sha256. `cargo xtask lock` writes it (with uv);
//! `build` installs from it with hashes required, and its pins are the dependency key, so a
//! fresh CI runner builds the same bytes as the laptop that locked.
//!
//! The header names the target and a hash of the requirements (their meaningful lines and every
//! `-r`/`-c` include's): a lock made from other requirements, or for another target, is stale.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::requirements::{self, Requirements};
use super::{uv_platform, Installer};
use crate::build::size::normalize;
use crate::config::Config;
use crate::proc::Cmd;
use crate::stack::discover::Artifact;

pub const FILE: &str = "requirements.lock";
const TARGET: &str = "# target: ";
const SHA: &str = "# requirements-sha256: ";

/// The lock beside `requirements`.
pub fn path_for(requirements: &Path) -> PathBuf {
    requirements.with_file_name(FILE)
}

/// The Lambda target as a lock's header names it: `python3.13 x86_64-manylinux_2_34`.
fn target(cfg: &Config) -> String {
    format!("python{} {}", cfg.python, uv_platform(cfg.arch))
}

/// Comments and blank lines aside, what the requirements and their includes say.
fn requirements_sha(reqs: &Requirements) -> String {
    let mut h = Sha256::new();
    for l in &reqs.key_lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    crate::fsutil::hex(&h.finalize())
}

fn header(cfg: &Config, requirements: &Path, reqs: &Requirements) -> String {
    let name = requirements
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    format!(
        "# {FILE}: what {name} resolves to, written by `cargo xtask lock`; do not edit.\n\
         # `cargo xtask lock --upgrade [PACKAGE]` moves it to newer versions.\n\
         {TARGET}{}\n{SHA}{}\n",
        target(cfg),
        requirements_sha(reqs)
    )
}

/// A lock as read from disk.
#[derive(Debug)]
pub struct Lock {
    pub path: PathBuf,
    target: Option<String>,
    requirements_sha: Option<String>,
    /// Normalized name → (name, version, its line), of every `name==version` line.
    pins: BTreeMap<String, (String, String, String)>,
    /// Its requirement and option lines (hashes included, comments not): the dependency key.
    key_lines: Vec<String>,
}

/// The lock at `path`; `None` when there is none.
pub fn read(path: &Path) -> Result<Option<Lock>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    };
    let parsed = requirements::parse(path, &text)?;
    let pins = parsed
        .pins
        .iter()
        .filter_map(|p| pin(&p.text).map(|(name, version)| (name, version, p.text.clone())))
        .map(|(name, version, line)| (normalize(&name), (name, version, line)))
        .collect();
    Ok(Some(Lock {
        path: path.to_path_buf(),
        target: field(TARGET),
        requirements_sha: field(SHA),
        pins,
        key_lines: parsed.key_lines,
    }))
}

/// (name, version) of `name==version --hash=…`.
fn pin(text: &str) -> Option<(String, String)> {
    let spec = text.split([' ', ';']).next()?;
    let (name, version) = spec.split_once("==")?;
    let name = name.split('[').next()?.trim();
    Some((name.to_string(), version.trim().to_string()))
}

impl Lock {
    /// Why this lock does not describe `reqs` for the configured target; `None` when it does.
    pub fn stale(&self, cfg: &Config, requirements: &Path, reqs: &Requirements) -> Option<String> {
        let lock = self.path.display();
        let Some(sha) = &self.requirements_sha else {
            return Some(format!(
                "{lock} has no `{}` line: it was not written by `cargo xtask lock`",
                SHA.trim_start_matches("# ").trim_end()
            ));
        };
        if *sha != requirements_sha(reqs) {
            return Some(format!(
                "{} (or a file it includes) changed since {FILE} was made from it",
                requirements.display()
            ));
        }
        let want = target(cfg);
        match &self.target {
            Some(t) if *t == want => None,
            t => Some(format!(
                "{lock} was made for {}, the build targets {want} (xtask.toml)",
                t.as_deref().unwrap_or("no named target")
            )),
        }
    }
}

/// What a build installs for one requirements file, and the dependency key's material.
pub struct Source {
    /// The lock when there is one (installed with hashes required), else the requirements.
    pub file: PathBuf,
    pub key_lines: Vec<String>,
    pub lock: Option<Lock>,
}

/// The build's view of `requirements` (already read as `reqs`): its lock when present.
pub fn source(requirements: &Path, reqs: &Requirements) -> Result<Source> {
    let path = path_for(requirements);
    Ok(match read(&path)? {
        Some(lock) => Source {
            file: path,
            // Marked: the same lines unlocked install without hashes required.
            key_lines: std::iter::once("\0lock".to_string())
                .chain(lock.key_lines.iter().cloned())
                .collect(),
            lock: Some(lock),
        },
        None => Source {
            file: requirements.to_path_buf(),
            key_lines: reqs.key_lines.clone(),
            lock: None,
        },
    })
}

impl Source {
    /// A stale lock is a warning, and an error when `locked` (CI), as is a missing one.
    pub fn enforce(
        &self,
        cfg: &Config,
        requirements: &Path,
        reqs: &Requirements,
        locked: bool,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let fix = "run `cargo xtask lock` and commit requirements.lock";
        let Some(lock) = &self.lock else {
            if locked {
                bail!(
                    "{} has no {FILE} beside it and --locked is set; {fix}",
                    requirements.display()
                );
            }
            return Ok(());
        };
        if let Some(why) = lock.stale(cfg, requirements, reqs) {
            if locked {
                bail!("{why} and --locked is set; {fix}");
            }
            warnings.push(format!(
                "{why}: built from the lock as it is, without that change; {fix}"
            ));
        }
        Ok(())
    }
}

/// Which locked versions `lock` may move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upgrade {
    /// None: the existing pins are kept wherever the requirements still allow them.
    Keep,
    All,
    Package(String),
}

/// One package's move between the old lock and the new.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.from, &self.to) {
            (Some(a), Some(b)) if a == b => write!(f, "{} {a} (other sha256)", self.name),
            (Some(a), Some(b)) => write!(f, "{} {a} → {b}", self.name),
            (None, Some(b)) => write!(f, "{} {b} (added)", self.name),
            (Some(a), None) => write!(f, "{} {a} (removed)", self.name),
            (None, None) => write!(f, "{}", self.name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Updated,
    Unchanged,
    /// The requirements list nothing: no lock is written.
    Empty,
    Failed,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub artifact: String,
    pub lock: PathBuf,
    pub status: Status,
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `cargo xtask lock`: every artifact's requirements resolved into its lock. Fails (before
/// resolving anything) without uv; an artifact whose requirements do not resolve is reported
/// and the others are locked.
pub fn run(
    cfg: &Config,
    targets: &crate::build::arch::Targets,
    artifacts: &[Artifact],
    upgrade: &Upgrade,
    jobs: usize,
) -> Result<Vec<Outcome>> {
    // pip resolves only to install: writing a lock with it would need pip-tools, or
    // re-implementing uv's preference for the pins already locked (see the README).
    let uv = which::which("uv").map_err(|_| {
        anyhow::anyhow!(
            "`cargo xtask lock` needs uv, which resolves for the Lambda target and writes the \
             hashes (pip cannot without pip-tools); install it (`pip install uv`, or see \
             https://docs.astral.sh/uv/). Installing from a lock works with uv or pip."
        )
    })?;
    super::missing_find_links(cfg)?;
    let with_reqs: Vec<&Artifact> = artifacts
        .iter()
        .filter(|a| a.requirements.is_some())
        .collect();
    if let Upgrade::Package(p) = upgrade {
        let known = with_reqs.iter().any(|a| {
            let lock = path_for(a.requirements.as_deref().expect("filtered"));
            matches!(read(&lock), Ok(Some(l)) if l.pins.contains_key(&normalize(p)))
        });
        if !known {
            bail!(
                "--upgrade {p}: no {FILE} pins a package of that name; `cargo xtask lock` \
                 adds what requirements.txt lists"
            );
        }
    }
    let outcomes = crate::pool::parallel(&with_reqs, jobs, |a| {
        let req = a.requirements.as_deref().expect("filtered");
        let lock = path_for(req);
        let mut o = Outcome {
            artifact: a.id(),
            lock: lock.clone(),
            status: Status::Failed,
            changes: Vec::new(),
            error: None,
        };
        // Each for its own architecture: an arm64 function's lock pins aarch64 wheels.
        match lock_one(&targets.cfg(cfg, &a.id()), &uv, req, &lock, upgrade) {
            Ok((status, changes)) => (o.status, o.changes) = (status, changes),
            Err(e) => o.error = Some(format!("{e:#}")),
        }
        o
    });
    Ok(outcomes)
}

/// Resolves `req` into `lock`, keeping the old lock's pins unless `upgrade` frees them.
fn lock_one(
    cfg: &Config,
    uv: &Path,
    req: &Path,
    lock: &Path,
    upgrade: &Upgrade,
) -> Result<(Status, Vec<Change>)> {
    let reqs = requirements::read(req)?;
    let old = read(lock)?;
    if reqs.is_empty() && old.is_none() {
        return Ok((Status::Empty, Vec::new()));
    }
    let dir = req.parent().context("requirements file has no directory")?;
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let out = tmp.path().join(FILE);
    if old.is_some() {
        // uv keeps the versions already in its output file: the old lock is its preferences.
        std::fs::copy(lock, &out).with_context(|| format!("cannot read {}", lock.display()))?;
    }
    let mut cmd = Cmd::new(uv)
        // The target is named: any interpreter will do, and none is downloaded.
        .args(["--no-python-downloads", "pip", "compile"])
        .arg(req.file_name().context("requirements file has no name")?)
        .args(["--python-version", &cfg.python])
        .args(["--python-platform", uv_platform(cfg.arch)])
        .args(["--generate-hashes", "--only-binary", ":all:"])
        // The header is ours: uv's names the command line, with its absolute paths.
        .args(["--no-header", "--quiet", "--output-file"])
        .arg(&out)
        .dir(dir)
        .env("UV_NO_PROGRESS", "1");
    cmd = match upgrade {
        Upgrade::Keep => cmd,
        Upgrade::All => cmd.arg("--upgrade"),
        Upgrade::Package(p) => cmd.args(["--upgrade-package", p]),
    };
    let installer = Installer::Uv(uv.to_path_buf());
    let cmd = installer.with_options(cmd, cfg);
    let res = cmd.own_group().output()?;
    if !res.success() {
        // As build says it: every pin that cannot be resolved, with its line and the fix.
        let e = installer.unresolvable(cfg, req, &res);
        bail!("{}: {e:#}", req.display());
    }
    let body = std::fs::read_to_string(&out).context("uv wrote no lock")?;
    let text = format!("{}\n{}", header(cfg, req, &reqs), body.trim_start());
    let unchanged = std::fs::read_to_string(lock).is_ok_and(|t| t == text);
    if !unchanged {
        // A lock is source, readable as requirements.txt is.
        let mode = std::fs::metadata(req).map_or(0o644, |m| m.permissions().mode() & 0o666);
        crate::fsutil::write_atomic_with_mode(lock, text.as_bytes(), mode)?;
    }
    let new = read(lock)?.context("the lock just written is gone")?;
    let changes = diff(old.as_ref(), &new);
    let status = match (&old, unchanged) {
        (None, _) => Status::Created,
        (Some(_), true) => Status::Unchanged,
        (Some(_), false) => Status::Updated,
    };
    Ok((status, changes))
}

fn diff(old: Option<&Lock>, new: &Lock) -> Vec<Change> {
    let empty = BTreeMap::new();
    let before = old.map_or(&empty, |l| &l.pins);
    let mut names: Vec<&String> = before.keys().chain(new.pins.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let (a, b) = (before.get(n), new.pins.get(n));
            // The whole line: a re-published wheel changes only its hash.
            (a.map(|p| &p.2) != b.map(|p| &p.2)).then(|| Change {
                name: b.or(a).map_or(n.clone(), |p| p.0.clone()),
                from: a.map(|p| p.1.clone()),
                to: b.map(|p| p.1.clone()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_and_names() {
        assert_eq!(
            pin("acme-client==1.2.0 --hash=sha256:ab"),
            Some(("acme-client".into(), "1.2.0".into()))
        );
        assert_eq!(pin("x[extra]==2;python_version>'3'").unwrap().1, "2");
        assert_eq!(pin("x>=2"), None);
    }

    #[test]
    fn a_lock_is_stale_when_its_requirements_or_target_change() {
        let d = tempfile::tempdir().unwrap();
        let req = d.path().join("requirements.txt");
        std::fs::write(&req, "acme>=1  # why\n").unwrap();
        let reqs = requirements::read(&req).unwrap();
        let mut cfg = crate::install::tests::cfg(None, &[]);
        let lock = path_for(&req);
        let body = "acme==1.2.0 \\\n    --hash=sha256:ab\n    # via -r requirements.txt\n";
        std::fs::write(&lock, format!("{}{body}", header(&cfg, &req, &reqs))).unwrap();
        let l = read(&lock).unwrap().unwrap();
        assert_eq!(l.stale(&cfg, &req, &reqs), None);
        assert_eq!(l.key_lines, ["acme==1.2.0 --hash=sha256:ab"]);

        // A comment is no change; a requirement is.
        std::fs::write(&req, "# pinned loosely\nacme>=1\n").unwrap();
        assert_eq!(
            l.stale(&cfg, &req, &requirements::read(&req).unwrap()),
            None
        );
        std::fs::write(&req, "acme>=1\nsix\n").unwrap();
        let why = l.stale(&cfg, &req, &requirements::read(&req).unwrap());
        assert!(why
            .unwrap()
            .contains("requirements.txt (or a file it includes) changed"));

        cfg.arch = crate::config::Arch::Arm64;
        let why = l.stale(&cfg, &req, &reqs).unwrap();
        assert!(why.contains("aarch64-manylinux_2_34"), "{why}");
    }
}
