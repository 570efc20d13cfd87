//! Live checks: AWS = state = local build, through the aws CLI or the built-in client (aws.rs
//! picks). Each call passes the region of its resource's ARN, so the profile's default region
//! does not matter. Calls run in parallel; each is bounded by connect and read timeouts, and one
//! that has not answered after a few seconds is named; the comparisons are pure functions of
//! their JSON answers, in the aws CLI's shape.

use serde_json::Value;

use super::aws::{Answer, AwsError, Client, Op};
use super::state::{region_of, Api, Authorizer, Deployed, Function, Layer, Zips};
use super::{Check, Env};
use crate::terraform::Aws;

/// One call and what it is about.
enum Call<'a> {
    Routes(&'a Api),
    Integrations(&'a Api),
    Authorizer(&'a Authorizer, Option<String>),
    Function(&'a Function),
    /// A layer version attached to some function, whether this state manages it or not.
    Layer(&'a str, Option<&'a Layer>),
}

impl Call<'_> {
    /// The operation, in the region of its resource's ARN.
    fn op(&self) -> (Op<'_>, Option<String>) {
        match self {
            Call::Routes(api) => (Op::Routes(&api.id), api.region.clone()),
            Call::Integrations(api) => (Op::Integrations(&api.id), api.region.clone()),
            Call::Authorizer(a, region) => (
                Op::Authorizer {
                    api: &a.api_id,
                    id: &a.id,
                },
                region.clone(),
            ),
            Call::Function(f) => (Op::Function(&f.name), region_of(&f.arn)),
            Call::Layer(arn, _) => (Op::Layer(arn), region_of(arn)),
        }
    }
}

pub(super) fn checks(
    d: &Deployed,
    zips: &Zips,
    runtime: &str,
    env: &Env,
    settings: &Aws,
    timeout: u64,
) -> Vec<Check> {
    let aws = match Client::new(settings, timeout) {
        Ok(aws) => aws,
        Err(e) => {
            return vec![Check::fail(
                "live",
                "",
                "AWS credentials".into(),
                format!("cannot call AWS: {e:#}"),
                "install the aws CLI, or give the built-in client curl and credentials \
                 (AWS_PROFILE, AWS_ACCESS_KEY_ID), or pass --offline to check the state only"
                    .into(),
            )]
        }
    };
    let region = d
        .functions
        .iter()
        .filter_map(|f| region_of(&f.arn))
        .chain(d.apis.iter().filter_map(|a| a.region.clone()))
        .next();
    if let Err(e) = aws.probe(region.as_deref()) {
        let slow = if e.message.contains("timeout on endpoint URL")
            || e.message.starts_with("curl error 28")
        {
            format!(" (no answer within {timeout} s: a slow endpoint needs a larger --aws-timeout)")
        } else {
            String::new()
        };
        return vec![Check::fail(
            "live",
            "",
            "AWS credentials".into(),
            format!("cannot call AWS: {}{slow}", e.message),
            "log in (`aws sso login`, AWS_PROFILE and AWS_REGION), check AWS_ENDPOINT_URL, or pass --offline"
                .into(),
        )];
    }

    let mut calls = Vec::new();
    for api in &d.apis {
        calls.push(Call::Routes(api));
        calls.push(Call::Integrations(api));
    }
    for a in &d.authorizers {
        let region = d
            .apis
            .iter()
            .find(|x| x.id == a.api_id)
            .and_then(|x| x.region.clone());
        calls.push(Call::Authorizer(a, region));
    }
    calls.extend(d.functions.iter().map(Call::Function));
    let mut layer_arns: Vec<&str> = d.layers.iter().map(|l| l.arn.as_str()).collect();
    for f in &d.functions {
        layer_arns.extend(f.layers.iter().map(String::as_str));
    }
    layer_arns.sort();
    layer_arns.dedup();
    for arn in layer_arns {
        calls.push(Call::Layer(arn, d.layers.iter().find(|l| l.arn == arn)));
    }

    let answers = crate::pool::parallel(&calls, aws.parallelism(), |c| {
        let (op, region) = c.op();
        aws.call(op, region.as_deref())
    });

    let mut out = Vec::new();
    let answer_for = |want: &dyn Fn(&Call) -> bool| {
        calls
            .iter()
            .zip(&answers)
            .find(|(c, _)| want(c))
            .map(|(_, a)| a)
    };
    for (call, answer) in calls.iter().zip(&answers) {
        match call {
            Call::Routes(api) => {
                let integrations =
                    answer_for(&|c| matches!(c, Call::Integrations(x) if x.id == api.id));
                if let Some(integrations) = integrations {
                    out.extend(compare_api(d, api, answer, integrations, env));
                }
            }
            Call::Integrations(_) => {}
            Call::Authorizer(a, _) => out.push(compare_authorizer(a, answer, env)),
            Call::Function(f) => out.push(compare_function(f, answer, zips, runtime, env)),
            Call::Layer(arn, layer) => out.push(compare_layer(d, arn, *layer, answer, zips, env)),
        }
    }
    out
}

fn items(v: &Value) -> &[Value] {
    v["Items"].as_array().map_or(&[], Vec::as_slice)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn restore_fix(env: &Env) -> String {
    format!(
        "it was changed outside Terraform: run {} to restore it",
        env.apply()
    )
}

/// The API's routes and integrations in AWS = those in state, both ways.
fn compare_api(
    d: &Deployed,
    api: &Api,
    routes: &Answer,
    integrations: &Answer,
    env: &Env,
) -> Vec<Check> {
    let unreadable = |e: &AwsError| {
        let message = if e.not_found {
            format!("API {} is in state but not in AWS", api.id)
        } else {
            format!("cannot read API {}: {}", api.id, e.message)
        };
        vec![Check::fail(
            "live",
            &api.module,
            format!("API {}", api.id),
            message,
            restore_fix(env),
        )]
    };
    let (routes, integrations) = match (routes, integrations) {
        (Ok(r), Ok(i)) => (items(r), items(i)),
        (Err(e), _) | (_, Err(e)) => return unreadable(e),
    };
    let mut out = Vec::new();
    let state_routes: Vec<_> = d.routes.iter().filter(|r| r.api_id == api.id).collect();
    for r in &state_routes {
        let subject = super::route_subject(&r.key);
        let module = d.route_module(r);
        let fail = |message: String| {
            Check::fail("live", module, subject.clone(), message, restore_fix(env))
        };
        let Some(live) = routes.iter().find(|x| text(x, "RouteKey") == r.key) else {
            out.push(fail(format!(
                "route `{}` is in state but not in API {}",
                r.key, api.id
            )));
            continue;
        };
        let state_target = r.target.as_deref().unwrap_or("none");
        let live_target = live["Target"].as_str().unwrap_or("none");
        let live_auth = live["AuthorizationType"].as_str().unwrap_or("NONE");
        if live_target != state_target {
            out.push(fail(format!(
                "route `{}` targets {live_target} in API {} but {state_target} in state",
                r.key, api.id
            )));
        } else if live_auth != r.authorization_type {
            out.push(fail(format!(
                "route `{}` has authorization {live_auth} in API {} but {} in state",
                r.key, api.id, r.authorization_type
            )));
        } else if let Some(id) = state_target.strip_prefix("integrations/") {
            let state_uri = d
                .integrations
                .iter()
                .find(|i| i.id == id && i.api_id == api.id)
                .and_then(|i| i.uri.as_deref())
                .unwrap_or_default();
            match integrations.iter().find(|x| text(x, "IntegrationId") == id) {
                None => out.push(fail(format!(
                    "integration {id} of route `{}` is in state but not in API {}",
                    r.key, api.id
                ))),
                Some(i) if text(i, "IntegrationUri") != state_uri => out.push(fail(format!(
                    "integration {id} of route `{}` calls {} in API {} but {state_uri} in state",
                    r.key,
                    text(i, "IntegrationUri"),
                    api.id
                ))),
                Some(_) => out.push(Check::pass(
                    "live",
                    module,
                    subject,
                    format!("matches API {}", api.id),
                )),
            }
        } else {
            out.push(Check::pass(
                "live",
                module,
                subject,
                format!("matches API {}", api.id),
            ));
        }
    }
    for live in routes {
        let key = text(live, "RouteKey");
        if !state_routes.iter().any(|r| r.key == key) {
            out.push(Check::fail(
                "live",
                &api.module,
                super::route_subject(key),
                format!("route `{key}` is in API {} but not in state", api.id),
                format!(
                    "it was created outside Terraform: delete it (aws apigatewayv2 delete-route --api-id {} --route-id {}) or add it to a module's api_routes",
                    api.id,
                    text(live, "RouteId")
                ),
            ));
        }
    }
    for live in integrations {
        let id = text(live, "IntegrationId");
        if !d
            .integrations
            .iter()
            .any(|i| i.api_id == api.id && i.id == id)
        {
            out.push(Check::fail(
                "live",
                &api.module,
                format!("integration {id}"),
                format!(
                    "integration {id} ({}) is in API {} but not in state",
                    text(live, "IntegrationUri"),
                    api.id
                ),
                format!(
                    "it was created outside Terraform: delete it (aws apigatewayv2 delete-integration --api-id {} --integration-id {id})",
                    api.id
                ),
            ));
        }
    }
    out
}

fn compare_authorizer(a: &Authorizer, answer: &Answer, env: &Env) -> Check {
    let subject = format!("authorizer {}", a.id);
    let fail = |message: String| {
        Check::fail(
            "live",
            &a.module,
            subject.clone(),
            message,
            restore_fix(env),
        )
    };
    match answer {
        Err(e) if e.not_found => fail(format!(
            "{} is in state but not in API {}",
            a.address, a.api_id
        )),
        Err(e) => fail(format!("cannot read {}: {}", a.address, e.message)),
        Ok(v) => {
            let state = a.uri.as_deref().unwrap_or_default();
            let live = text(v, "AuthorizerUri");
            if live == state {
                Check::pass(
                    "live",
                    &a.module,
                    subject,
                    format!("matches API {}", a.api_id),
                )
            } else {
                fail(format!(
                    "authorizer {} calls {live} in AWS but {state} in state",
                    a.id
                ))
            }
        }
    }
}

/// `lambda get-function`: the code, runtime and layers AWS runs = the local build's.
fn compare_function(f: &Function, answer: &Answer, zips: &Zips, runtime: &str, env: &Env) -> Check {
    let subject = super::function_subject(f);
    let config = match answer {
        Err(e) if e.not_found => {
            return Check::fail(
                "live",
                &f.module,
                subject,
                format!("function `{}` is in state but not in AWS", f.name),
                restore_fix(env),
            )
        }
        Err(e) => {
            return Check::fail(
                "live",
                &f.module,
                subject,
                format!("cannot read function `{}`: {}", f.name, e.message),
                "check the credentials' lambda:GetFunction permission, or pass --offline".into(),
            )
        }
        Ok(v) => &v["Configuration"],
    };
    let mut problems = Vec::new();
    let mut code_changed_outside = false;
    if !f.image {
        let live = text(config, "CodeSha256");
        let (want, what) = match zips.sha256(&f.code) {
            Some(sha) => (sha, format!("the local build {}", zip_name(zips, f))),
            None => (
                f.code.source_code_hash.as_deref().unwrap_or_default(),
                "state".into(),
            ),
        };
        if live != want {
            code_changed_outside = f.code.source_code_hash.as_deref() == Some(want);
            problems.push(format!("AWS runs CodeSha256 {live} but {what} is {want}"));
        }
        let live_runtime = text(config, "Runtime");
        if live_runtime != runtime {
            problems.push(format!(
                "AWS runs {live_runtime}, the build targets {runtime}"
            ));
        }
    }
    let live_layers: Vec<&str> = config["Layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| text(l, "Arn"))
        .collect();
    if live_layers != f.layers.iter().map(String::as_str).collect::<Vec<_>>() {
        problems.push(format!(
            "AWS attaches layers [{}] but state has [{}]",
            live_layers.join(", "),
            f.layers.join(", ")
        ));
    }
    // Native wheels are built for the architecture in state: one changed outside Terraform
    // runs them on the other machine, and the function fails at import.
    let live_arch: Vec<&str> = config["Architectures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !f.architectures.is_empty() && !live_arch.is_empty() && live_arch != f.architectures {
        problems.push(format!(
            "AWS runs it on {} but state has {} (the build's native code targets the state's)",
            live_arch.join(", "),
            f.architectures.join(", ")
        ));
    }
    if problems.is_empty() {
        return Check::pass(
            "live",
            &f.module,
            subject,
            "code, runtime, architecture and layers match AWS".into(),
        );
    }
    let fix = if code_changed_outside {
        format!(
            "redeploy the build: {} (Terraform does not notice code changed outside it)",
            env.replace(&f.address)
        )
    } else {
        format!("run {} to deploy the local build", env.apply())
    };
    Check::fail(
        "live",
        &f.module,
        subject,
        format!("`{}`: {}", f.name, problems.join("; ")),
        fix,
    )
}

fn zip_name(zips: &Zips, f: &Function) -> String {
    zips.get(&f.code)
        .and_then(|z| z.path.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A layer version exists in AWS and, when this state publishes it, holds the local build.
fn compare_layer(
    d: &Deployed,
    arn: &str,
    layer: Option<&Layer>,
    answer: &Answer,
    zips: &Zips,
    env: &Env,
) -> Check {
    let (short, subject) = (super::layer_name(arn, arn), super::layer_subject(arn, arn));
    let module = layer.map_or_else(
        || {
            d.functions
                .iter()
                .find(|f| f.layers.iter().any(|l| l == arn))
                .map_or("", |f| f.module.as_str())
        },
        |l| l.module.as_str(),
    );
    let v =
        match answer {
            Err(e) if e.not_found => return Check::fail(
                "live",
                module,
                subject,
                format!("layer version {arn} does not exist in AWS"),
                match layer {
                    Some(_) => restore_fix(env),
                    None => {
                        "attach a layer version that exists (a deleted version cannot come back)"
                            .into()
                    }
                },
            ),
            Err(e) => {
                return Check::fail(
                    "live",
                    module,
                    subject,
                    format!("cannot read layer version {arn}: {}", e.message),
                    "check the credentials' lambda:GetLayerVersion permission, or pass --offline"
                        .into(),
                )
            }
            Ok(v) => v,
        };
    let Some(l) = layer else {
        return Check::pass(
            "live",
            module,
            subject,
            "exists (published outside this state)".into(),
        );
    };
    let live = v["Content"]["CodeSha256"].as_str().unwrap_or_default();
    match zips.sha256(&l.code) {
        Some(local) if local != live => Check::fail(
            "live",
            module,
            subject,
            format!("AWS holds CodeSha256 {live} for {short} but the local build is {local}"),
            format!(
                "run {} to publish the local build as a new version",
                env.apply()
            ),
        ),
        _ => Check::pass("live", module, subject, "code matches AWS".into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::verify::tests::{arn, env, failures, fixture};
    use crate::verify::Status;

    fn aws_routes(keys: &[(&str, &str)]) -> Answer {
        let items: Vec<Value> = keys
            .iter()
            .map(|(k, i)| {
                json!({ "RouteKey": k, "Target": format!("integrations/{i}"), "AuthorizationType": "CUSTOM", "RouteId": format!("r-{i}") })
            })
            .collect();
        Ok(json!({ "Items": items }))
    }

    fn aws_integrations(d: &Deployed) -> Answer {
        let items: Vec<Value> = d
            .integrations
            .iter()
            .map(|i| json!({ "IntegrationId": i.id, "IntegrationUri": i.uri }))
            .collect();
        Ok(json!({ "Items": items }))
    }

    #[test]
    fn routes_deleted_or_added_outside_terraform_are_named() {
        let d = fixture().deployed();
        let api = &d.apis[0];
        let same = aws_routes(&[("GET /profiles/me", "i1"), ("GET /mgmt/lambdas", "i2")]);
        let c = compare_api(&d, api, &same, &aws_integrations(&d), &env());
        assert_eq!(failures(&c), Vec::<(&str, &str)>::new(), "{c:#?}");

        let drifted = aws_routes(&[("GET /mgmt/lambdas", "i2"), ("GET /debug", "i2")]);
        let c = compare_api(&d, api, &drifted, &aws_integrations(&d), &env());
        assert_eq!(
            failures(&c),
            [
                ("live", "route GET /profiles/me"),
                ("live", "route GET /debug")
            ]
        );
        assert_eq!(
            c.iter()
                .find(|x| x.subject == "route GET /profiles/me")
                .unwrap()
                .message,
            "route `GET /profiles/me` is in state but not in API api1"
        );
        let extra = c.iter().find(|x| x.subject == "route GET /debug").unwrap();
        assert!(
            extra.fix.as_deref().unwrap().contains("--route-id r-i2"),
            "{extra:?}"
        );

        let gone = Err(AwsError {
            not_found: true,
            message: "NotFoundException".into(),
        });
        let c = compare_api(&d, api, &gone, &aws_integrations(&d), &env());
        assert_eq!(c[0].message, "API api1 is in state but not in AWS");
    }

    #[test]
    fn code_changed_outside_terraform_names_the_function_and_how_to_redeploy() {
        let f = fixture();
        let d = f.deployed();
        let profiles = d
            .functions
            .iter()
            .find(|x| x.name == "demo-dev-access-profiles")
            .unwrap();
        let config = |sha: &str, layers: Vec<&str>| -> Answer {
            let layers: Vec<Value> = layers.iter().map(|a| json!({ "Arn": a })).collect();
            Ok(
                json!({ "Configuration": { "CodeSha256": sha, "Runtime": "python3.13", "Layers": layers } }),
            )
        };
        let zips = &f.zips;
        let ok = compare_function(
            profiles,
            &config(
                "sha-profiles",
                profiles.layers.iter().map(String::as_str).collect(),
            ),
            zips,
            "python3.13",
            &env(),
        );
        assert_eq!(ok.status, Status::Pass, "{ok:?}");

        let bad = compare_function(
            profiles,
            &config("other", vec![]),
            zips,
            "python3.13",
            &env(),
        );
        assert_eq!(bad.status, Status::Fail);
        assert!(bad.message.starts_with("`demo-dev-access-profiles`: AWS runs CodeSha256 other but the local build profiles.zip is sha-profiles"), "{bad:?}");
        assert!(
            bad.message.contains("AWS attaches layers [] but state has"),
            "{bad:?}"
        );
        assert!(bad.fix.as_deref().unwrap().contains(
            "plan --env dev -- -replace='module.module_access.aws_lambda_function.profiles'"
        ));

        let gone = Err(AwsError {
            not_found: true,
            message: String::new(),
        });
        let c = compare_function(profiles, &gone, zips, "python3.13", &env());
        assert_eq!(
            c.message,
            format!("function `demo-dev-access-profiles` is in state but not in AWS")
        );
        assert!(arn("x").ends_with(":function:x"));
    }

    #[test]
    fn an_architecture_changed_outside_terraform_fails_the_function() {
        let f = fixture();
        let d = f.deployed();
        let mut profiles = d
            .functions
            .iter()
            .find(|x| x.name == "demo-dev-access-profiles")
            .unwrap()
            .clone();
        profiles.architectures = vec!["x86_64".into()];
        let live = |arch: Value| -> Answer {
            let layers: Vec<Value> = profiles
                .layers
                .iter()
                .map(|a| json!({ "Arn": a }))
                .collect();
            Ok(json!({ "Configuration": {
                "CodeSha256": "sha-profiles", "Runtime": "python3.13", "Layers": layers,
                "Architectures": arch } }))
        };
        let same = compare_function(
            &profiles,
            &live(json!(["x86_64"])),
            &f.zips,
            "python3.13",
            &env(),
        );
        assert_eq!(same.status, Status::Pass, "{same:?}");
        // A moto or an older API that leaves the field out says nothing either way.
        let absent = compare_function(&profiles, &live(Value::Null), &f.zips, "python3.13", &env());
        assert_eq!(absent.status, Status::Pass, "{absent:?}");
        let other = compare_function(
            &profiles,
            &live(json!(["arm64"])),
            &f.zips,
            "python3.13",
            &env(),
        );
        assert_eq!(other.status, Status::Fail);
        assert_eq!(
            other.message,
            "`demo-dev-access-profiles`: AWS runs it on arm64 but state has x86_64 (the build's \
             native code targets the state's)"
        );
    }
}
