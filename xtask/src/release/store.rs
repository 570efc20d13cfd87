//! Where releases live: the shared S3 store (`[release] url`, else the build cache's URL), through
//! the xtask's own S3 client (`crate::s3`: presigned requests carried out by curl).
//!
//! Layout under the store's prefix:
//! - `releases/zips/sha256/<hex>`: a zip, its key its SHA-256, written once (`If-None-Match: *`);
//! - `releases/<name>/release.json`: the manifest, written last and once;
//! - `releases/<name>/provenance.intoto.json`: the same as an in-toto statement.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::Config;
use crate::s3::{Answer, Client};

/// Seconds to wait to connect, and with no byte received, unless `[cache] timeout` says.
const TIMEOUT_SECS: u64 = 15;

pub struct Store {
    bucket: String,
    /// `prefix/` or empty.
    prefix: String,
    timeout: u64,
    client: Option<Client>,
}

impl Store {
    /// The configured store: `[release] url`, else `XTASK_CACHE`, else `[cache] url`.
    pub fn configured(cfg: &Config) -> Result<Option<Store>> {
        let env = std::env::var("XTASK_CACHE").ok().filter(|v| !v.is_empty());
        let Some(url) = cfg
            .release
            .url
            .clone()
            .or(env)
            .or_else(|| cfg.cache.url.clone())
        else {
            return Ok(None);
        };
        Store::at(cfg, &url).map(Some)
    }

    /// The store at `s3://bucket/prefix`.
    pub fn at(cfg: &Config, url: &str) -> Result<Store> {
        let (bucket, prefix) = crate::build::remote::parse_url(url)
            .with_context(|| format!("release store {url:?}: set `url` under [release]"))?;
        Ok(Store {
            bucket,
            prefix,
            timeout: cfg.cache.timeout.unwrap_or(TIMEOUT_SECS),
            client: None,
        })
    }

    /// `s3://bucket/prefix`, as recorded in manifests and named in messages.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
            .trim_end_matches('/')
            .to_string()
    }

    pub fn zip_key(&self, sha256_hex: &str) -> String {
        format!("{}releases/zips/sha256/{sha256_hex}", self.prefix)
    }

    pub fn manifest_key(&self, name: &str) -> String {
        format!("{}releases/{name}/release.json", self.prefix)
    }

    pub fn provenance_key(&self, name: &str) -> String {
        format!("{}releases/{name}/provenance.intoto.json", self.prefix)
    }

    /// `s3://bucket/key`, for messages.
    pub fn object_url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn client(&mut self) -> Result<&Client> {
        if self.client.is_none() {
            let c = Client::new(&self.bucket, self.timeout)
                .with_context(|| format!("cannot reach the release store {}", self.url()))?;
            self.client = Some(c);
        }
        Ok(self.client.as_ref().expect("made above"))
    }

    /// Downloads each `(key, path)`; an answer each.
    pub fn get(&mut self, items: &[(String, PathBuf)]) -> Result<Vec<Answer>> {
        Ok(self.client()?.get(items))
    }

    /// Uploads each `(key, path)` unless its key holds an object already; an answer each, a
    /// failure an error naming the object.
    pub fn put(&mut self, items: &[(String, PathBuf)]) -> Result<Vec<Answer>> {
        let url = self.url();
        let answers = self.client()?.put(items);
        for ((key, _), a) in items.iter().zip(&answers) {
            if let Some(why) = a.failure() {
                bail!(
                    "cannot upload {key} to the release store {url}: {why}; the credentials need \
                     s3:PutObject and s3:GetObject on the bucket"
                );
            }
        }
        Ok(answers)
    }

    /// One object's bytes, `None` when it is absent.
    pub fn read(&mut self, key: &str, scratch: &Path) -> Result<Option<Vec<u8>>> {
        let path = scratch.join("object");
        let answer = self.get(&[(key.to_string(), path.clone())])?.remove(0);
        match answer {
            Answer::Ok => {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let _ = std::fs::remove_file(&path);
                Ok(Some(bytes))
            }
            Answer::Missing => Ok(None),
            Answer::Exists => unreachable!("a GET is never answered 412"),
            Answer::Failed(why) => bail!(
                "cannot read {} from the release store: {why}",
                self.object_url(key)
            ),
        }
    }
}

/// `s3://bucket/prefix/releases/NAME/release.json` → (the store's URL, NAME), when the URL has
/// that shape.
pub fn split_manifest_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_suffix("/release.json")?;
    let (root, name) = rest.rsplit_once("/releases/")?;
    (root.starts_with("s3://") && valid_name(name)).then(|| (root.to_string(), name.to_string()))
}

/// A release name is a path segment: letters, digits, `.`, `_`, `-`, at most 128, not `.`-led.
pub fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_urls_name_their_store_and_release() {
        assert_eq!(
            split_manifest_url("s3://b-b/acme/releases/r-1/release.json"),
            Some(("s3://b-b/acme".into(), "r-1".into()))
        );
        assert_eq!(
            split_manifest_url("s3://b-b/releases/r.2/release.json"),
            Some(("s3://b-b".into(), "r.2".into()))
        );
        assert_eq!(split_manifest_url("s3://b-b/releases/r/other.json"), None);
        assert_eq!(split_manifest_url("s3://b-b/x/release.json"), None);
    }

    #[test]
    fn names_are_one_safe_path_segment() {
        for ok in ["v1.2.3", "main-0a1b2c3d4e5f", "r_1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "ü", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
