//! References: variables (the caller's argument, else the default), locals, module outputs,
//! resources with count/for_each, data sources, `path.*` — each evaluated once per instance.

use std::rc::Rc;

use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::Block;

use crate::stack::eval::{as_unknown, missing, num, unsupported, Ctx, DeployedLayers, Evaluator};
use crate::stack::hcl as tf;
use crate::stack::tree::Child;
use crate::stack::value::{Expansion, Scope, Span, Unknown, Value, Why};

impl Evaluator {
    /// `root.op.op…`: a variable, local, module output, resource, data source, path, or a name
    /// the scope binds (`each`, `count`, a `for` variable).
    pub(crate) fn reference(
        &self,
        ctx: Ctx,
        root: &str,
        ops: &[&TraversalOperator],
        at: Span,
    ) -> Value {
        let attr = |i: usize| match ops.get(i) {
            Some(TraversalOperator::GetAttr(id)) => Some(id.as_str()),
            _ => None,
        };
        if let Some(v) = ctx.scope.get(root) {
            return self.apply_ops(ctx, v.clone(), ops, &at);
        }
        if let (Some(a), "each" | "count") = (attr(0), root) {
            if let Some(v) = ctx.scope.get(&format!("{root}.{a}")) {
                return self.apply_ops(ctx, v.clone(), &ops[1..], &at);
            }
        }
        let inst = &self.instances[ctx.inst];
        match root {
            "var" | "local" => {
                let Some(name) = attr(0) else {
                    return unsupported(&format!("`{root}` without a name"), at);
                };
                let v = if root == "var" {
                    self.var(ctx.inst, name, &at)
                } else {
                    self.local(ctx.inst, name, &at)
                };
                self.apply_ops(ctx, v.via(&at), &ops[1..], &at)
            }
            "path" => {
                let dir = match attr(0) {
                    Some("module") => &inst.src.dir,
                    Some("root") | Some("cwd") => &self.instances[inst.root].src.dir,
                    _ => return unsupported("this path.* attribute", at),
                };
                self.apply_ops(
                    ctx,
                    Value::Str(dir.to_string_lossy().into_owned()),
                    &ops[1..],
                    &at,
                )
            }
            "terraform" if attr(0) == Some("workspace") => Value::Str("default".into()),
            "each" | "count" => Value::Unknown(Unknown::new(
                Why::Missing {
                    what: format!("{root}.* outside a resource with {root}"),
                },
                at,
            )),
            "module" => {
                let Some(call) = attr(0) else {
                    return unsupported("`module` without a name", at);
                };
                let mut rest = &ops[1..];
                if let Some(TraversalOperator::Index(_) | TraversalOperator::LegacyIndex(_)) =
                    rest.first()
                {
                    rest = &rest[1..];
                }
                let Some(TraversalOperator::GetAttr(output)) = rest.first() else {
                    return unsupported(&format!("module.{call} as a whole"), at);
                };
                let v = match inst.children.get(call) {
                    Some(Child::Local(ci)) => self.output(*ci, output.as_str(), &at),
                    Some(Child::Remote {
                        source,
                        at: call_at,
                    }) => Value::Unknown(Unknown::new(
                        Why::RemoteModule {
                            call: call.to_string(),
                            source: source.clone(),
                        },
                        call_at.clone(),
                    )),
                    Some(Child::Unloadable { why, at: call_at }) => {
                        Value::Unknown(Unknown::new(why.clone(), call_at.clone()))
                    }
                    None => missing(&format!("module \"{call}\""), at.clone()),
                };
                self.apply_ops(ctx, v.via(&at), &rest[1..], &at)
            }
            "data" => {
                let (Some(kind), Some(name)) = (attr(0), attr(1)) else {
                    return unsupported("`data` without a type and name", at);
                };
                let v = self.data(ctx.inst, kind, name, &at);
                // The layer a data source stands for is its `.arn`; other attributes are unknown.
                let rest = match ops.get(2) {
                    Some(TraversalOperator::GetAttr(a))
                        if matches!(a.as_str(), "arn" | "layer_arn") =>
                    {
                        &ops[3..]
                    }
                    _ => &ops[2..],
                };
                self.apply_ops(ctx, v, rest, &at)
            }
            kind if kind.contains('_') => {
                let Some(name) = attr(0) else {
                    return unsupported(&format!("`{kind}` without a name"), at);
                };
                self.resource_ref(ctx, kind, name, &ops[1..], at)
            }
            other => missing(other, at),
        }
    }

