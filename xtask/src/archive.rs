//! A deterministic zip: same files in, same bytes out, whatever the mtimes, umask,
//! directory order or machine. The installed dependencies first, then the artifact's own files,
//! each group sorted; one fixed timestamp, normalized modes, one compression rule by content.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

/// One file to store: its path inside the zip and where its bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub name: String,
    pub source: PathBuf,
    pub executable: bool,
}

/// A zip written next to its final path, not yet moved into place.
pub struct Written {
    pub file: NamedTempFile,
    pub zip_bytes: u64,
    pub unzipped_bytes: u64,
    /// Base64 of the raw SHA-256: Terraform's `filebase64sha256`, AWS's `CodeSha256`.
    pub sha256_base64: String,
    /// The leading dependency entries' bytes and hash state, for the next edit.
    pub prefix: Option<crate::build::prefix::Memo>,
    /// How many leading bytes were copied from the previous zip rather than written (what the
    /// tests check the copy by).
    #[cfg_attr(not(test), allow(dead_code))]
    pub copied: u64,
}

/// The zip being written next to `out` is `.xtask-<random>.zip.tmp` until it is renamed.
const TEMP_PREFIX: &str = ".xtask-";
const TEMP_SUFFIX: &str = ".zip.tmp";

/// A zip temp file's name: only an interrupted build leaves one behind.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}

/// A temporary zip in `dir`, named so the next build sweeps it if this one is interrupted.
/// Created 0666 less the umask (0644 usually), as a compiler's output: the mode survives the
/// rename, and a zip is no secret (tempfile's default 0600 is for state, plans and logs).
pub fn temp_zip(dir: &Path) -> std::io::Result<NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

/// The installed dependencies an artifact ships: their files lead the zip, in name order, and
/// come from the tree's pack, already compressed, when there is one.
#[derive(Clone, Copy)]
pub struct Deps<'a> {
    pub tree: &'a Path,
    pub pack: Option<&'a crate::build::pack::Pack>,
}

