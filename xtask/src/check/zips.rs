//! F13 local zips and their hashes, F14 zips vs build outputs.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use hcl_edit::expr::Expression;
use hcl_edit::structure::Block;

use super::{scopes, Checker, Env, ModuleTf, Scope};
use crate::stack::discover::{Artifact, Kind};
use crate::stack::hcl::{self as tf, TfFile};

/// What `lambda_code` learned for later checks.
#[derive(Default)]
pub(super) struct Code {
    /// Artifact id → the Terraform resource that deploys it.
    pub(super) resource_of: HashMap<String, String>,
}

/// A function or layer whose zip is not known offline: it may deploy any artifact of its owner
/// and kind whose zip name fits `pattern` (`${each.key}.zip` → `*.zip`; `None`: any).
struct Unknown {
    owner: String,
    kind: Kind,
    addr: String,
    file: PathBuf,
    line: usize,
    filename: String,
    pattern: Option<glob::Pattern>,
}

impl Checker<'_> {
    /// F13 local zips and F14 zips vs build outputs.
    pub(super) fn lambda_code(
        &mut self,
        modules: &[ModuleTf],
        env: Option<&Env>,
        artifacts: &[Artifact],
    ) -> Code {
        let mut code = Code::default();
        let scopes = scopes(modules, env);
        // Terraform resolves relative paths against the directory it runs in: the env.
        let cwd = env.map(|e| e.dir.as_path());
        let mut referenced = BTreeSet::new();
        // Owners whose Terraform is missing or did not parse: nothing about them is certain.
        let mut unreadable = BTreeSet::new();
        let mut unknown: Vec<Unknown> = Vec::new();
        for (owner, scope) in &scopes {
            if !scope.readable {
                unreadable.insert(owner.to_string());
            }
            for f in scope.files {
                for (kind, resource) in [
                    (Kind::Function, "aws_lambda_function"),
                    (Kind::Layer, "aws_lambda_layer_version"),
                ] {
                    for (name, block) in f.resources(resource) {
                        let addr = format!("{resource}.{name}");
                        let Some((zip, line)) = self.local_zip(scope, cwd, f, block, &addr) else {
                            // Code from S3 (already an error) still deploys the zip its key names.
                            let key = tf::attr(&block.body, "s3_key").and_then(tf::zip_basename);
                            match artifacts
                                .iter()
                                .find(|a| key.as_ref() == Some(&a.zip_name()))
                            {
                                Some(a) => {
                                    referenced.insert(a.id());
                                }
                                None => {
                                    let filename = block.body.get_attribute("filename");
                                    unknown.push(Unknown {
                                        owner: owner.to_string(),
                                        kind,
                                        addr,
                                        file: f.path.clone(),
                                        line: filename.map_or(f.line_of(block), |a| f.line_of(a)),
                                        filename: filename
                                            .map(|a| written(&a.value))
                                            .unwrap_or_default(),
                                        pattern: filename.and_then(|a| zip_pattern(&a.value)),
                                    });
                                }
                            }
                            continue;
                        };
                        match artifacts.iter().find(|a| zip.is(a)) {
                            Some(a) => {
                                referenced.insert(a.id());
                                code.resource_of.insert(a.id(), addr);
                            }
                            None => self.zip_not_built(&zip, artifacts, f, line, &addr),
                        }
                    }
                }
            }
        }
        // What the stack model resolves (nested modules, variables, for_each) is deployed too.
        for f in &self.model.functions {
            if let crate::stack::model::Code::Zip {
                artifact: Some(id), ..
            } = &f.code
            {
                referenced.insert(id.clone());
            }
        }
        referenced.extend(self.model.layers.iter().filter_map(|l| l.artifact.clone()));
        // Artifact ids each unknown zip may be.
        let mut maybe: Vec<Vec<String>> = vec![Vec::new(); unknown.len()];
        for a in artifacts {
            // An empty layer is already an error and builds nothing.
            if referenced.contains(&a.id()) || unreadable.contains(&a.module) || self.empty_layer(a)
            {
                continue;
            }
            if a.module == "infra" && env.is_none() {
                continue;
            }
            let mut certain = true;
            for (i, u) in unknown.iter().enumerate() {
                let fits = u.pattern.as_ref().is_none_or(|p| p.matches(&a.zip_name()));
                if u.owner == a.module && u.kind == a.kind && fits {
                    maybe[i].push(a.zip_name());
                    certain = false;
                }
            }
            if !certain {
                continue;
            }
            let resource = match a.kind {
                Kind::Function => "an aws_lambda_function",
                Kind::Layer => "an aws_lambda_layer_version",
            };
            self.warn(
                "F14-zip-unused",
                &a.src,
                0,
                format!(
                    "{} builds {}, which no Terraform resource reads",
                    a.id(),
                    a.zip_name()
                ),
                format!(
                    "deploy it with {resource} whose filename is that zip, or remove the \
                     directory (or list it under exclude in xtask.toml)"
                ),
            );
        }
        // A filename built from for_each or count: say what is not checked, once per resource.
        for (u, zips) in unknown.iter().zip(maybe) {
            if u.pattern.is_none() || zips.is_empty() {
                continue;
            }
            self.warn(
                "F14-zip-unverified",
                &u.file,
                u.line,
                format!(
                    "{} reads {}, which is not known offline, so whether it deploys {} is not \
                     checked",
                    u.addr,
                    u.filename,
                    zips.join(", ")
                ),
                "write filename as a literal path (or through a local), or accept this with \
                 a waiver saying which zips it deploys"
                    .into(),
            );
        }
        code
    }

    /// F13: the resource deploys a local zip, hashed by `source_code_hash`. Returns the zip and
    /// the line of `filename`.
    fn local_zip(
        &mut self,
        scope: &Scope,
        cwd: Option<&Path>,
        f: &TfFile,
        block: &Block,
        addr: &str,
    ) -> Option<(ZipRef, usize)> {
        let remote: Vec<&str> = ["s3_bucket", "s3_key", "s3_object_version", "image_uri"]
            .into_iter()
            .filter(|k| tf::attr(&block.body, k).is_some())
            .collect();
        if let Some(first) = remote.first() {
            let line = block.body.get_attribute(first).map_or(0, |a| f.line_of(a));
            self.error(
                "F13-s3-code",
                &f.path,
                line,
                format!(
                    "{addr} takes its code from {}: terraform never sees a new local build",
                    remote.join(", ")
                ),
                format!(
                    "remove {} and set filename to the built zip with source_code_hash = \
                     filebase64sha256(<same path>)",
                    remote.join(", ")
                ),
            );
            return None;
        }
        let Some(attr) = block.body.get_attribute("filename") else {
            self.error(
                "F13-no-local-zip",
                &f.path,
                f.line_of(block),
                format!("{addr} has no filename"),
                "set filename = \"${local.build_dir}/<name>.zip\" (the zip cargo xtask build \
                 writes)"
                    .into(),
            );
            return None;
        };
        let line = f.line_of(attr);
        let resolved = tf::resolve_text(&attr.value, scope.files, scope.dir);
        let zip = match &resolved {
            Some(text) if text.ends_with(".zip") => {
                let p = Path::new(text);
                let base = cwd.unwrap_or(scope.dir);
                Some(ZipRef::Path(tf::normalize(&base.join(p))))
            }
            Some(text) => {
                self.error(
                    "F13-no-local-zip",
                    &f.path,
                    line,
                    format!("{addr} has filename \"{text}\", which is not a .zip"),
                    "point filename at the zip cargo xtask build writes".into(),
                );
                return None;
            }
            // A name built from for_each or count (`${each.key}.zip`) is not known offline.
            None => tf::zip_basename(&attr.value)
                .filter(|b| !b.contains("${") && !b.contains("%{"))
                .map(ZipRef::Name),
        };
        match tf::attr(&block.body, "source_code_hash") {
            None => self.error(
                "F13-hash-mismatch",
                &f.path,
                f.line_of(block),
                format!(
                    "{addr} has no source_code_hash: terraform does not notice a rebuilt \
                     zip, so new code never deploys"
                ),
                format!(
                    "add source_code_hash = filebase64sha256({})",
                    written(&attr.value)
                ),
            ),
            Some(hash) => {
                let hashed = match tf::func_call(hash) {
                    Some(("filebase64sha256", args)) if args.len() == 1 => Some(args[0]),
                    _ => None,
                };
                let model_same = self.model_hash_matches(f, block);
                let same = hashed.is_some_and(|h| {
                    match (tf::resolve_text(h, scope.files, scope.dir), &resolved) {
                        (Some(a), Some(b)) => {
                            tf::normalize(Path::new(&a)) == tf::normalize(Path::new(b))
                        }
                        // Through variables: the stack model evaluates both.
                        _ => model_same.unwrap_or_else(|| written(h) == written(&attr.value)),
                    }
                });
                if !same {
                    let what = match hashed {
                        Some(h) => format!("hashes {}", written(h)),
                        None => "is not filebase64sha256(<zip>)".into(),
                    };
                    self.error(
                        "F13-hash-mismatch",
                        &f.path,
                        f.line_of(hash),
                        format!(
                            "{addr}: source_code_hash {what} but filename is {}",
                            written(&attr.value)
                        ),
                        format!(
                            "set source_code_hash = filebase64sha256({})",
                            written(&attr.value)
                        ),
                    );
                }
            }
        }
        zip.map(|z| (z, line))
    }

    /// Whether the stack model evaluates this resource's `source_code_hash` to a hash of the
    /// zip its `filename` names (`None`: it evaluates neither).
    fn model_hash_matches(&self, f: &TfFile, block: &Block) -> Option<bool> {
        use crate::stack::model::{canonical_lossy, Code, Field};
        let m = self.model.functions_at(&f.path, f.line_of(block)).next()?;
        match (&m.code, &m.source_code_hash) {
            (Code::Zip { path, .. }, Some(Field::Known(hashed))) => {
                Some(canonical_lossy(path) == canonical_lossy(hashed))
            }
            _ => None,
        }
    }

    fn zip_not_built(
        &mut self,
        zip: &ZipRef,
        artifacts: &[Artifact],
        f: &TfFile,
        line: usize,
        addr: &str,
    ) {
        let (shown, beside): (String, Vec<String>) = match zip {
            ZipRef::Path(p) => (
                self.rel(p),
                artifacts
                    .iter()
                    .filter(|a| a.out.parent() == p.parent())
                    .map(Artifact::zip_name)
                    .collect(),
            ),
            ZipRef::Name(n) => (n.clone(), Vec::new()),
        };
        let fix = if beside.is_empty() {
            "the build writes <module>/backend/.build/<fn>.zip and <layer>-layer.zip, and \
             <infra>/build/<fn>.zip; point filename there with ${path.module}/… \
             (relative paths resolve from the env directory)"
                .to_string()
        } else {
            format!(
                "the build writes {} there: fix the name, or rename the source directory",
                beside.join(", ")
            )
        };
        self.error(
            "F14-zip-not-built",
            &f.path,
            line,
            format!("{addr} reads {shown}, which cargo xtask build does not produce"),
            fix,
        );
    }
}

