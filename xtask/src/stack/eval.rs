//! A small lazy evaluator over hcl-edit expressions: what Terraform would compute from the
//! configuration alone, before any apply. Locals, variables and module outputs are evaluated on
//! demand and memoised per module instance (a cycle is named, not looped); what only Terraform
//! knows (a resource's computed attribute, a data source, a variable without a value) is an
//! `Unknown` that says why, where, and through which references it travelled.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;

use hcl_edit::expr::{BinaryOperator, Expression, ObjectKey, TraversalOperator, UnaryOperator};

use hcl_edit::template::{Element, Template};

use crate::stack::hcl::{ParseError, TfFile};

pub use crate::stack::tree::Instance;
pub use crate::stack::value::{Scope, Span, Unknown, Value, Why, MAX_DEPTH};

/// Every `aws_lambda_layer_version` of the tree: its address and evaluated `layer_name`.
pub type DeployedLayers = Vec<(String, Value)>;

/// Evaluates expressions of a tree of module instances (see `tree.rs` for how it is built).
pub struct Evaluator {
    pub instances: Vec<Instance>,
    pub(crate) memo: RefCell<HashMap<(usize, String), Value>>,
    pub(crate) active: RefCell<Vec<(usize, String)>>,
    pub(crate) layers: RefCell<Option<Rc<DeployedLayers>>>,
}

/// Where an expression is evaluated: a module instance, one of its files, and a scope.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub inst: usize,
    pub file: usize,
    pub scope: &'a Scope,
}

impl Evaluator {
    pub fn new(instances: Vec<Instance>) -> Evaluator {
        Evaluator {
            instances,
            memo: RefCell::default(),
            active: RefCell::default(),
            layers: RefCell::default(),
        }
    }

    /// Loads the module tree rooted at each directory (module calls followed, local sources).
    pub fn load(roots: &[PathBuf]) -> Evaluator {
        Evaluator::new(crate::stack::tree::build(roots))
    }

    pub fn file(&self, inst: usize, file: usize) -> &TfFile {
        &self.instances[inst].src.files[file]
    }

    pub fn span(&self, inst: usize, file: usize, node: &impl hcl_edit::Span) -> Span {
        let f = self.file(inst, file);
        Span {
            file: f.path.clone(),
            line: f.line_of(node),
        }
    }

