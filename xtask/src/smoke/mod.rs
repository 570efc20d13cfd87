//! `cargo xtask smoke`: imports every function's handler in a Lambda-shaped sandbox — the
//! function's zip as the task root, its attached layers' zips merged into one `opt/` in the
//! order Terraform lists them, the runtime's bundled packages last — with the target
//! interpreter, and checks the handler exists. Nothing is invoked.
//!
//! Results are cached by everything an import depends on (zips, layers, interpreter, runtime
//! emulation, handler, environment names, timeout): a no-op run starts no interpreter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::build;
use crate::config::Config;
use crate::fsutil::hex;
use crate::stack::discover::{self, Kind};
use crate::stack::model::{not_checked, Field, LayerTarget, Model};
use crate::ui;

pub(crate) mod interp;
mod report;
mod sandbox;

pub use report::{preflight, print, require_imports};

pub use interp::{find as find_interpreter, Interpreter, RUNTIME_MODULES};

/// Bump when what a result means changes (the driver's source is in the key already): every
/// function is imported again.
const RECIPE: &str = "cora-xtask-smoke-2";
const DEFAULT_TIMEOUT_SECS: u64 = 10;

pub struct Options {
    pub env: String,
    pub modules: Vec<String>,
    pub jobs: usize,
    /// No interpreter is a failure (CI), not a reason to skip.
    pub require: bool,
    /// Build (incrementally) first; `None` when the caller just did (plan, deploy).
    pub build: Option<build::Options>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub module: String,
    pub name: String,
    pub status: Status,
    /// `ModuleNotFoundError: No module named 'acmeclient'`, or why it was skipped.
    pub error: Option<String>,
    /// The innermost frame of the stack's own code: `lambda_function.py`, `/opt/python/x.py`.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub fix: Option<String>,
    /// Taken from the cache (not in `--json`).
    #[serde(skip)]
    pub cached: bool,
    /// The layer artifacts imported with, in order (from the stack model).
    #[serde(default)]
    pub layers: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub functions: Vec<Record>,
    /// A target interpreter was found: skips are then about the stack, not this machine.
    #[serde(skip)]
    pub interpreter: bool,
}

impl Report {
    pub fn count(&self, s: Status) -> usize {
        self.functions.iter().filter(|r| r.status == s).count()
    }
}

/// `.xtask/smoke/state.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    interpreter: Option<interp::Interpreter>,
    /// SHA-256 of zips by path, trusted while their size and mtime are unchanged.
    zips: BTreeMap<PathBuf, (String, String)>,
    /// The last result of each function (`module/name`) and the key it was computed for.
    results: BTreeMap<String, (String, Record)>,
}

/// One function ready to import.
pub struct Job {
    pub id: String,
    pub name: String,
    pub zip: PathBuf,
    /// Attached layers' zips in Terraform's order, with their SHA-256.
    pub layers: Vec<(PathBuf, String)>,
    /// Their artifact ids (a layer not built here: its zip's path).
    pub layer_ids: Vec<String>,
    pub handler: String,
    pub environment: Vec<(String, String)>,
    /// What the result depends on: the result cache's key.
    pub key: String,
}

