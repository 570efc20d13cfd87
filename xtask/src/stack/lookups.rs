//! Data sources that look up what the same configuration creates: `data
//! "aws_lambda_layer_version" { layer_name = … }` while a module of the env publishes that
//! layer. On a fresh env the lookup runs at plan time and finds nothing (`empty result`); even
//! later it reads the version before the apply publishes the new one. The reference to use
//! instead is worked out here, and the splice that makes it (`check --fix`).
//!
//! Also the model's summary of both facts (`Model::unknown_expansions`, `data_lookups`,
//! shown by `stack --json`): built from the same `Tree` calls that check's F19/F20 and
//! deploy's bootstrap stages read, so they cannot disagree.

use std::ops::Range;
use std::path::PathBuf;

use hcl_edit::expr::{Expression, Traversal};
use hcl_edit::visit::{self, Visit};
use hcl_edit::Span;

use serde::Serialize;

use super::eval::Ctx;
use super::graph::{join, CountUnknown, Step, Tree};
use super::hcl::{self, TfFile};
use super::value::{Scope, Span as At, Unknown as EvalUnknown};

/// Data source type and its lookup argument, and the resource type and argument that name
/// the same object.
const LOOKUPS: &[(&str, &str, &str, &str)] = &[
    (
        "aws_lambda_layer_version",
        "layer_name",
        "aws_lambda_layer_version",
        "layer_name",
    ),
    (
        "aws_lambda_function",
        "function_name",
        "aws_lambda_function",
        "function_name",
    ),
    ("aws_iam_role", "name", "aws_iam_role", "name"),
    ("aws_iam_policy", "name", "aws_iam_policy", "name"),
    (
        "aws_secretsmanager_secret",
        "name",
        "aws_secretsmanager_secret",
        "name",
    ),
    ("aws_s3_bucket", "bucket", "aws_s3_bucket", "bucket"),
    ("aws_sqs_queue", "name", "aws_sqs_queue", "name"),
    ("aws_sns_topic", "name", "aws_sns_topic", "name"),
    ("aws_dynamodb_table", "name", "aws_dynamodb_table", "name"),
    (
        "aws_cloudwatch_log_group",
        "name",
        "aws_cloudwatch_log_group",
        "name",
    ),
];

/// A data source that reads something this configuration creates.
pub struct OwnLookup {
    /// `module.module_ai.data.aws_lambda_layer_version.org_common`.
    pub address: String,
    pub file: PathBuf,
    pub line: usize,
    /// `layer_name = "demo-dev-org-common"`.
    pub key: &'static str,
    pub value: String,
    /// `module.module_access.aws_lambda_layer_version.org_common`.
    pub resource: String,
    pub resource_file: PathBuf,
    pub resource_line: usize,
    /// What to write in place of `data.….arn` in the data source's module, and the module
    /// output it carries (`var.org_common_layer_arn`, `module.module_access.org_common_layer_arn`).
    pub instead: Option<(String, String)>,
    /// The whole mechanical fix: every `.arn` use replaced and the data block removed, as
    /// splices of one file; empty when the fix is by hand.
    pub splices: Vec<Splice>,
}

pub struct Splice {
    pub module: usize,
    pub file: usize,
    pub range: Range<usize>,
    pub text: String,
}

/// A `count`/`for_each` (of a resource, data source or module call) unknown at plan time on
/// a fresh env (check's F19; deploy applies `unknown.why`'s resource first).
#[derive(Debug, Clone, Serialize)]
pub struct UnknownExpansion {
    pub address: String,
    pub at: At,
    /// `count` or `for_each`.
    pub meta: &'static str,
    /// `why` is the `resource_attr` only the apply knows.
    pub unknown: EvalUnknown,
    /// From the `count`/`for_each` line to the resource, with the source text of each hop.
    pub chain: Vec<Step>,
}

