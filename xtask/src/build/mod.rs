//! `cargo xtask build`: every function and layer of the stack, in parallel, into reproducible
//! zips, skipping what has not changed.
//!
//! Per artifact: hash the inputs → unchanged? `cached` : install dependencies (cached apart
//! from code, keyed by requirements + target + installer) → deterministic zip → atomic rename.

pub mod arch;
pub mod native;
pub mod size;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

mod compress;
mod deps;
mod deps_cache;
mod failed_deps;
mod layers;
pub use deps::installed_deps;
pub use layers::declared_layers;
use layers::{attached_layers, uncounted_layers};
pub mod pack;
pub mod prefix;
pub mod zipw;

use crate::archive;
use crate::config::{Arch, Config};
use crate::fsutil::{lock, write_atomic};
use crate::install::{lock, requirements, Installer};
use crate::pool;
use crate::stack::discover::{self, Artifact, Kind};
use crate::stack::model::Model;
use crate::ui::Progress;

mod cache;
pub mod remote;
pub mod select;

/// Bump when the zip layout or normalization changes: every artifact rebuilds once.
const RECIPE: &str = "cora-xtask-build-2";
/// Bump when the zip's bytes change but installed trees do not (the artifact key only, so no
/// dependency set is reinstalled): 2 = dependencies first, incompressible files stored.
const LAYOUT: &str = "zip-layout-2";
/// Lambda's direct-upload limit for a zip.
pub const MAX_ZIP_BYTES: u64 = 52_428_800;
/// Lambda's limit for a function plus all its layers, unzipped.
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;

