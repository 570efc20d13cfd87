//! What each zip holds, distribution by distribution, and the rules that keep a function from
//! shipping what Lambda already gives it:
//! - a distribution (same name and version, from `*.dist-info`) that an attached layer carries
//!   is left out of the function; a different version stays, with a warning naming both, since
//!   `/var/task` comes before `/opt/python` on `sys.path`;
//! - with `runtime_provided = "drop"`, the AWS SDK the Lambda Python runtime bundles.
//!
//! Also Lambda's 250 MiB budget for a function plus its layers, checked before a zip is moved
//! into place. What is computed here is stored in the build state, so a cached artifact costs
//! no zip or dist-info read.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{human, Record, Report, Status, MAX_UNZIPPED_BYTES};
use crate::archive::Entry;
use crate::config::RuntimeProvided;
use crate::stack::discover::Kind;

/// The AWS SDK for Python and its dependency closure (boto3 → botocore, s3transfer, jmespath;
/// botocore → python-dateutil, urllib3; python-dateutil → six), which the Lambda Python runtimes
/// bundle. Dropped together: a runtime boto3 next to a shipped s3transfer of another release
/// breaks at import.
pub const RUNTIME_DISTS: [&str; 7] = [
    "boto3",
    "botocore",
    "jmespath",
    "python_dateutil",
    "s3transfer",
    "six",
    "urllib3",
];

/// One installed distribution and the unzipped bytes of its files in the zip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dist {
    pub name: String,
    pub version: String,
    pub bytes: u64,
}

/// A distribution installed for the artifact but not shipped, and who provides it instead:
/// a layer's id, or `runtime`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    pub name: String,
    pub version: String,
    pub bytes: u64,
    pub by: String,
    /// Left to the runtime, but an attached layer ships this version under `keep`, so the
    /// function would not carry it anyway: not a saving of `drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

/// What one zip holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Composition {
    /// Shipped distributions, largest first.
    pub dists: Vec<Dist>,
    /// The artifact's own files, and any file no distribution's RECORD claims.
    pub code_bytes: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<Dropped>,
}

/// A layer as the functions attached to it see it in this run.
#[derive(Debug, Clone)]
pub struct LayerView {
    pub id: String,
    pub unzipped_bytes: u64,
    /// (normalized name, version) of each distribution it ships.
    pub dists: Vec<(String, String)>,
    /// Those it would ship but leaves to the runtime (`drop`).
    pub runtime_dists: Vec<(String, String)>,
}

impl LayerView {
    pub fn new(id: String, unzipped_bytes: u64, c: Option<&Composition>) -> LayerView {
        let mut dists: Vec<(String, String)> = c
            .map(|c| {
                c.dists
                    .iter()
                    .map(|d| (normalize(&d.name), d.version.clone()))
                    .collect()
            })
            .unwrap_or_default();
        dists.sort();
        let mut runtime_dists: Vec<(String, String)> = c
            .map(|c| {
                c.dropped
                    .iter()
                    .filter(|d| d.by == "runtime")
                    .map(|d| (normalize(&d.name), d.version.clone()))
                    .collect()
            })
            .unwrap_or_default();
        runtime_dists.sort();
        LayerView {
            id,
            unzipped_bytes,
            dists,
            runtime_dists,
        }
    }
}

/// What an artifact is built against: the runtime setting and, for a function, its layers.
#[derive(Debug, Clone)]
pub struct Env {
    pub runtime: RuntimeProvided,
    pub layers: Vec<LayerView>,
    /// Whether `layers` was traced from the function's Terraform rather than guessed (all of its
    /// module's layers): only traced layers may take a distribution out of the function.
    pub traced: bool,
    /// Attached layers the budget cannot count (external, unknown), said as warnings. Not part
    /// of the key: they change nothing in the zip.
    pub uncounted: Vec<String>,
}

impl Env {
    /// The part of the input key that decides what is left out: the runtime setting and the
    /// attached layers' distributions. Only artifacts with dependencies depend on it.
    pub fn key(&self) -> String {
        let mut k = format!("runtime_provided={:?}", self.runtime);
        for l in self.dedupe_layers() {
            k.push_str(&format!("\0{}", l.id));
            for (n, v) in &l.dists {
                k.push_str(&format!("\0{n}=={v}"));
            }
            // Empty under `keep`: the keys of a kept SDK do not change.
            for (n, v) in &l.runtime_dists {
                k.push_str(&format!("\0runtime:{n}=={v}"));
            }
        }
        k
    }