/// A zip as Terraform names it: a full path when it resolves offline, else just the file name.
enum ZipRef {
    Path(PathBuf),
    Name(String),
}

impl ZipRef {
    fn is(&self, a: &Artifact) -> bool {
        match self {
            ZipRef::Path(p) => tf::normalize(&a.out) == *p,
            ZipRef::Name(n) => a.zip_name() == *n,
        }
    }
}

/// How an expression is written, for messages: `${local.build_dir}/x.zip`, `local.zip`.
fn written(expr: &Expression) -> String {
    tf::template_text(expr)
        .map(|t| format!("\"{t}\""))
        .or_else(|| tf::traversal_path(expr))
        .unwrap_or_else(|| expr.to_string().trim().to_string())
}

/// The zip names a dynamic `filename` can take, as a glob: `"${local.dir}/${each.key}.zip"` →
/// `*.zip`. `None` when not even the file name's shape is written down.
fn zip_pattern(expr: &Expression) -> Option<glob::Pattern> {
    let text = tf::template_text(expr)?;
    let base = text.rsplit('/').next()?;
    let mut out = String::new();
    let mut rest = base;
    while let Some(start) = rest.find("${").or_else(|| rest.find("%{")) {
        out.push_str(&glob::Pattern::escape(&rest[..start]));
        out.push('*');
        rest = &rest[start..];
        let end = rest.find('}')?;
        rest = &rest[end + 1..];
    }
    out.push_str(&glob::Pattern::escape(rest));
    out.ends_with(".zip")
        .then(|| glob::Pattern::new(&out).ok())?
}
