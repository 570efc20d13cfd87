//! An env's configuration as Terraform sees it before the first apply: the tree of modules
//! (the env and every local module it calls, recursively), the addresses it declares, and
//! which values Terraform cannot know at plan time because they come from a resource this
//! configuration creates. `check` (F19, F20), `plan`/`deploy` (bootstrap stages) and stage
//! address checks read it.
//!
//! "Known" is decided by following references: `var.x` → the module block's argument, or the
//! root variable (known: tfvars or its default), `local.x` → its definition, `module.m.o` → the
//! output's value, `resource.attr` → the attribute when the block sets it, else unknown until
//! apply (arn, id, invoke_arn…). The trace is path-sensitive (`r.method` of a route object
//! follows only the `method` field), so a `for_each` keyed by literal route keys whose values
//! carry invoke ARNs is known, as Terraform finds it.

use std::path::{Path, PathBuf};

use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl_edit::structure::Block;
use hcl_edit::template::Element;
use hcl_edit::Span;

use super::hcl::{self, TfFile};

/// Bounds a trace through a broken (cyclic) configuration; Terraform rejects cycles itself.
const MAX_DEPTH: usize = 48;

/// One module instance of the tree.
pub struct Module {
    /// `""` for the env's root module, else `module.a` or `module.a.module.b`.
    pub addr: String,
    pub files: Vec<TfFile>,
    /// Index of the calling module and the call's name; `None` for the root.
    pub parent: Option<(usize, String)>,
    /// Module calls whose source is not local (registry, git): their insides are not read.
    pub opaque_calls: Vec<String>,
}

/// The env and the local modules it calls.
pub struct Tree {
    pub modules: Vec<Module>,
    /// `var.x` values of the root from `terraform.tfvars` and `*.auto.tfvars` (literals only).
    tfvars: Vec<TfFile>,
}

/// One hop of a trace, as `file:line` and the source text there.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// What a value is made of, for the trace: a path into it (`[*].method`), or only its keys.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Attr(String),
    Elem,
    Keys,
}

/// `for` variables in scope: name → the collection they range over, and which part of it.
#[derive(Clone, Default)]
struct Scope<'a> {
    vars: Vec<(String, &'a Expression, Seg)>,
}

