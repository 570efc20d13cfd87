//! An edit's cost without the dependencies: every zip starts with its dependency entries (copied
//! from the pack) and ends with the artifact's own files, so the first bytes of a function's zip
//! are the same from one edit to the next. SHA-256 runs over 64-byte blocks, left to right: the
//! build keeps its state after those first bytes, and the next edit copies them from the previous
//! zip inside the kernel (`copy_file_range`) and hashes only what follows. Terraform's
//! `filebase64sha256` is still the SHA-256 of the whole file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;

use serde::{Deserialize, Serialize};
use sha2::block_api::compress256;
use sha2::{Digest, Sha256};

use crate::fsutil::hex;

const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256 whose state between blocks can be kept and resumed (the `sha2` crate's block
/// function, so the same SHA-NI code).
pub struct Hasher {
    state: [u32; 8],
    /// Whole blocks hashed.
    blocks: u64,
    buf: [u8; 64],
    used: usize,
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher::resume(H0, 0)
    }

    fn resume(state: [u32; 8], blocks: u64) -> Hasher {
        Hasher {
            state,
            blocks,
            buf: [0; 64],
            used: 0,
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        if self.used > 0 {
            let n = (64 - self.used).min(data.len());
            self.buf[self.used..self.used + n].copy_from_slice(&data[..n]);
            self.used += n;
            data = &data[n..];
            if self.used < 64 {
                return;
            }
            compress256(&mut self.state, &[self.buf]);
            self.blocks += 1;
            self.used = 0;
        }
        let (blocks, rest) = data.as_chunks::<64>();
        if !blocks.is_empty() {
            compress256(&mut self.state, blocks);
            self.blocks += blocks.len() as u64;
        }
        self.buf[..rest.len()].copy_from_slice(rest);
        self.used = rest.len();
    }

    pub fn finalize(mut self) -> [u8; 32] {
        let bits = (self.blocks * 64 + self.used as u64) * 8;
        let mut pad = vec![0x80u8];
        pad.resize((119 - self.used) % 64 + 1, 0);
        pad.extend_from_slice(&bits.to_be_bytes());
        self.update(&pad);
        debug_assert_eq!(self.used, 0);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// The state after the whole blocks so far; the `len % 64` bytes after them are read again
    /// from the file when it resumes.
    fn snapshot(&self) -> String {
        let bytes: Vec<u8> = self.state.iter().flat_map(|w| w.to_be_bytes()).collect();
        hex(&bytes)
    }
}

/// The zip's first `len` bytes (its leading dependency entries, named by `id`) and the SHA-256
/// state after the whole blocks among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memo {
    pub id: String,
    pub len: u64,
    pub state: String,
}

impl Memo {
    pub fn of(id: String, len: u64, h: &Hasher) -> Memo {
        debug_assert_eq!(h.blocks * 64 + h.used as u64, len);
        Memo {
            id,
            len,
            state: h.snapshot(),
        }
    }
}

/// What names a prefix: a digest of everything its bytes are made of.
pub fn id(parts: impl IntoIterator<Item = String>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize())
}

/// Copies the first `memo.len` bytes of `from` to the start of `to` (left positioned after
/// them) and returns the hasher as it was after them; `None` when the copy cannot be made
/// (the caller writes the whole zip instead).
pub fn copy(from: &File, to: &mut File, memo: &Memo) -> Option<Hasher> {
    let words: Vec<u32> = (0..8)
        .map(|i| u32::from_str_radix(memo.state.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    if from.metadata().ok()?.len() < memo.len {
        return None;
    }
    let mut left = memo.len;
    let mut off: libc::loff_t = 0;
    while left > 0 {
        // SAFETY: both descriptors are open for the call; the input offset is ours, the output
        // advances the file position.
        let n = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                &mut off,
                to.as_raw_fd(),
                std::ptr::null_mut(),
                left.min(1 << 30) as usize,
                0,
            )
        };
        if n <= 0 {
            return copy_by_hand(from, to, memo, words);
        }
        left -= n as u64;
    }
    resumed(from, memo, words)
}

/// Where `copy_file_range` is refused (another filesystem, an old kernel): read and write.
fn copy_by_hand(from: &File, to: &mut File, memo: &Memo, words: Vec<u32>) -> Option<Hasher> {
    use std::io::{Seek, SeekFrom, Write};
    to.set_len(0).ok()?;
    to.seek(SeekFrom::Start(0)).ok()?;
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0u64;
    while at < memo.len {
        let n = ((memo.len - at) as usize).min(buf.len());
        from.read_exact_at(&mut buf[..n], at).ok()?;
        to.write_all(&buf[..n]).ok()?;
        at += n as u64;
    }
    resumed(from, memo, words)
}

fn resumed(from: &File, memo: &Memo, words: Vec<u32>) -> Option<Hasher> {
    let mut h = Hasher::resume(words.try_into().ok()?, memo.len / 64);
    let mut tail = vec![0u8; (memo.len % 64) as usize];
    from.read_exact_at(&mut tail, memo.len - memo.len % 64)
        .ok()?;
    h.update(&tail);
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 13) as u8).collect()
    }

    #[test]
    fn same_digest_as_sha2_in_any_pieces() {
        for n in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 70_001] {
            let data = bytes(n);
            let mut h = Hasher::new();
            for piece in data.chunks(37) {
                h.update(piece);
            }
            assert_eq!(h.finalize(), <[u8; 32]>::from(Sha256::digest(&data)), "{n}");
        }
    }

    #[test]
    fn a_copied_prefix_resumes_to_the_whole_files_digest() {
        let d = tempfile::tempdir().unwrap();
        let data = bytes(300_007);
        let old = d.path().join("old.zip");
        std::fs::write(&old, &data).unwrap();
        for len in [0u64, 64, 1000, 200_003] {
            let mut h = Hasher::new();
            h.update(&data[..len as usize]);
            let memo = Memo::of("x".into(), len, &h);
            let mut to = tempfile::tempfile().unwrap();
            let mut h = copy(&File::open(&old).unwrap(), &mut to, &memo).unwrap();
            std::io::Write::write_all(&mut to, &data[len as usize..]).unwrap();
            h.update(&data[len as usize..]);
            assert_eq!(h.finalize(), <[u8; 32]>::from(Sha256::digest(&data)));
            assert_eq!(
                std::fs::read(format!("/proc/self/fd/{}", to.as_raw_fd())).unwrap(),
                data
            );
        }
    }
}
