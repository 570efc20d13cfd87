//! Which repository `cargo xtask` works on, found at run time as cargo finds its workspace:
//! from the current directory up to the first Cargo workspace that has the xtask as a member.
//!
//! Never the path the binary was compiled in: with a shared `CARGO_TARGET_DIR` cargo may run a
//! binary another checkout compiled (the xtask's fingerprint is relative to its workspace), and
//! that checkout's path would pick the wrong repository.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The package name `cargo xtask` (the alias `run --package xtask --`) runs.
const PACKAGE: &str = "xtask";

/// The nearest ancestor of `start` (itself included) whose `Cargo.toml` is a workspace with the
/// xtask package as a member. A workspace without it (a nested Rust project) is passed over, as
/// cargo would not find the `xtask` package there.
pub fn find(start: &Path) -> Result<PathBuf> {
    for dir in start.ancestors() {
        if has_xtask_member(dir) {
            return Ok(dir.to_path_buf());
        }
    }
    bail!(
        "no stack repository here: {} is not inside a Cargo workspace with the `{PACKAGE}` \
         package (cargo xtask looks for one from the current directory up, as cargo does)\n\
         fix: run it inside the stack repo (scripts/install.sh STACK_DIR sets one up), or pass \
         --stack DIR",
        start.display()
    )
}

fn manifest(dir: &Path) -> Option<toml::Table> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    toml::from_str(&text).ok()
}

fn is_xtask(manifest: &toml::Table) -> bool {
    manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        == Some(PACKAGE)
}

fn has_xtask_member(dir: &Path) -> bool {
    let Some(root) = manifest(dir) else {
        return false;
    };
    let Some(ws) = root.get("workspace").and_then(|w| w.as_table()) else {
        return false;
    };
    if is_xtask(&root) {
        return true;
    }
    let members = ws.get("members").and_then(|m| m.as_array());
    members
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str())
        .flat_map(|m| {
            // Members are paths or globs (`crates/*`), relative to the workspace root.
            let pattern = dir.join(m).to_string_lossy().into_owned();
            glob::glob(&pattern).into_iter().flatten().flatten()
        })
        .any(|member| manifest(&member).is_some_and(|m| is_xtask(&m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_nearest_workspace_with_the_xtask_member_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        write(
            &root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"tools/*\"]\n",
        );
        write(
            &root.join("tools/xtask/Cargo.toml"),
            "[package]\nname = \"xtask\"\n",
        );
        // A nested workspace without the xtask, as a Rust project inside the stack repo.
        write(
            &root.join("packages/rusty/Cargo.toml"),
            "[workspace]\nmembers = [\"a\"]\n",
        );
        write(
            &root.join("packages/rusty/a/Cargo.toml"),
            "[package]\nname = \"a\"\n",
        );
        let deep = root.join("packages/rusty/a/src");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find(&deep).unwrap(), root);
        assert_eq!(find(&root).unwrap(), root);

        let outside = tempfile::tempdir().unwrap();
        let err = find(outside.path()).unwrap_err().to_string();
        assert!(err.contains("--stack DIR"), "{err}");
    }
}
