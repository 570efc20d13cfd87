//! The stack model: every `aws_lambda_function` and `aws_lambda_layer_version` Terraform would
//! deploy, read once per run from the env's root module down (or, without an infra repo, from
//! each `packages/<m>/infrastructure`), with every value the configuration decides evaluated and
//! every one it does not named as an `Unknown` with file:line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::stack::discover::{Artifact, Kind};
use crate::stack::eval::{Ctx, Evaluator};
use crate::stack::hcl::{self as tf, ParseError};
use crate::stack::read::Reader;
use crate::stack::value::{Expansion, Span, Unknown};

/// A value the configuration decides, or why it does not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Field<T> {
    Known(T),
    Unknown { unknown: Unknown },
}

impl<T> Field<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Field::Known(t) => Some(t),
            Field::Unknown { .. } => None,
        }
    }
}

/// Where a function's code comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// `filename`: a local zip, and the artifact of this stack that builds it (its id).
    Zip {
        path: PathBuf,
        artifact: Option<String>,
    },
    /// `s3_bucket`/`s3_key`: code Terraform does not see change (contract F13).
    S3 {
        bucket: Option<Field<String>>,
        key: Field<String>,
    },
    /// `image_uri`: a container image.
    Image { uri: Field<String> },
    /// `filename` that cannot be evaluated.
    Unknown { unknown: Unknown },
    /// None of them (Terraform would reject the resource).
    Missing,
}

/// One entry of a function's `layers`, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LayerTarget {
    /// An `aws_lambda_layer_version` of this configuration (directly, through variables and
    /// outputs, or through a data source naming its `layer_name`).
    Deployed {
        address: String,
    },
    /// A literal ARN: a layer published elsewhere.
    External {
        arn: String,
    },
    Unknown {
        unknown: Unknown,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerUse {
    #[serde(flatten)]
    pub target: LayerTarget,
    /// Attached only on one arm of a conditional whose condition is unknown.
    pub conditional: Option<Unknown>,
}

/// A route an `api_routes` output declares for a function.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub at: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Function {
    /// `module.module_ai.aws_lambda_function.chat["x"]`.
    pub address: String,
    pub at: Span,
    /// The directory of the module that declares it (`path.module`).
    pub module_dir: PathBuf,
    /// Its count/for_each is unknown: kept once, marked.
    pub instances: Option<Unknown>,
    pub function_name: Option<Field<String>>,
    pub code: Code,
    /// `source_code_hash = filebase64sha256(<file>)`: the file it hashes.
    pub source_code_hash: Option<Field<PathBuf>>,
    pub handler: Option<Field<String>>,
    pub runtime: Option<Field<String>>,
    /// Absent means Lambda's default, x86_64.
    pub architectures: Option<Field<Vec<String>>>,
    pub memory_size: Option<Field<String>>,
    pub timeout: Option<Field<String>>,
    /// Names, in the order written (`stack` prints these, never values).
    pub environment: Field<Vec<String>>,
    /// The values of those the configuration decides (never a sensitive variable's): smoke's
    /// import environment. Never printed.
    #[serde(skip)]
    pub environment_values: BTreeMap<String, String>,
    pub layers: Vec<LayerUse>,
    pub routes: Vec<Route>,
    /// `aws_apigatewayv2_integration`s whose `integration_uri` is this function's.
    pub integrations: Vec<String>,
    /// `aws_lambda_permission`s that let API Gateway invoke it.
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    pub address: String,
    pub at: Span,
    pub instances: Option<Unknown>,
    pub layer_name: Option<Field<String>>,
    pub zip: Option<Field<PathBuf>>,
    /// The artifact of this stack that builds the zip (its id).
    pub artifact: Option<String>,
    pub compatible_runtimes: Option<Field<Vec<String>>>,
    pub compatible_architectures: Option<Field<Vec<String>>>,
    /// Addresses of the functions attaching it.
    pub users: Vec<String>,
}