/// A data source that looks up what this configuration deploys (check's F20; deploy applies
/// `deployed` first).
#[derive(Debug, Clone, Serialize)]
pub struct DataLookup {
    pub address: String,
    pub at: At,
    /// The argument it looks up by (`layer_name`, `function_name`, `name`, …) and its value
    /// (root variables only the plan knows kept as `${var.x}`).
    pub key: &'static str,
    pub value: String,
    /// The resource of this configuration it finds.
    pub deployed: String,
    pub deployed_at: At,
    /// The expression to use instead, in the data source's module; null when by hand.
    pub instead: Option<String>,
    /// `check --fix` rewrites it.
    pub fixable: bool,
}

impl From<CountUnknown> for UnknownExpansion {
    fn from(u: CountUnknown) -> Self {
        UnknownExpansion {
            address: u.address,
            at: At {
                file: u.file,
                line: u.line,
            },
            meta: u.meta,
            unknown: u.unknown,
            chain: u.why.steps,
        }
    }
}

impl From<OwnLookup> for DataLookup {
    fn from(l: OwnLookup) -> Self {
        DataLookup {
            address: l.address,
            at: At {
                file: l.file,
                line: l.line,
            },
            key: l.key,
            value: l.value,
            deployed: l.resource,
            deployed_at: At {
                file: l.resource_file,
                line: l.resource_line,
            },
            instead: l.instead.map(|(expr, _)| expr),
            fixable: !l.splices.is_empty(),
        }
    }
}

impl Tree {
    /// Both facts as the model keeps them.
    pub fn lookups(&self) -> (Vec<UnknownExpansion>, Vec<DataLookup>) {
        (
            self.unknown_counts().into_iter().map(Into::into).collect(),
            self.own_lookups().into_iter().map(Into::into).collect(),
        )
    }

