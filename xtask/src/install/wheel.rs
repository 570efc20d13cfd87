//! Installs downloaded wheels into a target directory, as `pip install --target` lays them out:
//! `<dist>.data/purelib|platlib|data/` at the root, `scripts/` and `headers/` dropped (host
//! paths, never imported on Lambda), every file with a hash in `RECORD` checked against it.
//! pip only downloads; this is the one place its wheels are unpacked, so a stack's zips do not
//! depend on pip's own install logic.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Installs every `*.whl` in `dir` (what `pip download` left there) into `target`, in name
/// order so a file two wheels share ends up the same every time.
pub fn install_all(dir: &Path, target: &Path) -> Result<()> {
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    wheels.sort();
    for w in &wheels {
        let name = w.file_name().unwrap_or_default().to_string_lossy();
        install(w, target).with_context(|| format!("wheel {name}"))?;
    }
    Ok(())
}

/// `RECORD`'s rows: path → `sha256=…` (empty when the row has no hash).
fn record(text: &str) -> HashMap<String, String> {
    let mut rows = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields = csv_row(line);
        if let Some(path) = fields.first() {
            rows.insert(path.clone(), fields.get(1).cloned().unwrap_or_default());
        }
    }
    rows
}

/// One CSV row: commas split, double quotes group (and `""` is a quote), as `csv` writes them.
fn csv_row(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().expect("one field").push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            _ => out.last_mut().expect("one field").push(c),
        }
    }
    out
}

/// Where a wheel member goes below the target, `None` when it is dropped.
fn destination<'a>(name: &'a str, data: &str) -> Result<Option<&'a str>> {
    let Some(rest) = name.strip_prefix(data) else {
        return Ok(Some(name));
    };
    match rest.split_once('/') {
        Some(("purelib" | "platlib" | "data", inner)) => Ok(Some(inner)),
        Some(("scripts" | "headers", _)) => Ok(None),
        _ => bail!("{name}: unknown .data directory (wheels have purelib, platlib, data, scripts, headers)"),
    }
}

