//! Facts about the configuration beyond functions and layers that other passes ask for:
//! resources whose `count`/`for_each` is unknown (with the chain of spans that makes it so), and
//! data sources that look up something this same configuration deploys (which fails on a first
//! apply, before it exists).

use serde::Serialize;

use crate::stack::eval::{Ctx, Evaluator};
use crate::stack::hcl as tf;
use crate::stack::model::Field;
use crate::stack::value::{Expansion, Scope, Span, Unknown, Value};

/// A resource (any type) kept once because its count/for_each is unknown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnknownExpansion {
    pub address: String,
    pub at: Span,
    pub unknown: Unknown,
}

/// `data "<type>" "<name>"` whose lookup argument names a resource of the same type here.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataLookup {
    pub address: String,
    pub at: Span,
    /// The argument it looks up by (`layer_name`, `function_name`, `name`, …) and its value.
    pub key: String,
    pub value: Field<String>,
    /// The managed resource of this configuration with that value, if any.
    pub deployed: Option<String>,
}

/// The arguments a data source finds its object by, most specific first.
const LOOKUP_KEYS: [&str; 6] = [
    "layer_name",
    "function_name",
    "role_name",
    "bucket",
    "name",
    "arn",
];

pub fn unknown_expansions(ev: &Evaluator) -> Vec<UnknownExpansion> {
    let mut out = Vec::new();
    for (inst, i) in ev.instances.iter().enumerate() {
        for (file, f) in i.src.files.iter().enumerate() {
            for b in f.body.get_blocks("resource") {
                let (Some(kind), Some(name)) = (b.labels.first(), b.labels.get(1)) else {
                    continue;
                };
                if let Expansion::Unknown(u) = ev.expansion(inst, file, b) {
                    out.push(UnknownExpansion {
                        address: format!("{}{}.{}", i.prefix(), kind.as_str(), name.as_str()),
                        at: ev.span(inst, file, b),
                        unknown: u,
                    });
                }
            }
        }
    }
    out
}

pub fn data_lookups(ev: &Evaluator) -> Vec<DataLookup> {
    // Every managed resource's lookup arguments, evaluated once per instance.
    let mut managed: Vec<(String, String, &str, Value)> = Vec::new();
    for (inst, i) in ev.instances.iter().enumerate() {
        for (file, f) in i.src.files.iter().enumerate() {
            for b in f.body.get_blocks("resource") {
                let (Some(kind), Some(name)) = (b.labels.first(), b.labels.get(1)) else {
                    continue;
                };
                for (suffix, scope) in ev.expansion(inst, file, b).instances() {
                    for key in LOOKUP_KEYS {
                        if let Some(e) = tf::attr(&b.body, key) {
                            let v = ev.eval(
                                Ctx {
                                    inst,
                                    file,
                                    scope: &scope,
                                },
                                e,
                            );
                            let address = format!(
                                "{}{}.{}{suffix}",
                                i.prefix(),
                                kind.as_str(),
                                name.as_str()
                            );
                            managed.push((kind.as_str().to_string(), address, key, v));
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (inst, i) in ev.instances.iter().enumerate() {
        for (file, f) in i.src.files.iter().enumerate() {
            for b in f.body.get_blocks("data") {
                let (Some(kind), Some(name)) = (b.labels.first(), b.labels.get(1)) else {
                    continue;
                };
                let Some((key, e)) = LOOKUP_KEYS
                    .iter()
                    .find_map(|k| tf::attr(&b.body, k).map(|e| (*k, e)))
                else {
                    continue;
                };
                let scope = Scope::new();
                let at = ev.span(inst, file, b);
                let value = match ev.eval(
                    Ctx {
                        inst,
                        file,
                        scope: &scope,
                    },
                    e,
                ) {
                    Value::Str(s) => Field::Known(s),
                    v => Field::Unknown {
                        unknown: crate::stack::eval::as_unknown(v, at.clone(), key),
                    },
                };
                let deployed = value.known().and_then(|want| {
                    managed
                        .iter()
                        .find(|(k, _, mk, v)| {
                            k == kind.as_str() && *mk == key && v.as_str() == Some(want)
                        })
                        .map(|(_, a, _, _)| a.clone())
                });
                out.push(DataLookup {
                    address: format!("{}data.{}.{}", i.prefix(), kind.as_str(), name.as_str()),
                    at,
                    key: key.to_string(),
                    value,
                    deployed,
                });
            }
        }
    }
    out
}
