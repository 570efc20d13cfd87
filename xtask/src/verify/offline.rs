//! V1–V5: from state, config and the local zips only.

use std::collections::BTreeMap;
use std::path::Path;

use super::state::{Code, Deployed, Function, RouteTarget, Zips};
use super::{function_subject, layer_subject, layers, route_subject, Check, Declared, Env};
use crate::stack::env::GatewayCall;

pub(super) struct Inputs<'a> {
    pub(super) deployed: &'a Deployed,
    pub(super) declared: &'a Declared,
    pub(super) zips: &'a Zips,
    pub(super) runtime: &'a str,
    pub(super) unrouted: &'a [String],
    pub(super) env: &'a Env,
    pub(super) gateway: Option<&'a GatewayCall>,
    /// The stack model and the directory its paths are shown from: the layers each function
    /// should carry.
    pub(super) model: Option<(&'a crate::stack::model::Model, &'a Path)>,
}

pub(super) fn offline_checks(i: &Inputs) -> Vec<Check> {
    let mut out = Vec::new();
    routes_reach_functions(i, &mut out);
    functions_are_reached(i, &mut out);
    routes_match_modules(i, &mut out);
    deployed_code_is_built_code(i, &mut out);
    runtimes_and_layers(i, &mut out);
    out
}

/// V1: every route targets an integration in state whose URI is a function's or alias's invoke ARN.
fn routes_reach_functions(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    for r in &d.routes {
        let subject = route_subject(&r.key);
        let module = d.route_module(r);
        out.push(match d.route_target(r) {
            RouteTarget::Function(f) => Check::pass("V1", module, subject, format!("→ {}", f.name)),
            RouteTarget::NoTarget => Check::fail(
                "V1",
                module,
                subject,
                format!("{} has no `integrations/<id>` target", r.address),
                "give the route `target = \"integrations/${aws_apigatewayv2_integration.<name>.id}\"`"
                    .into(),
            ),
            RouteTarget::MissingIntegration(id) => Check::fail(
                "V1",
                module,
                subject,
                format!(
                    "{} targets integrations/{id}, which is not in the Terraform state",
                    r.address
                ),
                "point the route at an integration managed by the same configuration, then apply"
                    .into(),
            ),
            RouteTarget::NotLambda(what) => Check::skip(
                "V1",
                module,
                subject,
                format!("targets a non-Lambda integration ({what})"),
            ),
            RouteTarget::UnknownFunction(uri) => Check::fail(
                "V1",
                module,
                subject,
                format!("its integration URI {uri} is not the invoke ARN of a function or alias in this state"),
                "use `aws_lambda_function.<name>.invoke_arn` as the route's `integration` in the module's api_routes, then apply".into(),
            ),
        });
    }
}

/// Route keys reaching each function, by function address.
fn routes_by_function(d: &Deployed) -> BTreeMap<&str, Vec<&str>> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &d.routes {
        if let RouteTarget::Function(f) = d.route_target(r) {
            map.entry(f.address.as_str()).or_default().push(&r.key);
        }
    }
    map
}

/// V2: every function has a route, a trigger, or is listed in `[verify] unrouted`.
fn functions_are_reached(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    let reached = routes_by_function(d);
    for f in &d.functions {
        let subject = function_subject(f);
        if let Some(keys) = reached.get(f.address.as_str()) {
            let mut list = keys[..keys.len().min(3)].join(", ");
            if keys.len() > 3 {
                list.push_str(", …");
            }
            let n = keys.len();
            let s = if n == 1 { "" } else { "s" };
            out.push(Check::pass(
                "V2",
                &f.module,
                subject,
                format!("{n} route{s}: {list}"),
            ));
        } else if i.unrouted.iter().any(|u| *u == f.name || *u == f.address) {
            out.push(Check::pass(
                "V2",
                &f.module,
                subject,
                "no route; listed in [verify] unrouted".into(),
            ));
        } else if let Some(t) = d.trigger_of(f) {
            out.push(Check::pass(
                "V2",
                &f.module,
                subject,
                format!("no route; invoked by {}", t.address),
            ));
        } else {
            out.push(Check::fail(
                "V2",
                &f.module,
                subject,
                format!("`{}` exists but no route reaches it", f.name),
                unreached_fix(i, f),
            ));
        }
    }
}

