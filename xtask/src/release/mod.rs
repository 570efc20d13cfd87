//! `cargo xtask release`: the current build, complete and (with `--env`) verified live in that
//! env, written as a manifest and an in-toto / SLSA provenance statement, its zips and both
//! documents stored content-addressed in the shared store. `deploy --release` (`place`) puts
//! those exact bytes where another checkout's Terraform reads them, without building.

pub mod manifest;
pub mod place;
pub mod proof;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::build::{self, select::Selector};
use crate::config::Config;
use crate::fsutil::{hex, write_atomic};
use crate::s3::Answer;
use crate::stack::discover;
use crate::ui;
use manifest::{Entry, Lock, Manifest};
use store::Store;

pub use place::place;

pub struct Options {
    /// `--env`: the env whose passing live verify the release requires and records.
    pub env: Option<String>,
    pub name: Option<String>,
    pub build: build::Options,
}

/// What `release` did, for the report.
#[derive(Debug, serde::Serialize)]
pub struct Outcome {
    pub manifest: Manifest,
    pub manifest_url: String,
    pub provenance_url: String,
    /// Zips uploaded by this run; the others were stored already.
    pub uploaded: usize,
    /// The manifest was stored before with the same zips and sources.
    pub unchanged: bool,
    pub local_copy: PathBuf,
}

pub fn run(cfg: &Config, infra: Option<&Path>, opts: &Options) -> Result<Outcome> {
    let Some(mut store) = Store::configured(cfg)? else {
        bail!(
            "no release store: set `url` under [release] (or [cache]) in {} to \
             s3://bucket/prefix, or XTASK_CACHE",
            crate::config::FILE_NAME
        );
    };
    ui::step("build");
    let report = build::run(cfg, infra, &opts.build)?;
    let failed: Vec<String> = report
        .artifacts
        .iter()
        .filter(|r| r.status == build::Status::Failed)
        .map(|r| {
            format!(
                "{}/{}: {}",
                r.module,
                r.name,
                r.error.as_deref().unwrap_or("failed")
            )
        })
        .collect();
    if !failed.is_empty() {
        bail!(
            "release refused: the build is not complete, {} of {} artifacts failed:\n  {}\nfix \
             them (`cargo xtask build` shows each), then release",
            failed.len(),
            report.artifacts.len(),
            failed.join("\n  ")
        );
    }
    let proof = match &opts.env {
        Some(env) => {
            let infra = infra.context("release --env needs the infra repo: pass --infra DIR")?;
            Some(proof::read(&crate::terraform::env_dir(infra, env)?, env)?)
        }
        None => None,
    };

    let found = discover::discover(cfg, infra, &[])?;
    let selector = Selector::new(cfg);
    let mut entries = Vec::new();
    let mut unproven = Vec::new();
    for r in &report.artifacts {
        let a = found
            .artifacts
            .iter()
            .find(|a| a.module == r.module && a.name == r.name)
            .with_context(|| format!("{}/{} is built but no longer found", r.module, r.name))?;
        let bytes =
            std::fs::read(&a.out).with_context(|| format!("cannot read {}", a.out.display()))?;
        let digest = Sha256::digest(&bytes);
        let sha256_base64 = base64::engine::general_purpose::STANDARD.encode(digest);
        if let Some(p) = &proof {
            if let Some(why) = proof::mismatch(p, &proof::key(&a.out), &sha256_base64) {
                unproven.push(format!("{}: {why}", a.id()));
            }
        }
        let (root, path) = relative(cfg, infra, a);
        entries.push(Entry {
            module: a.module.clone(),
            name: a.name.clone(),
            kind: a.kind,
            sha256: hex(&digest),
            sha256_base64,
            zip_bytes: bytes.len() as u64,
            unzipped_bytes: r.unzipped_bytes.unwrap_or_default(),
            root,
            path,
            source_sha256: manifest::source_sha256(&selector, a)?,
            lock: lock_of(cfg, infra, a)?,
        });
    }
    if !unproven.is_empty() {
        let env = opts.env.as_deref().unwrap_or_default();
        bail!(
            "release refused: these zips are not the ones verify proved in env {env}:\n  {}\n\
             deploy them first (`cargo xtask deploy --env {env}`), then release",
            unproven.join("\n  ")
        );
    }
    let git = manifest::git(&cfg.stack);
    let source_sha256 = manifest::total(&entries);
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => default_name(git.as_ref(), &source_sha256),
    };
    if !store::valid_name(&name) {
        return Err(ui::Usage(format!(
            "--name {name:?}: a release name is letters, digits, `.`, `_` and `-` (at most 128, \
             not starting with `.`)"
        ))
        .into());
    }
    let manifest = Manifest {
        format: manifest::FORMAT.into(),
        name: name.clone(),
        created: manifest::now(),
        xtask: concat!(
            env!("CARGO_PKG_VERSION"),
            " (source ",
            env!("XTASK_SOURCE_HASH"),
            ")"
        )
        .into(),
        store: store.url(),
        git,
        source_sha256,
        verified: proof.map(|p| manifest::Verified {
            env: p.env,
            at: p.at,
        }),
        artifacts: entries,
    };
    upload(cfg, &mut store, manifest, &found.artifacts)
}

