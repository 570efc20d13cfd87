//! `cargo xtask build`: every function and layer of the stack, in parallel, into reproducible
//! zips, skipping what has not changed.
//!
//! Per artifact: hash the inputs → unchanged? `cached` : install dependencies (cached apart
//! from code, keyed by requirements + target + installer) → deterministic zip → atomic rename.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod deps_cache;

use crate::archive::{self, Entry};
use crate::config::Config;
use crate::discover::{self, Artifact, Kind};
use crate::install::{self, Installer};
use crate::pool;
use crate::tf::{self, LayerRef};
use crate::ui::Progress;

/// Bump when the zip layout or normalization changes: every artifact rebuilds once.
const RECIPE: &str = "cora-xtask-build-2";
/// Lambda's direct-upload limit for a zip.
pub const MAX_ZIP_BYTES: u64 = 52_428_800;
/// Lambda's limit for a function plus all its layers, unzipped.
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;

pub struct Options {
    pub jobs: usize,
    pub force: bool,
    pub modules: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Built,
    Cached,
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
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// `uv` or `pip`: the installer this build would use for dependencies.
    pub installer: Option<&'static str>,
    pub artifacts: Vec<Record>,
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
    /// The output file's mtime when written: a zip replaced by hand is rebuilt.
    mtime_ns: u128,
}

/// Who holds the stack's lock, as the build that waits for it says.
const BUILD_HOLDER: &str = "another build of this stack";

/// Where the xtask keeps its lock, state and dependency cache inside a stack.
pub fn cache_dir(cfg: &Config) -> PathBuf {
    cfg.stack.join(".xtask")
}

pub fn run(cfg: &Config, infra: Option<&Path>, opts: &Options) -> Result<Report> {
    let found = discover::discover(cfg, infra, &opts.modules)?;
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
    let ctx = Ctx {
        cfg,
        installer: &installer,
        cache: &cache,
        deps: Mutex::new(HashMap::new()),
        saved: &state.artifacts,
        force: opts.force,
    };

    let progress = Progress::new(found.artifacts.len(), "build");
    let results = pool::parallel(&found.artifacts, opts.jobs, |a| {
        let task = progress.task(&a.id());
        let (record, saved) = ctx.build_one(a, &task);
        for w in &record.warnings {
            progress.println(&format!("warning: {}: {w}", a.id()));
        }
        task.done(&match &record.error {
            Some(e) => format!("failed\n{e}"),
            None => status_word(record.status).to_string(),
        });
        (record, saved)
    });
    progress.finish();

    let mut records = Vec::new();
    for (record, saved) in results {
        let id = format!("{}/{}", record.module, record.name);
        if let Some(saved) = saved {
            state.artifacts.insert(id, saved);
        }
        records.push(record);
    }
    check_unzipped_limits(cfg, &found.artifacts, &mut records, &mut state);
    for p in found.problems.iter().chain(&found.collisions) {
        records.push(Record {
            module: p.module.clone(),
            name: p.name.clone(),
            kind: p.kind,
            path: PathBuf::new(),
            status: Status::Failed,
            zip_bytes: None,
            unzipped_bytes: None,
            sha256_base64: None,
            error: Some(p.message.clone()),
            warnings: Vec::new(),
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
    Ok(Report {
        installer: installer.as_ref().ok().map(Installer::name),
        artifacts: records,
    })
}

pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Built => "built",
        Status::Cached => "cached",
        Status::Failed => "failed",
    }
}

/// The outcome of installing one dependency key, shared by every artifact that needs it.
type DepsCell = OnceLock<std::result::Result<PathBuf, String>>;

struct Ctx<'a> {
    cfg: &'a Config,
    installer: &'a std::result::Result<Installer, String>,
    cache: &'a Path,
    /// One install per dependency key even when several artifacts share requirements.
    deps: Mutex<HashMap<String, Arc<DepsCell>>>,
    saved: &'a BTreeMap<String, Saved>,
    force: bool,
}

