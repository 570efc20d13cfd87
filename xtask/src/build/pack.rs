//! A dependency set compressed once: `.xtask/deps/<key>.deflated-1.zip` holds every file of
//! the installed tree `<key>/`, deflated as an artifact's entries are, and every zip that ships
//! them copies those bytes as they are. An edit then deflates only the artifact's own files.
//!
//! The format's version is in the file name: a pack of another layout is never read, and
//! `clean` (or a reinstall of the tree) removes it.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::zipw::{self, Body, Item};
use super::{deps_cache, select};

/// Bump when the pack's layout or its deflate changes.
const FORMAT: &str = "deflated-1";

/// Where one file's deflated bytes are in the pack.
pub struct Slot {
    pub offset: u64,
    pub csize: u32,
    pub size: u32,
    pub crc: u32,
}

pub struct Pack {
    path: PathBuf,
    file: File,
    tree: PathBuf,
    slots: HashMap<String, Slot>,
}

/// The pack beside the tree `deps/<key>`.
pub fn path_for(tree: &Path) -> PathBuf {
    let mut name = tree.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{FORMAT}.zip"));
    tree.with_file_name(name)
}

/// Removes the pack of a tree about to be replaced.
pub fn remove(tree: &Path) -> Result<()> {
    match std::fs::remove_file(path_for(tree)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path_for(tree).display()))
        }
        _ => Ok(()),
    }
}

