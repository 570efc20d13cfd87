//! Which files ship: the one answer to "would this file go into the zip?", for the build and
//! for `check`.
//!
//! A source file (a function's directory, a layer's `python/`) ships unless, in this order:
//! 1. a `[files] exclude` glob matches it (stack-wide or the artifact's own): never ships;
//! 2. an `include` glob matches it: ships, whatever follows;
//! 3. a built-in rule drops it: dotfiles and dot-directories (`.env`, `.venv`, `.git`, …), a
//!    directory holding `pyvenv.cfg`, `__pycache__`, `node_modules`, `tests/`, `test_*.py`,
//!    `*_test.py`, `conftest.py`, bytecode, the requirements and lock files, secret-looking files;
//! 4. a `.gitignore` of the repository (from its root down to the file's directory, deepest
//!    first, as git reads them) ignores it.
//!
//! Globs match the path inside the zip. A directory dropped by 3 or 4 is not entered unless an
//! `include` glob could match below it. Names must be UTF-8 (a zip entry name is), symlinks must
//! stay inside the repository, and a directory link back into its own ancestors is a loop.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use glob::Pattern;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::archive::Entry;
use crate::config::Config;
use crate::stack::discover::{Artifact, Kind};

/// Real directory trees deeper than this are refused (loops are caught apart, by inode).
const MAX_DEPTH: usize = 64;

/// A source tree's selection: what ships, and the secret-looking files met on the way.
pub struct Selected {
    pub entries: Vec<Entry>,
    pub secrets: Vec<Secret>,
}

/// A secret-looking file (`.env*`, `*.pem` holding a private key, `id_rsa*`, `credentials`).
pub struct Secret {
    pub path: PathBuf,
    /// Its name inside the zip.
    pub name: String,
    /// The `include` glob that ships it; `None` when the build leaves it out.
    pub shipped_by: Option<String>,
}

/// Selects the files of every artifact of one run; `.gitignore` files are parsed once each.
pub struct Selector<'a> {
    cfg: &'a Config,
    gitignores: Mutex<HashMap<PathBuf, Option<Arc<Gitignore>>>>,
}

