//! What the Terraform deploying each artifact says about its architecture: a function's
//! `architectures`, a layer's `compatible_architectures`, and which layers each function
//! attaches (a layer's platform may come from its users). The build, `lock` and `check` ask
//! `read` and never the `.tf` files. Values are literals, `local.*` or a `var.*` default; a
//! value passed in by an env is reported as unknown, with its file and line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hcl_edit::expr::Expression;
use hcl_edit::Span;

use crate::config::{Arch, Config};
use crate::stack::discover::{Artifact, Kind};
use crate::stack::hcl::{self as tf, TfFile};

/// One `architectures`/`compatible_architectures` attribute, where it is written.
#[derive(Debug, Clone)]
pub struct Declared {
    pub file: PathBuf,
    /// The attribute's line; the resource's when it is not set.
    pub line: usize,
    /// Whether the resource sets the attribute (else `value` is empty).
    pub set: bool,
    /// The architectures, or why they cannot be known without running terraform.
    pub value: Result<Vec<Arch>, String>,
}

/// Per artifact id (`module/name`): what Terraform declares. An artifact whose resource is not
/// found has no entry.
#[derive(Debug, Default)]
pub struct Architectures {
    pub functions: HashMap<String, Declared>,
    pub layers: HashMap<String, Declared>,
    /// Function id → the layer ids its `layers` list attaches (those that trace to a layer
    /// this stack builds).
    pub attached: HashMap<String, Vec<String>>,
}

/// Reads every artifact's declaration from the Terraform of its module (for the infra repo's
/// own Lambdas: its envs, the first in name order that deploys the zip).
pub fn read(cfg: &Config, infra: Option<&Path>, artifacts: &[Artifact]) -> Architectures {
    let mut out = Architectures::default();
    let mut parsed: HashMap<String, Vec<(PathBuf, Vec<TfFile>)>> = HashMap::new();
    for a in artifacts {
        let scopes = parsed
            .entry(a.module.clone())
            .or_insert_with(|| scopes(cfg, infra, &a.module));
        let (attr, resource) = match a.kind {
            Kind::Function => ("architectures", "aws_lambda_function"),
            Kind::Layer => ("compatible_architectures", "aws_lambda_layer_version"),
        };
        let found = scopes.iter().find_map(|(dir, files)| {
            let (file, block) = find_by_zip(files, dir, resource, &a.zip_name())?;
            Some((dir, files, file, block))
        });
        let Some((dir, files, file, block)) = found else {
            continue;
        };
        if a.kind == Kind::Function && a.module != "infra" {
            let layers = crate::build::declared_layers(files, artifacts, &a.module, &a.name);
            out.attached.insert(a.id(), layers.unwrap_or_default());
        }
        let declared = match block.body.get_attribute(attr) {
            None => Declared {
                file: file.path.clone(),
                line: file.line_of(block),
                set: false,
                value: Ok(Vec::new()),
            },
            Some(attribute) => Declared {
                file: file.path.clone(),
                line: file.line_of(attribute),
                set: true,
                value: arch_list(attr, &attribute.value, files, dir).unwrap_or_else(|| {
                    let written = attribute
                        .value
                        .span()
                        .and_then(|s| file.text.get(s))
                        .unwrap_or("…");
                    Err(format!(
                        "`{attr} = {written}` cannot be evaluated without terraform (only \
                         literals, locals and variable defaults are read)"
                    ))
                }),
            },
        };
        match a.kind {
            Kind::Function => out.functions.insert(a.id(), declared),
            Kind::Layer => out.layers.insert(a.id(), declared),
        };
    }
    out
}

/// The Terraform directories that may deploy `module`'s artifacts, each parsed.
fn scopes(cfg: &Config, infra: Option<&Path>, module: &str) -> Vec<(PathBuf, Vec<TfFile>)> {
    let dirs: Vec<PathBuf> = if module == "infra" {
        let envs = infra.map(|i| i.join("envs")).unwrap_or_default();
        tf::env_names(&envs)
            .into_iter()
            .map(|e| envs.join(e))
            .collect()
    } else {
        vec![cfg
            .stack
            .join("packages")
            .join(module)
            .join("infrastructure")]
    };
    dirs.into_iter()
        .map(|d| {
            let files = tf::parse_dir(&d).0;
            (d, files)
        })
        .collect()
}

/// The `resource` block whose `filename` names `zip`, with its file.
fn find_by_zip<'f>(
    files: &'f [TfFile],
    dir: &Path,
    resource: &'f str,
    zip: &str,
) -> Option<(&'f TfFile, &'f hcl_edit::structure::Block)> {
    files.iter().find_map(|f| {
        f.resources(resource)
            .find(|(_, b)| {
                let filename = tf::attr(&b.body, "filename");
                let resolved = filename
                    .and_then(|e| tf::resolve_text(e, files, dir))
                    .and_then(|p| p.rsplit('/').next().map(str::to_string));
                resolved
                    .or_else(|| filename.and_then(tf::zip_basename))
                    .as_deref()
                    == Some(zip)
            })
            .map(|(_, b)| (f, b))
    })
}

