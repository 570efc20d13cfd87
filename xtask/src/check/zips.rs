//! F13 local zips and their hashes, F14 zips vs build outputs.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use hcl_edit::expr::Expression;
use hcl_edit::structure::Block;

use super::layout::empty_layer;
use super::{scopes, Checker, Env, ModuleTf, Scope};
use crate::discover::{Artifact, Kind};
use crate::tf::{self, TfFile};

/// What `lambda_code` learned for later checks.
#[derive(Default)]
pub(super) struct Code {
    /// Artifact id → the Terraform resource that deploys it.
    pub(super) resource_of: HashMap<String, String>,
    /// Owners (`module-access`, `infra`) whose Terraform is missing or did not parse, or has a
    /// function or layer whose zip cannot be known: whether an artifact is deployed is unknown.
    pub(super) uncertain: BTreeSet<String>,
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
        for (owner, scope) in &scopes {
            if !scope.readable {
                code.uncertain.insert(owner.to_string());
            }
            for f in scope.files {
                for kind in ["aws_lambda_function", "aws_lambda_layer_version"] {
                    for (name, block) in f.resources(kind) {
                        let addr = format!("{kind}.{name}");
                        let Some((zip, line)) = self.local_zip(scope, cwd, f, block, &addr) else {
                            // Code from S3 (already an error) still deploys the zip its key names.
                            let key = tf::attr(&block.body, "s3_key").and_then(tf::zip_basename);
                            match artifacts
                                .iter()
                                .find(|a| key.as_ref() == Some(&a.zip_name()))
                            {
                                Some(a) => referenced.insert(a.id()),
                                None => code.uncertain.insert(owner.to_string()),
                            };
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
        for a in artifacts {
            // An empty layer is already an error and builds nothing.
            if referenced.contains(&a.id()) || code.uncertain.contains(&a.module) || empty_layer(a)
            {
                continue;
            }
            if a.module == "infra" && env.is_none() {
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
                let same = hashed.is_some_and(|h| {
                    match (tf::resolve_text(h, scope.files, scope.dir), &resolved) {
                        (Some(a), Some(b)) => {
                            tf::normalize(Path::new(&a)) == tf::normalize(Path::new(b))
                        }
                        _ => written(h) == written(&attr.value),
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