    fn dedupe_layers(&self) -> &[LayerView] {
        if self.traced {
            &self.layers
        } else {
            &[]
        }
    }

    /// Fails when the function plus its layers exceed Lambda's 250 MiB unzipped; warns past 80 %.
    pub fn check_budget(
        &self,
        name: &str,
        unzipped: u64,
        warnings: &mut Vec<String>,
    ) -> Result<()> {
        let total = unzipped + self.layers.iter().map(|l| l.unzipped_bytes).sum::<u64>();
        let with = if self.layers.is_empty() {
            String::new()
        } else {
            let ids: Vec<&str> = self.layers.iter().map(|l| l.id.as_str()).collect();
            format!(" with layers {}", ids.join(", "))
        };
        if total > MAX_UNZIPPED_BYTES {
            bail!(
                "{name}{with} is {} unzipped, over Lambda's 250 MiB limit ({MAX_UNZIPPED_BYTES} bytes); \
                 the previous zip was kept. `cargo xtask size {name}` shows what takes the room: remove \
                 duplicated packages (runtime_provided = \"drop\" leaves boto3 to the runtime) or split the function",
                human(total)
            );
        }
        if total * 10 > MAX_UNZIPPED_BYTES * 8 {
            warnings.push(format!(
                "{name}{with} is {} unzipped, over 80% of Lambda's 250 MiB limit",
                human(total)
            ));
        }
        Ok(())
    }
}

/// PEP 503 normalization: `Python_Dateutil` and `python-dateutil` are one distribution.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// An installed distribution: its dist-info directory's name and version, and the files its
/// RECORD lists (relative to the install root).
struct Installed {
    name: String,
    version: String,
    files: Vec<String>,
}

fn installed(deps: &Path) -> Result<Vec<Installed>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(deps).with_context(|| format!("cannot read {}", deps.display()))? {
        let e = e.with_context(|| format!("cannot read {}", deps.display()))?;
        let dir = e.file_name().to_string_lossy().into_owned();
        let Some((name, version)) = dir
            .strip_suffix(".dist-info")
            .and_then(|s| s.rsplit_once('-'))
        else {
            continue;
        };
        let record = e.path().join("RECORD");
        let files = match std::fs::read_to_string(&record) {
            Ok(text) => text.lines().filter_map(record_path).collect(),
            // No RECORD: the distribution still owns its metadata.
            Err(_) => vec![format!("{dir}/METADATA")],
        };
        out.push(Installed {
            name: name.to_string(),
            version: version.to_string(),
            files,
        });
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    Ok(out)
}

/// The path of one RECORD line (CSV: a path holding a comma is quoted).
fn record_path(line: &str) -> Option<String> {
    let path = match line.strip_prefix('"') {
        Some(rest) => rest.split_once('"')?.0.to_string(),
        None => line.split(',').next()?.to_string(),
    };
    (!path.is_empty()).then_some(path)
}