    pub fn parse_errors(&self) -> Vec<ParseError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for i in &self.instances {
            if seen.insert(i.src.dir.clone()) {
                out.extend(i.src.errors.iter().cloned());
            }
        }
        out
    }

    /// Evaluates `expr`, written in `ctx`'s file.
    pub fn eval(&self, ctx: Ctx, expr: &Expression) -> Value {
        let at = || self.span(ctx.inst, ctx.file, expr);
        match expr {
            Expression::Null(_) => Value::Null,
            Expression::Bool(b) => Value::Bool(*b.value()),
            Expression::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
            Expression::String(s) => Value::Str(s.value().clone()),
            Expression::Array(a) => Value::List(a.iter().map(|e| self.eval(ctx, e)).collect()),
            Expression::Object(o) => {
                let mut map = BTreeMap::new();
                for (k, v) in o.iter() {
                    let key = match k {
                        ObjectKey::Ident(id) => Value::Str(id.as_str().to_string()),
                        ObjectKey::Expression(e) => match e {
                            Expression::Variable(v) => Value::Str(v.as_str().to_string()),
                            e => self.eval(ctx, e),
                        },
                    };
                    match key {
                        Value::Str(k) => {
                            map.insert(k, self.eval(ctx, v.expr()));
                        }
                        Value::Number(n) => {
                            map.insert(num(n), self.eval(ctx, v.expr()));
                        }
                        Value::Unknown(u) => return Value::Unknown(u),
                        _ => return unsupported("an object key that is not a string", at()),
                    }
                }
                Value::Map(map)
            }
            Expression::StringTemplate(t) => self.template(ctx, t, at),
            Expression::HeredocTemplate(h) => self.template(ctx, &h.template, at),
            Expression::Parenthesis(p) => self.eval(ctx, p.inner()),
            Expression::Variable(v) => self.reference(ctx, v.as_str(), &[], at()),
            Expression::Traversal(t) => match &t.expr {
                Expression::Variable(root) => {
                    let ops: Vec<&TraversalOperator> =
                        t.operators.iter().map(|o| o.value()).collect();
                    self.reference(ctx, root.as_str(), &ops, at())
                }
                e => {
                    let base = self.eval(ctx, e);
                    let ops: Vec<&TraversalOperator> =
                        t.operators.iter().map(|o| o.value()).collect();
                    self.apply_ops(ctx, base, &ops, &at())
                }
            },
            Expression::Conditional(c) => {
                let cond = self.eval(ctx, &c.cond_expr);
                self.choose(ctx, cond, &c.true_expr, &c.false_expr, &at())
            }
            Expression::FuncCall(f) => {
                let name = if f.name.is_namespaced() {
                    return Value::Unknown(Unknown::new(
                        Why::Function {
                            name: f.name.name.as_str().to_string(),
                        },
                        at(),
                    ));
                } else {
                    f.name.name.as_str()
                };
                if name == "try" || name == "can" {
                    return crate::stack::funcs::try_(
                        self,
                        ctx,
                        name,
                        &f.args.iter().collect::<Vec<_>>(),
                    );
                }
                let mut args: Vec<Value> = f.args.iter().map(|a| self.eval(ctx, a)).collect();
                if f.args.expand_final() {
                    if let Some(Value::List(l)) = args.pop() {
                        args.extend(l);
                    }
                }
                crate::stack::funcs::call(name, args, &at())
            }
            Expression::UnaryOp(u) => {
                let v = self.eval(ctx, &u.expr);
                distribute1(v, &|v| match (u.operator.value(), v) {
                    (UnaryOperator::Not, Value::Bool(b)) => Value::Bool(!b),
                    (UnaryOperator::Neg, Value::Number(n)) => Value::Number(-n),
                    (_, Value::Unknown(u)) => Value::Unknown(u),
                    _ => unsupported("this operand", at()),
                })
            }
            Expression::BinaryOp(b) => {
                let l = self.eval(ctx, &b.lhs_expr);
                let r = self.eval(ctx, &b.rhs_expr);
                let op = *b.operator.value();
                distribute2(l, r, &|l, r| binary(op, l, r, &at()))
            }
            Expression::ForExpr(f) => {
                let coll = self.eval(ctx, &f.intro.collection_expr);
                distribute1(coll, &|c| self.for_expr(ctx, f, c, &at()))
            }
        }
    }

    fn choose(&self, ctx: Ctx, cond: Value, t: &Expression, e: &Expression, at: &Span) -> Value {
        match cond {
            Value::Bool(true) => self.eval(ctx, t),
            Value::Bool(false) => self.eval(ctx, e),
            Value::Unknown(u) => Value::Conditional {
                cond: u,
                then: Box::new(self.eval(ctx, t)),
                else_: Box::new(self.eval(ctx, e)),
            },
            Value::Conditional { cond, then, else_ } => Value::Conditional {
                cond,
                then: Box::new(self.choose(ctx, *then, t, e, at)),
                else_: Box::new(self.choose(ctx, *else_, t, e, at)),
            },
            v @ Value::Attr { .. } => {
                let u = as_unknown(v, at.clone(), "");
                self.choose(ctx, Value::Unknown(u), t, e, at)
            }
            _ => unsupported("a condition that is not a bool", at.clone()),
        }
    }

    fn template(&self, ctx: Ctx, t: &Template, at: impl Fn() -> Span) -> Value {
        // `"${var.layers}"` (Terraform 0.11 style) is the value itself, whatever its type.
        if let [Element::Interpolation(i)] = t.iter().collect::<Vec<_>>().as_slice() {
            return self.eval(ctx, &i.expr);
        }
        let mut parts = Vec::new();
        for el in t.iter() {
            match el {
                Element::Literal(l) => parts.push(Value::Str(l.value().clone())),
                Element::Interpolation(i) => parts.push(self.eval(ctx, &i.expr)),
                Element::Directive(_) => return unsupported("a %{…} template directive", at()),
            }
        }
        crate::stack::funcs::join_parts(parts, &at())
    }

    pub(crate) fn apply_ops(
        &self,
        ctx: Ctx,
        v: Value,
        ops: &[&TraversalOperator],
        at: &Span,
    ) -> Value {
        let Some((op, rest)) = ops.split_first() else {
            return v;
        };
        let next = match (op, v) {
            (_, Value::Unknown(u)) => return Value::Unknown(u),
            (_, Value::Conditional { cond, then, else_ }) => {
                return Value::Conditional {
                    cond,
                    then: Box::new(self.apply_ops(ctx, *then, ops, at)),
                    else_: Box::new(self.apply_ops(ctx, *else_, ops, at)),
                }
            }
            // An element of a value derived from a resource's attribute is still derived from it.
            (
                TraversalOperator::Index(_) | TraversalOperator::LegacyIndex(_),
                v @ Value::Attr { .. },
            ) if matches!(&v, Value::Attr { attr, .. } if attr.contains('(')) => v,
            (_, v @ Value::Attr { .. }) => return Value::Unknown(as_unknown(v, at.clone(), "")),
            (TraversalOperator::GetAttr(k), Value::Map(m)) => match m.get(k.as_str()) {
                Some(v) => v.clone(),
                None => return missing(&format!("key \"{}\"", k.as_str()), at.clone()),
            },
            (TraversalOperator::Index(e), coll) => {
                let key = self.eval(ctx, e);
                match index(coll, key) {
                    Ok(v) => v,
                    Err(what) => return missing(&what, at.clone()),
                }
            }
            (TraversalOperator::LegacyIndex(n), coll) => {
                match index(coll, Value::Number(*n.value() as f64)) {
                    Ok(v) => v,
                    Err(what) => return missing(&what, at.clone()),
                }
            }
            (TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_), Value::List(l)) => {
                return Value::List(
                    l.into_iter()
                        .map(|v| self.apply_ops(ctx, v, rest, at))
                        .collect(),
                )
            }
            (_, _) => return unsupported("this traversal", at.clone()),
        };
        self.apply_ops(ctx, next, rest, at)
    }

    fn for_expr(&self, ctx: Ctx, f: &hcl_edit::expr::ForExpr, coll: Value, at: &Span) -> Value {
        let items: Vec<(Value, Value)> = match coll {
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Number(i as f64), v))
                .collect(),
            Value::Map(m) => m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
            Value::Unknown(u) => return Value::Unknown(u),
            v @ Value::Attr { .. } => return Value::Unknown(as_unknown(v, at.clone(), "")),
            _ => {
                return unsupported(
                    "a `for` over something that is not a collection",
                    at.clone(),
                )
            }
        };
        let mut list = Vec::new();
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in items {
            let mut scope = ctx.scope.clone();
            if let Some(kv) = &f.intro.key_var {
                scope.insert(kv.as_str().to_string(), k);
            }
            scope.insert(f.intro.value_var.as_str().to_string(), v);
            let inner = Ctx {
                scope: &scope,
                ..ctx
            };
            let keep = match &f.cond {
                Some(c) => self.eval(inner, &c.expr),
                None => Value::Bool(true),
            };
            let cond = match keep {
                Value::Bool(false) => continue,
                Value::Bool(true) => None,
                other => Some(as_unknown(other, at.clone(), "a `for` filter")),
            };
            let value = self.eval(inner, &f.value_expr);
            let value = match cond {
                Some(c) => Value::Conditional {
                    cond: c,
                    then: Box::new(value),
                    else_: Box::new(Value::Null),
                },
                None => value,
            };
            match &f.key_expr {
                None => list.push(value),
                Some(ke) => match self.eval(inner, ke) {
                    Value::Str(key) if f.grouping => {
                        if let Value::List(g) =
                            map.entry(key).or_insert_with(|| Value::List(Vec::new()))
                        {
                            g.push(value);
                        }
                    }
                    Value::Str(key) => {
                        map.insert(key, value);
                    }
                    other => return Value::Unknown(as_unknown(other, at.clone(), "a `for` key")),
                },
            }
        }
        match f.key_expr {
            None => Value::List(list),
            Some(_) => Value::Map(map),
        }
    }
}