    /// `aws_x.name[key].attr…`: an argument the block sets is evaluated; anything else is the
    /// resource's computed attribute.
    fn resource_ref(
        &self,
        ctx: Ctx,
        kind: &str,
        name: &str,
        ops: &[&TraversalOperator],
        at: Span,
    ) -> Value {
        let src = &self.instances[ctx.inst].src;
        let Some((file, block)) = src.resource(kind, name) else {
            return missing(&format!("{kind}.{name}"), at);
        };
        let mut address = format!("{}{kind}.{name}", self.instances[ctx.inst].prefix());
        let mut ops = ops;
        let mut scope = Scope::new();
        let expanded = block.body.get_attribute("count").is_some()
            || block.body.get_attribute("for_each").is_some();
        if expanded {
            match ops.first() {
                Some(TraversalOperator::Index(e)) => {
                    let key = self.eval(ctx, e);
                    match &key {
                        Value::Number(n) => {
                            address.push_str(&format!("[{}]", num(*n)));
                            scope.insert("count.index".into(), key.clone());
                        }
                        Value::Str(k) => {
                            address.push_str(&format!("[{k:?}]"));
                            scope.insert("each.key".into(), key.clone());
                            if let Expansion::Each(items) = self.expansion(ctx.inst, file, block) {
                                if let Some((_, v)) = items.iter().find(|(ik, _)| ik == k) {
                                    scope.insert("each.value".into(), v.clone());
                                }
                            }
                        }
                        _ => address.push_str("[?]"),
                    }
                    ops = &ops[1..];
                }
                Some(TraversalOperator::LegacyIndex(n)) => {
                    address.push_str(&format!("[{}]", n.value()));
                    scope.insert("count.index".into(), Value::Number(*n.value() as f64));
                    ops = &ops[1..];
                }
                _ => {
                    return unsupported(
                        &format!("{address} without an index (or with a splat)"),
                        at,
                    )
                }
            }
        }
        let Some(TraversalOperator::GetAttr(attr)) = ops.first() else {
            return unsupported(&format!("{address} as a whole"), at);
        };
        let attr = attr.as_str();
        let v = match block.body.get_attribute(attr) {
            Some(a) if !matches!(attr, "arn" | "id" | "invoke_arn") => {
                let inner = Ctx {
                    inst: ctx.inst,
                    file,
                    scope: &scope,
                };
                self.eval(inner, &a.value)
            }
            _ => Value::Attr {
                address,
                attr: attr.to_string(),
                at: at.clone(),
                via: Vec::new(),
            },
        };
        self.apply_ops(ctx, v, &ops[1..], &at)
    }

    /// A data source. `data "aws_lambda_layer_version"` whose `layer_name` is the name of a
    /// layer this configuration deploys is that layer; any other is read at plan time.
    fn data(&self, inst: usize, kind: &str, name: &str, at: &Span) -> Value {
        let address = format!("{}data.{kind}.{name}", self.instances[inst].prefix());
        let Some((file, block)) = self.instances[inst].src.data(kind, name) else {
            return missing(&format!("data.{kind}.{name}"), at.clone());
        };
        let unknown = |why| Value::Unknown(Unknown::new(why, at.clone()));
        if kind != "aws_lambda_layer_version" {
            return unknown(Why::DataSource { address });
        }
        let Some(expr) = tf::attr(&block.body, "layer_name") else {
            return unknown(Why::DataSource { address });
        };
        let scope = Scope::new();
        let wanted = self.eval(
            Ctx {
                inst,
                file,
                scope: &scope,
            },
            expr,
        );
        let Value::Str(wanted) = wanted else {
            return unknown(Why::DataSource { address });
        };
        let layers = self.deployed_layers();
        match layers.iter().find(|(_, n)| n.as_str() == Some(&wanted)) {
            Some((layer, _)) => Value::Attr {
                address: layer.clone(),
                attr: "arn".into(),
                at: at.clone(),
                via: Vec::new(),
            },
            None => unknown(Why::DataSource {
                address: format!(
                    "{address} (layer_name \"{wanted}\" is not deployed by this configuration)"
                ),
            }),
        }
    }

    /// Every `aws_lambda_layer_version` of the tree: its address and evaluated `layer_name`.
    pub fn deployed_layers(&self) -> Rc<DeployedLayers> {
        if let Some(l) = self.layers.borrow().as_ref() {
            return l.clone();
        }
        // A layer_name that itself reads a layer data source sees an empty list, not a loop.
        *self.layers.borrow_mut() = Some(Rc::new(Vec::new()));
        let mut out = Vec::new();
        for (i, inst) in self.instances.iter().enumerate() {
            for (file, rname, block) in inst.src.resources("aws_lambda_layer_version") {
                let expansion = self.expansion(i, file, block);
                for (suffix, scope) in expansion.instances() {
                    let name = tf::attr(&block.body, "layer_name")
                        .map(|e| {
                            self.eval(
                                Ctx {
                                    inst: i,
                                    file,
                                    scope: &scope,
                                },
                                e,
                            )
                        })
                        .unwrap_or(Value::Null);
                    out.push((
                        format!("{}aws_lambda_layer_version.{rname}{suffix}", inst.prefix()),
                        name,
                    ));
                }
            }
        }
        let out = Rc::new(out);
        *self.layers.borrow_mut() = Some(out.clone());
        out
    }

