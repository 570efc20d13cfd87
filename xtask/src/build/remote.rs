//! The build cache shared through S3: each finished zip is stored under its artifact key, and each
//! installed dependency set under its dependency key, so a runner downloads what another already
//! built from the same inputs. Through `crate::s3` (presigned requests carried out by curl): the
//! standard credential chain, regions and `AWS_ENDPOINT_URL` work as they do for the user, and no
//! SDK is compiled into every stack (BENCHMARKS.md has the figures).
//!
//! One object per key, `<prefix>/v2/artifacts/<key>` (or `<prefix>/v2/deps/<key>`, the installed
//! tree as a zip): the zip, then a JSON line (its SHA-256, sizes and what it holds) and a
//! trailer line (`object.rs`). One object, so a reader never sees a zip without the hash it must
//! match; writes are conditional (`If-None-Match: *`), so two runners racing on a
//! key leave the first one's object, never a mix. Lookups and uploads are batched, one curl
//! process per build phase; a dependency set is looked up alone, only when an artifact missed
//! and needs it installed.
//!
//! A cache that cannot be reached, refuses the credentials or times out is a warning: the build
//! carries on locally and does not call it again.

mod object;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use super::size::Composition;
use crate::config::Config;
use crate::s3::{Answer, Client};

/// Seconds to wait to connect, and for any byte of an answer, unless `[cache] timeout` says.
const TIMEOUT_SECS: u64 = 15;

/// `--cache URL` and `--cache-read-only`.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub url: Option<String>,
    pub read_only: bool,
}

/// What is recorded beside each zip in its object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub sha256_base64: String,
    pub zip_bytes: u64,
    pub unzipped_bytes: u64,
    pub size: Option<Composition>,
}

pub struct Remote {
    /// `prefix/` (or empty): where the objects' keys start in the bucket.
    prefix: String,
    bucket: String,
    timeout: u64,
    read_only: bool,
    /// Made on first use, so a build with nothing to look up resolves no credentials (which
    /// may mean asking the aws CLI); `None` once that failed.
    client: OnceLock<Option<Client>>,
    /// Set once a call failed: the rest of the build runs without the cache.
    off: AtomicBool,
    /// Dependency sets downloaded and objects to upload; under `.xtask/deps/.tmp-*`, swept if
    /// interrupted.
    dir: tempfile::TempDir,
    /// By the zip path they are for: the key and the verified zip beside that path, or why the
    /// object is not trusted.
    fetched: Mutex<HashMap<PathBuf, (String, Fetched)>>,
    /// Keys looked up and absent: only these are uploaded once built (check, then put).
    missed: Mutex<HashSet<String>>,
    missed_deps: Mutex<HashSet<String>>,
    /// Objects to upload: their key in the bucket, and the file.
    staged: Mutex<Vec<(String, PathBuf)>>,
}

type Fetched = std::result::Result<(Meta, NamedTempFile), String>;

/// The shared cache of this build, if one is configured: `--cache`, else `XTASK_CACHE`, else
/// `[cache] url`. A malformed URL is an error; no curl or no credentials a warning (built
/// locally).
pub fn open(cfg: &Config, flags: &Flags, scratch: &Path) -> Result<Option<Remote>> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let Some(url) = flags
        .url
        .clone()
        .or_else(|| env("XTASK_CACHE"))
        .or_else(|| cfg.cache.url.clone())
    else {
        return Ok(None);
    };
    let (bucket, prefix) = parse_url(&url)?;
    let read_only = flags.read_only
        || cfg.cache.read_only
        || env("XTASK_CACHE_READ_ONLY")
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"));
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}remote-", super::deps_cache::TMP_PREFIX))
        .tempdir_in(scratch)
        .with_context(|| format!("cannot create a directory in {}", scratch.display()))?;
    for sub in ["get", "put/artifacts", "put/deps"] {
        std::fs::create_dir_all(dir.path().join(sub))
            .with_context(|| format!("cannot create a directory in {}", dir.path().display()))?;
    }
    Ok(Some(Remote {
        prefix,
        bucket,
        timeout: cfg.cache.timeout.unwrap_or(TIMEOUT_SECS),
        read_only,
        client: OnceLock::new(),
        off: AtomicBool::new(false),
        dir,
        fetched: Mutex::default(),
        missed: Mutex::default(),
        missed_deps: Mutex::default(),
        staged: Mutex::default(),
    }))
}