pub struct Options {
    pub jobs: usize,
    pub force: bool,
    pub modules: Vec<String>,
    /// A stale or missing requirements.lock fails the artifact (CI).
    pub locked: bool,
    pub cache: remote::Flags,
    /// The env whose module calls decide which layers each function attaches.
    pub env: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Built,
    Cached,
    /// Downloaded from the shared cache.
    Remote,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub module: String,
    pub name: String,
    pub kind: Kind,
    pub path: PathBuf,
    pub status: Status,
    pub zip_bytes: Option<u64>,
    pub unzipped_bytes: Option<u64>,
    pub sha256_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the zip holds (also when it failed Lambda's 250 MiB limit), for `size`.
    #[serde(skip)]
    pub composition: Option<size::Composition>,
    /// The layers a function is checked against, with their unzipped bytes (`--json`: their
    /// ids, for a function).
    #[serde(serialize_with = "layer_ids", skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<(String, u64)>,
}

fn layer_ids<S: serde::Serializer>(layers: &[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(layers.iter().map(|(id, _)| id))
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// `uv` or `pip`: the installer this build would use for dependencies.
    pub installer: Option<&'static str>,
    pub artifacts: Vec<Record>,
    pub runtime_provided: size::RuntimeCost,
}

impl Record {
    /// A failed artifact with nothing measured, until the build says otherwise.
    fn failed(module: &str, name: &str, kind: Kind, path: PathBuf) -> Record {
        Record {
            module: module.to_string(),
            name: name.to_string(),
            kind,
            path,
            status: Status::Failed,
            zip_bytes: None,
            unzipped_bytes: None,
            sha256_base64: None,
            error: None,
            warnings: Vec::new(),
            composition: None,
            layers: Vec::new(),
        }
    }
}

impl Report {
    pub fn failed(&self) -> usize {
        self.artifacts
            .iter()
            .filter(|r| r.status == Status::Failed)
            .count()
    }
}

/// What the last successful build of each artifact produced, keyed by `module/name`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    artifacts: BTreeMap<String, Saved>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    key: String,
    sha256_base64: String,
    zip_bytes: u64,
    unzipped_bytes: u64,
    /// The zip as written: a zip replaced or edited by hand is rebuilt.
    #[serde(default)]
    stamp: cache::Stamp,
    /// By distribution; a state written before it existed rebuilds once.
    #[serde(default)]
    size: Option<size::Composition>,
    /// The zip's leading dependency entries, for the next edit (see `prefix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prefix: Option<prefix::Memo>,
}

impl Saved {
    fn meta(&self) -> remote::Meta {
        remote::Meta {
            sha256_base64: self.sha256_base64.clone(),
            zip_bytes: self.zip_bytes,
            unzipped_bytes: self.unzipped_bytes,
            size: self.size.clone(),
        }
    }
}

/// Who holds the stack's lock, as the build that waits for it says.
const BUILD_HOLDER: &str = "another build of this stack";

/// Where the xtask keeps its lock, state and dependency cache inside a stack.
pub fn cache_dir(cfg: &Config) -> PathBuf {
    cfg.stack.join(".xtask")
}

pub fn run(cfg: &Config, infra: Option<&Path>, opts: &Options) -> Result<Report> {
    discover::require_stack(&cfg.stack)?;
    let found = discover::discover(cfg, infra, &opts.modules)?;
    let unknown = select::unknown_artifacts(cfg, &found.artifacts, opts.modules.is_empty());
    if !unknown.is_empty() {
        bail!(
            "{}: [files.\"{}\"] names no function or layer; the key is module/name as the build \
             table shows it (`infra/<fn>` for the infra repo's Lambdas)",
            cfg.stack.join(crate::config::FILE_NAME).display(),
            unknown.join("\"], [files.\"")
        );
    }
    for w in &found.warnings {
        crate::ui::warn(w);
    }
    let cache = cache_dir(cfg);
    std::fs::create_dir_all(cache.join("deps"))
        .with_context(|| format!("cannot create {}", cache.display()))?;
    let _lock = lock(&cache, BUILD_HOLDER)?;
    deps_cache::sweep_leftovers(&cache.join("deps"), out_dirs(&found.artifacts))?;
    let state_path = cache.join("state.json");
    let mut state: State = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();

    let installer = Installer::detect(cfg.installer).map_err(|e| format!("{e:#}"));
    let remote = remote::open(cfg, &opts.cache, &cache.join("deps"))?;
    // Attachments and architectures are traced across the whole stack, so `--module` builds
    // the same zips.
    let whole = match opts.modules.is_empty() {
        true => None,
        false => Some(discover::discover(cfg, infra, &[])?.artifacts),
    };
    let universe = whole.as_deref().unwrap_or(&found.artifacts);
    let model = Model::load(&cfg.stack, infra, &opts.env, universe);
    model.notes.iter().for_each(|n| crate::ui::warn(n));
    let targets = arch::from_model(cfg, &model, universe);
    for w in &targets.warnings {
        crate::ui::warn(w);
    }
    let for_arch = |arch| Config {
        arch,
        ..cfg.clone()
    };
    let ctx = Ctx {
        cfg,
        targets: &targets,
        x86_64: for_arch(Arch::X86_64),
        arm64: for_arch(Arch::Arm64),
        installer: &installer,
        cache: &cache,
        deps: Mutex::new(HashMap::new()),
        saved: &state.artifacts,
        force: opts.force,
        locked: opts.locked,
        select: select::Selector::new(cfg),
        remote,
        prepared: Mutex::new(HashMap::new()),
        contents: pack::Contents::default(),
    };

    let progress = Progress::new(found.artifacts.len(), "build");
    let build = |(a, env): &(&Artifact, size::Env)| {
        let task = progress.task(&a.id());
        let (record, saved) = ctx.build_one(a, env, &task);
        for w in &record.warnings {
            progress.println(&format!("warning: {}: {w}", a.id()));
        }
        // The error itself is the report's to print, once.
        task.done(status_word(record.status));
        (record, saved)
    };
    // Layers first: a function is deduplicated against, and measured with, what its layers hold
    // before its own zip is moved into place.
    let (mut layers, mut functions): (Vec<&Artifact>, Vec<&Artifact>) =
        found.artifacts.iter().partition(|a| a.kind == Kind::Layer);
    // Those with dependencies (an install, the longest work) start first: the artifacts
    // that only zip their own files fill the gaps, rather than a late install ending a phase
    // on one core.
    for phase in [&mut layers, &mut functions] {
        phase.sort_by_key(|a| a.requirements.is_none());
    }
    let bare = |a| {
        let env = size::Env {
            runtime: cfg.runtime_provided,
            layers: Vec::new(),
            traced: false,
            uncounted: Vec::new(),
        };
        (a, env)
    };
    let layers: Vec<_> = layers.into_iter().map(bare).collect();
    ctx.prefetch(&layers, opts.jobs);
    let mut results = pool::parallel(&layers, opts.jobs, build);
    let mut fresh: HashMap<String, &Saved> = HashMap::new();
    for (record, saved) in &results {
        if let Some(saved) = saved {
            fresh.insert(format!("{}/{}", record.module, record.name), saved);
        }
    }
    // A layer that failed, or was not built this time (`--module`), has its last zip's size.
    let layer_view = |id: String| {
        let saved = fresh.get(&id).copied().or_else(|| state.artifacts.get(&id));
        let bytes = saved.map_or(0, |s| s.unzipped_bytes);
        size::LayerView::new(id, bytes, saved.and_then(|s| s.size.as_ref()))
    };
    let functions: Vec<_> = functions
        .into_iter()
        .map(|a| {
            let (layers, traced) = attached_layers(&model, universe, a);
            let env = size::Env {
                runtime: cfg.runtime_provided,
                layers: layers.into_iter().map(layer_view).collect(),
                traced,
                uncounted: uncounted_layers(&model, a, &cfg.stack),
            };
            (a, env)
        })
        .collect();
    // A function attaching a layer whose native code is for another architecture fails
    // before it is built: Lambda would deploy it and every import would fail.
    let zip_of = |id: &str| {
        universe
            .iter()
            .find(|l| l.id() == id)
            .map(|l| l.out.clone())
    };
    let mut buildable = Vec::new();
    for (a, env) in functions {
        let conflicts = arch::layer_conflicts(cfg, &targets, &a.id(), zip_of);
        if conflicts.is_empty() {
            buildable.push((a, env));
            continue;
        }
        let record = Record {
            error: Some(
                conflicts
                    .iter()
                    .map(|(why, fix)| format!("{why}; {fix}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            ..Record::failed(&a.module, &a.name, a.kind, a.out.clone())
        };
        results.push((record, None));
    }
    let functions = buildable;
    ctx.prefetch(&functions, opts.jobs);
    results.extend(pool::parallel(&functions, opts.jobs, build));
    progress.finish();
    if let Some(r) = &ctx.remote {
        r.upload();
    }

    let mut records = Vec::new();
    for (record, saved) in results {
        let id = format!("{}/{}", record.module, record.name);
        if let Some(saved) = saved {
            state.artifacts.insert(id, saved);
        }
        records.push(record);
    }
    for p in found.problems.iter().chain(&found.collisions) {
        records.push(Record {
            error: Some(p.message.clone()),
            ..Record::failed(&p.module, &p.name, p.kind, PathBuf::new())
        });
    }
    records.sort_by(|a, b| (&a.module, a.kind, &a.name).cmp(&(&b.module, b.kind, &b.name)));
    // Not fatal: the zips are in place and the report must still be printed; without the
    // state the next build only rebuilds.
    if let Err(e) = write_atomic(&state_path, &serde_json::to_vec_pretty(&state)?) {
        crate::ui::warn(&format!(
            "{e:#}; the next build rebuilds what this one built"
        ));
    }
    let runtime_provided = size::RuntimeCost::of(
        cfg.runtime_provided,
        records
            .iter()
            .filter(|r| r.status != Status::Failed)
            .filter_map(|r| r.composition.as_ref()),
    );
    Ok(Report {
        installer: installer.as_ref().ok().map(Installer::name),
        artifacts: records,
        runtime_provided,
    })
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Built => "built",
        Status::Cached => "cached",
        Status::Remote => "remote",
        Status::Failed => "failed",
    }
}

/// The outcome of installing (and compressing) one dependency key, shared by every artifact
/// that needs it.
type DepsCell = OnceLock<std::result::Result<(PathBuf, Arc<pack::Pack>), String>>;

struct Ctx<'a> {
    cfg: &'a Config,
    targets: &'a arch::Targets,
    /// `cfg` for each target architecture: what installs and dependency keys read.
    x86_64: Config,
    arm64: Config,
    installer: &'a std::result::Result<Installer, String>,
    cache: &'a Path,
    /// One install per dependency key even when several artifacts share requirements.
    deps: Mutex<HashMap<String, Arc<DepsCell>>>,
    saved: &'a BTreeMap<String, Saved>,
    force: bool,
    locked: bool,
    select: select::Selector<'a>,
    remote: Option<remote::Remote>,
    /// What `prefetch` worked out per artifact id, so `try_build` does not hash it again.
    prepared: Mutex<HashMap<String, Prepared>>,
    /// What this build's packs deflated, so no other pack deflates it again.
    contents: pack::Contents,
}

/// An artifact's inputs and key, and its zip when the last build's is still valid.
struct Prepared {
    code: Vec<archive::Entry>,
    /// Where the dependencies come from: the requirements, or their lock.
    source: Option<lock::Source>,
    deps_key: Option<String>,
    key: String,
    cached: Option<Saved>,
    warnings: Vec<String>,
}

impl Ctx<'_> {
    /// The configuration targeting `a`'s architecture (its Terraform's, else xtask.toml's).
    fn target(&self, a: &Artifact) -> &Config {
        match self.targets.arch(self.cfg, &a.id()) {
            Arch::X86_64 => &self.x86_64,
            Arch::Arm64 => &self.arm64,
        }
    }

    fn build_one(
        &self,
        a: &Artifact,
        env: &size::Env,
        task: &crate::ui::Task,
    ) -> (Record, Option<Saved>) {
        let mut record = Record {
            layers: env
                .layers
                .iter()
                .map(|l| (l.id.clone(), l.unzipped_bytes))
                .collect(),
            ..Record::failed(&a.module, &a.name, a.kind, a.out.clone())
        };
        record.warnings.extend(env.uncounted.iter().cloned());
        match self.try_build(a, env, task, &mut record.warnings, &mut record.composition) {
            Ok((status, saved)) => {
                record.status = status;
                record.zip_bytes = Some(saved.zip_bytes);
                record.unzipped_bytes = Some(saved.unzipped_bytes);
                record.sha256_base64 = Some(saved.sha256_base64.clone());
                record.composition = saved.size.clone();
                (record, Some(saved))
            }
            Err(e) => {
                record.error = Some(format!("{e:#}"));
                (record, None)
            }
        }
    }

    fn try_build(
        &self,
        a: &Artifact,
        env: &size::Env,
        task: &crate::ui::Task,
        warnings: &mut Vec<String>,
        composition: &mut Option<size::Composition>,
    ) -> Result<(Status, Saved)> {
        let prepared = self.prepared.lock().expect("no panics").remove(&a.id());
        let Prepared {
            code,
            source,
            deps_key,
            key,
            cached,
            warnings: found,
        } = match prepared {
            Some(p) => p,
            None => self.prepare(a, env)?,
        };
        warnings.extend(found);
        if let Some(saved) = cached {
            *composition = saved.size.clone();
            if a.kind == Kind::Function {
                // Its layers may have grown since: the zip stays, the function fails.
                env.check_budget(&a.name, saved.unzipped_bytes, warnings)?;
            }
            return Ok((Status::Cached, saved));
        }
        if let Some((meta, tmp)) = self.remote.as_ref().and_then(|r| r.get(&key, &a.out)) {
            *composition = meta.size.clone();
            if a.kind == Kind::Function {
                env.check_budget(&a.name, meta.unzipped_bytes, warnings)?;
            }
            tmp.persist(&a.out)
                .with_context(|| format!("cannot move the zip to {}", a.out.display()))?;
            let saved = Saved {
                key,
                sha256_base64: meta.sha256_base64,
                zip_bytes: meta.zip_bytes,
                unzipped_bytes: meta.unzipped_bytes,
                stamp: cache::stamp(&a.out).unwrap_or_default(),
                size: meta.size,
                prefix: None,
            };
            return Ok((Status::Remote, saved));
        }
        let prefix = if a.kind == Kind::Layer { "python/" } else { "" };

        let mut entries = Vec::new();
        let mut deps_dir = None;
        let mut deps_pack = None;
        if let (Some(dk), Some(src)) = (&deps_key, &source) {
            let cached = !self.force && self.cache.join("deps").join(dk).is_dir();
            task.phase(if cached {
                "dependencies (cached)"
            } else {
                "installing dependencies"
            });
            let (dir, pack) = self.deps(dk, &src.file, src.lock.is_some(), self.target(a))?;
            entries = select::installed(&dir, prefix)?;
            deps_dir = Some(dir);
            deps_pack = Some(pack);
        }
        // The artifact's own files win over a dependency's file of the same name.
        let deps_names: HashMap<String, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        for e in code {
            match deps_names.get(&e.name) {
                Some(&i) => {
                    warnings.push(format!(
                        "{} is both in the source and in an installed dependency; the source file is shipped",
                        e.name
                    ));
                    entries[i] = e;
                }
                None => entries.push(e),
            }
        }

        let (entries, made_of) =
            size::compose(entries, deps_dir.as_deref(), prefix, env, warnings)?;
        *composition = Some(made_of);

        task.phase("zipping");
        let deps = deps_dir.as_deref().map(|tree| archive::Deps {
            tree,
            pack: deps_pack.as_deref(),
        });
        // The zip in place is the one last written (same stamp, nothing to hash): its leading
        // bytes can be copied.
        let previous = self
            .saved
            .get(&a.id())
            .filter(|s| !self.force && cache::stamp(&a.out).is_some_and(|now| now == s.stamp))
            .and_then(|s| s.prefix.as_ref());
        let written = archive::write(&a.out, entries, deps, previous)?;
        if written.zip_bytes > MAX_ZIP_BYTES {
            bail!(
                "{} would be {} zipped, over Lambda's 50 MiB direct-upload limit ({MAX_ZIP_BYTES} bytes); \
                 the previous zip was kept. Move large dependencies into a layer or drop unused ones",
                a.zip_name(),
                human(written.zip_bytes)
            );
        }
        if written.zip_bytes * 10 > MAX_ZIP_BYTES * 8 {
            warnings.push(format!(
                "{} zipped is over 80% of Lambda's 50 MiB limit",
                human(written.zip_bytes)
            ));
        }
        if a.kind == Kind::Function {
            env.check_budget(&a.name, written.unzipped_bytes, warnings)?;
        }
        let (zip_bytes, unzipped_bytes, sha, memo) = (
            written.zip_bytes,
            written.unzipped_bytes,
            written.sha256_base64.clone(),
            written.prefix.clone(),
        );
        written
            .file
            .persist(&a.out)
            .with_context(|| format!("cannot move the new zip to {}", a.out.display()))?;
        let saved = Saved {
            key,
            sha256_base64: sha,
            zip_bytes,
            unzipped_bytes,
            stamp: cache::stamp(&a.out).unwrap_or_default(),
            size: composition.clone(),
            prefix: memo,
        };
        if let Some(r) = &self.remote {
            r.stage(&saved.key, &saved.meta(), &a.out);
        }
        Ok((Status::Built, saved))
    }

    /// The artifact's files, keys and whether its last zip still stands, without building.
    fn prepare(&self, a: &Artifact, env: &size::Env) -> Result<Prepared> {
        let selected = self.select.source(a)?;
        let mut warnings = Vec::new();
        for s in &selected.secrets {
            if let Some(glob) = &s.shipped_by {
                warnings.push(format!(
                    "{} looks like a secret and ships because include {glob:?} matches it; \
                     narrow the glob or add it to [files] exclude in xtask.toml",
                    s.name
                ));
            }
        }
        let code = selected.entries;
        let reqs = match &a.requirements {
            Some(path) => requirements::read(path)?,
            None => Default::default(),
        };
        if a.kind == Kind::Layer && code.is_empty() && reqs.is_empty() {
            bail!(
                "layer {} has nothing to ship: {} is empty or missing and requirements.txt lists nothing; \
                 put the layer's package under python/<package>/ or delete the layer directory",
                a.name,
                a.src.join("python").display()
            );
        }
        let source = match &a.requirements {
            Some(path) if !reqs.is_empty() => {
                let s = lock::source(path, &reqs)?;
                s.enforce(self.target(a), path, &reqs, self.locked, &mut warnings)?;
                Some(s)
            }
            _ => None,
        };
        let deps_key = source
            .as_ref()
            .map(|s| self.deps_key(self.target(a), &s.key_lines));
        // What the function's layers carry decides what its dependencies ship (dedupe).
        let deps_and_layers = deps_key.as_ref().map(|d| format!("{d}\0{}", env.key()));
        let key = cache::artifact_key(a.kind, &a.zip_name(), deps_and_layers.as_deref(), &code)?;
        let cached = self
            .saved
            .get(&a.id())
            .filter(|s| !self.force && s.key == key && s.size.is_some())
            .and_then(|saved| {
                let stamp = cache::valid_output(&a.out, &saved.stamp, &saved.sha256_base64)?;
                Some(Saved {
                    stamp,
                    ..saved.clone()
                })
            });
        Ok(Prepared {
            code,
            source,
            deps_key,
            key,
            cached,
            warnings,
        })
    }

    /// With a shared cache: the keys of this phase's artifacts whose zips are not already
    /// here, looked up together (one curl for the phase). `--force` skips the cache.
    fn prefetch(&self, items: &[(&Artifact, size::Env)], jobs: usize) {
        let Some(remote) = self.remote.as_ref().filter(|_| !self.force) else {
            return;
        };
        let wanted = pool::parallel(items, jobs, |(a, env)| {
            // An error surfaces again, and is reported, when the artifact is built.
            let p = self.prepare(a, env).ok()?;
            let key = p.cached.is_none().then(|| (p.key.clone(), a.out.clone()));
            self.prepared.lock().expect("no panics").insert(a.id(), p);
            key
        });
        let wanted: Vec<(String, PathBuf)> = wanted.into_iter().flatten().collect();
        remote.fetch(&wanted);
    }
}

/// The directories zips are written to, each once.
fn out_dirs(artifacts: &[Artifact]) -> std::collections::BTreeSet<&Path> {
    artifacts.iter().filter_map(|a| a.out.parent()).collect()
}

pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `cargo xtask clean`: removes every zip the build makes, its state and the dependency cache.
pub fn clean(cfg: &Config, infra: Option<&Path>) -> Result<Vec<PathBuf>> {
    let found = discover::discover(cfg, infra, &[])?;
    let mut removed = Vec::new();
    let cache = cache_dir(cfg);
    let _lock = if cache.is_dir() {
        Some(lock(&cache, BUILD_HOLDER)?)
    } else {
        None
    };
    for a in &found.artifacts {
        if a.out.exists() {
            std::fs::remove_file(&a.out)
                .with_context(|| format!("cannot remove {}", a.out.display()))?;
            removed.push(a.out.clone());
        }
    }
    removed.extend(deps_cache::sweep_leftovers(
        &cache.join("deps"),
        out_dirs(&found.artifacts),
    )?);
    for sub in ["deps", "state.json", "smoke"] {
        let p = cache.join(sub);
        if p.is_dir() {
            std::fs::remove_dir_all(&p)
                .with_context(|| format!("cannot remove {}", p.display()))?;
            removed.push(p);
        } else if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
            removed.push(p);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(52_428_800), "50.0 MiB");
    }
}
