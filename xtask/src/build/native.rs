//! The native libraries (`.so`) inside a built zip, the architecture each was compiled for
//! (its ELF header's `e_machine`) and the distribution that ships it. A library for another
//! architecture fails at import on Lambda (`invalid ELF header`, `wrong ELF class`), long after
//! the deploy succeeded.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

use crate::build::size::normalize;
use crate::config::Arch;

/// `e_machine` of x86-64 and AArch64 (the ELF specification's `EM_X86_64`, `EM_AARCH64`).
const EM_X86_64: u16 = 0x3E;
const EM_AARCH64: u16 = 0xB7;

/// What a native library was compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    Lambda(Arch),
    /// Another ELF machine (its `e_machine`), e.g. 32-bit x86 (3).
    Other(u16),
    /// Not an ELF file at all: a macOS (Mach-O) or Windows library, or a truncated file.
    NotElf,
}

impl Machine {
    pub fn describe(self) -> String {
        match self {
            Machine::Lambda(a) => a.to_string(),
            Machine::Other(m) => format!("ELF machine {m:#x}"),
            Machine::NotElf => "not a Linux ELF library (macOS or Windows, or truncated)".into(),
        }
    }
}

/// One native library in a zip.
#[derive(Debug, Clone)]
pub struct Native {
    /// Its path inside the zip (`python/…` in a layer).
    pub name: String,
    pub machine: Machine,
    /// The distribution whose files it is; `None` for the artifact's own file.
    pub dist: Option<String>,
}

impl Native {
    /// `pkg/_speed.so (distribution fastc)` or `pkg/_speed.so (the artifact's own file)`.
    pub fn describe(&self) -> String {
        match &self.dist {
            Some(d) => format!("{} (distribution {d})", self.name),
            None => format!(
                "{} (not from an installed distribution: the artifact's own file)",
                self.name
            ),
        }
    }
}