pub(crate) fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

pub(crate) fn unsupported(what: &str, at: Span) -> Value {
    Value::Unknown(Unknown::new(
        Why::Unsupported {
            what: what.to_string(),
        },
        at,
    ))
}

pub(crate) fn missing(what: &str, at: Span) -> Value {
    Value::Unknown(Unknown::new(
        Why::Missing {
            what: what.to_string(),
        },
        at,
    ))
}

/// The Unknown a value that had to be known carries (its condition's, for a conditional).
pub fn as_unknown(v: Value, at: Span, what: &str) -> Unknown {
    match v {
        Value::Unknown(u) => u,
        Value::Conditional { cond, .. } => cond,
        Value::Attr {
            address,
            attr,
            at,
            via,
        } => Unknown {
            why: Why::ResourceAttr { address, attr },
            at,
            via,
        },
        _ => Unknown::new(
            Why::Unsupported {
                what: format!("{what} of this type"),
            },
            at,
        ),
    }
}

fn index(coll: Value, key: Value) -> Result<Value, String> {
    match (coll, key) {
        (Value::List(l), Value::Number(n)) => l
            .get(n as usize)
            .cloned()
            .ok_or_else(|| format!("index {n}")),
        (Value::Map(m), Value::Str(k)) => m.get(&k).cloned().ok_or_else(|| format!("key \"{k}\"")),
        (_, Value::Unknown(u)) => Ok(Value::Unknown(u)),
        _ => Err("an index of this type".into()),
    }
}