impl Ctx<'_> {
    fn build_one(&self, a: &Artifact, task: &crate::ui::Task) -> (Record, Option<Saved>) {
        let mut record = Record {
            module: a.module.clone(),
            name: a.name.clone(),
            kind: a.kind,
            path: a.out.clone(),
            status: Status::Failed,
            zip_bytes: None,
            unzipped_bytes: None,
            sha256_base64: None,
            error: None,
            warnings: Vec::new(),
        };
        match self.try_build(a, task, &mut record.warnings) {
            Ok((status, saved)) => {
                record.status = status;
                record.zip_bytes = Some(saved.zip_bytes);
                record.unzipped_bytes = Some(saved.unzipped_bytes);
                record.sha256_base64 = Some(saved.sha256_base64.clone());
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
        task: &crate::ui::Task,
        warnings: &mut Vec<String>,
    ) -> Result<(Status, Saved)> {
        let boundary = if a.module == "infra" {
            a.src.parent().and_then(Path::parent).unwrap_or(&a.src)
        } else {
            &self.cfg.stack
        };
        let (code_dir, prefix) = match a.kind {
            Kind::Function => (a.src.clone(), ""),
            Kind::Layer => (a.src.join("python"), "python/"),
        };
        let code = collect(&code_dir, prefix, boundary, &is_source_noise)?;
        let reqs = match &a.requirements {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                install::requirement_lines(&text)
            }
            None => Vec::new(),
        };
        if a.kind == Kind::Layer && code.is_empty() && reqs.is_empty() {
            bail!(
                "layer {} has nothing to ship: {} is empty or missing and requirements.txt lists nothing; \
                 put the layer's package under python/<package>/ or delete the layer directory",
                a.name,
                code_dir.display()
            );
        }
        let deps_key = (!reqs.is_empty()).then(|| self.deps_key(&reqs));

        let mut h = Sha256::new();
        h.update(RECIPE);
        h.update(format!("{:?}\0{}\0", a.kind, a.zip_name()));
        h.update(deps_key.as_deref().unwrap_or("no-deps"));
        for e in &code {
            h.update(format!("\0{}\0{}\0", e.name, e.executable));
            h.update(
                std::fs::read(&e.source)
                    .with_context(|| format!("cannot read {}", e.source.display()))?,
            );
        }
        let key = hex(&h.finalize());

        if let Some(saved) = self.saved.get(&a.id()) {
            if !self.force && saved.key == key && output_matches(&a.out, saved) {
                return Ok((Status::Cached, saved.clone()));
            }
        }

        let mut entries = Vec::new();
        if let (Some(dk), Some(req)) = (&deps_key, &a.requirements) {
            task.phase("installing dependencies");
            let dir = self.deps(dk, req)?;
            entries = collect(&dir, prefix, &dir, &is_install_noise)?;
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

        task.phase("zipping");
        let written = archive::write(&a.out, entries)?;
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
        let (zip_bytes, unzipped_bytes, sha) = (
            written.zip_bytes,
            written.unzipped_bytes,
            written.sha256_base64.clone(),
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
            mtime_ns: mtime_ns(&a.out).unwrap_or(0),
        };
        Ok((Status::Built, saved))
    }

    fn deps_key(&self, reqs: &[String]) -> String {
        deps_key(
            self.cfg,
            self.installer.as_ref().map_or("none", |i| i.name()),
            reqs,
        )
    }

    /// The installed dependency tree for `key`, installing it once if no build has yet.
    fn deps(&self, key: &str, requirements: &Path) -> Result<PathBuf> {
        let cell = self
            .deps
            .lock()
            .expect("no panics")
            .entry(key.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| {
            let dir = self.cache.join("deps").join(key);
            if dir.is_dir() && !self.force {
                match deps_cache::verify(&dir) {
                    Ok(()) => return Ok(dir),
                    Err(why) => crate::ui::warn(&format!(
                        "dependency cache {} is damaged ({why}); reinstalling {}",
                        dir.display(),
                        requirements.display()
                    )),
                }
            }
            let installer = self.installer.as_ref().map_err(Clone::clone)?;
            let tmp = tempfile::Builder::new()
                .prefix(deps_cache::TMP_PREFIX)
                .tempdir_in(self.cache.join("deps"))
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            installer
                .install(self.cfg, requirements, tmp.path())
                .map_err(|e| format!("{}: {e:#}", requirements.display()))?;
            deps_cache::write_manifest(tmp.path(), &dir).map_err(|e| format!("{e:#}"))?;
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| format!("cannot replace {}: {e}", dir.display()))?;
            }
            std::fs::rename(tmp.keep(), &dir)
                .map_err(|e| format!("cannot store dependencies in {}: {e}", dir.display()))?;
            Ok(dir)
        })
        .clone()
        .map_err(|e| anyhow!(e))
    }
}

fn deps_key(cfg: &Config, installer: &str, reqs: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(RECIPE);
    h.update(format!(
        "\0{}\0{}\0{installer}\0{:?}",
        cfg.python, cfg.arch, cfg.installer_options
    ));
    for r in reqs {
        h.update(format!("\0{r}"));
    }
    hex(&h.finalize())
}

/// The dependency tree a build installed for `requirements`, if any, so `check` can see what
/// it provides without installing. Either installer's tree will do: same requirements, same
/// target, same packages.
pub fn installed_deps(cfg: &Config, requirements: &Path) -> Option<PathBuf> {
    let reqs = install::requirement_lines(&std::fs::read_to_string(requirements).ok()?);
    if reqs.is_empty() {
        return None;
    }
    ["uv", "pip"]
        .iter()
        .map(|i| cache_dir(cfg).join("deps").join(deps_key(cfg, i, &reqs)))
        .find(|d| d.is_dir())
}