pub fn run(cfg: &Config, infra: Option<&Path>, opts: &Options) -> Result<Report> {
    let failed_zips = match &opts.build {
        Some(b) => build_first(cfg, infra, b)?,
        None => Vec::new(),
    };
    let found = discover::discover(cfg, infra, &opts.modules)?;
    let cache = build::cache_dir(cfg).join("smoke");
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create {}", cache.display()))?;
    sweep_sandboxes(&cache);
    let state_path = cache.join("state.json");
    let mut state: State = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let functions: Vec<_> = found
        .artifacts
        .iter()
        .filter(|a| a.kind == Kind::Function)
        .collect();

    let python = interp::find(cfg, state.interpreter.as_ref());
    if let Err(why) = &python {
        if why.setting {
            anyhow::bail!("{why}");
        }
        if opts.require {
            anyhow::bail!("{why}\n(--require: smoke cannot be skipped)");
        }
        ui::warn(&format!("smoke: every function skipped: {why}"));
    }
    state.interpreter = python.as_ref().ok().cloned();
    let runtime = python.as_ref().ok().and_then(|_| runtime(cfg, &cache));
    let timeout = cfg.smoke.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS).max(1);

    // Every artifact, whatever --module says: a function's layers may come from another module.
    let all = match opts.modules.is_empty() {
        true => None,
        false => Some(discover::discover(cfg, infra, &[])?),
    };
    let artifacts = &all.as_ref().unwrap_or(&found).artifacts;
    let model = Model::load(&cfg.stack, infra, &opts.env, artifacts);
    model.notes.iter().for_each(|n| crate::ui::warn(n));
    let mut records = Vec::new();
    let mut jobs = Vec::new();
    let mut in_use = std::collections::BTreeSet::new();
    for a in &functions {
        let skip = |why: String| Record {
            module: a.module.clone(),
            name: a.name.clone(),
            status: Status::Skipped,
            error: Some(why),
            file: None,
            line: None,
            fix: None,
            cached: false,
            layers: Vec::new(),
        };
        let python = match &python {
            Ok(p) => p,
            Err(_) => {
                records.push(skip("no target interpreter".into()));
                continue;
            }
        };
        let job = prepare(
            cfg,
            &model,
            &mut state,
            a,
            python,
            runtime.as_ref(),
            timeout,
        );
        let job = job.and_then(|job| {
            let mut zips = std::iter::once(&job.zip).chain(job.layers.iter().map(|(z, _)| z));
            match zips.find(|z| failed_zips.contains(z)) {
                Some(z) => Err(format!(
                    "{} failed to build (above): run cargo xtask build",
                    z.file_name().unwrap_or_default().to_string_lossy()
                )),
                None => Ok(job),
            }
        });
        if let Ok(job) = &job {
            in_use.extend(job.layers.iter().map(|(_, sha)| sha.clone()));
        }
        match job {
            Err(why) => records.push(skip(why)),
            Ok(job) => match state.results.get(&job.id) {
                Some((key, r)) if *key == job.key => records.push(Record {
                    cached: true,
                    ..r.clone()
                }),
                _ => jobs.push((a.module.clone(), job)),
            },
        }
    }

    if let Ok(python) = &python {
        let runner = sandbox::Runner::new(
            cfg,
            &python.path,
            runtime.as_ref().map(|(d, _)| d.as_path()),
            timeout,
            &cache,
            &found.artifacts,
        )?;
        let progress = ui::Progress::new(jobs.len(), "smoke");
        let done = crate::pool::parallel(&jobs, opts.jobs, |(module, job)| {
            let task = progress.task(&job.id);
            let (r, lasting) = runner.import(module, job);
            task.done(status_word(r.status));
            (r, lasting)
        });
        progress.finish();
        for ((_, job), (r, lasting)) in jobs.iter().zip(done) {
            if lasting {
                state
                    .results
                    .insert(job.id.clone(), (job.key.clone(), r.clone()));
            }
            records.push(r);
        }
    }
    if python.is_ok() && opts.modules.is_empty() {
        prune_layers(&cache, &in_use);
    }
    records.sort_by(|a, b| (&a.module, &a.name).cmp(&(&b.module, &b.name)));
    if let Err(e) = crate::fsutil::write_atomic(&state_path, &serde_json::to_vec(&state)?) {
        ui::warn(&format!(
            "{e:#}; the next smoke imports every function again"
        ));
    }
    Ok(Report {
        functions: records,
        interpreter: python.is_ok(),
    })
}

/// The incremental build; returns the zips that failed, after printing why.
fn build_first(cfg: &Config, infra: Option<&Path>, b: &build::Options) -> Result<Vec<PathBuf>> {
    let mut failed = Vec::new();
    // Every module: a function's layers may come from another one.
    for r in build::run(cfg, infra, b)?.artifacts {
        if r.status == build::Status::Failed {
            let why = r.error.as_deref().unwrap_or("failed");
            ui::error(&format!("{}/{}: {why}", r.module, r.name));
            failed.push(r.path);
        }
    }
    Ok(failed)
}

/// The runtime emulation's directory and key, or `None` after saying why, once.
fn runtime(cfg: &Config, cache: &Path) -> Option<(PathBuf, String)> {
    interp::runtime(cfg, cache)
        .map_err(|why| {
            ui::warn(&format!(
                "smoke: the Lambda runtime's packages (boto3, botocore, …) cannot be installed, \
                 so functions that import them are skipped: {why}"
            ))
        })
        .ok()
}

