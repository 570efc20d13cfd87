//! Reading Terraform files with a real HCL parser (hcl-edit, which keeps source spans so every
//! finding can name its line). Shared by `build` (layer attachments), `check` and `verify`.

use std::path::{Component, Path, PathBuf};

use hcl_edit::expr::{Expression, Object, ObjectKey, Traversal, TraversalOperator};
use hcl_edit::structure::{Block, Body};
use hcl_edit::template::Element;
use hcl_edit::visit::{self, Visit};
use hcl_edit::Span;

/// One parsed `.tf` file.
#[derive(Clone)]
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
        TfFile::from_text(path, text)
    }

    pub fn from_text(path: &Path, text: String) -> Result<TfFile, ParseError> {
        match parse_body(&text) {
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

    /// `<ident> "<label>"` blocks (`module`, `output`, `variable`), with their first label.
    pub fn labeled<'a>(&'a self, ident: &'a str) -> impl Iterator<Item = (&'a str, &'a Block)> {
        self.body
            .get_blocks(ident)
            .filter_map(|b| b.labels.first().map(|l| (l.as_str(), b)))
    }

    /// Every `var.<name>` reference, with its line, in source order.
    pub fn var_refs(&self) -> Vec<(String, usize)> {
        struct Refs<'a> {
            file: &'a TfFile,
            out: Vec<(String, usize)>,
        }
        impl Visit for Refs<'_> {
            fn visit_traversal(&mut self, t: &Traversal) {
                if let (Expression::Variable(root), Some(TraversalOperator::GetAttr(name))) =
                    (&t.expr, t.operators.first().map(|o| o.value()))
                {
                    if root.as_str() == "var" {
                        self.out
                            .push((name.as_str().to_string(), self.file.line_of(t)));
                    }
                }
                visit::visit_traversal(self, t);
            }
        }
        let mut refs = Refs {
            file: self,
            out: Vec::new(),
        };
        refs.visit_body(&self.body);
        refs.out
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

/// Whether Terraform would load a configuration from `dir` (a `.tf` or `.tf.json` file).
/// The envs of an `envs/` directory: its subdirectories holding `.tf` files, sorted.
pub fn env_names(envs: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(envs)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| has_tf_files(&e.path()))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub fn has_tf_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".tf") || name.ends_with(".tf.json")
        })
    })
}

/// The HCL parser on a file's text as terraform reads it: a leading UTF-8 byte-order mark (which
/// Windows editors write and terraform skips) is read as three spaces, so every span still
/// indexes the file's own bytes and `check --fix` splices the text with the mark kept.
pub fn parse_body(text: &str) -> Result<Body, hcl_edit::parser::Error> {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => hcl_edit::parser::parse_body(&format!("   {rest}")),
        None => hcl_edit::parser::parse_body(text),
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

/// A string, template or heredoc rendered as text, interpolations kept as `${…}` (e.g.
/// `${local.build_dir}/profiles.zip`). `None` for any other expression.
pub fn template_text(expr: &Expression) -> Option<String> {
    let template = match expr {
        Expression::String(s) => return Some(s.value().clone()),
        Expression::StringTemplate(t) => t,
        // The parser has already stripped a `<<-` heredoc's indentation.
        Expression::HeredocTemplate(h) => &h.template,
        _ => return None,
    };
    let mut out = String::new();
    for el in template.iter() {
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

/// The items of a list expression: a literal list, `concat(…)` of lists, or a `local.*`
/// holding one. `None` when the list is built any other way.
pub fn list_items<'a>(expr: &'a Expression, files: &'a [TfFile]) -> Option<Vec<&'a Expression>> {
    match expr {
        Expression::Array(items) => Some(items.iter().collect()),
        Expression::Parenthesis(p) => list_items(p.inner(), files),
        e => {
            if let Some(("concat", args)) = func_call(e) {
                let mut out = Vec::new();
                for a in args {
                    out.extend(list_items(a, files)?);
                }
                return Some(out);
            }
            list_items(local(files, &local_name(e)?)?, files)
        }
    }
}

/// A module's `output "api_routes"` block and the file that declares it.
pub fn api_routes_output(files: &[TfFile]) -> Option<(&TfFile, &Block)> {
    files.iter().find_map(|f| {
        f.labeled("output")
            .find(|(n, _)| *n == "api_routes")
            .map(|(_, b)| (f, b))
    })
}

/// The fields of an object literal whose keys are names or string literals.
pub fn object_fields(obj: &Object) -> impl Iterator<Item = (&str, &Expression)> {
    obj.iter().filter_map(|(k, v)| {
        let key = match k {
            ObjectKey::Ident(id) => id.as_str(),
            ObjectKey::Expression(e) => e.as_str()?,
        };
        Some((key, v.expr()))
    })
}

/// The expression of `local.<name>`, from any `locals` block of a module's files.
pub fn local<'a>(files: &'a [TfFile], name: &str) -> Option<&'a Expression> {
    local_definition(files, name).map(|(_, e)| e)
}

/// The file and value of `locals { NAME = … }`.
pub fn local_definition<'a>(
    files: &'a [TfFile],
    name: &str,
) -> Option<(&'a TfFile, &'a Expression)> {
    files.iter().find_map(|f| {
        f.body
            .get_blocks("locals")
            .find_map(|b| attr(&b.body, name))
            .map(|e| (f, e))
    })
}