/// The architectures a list expression names: `None` when it cannot be evaluated here;
/// `Some(Err(why))` when it names something Lambda does not offer.
fn arch_list(
    attr: &str,
    expr: &Expression,
    files: &[TfFile],
    dir: &Path,
) -> Option<Result<Vec<Arch>, String>> {
    let expr = var_default(expr, files).unwrap_or(expr);
    let items = tf::list_items(expr, files)?;
    let mut out = Vec::new();
    for item in items {
        let item = var_default(item, files).unwrap_or(item);
        let text = tf::resolve_text(item, files, dir)?;
        match text.as_str() {
            "x86_64" => out.push(Arch::X86_64),
            "arm64" => out.push(Arch::Arm64),
            other => {
                return Some(Err(format!(
                    "`{attr}` names `{other}`, not an architecture Lambda offers (x86_64 or arm64)"
                )))
            }
        }
    }
    Some(Ok(out))
}

/// The default of `var.<name>` declared in `files`, for a plain `var.<name>` expression.
fn var_default<'f>(expr: &Expression, files: &'f [TfFile]) -> Option<&'f Expression> {
    let path = tf::traversal_path(expr)?;
    let name = path
        .strip_prefix("var.")
        .filter(|n| !n.contains(['.', '[']))?;
    files
        .iter()
        .find_map(|f| f.labeled("variable").find(|(n, _)| *n == name))
        .and_then(|(_, b)| tf::attr(&b.body, "default"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arches(tf_text: &str) -> Architectures {
        let d = tempfile::tempdir().unwrap();
        let stack = d.path().join("acme-stack");
        let infra = stack.join("packages/module-x/infrastructure");
        std::fs::create_dir_all(&infra).unwrap();
        std::fs::write(infra.join("main.tf"), tf_text).unwrap();
        let mut cfg = crate::config::load(Some(&stack)).unwrap();
        cfg.stack = stack.clone();
        let art = |name: &str, kind| Artifact {
            module: "module-x".into(),
            name: name.into(),
            kind,
            src: PathBuf::new(),
            out: PathBuf::from(match kind {
                Kind::Function => format!("{name}.zip"),
                Kind::Layer => format!("{name}-layer.zip"),
            }),
            requirements: None,
        };
        read(
            &cfg,
            None,
            &[
                art("a", Kind::Function),
                art("b", Kind::Function),
                art("c", Kind::Function),
                art("d", Kind::Function),
                art("common", Kind::Layer),
            ],
        )
    }

    #[test]
    fn literals_locals_and_variable_defaults_are_read_and_the_rest_named() {
        let a = arches(
            r#"locals { arch = "arm64" }
variable "arch" { default = ["arm64"] }
resource "aws_lambda_layer_version" "common" {
  filename                 = "${path.module}/../backend/.build/common-layer.zip"
  compatible_architectures = ["x86_64", local.arch]
}
resource "aws_lambda_function" "a" {
  filename      = "${path.module}/../backend/.build/a.zip"
  architectures = [local.arch]
  layers        = [aws_lambda_layer_version.common.arn]
}
resource "aws_lambda_function" "b" {
  filename      = "${path.module}/../backend/.build/b.zip"
  architectures = var.arch
}
resource "aws_lambda_function" "c" {
  filename      = "${path.module}/../backend/.build/c.zip"
  architectures = var.from_env
}
resource "aws_lambda_function" "d" {
  filename      = "${path.module}/../backend/.build/d.zip"
  architectures = ["arm"]
}
"#,
        );
        let v = |m: &HashMap<String, Declared>, id: &str| m[id].value.clone();
        assert_eq!(v(&a.functions, "module-x/a"), Ok(vec![Arch::Arm64]));
        assert_eq!(v(&a.functions, "module-x/b"), Ok(vec![Arch::Arm64]));
        let c = v(&a.functions, "module-x/c").unwrap_err();
        assert!(
            c.contains("`architectures = var.from_env` cannot be evaluated"),
            "{c}"
        );
        assert_eq!(a.functions["module-x/c"].line, 18);
        let d = v(&a.functions, "module-x/d").unwrap_err();
        assert!(d.contains("`architectures` names `arm`"), "{d}");
        assert_eq!(
            v(&a.layers, "module-x/common"),
            Ok(vec![Arch::X86_64, Arch::Arm64])
        );
        assert_eq!(a.attached["module-x/a"], ["module-x/common"]);
    }
}