/// Writes the zip of `entries`: the files of `deps`' tree first, then the artifact's own, each
/// group in name order. `previous`: what the build recorded of the zip now at `out` (checked by
/// the caller to be that zip): its leading bytes are copied rather than written and hashed
/// again when they are still the ones this zip starts with.
pub fn write(
    out: &Path,
    mut entries: Vec<Entry>,
    deps: Option<Deps>,
    previous: Option<&crate::build::prefix::Memo>,
) -> Result<Written> {
    use crate::build::zipw::{self, Body, Item};
    entries.sort();
    entries.dedup_by(|a, b| a.name == b.name);
    let is_dep = |e: &Entry| deps.is_some_and(|d| e.source.starts_with(d.tree));
    entries.sort_by_key(|e| !is_dep(e));
    let dir = out.parent().context("zip path has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut items = Vec::with_capacity(entries.len());
    for e in &entries {
        let packed = match deps.and_then(|d| d.pack).filter(|_| is_dep(e)) {
            Some(p) => {
                let len = std::fs::metadata(&e.source)
                    .with_context(|| format!("cannot read {}", e.source.display()))?
                    .len();
                p.slot(&e.source, len).map(|s| Body::Packed(p, s))
            }
            None => None,
        };
        items.push(Item {
            name: &e.name,
            executable: e.executable,
            body: packed.unwrap_or(Body::File(&e.source)),
        });
    }
    let mut file = temp_zip(dir).map_err(|e| write_failed(out, e))?;
    let (mut resumed, mut copied) = (None, 0);
    if let (Some(memo), Some(id)) = (previous, zipw::prefix_id(&items)) {
        if let (true, Ok(old)) = (memo.id == id, File::open(out)) {
            resumed = crate::build::prefix::copy(&old, file.as_file_mut(), memo);
            copied = memo.len;
            if resumed.is_none() {
                // Whatever the failed copy left goes with that file: the zip is written whole.
                file = temp_zip(dir).map_err(|e| write_failed(out, e))?;
                copied = 0;
            }
        }
    }
    let opts = zipw::Options {
        contents: None,
        resumed,
    };
    let summary =
        zipw::write(BufWriter::new(file.as_file()), &items, opts).map_err(|f| f.into_error(out))?;
    let zip_bytes = file.as_file().metadata()?.len();
    Ok(Written {
        file,
        zip_bytes,
        unzipped_bytes: summary.unzipped,
        sha256_base64: base64::engine::general_purpose::STANDARD.encode(summary.sha256),
        prefix: summary.prefix,
        copied,
    })
}

/// Why filling a zip stopped: a source that cannot be read, or the zip that cannot be written.
#[derive(Debug)]
pub enum Fault {
    Read(PathBuf, std::io::Error),
    Write(std::io::Error),
}

impl Fault {
    pub fn into_error(self, out: &Path) -> anyhow::Error {
        match self {
            Fault::Read(src, e) => {
                anyhow::Error::new(e).context(format!("cannot read {}", src.display()))
            }
            Fault::Write(e) => write_failed(out, e),
        }
    }
}

/// The zip `out` could not be written: says so plainly when the disk (or a quota) is full,
/// the commonest reason.
pub fn write_failed(out: &Path, e: std::io::Error) -> anyhow::Error {
    if disk_full(&e) {
        anyhow::anyhow!(
            "cannot write {}: the disk is full ({e}); free space on its filesystem and build again \
             (any previous zip is kept)",
            out.display()
        )
    } else {
        anyhow::Error::new(e).context(format!("cannot write {}", out.display()))
    }
}

/// No space left on the device, or the user's quota is exhausted.
pub fn disk_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    // By kind too: tempfile re-wraps errors with their path, which drops the OS code.
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
        || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// `filebase64sha256` of an existing file.
pub fn sha256_base64(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    sha256_base64_of(&mut f).with_context(|| format!("cannot read {}", path.display()))
}

/// `filebase64sha256` of what `r` reads, to its end.
pub fn sha256_base64_of(r: &mut impl Read) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::DateTime;

    fn entry(dir: &Path, name: &str, body: &str) -> Entry {
        let source = dir.join(name.replace('/', "_"));
        std::fs::write(&source, body).unwrap();
        Entry {
            name: name.into(),
            source,
            executable: false,
        }
    }

    #[test]
    fn a_full_disk_is_said_plainly_with_the_zips_name() {
        use crate::build::zipw::{self, Body, Item};
        let d = tempfile::tempdir().unwrap();
        let big = entry(d.path(), "big.bin", &"x".repeat(1 << 20));
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let item = Item {
            name: &big.name,
            executable: false,
            body: Body::File(&big.source),
        };
        let err = match zipw::write(BufWriter::new(&full), &[item], Default::default()) {
            Err(e) => e.into_error(Path::new("/s/.build/fn.zip")),
            Ok(_) => panic!("/dev/full took a zip"),
        };
        let msg = format!("{err:#}");
        assert!(
            msg.starts_with("cannot write /s/.build/fn.zip: the disk is full"),
            "{msg}"
        );
    }

    #[test]
    fn order_and_mtimes_do_not_change_the_bytes() {
        let d = tempfile::tempdir().unwrap();
        let a = entry(d.path(), "a.py", "print(1)\n");
        let b = entry(d.path(), "pkg/b.py", "print(2)\n");
        let out = d.path().join("out.zip");
        let one = write(&out, vec![a.clone(), b.clone()], None, None).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(&a.source, "print(1)\n").unwrap();
        let two = write(&out, vec![b, a], None, None).unwrap();
        assert_eq!(one.sha256_base64, two.sha256_base64);
        assert_eq!(one.unzipped_bytes, 18);
    }

    #[test]
    fn stored_entries_are_sorted_with_fixed_time_and_modes() {
        let d = tempfile::tempdir().unwrap();
        let mut x = entry(d.path(), "z.sh", "#!/bin/sh\n");
        x.executable = true;
        let y = entry(d.path(), "a.py", "");
        let w = write(&d.path().join("o.zip"), vec![x, y], None, None).unwrap();
        let mut z = zip::ZipArchive::new(File::open(w.file.path()).unwrap()).unwrap();
        let names: Vec<String> = z.file_names().map(|n| n.to_string()).collect();
        assert_eq!(names, ["a.py", "z.sh"]);
        let f = z.by_name("z.sh").unwrap();
        assert_eq!(f.unix_mode().unwrap() & 0o777, 0o755);
        assert_eq!(f.last_modified().unwrap(), DateTime::default());
    }
}
