//! What decides `cached`: the keys (by content, never mtimes or absolute paths, so a stack that
//! is copied, checked out again or restored from a CI cache keeps them) and whether a zip on
//! disk is still the one the build wrote.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{LAYOUT, RECIPE};
use crate::archive::{self, Entry};
use crate::config::Config;
use crate::fsutil::hex;
use crate::stack::discover::Kind;

/// The dependency key: requirements (with their includes' contents), target, installer and
/// installer options.
pub fn deps_key(cfg: &Config, installer: &str, key_lines: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(RECIPE);
    h.update(format!("\0{}\0{}\0{installer}", cfg.python, cfg.arch));
    let o = &cfg.installer_options;
    h.update(format!(
        "\0{:?}\0{:?}\0{}",
        o.index_url, o.extra_index_urls, o.no_index
    ));
    for link in &o.find_links {
        // Local folders were anchored at the stack root: key them as written.
        let link = Path::new(link)
            .strip_prefix(&cfg.stack)
            .map_or(link.clone(), |rel| rel.to_string_lossy().into_owned());
        h.update(format!("\0find-links {link}"));
    }
    for l in key_lines {
        h.update(format!("\0{l}"));
    }
    hex(&h.finalize())
}

/// The artifact key: what it is, its dependency key and its files' names, exec bits and bytes.
pub fn artifact_key(
    kind: Kind,
    zip_name: &str,
    deps_key: Option<&str>,
    code: &[Entry],
) -> Result<String> {
    let mut h = Sha256::new();
    h.update(RECIPE);
    h.update(LAYOUT);
    h.update(format!("{kind:?}\0{zip_name}\0"));
    h.update(deps_key.unwrap_or("no-deps"));
    for e in code {
        h.update(format!("\0{}\0{}\0", e.name, e.executable));
        h.update(
            std::fs::read(&e.source)
                .with_context(|| format!("cannot read {}", e.source.display()))?,
        );
    }
    Ok(hex(&h.finalize()))
}

/// What a zip's inode says about it, cheaply. Any write changes the ctime, which cannot be set
/// by hand, so an edit at the same size and mtime still changes the stamp.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

pub fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Some(Stamp {
        size: m.len(),
        mtime_ns: ns(m.mtime(), m.mtime_nsec()),
        ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        ino: m.ino(),
        dev: m.dev(),
    })
}

/// The zip at `out` as the last build left it: its stamp (refreshed) when it still holds
/// `sha256_base64`, `None` when it is gone or its bytes differ. Same stamp: trusted without
/// reading; any other (a copy, a checkout, a touch, an edit): hashed.
pub fn valid_output(out: &Path, saved: &Stamp, sha256_base64: &str) -> Option<Stamp> {
    let now = stamp(out)?;
    if now == *saved {
        return Some(now);
    }
    if now.size != saved.size && saved.size != 0 {
        return None;
    }
    (archive::sha256_base64(out).ok()? == sha256_base64).then_some(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zip_is_trusted_by_stamp_and_otherwise_by_content() {
        let d = tempfile::tempdir().unwrap();
        let zip = d.path().join("f.zip");
        std::fs::write(&zip, b"zip bytes").unwrap();
        let sha = archive::sha256_base64(&zip).unwrap();
        let first = stamp(&zip).unwrap();
        assert_eq!(valid_output(&zip, &first, &sha), Some(first.clone()));

        // Rewritten with the same bytes (a copy, a checkout): still valid, with a new stamp.
        std::fs::remove_file(&zip).unwrap();
        std::fs::write(&zip, b"zip bytes").unwrap();
        let second = valid_output(&zip, &first, &sha).unwrap();
        assert_eq!(second, stamp(&zip).unwrap());

        // Same size, mtime put back by hand: the ctime still tells, and the bytes differ.
        let mtime = std::fs::metadata(&zip).unwrap().modified().unwrap();
        std::fs::write(&zip, b"zip BYTES").unwrap();
        let f = std::fs::File::options().write(true).open(&zip).unwrap();
        f.set_modified(mtime).unwrap();
        assert_eq!(valid_output(&zip, &second, &sha), None);

        std::fs::remove_file(&zip).unwrap();
        assert_eq!(valid_output(&zip, &second, &sha), None);
    }
}