/// A function's layers as layer artifacts of this stack, in order, each once.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Attachments {
    /// Attached whatever any unknown condition turns out to be.
    pub certain: Vec<String>,
    /// Also those attached on one arm of an unknown conditional.
    pub possible: Vec<String>,
    /// Every entry is an unconditional layer built here: nothing else is on the function.
    pub complete: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Model {
    /// The root modules read: the env, or each package's infrastructure.
    pub roots: Vec<PathBuf>,
    pub functions: Vec<Function>,
    pub layers: Vec<Layer>,
    /// Every Unknown the model met, once per place it is written.
    pub unknowns: Vec<Unknown>,
    /// Every count/for_each Terraform cannot evaluate before a first apply (check's F19).
    pub unknown_expansions: Vec<crate::stack::lookups::UnknownExpansion>,
    /// Every data source that looks up what this configuration deploys (check's F20).
    pub data_lookups: Vec<crate::stack::lookups::DataLookup>,
    /// The evaluated tree both come from, for check's F19/F20 (chains, `--fix` splices).
    #[serde(skip)]
    pub tree: Option<crate::stack::graph::Tree>,
    #[serde(skip)]
    pub parse_errors: Vec<ParseError>,
    /// Said once by the pass that loaded the model: it was not read from the env asked for.
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl Model {
    /// The function instances the block at `file:line` declares (one, or one per count/for_each
    /// key): how a check rule walking a file's syntax finds what the model made of it.
    pub fn functions_at<'a>(
        &'a self,
        file: &Path,
        line: usize,
    ) -> impl Iterator<Item = &'a Function> {
        let file = canonical_lossy(file);
        self.functions
            .iter()
            .filter(move |m| m.at.line == line && canonical_lossy(&m.at.file) == file)
    }

    /// The layer instances the block at `file:line` declares.
    pub fn layers_at<'a>(&'a self, file: &Path, line: usize) -> impl Iterator<Item = &'a Layer> {
        let file = canonical_lossy(file);
        self.layers
            .iter()
            .filter(move |l| l.at.line == line && canonical_lossy(&l.at.file) == file)
    }

    /// The model of `stack`: from `<infra>/envs/<env>` when it exists, else from every
    /// `packages/<m>/infrastructure`. `artifacts` are matched to the zips Terraform names.
    pub fn load(stack: &Path, infra: Option<&Path>, env: &str, artifacts: &[Artifact]) -> Model {
        let env_dir = infra
            .map(|i| i.join("envs").join(env))
            .filter(|d| tf::has_tf_files(d));
        let mut notes = Vec::new();
        let envs = infra.map(|i| i.join("envs")).filter(|e| e.is_dir());
        if let (Some(envs), None) = (envs, &env_dir) {
            notes.push(format!(
                "no env `{env}` in {} (envs: {}): each package's infrastructure is read on its own, \
                 so layers and values passed by an env are not followed; pass --env",
                envs.display(),
                tf::env_names(&envs).join(", ")
            ));
        }
        let roots: Vec<PathBuf> = match env_dir {
            Some(d) => vec![d],
            None => crate::stack::discover::modules(stack)
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.dir.join("infrastructure"))
                .filter(|d| tf::has_tf_files(d))
                .collect(),
        };
        Model {
            notes,
            ..Model::from_roots(roots, artifacts)
        }
    }

    pub fn from_roots(roots: Vec<PathBuf>, artifacts: &[Artifact]) -> Model {
        let ev = Evaluator::load(&roots);
        let outs: Vec<(PathBuf, &Artifact)> = artifacts
            .iter()
            .map(|a| (canonical_lossy(&a.out), a))
            .collect();
        let artifact_of = |p: &Path, kind: Kind| {
            let p = canonical_lossy(p);
            outs.iter()
                .find(|(o, a)| *o == p && a.kind == kind)
                .map(|(_, a)| a.id())
        };
        let mut m = Model {
            roots,
            parse_errors: ev.parse_errors(),
            ..Default::default()
        };
        for inst in 0..ev.instances.len() {
            if !live(&ev, inst) {
                continue;
            }
            let src = ev.instances[inst].src.clone();
            for (file, name, block) in src.resources("aws_lambda_layer_version") {
                let expansion = ev.expansion(inst, file, block);
                for (suffix, scope) in expansion.instances() {
                    let r = Reader {
                        ev: &ev,
                        ctx: Ctx {
                            inst,
                            file,
                            scope: &scope,
                        },
                        block,
                    };
                    let zip = r.path("filename");
                    let artifact = zip
                        .as_ref()
                        .and_then(|z| z.known())
                        .and_then(|p| artifact_of(p, Kind::Layer));
                    m.layers.push(Layer {
                        address: format!(
                            "{}aws_lambda_layer_version.{name}{suffix}",
                            ev.instances[inst].prefix()
                        ),
                        at: ev.span(inst, file, block),
                        instances: unknown_expansion(&expansion),
                        layer_name: r.text("layer_name"),
                        zip,
                        artifact,
                        compatible_runtimes: r.list("compatible_runtimes"),
                        compatible_architectures: r.list("compatible_architectures"),
                        users: Vec::new(),
                    });
                }
            }
            for (file, name, block) in src.resources("aws_lambda_function") {
                let expansion = ev.expansion(inst, file, block);
                for (suffix, scope) in expansion.instances() {
                    let r = Reader {
                        ev: &ev,
                        ctx: Ctx {
                            inst,
                            file,
                            scope: &scope,
                        },
                        block,
                    };
                    let code = r.code(&|p| artifact_of(p, Kind::Function));
                    m.functions.push(Function {
                        address: format!(
                            "{}aws_lambda_function.{name}{suffix}",
                            ev.instances[inst].prefix()
                        ),
                        at: ev.span(inst, file, block),
                        module_dir: src.dir.clone(),
                        instances: unknown_expansion(&expansion),
                        function_name: r.text("function_name"),
                        code,
                        source_code_hash: r.hash(),
                        handler: r.text("handler"),
                        runtime: r.text("runtime"),
                        architectures: r.list("architectures"),
                        memory_size: r.text("memory_size"),
                        timeout: r.text("timeout"),
                        environment: r.env_names(),
                        environment_values: r.env_values(),
                        layers: r.layers(),
                        routes: Vec::new(),
                        integrations: Vec::new(),
                        permissions: Vec::new(),
                    });
                }
            }
        }
        let more = crate::stack::links::link(&ev, &mut m);
        m.collect_unknowns(more);
        // The same reader as check's F19/F20 and deploy's bootstrap, on this evaluator.
        let env_dir = (m.roots.len() == 1).then(|| m.roots[0].clone());
        let tree = crate::stack::graph::Tree::new(ev, env_dir.as_deref());
        (m.unknown_expansions, m.data_lookups) = tree.lookups();
        m.tree = Some(tree);
        m
    }

    /// The `.tf` files of `dir` and their parse errors as the model read them, so a run parses
    /// each directory once; parsed now when the model did not read `dir`.
    pub fn parsed(&self, dir: &Path) -> (Vec<tf::TfFile>, Vec<ParseError>) {
        self.tree
            .as_ref()
            .and_then(|t| t.ev.instances.iter().find(|i| i.src.dir == dir))
            .map(|i| (i.src.files.clone(), i.src.errors.clone()))
            .unwrap_or_else(|| tf::parse_dir(dir))
    }

    /// The function whose zip the artifact `id` builds.
    pub fn function_for_artifact(&self, id: &str) -> Option<&Function> {
        self.functions
            .iter()
            .find(|f| matches!(&f.code, Code::Zip { artifact: Some(a), .. } if a == id))
    }

    /// Why no function of the model may deploy a zip: the functions whose code it cannot
    /// evaluate, each with its unknown, in the words every pass uses.
    pub fn unresolved_code(&self, base: &Path) -> Vec<String> {
        self.functions
            .iter()
            .filter_map(|f| match &f.code {
                Code::Unknown { unknown } => Some(format!(
                    "{}'s zip is {}",
                    f.address,
                    not_checked(unknown, base)
                )),
                _ => None,
            })
            .collect()
    }

    pub fn layer(&self, address: &str) -> Option<&Layer> {
        self.layers.iter().find(|l| l.address == address)
    }

    /// What the build, size and check need of a function's layers (see `Attachments`).
    pub fn attachments(&self, f: &Function) -> Attachments {
        let mut a = Attachments {
            complete: true,
            ..Default::default()
        };
        for u in &f.layers {
            let id = match &u.target {
                LayerTarget::Deployed { address } => {
                    self.layer(address).and_then(|l| l.artifact.clone())
                }
                _ => None,
            };
            match id {
                Some(id) => {
                    if u.conditional.is_none() && !a.certain.contains(&id) {
                        a.certain.push(id.clone());
                    }
                    if !a.possible.contains(&id) {
                        a.possible.push(id);
                    }
                }
                None => a.complete = false,
            }
            if u.conditional.is_some() {
                a.complete = false;
            }
        }
        a
    }

    /// The artifact ids of the layers a function attaches this stack builds, in order.
    pub fn layer_artifacts(&self, f: &Function) -> Vec<String> {
        f.layers
            .iter()
            .filter_map(|u| match &u.target {
                LayerTarget::Deployed { address } => self.layer(address)?.artifact.clone(),
                _ => None,
            })
            .collect()
    }

    fn collect_unknowns(&mut self, more: Vec<Unknown>) {
        let mut all: Vec<&Unknown> = more.iter().collect();
        fn field<'a, T>(f: &'a Option<Field<T>>, all: &mut Vec<&'a Unknown>) {
            if let Some(Field::Unknown { unknown }) = f {
                all.push(unknown);
            }
        }
        for f in &self.functions {
            all.extend(&f.instances);
            field(&f.function_name, &mut all);
            match &f.code {
                Code::S3 { bucket, key } => {
                    field(bucket, &mut all);
                    if let Field::Unknown { unknown } = key {
                        all.push(unknown);
                    }
                }
                Code::Image {
                    uri: Field::Unknown { unknown },
                }
                | Code::Unknown { unknown } => all.push(unknown),
                _ => {}
            }
            for x in [&f.handler, &f.runtime, &f.memory_size, &f.timeout] {
                field(x, &mut all);
            }
            field(&f.source_code_hash, &mut all);
            field(&f.architectures, &mut all);
            if let Field::Unknown { unknown } = &f.environment {
                all.push(unknown);
            }
            for l in &f.layers {
                if let LayerTarget::Unknown { unknown } = &l.target {
                    all.push(unknown);
                }
                all.extend(&l.conditional);
            }
        }
        for l in &self.layers {
            all.extend(&l.instances);
            field(&l.layer_name, &mut all);
            field(&l.zip, &mut all);
            field(&l.compatible_runtimes, &mut all);
            field(&l.compatible_architectures, &mut all);
        }
        let mut by_span: BTreeMap<Span, Unknown> = BTreeMap::new();
        for u in all {
            by_span.entry(u.at.clone()).or_insert_with(|| u.clone());
        }
        self.unknowns = by_span.into_values().collect();
    }
}

