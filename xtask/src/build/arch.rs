//! The platform each artifact's dependencies are installed for. A function's is its Terraform
//! `architectures`; a layer's its `compatible_architectures` when that names one, else that of
//! the functions attaching it when they agree; `arch` in xtask.toml when Terraform does not say.
//! The build, `lock` and `check` all decide through `decide`, so a lock, a dependency key and
//! a check finding never disagree about an artifact's target.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;

use super::native::{self, Machine};
use crate::config::{Arch, Config};
use crate::stack::arch::{self as declared, Architectures};
use crate::stack::discover::{self, Artifact, Kind};

/// Each artifact's target architecture and why.
#[derive(Debug, Default)]
pub struct Targets {
    by_id: HashMap<String, Target>,
    /// Function id → the layer ids it attaches.
    attached: HashMap<String, Vec<String>>,
    /// Declarations that could not be read, and layers their users disagree on.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub arch: Arch,
    /// `architectures at packages/…/main.tf:12`, `arch in xtask.toml`, …
    pub why: String,
}

impl Targets {
    /// The target of artifact `id`; xtask.toml's `arch` for one nothing is known of.
    pub fn arch(&self, cfg: &Config, id: &str) -> Arch {
        self.by_id.get(id).map_or(cfg.arch, |t| t.arch)
    }

    pub fn why(&self, id: &str) -> &str {
        self.by_id.get(id).map_or("arch in xtask.toml", |t| &t.why)
    }

    /// `cfg` targeting artifact `id`'s architecture: what installs, locks and keys read.
    pub fn cfg(&self, cfg: &Config, id: &str) -> Config {
        let mut c = cfg.clone();
        c.arch = self.arch(cfg, id);
        c
    }

    pub fn attached(&self, function: &str) -> &[String] {
        self.attached.get(function).map_or(&[], Vec::as_slice)
    }
}

/// The targets of every artifact of the stack (a layer's may depend on any module's functions).
pub fn for_stack(cfg: &Config, infra: Option<&Path>) -> Result<Targets> {
    let found = discover::discover(cfg, infra, &[])?;
    Ok(decide(cfg, infra, &found.artifacts))
}

/// The targets of `artifacts` (the whole stack: a layer's users may be in any module).
pub fn decide(cfg: &Config, infra: Option<&Path>, artifacts: &[Artifact]) -> Targets {
    let decl = declared::read(cfg, infra, artifacts);
    let rel = |p: &Path| {
        let base = cfg.stack.parent().unwrap_or(&cfg.stack);
        p.strip_prefix(base).unwrap_or(p).display().to_string()
    };
    let mut t = Targets {
        attached: decl.attached.clone(),
        ..Targets::default()
    };
    let default = |why: String| Target {
        arch: cfg.arch,
        why,
    };
    // One architecture written in Terraform, or a warning saying why the default applies.
    let written = |id: &str, decl: Option<&declared::Declared>, t: &mut Targets| {
        let d = decl?;
        let at = format!("{}:{}", rel(&d.file), d.line);
        match &d.value {
            Ok(v) if v.len() == 1 => Some(Target {
                arch: v[0],
                why: format!("its Terraform at {at}"),
            }),
            Ok(_) => None,
            Err(why) => {
                t.warnings.push(format!(
                    "{id}: {at}: {why}; its dependencies are installed for {} (arch in \
                     xtask.toml). Write the architecture as a literal or a local",
                    cfg.arch
                ));
                None
            }
        }
    };
    for a in artifacts.iter().filter(|a| a.kind == Kind::Function) {
        let target = written(&a.id(), decl.functions.get(&a.id()), &mut t).unwrap_or_else(|| {
            default("arch in xtask.toml: its Terraform names no single architecture".into())
        });
        t.by_id.insert(a.id(), target);
    }
    for a in artifacts.iter().filter(|a| a.kind == Kind::Layer) {
        let id = a.id();
        let target = written(&id, decl.layers.get(&id), &mut t).unwrap_or_else(|| {
            users_target(&decl, &t, &id, cfg).unwrap_or_else(|| {
                default(
                    "arch in xtask.toml: its compatible_architectures name no single \
                         architecture, nor do the functions attaching it agree on one"
                        .into(),
                )
            })
        });
        t.by_id.insert(id, target);
    }
    t
}

/// A layer's target from the functions attaching it, when they all run on one architecture.
fn users_target(decl: &Architectures, t: &Targets, layer: &str, cfg: &Config) -> Option<Target> {
    let users: Vec<&String> = decl
        .attached
        .iter()
        .filter(|(_, layers)| layers.iter().any(|l| l == layer))
        .map(|(f, _)| f)
        .collect();
    let arch = t.arch(cfg, users.first()?);
    if users.iter().any(|f| t.arch(cfg, f) != arch) {
        return None;
    }
    let mut users: Vec<&str> = users.iter().map(|u| u.as_str()).collect();
    users.sort();
    Some(Target {
        arch,
        why: format!(
            "the functions attaching it run on {arch} ({})",
            users.join(", ")
        ),
    })
}

/// Why function `f` cannot load its layers, and the fix: each attached layer built for another
/// architecture that ships native code (pure-Python layers serve both). `zip_of` gives a
/// layer's zip; a layer not built yet is not judged.
pub fn layer_conflicts(
    cfg: &Config,
    targets: &Targets,
    f: &str,
    zip_of: impl Fn(&str) -> Option<std::path::PathBuf>,
) -> Vec<(String, String)> {
    let mine = targets.arch(cfg, f);
    let mut out = Vec::new();
    for layer in targets.attached(f) {
        let theirs = targets.arch(cfg, layer);
        if theirs == mine {
            continue;
        }
        let Some(natives) = zip_of(layer).and_then(|z| native::scan(&z).ok()) else {
            continue;
        };
        let foreign: Vec<_> = natives
            .iter()
            .filter(|n| n.machine != Machine::Lambda(mine))
            .collect();
        let Some(first) = foreign.first() else {
            continue;
        };
        let why = format!(
            "function {f} runs on {mine} ({}) and attaches layer {layer}, built for {theirs} \
             ({}), which ships native code: {}{}; it cannot be loaded on {mine}",
            targets.why(f),
            targets.why(layer),
            first.describe(),
            match foreign.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            }
        );
        let fix = format!(
            "give the layer `compatible_architectures = [\"{mine}\"]` (one layer per \
             architecture when functions of both attach it), or attach a layer built for \
             {mine}; a pure-Python layer serves both"
        );
        out.push((why, fix));
    }
    out
}