impl<'a> Selector<'a> {
    pub fn new(cfg: &'a Config) -> Selector<'a> {
        Selector {
            cfg,
            gitignores: Mutex::new(HashMap::new()),
        }
    }

    /// The artifact's own files (not its dependencies), named as in its zip, sorted.
    pub fn source(&self, a: &Artifact) -> Result<Selected> {
        // The infra repo's Lambdas live in `<infra>/lambdas/<fn>`: that repo is their boundary.
        let boundary = if a.module == "infra" {
            a.src.parent().and_then(Path::parent).unwrap_or(&a.src)
        } else {
            &self.cfg.stack
        };
        let (root, prefix) = match a.kind {
            Kind::Function => (a.src.clone(), ""),
            Kind::Layer => (a.src.join("python"), "python/"),
        };
        let files = &self.cfg.files;
        let own = files.artifacts.get(&a.id());
        // Stack-wide globs, then the artifact's; config loading rejected any that does not compile.
        let globs = |all: &[String], own: Option<&Vec<String>>| -> Vec<Pattern> {
            all.iter()
                .chain(own.into_iter().flatten())
                .filter_map(|g| Pattern::new(g).ok())
                .collect()
        };
        let mut filter = Source {
            selector: self,
            include: globs(&files.include, own.map(|o| &o.include)),
            exclude: globs(&files.exclude, own.map(|o| &o.exclude)),
            ignores: Vec::new(),
            depth_of_ignores: Vec::new(),
            secrets: Vec::new(),
        };
        // Every .gitignore from the repository's root down to the tree's parent; the walk
        // reads the tree's own as it enters each directory.
        let repo = repo_root(boundary);
        if let Ok(below) = root.strip_prefix(&repo) {
            let mut dir = repo.clone();
            for c in below.components() {
                filter.push_gitignore(&dir);
                dir.push(c);
            }
        }
        let entries = collect(&root, prefix, boundary, &mut filter)?;
        let mut secrets = filter.secrets;
        secrets.sort_by(|x, y| x.name.cmp(&y.name));
        Ok(Selected { entries, secrets })
    }

    fn gitignore(&self, dir: &Path) -> Option<Arc<Gitignore>> {
        let mut cache = self.gitignores.lock().expect("no panics");
        cache
            .entry(dir.to_path_buf())
            .or_insert_with(|| {
                let file = dir.join(".gitignore");
                if !file.is_file() {
                    return None;
                }
                let mut b = GitignoreBuilder::new(dir);
                // Like git, a line that is not a valid pattern is skipped, the rest applies.
                let _ = b.add(&file);
                b.build().ok().map(Arc::new)
            })
            .clone()
    }
}

/// `[files]` sub-tables that name no artifact, so a typo in `module/name` is an error rather
/// than rules that never apply. With `complete` false (a `--module` run) only keys of the
/// modules `artifacts` come from are judged.
pub fn unknown_artifacts(cfg: &Config, artifacts: &[Artifact], complete: bool) -> Vec<String> {
    cfg.files
        .artifacts
        .keys()
        .filter(|id| {
            let module = id.split('/').next().unwrap_or_default();
            (complete || artifacts.iter().any(|a| a.module == module))
                && !artifacts.iter().any(|a| &a.id() == *id)
        })
        .cloned()
        .collect()
}

/// The installed dependency tree under `dir`, named as in the zip: everything but what the
/// installer writes about itself (`is_install_noise`). Source rules such as `tests/` do not
/// apply: an installed package's files are its own business.
pub fn installed(dir: &Path, prefix: &str) -> Result<Vec<Entry>> {
    collect(dir, prefix, dir, &mut Installed)
}

/// The repository a boundary belongs to: the nearest ancestor holding `.git`, else the
/// boundary itself (a stack not under git still has its `.gitignore` files honoured).
fn repo_root(boundary: &Path) -> PathBuf {
    boundary
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(boundary)
        .to_path_buf()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    Ship,
    Skip,
    /// A dropped directory that an `include` glob could reach into: entered, and only what
    /// an include matches below it ships.
    Reach,
}

trait Filter {
    fn enter(&mut self, dir: &Path);
    fn leave(&mut self);
    /// `rel`: the path below the walk's root; `name`: the zip entry's (with the prefix).
    /// `dropped`: the entry is inside a directory entered only through `Reach`.
    fn decide(
        &mut self,
        path: &Path,
        rel: &str,
        name: &str,
        is_dir: bool,
        dropped: bool,
    ) -> Decision;
}

struct Installed;

impl Filter for Installed {
    fn enter(&mut self, _: &Path) {}
    fn leave(&mut self) {}
    fn decide(&mut self, _: &Path, rel: &str, _: &str, is_dir: bool, _: bool) -> Decision {
        if is_install_noise(rel, is_dir) {
            Decision::Skip
        } else {
            Decision::Ship
        }
    }
}

struct Source<'s, 'c> {
    selector: &'s Selector<'c>,
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
    /// The `.gitignore` matchers in force, shallowest first.
    ignores: Vec<Arc<Gitignore>>,
    /// How many matchers were in force before each entered directory.
    depth_of_ignores: Vec<usize>,
    secrets: Vec<Secret>,
}

impl Source<'_, '_> {
    fn push_gitignore(&mut self, dir: &Path) {
        if let Some(g) = self.selector.gitignore(dir) {
            self.ignores.push(g);
        }
    }

    fn gitignored(&self, path: &Path, is_dir: bool) -> bool {
        self.ignores
            .iter()
            .rev()
            .map(|g| g.matched(path, is_dir))
            .find(|m| !m.is_none())
            .is_some_and(|m| m.is_ignore())
    }

    /// Whether some `include` glob could match a path below the directory `dir`.
    fn reaches(&self, dir: &str) -> bool {
        let dir = format!("{dir}/");
        self.include.iter().any(|p| {
            let s = p.as_str();
            let literal = &s[..s.find(['*', '?', '[']).unwrap_or(s.len())];
            let literal = &literal[..literal.rfind('/').map_or(0, |i| i + 1)];
            literal.starts_with(&dir) || dir.starts_with(literal)
        })
    }
}

impl Filter for Source<'_, '_> {
    fn enter(&mut self, dir: &Path) {
        self.depth_of_ignores.push(self.ignores.len());
        self.push_gitignore(dir);
    }

    fn leave(&mut self) {
        let n = self.depth_of_ignores.pop().unwrap_or(0);
        self.ignores.truncate(n);
    }

