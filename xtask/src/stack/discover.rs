//! Finds every function and layer of a stack (and the infra repo's own Lambdas).
//!
//! Names follow the contract exactly so existing `main.tf` files work unchanged:
//! `lambdas/<fn>/` → `backend/.build/<fn>.zip`, `layers/<layer>/` → `backend/.build/<layer>-layer.zip`,
//! `<infra>/lambdas/<fn>/` → `<infra>/build/<fn>.zip`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Function,
    Layer,
}

#[derive(Debug, Clone)]
pub struct Artifact {
    /// `module-access`, or `infra` for the infra repo's Lambdas.
    pub module: String,
    /// The directory name under `lambdas/` or `layers/`.
    pub name: String,
    pub kind: Kind,
    /// The function directory, or the layer directory (holding `python/`).
    pub src: PathBuf,
    pub out: PathBuf,
    pub requirements: Option<PathBuf>,
}

impl Artifact {
    /// `module-access/profiles`: unique within a stack, used for cache state and messages.
    pub fn id(&self) -> String {
        format!("{}/{}", self.module, self.name)
    }

    /// The file name Terraform references, e.g. `org-common-layer.zip`.
    pub fn zip_name(&self) -> String {
        self.out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct Module {
    /// Directory name, `module-access`.
    pub name: String,
    pub dir: PathBuf,
}

/// A problem found while discovering: it fails the build but does not stop other artifacts.
#[derive(Debug, Clone)]
pub struct Problem {
    pub module: String,
    pub name: String,
    pub kind: Kind,
    pub dir: PathBuf,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Stack {
    pub modules: Vec<Module>,
    pub artifacts: Vec<Artifact>,
    pub problems: Vec<Problem>,
    /// Artifacts that would write the same zip: none of them is built.
    pub collisions: Vec<Problem>,
    /// Said, but not failing: a module that builds nothing.
    pub warnings: Vec<String>,
}

/// The infra repo's Lambdas keep the contract's historical output names.
fn infra_zip_stem(dir_name: &str) -> &str {
    match dir_name {
        "api-gateway-authorizer" => "authorizer",
        other => other,
    }
}

/// Before a build writes anything into `stack`: a stack root is where `packages/` is.
pub fn require_stack(stack: &Path) -> Result<()> {
    if stack.join("packages").is_dir() {
        return Ok(());
    }
    anyhow::bail!(
        "{} is not a CORA stack: it has no packages/ directory. A stack root holds\n  \
         packages/module-<name>/backend/lambdas/<function>/lambda_function.py\n  \
         packages/module-<name>/backend/layers/<layer>/python/<package>/\n  \
         packages/module-<name>/infrastructure/*.tf\n\
         fix: pass --stack with the stack repository's root, or set `stack` in {}",
        stack.display(),
        crate::config::FILE_NAME
    )
}

pub fn modules(stack: &Path) -> Result<Vec<Module>> {
    let packages = stack.join("packages");
    let mut modules = Vec::new();
    for (name, dir) in subdirs(&packages)? {
        if name.starts_with("module-") {
            modules.push(Module { name, dir });
        }
    }
    Ok(modules)
}

/// Discovers artifacts. `only` limits to the named modules (`access` or `module-access`).
pub fn discover(cfg: &Config, infra: Option<&Path>, only: &[String]) -> Result<Stack> {
    let mut stack = Stack {
        modules: modules(&cfg.stack)?,
        ..Default::default()
    };
    let wanted = |module: &str| {
        only.is_empty()
            || only
                .iter()
                .any(|o| o == module || format!("module-{o}") == module)
    };
    if let Some(unknown) = only.iter().find(|o| {
        !stack
            .modules
            .iter()
            .any(|m| &m.name == *o || m.name == format!("module-{o}"))
            && *o != "infra"
    }) {
        let names: Vec<_> = stack.modules.iter().map(|m| m.name.as_str()).collect();
        anyhow::bail!(
            "--module {unknown}: no such module under {}/packages (modules: {})",
            cfg.stack.display(),
            names.join(", ")
        );
    }

    for module in stack.modules.clone() {
        if !wanted(&module.name) {
            continue;
        }
        let backend = module.dir.join("backend");
        let build = backend.join(".build");
        if !backend.join("lambdas").is_dir() && !backend.join("layers").is_dir() {
            let what = if backend.is_dir() {
                "backend/ has neither lambdas/ nor layers/"
            } else {
                "it has no backend/ directory"
            };
            stack.warnings.push(format!(
                "{}: {what}, so no function or layer is built for it; put functions in \
                 backend/lambdas/<fn>/ and layers in backend/layers/<layer>/python/",
                module.dir.display()
            ));
        }
        scan_functions(
            cfg,
            &mut stack,
            &module.name,
            &backend.join("lambdas"),
            &build,
            |n| n.to_string(),
        )?;
        for (name, dir) in subdirs(&backend.join("layers"))? {
            if cfg.is_excluded(rel(cfg, &dir)) {
                continue;
            }
            stack.artifacts.push(Artifact {
                module: module.name.clone(),
                out: build.join(format!("{name}-layer.zip")),
                requirements: requirements(&dir),
                kind: Kind::Layer,
                src: dir,
                name,
            });
        }
    }
    if let Some(infra) = infra.filter(|_| wanted("infra")) {
        let build = infra.join("build");
        scan_functions(
            cfg,
            &mut stack,
            "infra",
            &infra.join("lambdas"),
            &build,
            |n| infra_zip_stem(n).to_string(),
        )?;
    }
    separate_collisions(cfg, &mut stack);
    Ok(stack)
}

/// Moves artifacts that map to one zip (function `x-layer` and layer `x`; an infra function
/// named `authorizer` and `api-gateway-authorizer`) out of the build: built, they would
/// overwrite each other's zip and its recorded hash.
fn separate_collisions(cfg: &Config, stack: &mut Stack) {
    // Sources per zip, in discovery order.
    let mut sources: std::collections::HashMap<PathBuf, Vec<String>> = Default::default();
    for a in &stack.artifacts {
        let src = rel(cfg, &a.src).display().to_string();
        sources.entry(a.out.clone()).or_default().push(src);
    }
    let (kept, clashing) = std::mem::take(&mut stack.artifacts)
        .into_iter()
        .partition(|a| sources[&a.out].len() == 1);
    stack.artifacts = kept;
    for a in clashing {
        stack.collisions.push(Problem {
            message: format!(
                "{} all build {}: rename one of them (and the `filename` Terraform deploys); \
                 neither is built until then",
                sources[&a.out].join(" and "),
                rel(cfg, &a.out).display()
            ),
            module: a.module,
            name: a.name,
            kind: a.kind,
            dir: a.src,
        });
    }
}

fn scan_functions(
    cfg: &Config,
    stack: &mut Stack,
    module: &str,
    lambdas: &Path,
    build: &Path,
    stem: impl Fn(&str) -> String,
) -> Result<()> {
    for (name, dir) in subdirs(lambdas)? {
        if cfg.is_excluded(rel(cfg, &dir)) {
            continue;
        }
        if !dir.join("lambda_function.py").is_file() {
            stack.problems.push(Problem {
                module: module.to_string(),
                name: name.clone(),
                kind: Kind::Function,
                dir: dir.clone(),
                message: format!(
                    "{} has no lambda_function.py (the handler is always lambda_function.lambda_handler); \
                     add the handler, move the directory out of lambdas/, or list it under `exclude` in xtask.toml",
                    dir.display()
                ),
            });
            continue;
        }
        stack.artifacts.push(Artifact {
            module: module.to_string(),
            out: build.join(format!("{}.zip", stem(&name))),
            requirements: requirements(&dir),
            kind: Kind::Function,
            src: dir,
            name,
        });
    }
    Ok(())
}

fn rel<'a>(cfg: &Config, p: &'a Path) -> &'a Path {
    p.strip_prefix(&cfg.stack).unwrap_or(p)
}

fn requirements(dir: &Path) -> Option<PathBuf> {
    let r = dir.join("requirements.txt");
    r.is_file().then_some(r)
}

/// Sorted (name, path) of the directories in `dir`; none when `dir` does not exist.
/// Hidden directories and `__pycache__` are not artifacts.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "__pycache__" || !entry.path().is_dir() {
            continue;
        }
        out.push((name, entry.path()));
    }
    out.sort();
    Ok(out)
}