/// Removes extracted layers no function attaches any more.
fn prune_layers(cache: &Path, in_use: &std::collections::BTreeSet<String>) {
    for e in std::fs::read_dir(cache.join("layers"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(".tmp-") && !in_use.contains(&name) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    }
}

/// Reads what Terraform deploys for `a` from the stack model, or says why it cannot be imported.
fn prepare(
    cfg: &Config,
    model: &Model,
    state: &mut State,
    a: &discover::Artifact,
    python: &interp::Interpreter,
    runtime: Option<&(PathBuf, String)>,
    timeout: u64,
) -> Result<Job, String> {
    let base = crate::stack::show::base(&cfg.stack);
    let rel = |p: &Path| p.strip_prefix(&base).unwrap_or(p).display().to_string();
    let f = model.function_for_artifact(&a.id()).ok_or_else(|| {
        format!(
            "no aws_lambda_function deploys {} (`cargo xtask stack` lists what Terraform deploys)",
            rel(&a.out)
        )
    })?;
    let handler = match &f.handler {
        Some(Field::Known(h)) => h.clone(),
        Some(Field::Unknown { unknown }) => {
            return Err(format!("handler {}", not_checked(unknown, &base)))
        }
        None => {
            return Err(format!(
                "{} ({}:{}) has no `handler`",
                f.address,
                rel(&f.at.file),
                f.at.line
            ))
        }
    };
    if let Some(runtime) = f
        .runtime
        .as_ref()
        .and_then(Field::known)
        .filter(|r| **r != cfg.runtime())
    {
        return Err(format!(
            "{} runs {runtime}; smoke imports with {} (`python` in xtask.toml)",
            f.address,
            cfg.runtime()
        ));
    }
    // A layer attached on one arm of an unknown conditional is imported with: it may be there.
    let mut layers = Vec::new();
    let mut layer_ids = Vec::new();
    for (i, l) in f.layers.iter().enumerate() {
        let zip = match &l.target {
            LayerTarget::Deployed { address } => {
                match model.layer(address).and_then(|l| l.zip.as_ref()) {
                    Some(Field::Known(z)) => {
                        let id = model.layer(address).and_then(|l| l.artifact.clone());
                        layer_ids.push(id.unwrap_or_else(|| rel(z)));
                        z.clone()
                    }
                    Some(Field::Unknown { unknown }) => {
                        return Err(format!("layer {address}: {}", not_checked(unknown, &base)))
                    }
                    None => return Err(format!("layer {address} has no local `filename`")),
                }
            }
            LayerTarget::External { arn } => {
                return Err(format!(
                    "layer `{arn}` is a literal ARN: its contents are not in this repository"
                ))
            }
            LayerTarget::Unknown { unknown } => {
                return Err(format!("layer {}: {}", i + 1, not_checked(unknown, &base)))
            }
        };
        layers.push(zip);
    }
    let mut h = Sha256::new();
    h.update(format!(
        "{RECIPE}\0{}\0{}\0{}\0{}\0{handler}\0{timeout}",
        sandbox::DRIVER,
        python.stamp,
        runtime.map_or("no-runtime", |(_, k)| k),
        a.id()
    ));
    let mut shas = Vec::new();
    for zip in std::iter::once(&a.out).chain(&layers) {
        let sha = zip_sha(state, zip)
            .ok_or_else(|| format!("{} is not built: run cargo xtask build", rel(zip)))?;
        h.update(format!("\0{sha}"));
        shas.push(sha);
    }
    let names = f.environment.known().cloned().unwrap_or_default();
    let environment: Vec<(String, String)> = names
        .into_iter()
        .map(|k| {
            let v = f.environment_values.get(&k).cloned();
            (k, v.unwrap_or_else(|| "xtask-smoke".into()))
        })
        .collect();
    for (k, v) in &environment {
        h.update(format!("\0{k}={v}"));
    }
    Ok(Job {
        id: a.id(),
        name: a.name.clone(),
        zip: a.out.clone(),
        layers: layers.into_iter().zip(shas.into_iter().skip(1)).collect(),
        layer_ids,
        handler,
        environment,
        key: hex(&h.finalize()),
    })
}

/// The zip's SHA-256, hashed again only when its size or mtime changed.
fn zip_sha(state: &mut State, zip: &Path) -> Option<String> {
    let m = std::fs::metadata(zip).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let stamp = format!("{}:{}", m.len(), mtime.as_nanos());
    if let Some((s, sha)) = state.zips.get(zip) {
        if *s == stamp {
            return Some(sha.clone());
        }
    }
    let sha = hex(&Sha256::digest(std::fs::read(zip).ok()?));
    state.zips.insert(zip.to_path_buf(), (stamp, sha.clone()));
    Some(sha)
}

/// Removes sandboxes a killed run left (an hour old: a concurrent run's are younger).
fn sweep_sandboxes(cache: &Path) {
    let roots = [cache.to_path_buf(), sandbox::sandbox_root(cache)];
    for e in roots
        .iter()
        .flat_map(|r| std::fs::read_dir(r).into_iter().flatten().flatten())
    {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if old
            && e.file_name()
                .to_string_lossy()
                .starts_with(sandbox::SANDBOX_PREFIX)
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
