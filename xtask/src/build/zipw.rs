//! The zip writer behind every artifact: entries are either compressed here (the artifact's own
//! files) or copied as they are from a dependency pack (compressed once per dependency key), in
//! the order given. Compressing runs on every core, ahead of the writer by a bounded window, and
//! the bytes are the same whichever way an entry came: one rule by content (`compress`) and one
//! header layout (the zip crate's).

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use super::compress::{compress, Compressed, Data, CHUNK, SPILL};
pub use super::compress::{DEFLATED, STORED};
use super::pack::{Contents, Pack, Slot};
use super::prefix::{self, Hasher, Memo};
use crate::archive::Fault;

/// Where an entry's bytes come from.
pub enum Body<'a> {
    File(&'a Path),
    Packed(&'a Pack, &'a Slot),
}

pub struct Item<'a> {
    pub name: &'a str,
    pub executable: bool,
    pub body: Body<'a>,
}

#[derive(Default)]
pub struct Options<'a> {
    /// Making a pack: content an earlier pack deflated is copied from it, found by its digest.
    pub contents: Option<&'a Contents>,
    /// The leading packed entries are already at the start of the output (copied from the
    /// previous zip, see `prefix`), and this is the hasher after them.
    pub resumed: Option<Hasher>,
}

pub struct Summary {
    pub unzipped: u64,
    pub sha256: [u8; 32],
    /// The leading packed entries' bytes and the hash state after them, when there are any.
    pub prefix: Option<Memo>,
    /// The SHA-256 of each entry deflated here from its file's content, by item index (with
    /// `Options::contents` only).
    pub deflated: Vec<(usize, [u8; 32])>,
}

/// Compressed bytes held in memory by workers ahead of the writer, per zip. Entries past the
/// window wait; the next entry to be written never does.
const WINDOW: u64 = 8 << 20;
/// Below this much to compress, threads cost more than they save.
const PARALLEL_FROM: u64 = 1 << 20;
/// Counts and hashes what goes to the file.
struct Out<W: Write> {
    inner: W,
    pos: u64,
    sha: Hasher,
}

impl<W: Write> Out<W> {
    fn put(&mut self, b: &[u8]) -> Result<(), Fault> {
        self.inner.write_all(b).map_err(Fault::Write)?;
        self.sha.update(b);
        self.pos += b.len() as u64;
        Ok(())
    }
}

struct Central {
    name: Vec<u8>,
    method: u16,
    crc: u32,
    csize: u32,
    size: u32,
    mode: u32,
    offset: u32,
}

/// The zip format's 32-bit fields; Lambda's limits are far below them.
fn fits(v: u64, what: &str) -> Result<u32, Fault> {
    u32::try_from(v).map_err(|_| {
        Fault::Write(std::io::Error::other(format!(
            "{what} is over 4 GiB, beyond a zip without zip64 (and Lambda's limits)"
        )))
    })
}

fn flags(name: &[u8]) -> u16 {
    // UTF-8 names are flagged as such (bit 11), as the zip crate does.
    if name.is_ascii() {
        0
    } else {
        1 << 11
    }
}

/// The version needed to extract: 1.0 for a stored entry, 2.0 for deflate (the zip crate's).
fn version(method: u16) -> u16 {
    if method == STORED {
        10
    } else {
        20
    }
}

fn local_header(name: &str, method: u16, crc: u32, csize: u32, size: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(30 + name.len());
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&version(method).to_le_bytes());
    h.extend_from_slice(&flags(name.as_bytes()).to_le_bytes());
    h.extend_from_slice(&method.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes()); // 00:00:00
    h.extend_from_slice(&0x21u16.to_le_bytes()); // 1980-01-01
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(&csize.to_le_bytes());
    h.extend_from_slice(&size.to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(name.as_bytes());
    h
}