pub(crate) fn distribute1(v: Value, f: &dyn Fn(Value) -> Value) -> Value {
    match v {
        Value::Conditional { cond, then, else_ } => Value::Conditional {
            cond,
            then: Box::new(distribute1(*then, f)),
            else_: Box::new(distribute1(*else_, f)),
        },
        v => f(v),
    }
}

fn distribute2(l: Value, r: Value, f: &dyn Fn(Value, Value) -> Value) -> Value {
    distribute1(l, &|l| distribute1(r.clone(), &|r| f(l.clone(), r)))
}

fn binary(op: BinaryOperator, l: Value, r: Value, at: &Span) -> Value {
    use BinaryOperator as B;
    let unknown = |v: &Value| match v {
        Value::Unknown(_) | Value::Attr { .. } => Some(as_unknown(v.clone(), at.clone(), "")),
        _ => None,
    };
    if let Some(u) = unknown(&l).or_else(|| unknown(&r)) {
        return Value::Unknown(u);
    }
    match (op, l, r) {
        (B::Eq, l, r) => Value::Bool(l == r),
        (B::NotEq, l, r) => Value::Bool(l != r),
        (B::And, Value::Bool(a), Value::Bool(b)) => Value::Bool(a && b),
        (B::Or, Value::Bool(a), Value::Bool(b)) => Value::Bool(a || b),
        (op, Value::Number(a), Value::Number(b)) => match op {
            B::Less => Value::Bool(a < b),
            B::LessEq => Value::Bool(a <= b),
            B::Greater => Value::Bool(a > b),
            B::GreaterEq => Value::Bool(a >= b),
            B::Plus => Value::Number(a + b),
            B::Minus => Value::Number(a - b),
            B::Mul => Value::Number(a * b),
            B::Div => Value::Number(a / b),
            B::Mod => Value::Number(a % b),
            _ => unsupported("this operator", at.clone()),
        },
        _ => unsupported("this operator on these operands", at.clone()),
    }
}