/// Leaves out what the runtime or an attached layer provides, and measures what remains.
/// `deps` is the installed dependency tree the entries under it come from; `prefix` is where
/// it lands in the zip (`python/` for a layer).
pub fn compose(
    entries: Vec<Entry>,
    deps: Option<&Path>,
    prefix: &str,
    env: &Env,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Entry>, Composition)> {
    let dists = match deps {
        Some(d) => installed(d)?,
        None => Vec::new(),
    };
    // Who provides each distribution instead, if anyone, and for one left to the runtime, the
    // attached layer that would ship it under `keep` (what `drop` really saves leaves it out).
    let mut by: Vec<Option<String>> = Vec::with_capacity(dists.len());
    let mut via_layer: Vec<Option<String>> = Vec::with_capacity(dists.len());
    for d in &dists {
        let n = normalize(&d.name);
        if env.runtime == RuntimeProvided::Drop && RUNTIME_DISTS.contains(&n.as_str()) {
            by.push(Some("runtime".to_string()));
            via_layer.push(
                env.dedupe_layers()
                    .iter()
                    .find(|l| {
                        l.dists
                            .iter()
                            .chain(&l.runtime_dists)
                            .any(|(ln, v)| *ln == n && *v == d.version)
                    })
                    .map(|l| l.id.clone()),
            );
            continue;
        }
        via_layer.push(None);
        let mut provider = None;
        for l in env.dedupe_layers() {
            match l.dists.iter().find(|(ln, _)| *ln == n) {
                Some((_, v)) if *v == d.version => {
                    provider = Some(l.id.clone());
                    break;
                }
                Some((_, v)) => warnings.push(format!(
                    "{} {} stays in the function although layer {} provides {} {v}: the function's copy \
                     (/var/task) shadows the layer's (/opt/python); pin the same version to ship it once",
                    d.name, d.version, l.id, d.name
                )),
                None => {}
            }
        }
        by.push(provider);
    }
    let owner: HashMap<&str, usize> = dists
        .iter()
        .enumerate()
        .flat_map(|(i, d)| d.files.iter().map(move |f| (f.as_str(), i)))
        .collect();

    let mut bytes = vec![0u64; dists.len()];
    let mut code_bytes = 0;
    let mut kept = Vec::with_capacity(entries.len());
    for e in entries {
        let len = std::fs::metadata(&e.source)
            .with_context(|| format!("cannot stat {}", e.source.display()))?
            .len();
        let from_deps = deps.is_some_and(|d| e.source.starts_with(d));
        let dist = e
            .name
            .strip_prefix(prefix)
            .filter(|_| from_deps)
            .and_then(|rel| owner.get(rel).copied());
        match dist {
            Some(i) => {
                bytes[i] += len;
                if by[i].is_none() {
                    kept.push(e);
                }
            }
            None => {
                code_bytes += len;
                kept.push(e);
            }
        }
    }

    let mut c = Composition {
        code_bytes,
        ..Default::default()
    };
    for (((d, b), by), layer) in dists.into_iter().zip(bytes).zip(by).zip(via_layer) {
        match by {
            Some(by) => c.dropped.push(Dropped {
                name: d.name,
                version: d.version,
                bytes: b,
                by,
                layer,
            }),
            None => c.dists.push(Dist {
                name: d.name,
                version: d.version,
                bytes: b,
            }),
        }
    }
    c.dists
        .sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    Ok((kept, c))
}

/// The runtime-provided distributions across a build: what they cost when shipped, or saved
/// when dropped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuntimeCost {
    pub mode: RuntimeProvided,
    /// Unzipped bytes of the runtime-provided distributions shipped (`keep`) or left out (`drop`).
    pub bytes: u64,
    /// How many zips carry (`keep`) or would carry (`drop`) them.
    pub zips: usize,
    /// Which of them those bytes are (`python-dateutil`, `six`), sorted.
    pub packages: Vec<String>,
}

impl RuntimeCost {
    pub fn of<'a>(mode: RuntimeProvided, zips: impl Iterator<Item = &'a Composition>) -> Self {
        let mut cost = RuntimeCost {
            mode,
            ..Default::default()
        };
        let mut packages = std::collections::BTreeSet::new();
        for c in zips {
            let shipped = c
                .dists
                .iter()
                .filter(|d| RUNTIME_DISTS.contains(&normalize(&d.name).as_str()))
                .map(|d| (&d.name, d.bytes));
            // What an attached layer would have carried instead is no saving of this zip.
            let dropped = c
                .dropped
                .iter()
                .filter(|d| d.by == "runtime" && d.layer.is_none())
                .map(|d| (&d.name, d.bytes));
            let mut b = 0;
            for (name, bytes) in shipped.chain(dropped) {
                b += bytes;
                packages.insert(normalize(name).replace('_', "-"));
            }
            if b > 0 {
                cost.bytes += b;
                cost.zips += 1;
            }
        }
        cost.packages = packages.into_iter().collect();
        cost
    }

    /// The build's one line about them, or none when no zip carries them.
    pub fn line(&self) -> Option<String> {
        if self.zips == 0 {
            return None;
        }
        let names = self.packages.join(", ");
        Some(match self.mode {
            RuntimeProvided::Keep => format!(
                "runtime-provided packages ({names}) take {} unzipped in {} zip(s); \
                 set runtime_provided = \"drop\" in xtask.toml to leave them to the Lambda runtime",
                human(self.bytes),
                self.zips
            ),
            RuntimeProvided::Drop => format!(
                "runtime-provided packages ({names}) left out of {} zip(s), {} unzipped, as \
                 runtime_provided = \"drop\" asks; set it to \"keep\" to ship the versions you pinned",
                self.zips,
                human(self.bytes)
            ),
        })
    }
}