fn central_directory(entries: &[Central], start: u64) -> Result<Vec<u8>, Fault> {
    let mut cd = Vec::new();
    for e in entries {
        cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        cd.extend_from_slice(&(0x0300 | version(e.method)).to_le_bytes()); // made by: Unix
        cd.extend_from_slice(&version(e.method).to_le_bytes());
        cd.extend_from_slice(&flags(&e.name).to_le_bytes());
        cd.extend_from_slice(&e.method.to_le_bytes());
        cd.extend_from_slice(&0u16.to_le_bytes());
        cd.extend_from_slice(&0x21u16.to_le_bytes());
        cd.extend_from_slice(&e.crc.to_le_bytes());
        cd.extend_from_slice(&e.csize.to_le_bytes());
        cd.extend_from_slice(&e.size.to_le_bytes());
        cd.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0u8; 8]); // extra, comment, disk, internal attributes
        cd.extend_from_slice(&((0o100000 | e.mode) << 16).to_le_bytes());
        cd.extend_from_slice(&e.offset.to_le_bytes());
        cd.extend_from_slice(&e.name);
    }
    let count = u16::try_from(entries.len()).map_err(|_| {
        Fault::Write(std::io::Error::other(format!(
            "{} files is over the 65535 a zip without zip64 holds",
            entries.len()
        )))
    })?;
    let size = fits(cd.len() as u64, "the central directory")?;
    cd.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    cd.extend_from_slice(&[0u8; 4]);
    cd.extend_from_slice(&count.to_le_bytes());
    cd.extend_from_slice(&count.to_le_bytes());
    cd.extend_from_slice(&size.to_le_bytes());
    cd.extend_from_slice(&fits(start, "the zip")?.to_le_bytes());
    cd.extend_from_slice(&0u16.to_le_bytes());
    Ok(cd)
}

/// How many items lead with bytes copied from a pack.
fn leading_packed(items: &[Item]) -> usize {
    items
        .iter()
        .take_while(|i| matches!(i.body, Body::Packed(..)))
        .count()
}

/// What names the leading packed entries' bytes: the pack (by its stamp: a pack is written
/// once and renamed into place) and each entry's name, mode and slot.
pub fn prefix_id(items: &[Item]) -> Option<String> {
    let lead = &items[..leading_packed(items)];
    let Body::Packed(pack, _) = lead.first()?.body else {
        return None;
    };
    let parts = lead.iter().map(|i| match i.body {
        Body::Packed(p, s) => format!(
            "{}\0{}\0{}\0{}\0{}\0{}\0{}\0{}",
            p.stamp(),
            i.name,
            i.executable,
            s.offset,
            s.csize,
            s.size,
            s.crc,
            s.method
        ),
        Body::File(_) => unreachable!("only packed items lead"),
    });
    Some(prefix::id(
        std::iter::once(pack.stamp().to_string()).chain(parts),
    ))
}

/// What workers share with the writer: results by index, and the window's accounting.
struct Shared {
    slots: Vec<Mutex<Option<Result<Compressed, Fault>>>>,
    next: AtomicUsize,
    stop: AtomicBool,
    /// (entries written, bytes held by finished or running workers)
    window: Mutex<(usize, u64)>,
    moved: Condvar,
}

fn cost(item: &Item) -> u64 {
    match item.body {
        Body::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()).min(SPILL),
        Body::Packed(..) => 0,
    }
}

fn worker(items: &[Item], sh: &Shared, contents: Option<&Contents>) {
    loop {
        let i = sh.next.fetch_add(1, Ordering::SeqCst);
        if i >= items.len() || sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let Body::File(path) = items[i].body else {
            continue;
        };
        let c = cost(&items[i]);
        {
            let mut w = sh.window.lock().expect("no panics");
            while !(w.0 == i || w.1 + c <= WINDOW) {
                if sh.stop.load(Ordering::SeqCst) {
                    return;
                }
                w = sh.moved.wait(w).expect("no panics");
            }
            w.1 += c;
        }
        let r = compress(path, contents);
        // Stored under the window's lock: the writer checks its slot under it before waiting.
        let w = sh.window.lock().expect("no panics");
        *sh.slots[i].lock().expect("no panics") = Some(r);
        drop(w);
        sh.moved.notify_all();
    }
}