/// `NAME` of an expression written `local.NAME`.
pub fn local_name(expr: &Expression) -> Option<String> {
    let path = traversal_path(expr)?;
    let name = path.strip_prefix("local.")?;
    (!name.contains(['.', '['])).then(|| name.to_string())
}

/// The value of a string expression as far as it can be known without Terraform: `local.*`
/// followed, `path.module` replaced by `module_dir`. So `"${local.build_dir}/x.zip"` becomes
/// `<module_dir>/../backend/.build/x.zip`. `None` when it depends on a variable, a call, etc.
pub fn resolve_text(expr: &Expression, files: &[TfFile], module_dir: &Path) -> Option<String> {
    resolve(expr, files, module_dir, 0)
}

fn resolve(expr: &Expression, files: &[TfFile], dir: &Path, depth: usize) -> Option<String> {
    // Terraform rejects cyclic locals; the bound only keeps a broken file from looping here.
    if depth > 16 {
        return None;
    }
    match expr {
        Expression::String(s) => Some(s.value().clone()),
        Expression::Parenthesis(p) => resolve(p.inner(), files, dir, depth + 1),
        Expression::StringTemplate(t) => {
            let mut out = String::new();
            for el in t.iter() {
                match el {
                    Element::Literal(l) => out.push_str(l.value()),
                    Element::Interpolation(i) => {
                        out.push_str(&resolve(&i.expr, files, dir, depth + 1)?)
                    }
                    Element::Directive(_) => return None,
                }
            }
            Some(out)
        }
        e => match traversal_path(e)?.as_str() {
            "path.module" => Some(dir.to_string_lossy().into_owned()),
            p => {
                let name = p
                    .strip_prefix("local.")
                    .filter(|n| !n.contains(['.', '[']))?;
                resolve(local(files, name)?, files, dir, depth + 1)
            }
        },
    }
}

/// `name(args…)` for a plain function call: its name and arguments.
pub fn func_call(expr: &Expression) -> Option<(&str, Vec<&Expression>)> {
    match expr {
        Expression::FuncCall(f) if !f.name.is_namespaced() => {
            Some((f.name.name.as_str(), f.args.iter().collect()))
        }
        _ => None,
    }
}

/// Removes `.` and `..` without touching the file system: Terraform's paths name zips that
/// may not be built yet.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> TfFile {
        TfFile::from_text(Path::new("main.tf"), text.to_string()).unwrap()
    }

    /// What a Windows editor writes: a byte-order mark and CRLF line endings (issue 22, item 1).
    #[test]
    fn a_byte_order_mark_and_crlf_line_endings_parse_with_spans_into_the_file() {
        let text = "\u{feff}# comment\r\nlocals {\r\n  r = \"python3.11\" # keep\r\n  h = <<EOT\r\nx\r\nEOT\r\n}\r\n";
        let f = file(text);
        let r = f.body.get_blocks("locals").next().unwrap();
        let value = &r.body.get_attribute("r").unwrap().value;
        let span = value.span().unwrap();
        assert_eq!(&f.text[span.clone()], "\"python3.11\"");
        assert_eq!(f.line_of(value), 3);
    }

    #[test]
    fn resolves_locals_and_path_module() {
        let f = file(
            r#"locals {
  build_dir = "${path.module}/../backend/.build"
  zip       = "${local.build_dir}/profiles.zip"
  loop      = local.loop
}
resource "aws_lambda_function" "a" {
  filename = local.zip
  runtime  = var.runtime
  layers   = [local.loop]
}
"#,
        );
        let files = std::slice::from_ref(&f);
        let (_, fun) = f.resources("aws_lambda_function").next().unwrap();
        let text =
            |k: &str| resolve_text(attr(&fun.body, k).unwrap(), files, Path::new("/m/infra"));
        assert_eq!(
            text("filename").as_deref(),
            Some("/m/infra/../backend/.build/profiles.zip")
        );
        assert_eq!(text("runtime"), None);
        let Some(Expression::Array(a)) = attr(&fun.body, "layers") else {
            panic!()
        };
        assert_eq!(
            resolve_text(a.get(0).unwrap(), files, Path::new("/m")),
            None
        );
    }

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("/a/b/../../c/./d.zip")),
            Path::new("/c/d.zip")
        );
        assert_eq!(normalize(Path::new("/../x")), Path::new("/x"));
        assert_eq!(normalize(Path::new("../a/../../b")), Path::new("../../b"));
    }

    #[test]
    fn var_refs_have_lines() {
        let f = file("a = var.x\nb = \"${var.y.z}-${local.q}\"\nc = { k = [var.x] }\n");
        assert_eq!(
            f.var_refs(),
            [("x".into(), 1), ("y".into(), 2), ("x".into(), 3)]
        );
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
