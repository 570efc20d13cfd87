//! The target interpreter (found, probed once, remembered) and the Lambda runtime's bundled
//! packages, installed once into a cached directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{Arch, Config};
use crate::fsutil::hex;
use crate::install::Installer;
use crate::proc::Cmd;

/// What the python3.13 runtime bundles, pinned to the versions it ships (boto3 and botocore
/// 1.38.36 on python3.12 and 3.13 in August 2025, as reported in terricain/aioboto3#381; the
/// AWS table "Runtime-included SDK versions" lists the current pair). Their dependencies
/// (s3transfer, jmespath, urllib3, python-dateutil, six) come with them.
pub const RUNTIME_PACKAGES: &[&str] = &["boto3==1.38.36", "botocore==1.38.36"];

/// Top-level modules the runtime provides through those packages.
pub const RUNTIME_MODULES: &[&str] = &[
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "dateutil",
    "six",
];

/// An interpreter that runs the target's minor version on the target's architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    /// What discovery was asked ([smoke] python, PATH, PYENV_ROOT): another question
    /// discovers again.
    pub inputs: String,
    pub path: PathBuf,
    /// Size and mtime of the resolved binary: a replaced interpreter is probed again.
    pub stamp: String,
}

fn stamp(path: &Path) -> Option<String> {
    let real = path.canonicalize().ok()?;
    let m = std::fs::metadata(&real).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!(
        "{}:{}:{}",
        real.display(),
        m.len(),
        mtime.as_nanos()
    ))
}

fn machine(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::Arm64 => "aarch64",
    }
}

/// Why there is no interpreter.
#[derive(Debug)]
pub struct Missing {
    pub why: String,
    /// `[smoke] python` names one that does not exist or is not the target: a setting that is
    /// wrong is an error, not a reason to skip.
    pub setting: bool,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// The interpreter to import handlers with, or why there is none. `remembered` (the last
/// run's) is reused without starting anything while it answers the same question.
pub fn find(cfg: &Config, remembered: Option<&Interpreter>) -> Result<Interpreter, Missing> {
    let why = |why: String| Missing {
        why,
        setting: false,
    };
    let target = machine(cfg.arch);
    if std::env::consts::ARCH != target {
        return Err(why(format!(
            "this host is {}, the target {} (arch in xtask.toml): compiled modules built for \
             the target cannot load here; run smoke on a {target} machine",
            std::env::consts::ARCH,
            cfg.arch
        )));
    }
    let minor = &cfg.python;
    let inputs = format!(
        "{:?}\0{minor}\0{}\0{}",
        cfg.smoke.python,
        std::env::var("PATH").unwrap_or_default(),
        std::env::var("PYENV_ROOT").unwrap_or_default()
    );
    if let Some(r) = remembered {
        if r.inputs == inputs && stamp(&r.path).as_ref() == Some(&r.stamp) {
            return Ok(r.clone());
        }
    }
    let mut tried = Vec::new();
    let candidates: Vec<(String, Option<PathBuf>)> = match &cfg.smoke.python {
        Some(p) => vec![(format!("[smoke] python = {p:?}"), which::which(p).ok())],
        None => vec![
            (format!("uv python find {minor}"), uv_find(minor)),
            (
                format!("python{minor} on PATH"),
                which::which(format!("python{minor}")).ok(),
            ),
            ("pyenv".to_string(), pyenv(minor)),
        ],
    };
    for (how, path) in candidates {
        let Some(path) = path else {
            tried.push(format!("{how}: not found"));
            continue;
        };
        match probe(&path, minor, target) {
            Ok(()) => {
                if let Some(stamp) = stamp(&path) {
                    return Ok(Interpreter {
                        inputs,
                        path,
                        stamp,
                    });
                }
                tried.push(format!("{how}: {} cannot be read", path.display()));
            }
            Err(why) => tried.push(format!("{how}: {} {why}", path.display())),
        }
    }
    if cfg.smoke.python.is_some() {
        let file = cfg.stack.join(crate::config::FILE_NAME);
        let at = setting_line(&file).map_or(String::new(), |l| format!(":{l}"));
        return Err(Missing {
            why: format!(
                "{}{at}: {}\nfix: point `python` under [smoke] at a Python {minor} for {target} \
                 (`uv python install {minor}` then `uv python find {minor}` prints one), or \
                 remove the line to let smoke find one",
                file.display(),
                tried.join("; ")
            ),
            setting: true,
        });
    }
    Err(why(format!(
        "no Python {minor} interpreter for {target} ({}); install one with `uv python install \
         {minor}`, or set `python` under [smoke] in xtask.toml",
        tried.join("; ")
    )))
}

/// The line of `python = …` under `[smoke]` in the stack's xtask.toml, for the error.
fn setting_line(file: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut in_smoke = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_smoke = t.trim_start_matches('[').trim_end_matches(']').trim() == "smoke";
        } else if in_smoke && t.split('=').next().map(str::trim) == Some("python") {
            return Some(i + 1);
        }
    }
    None
}

