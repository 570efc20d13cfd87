//! The layout of a cache object: `<zip bytes><meta JSON>\n<MAGIC> <JSON length>\n`. The zip
//! comes first so curl writes it straight into a temporary file beside its final path: once
//! hashed in place and cut to its recorded size, it is renamed there, never copied (a fresh
//! machine would otherwise write every downloaded byte twice).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::Meta;

/// The last line of every object: what wrote it and in which layout.
const MAGIC: &str = "cora-xtask-cache 2";
/// Where objects of this layout live under the cache's prefix: those of layout 1 (the JSON
/// first) are never fetched, so an older cache is ignored rather than taken for damaged.
pub const LAYOUT: &str = "v2/";
/// The longest trailer line read back: the magic, a space, a length, the newline.
const TRAILER_MAX: u64 = 64;

/// Writes the object of the zip `zip` and its `meta` to `path`.
pub fn pack(meta: &Meta, zip: &Path, path: &Path) -> Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
    );
    let mut src =
        std::fs::File::open(zip).with_context(|| format!("cannot read {}", zip.display()))?;
    std::io::copy(&mut src, &mut f).with_context(|| format!("cannot write {}", path.display()))?;
    let json = serde_json::to_string(meta)?;
    write!(f, "{json}\n{MAGIC} {}\n", json.len())?;
    f.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Turns the downloaded object at `obj` into its zip, in place: checks the trailer, hashes the
/// zip against the SHA-256 and size recorded beside it, then cuts the file to the zip. On an
/// error the file is left as it is, for the caller to delete.
pub fn verify(obj: &Path) -> Result<Meta> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(obj)?;
    let total = f.metadata()?.len();
    let tail_len = total.min(TRAILER_MAX);
    f.seek(SeekFrom::Start(total - tail_len))?;
    let mut tail = Vec::new();
    (&mut f).take(tail_len).read_to_end(&mut tail)?;
    let trailer = tail
        .strip_suffix(b"\n")
        .map(|t| t.rsplit(|b| *b == b'\n').next().unwrap_or(t));
    let json_len = trailer
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| {
            t.strip_prefix(MAGIC)?
                .strip_prefix(' ')?
                .parse::<u64>()
                .ok()
        });
    let (Some(trailer), Some(json_len)) = (trailer, json_len) else {
        bail!("it does not end with `{MAGIC} <length>` (not an object of this layout)");
    };
    // The trailer line and its newline, then the JSON and its newline.
    let header = json_len.checked_add(trailer.len() as u64 + 2);
    let Some(zip_len) = header.and_then(|n| total.checked_sub(n)) else {
        bail!("its trailer gives a header longer than the object");
    };
    f.seek(SeekFrom::Start(zip_len))?;
    // The newline after the JSON is the one that ended the search for the trailer line.
    let mut json = Vec::new();
    (&mut f).take(json_len).read_to_end(&mut json)?;
    let meta: Meta = serde_json::from_slice(&json).context("its header is not valid")?;
    f.seek(SeekFrom::Start(0))?;
    let sha = crate::archive::sha256_base64_of(&mut (&mut f).take(zip_len))?;
    if sha != meta.sha256_base64 || zip_len != meta.zip_bytes {
        bail!(
            "its zip ({zip_len} bytes, SHA-256 {sha}) does not match the SHA-256 recorded beside \
             it ({} bytes, {})",
            meta.zip_bytes,
            meta.sha256_base64
        );
    }
    f.set_len(zip_len)?;
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(dir: &Path) -> (std::path::PathBuf, Meta) {
        let zip = dir.join("f.zip");
        std::fs::write(&zip, b"PK zip bytes").unwrap();
        let meta = Meta {
            sha256_base64: crate::archive::sha256_base64(&zip).unwrap(),
            zip_bytes: 12,
            unzipped_bytes: 40,
            size: None,
        };
        let obj = dir.join("obj");
        pack(&meta, &zip, &obj).unwrap();
        (obj, meta)
    }

    #[test]
    fn an_object_round_trips_and_a_flipped_byte_is_caught() {
        let d = tempfile::tempdir().unwrap();
        let (obj, meta) = object(d.path());
        let packed = std::fs::read(&obj).unwrap();
        let json = serde_json::to_string(&meta).unwrap();
        let end = format!("PK zip bytes{json}\n{MAGIC} {}\n", json.len());
        assert_eq!(String::from_utf8_lossy(&packed), end);
        let m = verify(&obj).unwrap();
        assert_eq!(m.unzipped_bytes, 40);
        assert_eq!(std::fs::read(&obj).unwrap(), b"PK zip bytes");

        let mut bytes = packed.clone();
        bytes[3] ^= 1;
        std::fs::write(&obj, &bytes).unwrap();
        let e = verify(&obj).unwrap_err().to_string();
        assert!(e.contains("does not match"), "{e}");
        assert_eq!(
            std::fs::read(&obj).unwrap(),
            bytes,
            "a refused object is not cut"
        );
    }

    #[test]
    fn an_object_without_its_header_or_with_a_damaged_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let (obj, _) = object(d.path());
        let packed = std::fs::read(&obj).unwrap();
        let json_at = packed.iter().position(|b| *b == b'{').unwrap();
        let refused = |bytes: &[u8]| {
            std::fs::write(&obj, bytes).unwrap();
            verify(&obj).unwrap_err().to_string()
        };
        // A bare zip (an object of layout 1 has its header first, not last), an empty file.
        assert!(refused(b"PK zip bytes").contains("does not end with `cora-xtask-cache 2"));
        assert!(refused(b"").contains("does not end with"));
        let old = [b"cora-xtask-cache 1\n{}\n".as_slice(), b"PK zip bytes"].concat();
        assert!(refused(&old).contains("does not end with"));
        // A length longer than the object, one that misses the header's start, no newline
        // between header and trailer, a broken header.
        let mut long = packed[..json_at].to_vec();
        long.extend_from_slice(format!("{{}}\n{MAGIC} 999\n").as_bytes());
        assert!(refused(&long).contains("longer than the object"));
        long.truncate(json_at);
        long.extend_from_slice(format!("{{}}\n{MAGIC} {}\n", u64::MAX).as_bytes());
        assert!(refused(&long).contains("longer than the object"));
        let json_len = packed[json_at..].iter().position(|b| *b == b'\n').unwrap();
        let mut short = packed[..json_at + json_len + 1].to_vec();
        short.extend_from_slice(format!("{MAGIC} {}\n", json_len - 1).as_bytes());
        assert!(refused(&short).contains("header is not valid"));
        let mut joined = packed.clone();
        joined[json_at + json_len] = b' ';
        assert!(refused(&joined).contains("does not end with"));
        let mut broken = packed.clone();
        broken[json_at + 1] = b'#';
        assert!(refused(&broken).contains("header is not valid"));
    }
}
