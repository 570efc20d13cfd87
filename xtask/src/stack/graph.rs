//! An env's configuration as Terraform sees it before the first apply, read through the stack
//! model's evaluator (`eval`): the addresses it declares, and which `count`/`for_each` Terraform
//! cannot evaluate at plan time because they depend on an attribute only the apply of a
//! resource of this configuration knows (`Why::ResourceAttr`). `check` (F19, F20),
//! `plan`/`deploy` (bootstrap stages) and the stage address checks read it.

use std::path::{Path, PathBuf};

use hcl_edit::expr::Expression;
use hcl_edit::structure::Block;
use hcl_edit::template::Element;
use hcl_edit::Span as _;

use super::eval::{as_unknown, Ctx, Evaluator};
use super::hcl::{self, TfFile};
use super::tree::Child;
use super::value::{Expansion, Scope, Unknown as EvalUnknown, Value, Why};

/// Bounds the name evaluation of a broken (cyclic) configuration.
const MAX_DEPTH: usize = 48;

/// The env and the local modules it calls, as the evaluator loads them.
pub struct Tree {
    pub ev: Evaluator,
    /// `var.x` values of the root from `terraform.tfvars` and `*.auto.tfvars` (literals only).
    tfvars: Vec<TfFile>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("instances", &self.len())
            .finish_non_exhaustive()
    }
}

/// One hop of a trace, as `file:line` and the source text there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    pub file: PathBuf,
    pub line: usize,
    pub text: String,
}

/// Why a value is unknown at plan time: the hops from where it is used to the resource whose
/// attribute only the apply knows.
#[derive(Debug, Clone)]
pub struct Unknown {
    pub steps: Vec<Step>,
    /// `module.gw.aws_lambda_function.authorizer`: what must exist first.
    pub resource: String,
    pub attr: String,
}

/// A `count`/`for_each` Terraform cannot evaluate at plan time on a fresh env.
pub struct CountUnknown {
    /// `module.gw.aws_lambda_permission.authorizer`.
    pub address: String,
    /// `count` or `for_each`.
    pub meta: &'static str,
    pub file: PathBuf,
    pub line: usize,
    pub why: Unknown,
    /// The same, as the evaluator names it (why, at, via): what `stack --json` shows.
    pub unknown: EvalUnknown,
}

impl Tree {
    /// Reads the env directory and every local module it calls. Files that do not parse are
    /// left out (check reports them as TF-parse-error).
    pub fn load(env_dir: &Path) -> Tree {
        Tree::new(Evaluator::load(&[env_dir.to_path_buf()]), Some(env_dir))
    }