/// Files the host leaves behind that must never ship: bytecode of the build host's Python.
fn is_source_noise(rel: &str, is_dir: bool) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    (is_dir && name == "__pycache__")
        || (!is_dir && (name.ends_with(".pyc") || name.ends_with(".pyo") || name == ".DS_Store"))
}

/// What an installer writes that depends on the installer or the host rather than on the
/// packages: console scripts (host shebangs), install records, lock files. Dropping them makes
/// uv and pip produce the same bytes; `*.dist-info/METADATA` stays for importlib.metadata.
fn is_install_noise(rel: &str, is_dir: bool) -> bool {
    if is_source_noise(rel, is_dir) || rel == "bin" || rel == ".lock" {
        return true;
    }
    let mut parts = rel.rsplitn(2, '/');
    let name = parts.next().unwrap_or_default();
    let parent = parts.next().unwrap_or_default();
    !is_dir
        && parent.ends_with(".dist-info")
        && !parent.contains('/')
        && matches!(
            name,
            "RECORD" | "INSTALLER" | "REQUESTED" | "direct_url.json" | "uv_cache.json"
        )
}

/// Every file under `root` as zip entries named `prefix` + relative path, sorted.
/// Symlinks are followed when they stay inside `boundary`, and refused otherwise.
fn collect(
    root: &Path,
    prefix: &str,
    boundary: &Path,
    skip: &dyn Fn(&str, bool) -> bool,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    if root.is_dir() {
        let boundary = boundary
            .canonicalize()
            .unwrap_or_else(|_| boundary.to_path_buf());
        walk(root, "", prefix, &boundary, skip, &mut out, 0)?;
    }
    out.sort();
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &str,
    prefix: &str,
    boundary: &Path,
    skip: &dyn Fn(&str, bool) -> bool,
    out: &mut Vec<Entry>,
    depth: usize,
) -> Result<()> {
    if depth > 64 {
        bail!("{} is nested too deeply (a symlink loop?)", dir.display());
    }
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let path = child.path();
        let name = child.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let link = child.file_type()?.is_symlink();
        if link {
            let target = path.canonicalize().with_context(|| {
                format!("{} is a broken symlink; fix or remove it", path.display())
            })?;
            if !target.starts_with(boundary) {
                bail!(
                    "{} is a symlink to {}, outside {}; the zip would depend on files the build does not own. \
                     Copy the file in, or share it through a layer",
                    path.display(),
                    target.display(),
                    boundary.display()
                );
            }
        }
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot stat {}", path.display()))?;
        if skip(&child_rel, meta.is_dir()) {
            continue;
        }
        if meta.is_dir() {
            walk(&path, &child_rel, prefix, boundary, skip, out, depth + 1)?;
        } else if meta.is_file() {
            use std::os::unix::fs::PermissionsExt;
            out.push(Entry {
                name: format!("{prefix}{child_rel}"),
                source: path,
                executable: meta.permissions().mode() & 0o111 != 0,
            });
        }
    }
    Ok(())
}

/// Fails each function whose unzipped size plus its layers' exceeds Lambda's 250 MiB.
/// Attached layers come from the module's Terraform where it can be read, else all of its layers.
fn check_unzipped_limits(
    cfg: &Config,
    artifacts: &[Artifact],
    records: &mut [Record],
    state: &mut State,
) {
    let size_of = |id: &str| state.artifacts.get(id).map_or(0, |s| s.unzipped_bytes);
    let mut updates = Vec::new();
    let mut module_tf = ModuleTf::new(cfg);
    for r in records.iter_mut() {
        if r.kind != Kind::Function || r.status == Status::Failed || r.module == "infra" {
            continue;
        }
        let layers = attached_layers(&mut module_tf, artifacts, &r.module, &r.name);
        let total: u64 =
            r.unzipped_bytes.unwrap_or(0) + layers.iter().map(|l| size_of(l)).sum::<u64>();
        let with = if layers.is_empty() {
            String::new()
        } else {
            format!(" with layers {}", layers.join(", "))
        };
        if total > MAX_UNZIPPED_BYTES {
            r.status = Status::Failed;
            r.error = Some(format!(
                "{}{with} is {} unzipped, over Lambda's 250 MiB limit ({MAX_UNZIPPED_BYTES} bytes); \
                 remove duplicated packages (boto3 is provided by the runtime) or split the function",
                r.name,
                human(total)
            ));
            updates.push(format!("{}/{}", r.module, r.name));
        } else if total * 10 > MAX_UNZIPPED_BYTES * 8 {
            r.warnings.push(format!(
                "{}{with} is {} unzipped, over 80% of Lambda's 250 MiB limit",
                r.name,
                human(total)
            ));
        }
    }
    // A function that failed its limit must not count as cached next time.
    for id in updates {
        state.artifacts.remove(&id);
    }
}