/// Writes `items` as a zip, in order, to `out`; the unzipped size and the zip's SHA-256.
pub fn write<W: Write>(out: W, items: &[Item], opts: Options) -> Result<Summary, Fault> {
    let to_compress: u64 = items.iter().map(cost).sum();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let threads = if to_compress >= PARALLEL_FROM {
        threads
    } else {
        0
    };
    let sh = Shared {
        slots: items.iter().map(|_| Mutex::new(None)).collect(),
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        window: Mutex::new((0, 0)),
        moved: Condvar::new(),
    };
    let resumed = opts.resumed.is_some();
    let mut out = Out {
        inner: out,
        pos: 0,
        sha: opts.resumed.unwrap_or_else(Hasher::new),
    };
    let contents = opts.contents;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| worker(items, &sh, contents));
        }
        let r = write_in_order(&mut out, items, &sh, threads > 0, resumed, contents);
        sh.stop.store(true, Ordering::SeqCst);
        // Taken under the lock, so no worker misses the wake-up between its check and its wait.
        drop(sh.window.lock().expect("no panics"));
        sh.moved.notify_all();
        r
    })
    .and_then(|(unzipped, prefix, deflated)| {
        out.inner.flush().map_err(Fault::Write)?;
        Ok(Summary {
            unzipped,
            sha256: out.sha.finalize(),
            prefix,
            deflated,
        })
    })
}

type Written = (u64, Option<Memo>, Vec<(usize, [u8; 32])>);

fn write_in_order<W: Write>(
    out: &mut Out<W>,
    items: &[Item],
    sh: &Shared,
    threaded: bool,
    resumed: bool,
    contents: Option<&Contents>,
) -> Result<Written, Fault> {
    let mut central = Vec::with_capacity(items.len());
    let mut unzipped = 0u64;
    let mut buf = vec![0u8; CHUNK];
    let lead = leading_packed(items);
    let id = prefix_id(items);
    let mut memo = None;
    let mut deflated = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if i == lead {
            memo = id.clone().map(|id| Memo::of(id, out.pos, &out.sha));
        }
        let offset = fits(out.pos, "the zip")?;
        let mode = if item.executable { 0o755 } else { 0o644 };
        let (method, crc, size, csize) = match item.body {
            Body::Packed(_, slot) if resumed && i < lead => {
                // Already in the output, copied from the previous zip.
                out.pos += 30 + item.name.len() as u64 + u64::from(slot.csize);
                (
                    slot.method,
                    slot.crc,
                    u64::from(slot.size),
                    u64::from(slot.csize),
                )
            }
            Body::Packed(pack, slot) => {
                let h = local_header(item.name, slot.method, slot.crc, slot.csize, slot.size);
                out.put(&h)?;
                copy_out(
                    out,
                    pack.file(),
                    pack.path(),
                    slot.offset,
                    slot.csize,
                    &mut buf,
                )?;
                (
                    slot.method,
                    slot.crc,
                    u64::from(slot.size),
                    u64::from(slot.csize),
                )
            }
            Body::File(path) => {
                let d = if threaded {
                    take(sh, i)?
                } else {
                    compress(path, contents)?
                };
                let (size, csize) = (fits(d.size, item.name)?, fits(d.csize, item.name)?);
                out.put(&local_header(item.name, d.method, d.crc, csize, size))?;
                match d.data {
                    Data::Mem(v) => out.put(&v)?,
                    Data::Spill(mut f) => loop {
                        let n = f.read(&mut buf).map_err(Fault::Write)?;
                        if n == 0 {
                            break;
                        }
                        out.put(&buf[..n])?;
                    },
                    Data::Copy(p, at) => copy_out(out, p.file(), p.path(), at, csize, &mut buf)?,
                }
                if threaded {
                    let mut w = sh.window.lock().expect("no panics");
                    w.1 -= cost(item).min(w.1);
                }
                if let Some(digest) = d.digest.filter(|_| d.method == DEFLATED) {
                    deflated.push((i, digest));
                }
                (d.method, d.crc, d.size, d.csize)
            }
        };
        if threaded {
            sh.window.lock().expect("no panics").0 = i + 1;
            sh.moved.notify_all();
        }
        unzipped += size;
        central.push(Central {
            name: item.name.as_bytes().to_vec(),
            method,
            crc,
            csize: fits(csize, item.name)?,
            size: fits(size, item.name)?,
            mode,
            offset,
        });
    }
    if lead == items.len() {
        memo = id.map(|id| Memo::of(id, out.pos, &out.sha));
    }
    let cd = central_directory(&central, out.pos)?;
    out.put(&cd)?;
    Ok((unzipped, memo, deflated))
}

