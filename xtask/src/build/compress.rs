//! How one file becomes an entry's bytes, the same way for every zip and pack: stored when the
//! first 64 KiB do not shrink by 3 % at deflate's fastest level (compressed wheels, `.gz` models,
//! random blobs), else deflated at level 6, fed in 64 KiB chunks. Run by `zipw`'s workers.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use flate2::write::DeflateEncoder;
use flate2::{Compress, Compression, FlushCompress, Status};
use sha2::{Digest, Sha256};

use super::pack::{Contents, Pack};
use crate::archive::Fault;

/// A file this big is compressed into an anonymous temporary file, not memory.
pub(super) const SPILL: u64 = 8 << 20;
pub(super) const CHUNK: usize = 1 << 16;
/// Smaller files are always deflated: the probe would cost more than it saves.
pub(super) const PROBE_FROM: u64 = 8 << 10;
pub const STORED: u16 = 0;
pub const DEFLATED: u16 = 8;

pub(super) struct Compressed {
    pub crc: u32,
    pub size: u64,
    pub csize: u64,
    pub method: u16,
    pub data: Data,
    pub digest: Option<[u8; 32]>,
}

pub(super) enum Data {
    Mem(Vec<u8>),
    Spill(File),
    /// Already deflated in an earlier pack, at this offset.
    Copy(Arc<Pack>, u64),
}

/// Whether deflating `head` (a file's first 64 KiB) at level 1 saves at least 3 %.
fn pays(head: &[u8]) -> bool {
    let mut c = Compress::new(Compression::fast(), false);
    let mut out = Vec::with_capacity(head.len() * 97 / 100);
    matches!(
        c.compress_vec(head, &mut out, FlushCompress::Finish),
        Ok(Status::StreamEnd)
    )
}

/// Feeds `f` the file's bytes in 64 KiB chunks (the first one already read into `head`).
fn each_chunk(
    src: &File,
    path: &Path,
    head: &[u8],
    mut f: impl FnMut(&[u8]) -> Result<(), Fault>,
) -> Result<u64, Fault> {
    let read_err = |e| Fault::Read(path.to_path_buf(), e);
    f(head)?;
    let mut at = head.len() as u64;
    if head.len() < CHUNK {
        return Ok(at);
    }
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = src.read_at(&mut buf, at).map_err(read_err)?;
        if n == 0 {
            return Ok(at);
        }
        f(&buf[..n])?;
        at += n as u64;
    }
}

/// Compresses one file the way every entry is (also the packs': same bytes either way).
pub(super) fn compress(path: &Path, contents: Option<&Contents>) -> Result<Compressed, Fault> {
    let read_err = |e| Fault::Read(path.to_path_buf(), e);
    let src = File::open(path).map_err(read_err)?;
    let len = src.metadata().map_err(read_err)?.len();
    let mut head = vec![0u8; len.min(CHUNK as u64) as usize];
    let mut got = 0;
    while got < head.len() {
        match src
            .read_at(&mut head[got..], got as u64)
            .map_err(read_err)?
        {
            0 => break,
            n => got += n,
        }
    }
    head.truncate(got);
    let method = if len >= PROBE_FROM && !pays(&head) {
        STORED
    } else {
        DEFLATED
    };
    let mut digest = None;
    if let (Some(c), DEFLATED) = (contents, method) {
        let mut h = Sha256::new();
        let size = each_chunk(&src, path, &head, |b| {
            h.update(b);
            Ok(())
        })?;
        let d: [u8; 32] = h.finalize().into();
        if let Some((pack, slot)) = c.get(&d, size) {
            return Ok(Compressed {
                crc: slot.crc,
                size,
                csize: u64::from(slot.csize),
                method: slot.method,
                data: Data::Copy(pack, slot.offset),
                digest: None,
            });
        }
        digest = Some(d);
    }
    let mut crc = crc32fast::Hasher::new();
    let mut sink = Sink::new(method, len > SPILL).map_err(Fault::Write)?;
    let size = each_chunk(&src, path, &head, |b| {
        crc.update(b);
        sink.put(b).map_err(Fault::Write)
    })?;
    let data = sink.finish().map_err(Fault::Write)?;
    let csize = match &data {
        Data::Mem(v) => v.len() as u64,
        Data::Spill(f) => f.metadata().map_err(Fault::Write)?.len(),
        Data::Copy(..) => unreachable!("a sink never copies"),
    };
    Ok(Compressed {
        crc: crc.finalize(),
        size,
        csize,
        method,
        data,
        digest,
    })
}

/// Where a worker puts an entry's bytes: memory, or a temporary file for a big one.
enum Sink {
    Mem(Vec<u8>),
    Spill(File),
    DeflateMem(DeflateEncoder<Vec<u8>>),
    DeflateSpill(DeflateEncoder<File>),
}

impl Sink {
    fn new(method: u16, spill: bool) -> std::io::Result<Sink> {
        let level = Compression::new(6);
        Ok(match (method, spill) {
            (STORED, false) => Sink::Mem(Vec::new()),
            (STORED, true) => Sink::Spill(tempfile::tempfile()?),
            (_, false) => Sink::DeflateMem(DeflateEncoder::new(Vec::new(), level)),
            (_, true) => Sink::DeflateSpill(DeflateEncoder::new(tempfile::tempfile()?, level)),
        })
    }

    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Mem(v) => v.write_all(b),
            Sink::Spill(f) => f.write_all(b),
            Sink::DeflateMem(e) => e.write_all(b),
            Sink::DeflateSpill(e) => e.write_all(b),
        }
    }

    fn finish(self) -> std::io::Result<Data> {
        let rewound = |mut f: File| -> std::io::Result<Data> {
            f.seek(SeekFrom::Start(0))?;
            Ok(Data::Spill(f))
        };
        match self {
            Sink::Mem(v) => Ok(Data::Mem(v)),
            Sink::DeflateMem(e) => Ok(Data::Mem(e.finish()?)),
            Sink::Spill(f) => rewound(f),
            Sink::DeflateSpill(e) => rewound(e.finish()?),
        }
    }
}