/// Each module's `infrastructure/*.tf`, parsed once per run however many functions ask.
pub struct ModuleTf<'a> {
    stack: &'a Path,
    parsed: HashMap<String, Vec<tf::TfFile>>,
}

impl<'a> ModuleTf<'a> {
    pub fn new(cfg: &'a Config) -> ModuleTf<'a> {
        ModuleTf {
            stack: &cfg.stack,
            parsed: HashMap::new(),
        }
    }

    fn files(&mut self, module: &str) -> &[tf::TfFile] {
        let stack = self.stack;
        self.parsed.entry(module.to_string()).or_insert_with(|| {
            tf::parse_dir(&stack.join("packages").join(module).join("infrastructure")).0
        })
    }
}

/// Layer artifact ids attached to a function, from `layers = [...]` in its module's Terraform;
/// all of its module's layers when that cannot be read.
pub fn attached_layers(
    module_tf: &mut ModuleTf,
    artifacts: &[Artifact],
    module: &str,
    function: &str,
) -> Vec<String> {
    declared_layers(module_tf, artifacts, module, function).unwrap_or_else(|| {
        artifacts
            .iter()
            .filter(|a| a.kind == Kind::Layer && a.module == module)
            .map(Artifact::id)
            .collect()
    })
}

/// The layers a function's `layers = [...]` names, when the function's resource is found (by
/// its zip) and every entry traces to a layer the build makes; `None` otherwise.
pub fn declared_layers(
    module_tf: &mut ModuleTf,
    artifacts: &[Artifact],
    module: &str,
    function: &str,
) -> Option<Vec<String>> {
    let files = module_tf.files(module);
    let zip = format!("{function}.zip");
    let f = tf::lambda_functions(files)
        .into_iter()
        .find(|f| f.zip.as_deref() == Some(&zip))?;
    let tf_layers = tf::lambda_layers(files);
    let norm = |s: &str| s.replace('-', "_").to_lowercase();
    let mut out = Vec::new();
    for l in &f.layers {
        let id = match l {
            LayerRef::Resource(res) => tf_layers
                .iter()
                .find(|t| &t.resource == res)
                .and_then(|t| t.zip.as_ref())
                .and_then(|z| {
                    artifacts
                        .iter()
                        .find(|a| a.kind == Kind::Layer && a.module == module && &a.zip_name() == z)
                })
                .map(|a| a.id()),
            LayerRef::Var(v) => {
                let stem = norm(v.trim_end_matches("_arn").trim_end_matches("_layer"));
                artifacts
                    .iter()
                    .find(|a| a.kind == Kind::Layer && norm(&a.name) == stem)
                    .map(|a| a.id())
            }
            LayerRef::Other(_) => None,
        }?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Some(out)
}

/// The directories zips are written to, each once.
fn out_dirs(artifacts: &[Artifact]) -> std::collections::BTreeSet<&Path> {
    artifacts.iter().filter_map(|a| a.out.parent()).collect()
}

fn output_matches(out: &Path, saved: &Saved) -> bool {
    std::fs::metadata(out).is_ok_and(|m| m.len() == saved.zip_bytes)
        && mtime_ns(out) == Some(saved.mtime_ns)
}

fn mtime_ns(p: &Path) -> Option<u128> {
    let m = std::fs::metadata(p).ok()?.modified().ok()?;
    Some(m.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos())
}

/// An exclusive lock on `<dir>/lock`, held until the file is dropped. While `holder` (e.g.
/// "another build of this stack") has it, says so and waits.
pub fn lock(dir: &Path, holder: &str) -> Result<std::fs::File> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            crate::ui::warn(&format!(
                "{holder} holds {}; waiting for it to finish",
                path.display()
            ));
            file.lock()
                .with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    Ok(file)
}

/// Writes through a temporary file and a rename, so readers see the old or the new file, whole.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent")?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Lowercase hex, two digits a byte: the form of every SHA-256 the xtask stores or compares
/// (cache keys, plan inputs). The one encoder, so those never disagree on case or padding.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    fn install_noise_is_only_installer_files() {
        assert!(is_install_noise("bin", true));
        assert!(is_install_noise("six-1.17.0.dist-info/RECORD", false));
        assert!(is_install_noise("six-1.17.0.dist-info/INSTALLER", false));
        assert!(is_install_noise("pkg/__pycache__", true));
        assert!(!is_install_noise("six-1.17.0.dist-info/METADATA", false));
        assert!(!is_install_noise("pkg/bin", true));
        assert!(!is_install_noise("pkg/RECORD", false));
    }

    #[test]
    fn hex_is_lowercase_and_zero_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(52_428_800), "50.0 MiB");
    }
}
