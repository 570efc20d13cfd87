//! A dependency set compressed once: `.xtask/deps/<key>.packed-2.zip` holds every file of the
//! installed tree `<key>/`, compressed as an artifact's entries are, and every zip that ships
//! them copies those bytes as they are. An edit then compresses only the artifact's own files.
//! Packs are made one at a time, each on every core, so a file another dependency set of this
//! build already deflated (the same botocore in four sets) is copied from that pack instead.
//!
//! The format's version is in the file name: a pack of another layout is never read, and
//! `clean`, a reinstall of the tree or the next build (for an older format) removes it.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};

use super::zipw::{self, Body, Item};
use super::{deps_cache, select};

/// Bump when the pack's layout or its compression changes.
const FORMAT: &str = "packed-2";
/// Packs of earlier formats, removed by the next build.
const OLD_FORMATS: [&str; 1] = ["deflated-1"];

/// Whether `name` in `.xtask/deps` is a pack of an earlier format.
pub fn is_old_format(name: &str) -> bool {
    OLD_FORMATS
        .iter()
        .any(|f| name.ends_with(&format!(".{f}.zip")))
}

/// Where one file's compressed bytes are in the pack.
#[derive(Clone)]
pub struct Slot {
    pub offset: u64,
    pub csize: u32,
    pub size: u32,
    pub crc: u32,
    /// Stored (0) or deflated (8).
    pub method: u16,
}

pub struct Pack {
    path: PathBuf,
    file: File,
    tree: PathBuf,
    slots: HashMap<String, Slot>,
    stamp: String,
}

/// Where a content's deflated bytes are: which pack, which slot.
type Found = (Arc<Pack>, Slot);

/// What this build's packs deflated, by the SHA-256 of the content, and the turn to make one.
#[derive(Default)]
pub struct Contents {
    known: Mutex<HashMap<[u8; 32], Found>>,
    making: Mutex<()>,
}

impl Contents {
    pub fn get(&self, digest: &[u8; 32], size: u64) -> Option<Found> {
        let known = self.known.lock().expect("no panics");
        let (pack, slot) = known.get(digest)?;
        (u64::from(slot.size) == size).then(|| (pack.clone(), slot.clone()))
    }
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
    pub fn open_or_make(tree: &Path, contents: &Contents) -> Result<Arc<Pack>> {
        let path = path_for(tree);
        if path.is_file() {
            match Pack::open(tree, &path) {
                Ok(p) => return Ok(Arc::new(p)),
                Err(e) => crate::ui::warn(&format!("{e:#}; compressing it again")),
            }
        }
        let _turn = contents.making.lock().expect("no panics");
        let deflated = make(tree, &path, contents)?;
        let pack = Arc::new(Pack::open(tree, &path)?);
        let mut known = contents.known.lock().expect("no panics");
        for (name, digest) in deflated {
            if let Some(slot) = pack.slots.get(&name) {
                known.insert(digest, (pack.clone(), slot.clone()));
            }
        }
        Ok(pack)
    }

    /// Names the pack's bytes: it is written once and renamed into place, so a pack made again
    /// has another inode and ctime.
    pub fn stamp(&self) -> &str {
        &self.stamp
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
        let m = file
            .metadata()
            .with_context(|| format!("cannot read {}", path.display()))?;
        let stamp = format!(
            "{FORMAT} {} {} {} {}.{} {}.{}",
            m.dev(),
            m.ino(),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        );
        Ok(Pack {
            path: path.to_path_buf(),
            file,
            tree: tree.to_path_buf(),
            slots,
            stamp,
        })
    }
}

