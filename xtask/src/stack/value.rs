//! The values the evaluator computes, and how it names what it cannot know.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::stack::eval::num;

/// Modules calling modules: deeper than this is a loop or a configuration no one writes (as tflint).
pub const MAX_DEPTH: usize = 10;

/// Where something is written: a file and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Why a value cannot be known from the configuration alone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Why {
    /// A root variable without a default (its value comes from a var file or `-var`), or a
    /// module variable its call does not set.
    NoDefault { variable: String },
    /// A `sensitive = true` variable: its value is never read.
    Sensitive { variable: String },
    /// A data source Terraform reads at plan time (and not a layer this config deploys).
    DataSource { address: String },
    /// An attribute Terraform computes when it creates the resource (`aws_iam_role.r.arn`).
    ResourceAttr { address: String, attr: String },
    /// A function the evaluator does not compute (or computed on unknown arguments).
    Function { name: String },
    /// A module whose source is not a local directory.
    RemoteModule { call: String, source: String },
    /// `local.a -> local.b -> local.a`.
    Cycle { chain: Vec<String> },
    /// A reference to something not declared (or not declared where the evaluator can see it).
    Missing { what: String },
    /// Syntax the evaluator does not follow (a template directive, a splat of a resource …).
    Unsupported { what: String },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::NoDefault { variable } => write!(
                f,
                "var.{variable} has no value here (no default, not set by its caller)"
            ),
            Why::Sensitive { variable } => {
                write!(f, "var.{variable} is sensitive: its value is not read")
            }
            Why::DataSource { address } => write!(f, "{address} is read by Terraform at plan time"),
            Why::ResourceAttr { address, attr } => {
                write!(f, "{address}.{attr} is known only after apply")
            }
            Why::Function { name } => write!(f, "{name}() is not evaluated offline"),
            Why::RemoteModule { call, source } => write!(
                f,
                "module \"{call}\" comes from {source}, not a local directory"
            ),
            Why::Cycle { chain } => write!(f, "a reference cycle: {}", chain.join(" -> ")),
            Why::Missing { what } => write!(f, "{what} is not declared"),
            Why::Unsupported { what } => write!(f, "{what} is not evaluated offline"),
        }
    }
}

/// A value that cannot be known: why, where it is written, and the references it travelled
/// through, from where it is used back towards `at`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Unknown {
    pub why: Why,
    pub at: Span,
    pub via: Vec<Span>,
}

impl Unknown {
    pub fn new(why: Why, at: Span) -> Unknown {
        Unknown {
            why,
            at,
            via: Vec::new(),
        }
    }
}

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// An attribute Terraform computes, of a resource this configuration declares:
    /// `aws_lambda_layer_version.common.arn` is not known before apply, but whose it is, is.
    Attr {
        address: String,
        attr: String,
        at: Span,
        via: Vec<Span>,
    },
    /// `filebase64sha256(path)` (or `filesha256`, `base64sha256(file(…))`): the hash of that file.
    FileHash(String),
    Unknown(Unknown),
    /// `cond ? then : else_` whose condition is unknown: both arms kept.
    Conditional {
        cond: Unknown,
        then: Box<Value>,
        else_: Box<Value>,
    },
}

impl Value {
    /// A number or string as Terraform interpolates it.
    pub fn to_text(&self) -> String {
        match self {
            Value::Number(n) => num(*n),
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            other => format!("{other:?}"),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Prepends `span` to the chain of every Unknown inside: the value travelled through it.
    pub(crate) fn via(self, span: &Span) -> Value {
        match self {
            Value::Unknown(mut u) => {
                if u.via.first() != Some(span) && &u.at != span {
                    u.via.insert(0, span.clone());
                }
                Value::Unknown(u)
            }
            Value::Attr {
                address,
                attr,
                at,
                mut via,
            } => {
                if via.first() != Some(span) && &at != span {
                    via.insert(0, span.clone());
                }
                Value::Attr {
                    address,
                    attr,
                    at,
                    via,
                }
            }
            Value::List(l) => Value::List(l.into_iter().map(|v| v.via(span)).collect()),
            Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, v.via(span))).collect()),
            Value::Conditional {
                mut cond,
                then,
                else_,
            } => {
                if cond.via.first() != Some(span) && &cond.at != span {
                    cond.via.insert(0, span.clone());
                }
                Value::Conditional {
                    cond,
                    then: Box::new(then.via(span)),
                    else_: Box::new(else_.via(span)),
                }
            }
            v => v,
        }
    }
}

/// `each.key`, `count.index` and a `for` expression's names, while evaluating inside them.
pub type Scope = BTreeMap<String, Value>;

/// How many instances a resource (or module call) has.
#[derive(Debug, Clone, PartialEq)]
pub enum Expansion {
    One,
    Count(usize),
    /// `for_each`: each key with its `each.value`.
    Each(Vec<(String, Value)>),
    /// The count or for_each is unknown: the resource is kept once, marked.
    Unknown(Unknown),
}

impl Expansion {
    /// (address suffix, scope) per instance; an unknown expansion yields one instance.
    pub fn instances(&self) -> Vec<(String, Scope)> {
        match self {
            Expansion::One | Expansion::Unknown(_) => vec![(String::new(), Scope::new())],
            Expansion::Count(n) => (0..*n)
                .map(|i| {
                    let scope = Scope::from([("count.index".to_string(), Value::Number(i as f64))]);
                    (format!("[{i}]"), scope)
                })
                .collect(),
            Expansion::Each(items) => items
                .iter()
                .map(|(k, v)| {
                    let scope = Scope::from([
                        ("each.key".to_string(), Value::Str(k.clone())),
                        ("each.value".to_string(), v.clone()),
                    ]);
                    (format!("[{k:?}]"), scope)
                })
                .collect(),
        }
    }
}