/// One artifact in `cargo xtask size`: its zip, its layers, what takes the room.
#[derive(Debug, Serialize)]
pub struct Row {
    pub module: String,
    pub name: String,
    pub kind: Kind,
    pub status: Status,
    pub zip_bytes: Option<u64>,
    pub unzipped_bytes: Option<u64>,
    /// A function's attached layers, unzipped.
    pub layers: Vec<LayerSize>,
    /// A function plus its layers, unzipped: what Lambda's 250 MiB budget counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_unzipped_bytes: Option<u64>,
    pub budget_bytes: u64,
    pub code_bytes: Option<u64>,
    /// Shipped distributions, largest first.
    pub dists: Vec<Dist>,
    pub dropped: Vec<Dropped>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LayerSize {
    pub id: String,
    pub unzipped_bytes: u64,
}

/// The rows `names` ask for (`module-ai/ai-config`, `ai/ai-config` or a name unique in the
/// stack), every artifact when none; an unknown or ambiguous name is an error.
pub fn rows(report: &Report, names: &[String]) -> Result<Vec<Row>> {
    let mut picked: Vec<&Record> = Vec::new();
    for n in names {
        let hits: Vec<&Record> = report
            .artifacts
            .iter()
            .filter(|r| {
                let id = format!("{}/{}", r.module, r.name);
                let short = format!("{}/{}", r.module.trim_start_matches("module-"), r.name);
                *n == id || *n == short || *n == r.name
            })
            .collect();
        match hits.as_slice() {
            [one] => picked.push(one),
            [] => bail!(
                "no artifact {n:?} in this stack; name one as module/name (e.g. {}), or run `cargo xtask size` for all",
                report
                    .artifacts
                    .first()
                    .map_or("module-access/profiles".into(), |r| format!("{}/{}", r.module, r.name))
            ),
            many => bail!(
                "{n:?} names several artifacts ({}); use module/name",
                many.iter()
                    .map(|r| format!("{}/{}", r.module, r.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    if names.is_empty() {
        picked = report.artifacts.iter().collect();
    }
    Ok(picked.into_iter().map(row).collect())
}

fn row(r: &Record) -> Row {
    let c = r.composition.as_ref();
    let layers: Vec<LayerSize> = r
        .layers
        .iter()
        .map(|(id, b)| LayerSize {
            id: id.clone(),
            unzipped_bytes: *b,
        })
        .collect();
    // A function that failed its budget has no zip, but was measured.
    let unzipped = r
        .unzipped_bytes
        .or_else(|| c.map(|c| c.code_bytes + c.dists.iter().map(|d| d.bytes).sum::<u64>()));
    let total = unzipped
        .filter(|_| r.kind == Kind::Function)
        .map(|b| b + layers.iter().map(|l| l.unzipped_bytes).sum::<u64>());
    Row {
        module: r.module.clone(),
        name: r.name.clone(),
        kind: r.kind,
        status: r.status,
        zip_bytes: r.zip_bytes,
        unzipped_bytes: unzipped,
        layers,
        total_unzipped_bytes: total,
        budget_bytes: MAX_UNZIPPED_BYTES,
        code_bytes: c.map(|c| c.code_bytes),
        dists: c.map(|c| c.dists.clone()).unwrap_or_default(),
        dropped: c.map(|c| c.dropped.clone()).unwrap_or_default(),
        error: r.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_as_pep_503() {
        assert_eq!(normalize("Python-Dateutil"), "python_dateutil");
        assert_eq!(normalize("a.b__c"), "a_b_c");
    }

    #[test]
    fn record_paths() {
        assert_eq!(record_path("a/b.py,sha256=x,12").as_deref(), Some("a/b.py"));
        assert_eq!(record_path("\"a,b.py\",,").as_deref(), Some("a,b.py"));
        assert_eq!(record_path(""), None);
    }

    /// An installed tree: `acme` 1.0 and `boto3` 1.35.0, with RECORDs, and the function's file.
    fn tree(dir: &Path) -> Vec<Entry> {
        let mut entries = Vec::new();
        for (name, version) in [("acme", "1.0"), ("boto3", "1.35.0")] {
            let info = format!("{name}-{version}.dist-info");
            std::fs::create_dir_all(dir.join(&info)).unwrap();
            std::fs::create_dir_all(dir.join(name)).unwrap();
            let files = [format!("{name}/__init__.py"), format!("{info}/METADATA")];
            let mut record = String::new();
            for f in &files {
                std::fs::write(dir.join(f), "x".repeat(100)).unwrap();
                record.push_str(&format!("{f},sha256=abc,100\n"));
                entries.push(Entry {
                    name: f.clone(),
                    source: dir.join(f),
                    executable: false,
                });
            }
            std::fs::write(dir.join(&info).join("RECORD"), record).unwrap();
        }
        let code = dir.parent().unwrap().join("lambda_function.py");
        std::fs::write(&code, "y".repeat(7)).unwrap();
        entries.push(Entry {
            name: "lambda_function.py".into(),
            source: code,
            executable: false,
        });
        entries
    }

    #[test]
    fn layers_and_the_runtime_take_out_what_they_provide() {
        let d = tempfile::tempdir().unwrap();
        let deps = d.path().join("deps");
        let layer = |v: &str| LayerView {
            id: "m/common".into(),
            unzipped_bytes: 0,
            dists: vec![("acme".into(), v.into())],
            runtime_dists: Vec::new(),
        };
        let env = |runtime, v: &str, traced| Env {
            runtime,
            layers: vec![layer(v)],
            traced,
            uncounted: Vec::new(),
        };
        let mut w = Vec::new();

        // A layer that would ship boto3 under `keep`: the function's copy is no saving.
        let mut e = env(RuntimeProvided::Drop, "1.0", true);
        e.layers[0].runtime_dists = vec![("boto3".into(), "1.35.0".into())];
        let (_, c) = compose(tree(&deps), Some(&deps), "", &e, &mut w).unwrap();
        let boto3 = c.dropped.iter().find(|x| x.name == "boto3").unwrap();
        assert_eq!(boto3.layer.as_deref(), Some("m/common"));
        assert_eq!(
            RuntimeCost::of(RuntimeProvided::Drop, [&c].into_iter()).bytes,
            0
        );

        let e = env(RuntimeProvided::Drop, "1.0", true);
        let (kept, c) = compose(tree(&deps), Some(&deps), "", &e, &mut w).unwrap();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(c.code_bytes, 7);
        let by: Vec<(&str, &str)> = c
            .dropped
            .iter()
            .map(|x| (x.name.as_str(), x.by.as_str()))
            .collect();
        assert_eq!(by, [("acme", "m/common"), ("boto3", "runtime")]);
        assert!(c.dropped.iter().all(|x| x.bytes == 200));
        assert!(w.is_empty(), "{w:?}");

        let e = env(RuntimeProvided::Keep, "0.9", true);
        let (kept, c) = compose(tree(&deps), Some(&deps), "", &e, &mut w).unwrap();
        assert_eq!(kept.len(), 5);
        assert_eq!(c.dists.len(), 2);
        assert!(
            w[0].contains("acme 1.0") && w[0].contains("acme 0.9"),
            "{w:?}"
        );

        // Guessed layers budget, but take nothing out.
        let e = env(RuntimeProvided::Keep, "1.0", false);
        let (kept, _) = compose(tree(&deps), Some(&deps), "", &e, &mut Vec::new()).unwrap();
        assert_eq!(kept.len(), 5);
        assert!(!e.key().contains("acme"));
    }

    #[test]
    fn budget_counts_the_layers() {
        let env = Env {
            runtime: RuntimeProvided::Keep,
            layers: vec![LayerView::new("m/l".into(), MAX_UNZIPPED_BYTES - 10, None)],
            traced: false,
            uncounted: Vec::new(),
        };
        let mut w = Vec::new();
        assert!(env.check_budget("f", 10, &mut w).is_ok());
        assert_eq!(w.len(), 1);
        let e = env.check_budget("f", 11, &mut w).unwrap_err().to_string();
        assert!(e.contains("with layers m/l"), "{e}");
    }
}