fn unreached_fix(i: &Inputs, f: &Function) -> String {
    let otherwise = format!(
        "or give it another trigger, or list \"{}\" under [verify] unrouted in xtask.toml",
        f.name
    );
    let declared = i.declared.as_ref().ok();
    let call = module_call(&f.module);
    let routes = declared.and_then(|m| m.get(&call));
    match routes {
        Some(Some(routes))
            if routes
                .iter()
                .any(|r| r.integration.as_deref().is_some_and(|u| f.refs.iter().any(|x| x == u))) =>
        {
            format!("{}; {otherwise}", include_module_fix(i, &call))
        }
        Some(None) => format!(
            "{call} has no `api_routes` output: export its routes in the module's outputs.tf and add {call}.api_routes to module_routes, {otherwise}"
        ),
        _ => format!(
            "add a route with `integration = {}.invoke_arn` to {call}'s api_routes output, {otherwise}",
            local_address(&f.address)
        ),
    }
}

/// `module.module_access` for a resource or module instance address (`module.x["a"]` → `module.x`).
pub(super) fn module_call(module: &str) -> String {
    let first = module.split('.').take(2).collect::<Vec<_>>().join(".");
    first.split('[').next().unwrap_or_default().to_string()
}

/// `aws_lambda_function.profiles` from `module.module_access.aws_lambda_function.profiles`.
pub(super) fn local_address(address: &str) -> String {
    let parts: Vec<&str> = address.split('.').collect();
    parts[parts.len().saturating_sub(2)..].join(".")
}

/// The fix for a module whose declared routes are not in the gateway.
fn include_module_fix(i: &Inputs, call: &str) -> String {
    let reference = format!("{call}.api_routes");
    match i.gateway {
        Some(g) if !g.routes_expr.contains(&reference) => format!(
            "add {reference} to `module_routes = concat(…)` at {}, then apply",
            g.location
        ),
        Some(_) => format!(
            "{reference} is in module_routes but not deployed: run {}",
            i.env.apply()
        ),
        None => format!(
            "add {reference} to the gateway's module_routes in {}, then apply",
            i.env.label()
        ),
    }
}

/// V3: gateway routes = the union of the modules' `api_routes`.
fn routes_match_modules(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    let declared = match i.declared {
        Ok(map) => map,
        Err(why) => {
            out.push(Check::fail(
                "V3",
                "",
                "api_routes".into(),
                format!("cannot evaluate the modules' api_routes: {why}"),
                format!(
                    "run `cargo xtask plan --env {}` and fix what it reports, then apply",
                    i.env.name
                ),
            ));
            return;
        }
    };
    let mut by_key: BTreeMap<&str, &str> = BTreeMap::new();
    for (call, routes) in declared {
        for r in routes.iter().flatten() {
            by_key.insert(&r.key, call);
            let target = r.integration.as_deref().and_then(|u| d.function_for(u));
            let module = target.map_or(call.as_str(), |f| f.module.as_str());
            let to = target
                .map(|f| format!(" (→ {})", f.name))
                .unwrap_or_default();
            let subject = route_subject(&r.key);
            let in_gateway = d.routes.iter().find(|g| g.key == r.key);
            out.push(match in_gateway {
                None => Check::fail(
                    "V3",
                    module,
                    subject,
                    format!(
                        "route `{}`{to} is declared by {call}.api_routes but is not in the gateway",
                        r.key
                    ),
                    include_module_fix(i, call),
                ),
                Some(g) => match (d.route_target(g), target) {
                    (RouteTarget::Function(got), Some(want)) if got.address != want.address => {
                        Check::fail(
                            "V3",
                            module,
                            subject,
                            format!(
                                "the gateway sends `{}` to {} but {call}.api_routes declares {}",
                                r.key, got.name, want.name
                            ),
                            format!("run {} so the gateway follows api_routes", i.env.apply()),
                        )
                    }
                    _ => Check::pass("V3", module, subject, format!("declared by {call}")),
                },
            });
        }
    }
    for g in &d.routes {
        if !by_key.contains_key(g.key.as_str()) {
            out.push(Check::fail(
                "V3",
                d.route_module(g),
                route_subject(&g.key),
                format!(
                    "route `{}` is in the gateway ({}) but no module's api_routes declares it",
                    g.key, g.address
                ),
                "declare it in the owning module's api_routes output (and route module_routes from there), or remove it"
                    .into(),
            ));
        }
    }
}