/// Copies `len` bytes at `at` of another zip (a pack) to the output.
fn copy_out<W: Write>(
    out: &mut Out<W>,
    from: &File,
    path: &Path,
    mut at: u64,
    len: u32,
    buf: &mut [u8],
) -> Result<(), Fault> {
    let end = at + u64::from(len);
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        from.read_exact_at(&mut buf[..n], at)
            .map_err(|e| Fault::Read(path.to_path_buf(), e))?;
        out.put(&buf[..n])?;
        at += n as u64;
    }
    Ok(())
}

/// Waits for a worker to finish entry `i`.
fn take(sh: &Shared, i: usize) -> Result<Compressed, Fault> {
    let mut w = sh.window.lock().expect("no panics");
    loop {
        if let Some(r) = sh.slots[i].lock().expect("no panics").take() {
            return r;
        }
        w = sh.moved.wait(w).expect("no panics");
    }
}

#[cfg(test)]
mod tests {
    use super::super::compress::PROBE_FROM;
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::BufWriter;

    /// What the zip crate writes for the same files, stored or deflated at level 6 as the test
    /// says: the layout earlier xtasks shipped.
    fn by_zip_crate(files: &[(&str, &Path, bool)], stored: &[&str]) -> Vec<u8> {
        use zip::write::SimpleFileOptions;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let deflated = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(zip::DateTime::default());
        let kept = deflated
            .compression_method(zip::CompressionMethod::Stored)
            .compression_level(None);
        for (name, path, x) in files {
            let mode = if *x { 0o755 } else { 0o644 };
            let base = if stored.contains(name) {
                kept
            } else {
                deflated
            };
            zip.start_file(*name, base.unix_permissions(mode)).unwrap();
            let mut f = File::open(path).unwrap();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                zip.write_all(&buf[..n]).unwrap();
            }
        }
        zip.finish().unwrap().into_inner()
    }

    /// Half text, half noise (deflate has work to do in both); all noise with `seed` >= 100.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if seed < 100 && (i / 4096) % 2 == 0 {
                    b"import os\n"[i % 10]
                } else {
                    (x >> 56) as u8
                }
            })
            .collect()
    }

    #[test]
    fn same_bytes_as_the_zip_crate_serial_threaded_and_spilled() {
        let d = tempfile::tempdir().unwrap();
        // (name, length, executable, seed: >= 100 is all noise, stored when probed)
        let files: Vec<(&str, usize, bool, u64)> = vec![
            ("a/empty.py", 0, false, 0),
            ("b/small.py", 100, false, 1),
            ("c/run.sh", 5000, true, 2),
            ("d/big.so", SPILL as usize + 70_000, false, 3),
            ("e/mid.bin", 300_000, false, 4),
            ("f/naïve.txt", 10, false, 5),
            ("g/model.gz", 200_000, false, 106),
            ("h/blob.so", SPILL as usize + 5, false, 107),
            ("i/tiny.bin", PROBE_FROM as usize - 1, false, 108),
        ];
        let stored = ["g/model.gz", "h/blob.so"];
        let mut on_disk = Vec::new();
        for (i, (name, len, x, seed)) in files.iter().enumerate() {
            let p = d.path().join(format!("f{i}"));
            std::fs::write(&p, noise(*len, *seed)).unwrap();
            on_disk.push((*name, p, *x));
        }
        let refs: Vec<(&str, &Path, bool)> = on_disk
            .iter()
            .map(|(n, p, x)| (*n, p.as_path(), *x))
            .collect();
        let want = by_zip_crate(&refs, &stored);
        let items = |upto: usize| -> Vec<Item> {
            refs[..upto]
                .iter()
                .map(|(n, p, x)| Item {
                    name: n,
                    executable: *x,
                    body: Body::File(p),
                })
                .collect()
        };
        // Everything: over PARALLEL_FROM, threaded; one file over SPILL.
        let mut got = Vec::new();
        let s = write(
            BufWriter::new(&mut got),
            &items(refs.len()),
            Options::default(),
        )
        .unwrap();
        assert!(got == want, "the zips differ");
        assert_eq!(s.sha256, <[u8; 32]>::from(Sha256::digest(&want)));
        // Small: serial.
        let want = by_zip_crate(&refs[..3], &[]);
        let mut got = Vec::new();
        write(BufWriter::new(&mut got), &items(3), Options::default()).unwrap();
        assert!(got == want, "the small zips differ");
    }
}
