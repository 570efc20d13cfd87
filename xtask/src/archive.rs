//! A deterministic zip: same files in, same bytes out, whatever the mtimes, umask,
//! directory order or machine. Sorted entries, one fixed timestamp, normalized modes,
//! one compression method and level.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

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
}

pub fn write(out: &Path, mut entries: Vec<Entry>) -> Result<Written> {
    entries.sort();
    entries.dedup_by(|a, b| a.name == b.name);
    let dir = out.parent().context("zip path has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = tempfile::Builder::new()
        .prefix(".xtask-")
        .suffix(".zip.tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;

    let mut zip = ZipWriter::new(BufWriter::new(file.as_file()));
    let base = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(DateTime::default());
    let mut unzipped = 0u64;
    for e in &entries {
        let mut src =
            File::open(&e.source).with_context(|| format!("cannot read {}", e.source.display()))?;
        let mode = if e.executable { 0o755 } else { 0o644 };
        zip.start_file(e.name.as_str(), base.unix_permissions(mode))?;
        unzipped += std::io::copy(&mut src, &mut zip)
            .with_context(|| format!("cannot read {}", e.source.display()))?;
    }
    zip.finish()?.flush()?;

    let zip_bytes = file.as_file().metadata()?.len();
    let sha256_base64 = sha256_base64(file.path())?;
    Ok(Written {
        file,
        zip_bytes,
        unzipped_bytes: unzipped,
        sha256_base64,
    })
}

/// `filebase64sha256` of an existing file.
pub fn sha256_base64(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
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
    fn order_and_mtimes_do_not_change_the_bytes() {
        let d = tempfile::tempdir().unwrap();
        let a = entry(d.path(), "a.py", "print(1)\n");
        let b = entry(d.path(), "pkg/b.py", "print(2)\n");
        let out = d.path().join("out.zip");
        let one = write(&out, vec![a.clone(), b.clone()]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(&a.source, "print(1)\n").unwrap();
        let two = write(&out, vec![b, a]).unwrap();
        assert_eq!(one.sha256_base64, two.sha256_base64);
        assert_eq!(one.unzipped_bytes, 18);
    }

    #[test]
    fn stored_entries_are_sorted_with_fixed_time_and_modes() {
        let d = tempfile::tempdir().unwrap();
        let mut x = entry(d.path(), "z.sh", "#!/bin/sh\n");
        x.executable = true;
        let y = entry(d.path(), "a.py", "");
        let w = write(&d.path().join("o.zip"), vec![x, y]).unwrap();
        let mut z = zip::ZipArchive::new(File::open(w.file.path()).unwrap()).unwrap();
        let names: Vec<String> = z.file_names().map(|n| n.to_string()).collect();
        assert_eq!(names, ["a.py", "z.sh"]);
        let f = z.by_name("z.sh").unwrap();
        assert_eq!(f.unix_mode().unwrap() & 0o777, 0o755);
        assert_eq!(f.last_modified().unwrap(), DateTime::default());
    }
}