/// V4: the hash Terraform deployed (and AWS last reported) = the local zip's.
fn deployed_code_is_built_code(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    for f in &d.functions {
        if f.image {
            out.push(Check::skip(
                "V4",
                &f.module,
                function_subject(f),
                "container image; no zip".into(),
            ));
            continue;
        }
        out.push(code_check(
            i,
            &f.module,
            function_subject(f),
            &f.address,
            &f.code,
        ));
    }
    for l in &d.layers {
        out.push(code_check(
            i,
            &l.module,
            layer_subject(&l.arn, &l.address),
            &l.address,
            &l.code,
        ));
    }
}

fn code_check(i: &Inputs, module: &str, subject: String, address: &str, code: &Code) -> Check {
    let fail =
        |message: String, fix: String| Check::fail("V4", module, subject.clone(), message, fix);
    let Some(zip) = i.zips.get(code) else {
        let from = code.s3.as_deref().unwrap_or("no local file");
        return fail(
            format!("{address} is deployed from {from}, not from a local build zip: Terraform never sees new builds"),
            "use `filename = \"${local.build_dir}/<name>.zip\"` and `source_code_hash = filebase64sha256(…)` of the build output".into(),
        );
    };
    let local = match &zip.sha256 {
        Ok(sha) => sha,
        Err(why) => {
            return fail(
                format!("cannot hash the local zip: {why}"),
                "run `cargo xtask build` (the same build that was applied)".into(),
            )
        }
    };
    let name = zip
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match (&code.source_code_hash, &code.code_sha256) {
        (None, _) => fail(
            format!("{address} has no source_code_hash: Terraform cannot tell when the code changes"),
            format!("set `source_code_hash = filebase64sha256(\"…/{name}\")` on {address}"),
        ),
        (Some(state), _) if state != local => fail(
            format!(
                "state has {state} but the local {name} is {local}: the build changed since the last apply"
            ),
            format!("run {} to deploy this build (or rebuild what was applied)", i.env.apply()),
        ),
        (_, Some(aws)) if aws != local => fail(
            format!(
                "AWS reported code {aws} at the last refresh, but the local {name} is {local}: changed outside Terraform"
            ),
            format!(
                "redeploy: {} (Terraform does not notice code changed outside it)",
                i.env.replace(address)
            ),
        ),
        _ => Check::pass("V4", module, subject, format!("{name} {local}")),
    }
}

/// V5: every function runs the configured Python, and its layers exist and fit that runtime.
fn runtimes_and_layers(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    for f in &d.functions {
        let subject = function_subject(f);
        if f.image {
            out.push(Check::skip(
                "V5",
                &f.module,
                subject,
                "container image; no runtime".into(),
            ));
            continue;
        }
        let mut problems = Vec::new();
        let runtime = f.runtime.as_deref().unwrap_or("none");
        if runtime != i.runtime {
            problems.push(format!(
                "runtime is {runtime}, the build targets {}",
                i.runtime
            ));
        }
        let mut notes = Vec::new();
        let (compared, attached) = layers::compare(i.model, d, f);
        match compared {
            Ok(note) => notes.extend(note),
            Err(problem) => problems.push(problem),
        }
        let mut external = 0;
        for arn in &f.layers {
            match d.layers.iter().find(|l| &l.arn == arn) {
                None => external += 1,
                Some(l)
                    if !l.compatible_runtimes.is_empty()
                        && !l.compatible_runtimes.iter().any(|r| r == runtime) =>
                {
                    problems.push(format!(
                        "{} is built for {} only",
                        layer_subject(&l.arn, &l.address),
                        l.compatible_runtimes.join(", ")
                    ))
                }
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            let layers = match (f.layers.len(), external) {
                (0, _) => "no layers".to_string(),
                (n, 0) => format!("{n} layer(s) in state"),
                (n, e) => {
                    format!("{n} layer(s), {e} published outside this state (seen live only)")
                }
            };
            let notes: String = notes.iter().map(|n| format!("; {n}")).collect();
            out.push(
                Check::pass(
                    "V5",
                    &f.module,
                    subject,
                    format!("{runtime}, {layers}{notes}"),
                )
                .with_layers(attached),
            );
        } else {
            out.push(
                Check::fail(
                "V5",
                &f.module,
                subject,
                problems.join("; "),
                format!(
                    "set `runtime = \"{}\"` on {} and `compatible_runtimes = [\"{}\"]` on its layers (or `python` in xtask.toml); for layers, `cargo xtask stack` shows what the configuration attaches; rebuild and apply",
                    i.runtime, f.address, i.runtime
                ),
            )
                .with_layers(attached),
            );
        }
    }
}