impl Tree {
    /// Reads the env directory and every local module it calls. Files that do not parse are
    /// left out (check reports them as TF-parse-error).
    pub fn load(env_dir: &Path) -> Tree {
        let mut tree = Tree {
            modules: Vec::new(),
            tfvars: Vec::new(),
        };
        tree.add(env_dir, String::new(), None, 0);
        let mut tfvars: Vec<PathBuf> = std::fs::read_dir(env_dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().unwrap_or_default().to_string_lossy();
                n == "terraform.tfvars" || n.ends_with(".auto.tfvars")
            })
            .collect();
        tfvars.sort();
        tree.tfvars = tfvars
            .iter()
            .filter_map(|p| TfFile::parse(p).ok())
            .collect();
        tree
    }

    fn add(&mut self, dir: &Path, addr: String, parent: Option<(usize, String)>, depth: usize) {
        let (files, _) = hcl::parse_dir(dir);
        let idx = self.modules.len();
        let mut calls = Vec::new();
        let mut opaque = Vec::new();
        for f in &files {
            for (name, b) in f.labeled("module") {
                match hcl::attr(&b.body, "source").and_then(|s| s.as_str()) {
                    Some(s) if s.starts_with("./") || s.starts_with("../") => {
                        calls.push((name.to_string(), canonical(&dir.join(s))))
                    }
                    _ => opaque.push(name.to_string()),
                }
            }
        }
        self.modules.push(Module {
            addr,
            files,
            parent,
            opaque_calls: opaque,
        });
        if depth > 8 {
            return;
        }
        for (name, src) in calls {
            let child = join(&self.modules[idx].addr, &format!("module.{name}"));
            self.add(&src, child, Some((idx, name)), depth + 1);
        }
    }

    /// Every address the configuration declares: module calls, resources, data sources
    /// (without instance keys), sorted.
    pub fn addresses(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in &self.modules {
            if !m.addr.is_empty() {
                out.push(m.addr.clone());
            }
            for c in &m.opaque_calls {
                out.push(join(&m.addr, &format!("module.{c}")));
            }
            for f in &m.files {
                for b in f.body.get_blocks("resource") {
                    if let Some(a) = block_address(&m.addr, b, "") {
                        out.push(a);
                    }
                }
                for b in f.body.get_blocks("data") {
                    if let Some(a) = block_address(&m.addr, b, "data.") {
                        out.push(a);
                    }
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
        let known = self.addresses();
        known.contains(&bare)
            || self.modules.iter().any(|m| {
                m.opaque_calls.iter().any(|c| {
                    let call = join(&m.addr, &format!("module.{c}"));
                    bare.starts_with(&format!("{call}."))
                })
            })
    }

    /// Every `count`/`for_each` (of a resource, data source or module block) whose value
    /// depends on an attribute only the apply of a resource of this configuration knows.
    pub fn unknown_counts(&self) -> Vec<CountUnknown> {
        let mut out = Vec::new();
        for (i, m) in self.modules.iter().enumerate() {
            for f in &m.files {
                for b in f.body.iter().filter_map(|s| s.as_block()) {
                    let prefix = match b.ident.as_str() {
                        "resource" => "",
                        "data" => "data.",
                        "module" => "module.",
                        _ => continue,
                    };
                    for meta in ["count", "for_each"] {
                        let Some(attr) = b.body.get_attribute(meta) else {
                            continue;
                        };
                        // for_each needs only its keys; count its whole value.
                        let path = if meta == "for_each" {
                            vec![Seg::Keys]
                        } else {
                            Vec::new()
                        };
                        let Some(mut why) = self.trace(i, &attr.value, &path, &Scope::default(), 0)
                        else {
                            continue;
                        };
                        why.steps.insert(
                            0,
                            Step {
                                file: f.path.clone(),
                                line: f.line_of(attr),
                                text: format!("{meta} = {}", source(f, &attr.value)),
                            },
                        );
                        let address = match prefix {
                            "module." => b
                                .labels
                                .first()
                                .map(|l| join(&m.addr, &format!("module.{}", l.as_str()))),
                            p => block_address(&m.addr, b, p),
                        };
                        out.push(CountUnknown {
                            address: address.unwrap_or_default(),
                            meta,
                            file: f.path.clone(),
                            line: f.line_of(b),
                            why,
                        });
                    }
                }
            }
        }
        out
    }

    /// Why `expr` of module `m`, at `path` inside its value, is unknown at plan time; `None`
    /// when it is known (or when it cannot tell: never a guess that stops a deploy).
    fn trace<'a>(
        &'a self,
        m: usize,
        expr: &'a Expression,
        path: &[Seg],
        scope: &Scope<'a>,
        depth: usize,
    ) -> Option<Unknown> {
        if depth > MAX_DEPTH {
            return None;
        }
        let d = depth + 1;
        let any = |exprs: &mut dyn Iterator<Item = &'a Expression>, p: &[Seg]| {
            for e in exprs {
                if let Some(u) = self.trace(m, e, p, scope, d) {
                    return Some(u);
                }
            }
            None
        };
        match expr {
            Expression::Null(_)
            | Expression::Bool(_)
            | Expression::Number(_)
            | Expression::String(_) => None,
            Expression::Parenthesis(p) => self.trace(m, p.inner(), path, scope, d),
            Expression::StringTemplate(t) => any(&mut interpolations(t.iter()), &[]),
            Expression::HeredocTemplate(h) => any(&mut interpolations(h.template.iter()), &[]),
            Expression::Array(items) => match path.first() {
                // How many elements there are does not depend on what they hold.
                Some(Seg::Keys) => None,
                Some(Seg::Elem) => any(&mut items.iter(), &path[1..]),
                _ => any(&mut items.iter(), path),
            },
            Expression::Object(obj) => {
                let keys = obj.iter().filter_map(|(k, _)| match k {
                    ObjectKey::Expression(e) => Some(e),
                    ObjectKey::Ident(_) => None,
                });
                match path.first() {
                    Some(Seg::Keys) => any(&mut keys.into_iter(), &[]),
                    Some(Seg::Attr(name)) => {
                        let field = hcl::object_fields(obj).find(|(k, _)| k == name);
                        match field {
                            Some((_, v)) => self.trace(m, v, &path[1..], scope, d),
                            None => None,
                        }
                    }
                    Some(Seg::Elem) => any(&mut obj.iter().map(|(_, v)| v.expr()), &path[1..]),
                    None => any(&mut obj.iter().map(|(_, v)| v.expr()), &[])
                        .or_else(|| any(&mut keys.into_iter(), &[])),
                }
            }
            Expression::Conditional(c) => self
                .trace(m, &c.cond_expr, &[], scope, d)
                .or_else(|| self.trace(m, &c.true_expr, path, scope, d))
                .or_else(|| self.trace(m, &c.false_expr, path, scope, d)),
            Expression::UnaryOp(u) => self.trace(m, &u.expr, &[], scope, d),
            Expression::BinaryOp(b) => self
                .trace(m, &b.lhs_expr, &[], scope, d)
                .or_else(|| self.trace(m, &b.rhs_expr, &[], scope, d)),
            Expression::FuncCall(f) => {
                let name = f.name.name.as_str();
                let args = &mut f.args.iter();
                match name {
                    // A set's keys are its elements.
                    "toset" if path.first() == Some(&Seg::Keys) => any(args, &[Seg::Elem]),
                    // The shape of the result is the shape of the arguments.
                    "concat" | "flatten" | "compact" | "distinct" | "toset" | "tolist"
                    | "tomap" | "merge" | "setunion" | "sort" | "reverse" | "try" | "coalesce"
                    | "coalescelist" | "one" => any(args, path),
                    "length" => any(args, &[Seg::Keys]),
                    "keys" => any(args, &[Seg::Keys]),
                    "values" => any(args, &[&[Seg::Elem], path].concat()),
                    _ => any(args, &[]),
                }
            }
            Expression::ForExpr(fe) => {
                let coll = &fe.intro.collection_expr;
                let mut inner = scope.clone();
                inner
                    .vars
                    .push((fe.intro.value_var.as_str().to_string(), coll, Seg::Elem));
                if let Some(k) = &fe.intro.key_var {
                    inner.vars.push((k.as_str().to_string(), coll, Seg::Keys));
                }
                let cond = fe
                    .cond
                    .as_ref()
                    .and_then(|c| self.trace(m, &c.expr, &[], &inner, d));
                if cond.is_some() {
                    return cond;
                }
                match (&fe.key_expr, path.first()) {
                    (Some(k), Some(Seg::Keys)) => self.trace(m, k, &[], &inner, d),
                    // A list's length is the collection's.
                    (None, Some(Seg::Keys)) => self.trace(m, coll, &[Seg::Keys], scope, d),
                    (key, Some(Seg::Elem | Seg::Attr(_))) => {
                        let rest = if matches!(path.first(), Some(Seg::Elem)) {
                            &path[1..]
                        } else {
                            path
                        };
                        self.trace(m, &fe.value_expr, rest, &inner, d)
                            .or_else(|| key.as_ref().and_then(|k| self.trace(m, k, &[], &inner, d)))
                    }
                    (key, None) => self
                        .trace(m, &fe.value_expr, &[], &inner, d)
                        .or_else(|| key.as_ref().and_then(|k| self.trace(m, k, &[], &inner, d))),
                }
            }
            Expression::Variable(_) | Expression::Traversal(_) => {
                self.reference(m, expr, path, scope, d)
            }
        }
    }

    /// A reference: `var.*`, `local.*`, `module.*`, `data.*`, a resource, or a `for` variable.
    fn reference<'a>(
        &'a self,
        m: usize,
        expr: &'a Expression,
        path: &[Seg],
        scope: &Scope<'a>,
        depth: usize,
    ) -> Option<Unknown> {
        let (root, ops): (&str, Vec<Seg>) = match expr {
            Expression::Variable(v) => (v.as_str(), Vec::new()),
            Expression::Traversal(t) => {
                let Expression::Variable(v) = &t.expr else {
                    return self.trace(m, &t.expr, &[], scope, depth);
                };
                let mut ops = Vec::new();
                for op in &t.operators {
                    match op.value() {
                        TraversalOperator::GetAttr(id) => ops.push(Seg::Attr(id.to_string())),
                        TraversalOperator::Index(i) => {
                            if let Some(u) = self.trace(m, i, &[], scope, depth) {
                                return Some(u);
                            }
                            ops.push(Seg::Elem)
                        }
                        _ => ops.push(Seg::Elem),
                    }
                }
                (v.as_str(), ops)
            }
            _ => return None,
        };
        let full: Vec<Seg> = ops.iter().cloned().chain(path.iter().cloned()).collect();
        let module = &self.modules[m];
        if let Some((_, coll, seg)) = scope.vars.iter().rev().find(|(n, _, _)| n == root) {
            let within: Vec<Seg> = std::iter::once(seg.clone()).chain(full).collect();
            // The collection is evaluated in the scope the `for` sits in; nested fors that
            // range over an outer variable see it too.
            return self.trace(m, coll, &within, scope, depth);
        }
        let attr = |i: usize| match full.get(i) {
            Some(Seg::Attr(a)) => Some(a.as_str()),
            _ => None,
        };
        match root {
            "var" => {
                let name = attr(0)?;
                let (parent, call) = module.parent.as_ref()?;
                let (f, block) = self.call_block(*parent, call)?;
                let arg = block.body.get_attribute(name)?;
                let mut u =
                    self.trace(*parent, &arg.value, &full[1..], &Scope::default(), depth)?;
                u.steps.insert(
                    0,
                    Step {
                        file: f.path.clone(),
                        line: f.line_of(arg),
                        text: format!(
                            "{}: {name} = {}",
                            self.modules[self.child(*parent, call)?].addr,
                            source(f, &arg.value)
                        ),
                    },
                );
                Some(u)
            }
            "local" => {
                let name = attr(0)?;
                let (f, e) = hcl::local_definition(&module.files, name)?;
                let mut u = self.trace(m, e, &full[1..], &Scope::default(), depth)?;
                u.steps.insert(0, step(f, e, &format!("local.{name}")));
                Some(u)
            }
            "module" => {
                let (call, output) = (attr(0)?, attr(1)?);
                let child = self.child(m, call)?;
                let (f, b) = self.modules[child].files.iter().find_map(|f| {
                    f.labeled("output")
                        .find(|(n, _)| *n == output)
                        .map(|x| (f, x.1))
                })?;
                let value = hcl::attr(&b.body, "value")?;
                let mut u = self.trace(child, value, &full[2..], &Scope::default(), depth)?;
                u.steps.insert(
                    0,
                    step(f, value, &format!("{}.{output}", self.modules[child].addr)),
                );
                Some(u)
            }
            "data" => {
                let (kind, name) = (attr(0)?, attr(1)?);
                let (f, b) = self.block(m, "data", kind, name)?;
                // A data source whose arguments are unknown is read only during the apply.
                let mut u = b
                    .body
                    .attributes()
                    .find_map(|a| self.trace(m, &a.value, &[], &Scope::default(), depth))?;
                u.steps.insert(
                    0,
                    Step {
                        file: f.path.clone(),
                        line: f.line_of(b),
                        text: format!(
                            "data.{kind}.{name} is read only once its arguments are known"
                        ),
                    },
                );
                Some(u)
            }
            "count" | "each" | "path" | "terraform" | "self" => None,
            kind => {
                let name = attr(0)?;
                let (f, b) = self.block(m, "resource", kind, name)?;
                // `aws_x.y[0].arn`: the instance key aside.
                let rest: Vec<Seg> = full[1..]
                    .iter()
                    .skip_while(|s| **s == Seg::Elem)
                    .cloned()
                    .collect();
                let address = join(&module.addr, &format!("{kind}.{name}"));
                match rest.first() {
                    Some(Seg::Attr(a)) => match b.body.get_attribute(a.as_str()) {
                        // Set in the configuration: as known as its expression.
                        Some(set) => {
                            self.trace(m, &set.value, &rest[1..], &Scope::default(), depth)
                        }
                        None => Some(Unknown {
                            steps: vec![Step {
                                file: f.path.clone(),
                                line: f.line_of(b),
                                text: format!("{address}.{a} is known only after apply"),
                            }],
                            resource: address,
                            attr: a.clone(),
                        }),
                    },
                    _ => None,
                }
            }
        }
    }

    /// The index of module `call` called from module `m`.
    fn child(&self, m: usize, call: &str) -> Option<usize> {
        self.modules
            .iter()
            .position(|c| c.parent.as_ref().is_some_and(|(p, n)| *p == m && n == call))
    }

    fn call_block(&self, m: usize, call: &str) -> Option<(&TfFile, &Block)> {
        self.modules[m].files.iter().find_map(|f| {
            f.labeled("module")
                .find(|(n, _)| *n == call)
                .map(|(_, b)| (f, b))
        })
    }

    /// A `resource`/`data` block of module `m`.
    pub fn block(
        &self,
        m: usize,
        ident: &str,
        kind: &str,
        name: &str,
    ) -> Option<(&TfFile, &Block)> {
        self.modules[m].files.iter().find_map(|f| {
            f.body
                .iter()
                .filter_map(|s| s.as_block())
                .filter(|b| b.ident.as_str() == ident)
                .find(|b| {
                    b.labels.first().map(|l| l.as_str()) == Some(kind)
                        && b.labels.get(1).map(|l| l.as_str()) == Some(name)
                })
                .map(|b| (f, b))
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
                    ("var", Some(name), None) => match &self.modules[m].parent {
                        Some((parent, call)) => {
                            let (_, b) = self.call_block(*parent, call)?;
                            match hcl::attr(&b.body, name) {
                                Some(arg) => self.text(*parent, arg, depth + 1),
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
                        let e = hcl::local(&self.modules[m].files, name)?;
                        self.text(m, e, depth + 1)
                    }
                    _ => None,
                }
            }
        }
    }

    fn default(&self, m: usize, name: &str) -> Option<String> {
        self.modules[m].files.iter().find_map(|f| {
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

fn interpolations<'a>(
    els: impl Iterator<Item = &'a Element> + 'a,
) -> impl Iterator<Item = &'a Expression> + 'a {
    els.filter_map(|e| match e {
        Element::Interpolation(i) => Some(&i.expr),
        _ => None,
    })
}

/// The source text of an expression, on one line.
pub fn source(f: &TfFile, e: &Expression) -> String {
    let text = e
        .span()
        .and_then(|r| f.text.get(r))
        .unwrap_or("…")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if text.chars().count() > 100 {
        format!("{}…", text.chars().take(99).collect::<String>())
    } else {
        text
    }
}

fn step(f: &TfFile, e: &Expression, name: &str) -> Step {
    Step {
        file: f.path.clone(),
        line: f.line_of(e),
        text: format!("{name} = {}", source(f, e)),
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| hcl::normalize(p))
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