/// Compresses every file of the tree, in parallel, into the pack (atomically); the names and
/// content digests of the files it deflated.
fn make(tree: &Path, path: &Path, contents: &Contents) -> Result<Vec<(String, [u8; 32])>> {
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
    let opts = zipw::Options {
        contents: Some(contents),
        resumed: None,
    };
    let summary = zipw::write(std::io::BufWriter::new(tmp.as_file()), &items, opts)
        .map_err(|f| f.into_error(path))?;
    tmp.persist(path)
        .with_context(|| format!("cannot store {}", path.display()))?;
    Ok(summary
        .deflated
        .into_iter()
        .map(|(i, d)| (items[i].name.to_string(), d))
        .collect())
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
        let method = u16_at(&cd, at + 10);
        if method != zipw::STORED && method != zipw::DEFLATED {
            bail!("{name} has compression method {method}, neither stored nor deflated");
        }
        let slot = Slot {
            method,
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
        let pack = Pack::open_or_make(&tree, &Contents::default()).unwrap();
        assert!(path_for(&tree).ends_with("key.packed-2.zip"));
        assert!(pack.slot(&tree.join("six.py"), 11).is_some());
        let out = t.path().join("out/l.zip");
        let with = |pack| Some(archive::Deps { tree: &tree, pack });
        let copied = archive::write(&out, entries(&tree, &code), with(Some(&pack)), None).unwrap();
        let fresh = archive::write(&out, entries(&tree, &code), with(None), None).unwrap();
        assert_eq!(copied.sha256_base64, fresh.sha256_base64);
        assert_eq!(copied.unzipped_bytes, fresh.unzipped_bytes);
    }

    #[test]
    fn a_pack_entry_of_another_size_is_deflated_afresh() {
        let (t, tree) = tree();
        let code = t.path().join("mine.py");
        std::fs::write(&code, "print(1)\n").unwrap();
        let pack = Pack::open_or_make(&tree, &Contents::default()).unwrap();
        std::fs::write(tree.join("six.py"), "import sys, os\n").unwrap();
        assert!(pack.slot(&tree.join("six.py"), 15).is_none());
        let out = t.path().join("out/l.zip");
        let deps = archive::Deps {
            tree: &tree,
            pack: Some(&pack),
        };
        let w = archive::write(&out, entries(&tree, &code), Some(deps), None).unwrap();
        let mut z = zip::ZipArchive::new(File::open(w.file.path()).unwrap()).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut z.by_name("python/six.py").unwrap(), &mut s).unwrap();
        assert_eq!(s, "import sys, os\n");
    }

    #[test]
    fn an_edit_copies_the_leading_dependency_bytes_and_hashes_as_a_full_write() {
        let (t, tree) = tree();
        let code = t.path().join("mine.py");
        std::fs::write(&code, "print(1)\n").unwrap();
        let pack = Pack::open_or_make(&tree, &Contents::default()).unwrap();
        let deps = Some(archive::Deps {
            tree: &tree,
            pack: Some(&pack),
        });
        let out = t.path().join("out/l.zip");
        let first = archive::write(&out, entries(&tree, &code), deps, None).unwrap();
        let memo = first.prefix.clone().expect("dependencies lead the zip");
        assert_eq!(first.copied, 0);
        first.file.persist(&out).unwrap();
        std::fs::write(&code, "print(2)\n").unwrap();
        let edit = archive::write(&out, entries(&tree, &code), deps, Some(&memo)).unwrap();
        assert_eq!(edit.copied, memo.len);
        assert_eq!(edit.prefix, Some(memo.clone()));
        let whole = archive::write(&out, entries(&tree, &code), deps, None).unwrap();
        assert_eq!(edit.sha256_base64, whole.sha256_base64);
        assert!(
            std::fs::read(edit.file.path()).unwrap() == std::fs::read(whole.file.path()).unwrap()
        );
        // The dependencies lead, the artifact's own file is last.
        let z = zip::ZipArchive::new(File::open(edit.file.path()).unwrap()).unwrap();
        let names: Vec<&str> = z.file_names().collect();
        assert_eq!(names.last(), Some(&"python/mine.py"), "{names:?}");
        // Another pack (made again: another inode) names other bytes: written whole.
        drop(pack);
        std::fs::remove_file(path_for(&tree)).unwrap();
        let again = Pack::open_or_make(&tree, &Contents::default()).unwrap();
        let deps = Some(archive::Deps {
            tree: &tree,
            pack: Some(&again),
        });
        let w = archive::write(&out, entries(&tree, &code), deps, Some(&memo)).unwrap();
        assert_eq!((w.copied, &w.sha256_base64), (0, &whole.sha256_base64));
    }

    #[test]
    fn content_another_pack_deflated_is_copied_from_it_with_the_same_bytes() {
        let (t, tree) = tree();
        let other = t.path().join("other");
        std::fs::create_dir_all(other.join("pkg")).unwrap();
        std::fs::copy(tree.join("pkg/__init__.py"), other.join("pkg/__init__.py")).unwrap();
        let contents = Contents::default();
        let first = Pack::open_or_make(&tree, &contents).unwrap();
        let second = Pack::open_or_make(&other, &contents).unwrap();
        let slot = second.slot(&other.join("pkg/__init__.py"), 3000).unwrap();
        let alone = Pack::open_or_make(&tree, &Contents::default()).unwrap();
        assert_eq!(
            slot.csize,
            alone
                .slot(&tree.join("pkg/__init__.py"), 3000)
                .unwrap()
                .csize
        );
        let bytes = |p: &Pack, s: &Slot| {
            let mut b = vec![0u8; s.csize as usize];
            p.file().read_exact_at(&mut b, s.offset).unwrap();
            b
        };
        let mine = first.slot(&tree.join("pkg/__init__.py"), 3000).unwrap();
        assert_eq!(bytes(&second, slot), bytes(&first, mine));
        // Copied, not deflated again: what is known still points at the first pack.
        let known = contents.known.lock().unwrap();
        assert_eq!(known.len(), 2, "six.py and pkg/__init__.py");
        assert!(known.values().all(|(p, _)| p.path() == path_for(&tree)));
    }

    #[test]
    fn a_damaged_pack_is_made_again() {
        let (_t, tree) = tree();
        Pack::open_or_make(&tree, &Contents::default()).unwrap();
        let good = std::fs::read(path_for(&tree)).unwrap();
        std::fs::write(path_for(&tree), &good[..good.len() - 5]).unwrap();
        let err = Pack::open(&tree, &path_for(&tree)).err().unwrap();
        assert!(format!("{err:#}").contains("is damaged"), "{err:#}");
        Pack::open_or_make(&tree, &Contents::default()).unwrap();
        assert_eq!(std::fs::read(path_for(&tree)).unwrap(), good);
    }
}