fn uv_find(minor: &str) -> Option<PathBuf> {
    let uv = which::which("uv").ok()?;
    let out = Cmd::new(uv)
        .args(["python", "find", minor])
        .env("UV_NO_PROGRESS", "1")
        .output()
        .ok()?;
    let path = out.stdout.trim();
    (out.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

/// The newest `<pyenv root>/versions/<minor>.*/bin/python<minor>`.
fn pyenv(minor: &str) -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")))?;
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root.join("versions"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(minor)?.strip_prefix('.')?;
            let patch = rest.parse::<u32>().ok()?;
            let bin = e.path().join("bin").join(format!("python{minor}"));
            bin.is_file().then_some((vec![patch], bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

/// Runs the interpreter once: it must start and be `minor` on `machine`.
fn probe(path: &Path, minor: &str, machine: &str) -> Result<(), String> {
    let out = Cmd::new(path)
        .args([
            "-I",
            "-S",
            "-c",
            "import sys, platform; print('%d.%d' % sys.version_info[:2], platform.machine())",
        ])
        .output()
        .map_err(|e| format!("does not run ({e:#})"))?;
    if !out.success() {
        return Err(format!("does not run ({})", out.tail(1)));
    }
    let want = format!("{minor} {machine}");
    match out.stdout.trim() {
        got if got == want => Ok(()),
        got => Err(format!("is {got}, not {want}")),
    }
}

/// The runtime's bundled packages installed for the target, and their key for the result
/// cache; `Err` says why they could not be installed.
pub fn runtime(cfg: &Config, cache: &Path) -> Result<(PathBuf, String), String> {
    let packages: Vec<String> = match &cfg.smoke.runtime_packages {
        Some(p) => p.clone(),
        None => RUNTIME_PACKAGES.iter().map(|s| s.to_string()).collect(),
    };
    if packages.is_empty() {
        return Err("`runtime_packages` under [smoke] in xtask.toml is empty".into());
    }
    let installer = Installer::detect(cfg.installer).map_err(|e| format!("{e:#}"))?;
    let mut h = Sha256::new();
    h.update(format!(
        "{}\0{}\0{}\0{:?}\0{packages:?}",
        cfg.python,
        cfg.arch,
        installer.name(),
        cfg.installer_options
    ));
    let key = hex(&h.finalize());
    let dir = cache.join("runtime").join(&key);
    if dir.is_dir() {
        return Ok((dir, key));
    }
    // A failed install is not retried on every run: an unreachable index can take the
    // installer minutes to give up.
    let marker = cache.join("runtime").join(format!("{key}.failed"));
    let recent = std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < RETRY_AFTER);
    if recent {
        let why = std::fs::read_to_string(&marker).unwrap_or_default();
        return Err(format!(
            "{} (the last attempt's error; retried an hour after it, or once {} is removed)",
            why.trim_end(),
            marker.display()
        ));
    }
    let result = install_runtime(cfg, &installer, &packages, &dir);
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_file(&marker);
        }
        Err(why) => {
            let _ = std::fs::write(&marker, why);
        }
    }
    result.map(|()| (dir, key))
}

/// How long a failed runtime install is remembered.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

fn install_runtime(
    cfg: &Config,
    installer: &Installer,
    packages: &[String],
    dir: &Path,
) -> Result<(), String> {
    let parent = dir.parent().unwrap_or(dir);
    let tmp = (|| {
        std::fs::create_dir_all(parent)?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(parent)?;
        std::fs::write(tmp.path().join("requirements.txt"), packages.join("\n"))?;
        std::io::Result::Ok(tmp)
    })()
    .map_err(|e| format!("cannot prepare {}: {e}", parent.display()))?;
    let target = tmp.path().join("site-packages");
    installer
        .install(cfg, &tmp.path().join("requirements.txt"), &target, false)
        .map_err(|e| {
            // The installer's own words, without its fix line about a requirements file
            // that is ours, not the user's.
            let e = format!("{e:#}");
            e.split("\nfix:").next().unwrap_or_default().to_string()
        })?;
    std::fs::rename(&target, dir).map_err(|e| format!("cannot store {}: {e}", dir.display()))
}