/// `s3://bucket[/prefix]` → (`bucket`, `prefix/` or empty).
pub(crate) fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("s3://").unwrap_or_default();
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !url.starts_with("s3://") || !valid {
        bail!(
            "shared cache URL {url:?} is not s3://bucket/prefix (a bucket name is 3-63 lowercase \
             letters, digits, dots or hyphens); fix `url` under [cache] in xtask.toml, \
             XTASK_CACHE or --cache"
        );
    }
    let prefix = match prefix.trim_matches('/') {
        "" => String::new(),
        p => format!("{p}/"),
    };
    Ok((bucket.to_string(), prefix))
}

impl Remote {
    /// `s3://bucket/prefix/`, for messages.
    fn root(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    /// The object's key in the bucket: `what` is `artifacts` or `deps`.
    fn object(&self, what: &str, key: &str) -> String {
        format!("{}{}{what}/{key}", self.prefix, object::LAYOUT)
    }

    /// The S3 client, made the first time the cache is needed. Without curl or credentials the
    /// cache is off for the rest of the build, said once.
    fn client(&self) -> Option<&Client> {
        let made = self.client.get_or_init(|| {
            Client::new(&self.bucket, self.timeout)
                .map_err(|e| {
                    self.off.store(true, Ordering::SeqCst);
                    crate::ui::warn(&format!(
                        "shared cache {} is off for this build, what is not here is built locally: \
                         {e:#}",
                        self.root().trim_end_matches('/')
                    ));
                })
                .ok()
        });
        made.as_ref()
    }

    /// Turns the cache off for the rest of the build, saying why once.
    fn give_up(&self, doing: &str, why: &str) {
        if !self.off.swap(true, Ordering::SeqCst) {
            let hint = match why.contains("HTTP 403") {
                // Without s3:ListBucket, S3 answers a missing object with 403, not 404.
                true => {
                    "the bucket policy needs s3:GetObject, s3:PutObject and s3:ListBucket \
                         (README: Shared build cache)"
                }
                false => "check AWS_PROFILE / AWS_REGION / AWS_ENDPOINT_URL and the bucket policy",
            };
            crate::ui::warn(&format!(
                "shared cache {}: cannot {doing} ({}); building locally without it. {hint}",
                self.root().trim_end_matches('/'),
                why.trim().replace('\n', " ")
            ));
        }
    }

    /// Downloads the object of each `(key, zip path)` in one batch, straight into a temporary
    /// file beside the zip path, and verifies it there as soon as it is down, while the rest
    /// still transfers. Absent keys are misses.
    pub fn fetch(&self, wanted: &[(String, PathBuf)]) {
        if wanted.is_empty() || self.off.load(Ordering::SeqCst) {
            return;
        }
        let Some(client) = self.client() else { return };
        // One download a key; an artifact sharing it copies the verified zip.
        let mut firsts: Vec<(&str, &Path, NamedTempFile)> = Vec::new();
        let mut seen = HashSet::new();
        for (key, out) in wanted {
            if !seen.insert(key.as_str()) {
                continue;
            }
            // Not fetched: the local build meets the same directory and reports it.
            if let Ok(tmp) = temp_beside(out) {
                firsts.push((key, out, tmp));
            }
        }
        let items: Vec<(String, PathBuf)> = firsts
            .iter()
            .map(|(k, _, tmp)| (self.object("artifacts", k), tmp.path().to_path_buf()))
            .collect();
        let verify = |tmp: &NamedTempFile| object::verify(tmp.path()).map_err(|e| format!("{e:#}"));
        let mut checked = vec![None; firsts.len()];
        let answers = client.get_each(&items, |i| checked[i] = Some(verify(&firsts[i].2)));
        if let Some(why) = answers.iter().find_map(Answer::failure) {
            return self.give_up("read", why);
        }
        let mut by_key: HashMap<&str, (&Path, Fetched)> = HashMap::new();
        let mut missed = self.missed.lock().expect("no panics");
        for (((key, out, tmp), answer), meta) in firsts.into_iter().zip(answers).zip(checked) {
            if answer != Answer::Ok {
                missed.insert(key.to_string());
                continue;
            }
            // An answer curl did not report as it came is checked now.
            let meta = meta.unwrap_or_else(|| verify(&tmp));
            by_key.insert(key, (out, meta.map(|m| (m, tmp))));
        }
        drop(missed);
        let mut fetched = self.fetched.lock().expect("no panics");
        for (key, out) in wanted {
            let Some((_, got)) = by_key.get(key.as_str()).filter(|(f, _)| f != out) else {
                continue;
            };
            let got = match got {
                Ok((meta, tmp)) => copy_beside(tmp.path(), out)
                    .map(|copy| (meta.clone(), copy))
                    .map_err(|e| format!("{e:#}")),
                Err(e) => Err(e.clone()),
            };
            fetched.insert(out.clone(), (key.clone(), got));
        }
        for (key, (out, got)) in by_key {
            fetched.insert(out.to_path_buf(), (key.to_string(), got));
        }
    }

    /// The downloaded zip of `key` for `out`, verified against the SHA-256 recorded beside it,
    /// in a temporary file next to `out` (the caller moves it into place). `None` on a miss, and
    /// on an object that is not trusted (said in a warning: it is never used).
    pub fn get(&self, key: &str, out: &Path) -> Option<(Meta, NamedTempFile)> {
        let (k, got) = self.fetched.lock().expect("no panics").remove(out)?;
        if k != key {
            return None;
        }
        got.map_err(|e| {
            crate::ui::warn(&format!(
                "shared cache object {} is not trusted: {e}; built locally instead. Delete the \
                 object so other runners stop downloading it",
                self.url("artifacts", key)
            ))
        })
        .ok()
    }

    /// `s3://bucket/<object key>`, for messages.
    fn url(&self, what: &str, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.object(what, key))
    }

