//! A build's dependency sets: keyed, installed once (or fetched from the shared cache) into
//! `.xtask/deps/<key>`, and packed once for every zip that uses them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Result};

use super::{cache, cache_dir, deps_cache, failed_deps, pack, Ctx};
use crate::config::{Arch, Config};
use crate::install::{lock, requirements};

impl Ctx<'_> {
    /// Keyed on `target`'s architecture too: an arm64 and an x86_64 install never share bytes.
    pub(super) fn deps_key(&self, target: &Config, reqs: &[String]) -> String {
        // The installer the stack asks for, even when this machine has none: a runner that
        // only downloads from the shared cache keys as the one that built.
        let wanted = match self.cfg.installer {
            crate::config::InstallerChoice::Pip => "pip",
            _ => "uv",
        };
        cache::deps_key(
            target,
            self.installer.as_ref().map_or(wanted, |i| i.name()),
            reqs,
        )
    }

    /// The installed dependency tree for `key` and its pack, installing and compressing it
    /// once if no build has yet.
    pub(super) fn deps(
        &self,
        key: &str,
        requirements: &Path,
        require_hashes: bool,
        target: &Config,
    ) -> Result<(PathBuf, Arc<pack::Pack>)> {
        let cell = self
            .deps
            .lock()
            .expect("no panics")
            .entry(key.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| {
            let dir = self.install(key, requirements, require_hashes, target)?;
            let pack =
                pack::Pack::open_or_make(&dir, &self.contents).map_err(|e| format!("{e:#}"))?;
            Ok((dir, pack))
        })
        .clone()
        .map_err(|e| anyhow!(e))
    }

    /// The installed dependency tree for `key`, installing it if it is missing or damaged.
    fn install(
        &self,
        key: &str,
        requirements: &Path,
        require_hashes: bool,
        target: &Config,
    ) -> std::result::Result<PathBuf, String> {
        {
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
            let tmp = tempfile::Builder::new()
                .prefix(deps_cache::TMP_PREFIX)
                .tempdir_in(self.cache.join("deps"))
                .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
            let remote = self.remote.as_ref().filter(|_| !self.force);
            if !remote.is_some_and(|r| r.get_deps(key, tmp.path())) {
                let installer = self.installer.as_ref().map_err(Clone::clone)?;
                let memo = failed_deps::Memo::new(&self.cache.join("deps"), key, target, installer);
                if let Some(remembered) = memo.recall().filter(|_| !self.force) {
                    return Err(remembered);
                }
                installer
                    .install(target, requirements, tmp.path(), require_hashes)
                    .map_err(|e| {
                        let message = format!("{}: {e:#}", requirements.display());
                        if e.is::<crate::install::Deterministic>() {
                            memo.remember(&message);
                        }
                        message
                    })?;
                memo.forget();
                if let Some(r) = remote {
                    r.stage_deps(key, tmp.path());
                }
            }
            deps_cache::write_manifest(tmp.path(), &dir).map_err(|e| format!("{e:#}"))?;
            // The old tree's pack goes with it, before anything can pair it with the new one.
            pack::remove(&dir).map_err(|e| format!("{e:#}"))?;
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| format!("cannot replace {}: {e}", dir.display()))?;
            }
            std::fs::rename(tmp.keep(), &dir)
                .map_err(|e| format!("cannot store dependencies in {}: {e}", dir.display()))?;
            Ok(dir)
        }
    }
}

/// The dependency tree a build installed for `requirements`, if any, so `check` can see what
/// it provides without installing. Either installer's tree, for either architecture, will do:
/// same requirements, same import names.
pub fn installed_deps(cfg: &Config, requirements: &Path) -> Option<PathBuf> {
    let reqs = requirements::read(requirements).ok()?;
    if reqs.is_empty() {
        return None;
    }
    let source = lock::source(requirements, &reqs).ok()?;
    let other = match cfg.arch {
        Arch::X86_64 => Arch::Arm64,
        Arch::Arm64 => Arch::X86_64,
    };
    [cfg.arch, other]
        .into_iter()
        .flat_map(|arch| ["uv", "pip"].map(|i| (arch, i)))
        .map(|(arch, i)| {
            let target = Config {
                arch,
                ..cfg.clone()
            };
            let key = cache::deps_key(&target, i, &source.key_lines);
            cache_dir(cfg).join("deps").join(key)
        })
        .find(|d| d.is_dir())
}