    /// Every data source whose lookup argument evaluates to the same name as a resource of the
    /// configuration declares (names built from the same variables compare equal).
    pub fn own_lookups(&self) -> Vec<OwnLookup> {
        let mut created: Vec<(usize, usize, &str, &str, String)> = Vec::new();
        for mi in 0..self.len() {
            for (fi, f) in self.files(mi).iter().enumerate() {
                for &(_, _, rkind, rkey) in LOOKUPS {
                    for (name, b) in f.resources(rkind) {
                        if let Some(v) = hcl::attr(&b.body, rkey).and_then(|e| self.name(mi, fi, e))
                        {
                            created.push((mi, fi, rkind, name, v));
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        for mi in 0..self.len() {
            for (fi, f) in self.files(mi).iter().enumerate() {
                for b in f.body.get_blocks("data") {
                    let (Some(kind), Some(name)) = (b.labels.first(), b.labels.get(1)) else {
                        continue;
                    };
                    let (kind, name) = (kind.as_str(), name.as_str());
                    let Some(&(_, key, rkind, _)) = LOOKUPS.iter().find(|l| l.0 == kind) else {
                        continue;
                    };
                    let Some(value) = hcl::attr(&b.body, key).and_then(|e| self.name(mi, fi, e))
                    else {
                        continue;
                    };
                    let Some((rm, rf, _, rname, _)) = created
                        .iter()
                        .find(|(_, _, k, _, v)| *k == rkind && *v == value)
                    else {
                        continue;
                    };
                    let rfile = &self.files(*rm)[*rf];
                    let rblock = rfile
                        .resources(rkind)
                        .find(|(n, _)| n == rname)
                        .map(|x| x.1);
                    let instead = self.instead(mi, *rm, &format!("{rkind}.{rname}.arn"));
                    let counted = ["count", "for_each"]
                        .iter()
                        .any(|k| b.body.get_attribute(k).is_some());
                    let splices = match &instead {
                        Some((expr, _)) if !counted => self.splices(mi, fi, b, kind, name, expr),
                        _ => Vec::new(),
                    };
                    out.push(OwnLookup {
                        address: join(&self.addr(mi), &format!("data.{kind}.{name}")),
                        file: f.path.clone(),
                        line: f.line_of(b),
                        key,
                        value,
                        resource: join(&self.addr(*rm), &format!("{rkind}.{rname}")),
                        resource_file: rfile.path.clone(),
                        resource_line: rblock.map(|b| rfile.line_of(b)).unwrap_or(0),
                        instead,
                        splices,
                    });
                }
            }
        }
        out
    }

    /// A name as written (`text`: root variables without a value stay `${var.x}`), else as
    /// the model's evaluator computes it (`format(…)`, `lower(…)`, …).
    fn name(&self, m: usize, fi: usize, expr: &Expression) -> Option<String> {
        self.text(m, expr, 0).or_else(|| {
            let scope = Scope::new();
            let ctx = Ctx {
                inst: m,
                file: fi,
                scope: &scope,
            };
            self.ev.eval(ctx, expr).as_str().map(str::to_string)
        })
    }

    /// The expression module `m` can use for `attr_path` (`aws_x.y.arn`) of module `r`, and
    /// the module output that carries it: the resource itself in the same module, the output
    /// from the parent, or the variable the parent feeds that output into, between siblings.
    fn instead(&self, m: usize, r: usize, attr_path: &str) -> Option<(String, String)> {
        if m == r {
            return Some((attr_path.to_string(), attr_path.to_string()));
        }
        let (rparent, rcall) = self.parent(r)?;
        let output = self.files(r).iter().find_map(|f| {
            f.labeled("output").find_map(|(n, b)| {
                let v = hcl::attr(&b.body, "value")?;
                (hcl::traversal_path(v)? == attr_path).then_some(n)
            })
        })?;
        let via = format!("module.{rcall}.{output}");
        let carried = join(&self.addr(rparent), &via);
        if rparent == m {
            return Some((via, carried));
        }
        let (mparent, mcall) = self.parent(m)?;
        if mparent != rparent {
            return None;
        }
        let call = self
            .files(mparent)
            .iter()
            .find_map(|f| f.labeled("module").find(|(n, _)| *n == mcall).map(|x| x.1))?;
        let arg = call
            .body
            .attributes()
            .find(|a| hcl::traversal_path(&a.value).as_deref() == Some(via.as_str()))?;
        let declared = self
            .files(m)
            .iter()
            .any(|f| f.labeled("variable").any(|(n, _)| n == arg.key.as_str()));
        declared.then(|| (format!("var.{}", arg.key.as_str()), carried))
    }

    /// Every `data.<kind>.<name>.arn` of module `m` replaced by `instead` and the data block
    /// removed; none when a use is not `.arn` or is in another file (then the fix is by hand).
    fn splices(
        &self,
        m: usize,
        fi: usize,
        block: &hcl_edit::structure::Block,
        kind: &str,
        name: &str,
        instead: &str,
    ) -> Vec<Splice> {
        let prefix = format!("data.{kind}.{name}");
        let mut out = Vec::new();
        for (i, f) in self.files(m).iter().enumerate() {
            for (path, span) in traversals(f) {
                let this = path == prefix
                    || path.starts_with(&format!("{prefix}."))
                    || path.starts_with(&format!("{prefix}["));
                if !this {
                    continue;
                }
                if i != fi || path != format!("{prefix}.arn") {
                    return Vec::new();
                }
                out.push(Splice {
                    module: m,
                    file: fi,
                    range: span,
                    text: instead.to_string(),
                });
            }
        }
        let text = &self.files(m)[fi].text;
        let Some(span) = block.span() else {
            return Vec::new();
        };
        // The block's whole lines, and one of the blank lines around it.
        let mut start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let mut end = text[span.end..]
            .find('\n')
            .map_or(text.len(), |i| span.end + i + 1);
        if text[end..].starts_with('\n') {
            end += 1;
        } else if start >= 2 && &text[start - 2..start] == "\n\n" {
            start -= 1;
        }
        out.push(Splice {
            module: m,
            file: fi,
            range: start..end,
            text: String::new(),
        });
        out
    }
}

/// Every plain traversal of a file (`data.x.y.arn`), with its span.
fn traversals(f: &TfFile) -> Vec<(String, Range<usize>)> {
    struct All(Vec<(String, Range<usize>)>);
    impl Visit for All {
        fn visit_traversal(&mut self, t: &Traversal) {
            let e = Expression::Traversal(Box::new(t.clone()));
            if let (Some(p), Some(span)) = (hcl::traversal_path(&e), t.span()) {
                self.0.push((p, span));
            }
            visit::visit_traversal(self, t);
        }
    }
    let mut all = All(Vec::new());
    all.visit_body(&f.body);
    all.0
}
