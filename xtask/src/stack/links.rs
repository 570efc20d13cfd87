//! What connects functions to the rest of the stack: the layers they attach (a layer's users),
//! the routes the modules' `api_routes` outputs give them, the gateway's integrations and the
//! permissions that let API Gateway invoke them.

use crate::stack::eval::as_unknown;
use crate::stack::eval::{Ctx, Evaluator};
use crate::stack::hcl as tf;
use crate::stack::model::{Field, LayerTarget, Model, Route};
use crate::stack::value::{Unknown, Value};

/// Fills users, routes, integrations and permissions; returns what could not be followed.
pub fn link(ev: &Evaluator, m: &mut Model) -> Vec<Unknown> {
    let mut unknowns = Vec::new();
    for f in &m.functions {
        for u in &f.layers {
            if let LayerTarget::Deployed { address } = &u.target {
                if let Some(l) = m.layers.iter_mut().find(|l| &l.address == address) {
                    if !l.users.contains(&f.address) {
                        l.users.push(f.address.clone());
                    }
                }
            }
        }
    }
    for inst in 0..ev.instances.len() {
        let src = ev.instances[inst].src.clone();
        if let Some((file, block)) = src.labeled("output", "api_routes") {
            let at = ev.span(inst, file, block);
            let routes = ev.output(inst, "api_routes", &at);
            let mut items = Vec::new();
            flatten(routes, &mut items);
            for item in items {
                let Value::Map(r) = item else {
                    unknowns.push(as_unknown(item, at.clone(), "a route"));
                    continue;
                };
                let (Some(method), Some(path)) = (
                    r.get("method").and_then(|v| v.as_str()),
                    r.get("path").and_then(|v| v.as_str()),
                ) else {
                    continue;
                };
                match r.get("integration") {
                    Some(Value::Attr { address, .. }) => {
                        if let Some(f) = m.functions.iter_mut().find(|f| &f.address == address) {
                            let route = Route {
                                method: method.into(),
                                path: path.into(),
                                at: at.clone(),
                            };
                            if !f
                                .routes
                                .iter()
                                .any(|x| x.method == route.method && x.path == route.path)
                            {
                                f.routes.push(route);
                            }
                        }
                    }
                    Some(other) => unknowns.push(as_unknown(
                        other.clone(),
                        at.clone(),
                        "a route's integration",
                    )),
                    None => {}
                }
            }
        }
        let scope_less = |kind: &'static str| src.resources(kind).collect::<Vec<_>>();
        for (file, name, block) in scope_less("aws_apigatewayv2_integration") {
            for (suffix, scope) in ev.expansion(inst, file, block).instances() {
                let Some(e) = tf::attr(&block.body, "integration_uri") else {
                    continue;
                };
                let ctx = Ctx {
                    inst,
                    file,
                    scope: &scope,
                };
                if let Value::Attr { address, .. } = ev.eval(ctx, e) {
                    let me = format!(
                        "{}aws_apigatewayv2_integration.{name}{suffix}",
                        ev.instances[inst].prefix()
                    );
                    if let Some(f) = m.functions.iter_mut().find(|f| f.address == address) {
                        f.integrations.push(me);
                    }
                }
            }
        }
        for (file, name, block) in scope_less("aws_lambda_permission") {
            for (suffix, scope) in ev.expansion(inst, file, block).instances() {
                let ctx = Ctx {
                    inst,
                    file,
                    scope: &scope,
                };
                let principal = tf::attr(&block.body, "principal").map(|e| ev.eval(ctx, e));
                if !matches!(&principal, Some(Value::Str(p)) if p.contains("apigateway")) {
                    continue;
                }
                let Some(e) = tf::attr(&block.body, "function_name") else {
                    continue;
                };
                let me = format!(
                    "{}aws_lambda_permission.{name}{suffix}",
                    ev.instances[inst].prefix()
                );
                let target = ev.eval(ctx, e);
                let f = m.functions.iter_mut().find(|f| match &target {
                    Value::Attr { address, .. } => &f.address == address,
                    Value::Str(n) => f.function_name == Some(Field::Known(n.clone())),
                    _ => false,
                });
                if let Some(f) = f {
                    f.permissions.push(me);
                }
            }
        }
    }
    unknowns
}

fn flatten(v: Value, out: &mut Vec<Value>) {
    match v {
        Value::List(l) => l.into_iter().for_each(|i| flatten(i, out)),
        Value::Conditional { then, else_, .. } => {
            flatten(*then, out);
            flatten(*else_, out);
        }
        Value::Null => {}
        other => out.push(other),
    }
}