/// Zips first, then the provenance, then the manifest: a manifest is never seen without its
/// zips. A name already stored is kept when it holds the same zips and sources, else refused.
fn upload(
    cfg: &Config,
    store: &mut Store,
    manifest: Manifest,
    artifacts: &[discover::Artifact],
) -> Result<Outcome> {
    let scratch = tempfile::Builder::new()
        .prefix(".tmp-release-")
        .tempdir_in(build::cache_dir(cfg))
        .context("cannot create a scratch directory in the stack's .xtask/")?;
    let mut zips: BTreeMap<String, PathBuf> = BTreeMap::new();
    for e in &manifest.artifacts {
        let a = artifacts
            .iter()
            .find(|a| a.module == e.module && a.name == e.name)
            .expect("every entry comes from an artifact");
        zips.insert(store.zip_key(&e.sha256), a.out.clone());
    }
    ui::step(&format!(
        "release {}: {} zips to {}",
        manifest.name,
        zips.len(),
        store.url()
    ));
    let items: Vec<(String, PathBuf)> = zips.into_iter().collect();
    let uploaded = store
        .put(&items)?
        .iter()
        .filter(|a| **a == Answer::Ok)
        .count();

    let provenance = scratch.path().join("provenance.intoto.json");
    let doc = manifest.provenance(&cfg.python, &cfg.arch.to_string());
    std::fs::write(&provenance, serde_json::to_vec_pretty(&doc)?)?;
    let manifest_file = scratch.path().join("release.json");
    std::fs::write(&manifest_file, serde_json::to_vec_pretty(&manifest)?)?;
    let (mkey, pkey) = (
        store.manifest_key(&manifest.name),
        store.provenance_key(&manifest.name),
    );
    let mut unchanged = false;
    if let Some(old) = store.read(&mkey, scratch.path())? {
        let old: Manifest = serde_json::from_slice(&old)
            .with_context(|| format!("{} is not a release manifest", store.object_url(&mkey)))?;
        if !old.same_content(&manifest) {
            bail!(
                "release refused: {} is stored already with other zips or sources ({}); \
                 choose another --name",
                manifest.name,
                store.object_url(&mkey)
            );
        }
        unchanged = true;
    } else {
        store.put(&[(pkey.clone(), provenance.clone())])?;
        if store.put(&[(mkey.clone(), manifest_file.clone())])?[0] == Answer::Exists {
            bail!(
                "release refused: another run stored {} meanwhile; run release again to \
                 compare, or choose another --name",
                store.object_url(&mkey)
            );
        }
    }
    // A local copy, for `deploy --release FILE` and for the record.
    let local = build::cache_dir(cfg)
        .join("releases")
        .join(format!("{}.json", manifest.name));
    std::fs::create_dir_all(local.parent().expect("has a parent"))?;
    write_atomic(&local, &serde_json::to_vec_pretty(&manifest)?)?;
    write_atomic(
        &local.with_extension("intoto.json"),
        &serde_json::to_vec_pretty(&doc)?,
    )?;
    Ok(Outcome {
        manifest_url: store.object_url(&mkey),
        provenance_url: store.object_url(&pkey),
        manifest,
        uploaded,
        unchanged,
        local_copy: local,
    })
}

/// `git-<12 hex>` for a clean checkout, else `src-<12 hex of the sources>`.
fn default_name(git: Option<&manifest::Git>, source: &str) -> String {
    match git {
        Some(g) if g.dirty.is_empty() => format!("git-{}", &g.commit[..g.commit.len().min(12)]),
        _ => format!("src-{}", &source[..12]),
    }
}

/// (`stack` or `infra`, the zip's path below it).
fn relative(cfg: &Config, infra: Option<&Path>, a: &discover::Artifact) -> (String, String) {
    let under = |root: &Path| {
        a.out
            .strip_prefix(root)
            .ok()
            .map(|p| p.display().to_string())
    };
    if a.module == "infra" {
        if let Some(p) = infra.and_then(under) {
            return ("infra".into(), p);
        }
    }
    match under(&cfg.stack) {
        Some(p) => ("stack".into(), p),
        None => ("absolute".into(), a.out.display().to_string()),
    }
}

fn lock_of(cfg: &Config, infra: Option<&Path>, a: &discover::Artifact) -> Result<Option<Lock>> {
    let Some(req) = &a.requirements else {
        return Ok(None);
    };
    let path = crate::install::lock::path_for(req);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(None);
    };
    let shown = [Some(cfg.stack.as_path()), infra]
        .into_iter()
        .flatten()
        .find_map(|r| path.strip_prefix(r).ok())
        .unwrap_or(&path);
    Ok(Some(Lock {
        path: shown.display().to_string(),
        sha256: hex(&Sha256::digest(&bytes)),
    }))
}

/// The human report of a release.
pub fn print(o: &Outcome, json: bool) -> Result<()> {
    if json {
        return ui::out(&format!("{}\n", serde_json::to_string_pretty(o)?));
    }
    let m = &o.manifest;
    let mut out = format!(
        "{}: {} zips ({} uploaded, {} stored already)\n",
        m.describe(),
        m.artifacts.len(),
        o.uploaded,
        m.artifacts.len() - o.uploaded.min(m.artifacts.len())
    );
    if let Some(v) = &m.verified {
        out.push_str(&format!("  verified live in env {} at {}\n", v.env, v.at));
    }
    if o.unchanged {
        out.push_str("  the manifest was stored already with these zips: unchanged\n");
    }
    out.push_str(&format!("  manifest   {}\n", o.manifest_url));
    out.push_str(&format!("  provenance {}\n", o.provenance_url));
    out.push_str(&format!("  local copy {}\n", o.local_copy.display()));
    out.push_str(&format!(
        "promote it: cargo xtask deploy --env <env> --release {}\n",
        m.name
    ));
    ui::out(&out)
}
