//! The zip writer behind every artifact: entries are either deflated here (the artifact's own
//! files) or copied as they are from a dependency pack (deflated once per dependency key), in
//! the order given. Deflating runs on every core, ahead of the writer by a bounded window, and
//! the bytes are the same whichever way an entry came: one deflate (flate2, level 6, fed in
//! 64 KiB chunks), one header layout (the zip crate's, as earlier xtasks wrote it).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use flate2::write::DeflateEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use super::pack::{Pack, Slot};
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

pub struct Summary {
    pub unzipped: u64,
    pub sha256: [u8; 32],
}

/// Deflated bytes held in memory by workers ahead of the writer, per zip. Entries past the
/// window wait; the next entry to be written never does.
const WINDOW: u64 = 8 << 20;
/// A file this big is deflated into an anonymous temporary file, not memory.
const SPILL: u64 = 8 << 20;
/// Below this much to deflate, threads cost more than they save.
const PARALLEL_FROM: u64 = 1 << 20;
const CHUNK: usize = 1 << 16;

struct Deflated {
    crc: u32,
    size: u64,
    csize: u64,
    data: Data,
}

enum Data {
    Mem(Vec<u8>),
    Spill(File),
}

/// Deflates one file the way every entry is deflated (also the packs': same bytes either way).
fn deflate(path: &Path) -> Result<Deflated, Fault> {
    let read_err = |e| Fault::Read(path.to_path_buf(), e);
    let mut src = File::open(path).map_err(read_err)?;
    let len = src.metadata().map_err(read_err)?.len();
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    let mut pump = |enc: &mut dyn Write| -> Result<(), Fault> {
        loop {
            let n = src.read(&mut buf).map_err(read_err)?;
            if n == 0 {
                return Ok(());
            }
            crc.update(&buf[..n]);
            enc.write_all(&buf[..n]).map_err(Fault::Write)?;
            size += n as u64;
        }
    };
    let data = if len > SPILL {
        let tmp = tempfile::tempfile().map_err(Fault::Write)?;
        let mut enc = DeflateEncoder::new(tmp, Compression::new(6));
        pump(&mut enc)?;
        let mut f = enc.finish().map_err(Fault::Write)?;
        f.seek(SeekFrom::Start(0)).map_err(Fault::Write)?;
        Data::Spill(f)
    } else {
        let mut enc =
            DeflateEncoder::new(Vec::with_capacity(len as usize / 2), Compression::new(6));
        pump(&mut enc)?;
        Data::Mem(enc.finish().map_err(Fault::Write)?)
    };
    let csize = match &data {
        Data::Mem(v) => v.len() as u64,
        Data::Spill(f) => f.metadata().map_err(Fault::Write)?.len(),
    };
    Ok(Deflated {
        crc: crc.finalize(),
        size,
        csize,
        data,
    })
}

/// Counts and hashes what goes to the file.
struct Out<W: Write> {
    inner: W,
    pos: u64,
    sha: Sha256,
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

fn flags(name: &str) -> u16 {
    // UTF-8 names are flagged as such (bit 11), as the zip crate does.
    if name.is_ascii() {
        0
    } else {
        1 << 11
    }
}

fn local_header(name: &str, crc: u32, csize: u32, size: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(30 + name.len());
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes()); // version needed: deflate
    h.extend_from_slice(&flags(name).to_le_bytes());
    h.extend_from_slice(&8u16.to_le_bytes()); // deflated
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
        cd.extend_from_slice(&0x0314u16.to_le_bytes()); // made by: Unix, 2.0
        cd.extend_from_slice(&20u16.to_le_bytes());
        let utf8 = if e.name.is_ascii() { 0u16 } else { 1 << 11 };
        cd.extend_from_slice(&utf8.to_le_bytes());
        cd.extend_from_slice(&8u16.to_le_bytes());
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

/// What workers share with the writer: results by index, and the window's accounting.
struct Shared {
    slots: Vec<Mutex<Option<Result<Deflated, Fault>>>>,
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

fn worker(items: &[Item], sh: &Shared) {
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
        let r = deflate(path);
        // Stored under the window's lock: the writer checks its slot under it before waiting.
        let w = sh.window.lock().expect("no panics");
        *sh.slots[i].lock().expect("no panics") = Some(r);
        drop(w);
        sh.moved.notify_all();
    }
}

/// Writes `items` as a zip, in order, to `out`; the unzipped size and the zip's SHA-256.
pub fn write<W: Write>(out: W, items: &[Item]) -> Result<Summary, Fault> {
    let to_deflate: u64 = items.iter().map(cost).sum();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let threads = if to_deflate >= PARALLEL_FROM {
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
    let mut out = Out {
        inner: out,
        pos: 0,
        sha: Sha256::new(),
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| worker(items, &sh));
        }
        let r = write_in_order(&mut out, items, &sh, threads > 0);
        sh.stop.store(true, Ordering::SeqCst);
        // Taken under the lock, so no worker misses the wake-up between its check and its wait.
        drop(sh.window.lock().expect("no panics"));
        sh.moved.notify_all();
        r
    })
    .and_then(|unzipped| {
        out.inner.flush().map_err(Fault::Write)?;
        Ok(Summary {
            unzipped,
            sha256: out.sha.finalize().into(),
        })
    })
}

