//! The dependency cache's integrity: each installed tree (`.xtask/deps/<key>/`) gets a manifest
//! of its files and sizes when it is made (`<key>.manifest`), checked before a build uses it; and
//! the leftovers of interrupted builds, removed by the next build or `clean` under the lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where an installer writes before the tree is renamed to its key; only an interrupted build
/// leaves one.
pub const TMP_PREFIX: &str = ".tmp-";

fn manifest_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".manifest");
    dir.with_file_name(name)
}

/// Every file under `dir` (symlinks as links) with its size, by relative path.
fn list(dir: &Path) -> Result<BTreeMap<String, u64>> {
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, u64>) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
            let name = format!("{rel}{}", e.file_name().to_string_lossy());
            let meta = e
                .path()
                .symlink_metadata()
                .with_context(|| format!("cannot stat {}", e.path().display()))?;
            if meta.is_dir() {
                walk(&e.path(), &format!("{name}/"), out)?;
            } else {
                out.insert(name, meta.len());
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out)?;
    Ok(out)
}

/// Records what the freshly installed `tree` holds, as the manifest of the entry `dir` it is
/// about to become (written first: a crash before the rename leaves a mismatch, not trust).
pub fn write_manifest(tree: &Path, dir: &Path) -> Result<()> {
    let text: String = list(tree)?
        .iter()
        .map(|(path, size)| format!("{size} {path}\n"))
        .collect();
    crate::fsutil::write_atomic(&manifest_path(dir), text.as_bytes())
}

/// `Err(why)` when the entry `dir` no longer holds what its manifest says (a file deleted,
/// truncated or added by hand), or has no manifest: it must be reinstalled, not shipped.
/// Costs one stat per file, and runs only when a build is about to zip the entry.
pub fn verify(dir: &Path) -> std::result::Result<(), String> {
    let manifest = std::fs::read_to_string(manifest_path(dir))
        .map_err(|_| "it has no manifest (made by an older xtask, or interrupted)".to_string())?;
    let want: BTreeMap<String, u64> = manifest
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(size, path)| (path.to_string(), size.parse().unwrap_or(u64::MAX)))
        .collect();
    let have = list(dir).map_err(|e| format!("{e:#}"))?;
    let mut diffs: Vec<String> = Vec::new();
    for (path, size) in &want {
        match have.get(path) {
            None => diffs.push(format!("{path} is missing")),
            Some(s) if s != size => diffs.push(format!("{path} is {s} bytes, was {size}")),
            Some(_) => {}
        }
    }
    diffs.extend(
        have.keys()
            .filter(|p| !want.contains_key(*p))
            .map(|p| format!("{p} was added")),
    );
    match diffs.len() {
        0 => Ok(()),
        1 => Err(diffs.remove(0)),
        n => Err(format!("{} (and {} more differences)", diffs[0], n - 1)),
    }
}

/// Removes what interrupted builds leave: `.tmp-*` trees in `deps` and `.xtask-*.zip.tmp` files
/// in the output directories; and the packs of earlier formats in `deps`. Only call with the
/// stack's lock held: a running build holds it, so nothing swept is still being written.
pub fn sweep_leftovers<'a>(
    deps: &Path,
    out_dirs: impl IntoIterator<Item = &'a Path>,
) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let mut sweep = |dir: &Path, is_leftover: &dyn Fn(&str) -> bool| -> Result<()> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        for e in entries.flatten() {
            if !is_leftover(&e.file_name().to_string_lossy()) {
                continue;
            }
            let p = e.path();
            let r = match e.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&p),
                _ => std::fs::remove_file(&p),
            };
            r.with_context(|| {
                format!(
                    "cannot remove {}, left by an interrupted build",
                    p.display()
                )
            })?;
            removed.push(p);
        }
        Ok(())
    };
    sweep(deps, &|n| {
        n.starts_with(TMP_PREFIX) || super::pack::is_old_format(n)
    })?;
    for dir in out_dirs {
        sweep(dir, &crate::archive::is_temp_name)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_deleted_resized_or_added_is_a_mismatch() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("key");
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("pkg/__init__.py"), "A = 1\n").unwrap();
        std::fs::write(dir.join("six.py"), "x").unwrap();
        assert!(verify(&dir).unwrap_err().contains("no manifest"));
        write_manifest(&dir, &dir).unwrap();
        assert_eq!(verify(&dir), Ok(()));

        std::fs::write(dir.join("six.py"), "xy").unwrap();
        assert_eq!(verify(&dir).unwrap_err(), "six.py is 2 bytes, was 1");
        std::fs::write(dir.join("six.py"), "x").unwrap();
        std::fs::remove_dir_all(dir.join("pkg")).unwrap();
        assert_eq!(verify(&dir).unwrap_err(), "pkg/__init__.py is missing");
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        std::fs::write(dir.join("pkg/__init__.py"), "A = 1\n").unwrap();
        std::fs::write(dir.join("extra.py"), "").unwrap();
        assert_eq!(verify(&dir).unwrap_err(), "extra.py was added");
    }
}
