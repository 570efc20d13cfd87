//! Reading Terraform files with a real HCL parser (hcl-edit, which keeps source spans so every
//! finding can name its line). Shared by `build` (layer attachments), `check` and `verify`.

use std::path::{Path, PathBuf};

use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::{Block, Body};
use hcl_edit::template::Element;
use hcl_edit::Span;

/// One parsed `.tf` file.
pub struct TfFile {
    pub path: PathBuf,
    pub text: String,
    pub body: Body,
}

/// A `.tf` file that does not parse: the parser's message and where.
#[derive(Debug, Clone)]
pub struct ParseError {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl TfFile {
    pub fn parse(path: &Path) -> Result<TfFile, ParseError> {
        let text = std::fs::read_to_string(path).map_err(|e| ParseError {
            path: path.to_path_buf(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        match hcl_edit::parser::parse_body(&text) {
            Ok(body) => Ok(TfFile {
                path: path.to_path_buf(),
                text,
                body,
            }),
            Err(e) => Err(ParseError {
                path: path.to_path_buf(),
                line: e.location().line(),
                message: e.message().to_string(),
            }),
        }
    }

    /// The 1-based line of something parsed from this file.
    pub fn line_of(&self, node: &impl Span) -> usize {
        node.span()
            .map(|r| {
                self.text[..r.start.min(self.text.len())]
                    .matches('\n')
                    .count()
                    + 1
            })
            .unwrap_or(0)
    }

    /// `resource "<kind>" "<name>"` blocks of one kind, with their names.
    pub fn resources<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Block)> {
        self.body.get_blocks("resource").filter_map(move |b| {
            match (b.labels.first(), b.labels.get(1)) {
                (Some(k), Some(n)) if k.as_str() == kind => Some((n.as_str(), b)),
                _ => None,
            }
        })
    }
}

/// Every `.tf` file of a directory, sorted; parse failures are returned apart.
pub fn parse_dir(dir: &Path) -> (Vec<TfFile>, Vec<ParseError>) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "tf"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    let (mut files, mut errors) = (Vec::new(), Vec::new());
    for p in paths {
        match TfFile::parse(&p) {
            Ok(f) => files.push(f),
            Err(e) => errors.push(e),
        }
    }
    (files, errors)
}

pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.get_attribute(key).map(|a| &a.value)
}

/// A string or template rendered as text, interpolations kept as `${…}` (e.g.
/// `${local.build_dir}/profiles.zip`). `None` for any other expression.
pub fn template_text(expr: &Expression) -> Option<String> {
    match expr {
        Expression::String(s) => Some(s.value().clone()),
        Expression::StringTemplate(t) => {
            let mut out = String::new();
            for el in t.iter() {
                match el {
                    Element::Literal(l) => out.push_str(l.value()),
                    Element::Interpolation(i) => {
                        out.push_str("${");
                        out.push_str(&traversal_path(&i.expr).unwrap_or_else(|| "…".into()));
                        out.push('}');
                    }
                    Element::Directive(_) => out.push_str("%{…}"),
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// `aws_lambda_layer_version.x.arn` for a plain traversal, `var.y` for a variable.
pub fn traversal_path(expr: &Expression) -> Option<String> {
    match expr {
        Expression::Variable(v) => Some(v.as_str().to_string()),
        Expression::Traversal(t) => {
            let mut s = traversal_path(&t.expr)?;
            for op in &t.operators {
                match op.value() {
                    TraversalOperator::GetAttr(id) => {
                        s.push('.');
                        s.push_str(id.as_str());
                    }
                    TraversalOperator::Index(Expression::Number(n)) => {
                        s.push_str(&format!("[{}]", n.value()));
                    }
                    TraversalOperator::LegacyIndex(n) => s.push_str(&format!("[{}]", n.value())),
                    _ => s.push_str("[*]"),
                }
            }
            Some(s)
        }
        _ => None,
    }
}

/// The file name a `filename = "${local.build_dir}/x.zip"` points at: `x.zip`.
pub fn zip_basename(expr: &Expression) -> Option<String> {
    let text = match expr {
        Expression::FuncCall(_) => None,
        e => template_text(e),
    }?;
    let base = text.rsplit('/').next()?.to_string();
    base.ends_with(".zip").then_some(base)
}

/// How one entry of a function's `layers` list is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerRef {
    /// `aws_lambda_layer_version.<name>.arn` in the same module.
    Resource(String),
    /// `var.<name>`: a layer published elsewhere and passed in.
    Var(String),
    /// Anything else (a literal ARN, a local, a function call).
    Other(String),
}

/// What a module's Terraform says about one `aws_lambda_function`.
#[derive(Debug, Clone)]
pub struct LambdaFunction {
    pub resource: String,
    /// `profiles.zip`, when `filename` is a local path.
    pub zip: Option<String>,
    pub layers: Vec<LayerRef>,
    pub file: PathBuf,
    pub line: usize,
}

/// What a module's Terraform says about one `aws_lambda_layer_version`.
#[derive(Debug, Clone)]
pub struct LambdaLayer {
    pub resource: String,
    pub zip: Option<String>,
}

pub fn lambda_functions(files: &[TfFile]) -> Vec<LambdaFunction> {
    let mut out = Vec::new();
    for f in files {
        for (name, block) in f.resources("aws_lambda_function") {
            let layers = match attr(&block.body, "layers") {
                Some(Expression::Array(items)) => items.iter().map(layer_ref).collect(),
                Some(other) => vec![layer_ref(other)],
                None => Vec::new(),
            };
            out.push(LambdaFunction {
                resource: name.to_string(),
                zip: attr(&block.body, "filename").and_then(zip_basename),
                layers,
                file: f.path.clone(),
                line: f.line_of(block),
            });
        }
    }
    out
}

pub fn lambda_layers(files: &[TfFile]) -> Vec<LambdaLayer> {
    files
        .iter()
        .flat_map(|f| f.resources("aws_lambda_layer_version"))
        .map(|(name, block)| LambdaLayer {
            resource: name.to_string(),
            zip: attr(&block.body, "filename").and_then(zip_basename),
        })
        .collect()
}

fn layer_ref(expr: &Expression) -> LayerRef {
    let path = traversal_path(expr).unwrap_or_else(|| "…".into());
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        ["aws_lambda_layer_version", name, ..] => LayerRef::Resource(name.to_string()),
        ["var", name, ..] => LayerRef::Var(name.to_string()),
        _ => LayerRef::Other(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> TfFile {
        TfFile {
            path: PathBuf::from("main.tf"),
            text: text.to_string(),
            body: hcl_edit::parser::parse_body(text).unwrap(),
        }
    }

    #[test]
    fn reads_function_zip_layers_and_line() {
        let f = file(
            r#"locals { build_dir = "${path.module}/../backend/.build" }

resource "aws_lambda_layer_version" "common" {
  filename = "${local.build_dir}/org-common-layer.zip"
}
resource "aws_lambda_function" "profiles" {
  filename = "${local.build_dir}/profiles.zip"
  layers   = [aws_lambda_layer_version.common.arn, var.org_common_layer_arn]
}
"#,
        );
        let fns = lambda_functions(std::slice::from_ref(&f));
        assert_eq!(fns.len(), 1);
        assert_eq!(fns[0].zip.as_deref(), Some("profiles.zip"));
        assert_eq!(fns[0].line, 6);
        assert_eq!(
            fns[0].layers,
            [
                LayerRef::Resource("common".into()),
                LayerRef::Var("org_common_layer_arn".into())
            ]
        );
        let layers = lambda_layers(&[f]);
        assert_eq!(layers[0].zip.as_deref(), Some("org-common-layer.zip"));
    }

    #[test]
    fn parse_errors_carry_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bad.tf");
        std::fs::write(&p, "resource \"a\" \"b\" {\n  x = \n}\n").unwrap();
        let e = TfFile::parse(&p).err().unwrap();
        assert!(e.line >= 2, "{e:?}");
    }
}