fn write_in_order<W: Write>(
    out: &mut Out<W>,
    items: &[Item],
    sh: &Shared,
    threaded: bool,
) -> Result<u64, Fault> {
    let mut central = Vec::with_capacity(items.len());
    let mut unzipped = 0u64;
    let mut buf = vec![0u8; CHUNK];
    for (i, item) in items.iter().enumerate() {
        let offset = fits(out.pos, "the zip")?;
        let mode = if item.executable { 0o755 } else { 0o644 };
        let (crc, size, csize) = match item.body {
            Body::Packed(pack, slot) => {
                let h = local_header(item.name, slot.crc, slot.csize, slot.size);
                out.put(&h)?;
                let mut at = slot.offset;
                let end = slot.offset + u64::from(slot.csize);
                while at < end {
                    let n = ((end - at) as usize).min(CHUNK);
                    let read_err = |e| Fault::Read(pack.path().to_path_buf(), e);
                    pack.file()
                        .read_exact_at(&mut buf[..n], at)
                        .map_err(read_err)?;
                    out.put(&buf[..n])?;
                    at += n as u64;
                }
                (slot.crc, u64::from(slot.size), u64::from(slot.csize))
            }
            Body::File(path) => {
                let d = if threaded {
                    take(sh, i)?
                } else {
                    deflate(path)?
                };
                let (size, csize) = (fits(d.size, item.name)?, fits(d.csize, item.name)?);
                out.put(&local_header(item.name, d.crc, csize, size))?;
                match d.data {
                    Data::Mem(v) => out.put(&v)?,
                    Data::Spill(mut f) => loop {
                        let n = f.read(&mut buf).map_err(Fault::Write)?;
                        if n == 0 {
                            break;
                        }
                        out.put(&buf[..n])?;
                    },
                }
                if threaded {
                    let mut w = sh.window.lock().expect("no panics");
                    w.1 -= cost(item).min(w.1);
                }
                (d.crc, d.size, d.csize)
            }
        };
        if threaded {
            sh.window.lock().expect("no panics").0 = i + 1;
            sh.moved.notify_all();
        }
        unzipped += size;
        central.push(Central {
            name: item.name.as_bytes().to_vec(),
            crc,
            csize: fits(csize, item.name)?,
            size: fits(size, item.name)?,
            mode,
            offset,
        });
    }
    let cd = central_directory(&central, out.pos)?;
    out.put(&cd)?;
    Ok(unzipped)
}

/// Waits for a worker to finish entry `i`.
fn take(sh: &Shared, i: usize) -> Result<Deflated, Fault> {
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
    use super::*;
    use std::io::BufWriter;

    /// What the zip crate writes for the same files: the layout earlier xtasks shipped.
    fn by_zip_crate(files: &[(&str, &Path, bool)]) -> Vec<u8> {
        use zip::write::SimpleFileOptions;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let base = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(zip::DateTime::default());
        for (name, path, x) in files {
            let mode = if *x { 0o755 } else { 0o644 };
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

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Half text, half noise: deflate has work to do in both.
                if (i / 4096) % 2 == 0 {
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
        let files: Vec<(&str, usize, bool)> = vec![
            ("a/empty.py", 0, false),
            ("b/small.py", 100, false),
            ("c/run.sh", 5000, true),
            ("d/big.so", SPILL as usize + 70_000, false),
            ("e/mid.bin", 300_000, false),
            ("f/naïve.txt", 10, false),
        ];
        let mut on_disk = Vec::new();
        for (i, (name, len, x)) in files.iter().enumerate() {
            let p = d.path().join(format!("f{i}"));
            std::fs::write(&p, noise(*len, i as u64)).unwrap();
            on_disk.push((*name, p, *x));
        }
        let refs: Vec<(&str, &Path, bool)> = on_disk
            .iter()
            .map(|(n, p, x)| (*n, p.as_path(), *x))
            .collect();
        let want = by_zip_crate(&refs);
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
        let s = write(BufWriter::new(&mut got), &items(refs.len())).unwrap();
        assert!(got == want, "the zips differ");
        assert_eq!(s.sha256, <[u8; 32]>::from(Sha256::digest(&want)));
        // Small: serial.
        let want = by_zip_crate(&refs[..3]);
        let mut got = Vec::new();
        write(BufWriter::new(&mut got), &items(3)).unwrap();
        assert!(got == want, "the small zips differ");
    }
}
