//! The Terraform functions real CORA repos use on layers, zips and names. A function given a
//! conditional is applied to each arm; one given an unknown returns it (concat and flatten keep
//! the known items and the unknown one in place); any other function is an Unknown naming it.

use std::collections::BTreeMap;

use hcl_edit::expr::Expression;

use crate::stack::eval::{distribute1, missing, Ctx, Evaluator, Span, Unknown, Value, Why};

pub fn call(name: &str, args: Vec<Value>, at: &Span) -> Value {
    // A conditional argument: the call on each arm.
    if let Some(i) = args
        .iter()
        .position(|a| matches!(a, Value::Conditional { .. }))
    {
        let mut args = args;
        let cond = args.remove(i);
        return distribute1(cond, &|arm| {
            let mut a = args.clone();
            a.insert(i, arm);
            call(name, a, at)
        });
    }
    let unknown = |name: &str| {
        Value::Unknown(Unknown::new(
            Why::Function { name: name.into() },
            at.clone(),
        ))
    };
    // `regex("functions/(.+)/invocations", aws_lambda_function.f.invoke_arn)[0]`: still unknown
    // before apply, but derived from that function's attribute, which is what links it.
    if matches!(
        name,
        "regex" | "replace" | "split" | "trimprefix" | "trimsuffix"
    ) {
        if let Some(Value::Attr {
            address,
            attr,
            at,
            via,
        }) = args.iter().find(|a| matches!(a, Value::Attr { .. }))
        {
            return Value::Attr {
                address: address.clone(),
                attr: format!("{name}({attr})"),
                at: at.clone(),
                via: via.clone(),
            };
        }
    }
    match name {
        "concat" | "flatten" => {
            let mut out = Vec::new();
            let deep = name == "flatten";
            for a in args {
                push_items(&mut out, a, deep);
            }
            Value::List(out)
        }
        "compact" => match args.into_iter().next() {
            Some(Value::List(l)) => Value::List(
                l.into_iter()
                    .filter(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
                    .collect(),
            ),
            Some(other) => passthrough(other, name, at),
            None => unknown(name),
        },
        "coalesce" => {
            for a in args {
                match a {
                    Value::Null => continue,
                    Value::Str(s) if s.is_empty() => continue,
                    v => return v,
                }
            }
            missing("a non-null argument to coalesce()", at.clone())
        }
        "coalescelist" => {
            for a in args {
                match a {
                    Value::List(l) if l.is_empty() => continue,
                    v => return v,
                }
            }
            Value::List(Vec::new())
        }
        "tolist" | "tostring" | "tonumber" | "tomap" | "tobool" | "sensitive" | "nonsensitive" => {
            args.into_iter().next().unwrap_or(Value::Null)
        }
        "toset" | "distinct" => match args.into_iter().next() {
            Some(Value::List(l)) => {
                let mut out: Vec<Value> = Vec::new();
                for v in l {
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                Value::List(out)
            }
            Some(other) => passthrough(other, name, at),
            None => unknown(name),
        },
        "merge" => {
            let mut out = BTreeMap::new();
            for a in args {
                match a {
                    Value::Map(m) => out.extend(m),
                    Value::Null => {}
                    other => return passthrough(other, name, at),
                }
            }
            Value::Map(out)
        }
        "lookup" => match (args.first(), args.get(1)) {
            (Some(Value::Map(m)), Some(Value::Str(k))) => m
                .get(k)
                .cloned()
                .or_else(|| args.get(2).cloned())
                .unwrap_or_else(|| missing(&format!("key \"{k}\""), at.clone())),
            (Some(other), _) if !matches!(other, Value::Map(_)) => {
                passthrough(other.clone(), name, at)
            }
            _ => unknown(name),
        },
        "element" => match (args.first(), args.get(1)) {
            (Some(Value::List(l)), Some(Value::Number(n))) if !l.is_empty() => {
                l[*n as usize % l.len()].clone()
            }
            _ => unknown(name),
        },
        "length" => match args.first() {
            Some(Value::List(l)) => Value::Number(l.len() as f64),
            Some(Value::Map(m)) => Value::Number(m.len() as f64),
            Some(Value::Str(s)) => Value::Number(s.chars().count() as f64),
            _ => unknown(name),
        },
        "keys" | "values" => match args.into_iter().next() {
            Some(Value::Map(m)) => Value::List(if name == "keys" {
                m.into_keys().map(Value::Str).collect()
            } else {
                m.into_values().collect()
            }),
            _ => unknown(name),
        },
        "join" => match (args.first(), args.get(1)) {
            (Some(Value::Str(sep)), Some(Value::List(l))) => {
                let mut parts = Vec::new();
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        parts.push(Value::Str(sep.clone()));
                    }
                    parts.push(v.clone());
                }
                join_parts(parts, at)
            }
            _ => unknown(name),
        },
        "lower" | "upper" | "basename" | "dirname" | "abspath" | "trimspace" => {
            match args.first() {
                Some(Value::Str(s)) => Value::Str(match name {
                    "lower" => s.to_lowercase(),
                    "upper" => s.to_uppercase(),
                    "basename" => s.rsplit('/').next().unwrap_or(s).to_string(),
                    "dirname" => s
                        .rsplit_once('/')
                        .map(|(d, _)| d.to_string())
                        .unwrap_or_else(|| ".".into()),
                    "trimspace" => s.trim().to_string(),
                    _ => s.clone(),
                }),
                Some(other) => passthrough(other.clone(), name, at),
                None => unknown(name),
            }
        }
        "replace" | "trimsuffix" | "trimprefix" => match (args.first(), args.get(1), args.get(2)) {
            (Some(Value::Str(s)), Some(Value::Str(a)), b) => Value::Str(match (name, b) {
                ("replace", Some(Value::Str(b))) if !a.starts_with('/') => s.replace(a.as_str(), b),
                ("trimsuffix", _) => s.strip_suffix(a.as_str()).unwrap_or(s).to_string(),
                ("trimprefix", _) => s.strip_prefix(a.as_str()).unwrap_or(s).to_string(),
                _ => return unknown(name),
            }),
            _ => unknown(name),
        },
        "format" => match args.first() {
            Some(Value::Str(f)) if f.matches('%').count() == f.matches("%s").count() => {
                let mut parts = Vec::new();
                let mut rest = args[1..].iter();
                for (i, piece) in f.split("%s").enumerate() {
                    if i > 0 {
                        parts.push(rest.next().cloned().unwrap_or(Value::Null));
                    }
                    parts.push(Value::Str(piece.to_string()));
                }
                join_parts(parts, at)
            }
            _ => unknown(name),
        },
        "contains" => match (args.first(), args.get(1)) {
            (Some(Value::List(l)), Some(v)) if l.iter().all(known) && known(v) => {
                Value::Bool(l.contains(v))
            }
            _ => unknown(name),
        },
        "filebase64sha256" | "filesha256" | "filemd5" => match args.into_iter().next() {
            Some(Value::Str(p)) => Value::FileHash(p),
            Some(other) => passthrough(other, name, at),
            None => unknown(name),
        },
        // `base64sha256(file(x))`: `file` is read as the path it names.
        "file" => match args.into_iter().next() {
            Some(Value::Str(p)) => Value::FileHash(p),
            Some(other) => passthrough(other, name, at),
            None => unknown(name),
        },
        "base64sha256" | "sha256" | "md5" => match args.into_iter().next() {
            Some(v @ Value::FileHash(_)) => v,
            _ => unknown(name),
        },
        _ => unknown(name),
    }
}