    /// Queues the zip just built for `key` for upload, when the cache is writable and the key
    /// was looked up and found absent.
    pub fn stage(&self, key: &str, meta: &Meta, zip: &Path) {
        if self.read_only || self.off.load(Ordering::SeqCst) {
            return;
        }
        if !self.missed.lock().expect("no panics").contains(key) {
            return;
        }
        let path = self.dir.path().join("put/artifacts").join(key);
        if let Err(e) = object::pack(meta, zip, &path) {
            crate::ui::warn(&format!("{e:#}; not uploaded to the shared cache"));
            return;
        }
        self.staged
            .lock()
            .expect("no panics")
            .push((self.object("artifacts", key), path));
    }

    /// Uploads every staged object in one batch. An object another runner stored meanwhile
    /// under the same key is left as it is (same inputs, same bytes).
    pub fn upload(&self) {
        let staged = std::mem::take(&mut *self.staged.lock().expect("no panics"));
        if staged.is_empty() || self.off.load(Ordering::SeqCst) {
            return;
        }
        let n = staged.len();
        let Some(client) = self.client() else { return };
        if let Some(why) = client.put(&staged).iter().find_map(Answer::failure) {
            self.give_up(&format!("upload {n} objects"), why);
        }
    }

    /// Fills the empty directory `into` with the dependency set of `key` from the cache: true on
    /// a hit that matches its recorded hash. On a miss or a damaged object `into` is left empty.
    pub fn get_deps(&self, key: &str, into: &Path) -> bool {
        if self.off.load(Ordering::SeqCst) {
            return false;
        }
        let obj = self.dir.path().join("get").join(format!("deps-{key}"));
        let item = [(self.object("deps", key), obj.clone())];
        let Some(client) = self.client() else {
            return false;
        };
        match client.get(&item).pop() {
            Some(Answer::Ok) => {}
            Some(Answer::Missing) => {
                self.missed_deps
                    .lock()
                    .expect("no panics")
                    .insert(key.to_string());
                return false;
            }
            other => {
                let why = other
                    .as_ref()
                    .and_then(Answer::failure)
                    .unwrap_or("no answer");
                self.give_up("read", why);
                return false;
            }
        }
        let got = object::verify(&obj).and_then(|_| tree::extract(&obj, into));
        let _ = std::fs::remove_file(&obj);
        match got {
            Ok(()) => true,
            Err(e) => {
                crate::ui::warn(&format!(
                    "shared cache object {} is not trusted: {e:#}; installing instead. Delete \
                     the object so other runners stop downloading it",
                    self.url("deps", key)
                ));
                let _ = std::fs::remove_dir_all(into);
                let _ = std::fs::create_dir_all(into);
                false
            }
        }
    }

    /// Queues the dependency tree just installed for `key` for upload, as `stage` does.
    pub fn stage_deps(&self, key: &str, tree: &Path) {
        if self.read_only || self.off.load(Ordering::SeqCst) {
            return;
        }
        if !self.missed_deps.lock().expect("no panics").contains(key) {
            return;
        }
        let zip = self.dir.path().join("put").join(format!("deps-{key}.zip"));
        let path = self.dir.path().join("put/deps").join(key);
        let staged = tree::pack(tree, &zip).and_then(|meta| object::pack(&meta, &zip, &path));
        let _ = std::fs::remove_file(&zip);
        if let Err(e) = staged {
            crate::ui::warn(&format!("{e:#}; not uploaded to the shared cache"));
            return;
        }
        self.staged
            .lock()
            .expect("no panics")
            .push((self.object("deps", key), path));
    }
}