/// A relative path with no `..`, root or drive: a wheel must not write outside the target.
fn safe(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.contains('\\')
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn install(wheel: &Path, target: &Path) -> Result<()> {
    let file = File::open(wheel).with_context(|| format!("cannot read {}", wheel.display()))?;
    let mut z = zip::ZipArchive::new(BufReader::new(file))
        .with_context(|| format!("{} is not a zip", wheel.display()))?;
    let record_name = z
        .file_names()
        .find(|n| n.ends_with(".dist-info/RECORD") && n.matches('/').count() == 1)
        .map(str::to_string)
        .context("it has no .dist-info/RECORD")?;
    let dist_info = record_name.trim_end_matches("/RECORD");
    let data = format!("{}.data/", dist_info.trim_end_matches(".dist-info"));
    let mut text = String::new();
    z.by_name(&record_name)?.read_to_string(&mut text)?;
    let rows = record(&text);
    let unhashed = |n: &str| {
        n.strip_prefix(dist_info)
            .is_some_and(|f| ["/RECORD", "/RECORD.jws", "/RECORD.p7s"].contains(&f))
    };
    let mut buf = vec![0u8; 1 << 16];
    for i in 0..z.len() {
        let mut f = z.by_index(i)?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().to_string();
        if !safe(&name) {
            bail!("member {name:?} would be written outside the target; the wheel is refused");
        }
        let want = match rows.get(&name) {
            Some(h) => h.strip_prefix("sha256="),
            None if unhashed(&name) => None,
            None => bail!("{name} is not listed in {record_name}; the wheel is refused"),
        };
        let Some(rel) = destination(&name, &data)? else {
            continue;
        };
        let dest = target.join(rel);
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let executable = f.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mut out =
            File::create(&dest).with_context(|| format!("cannot write {}", dest.display()))?;
        let mut sha = Sha256::new();
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("cannot unzip {name}"))?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            out.write_all(&buf[..n])
                .with_context(|| format!("cannot write {}", dest.display()))?;
        }
        if let Some(want) = want.filter(|w| !w.is_empty()) {
            let got = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha.finalize());
            if got != want.trim_end_matches('=') {
                drop(out);
                let _ = std::fs::remove_file(&dest);
                bail!(
                    "{name} does not match its RECORD hash (sha256={got}, RECORD says \
                     sha256={want}): the wheel is damaged or was altered; download it again"
                );
            }
        }
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the mode of {}", dest.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    fn wheel(dir: &Path, files: &[(&str, &[u8])], record: &str) -> PathBuf {
        let p = dir.join("w-1.0-py3-none-any.whl");
        let mut z = zip::ZipWriter::new(File::create(&p).unwrap());
        for (n, c) in files {
            z.start_file(*n, SimpleFileOptions::default()).unwrap();
            z.write_all(c).unwrap();
        }
        z.start_file("w-1.0.dist-info/RECORD", SimpleFileOptions::default())
            .unwrap();
        z.write_all(record.as_bytes()).unwrap();
        z.finish().unwrap();
        p
    }

    fn hash(b: &[u8]) -> String {
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(b));
        format!("sha256={h}")
    }

    #[test]
    fn data_dirs_map_to_the_root_scripts_and_headers_are_dropped() {
        let t = tempfile::tempdir().unwrap();
        let files: &[(&str, &[u8])] = &[
            ("w/__init__.py", b"W = 1\n"),
            ("w-1.0.data/platlib/w_ext.so", b"\x7fELF"),
            ("w-1.0.data/scripts/w-cli", b"#!python\n"),
            ("w-1.0.data/headers/w.h", b"int w;\n"),
            ("w-1.0.dist-info/METADATA", b"Name: w\n"),
        ];
        let rec: String = files
            .iter()
            .map(|(n, c)| format!("{n},{},{}\n", hash(c), c.len()))
            .collect::<String>()
            + "w-1.0.dist-info/RECORD,,\n";
        wheel(t.path(), files, &rec);
        let target = t.path().join("target");
        install_all(t.path(), &target).unwrap();
        assert!(target.join("w/__init__.py").is_file());
        assert_eq!(std::fs::read(target.join("w_ext.so")).unwrap(), b"\x7fELF");
        assert!(!target.join("w-cli").exists() && !target.join("w-1.0.data").exists());
        assert!(target.join("w-1.0.dist-info/METADATA").is_file());
    }

    #[test]
    fn a_member_that_does_not_match_record_or_is_not_in_it_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let rec = format!("w/__init__.py,{},6\n", hash(b"W = 2\n"));
        wheel(t.path(), &[("w/__init__.py", b"W = 1\n")], &rec);
        let err = install_all(t.path(), &t.path().join("t")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.starts_with(
                "wheel w-1.0-py3-none-any.whl: w/__init__.py does not match its RECORD hash"
            ),
            "{msg}"
        );

        wheel(t.path(), &[("w/__init__.py", b"W = 1\n")], "");
        let msg = format!(
            "{:#}",
            install_all(t.path(), &t.path().join("u")).unwrap_err()
        );
        assert!(
            msg.contains("w/__init__.py is not listed in w-1.0.dist-info/RECORD"),
            "{msg}"
        );

        wheel(t.path(), &[("../evil.py", b"x")], "../evil.py,,\n");
        let msg = format!(
            "{:#}",
            install_all(t.path(), &t.path().join("v")).unwrap_err()
        );
        assert!(msg.contains("outside the target"), "{msg}");
    }

    #[test]
    fn record_rows_are_csv() {
        let r = record("\"a,b.py\",sha256=x,1\nplain.py,,\n");
        assert_eq!(r["a,b.py"], "sha256=x");
        assert_eq!(r["plain.py"], "");
    }
}
