//! The release manifest (`release.json`) and its in-toto / SLSA provenance v1 statement, and
//! the source fingerprint both sides of a promotion compute the same way.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::build::select::Selector;
use crate::fsutil::hex;
use crate::proc::Cmd;
use crate::stack::discover::{Artifact, Kind};

/// Bump when a field changes meaning: an older xtask then refuses the manifest by name.
pub const FORMAT: &str = "cora-xtask-release/1";
/// The SLSA build type: what `buildDefinition` means for a release of this xtask.
const BUILD_TYPE: &str = "urn:cora-xtask:release:v1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub name: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// `0.1.0 (source c4a4df39285f0c7e)`, as `cargo xtask --version` prints it.
    pub xtask: String,
    /// Where the zips are: `s3://bucket/prefix` (`releases/zips/sha256/<hex>` below it).
    pub store: String,
    /// The stack's git commit, when it is a git checkout.
    pub git: Option<Git>,
    /// SHA-256 over every artifact's `source_sha256`, in order.
    pub source_sha256: String,
    /// The env whose verify passed against these zips, live CodeSha256 included; `None` when
    /// released without `--env`.
    pub verified: Option<Verified>,
    pub artifacts: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Git {
    pub commit: String,
    /// Paths `git status --porcelain` lists: the tree the zips were built from is not the commit.
    pub dirty: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verified {
    pub env: String,
    /// When that verify ran, RFC 3339.
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub module: String,
    pub name: String,
    pub kind: Kind,
    /// Lowercase hex; the object's key in the store.
    pub sha256: String,
    /// The same, as Terraform's `filebase64sha256` and Lambda's CodeSha256 give it.
    pub sha256_base64: String,
    pub zip_bytes: u64,
    pub unzipped_bytes: u64,
    /// `stack` or `infra`: what `path` is relative to.
    pub root: String,
    /// Where Terraform reads the zip, e.g. `packages/module-access/backend/.build/profiles.zip`.
    pub path: String,
    /// SHA-256 of the artifact's shipped source files (names, exec bits, bytes) and its
    /// requirements files: what `--allow-source-drift` is about.
    pub source_sha256: String,
    /// The artifact's `requirements.lock`, when it has one.
    pub lock: Option<Lock>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Lock {
    pub path: String,
    pub sha256: String,
}

impl Manifest {
    /// What makes two manifests the same release: everything but when and by what it was written.
    pub fn same_content(&self, other: &Manifest) -> bool {
        (&self.artifacts, &self.source_sha256) == (&other.artifacts, &other.source_sha256)
    }

    pub fn entry(&self, module: &str, name: &str) -> Option<&Entry> {
        self.artifacts
            .iter()
            .find(|e| e.module == module && e.name == name)
    }

    /// `release NAME (commit 0a1b2c3d4e5f)`, for summaries.
    pub fn describe(&self) -> String {
        match &self.git {
            Some(g) if g.dirty.is_empty() => {
                format!("release {} (commit {})", self.name, short(&g.commit))
            }
            Some(g) => format!(
                "release {} (commit {} + {} uncommitted changes)",
                self.name,
                short(&g.commit),
                g.dirty.len()
            ),
            None => format!("release {} (no git commit)", self.name),
        }
    }

    /// The in-toto Statement v1 with a SLSA provenance v1 predicate: the zips are its subjects.
    pub fn provenance(&self, python: &str, arch: &str) -> Value {
        let subjects: Vec<Value> = self
            .artifacts
            .iter()
            .map(|e| json!({"name": e.path, "digest": {"sha256": e.sha256}}))
            .collect();
        let mut deps: Vec<Value> = Vec::new();
        if let Some(g) = &self.git {
            deps.push(json!({"name": "stack", "digest": {"gitCommit": g.commit}}));
        }
        for e in &self.artifacts {
            if let Some(l) = &e.lock {
                deps.push(json!({"name": l.path, "digest": {"sha256": l.sha256}}));
            }
        }
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": subjects,
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {
                    "buildType": BUILD_TYPE,
                    "externalParameters": {
                        "release": self.name,
                        "verifiedEnv": self.verified.as_ref().map(|v| &v.env),
                    },
                    "internalParameters": {"python": python, "arch": arch},
                    "resolvedDependencies": deps,
                },
                "runDetails": {
                    "builder": {
                        "id": BUILD_TYPE,
                        "version": {"cora-xtask": self.xtask},
                    },
                    "metadata": {
                        "invocationId": self.name,
                        "finishedOn": self.created,
                    },
                    "byproducts": [{
                        "name": "release.json",
                        "annotations": {"sourceSha256": self.source_sha256},
                    }],
                },
            },
        })
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// The artifact's source fingerprint: the files its zip ships from its own tree (as the build
/// selects them), then its requirements.txt and requirements.lock.
pub fn source_sha256(selector: &Selector, a: &Artifact) -> Result<String> {
    let mut h = Sha256::new();
    h.update(format!("{}\0{:?}\0", a.id(), a.kind));
    for e in selector.source(a)?.entries {
        h.update(format!("\0{}\0{}\0", e.name, e.executable));
        h.update(
            std::fs::read(&e.source)
                .with_context(|| format!("cannot read {}", e.source.display()))?,
        );
    }
    if let Some(req) = &a.requirements {
        for p in [req.clone(), crate::install::lock::path_for(req)] {
            h.update(format!(
                "\0{}\0",
                p.file_name().unwrap_or_default().display()
            ));
            h.update(std::fs::read(&p).unwrap_or_default());
        }
    }
    Ok(hex(&h.finalize()))
}

/// SHA-256 over the artifacts' fingerprints in order: one value for the whole release.
pub fn total(entries: &[Entry]) -> String {
    let mut h = Sha256::new();
    for e in entries {
        h.update(format!("{}/{} {}\n", e.module, e.name, e.source_sha256));
    }
    hex(&h.finalize())
}

/// The checkout's commit and what differs from it; `None` outside git or without git.
pub fn git(dir: &Path) -> Option<Git> {
    let git = which::which("git").ok()?;
    let run = |args: &[&str]| {
        Cmd::new(&git)
            .args(args)
            .dir(dir)
            .output()
            .ok()
            .filter(|o| o.success())
            .map(|o| o.stdout)
    };
    let commit = run(&["rev-parse", "--verify", "HEAD"])?.trim().to_string();
    let status = run(&["status", "--porcelain", "--untracked-files=all", "."])?;
    Some(Git {
        commit,
        dirty: status
            .lines()
            .filter_map(|l| l.get(3..))
            .map(str::to_string)
            .collect(),
    })
}

/// Unix seconds as RFC 3339 UTC: `2026-12-06T03:00:00Z`.
pub fn rfc3339(secs: u64) -> String {
    let d = crate::s3::sigv4::amz_date(secs);
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

pub fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> Entry {
        Entry {
            module: "module-access".into(),
            name: name.into(),
            kind: Kind::Function,
            sha256: "ab".repeat(32),
            sha256_base64: "q6s=".into(),
            zip_bytes: 10,
            unzipped_bytes: 20,
            root: "stack".into(),
            path: format!("packages/module-access/backend/.build/{name}.zip"),
            source_sha256: "cd".repeat(32),
            lock: Some(Lock {
                path: format!("packages/module-access/backend/lambdas/{name}/requirements.lock"),
                sha256: "ef".repeat(32),
            }),
        }
    }

    fn manifest() -> Manifest {
        let artifacts = vec![entry("orgs"), entry("profiles")];
        Manifest {
            format: FORMAT.into(),
            name: "r1".into(),
            created: rfc3339(1_796_526_000),
            xtask: "0.1.0 (source 00)".into(),
            store: "s3://b-b/p".into(),
            git: Some(Git {
                commit: "0123456789abcdef0123".into(),
                dirty: vec![],
            }),
            source_sha256: total(&artifacts),
            verified: Some(Verified {
                env: "dev".into(),
                at: rfc3339(1_796_525_000),
            }),
            artifacts,
        }
    }

    #[test]
    fn the_provenance_is_an_in_toto_statement_whose_subjects_are_the_zips() {
        let m = manifest();
        let p = m.provenance("3.13", "x86_64");
        assert_eq!(p["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(p["predicateType"], "https://slsa.dev/provenance/v1");
        let subjects = p["subject"].as_array().unwrap();
        assert_eq!(subjects.len(), 2);
        assert_eq!(
            subjects[1]["name"],
            "packages/module-access/backend/.build/profiles.zip"
        );
        assert_eq!(subjects[1]["digest"]["sha256"], "ab".repeat(32));
        let deps = p["predicate"]["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .unwrap();
        assert_eq!(deps[0]["digest"]["gitCommit"], "0123456789abcdef0123");
        assert_eq!(deps.len(), 3, "the commit and both locks");
        assert_eq!(
            p["predicate"]["buildDefinition"]["externalParameters"]["verifiedEnv"],
            "dev"
        );
    }

    #[test]
    fn a_release_is_described_by_name_and_short_commit() {
        let mut m = manifest();
        assert_eq!(m.describe(), "release r1 (commit 0123456789ab)");
        m.git.as_mut().unwrap().dirty = vec!["a".into()];
        assert_eq!(
            m.describe(),
            "release r1 (commit 0123456789ab + 1 uncommitted changes)"
        );
    }

    #[test]
    fn the_same_zips_and_sources_are_the_same_release_whenever_written() {
        let a = manifest();
        let mut b = manifest();
        b.created = rfc3339(0);
        assert!(a.same_content(&b));
        b.artifacts[0].sha256 = "00".repeat(32);
        assert!(!a.same_content(&b));
    }

    #[test]
    fn timestamps_are_rfc_3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
    }
}