    /// A resource's (or module call's) `count`/`for_each`, evaluated in its module.
    pub fn expansion(&self, inst: usize, file: usize, block: &Block) -> Expansion {
        let scope = Scope::new();
        let ctx = Ctx {
            inst,
            file,
            scope: &scope,
        };
        if let Some(a) = block.body.get_attribute("count") {
            return match self.eval(ctx, &a.value) {
                Value::Number(n) => Expansion::Count(n.max(0.0) as usize),
                Value::Bool(b) => Expansion::Count(b as usize),
                v => Expansion::Unknown(as_unknown(v, self.span(inst, file, &a.value), "count")),
            };
        }
        if let Some(a) = block.body.get_attribute("for_each") {
            return match self.eval(ctx, &a.value) {
                Value::Map(m) => Expansion::Each(m.into_iter().collect()),
                Value::List(l) if l.iter().all(|v| matches!(v, Value::Str(_))) => Expansion::Each(
                    l.into_iter()
                        .filter_map(|v| {
                            v.as_str()
                                .map(|s| (s.to_string(), Value::Str(s.to_string())))
                        })
                        .collect(),
                ),
                v => Expansion::Unknown(as_unknown(v, self.span(inst, file, &a.value), "for_each")),
            };
        }
        Expansion::One
    }

    /// Evaluates a named value once per instance; a reference back into one being evaluated
    /// is a cycle.
    pub(crate) fn memo(
        &self,
        inst: usize,
        key: String,
        at: &Span,
        f: impl FnOnce() -> Value,
    ) -> Value {
        if let Some(v) = self.memo.borrow().get(&(inst, key.clone())) {
            return v.clone();
        }
        let active_pos = self
            .active
            .borrow()
            .iter()
            .position(|k| k == &(inst, key.clone()));
        if let Some(pos) = active_pos {
            let mut chain: Vec<String> = self.active.borrow()[pos..]
                .iter()
                .map(|(_, k)| k.clone())
                .collect();
            chain.push(key);
            return Value::Unknown(Unknown::new(Why::Cycle { chain }, at.clone()));
        }
        if self.active.borrow().len() > 200 {
            return unsupported("references nested this deep", at.clone());
        }
        self.active.borrow_mut().push((inst, key.clone()));
        let v = f();
        self.active.borrow_mut().pop();
        self.memo.borrow_mut().insert((inst, key), v.clone());
        v
    }

    /// `var.<name>` of an instance: its call's argument (evaluated in the caller), else its
    /// default, else unknown. A root module's variables take their defaults only: var files
    /// may hold secrets and are not read.
    pub fn var(&self, inst: usize, name: &str, at: &Span) -> Value {
        self.memo(inst, format!("var.{name}"), at, || {
            let i = &self.instances[inst];
            let Some((file, block)) = i.src.labeled("variable", name) else {
                return missing(&format!("variable \"{name}\""), at.clone());
            };
            let decl = self.span(inst, file, block);
            // Whoever sets it, a sensitive variable's value is never read.
            if matches!(tf::attr(&block.body, "sensitive"), Some(Expression::Bool(b)) if *b.value())
            {
                return Value::Unknown(Unknown::new(
                    Why::Sensitive {
                        variable: name.into(),
                    },
                    decl,
                ));
            }
            if let (Some(parent), Some(call)) = (i.parent, &i.call) {
                if let Some(arg) = call.block.body.get_attribute(name) {
                    let scope = Scope::new();
                    return self.eval(
                        Ctx {
                            inst: parent,
                            file: call.file,
                            scope: &scope,
                        },
                        &arg.value,
                    );
                }
            }
            match tf::attr(&block.body, "default") {
                Some(d) => self.eval(
                    Ctx {
                        inst,
                        file,
                        scope: &Scope::new(),
                    },
                    d,
                ),
                None => Value::Unknown(Unknown::new(
                    Why::NoDefault {
                        variable: name.into(),
                    },
                    decl,
                )),
            }
        })
    }

    pub fn local(&self, inst: usize, name: &str, at: &Span) -> Value {
        self.memo(inst, format!("local.{name}"), at, || {
            match self.instances[inst].src.local(name) {
                Some((file, expr)) => self.eval(
                    Ctx {
                        inst,
                        file,
                        scope: &Scope::new(),
                    },
                    expr,
                ),
                None => missing(&format!("local.{name}"), at.clone()),
            }
        })
    }

    pub fn output(&self, inst: usize, name: &str, at: &Span) -> Value {
        self.memo(inst, format!("output.{name}"), at, || {
            let src = &self.instances[inst].src;
            match src
                .labeled("output", name)
                .and_then(|(f, b)| tf::attr(&b.body, "value").map(|e| (f, e)))
            {
                Some((file, expr)) => self.eval(
                    Ctx {
                        inst,
                        file,
                        scope: &Scope::new(),
                    },
                    expr,
                ),
                None => missing(
                    &format!("output \"{name}\" of {}", src.dir.display()),
                    at.clone(),
                ),
            }
        })
    }
}