/// How every pass says it skipped something: "not checked: <why> at <file:line> (via …)".
pub fn not_checked(u: &Unknown, base: &Path) -> String {
    let rel = |s: &Span| {
        format!(
            "{}:{}",
            s.file.strip_prefix(base).unwrap_or(&s.file).display(),
            s.line
        )
    };
    let mut out = format!("not checked: {} at {}", u.why, rel(&u.at));
    if !u.via.is_empty() {
        let via: Vec<String> = u.via.iter().map(rel).collect();
        out.push_str(&format!(" (via {})", via.join(" <- ")));
    }
    out
}

/// Canonical for the part of the path that exists: a zip not built yet still compares equal to
/// the artifact that will write it, however either path is spelled.
pub fn canonical_lossy(p: &Path) -> PathBuf {
    let p = tf::normalize(p);
    let mut existing = p.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return p,
        }
    }
    let mut out = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_path_buf());
    out.extend(rest.iter().rev());
    out
}

fn unknown_expansion(e: &Expansion) -> Option<Unknown> {
    match e {
        Expansion::Unknown(u) => Some(u.clone()),
        _ => None,
    }
}

/// False inside a module called with `count = 0` (or an empty for_each): it deploys nothing.
fn live(ev: &Evaluator, inst: usize) -> bool {
    let mut i = inst;
    while let (Some(parent), Some(call)) = (ev.instances[i].parent, &ev.instances[i].call) {
        match ev.expansion(parent, call.file, &call.block) {
            Expansion::Count(0) => return false,
            Expansion::Each(items) if items.is_empty() => return false,
            _ => {}
        }
        i = parent;
    }
    true
}