/// A new temporary zip next to `out`, its directory made if need be.
fn temp_beside(out: &Path) -> Result<NamedTempFile> {
    let dir = out.parent().context("zip path has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::archive::temp_zip(dir).with_context(|| format!("cannot write in {}", dir.display()))
}

/// A copy of the verified zip `zip` in a temporary file next to `out`.
fn copy_beside(zip: &Path, out: &Path) -> Result<NamedTempFile> {
    let tmp = temp_beside(out)?;
    std::fs::copy(zip, tmp.path())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    Ok(tmp)
}

/// A dependency tree as a quickly compressed zip, and back.
mod tree {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use anyhow::{bail, Context, Result};
    use zip::write::SimpleFileOptions;

    use super::Meta;

    fn files(dir: &Path, rel: &str, out: &mut Vec<(String, std::path::PathBuf)>) -> Result<()> {
        for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let e = e?;
            let name = format!("{rel}{}", e.file_name().to_string_lossy());
            if e.path().is_dir() {
                files(&e.path(), &format!("{name}/"), out)?;
            } else {
                out.push((name, e.path()));
            }
        }
        Ok(())
    }

    pub fn pack(tree: &Path, zip: &Path) -> Result<Meta> {
        let mut all = Vec::new();
        files(tree, "", &mut all)?;
        all.sort();
        let f = std::fs::File::create(zip)
            .with_context(|| format!("cannot write {}", zip.display()))?;
        let mut w = zip::ZipWriter::new(std::io::BufWriter::new(f));
        let mut unzipped = 0;
        for (name, path) in &all {
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            // Level 1: a third of the bytes to send for little CPU; it is recompressed where it ships.
            let opts = SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .compression_level(Some(1))
                .unix_permissions(mode)
                .large_file(true);
            w.start_file(name.as_str(), opts)?;
            let mut src = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            unzipped += std::io::copy(&mut src, &mut w)?;
        }
        w.finish()?.flush()?;
        Ok(Meta {
            sha256_base64: crate::archive::sha256_base64(zip)?,
            zip_bytes: std::fs::metadata(zip)?.len(),
            unzipped_bytes: unzipped,
            size: None,
        })
    }

    pub fn extract(zip: &Path, into: &Path) -> Result<()> {
        let mut z = zip::ZipArchive::new(std::fs::File::open(zip)?).context("not a zip")?;
        for i in 0..z.len() {
            let mut f = z.by_index(i)?;
            let Some(rel) = f.enclosed_name() else {
                bail!("entry {:?} would land outside the tree", f.name());
            };
            let path = into.join(rel);
            if f.is_dir() {
                std::fs::create_dir_all(&path)?;
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut out = std::fs::File::create(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            std::io::copy(&mut f, &mut out)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if let Some(mode) = f.unix_mode() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o777))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_normalized() {
        let parsed = |u| {
            let (b, p) = parse_url(u).unwrap();
            format!("{b} {p}")
        };
        assert_eq!(parsed("s3://ci-cache"), "ci-cache ");
        assert_eq!(parsed("s3://ci-cache/acme/stack/"), "ci-cache acme/stack/");
        for bad in [
            "ci-cache",
            "https://ci-cache/x",
            "s3://",
            "s3://Big_Bucket/x",
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains("s3://bucket/prefix"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_dependency_tree_round_trips_with_its_exec_bits() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("pkg-1.0.dist-info")).unwrap();
        std::fs::write(src.join("pkg-1.0.dist-info/METADATA"), "Name: pkg\n").unwrap();
        std::fs::write(src.join("tool.so"), "\x7fELF").unwrap();
        std::fs::set_permissions(src.join("tool.so"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let zip = d.path().join("t.zip");
        let meta = tree::pack(&src, &zip).unwrap();
        assert_eq!(meta.unzipped_bytes, 14);
        let dst = d.path().join("dst");
        tree::extract(&zip, &dst).unwrap();
        assert_eq!(
            std::fs::read_to_string(dst.join("pkg-1.0.dist-info/METADATA")).unwrap(),
            "Name: pkg\n"
        );
        let mode = std::fs::metadata(dst.join("tool.so"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}