    fn decide(
        &mut self,
        path: &Path,
        _: &str,
        name: &str,
        is_dir: bool,
        dropped: bool,
    ) -> Decision {
        let base = name.rsplit('/').next().unwrap_or(name);
        let secret = !is_dir && secret_looking(base, path);
        let opts = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        let (decision, shipped_by) = if self.exclude.iter().any(|p| p.matches_with(name, opts)) {
            (Decision::Skip, None)
        } else if let Some(p) = self.include.iter().find(|p| p.matches_with(name, opts)) {
            (Decision::Ship, Some(p.as_str().to_string()))
        } else if dropped
            || secret
            || built_in_drop(base, path, is_dir)
            || self.gitignored(path, is_dir)
        {
            match is_dir && self.reaches(name) {
                true => (Decision::Reach, None),
                false => (Decision::Skip, None),
            }
        } else {
            (Decision::Ship, None)
        };
        if secret {
            self.secrets.push(Secret {
                path: path.to_path_buf(),
                name: name.to_string(),
                shipped_by,
            });
        }
        decision
    }
}

/// Source files that never ship unless `include`d: tooling, tests, environments, bytecode,
/// the dependency declarations themselves (their packages ship, installed).
fn built_in_drop(name: &str, path: &Path, is_dir: bool) -> bool {
    if name.starts_with('.') {
        return true;
    }
    if is_dir {
        return matches!(name, "__pycache__" | "node_modules" | "tests")
            || path.join("pyvenv.cfg").is_file();
    }
    let requirements = |stem: &str| {
        name.strip_prefix(stem)
            .is_some_and(|r| r.ends_with(".txt") || r.ends_with(".in") || r.ends_with(".lock"))
    };
    name.ends_with(".pyc")
        || name.ends_with(".pyo")
        || (name.starts_with("test_") && name.ends_with(".py"))
        || name.ends_with("_test.py")
        || name == "conftest.py"
        || requirements("requirements")
        || requirements("constraints")
        || matches!(
            name,
            "Pipfile" | "Pipfile.lock" | "poetry.lock" | "uv.lock" | "pdm.lock" | "pylock.toml"
        )
}

/// Files that hold credentials by convention. A `.pem` counts when it holds a private key (a
/// CA bundle is not a secret and ships); `.env.example` and the like are templates.
fn secret_looking(name: &str, path: &Path) -> bool {
    let env = name == ".env"
        || name
            .strip_prefix(".env.")
            .is_some_and(|s| !matches!(s, "example" | "sample" | "template" | "dist" | "defaults"));
    env || name.starts_with("id_rsa")
        || name == "credentials"
        || (name.ends_with(".pem")
            && std::fs::read(path).map_or(true, |b| {
                b.windows(b"PRIVATE KEY".len()).any(|w| w == b"PRIVATE KEY")
            }))
}

/// What an installer writes that depends on the installer or the host rather than on the
/// packages: console scripts (host shebangs), install records, lock files, bytecode. Dropping
/// them makes uv and pip produce the same bytes; `*.dist-info/METADATA` stays for
/// importlib.metadata.
fn is_install_noise(rel: &str, is_dir: bool) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if (is_dir && name == "__pycache__")
        || (!is_dir && (name.ends_with(".pyc") || name.ends_with(".pyo") || name == ".DS_Store"))
        || rel == "bin"
        || rel == ".lock"
    {
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

/// Every file under `root` the filter ships, as zip entries named `prefix` + relative path,
/// sorted. Symlinks are followed when they stay inside `boundary`, and refused otherwise.
fn collect(
    root: &Path,
    prefix: &str,
    boundary: &Path,
    filter: &mut dyn Filter,
) -> Result<Vec<Entry>> {
    let mut w = Walk {
        root,
        prefix,
        boundary: boundary
            .canonicalize()
            .unwrap_or_else(|_| boundary.to_path_buf()),
        filter,
        out: Vec::new(),
        ancestors: Vec::new(),
    };
    if let Ok(meta) = std::fs::metadata(root) {
        if meta.is_dir() {
            w.ancestors.push((meta.dev(), meta.ino()));
            w.dir(root, "", false)?;
        }
    }
    let mut out = w.out;
    out.sort();
    Ok(out)
}

struct Walk<'w> {
    root: &'w Path,
    prefix: &'w str,
    boundary: PathBuf,
    filter: &'w mut dyn Filter,
    out: Vec<Entry>,
    /// (device, inode) of each directory from the root down to the current one.
    ancestors: Vec<(u64, u64)>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path, rel: &str, dropped: bool) -> Result<()> {
        if self.ancestors.len() > MAX_DEPTH {
            bail!(
                "{} is more than {MAX_DEPTH} directories below {} (a real directory tree, not a \
                 symlink loop); flatten it, or keep it out of the zip with a [files] exclude glob \
                 in xtask.toml",
                dir.display(),
                self.root.display()
            );
        }
        let mut children: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("cannot read {}", dir.display()))?;
        children.sort_by_key(|e| e.file_name());
        self.filter.enter(dir);
        for child in children {
            let path = child.path();
            let file_name = child.file_name();
            let utf8 = file_name.to_str().is_some();
            let name = file_name.to_string_lossy();
            let child_rel = if rel.is_empty() {
                name.into_owned()
            } else {
                format!("{rel}/{name}")
            };
            let name_in_zip = format!("{}{child_rel}", self.prefix);
            let meta = std::fs::metadata(&path);
            let is_dir = meta.as_ref().is_ok_and(|m| m.is_dir());
            // Decided first, so what never ships (an editor's dangling `.#lock` link, a stray
            // name in a git-ignored directory) cannot fail the build.
            let decision = self
                .filter
                .decide(&path, &child_rel, &name_in_zip, is_dir, dropped);
            if decision == Decision::Skip {
                continue;
            }
            if !utf8 {
                bail!(
                    "{:?}: the file name is not valid UTF-8, and a zip entry's name must be \
                     (Lambda reads zip names as UTF-8); rename it",
                    path
                );
            }
            let file_type = child
                .file_type()
                .with_context(|| format!("cannot stat {}", path.display()))?;
            if file_type.is_symlink() {
                let target = path.canonicalize().with_context(|| {
                    format!("{} is a broken symlink; fix or remove it", path.display())
                })?;
                if !target.starts_with(&self.boundary) {
                    bail!(
                        "{} is a symlink to {}, outside {}; the zip would depend on files the build \
                         does not own. Copy the file in, or share it through a layer",
                        path.display(),
                        target.display(),
                        self.boundary.display()
                    );
                }
            }
            let meta = meta.with_context(|| format!("cannot stat {}", path.display()))?;
            if meta.is_dir() {
                let id = (meta.dev(), meta.ino());
                if self.ancestors.contains(&id) {
                    bail!(
                        "{} is a symlink to {}, a directory that contains it: a symlink loop; \
                         remove the link",
                        path.display(),
                        path.canonicalize().unwrap_or_default().display()
                    );
                }
                self.ancestors.push(id);
                self.dir(&path, &child_rel, decision == Decision::Reach)?;
                self.ancestors.pop();
            } else if meta.is_file() && decision == Decision::Ship {
                self.out.push(Entry {
                    name: name_in_zip,
                    source: path,
                    executable: meta.permissions().mode() & 0o111 != 0,
                });
            }
        }
        self.filter.leave();
        Ok(())
    }
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
        assert!(!is_install_noise("pkg/tests", true));
    }

    #[test]
    fn built_in_rules() {
        let p = Path::new("/nonexistent/x");
        for (name, dir) in [
            (".env", false),
            (".venv", true),
            ("tests", true),
            ("node_modules", true),
            ("test_x.py", false),
            ("x_test.py", false),
            ("conftest.py", false),
            ("requirements.txt", false),
            ("requirements-dev.txt", false),
            ("requirements.lock", false),
            ("uv.lock", false),
        ] {
            assert!(built_in_drop(name, p, dir), "{name}");
        }
        for (name, dir) in [
            ("lambda_function.py", false),
            ("testing.py", false),
            ("test", true),
            ("data", true),
        ] {
            assert!(!built_in_drop(name, p, dir), "{name}");
        }
    }

    #[test]
    fn secret_names() {
        let d = tempfile::tempdir().unwrap();
        let (key, ca) = (d.path().join("k.pem"), d.path().join("ca.pem"));
        std::fs::write(&key, "-----BEGIN RSA PRIVATE KEY-----\n").unwrap();
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let p = Path::new("/nonexistent/x");
        assert!(secret_looking(".env", p));
        assert!(secret_looking(".env.prod", p));
        assert!(!secret_looking(".env.example", p));
        assert!(secret_looking("id_rsa", p));
        assert!(secret_looking("credentials", p));
        assert!(secret_looking("k.pem", &key));
        assert!(!secret_looking("ca.pem", &ca));
        assert!(!secret_looking("environment.py", p));
    }
}