fn known(v: &Value) -> bool {
    matches!(
        v,
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Str(_)
    )
}

/// An unknown argument is the result; a value of the wrong type is the function's unknown.
fn passthrough(v: Value, name: &str, at: &Span) -> Value {
    match v {
        Value::Unknown(u) => Value::Unknown(u),
        _ => Value::Unknown(Unknown::new(
            Why::Function { name: name.into() },
            at.clone(),
        )),
    }
}

fn push_items(out: &mut Vec<Value>, v: Value, deep: bool) {
    match v {
        Value::List(l) => {
            for item in l {
                if deep && matches!(item, Value::List(_)) {
                    push_items(out, item, deep);
                } else {
                    out.push(item);
                }
            }
        }
        // An unknown list stands in its place: its items are unknown, not absent.
        other => out.push(other),
    }
}

/// A template's parts joined: known parts concatenate; the first unknown part is the result.
pub fn join_parts(parts: Vec<Value>, at: &Span) -> Value {
    if let Some(i) = parts
        .iter()
        .position(|a| matches!(a, Value::Conditional { .. }))
    {
        let mut parts = parts;
        let cond = parts.remove(i);
        return distribute1(cond, &|arm| {
            let mut p = parts.clone();
            p.insert(i, arm);
            join_parts(p, at)
        });
    }
    let mut out = String::new();
    for p in parts {
        match p {
            Value::Str(s) => out.push_str(&s),
            Value::Number(n) => out.push_str(&crate::stack::eval::Value::Number(n).to_text()),
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Unknown(u) => return Value::Unknown(u),
            v @ Value::Attr { .. } => {
                return Value::Unknown(crate::stack::eval::as_unknown(v, at.clone(), ""))
            }
            _ => {
                return Value::Unknown(Unknown::new(
                    Why::Unsupported {
                        what: "a collection inside a string".into(),
                    },
                    at.clone(),
                ))
            }
        }
    }
    Value::Str(out)
}

/// `try(a, b, …)`: the first argument that evaluates without a reference error; `can(x)`:
/// whether it does.
pub fn try_(ev: &Evaluator, ctx: Ctx, name: &str, args: &[&Expression]) -> Value {
    let mut last = None;
    for a in args {
        let v = ev.eval(ctx, a);
        let failed = matches!(&v, Value::Unknown(u) if matches!(u.why, Why::Missing { .. }));
        if name == "can" {
            return match v {
                Value::Unknown(u) if !failed => Value::Unknown(u),
                _ => Value::Bool(!failed),
            };
        }
        if !failed {
            return v;
        }
        last = Some(v);
    }
    last.unwrap_or(Value::Null)
}