/// A shared library's name: `x.so`, `x.cpython-313-x86_64-linux-gnu.so`, `libz.so.1.2.13`.
pub fn is_native(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.ends_with(".so")
        || base.split_once(".so.").is_some_and(|(_, v)| {
            !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
}

/// The machine an ELF header names; `NotElf` for anything else.
pub fn machine(header: &[u8]) -> Machine {
    if header.len() < 20 || &header[..4] != b"\x7fELF" {
        return Machine::NotElf;
    }
    // EI_DATA: 1 little-endian, 2 big-endian.
    let m = match header[5] {
        2 => u16::from_be_bytes([header[18], header[19]]),
        _ => u16::from_le_bytes([header[18], header[19]]),
    };
    match m {
        EM_X86_64 => Machine::Lambda(Arch::X86_64),
        EM_AARCH64 => Machine::Lambda(Arch::Arm64),
        other => Machine::Other(other),
    }
}

/// Every native library in the zip at `path`, in the zip's order.
pub fn scan(path: &Path) -> Result<Vec<Native>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a readable zip", path.display()))?;
    let names: Vec<String> = zip.file_names().map(str::to_string).collect();
    let owners = Owners::read(&mut zip, &names);
    let mut out = Vec::new();
    for name in names.iter().filter(|n| is_native(n)) {
        let mut header = Vec::with_capacity(20);
        zip.by_name(name)
            .and_then(|f| Ok(f.take(20).read_to_end(&mut header)?))
            .with_context(|| format!("cannot read {name} in {}", path.display()))?;
        out.push(Native {
            name: name.clone(),
            machine: machine(&header),
            dist: owners.of(name),
        });
    }
    Ok(out)
}

/// Which distribution owns a path, from the zip's `*.dist-info`: its `RECORD` when shipped,
/// its `top_level.txt`, else a top-level directory named like it (`numpy/`, `numpy.libs/`).
struct Owners {
    /// Zip prefix (`""` or `python/`) + top-level name → distribution.
    top: HashMap<String, String>,
    /// Exact paths listed in a `RECORD` → distribution.
    recorded: HashMap<String, String>,
    /// (prefix, normalized name, distribution) of each dist-info.
    dists: Vec<(String, String, String)>,
}

impl Owners {
    fn read<R: std::io::Read + std::io::Seek>(
        zip: &mut zip::ZipArchive<R>,
        names: &[String],
    ) -> Owners {
        let mut o = Owners {
            top: HashMap::new(),
            recorded: HashMap::new(),
            dists: Vec::new(),
        };
        let text = |zip: &mut zip::ZipArchive<R>, name: &str| {
            let mut s = String::new();
            zip.by_name(name).ok()?.read_to_string(&mut s).ok()?;
            Some(s)
        };
        for n in names {
            let (prefix, rest) = match n.strip_prefix("python/") {
                Some(r) => ("python/", r),
                None => ("", n.as_str()),
            };
            let Some((dir, "METADATA")) = rest.split_once('/') else {
                continue;
            };
            let Some(stem) = dir.strip_suffix(".dist-info") else {
                continue;
            };
            let dist = stem.split('-').next().unwrap_or(stem).to_string();
            o.dists
                .push((prefix.to_string(), normalize(&dist), dist.clone()));
            if let Some(t) = text(zip, &format!("{prefix}{dir}/top_level.txt")) {
                for l in t.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    o.top.insert(format!("{prefix}{l}"), dist.clone());
                }
            }
            if let Some(t) = text(zip, &format!("{prefix}{dir}/RECORD")) {
                for p in t.lines().filter_map(|l| l.split(',').next()) {
                    o.recorded.insert(format!("{prefix}{p}"), dist.clone());
                }
            }
        }
        o
    }

    fn of(&self, name: &str) -> Option<String> {
        if let Some(d) = self.recorded.get(name) {
            return Some(d.clone());
        }
        self.dists.iter().find_map(|(prefix, norm, dist)| {
            let rest = name.strip_prefix(prefix.as_str())?;
            let top = rest.split('/').next().unwrap_or(rest);
            // A module at the root (`_cffi_backend.cpython-313-….so`) is named up to its first dot.
            let stem = top.split('.').next().unwrap_or(top);
            let named = [top, stem, top.trim_end_matches(".libs")].iter().any(|t| {
                self.top.get(&format!("{prefix}{t}")) == Some(dist) || normalize(t) == *norm
            });
            named.then(|| dist.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The first 20 bytes of a little-endian ELF shared object for `machine`.
    pub fn elf(machine: u16) -> Vec<u8> {
        let mut h = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0".to_vec();
        h.extend(machine.to_le_bytes());
        h.extend([1, 0, 0, 0]);
        h
    }

    #[test]
    fn reads_e_machine() {
        assert_eq!(machine(&elf(0x3E)), Machine::Lambda(Arch::X86_64));
        assert_eq!(machine(&elf(0xB7)), Machine::Lambda(Arch::Arm64));
        assert_eq!(machine(&elf(3)), Machine::Other(3));
        assert_eq!(machine(b"\xcf\xfa\xed\xfe macho"), Machine::NotElf);
        assert_eq!(machine(b"\x7fELF fake"), Machine::NotElf);
        assert!(is_native("a/b.cpython-313-x86_64-linux-gnu.so"));
        assert!(is_native("numpy.libs/libgfortran.so.5.0.0"));
        assert!(!is_native("a/so.py"));
        assert!(!is_native("a/x.so.py"));
    }

    #[test]
    fn names_the_distribution_of_each_library() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("f.zip");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        let files: Vec<(&str, Vec<u8>)> = vec![
            ("fastc-0.1.dist-info/METADATA", b"Name: fastc\n".to_vec()),
            ("fastc-0.1.dist-info/top_level.txt", b"fastc\n".to_vec()),
            ("fastc/_speed.so", elf(0x3E)),
            ("Pillow-11.0.dist-info/METADATA", b"Name: Pillow\n".to_vec()),
            ("pillow.libs/libz.so.1.3", elf(0xB7)),
            ("own/_mine.so", b"\xcf\xfa\xed\xfe".to_vec()),
        ];
        for (n, c) in files {
            z.start_file(n, o).unwrap();
            z.write_all(&c).unwrap();
        }
        z.finish().unwrap();
        let found: Vec<_> = scan(&path)
            .unwrap()
            .into_iter()
            .map(|n| (n.name, n.machine, n.dist))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "fastc/_speed.so".into(),
                    Machine::Lambda(Arch::X86_64),
                    Some("fastc".into())
                ),
                (
                    "pillow.libs/libz.so.1.3".into(),
                    Machine::Lambda(Arch::Arm64),
                    Some("Pillow".into())
                ),
                ("own/_mine.so".into(), Machine::NotElf, None),
            ]
        );
    }
}