    /// The tree of an evaluator already loaded (the model's); root variables read from the
    /// tfvars of `env_dir` (none without an env: each package's infrastructure on its own).
    pub fn new(ev: Evaluator, env_dir: Option<&Path>) -> Tree {
        let mut tfvars: Vec<PathBuf> = env_dir
            .and_then(|d| std::fs::read_dir(d).ok())
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().unwrap_or_default().to_string_lossy();
                n == "terraform.tfvars" || n.ends_with(".auto.tfvars")
            })
            .collect();
        tfvars.sort();
        Tree {
            ev,
            tfvars: tfvars
                .iter()
                .filter_map(|p| TfFile::parse(p).ok())
                .collect(),
        }
    }

    /// The module instances, the env's root first.
    pub fn len(&self) -> usize {
        self.ev.instances.len()
    }

    /// `""` for the root, else `module.a` or `module.a.module.b`.
    pub fn addr(&self, m: usize) -> String {
        self.ev.instances[m]
            .prefix()
            .trim_end_matches('.')
            .to_string()
    }

    pub fn files(&self, m: usize) -> &[TfFile] {
        &self.ev.instances[m].src.files
    }

    /// The calling module and the call's name; `None` for the root.
    pub fn parent(&self, m: usize) -> Option<(usize, &str)> {
        let i = &self.ev.instances[m];
        Some((i.parent?, i.call.as_ref()?.name.as_str()))
    }

    /// Every address the configuration declares: module calls, resources, data sources
    /// (without instance keys), sorted.
    pub fn addresses(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in 0..self.len() {
            let addr = self.addr(m);
            for call in self.ev.instances[m].children.keys() {
                out.push(join(&addr, &format!("module.{call}")));
            }
            for f in self.files(m) {
                for b in f.body.get_blocks("resource") {
                    out.extend(block_address(&addr, b, ""));
                }
                for b in f.body.get_blocks("data") {
                    out.extend(block_address(&addr, b, "data."));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether `address` (instance keys allowed: `module.a["x"].aws_y.z[0]`) names something
    /// of the configuration, or something inside a module whose source is not local.
    pub fn declares(&self, address: &str) -> bool {
        let bare = strip_keys(address);
        self.addresses().contains(&bare)
            || (0..self.len()).any(|m| {
                self.ev.instances[m]
                    .children
                    .iter()
                    .filter(|(_, c)| !matches!(c, Child::Local(_)))
                    .any(|(call, _)| {
                        let call = join(&self.addr(m), &format!("module.{call}"));
                        bare.starts_with(&format!("{call}."))
                    })
            })
    }

    /// Every `count`/`for_each` (of a resource, data source or module block) whose value
    /// depends on an attribute only the apply of a resource of this configuration knows.
    pub fn unknown_counts(&self) -> Vec<CountUnknown> {
        let mut out = Vec::new();
        for m in 0..self.len() {
            let addr = self.addr(m);
            for (fi, f) in self.files(m).iter().enumerate() {
                for b in f.body.iter().filter_map(|s| s.as_block()) {
                    let address = match b.ident.as_str() {
                        "resource" => block_address(&addr, b, ""),
                        "data" => block_address(&addr, b, "data."),
                        "module" => b
                            .labels
                            .first()
                            .map(|l| join(&addr, &format!("module.{}", l.as_str()))),
                        _ => continue,
                    };
                    let Some((meta, attr)) = ["count", "for_each"]
                        .into_iter()
                        .find_map(|k| b.body.get_attribute(k).map(|a| (k, a)))
                    else {
                        continue;
                    };
                    let Expansion::Unknown(u) = self.ev.expansion(m, fi, b) else {
                        continue;
                    };
                    // The expansion names the first thing it could not know; what matters
                    // here is a resource attribute anywhere inside (a set of ARNs, a data
                    // source whose arguments wait for one).
                    let u = match u.why {
                        Why::ResourceAttr { .. } => u,
                        _ => match self.dig(m, fi, &attr.value, 0) {
                            Some(u) => u,
                            None => continue,
                        },
                    };
                    let Why::ResourceAttr {
                        address: resource,
                        attr: name,
                    } = &u.why
                    else {
                        continue;
                    };
                    let resource = strip_keys(resource);
                    let first = (f.path.clone(), f.line_of(attr));
                    let mut spans = vec![first.clone()];
                    for s in u.via.iter().chain([&u.at]) {
                        let s = (s.file.clone(), s.line);
                        if !spans.contains(&s) {
                            spans.push(s);
                        }
                    }
                    let mut steps: Vec<Step> = spans
                        .into_iter()
                        .map(|(file, line)| Step {
                            text: self.line_text(&file, line),
                            file,
                            line,
                        })
                        .collect();
                    if let Some((file, line)) = self.declaration(&resource) {
                        steps.push(Step {
                            file,
                            line,
                            text: format!("{resource}.{name} is known only after apply"),
                        });
                    }
                    out.push(CountUnknown {
                        address: address.unwrap_or_default(),
                        meta,
                        file: f.path.clone(),
                        line: f.line_of(b),
                        why: Unknown {
                            steps,
                            resource,
                            attr: name.clone(),
                        },
                        unknown: u.clone(),
                    });
                }
            }
        }
        out
    }

    /// The first attribute of a resource this configuration creates that `expr` (of module
    /// `m`, file `fi`) depends on, as an Unknown.
    fn dig(&self, m: usize, fi: usize, expr: &Expression, depth: usize) -> Option<EvalUnknown> {
        let scope = Scope::new();
        let v = self.ev.eval(
            Ctx {
                inst: m,
                file: fi,
                scope: &scope,
            },
            expr,
        );
        self.attr_in(&v, depth)
    }

    fn attr_in(&self, v: &Value, depth: usize) -> Option<EvalUnknown> {
        if depth > 8 {
            return None;
        }
        match v {
            Value::Attr { at, .. } => Some(as_unknown(v.clone(), at.clone(), "")),
            Value::Unknown(u) => match &u.why {
                Why::ResourceAttr { .. } => Some(u.clone()),
                // A data source is read at plan time unless its arguments wait for the apply.
                Why::DataSource { address } => {
                    let address = address.split_whitespace().next()?;
                    (0..self.len()).find_map(|m| {
                        let local = address.strip_prefix(&self.ev.instances[m].prefix())?;
                        let (kind, name) = local.strip_prefix("data.")?.split_once('.')?;
                        let (fi, b) = self.ev.instances[m].src.data(kind, name)?;
                        let mut found = b
                            .body
                            .attributes()
                            .find_map(|a| self.dig(m, fi, &a.value, depth + 1))?;
                        found.via.insert(0, u.at.clone());
                        Some(found)
                    })
                }
                _ => None,
            },
            Value::List(l) => l.iter().find_map(|v| self.attr_in(v, depth)),
            Value::Map(map) => map.values().find_map(|v| self.attr_in(v, depth)),
            Value::Conditional { cond, then, else_ } => self
                .attr_in(&Value::Unknown(cond.clone()), depth)
                .or_else(|| self.attr_in(then, depth))
                .or_else(|| self.attr_in(else_, depth)),
            _ => None,
        }
    }

    /// Where the resource `address` (no instance keys) is declared.
    fn declaration(&self, address: &str) -> Option<(PathBuf, usize)> {
        (0..self.len()).find_map(|m| {
            let local = address.strip_prefix(&self.ev.instances[m].prefix())?;
            let (kind, name) = local.split_once('.')?;
            if name.contains('.') {
                return None;
            }
            let (fi, b) = self.ev.instances[m].src.resource(kind, name)?;
            let f = &self.files(m)[fi];
            Some((f.path.clone(), f.line_of(b)))
        })
    }

    /// A line of a file of the tree, trimmed; a module call's argument names the variable it
    /// sets (`module.gw: var.arn = aws_x.y.arn`).
    fn line_text(&self, file: &Path, line: usize) -> String {
        for (c, inst) in self.ev.instances.iter().enumerate() {
            let (Some(parent), Some(call)) = (inst.parent, &inst.call) else {
                continue;
            };
            let f = &self.files(parent)[call.file];
            if f.path != file {
                continue;
            }
            if let Some(arg) = call.block.body.attributes().find(|a| f.line_of(*a) == line) {
                let value = arg.value.span().and_then(|r| f.text.get(r)).unwrap_or("…");
                let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
                return format!("{}: var.{} = {value}", self.addr(c), arg.key.as_str());
            }
        }

        self.ev
            .instances
            .iter()
            .flat_map(|i| i.src.files.iter())
            .find(|f| f.path == file)
            .and_then(|f| f.text.lines().nth(line.saturating_sub(1)))
            .map(|l| l.trim().to_string())
            .unwrap_or_default()
    }

    fn call_block(&self, m: usize, call: &str) -> Option<&Block> {
        self.files(m).iter().find_map(|f| {
            f.labeled("module")
                .find(|(n, _)| *n == call)
                .map(|(_, b)| b)
        })
    }

    /// The text a string expression of module `m` evaluates to, with root variables that have
    /// no literal value (tfvars, default) kept as `${var.x}`: two names built the same way
    /// compare equal even when their value is only known at plan time.
    pub fn text(&self, m: usize, expr: &Expression, depth: usize) -> Option<String> {
        if depth > MAX_DEPTH {
            return None;
        }
        match expr {
            Expression::String(s) => Some(s.value().clone()),
            Expression::Parenthesis(p) => self.text(m, p.inner(), depth + 1),
            Expression::StringTemplate(t) => {
                let mut out = String::new();
                for el in t.iter() {
                    match el {
                        Element::Literal(l) => out.push_str(l.value()),
                        Element::Interpolation(i) => {
                            out.push_str(&self.text(m, &i.expr, depth + 1)?)
                        }
                        Element::Directive(_) => return None,
                    }
                }
                Some(out)
            }
            e => {
                let path = hcl::traversal_path(e)?;
                let mut parts = path.split('.');
                match (parts.next()?, parts.next(), parts.next()) {
                    ("var", Some(name), None) => match self.parent(m) {
                        Some((parent, call)) => {
                            let b = self.call_block(parent, call)?;
                            match hcl::attr(&b.body, name) {
                                Some(arg) => self.text(parent, arg, depth + 1),
                                None => self.default(m, name),
                            }
                        }
                        None => self
                            .tfvars
                            .iter()
                            .rev()
                            .find_map(|f| hcl::attr(&f.body, name).and_then(|e| e.as_str()))
                            .map(str::to_string)
                            .or_else(|| self.default(m, name))
                            .or_else(|| Some(format!("${{var.{name}}}"))),
                    },
                    ("local", Some(name), None) => {
                        let e = hcl::local(self.files(m), name)?;
                        self.text(m, e, depth + 1)
                    }
                    _ => None,
                }
            }
        }
    }

    fn default(&self, m: usize, name: &str) -> Option<String> {
        self.files(m).iter().find_map(|f| {
            f.labeled("variable")
                .find(|(n, _)| *n == name)
                .and_then(|(_, b)| hcl::attr(&b.body, "default"))
                .and_then(|e| e.as_str())
                .map(str::to_string)
        })
    }
}

/// `module.a` + `aws_x.y` → `module.a.aws_x.y`.
pub fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}.{rest}")
    }
}

fn block_address(module: &str, b: &Block, prefix: &str) -> Option<String> {
    let (kind, name) = (b.labels.first()?, b.labels.get(1)?);
    Some(join(
        module,
        &format!("{prefix}{}.{}", kind.as_str(), name.as_str()),
    ))
}

/// An address without its instance keys: `module.a["x"].aws_y.z[0]` → `module.a.aws_y.z`.
pub fn strip_keys(address: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    let mut quoted = false;
    for c in address.chars() {
        match c {
            '"' if depth > 0 => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
