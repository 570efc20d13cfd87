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

/// The targets of every artifact of the stack (a layer's may depend on any module's
/// functions), read from the env `build` reads by default (`dev`), so a lock is made for the
/// target the build installs for.
pub fn for_stack(cfg: &Config, infra: Option<&Path>) -> Result<Targets> {
    let found = discover::discover(cfg, infra, &[])?;
    Ok(decide(cfg, infra, "dev", &found.artifacts))
}

/// The targets of `artifacts` (the whole stack: a layer's users may be in any module), as the
/// model of `env` declares them.
pub fn decide(cfg: &Config, infra: Option<&Path>, env: &str, artifacts: &[Artifact]) -> Targets {
    decide_from(cfg, declared::read(cfg, infra, env, artifacts), artifacts)
}

/// The same, from a model a pass has already loaded (build, smoke).
pub fn from_model(cfg: &Config, m: &crate::stack::model::Model, artifacts: &[Artifact]) -> Targets {
    decide_from(cfg, declared::of_model(cfg, m), artifacts)
}

fn decide_from(cfg: &Config, decl: Architectures, artifacts: &[Artifact]) -> Targets {
    let rel = |p: &Path| {
        let base = cfg.stack.parent().unwrap_or(&cfg.stack);
        p.strip_prefix(base).unwrap_or(p).display().to_string()
    };
    let mut t = Targets {
        attached: decl.attached.clone(),
        ..Targets::default()
    };
    let default = |why: &str| Target {
        arch: cfg.arch,
        why: format!("arch in xtask.toml: {why}"),
    };
    let at = |d: &declared::Declared| format!("{}:{}", rel(&d.file), d.line);
    for a in artifacts.iter().filter(|a| a.kind == Kind::Function) {
        let id = a.id();
        let target = match decl.functions.get(&id) {
            None => default("no aws_lambda_function found for its zip"),
            // Terraform's default, whatever xtask.toml says: that is where it will run.
            Some(d) if !d.set => {
                if cfg.arch != Arch::X86_64 {
                    t.warnings.push(format!(
                        "{id}: {}: the function sets no `architectures`, so Lambda runs it on \
                         x86_64, not {} (arch in xtask.toml); its dependencies are installed for \
                         x86_64. Add `architectures = [\"{}\"]` to run it there",
                        at(d),
                        cfg.arch,
                        cfg.arch
                    ));
                }
                Target {
                    arch: Arch::X86_64,
                    why: format!("Lambda's default: {} sets no architectures", at(d)),
                }
            }
            Some(d) => match &d.value {
                Ok(v) if v.len() == 1 => Target {
                    arch: v[0],
                    why: format!("its Terraform at {}", at(d)),
                },
                other => {
                    let why = match other {
                        Err(why) => why.clone(),
                        Ok(_) => "Lambda takes exactly one architecture".to_string(),
                    };
                    t.warnings.push(format!(
                        "{id}: {}: {why}; its dependencies are installed for {} (arch in \
                         xtask.toml). Write `architectures = [\"x86_64\"]` or `[\"arm64\"]` as \
                         a literal, a local or a variable's default",
                        at(d),
                        cfg.arch
                    ));
                    default("its architectures cannot be read")
                }
            },
        };
        t.by_id.insert(id, target);
    }
    for a in artifacts.iter().filter(|a| a.kind == Kind::Layer) {
        let id = a.id();
        let written = decl.layers.get(&id).and_then(|d| match &d.value {
            Ok(v) if v.len() == 1 => Some(Target {
                arch: v[0],
                why: format!("its compatible_architectures at {}", at(d)),
            }),
            Ok(_) => None,
            Err(why) => {
                t.warnings.push(format!(
                    "{id}: {}: {why}; the layer's platform comes from the functions attaching it",
                    at(d)
                ));
                None
            }
        });
        let target = written
            .or_else(|| users_target(&decl, &t, &id, cfg))
            .unwrap_or_else(|| {
                default(
                    "no single compatible architecture, and no functions attaching it that \
                     agree on one",
                )
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

/// The first native library in function `f`'s zip or its attached layers' that a process on
/// `arch` cannot load, as `<zip>: <file> (distribution …) is <machine>`; `None` when all load
/// (pure Python, or built for `arch`) or the zips are not built.
pub fn unloadable(
    targets: &Targets,
    f: &Artifact,
    zip_of: impl Fn(&str) -> Option<std::path::PathBuf>,
    arch: Arch,
) -> Option<String> {
    std::iter::once(Some(f.out.clone()))
        .chain(targets.attached(&f.id()).iter().map(|l| zip_of(l)))
        .flatten()
        .find_map(|zip| {
            let natives = native::scan(&zip).ok()?;
            let n = natives
                .iter()
                .find(|n| n.machine != Machine::Lambda(arch))?;
            let name = zip.file_name().unwrap_or_default().to_string_lossy();
            Some(format!(
                "{name}: {} is {}",
                n.describe(),
                n.machine.describe()
            ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn functions_take_their_terraform_and_layers_their_own_or_their_users() {
        let d = tempfile::tempdir().unwrap();
        let stack = d.path().join("acme-stack");
        let tf = stack.join("packages/module-x/infrastructure");
        std::fs::create_dir_all(&tf).unwrap();
        let function = |name: &str, arch: &str, layers: &str| {
            format!(
                "resource \"aws_lambda_function\" \"{name}\" {{\n  filename = \"${{path.module}}/{name}.zip\"\n{arch}  layers = [{layers}]\n}}\n"
            )
        };
        let layer = |name: &str, compat: &str| {
            format!(
                "resource \"aws_lambda_layer_version\" \"{name}\" {{\n  filename = \"${{path.module}}/{name}-layer.zip\"\n{compat}}}\n"
            )
        };
        let arn = |l: &str| format!("aws_lambda_layer_version.{l}.arn");
        let text = [
            function(
                "a",
                "  architectures = [\"arm64\"]\n",
                &[arn("mixed"), arn("armonly"), arn("both")].join(", "),
            ),
            function("b", "  architectures = [\"x86_64\"]\n", &arn("mixed")),
            function("c", "", ""),
            function("d", "  architectures = var.arch\n", ""),
            layer("mixed", ""),
            layer("armonly", ""),
            layer(
                "both",
                "  compatible_architectures = [\"x86_64\", \"arm64\"]\n",
            ),
            layer("own", "  compatible_architectures = [\"arm64\"]\n"),
        ]
        .concat();
        std::fs::write(tf.join("main.tf"), text).unwrap();
        let mut cfg = crate::config::load(Some(&stack)).unwrap();
        cfg.arch = Arch::Arm64;
        let art = |name: &str, kind| Artifact {
            module: "module-x".into(),
            name: name.into(),
            kind,
            src: PathBuf::new(),
            out: tf.join(match kind {
                Kind::Function => format!("{name}.zip"),
                Kind::Layer => format!("{name}-layer.zip"),
            }),
            requirements: None,
        };
        let mut artifacts: Vec<Artifact> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| art(n, Kind::Function))
            .collect();
        artifacts.extend(
            ["mixed", "armonly", "both", "own"]
                .iter()
                .map(|n| art(n, Kind::Layer)),
        );
        let t = decide(&cfg, None, "dev", &artifacts);
        let arch = |n: &str| t.arch(&cfg, &format!("module-x/{n}"));
        assert_eq!(arch("a"), Arch::Arm64);
        assert_eq!(arch("b"), Arch::X86_64);
        // No `architectures`: Lambda's x86_64, with a warning since xtask.toml says arm64.
        assert_eq!(arch("c"), Arch::X86_64);
        // Unreadable, or no resource at all: xtask.toml's.
        assert_eq!(arch("d"), Arch::Arm64);
        assert_eq!(arch("e"), Arch::Arm64);
        assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
        assert!(t.warnings[0].contains("module-x/c: acme-stack/packages/module-x/infrastructure/main.tf:11: the function sets no `architectures`, so Lambda runs it on x86_64"), "{}", t.warnings[0]);
        assert!(
            t.warnings[1].contains("module-x/d: acme-stack/packages/module-x/infrastructure/main.tf:15: `architectures` cannot be known before terraform runs"),
            "{}",
            t.warnings[1]
        );
        // Users disagree: the default; one user: its; both compatible: its users'.
        assert_eq!(arch("mixed"), Arch::Arm64);
        assert!(t.why("module-x/mixed").starts_with("arch in xtask.toml"));
        assert_eq!(arch("armonly"), Arch::Arm64);
        assert_eq!(
            t.why("module-x/armonly"),
            "the functions attaching it run on arm64 (module-x/a)"
        );
        assert_eq!(arch("both"), Arch::Arm64);
        assert_eq!(arch("own"), Arch::Arm64);
        cfg.arch = Arch::X86_64;
        let t = decide(&cfg, None, "dev", &artifacts);
        assert_eq!(t.arch(&cfg, "module-x/mixed"), Arch::X86_64);
        assert_eq!(t.arch(&cfg, "module-x/armonly"), Arch::Arm64);
        assert_eq!(t.arch(&cfg, "module-x/own"), Arch::Arm64);
        assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    }
}