impl Pack {
    /// The tree's pack, made now if it is missing or unreadable.
    pub fn open_or_make(tree: &Path) -> Result<Pack> {
        let path = path_for(tree);
        if path.is_file() {
            match Pack::open(tree, &path) {
                Ok(p) => return Ok(p),
                Err(e) => crate::ui::warn(&format!("{e:#}; compressing it again")),
            }
        }
        make(tree, &path)?;
        Pack::open(tree, &path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// The deflated bytes of `source`, a file of the tree, when the pack has them for a file
    /// of `len` bytes (a tree edited by hand since is deflated afresh: same bytes either way).
    pub fn slot(&self, source: &Path, len: u64) -> Option<&Slot> {
        let rel = source.strip_prefix(&self.tree).ok()?.to_str()?;
        self.slots.get(rel).filter(|s| u64::from(s.size) == len)
    }

    fn open(tree: &Path, path: &Path) -> Result<Pack> {
        let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let slots = index(&file)
            .with_context(|| format!("dependency pack {} is damaged", path.display()))?;
        Ok(Pack {
            path: path.to_path_buf(),
            file,
            tree: tree.to_path_buf(),
            slots,
        })
    }
}

/// Deflates every file of the tree, in parallel, into the pack (atomically).
fn make(tree: &Path, path: &Path) -> Result<()> {
    let entries = select::installed(tree, "")?;
    let items: Vec<Item> = entries
        .iter()
        .map(|e| Item {
            name: &e.name,
            executable: e.executable,
            body: Body::File(&e.source),
        })
        .collect();
    let dir = path.parent().context("pack path has no parent directory")?;
    // Named like the installers' temporary trees: an interrupted build's is swept the same way.
    let tmp = tempfile::Builder::new()
        .prefix(deps_cache::TMP_PREFIX)
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    zipw::write(std::io::BufWriter::new(tmp.as_file()), &items).map_err(|f| f.into_error(path))?;
    tmp.persist(path)
        .with_context(|| format!("cannot store {}", path.display()))?;
    Ok(())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Each entry's slot, from the central directory zipw wrote (no comment, no extra fields).
fn index(file: &File) -> Result<HashMap<String, Slot>> {
    let len = file.metadata()?.len();
    if len < 22 {
        bail!("it is {len} bytes, shorter than a zip's end record");
    }
    let mut end = [0u8; 22];
    file.read_exact_at(&mut end, len - 22)?;
    if u32_at(&end, 0) != 0x0605_4b50 {
        bail!("it does not end with a zip's end record");
    }
    let count = usize::from(u16_at(&end, 10));
    let (cd_size, cd_at) = (u64::from(u32_at(&end, 12)), u64::from(u32_at(&end, 16)));
    if cd_at + cd_size + 22 != len {
        bail!("its central directory does not end where the file does");
    }
    let mut cd = vec![0u8; cd_size as usize];
    file.read_exact_at(&mut cd, cd_at)?;
    let mut slots = HashMap::with_capacity(count);
    let mut at = 0usize;
    for _ in 0..count {
        if at + 46 > cd.len() || u32_at(&cd, at) != 0x0201_4b50 {
            bail!("its central directory is cut short");
        }
        let name_len = usize::from(u16_at(&cd, at + 28));
        let skip = usize::from(u16_at(&cd, at + 30)) + usize::from(u16_at(&cd, at + 32));
        let name = cd
            .get(at + 46..at + 46 + name_len)
            .context("its central directory is cut short")?;
        let name = String::from_utf8(name.to_vec()).context("a name is not UTF-8")?;
        let header = u64::from(u32_at(&cd, at + 42));
        let slot = Slot {
            offset: header + 30 + name_len as u64,
            crc: u32_at(&cd, at + 16),
            csize: u32_at(&cd, at + 20),
            size: u32_at(&cd, at + 24),
        };
        if slot.offset + u64::from(slot.csize) > cd_at {
            bail!("{name} runs past the central directory");
        }
        slots.insert(name, slot);
        at += 46 + name_len + skip;
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{self, Entry};

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let tree = t.path().join("key");
        std::fs::create_dir_all(tree.join("pkg")).unwrap();
        std::fs::write(tree.join("pkg/__init__.py"), "A = 1\n".repeat(500)).unwrap();
        std::fs::write(tree.join("six.py"), "import sys\n").unwrap();
        (t, tree)
    }

    fn entries(tree: &Path, code: &Path) -> Vec<Entry> {
        let mut e = select::installed(tree, "python/").unwrap();
        e.push(Entry {
            name: "python/mine.py".into(),
            source: code.to_path_buf(),
            executable: false,
        });
        e
    }

    #[test]
    fn copied_entries_give_the_bytes_deflating_gives() {
        let (t, tree) = tree();
        let code = t.path().join("mine.py");
        std::fs::write(&code, "print(1)\n").unwrap();
        let pack = Pack::open_or_make(&tree).unwrap();
        assert!(path_for(&tree).ends_with("key.deflated-1.zip"));
        assert!(pack.slot(&tree.join("six.py"), 11).is_some());
        let out = t.path().join("out/l.zip");
        let copied = archive::write(&out, entries(&tree, &code), Some(&pack)).unwrap();
        let fresh = archive::write(&out, entries(&tree, &code), None).unwrap();
        assert_eq!(copied.sha256_base64, fresh.sha256_base64);
        assert_eq!(copied.unzipped_bytes, fresh.unzipped_bytes);
    }

    #[test]
    fn a_pack_entry_of_another_size_is_deflated_afresh() {
        let (t, tree) = tree();
        let code = t.path().join("mine.py");
        std::fs::write(&code, "print(1)\n").unwrap();
        let pack = Pack::open_or_make(&tree).unwrap();
        std::fs::write(tree.join("six.py"), "import sys, os\n").unwrap();
        assert!(pack.slot(&tree.join("six.py"), 15).is_none());
        let out = t.path().join("out/l.zip");
        let w = archive::write(&out, entries(&tree, &code), Some(&pack)).unwrap();
        let mut z = zip::ZipArchive::new(File::open(w.file.path()).unwrap()).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut z.by_name("python/six.py").unwrap(), &mut s).unwrap();
        assert_eq!(s, "import sys, os\n");
    }

    #[test]
    fn a_damaged_pack_is_made_again() {
        let (_t, tree) = tree();
        Pack::open_or_make(&tree).unwrap();
        let good = std::fs::read(path_for(&tree)).unwrap();
        std::fs::write(path_for(&tree), &good[..good.len() - 5]).unwrap();
        let err = Pack::open(&tree, &path_for(&tree)).err().unwrap();
        assert!(format!("{err:#}").contains("is damaged"), "{err:#}");
        Pack::open_or_make(&tree).unwrap();
        assert_eq!(std::fs::read(path_for(&tree)).unwrap(), good);
    }
}
