//! The comparison logic on hand-written `terraform show -json` state: a root authorizer, a
//! gateway module with two routes, and two stack modules, as the demo deploys them.

use serde_json::json;

use super::offline::*;
use super::state::*;
use super::*;
use crate::stack::env::GatewayCall;

pub(super) fn arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}")
}

pub(super) fn invoke(name: &str) -> String {
    format!(
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations",
        arn(name)
    )
}

const ORG_COMMON: &str = "arn:aws:lambda:us-east-1:123456789012:layer:demo-dev-org-common:1";

fn resource(address: &str, kind: &str, values: Value) -> Value {
    json!({ "address": address, "mode": "managed", "type": kind, "values": values })
}

fn lambda(module: &str, resource_name: &str, name: &str, layers: &[&str]) -> Value {
    let prefix = if module.is_empty() {
        String::new()
    } else {
        format!("{module}.")
    };
    resource(
        &format!("{prefix}aws_lambda_function.{resource_name}"),
        "aws_lambda_function",
        json!({
            "function_name": name,
            "arn": arn(name),
            "invoke_arn": invoke(name),
            "qualified_arn": format!("{}:$LATEST", arn(name)),
            "runtime": "python3.13",
            "package_type": "Zip",
            "layers": layers,
            "filename": format!("../../build/{resource_name}.zip"),
            "source_code_hash": format!("sha-{resource_name}"),
            "code_sha256": format!("sha-{resource_name}"),
        }),
    )
}

fn route(key: &str, integration: &str, auth: &str) -> Value {
    resource(
        &format!("module.gw.aws_apigatewayv2_route.this[\"{key}\"]"),
        "aws_apigatewayv2_route",
        json!({ "api_id": "api1", "route_key": key, "target": format!("integrations/{integration}"),
                "authorization_type": auth, "id": format!("r-{integration}") }),
    )
}

fn integration(id: &str, function: &str) -> Value {
    resource(
        &format!("module.gw.aws_apigatewayv2_integration.this[\"{id}\"]"),
        "aws_apigatewayv2_integration",
        json!({ "api_id": "api1", "id": id, "integration_type": "AWS_PROXY",
                "integration_uri": invoke(function) }),
    )
}

pub(super) struct Fixture {
    pub(super) state: Value,
    declared: Declared,
    pub(super) zips: Zips,
    unrouted: Vec<String>,
    gateway: Option<GatewayCall>,
    model: Option<(crate::stack::model::Model, PathBuf)>,
}

pub(super) fn fixture() -> Fixture {
    let state = json!({ "values": { "root_module": {
        "resources": [lambda("", "authorizer", "demo-dev-authorizer", &[])],
        "child_modules": [
            { "address": "module.gw", "resources": [
                resource("module.gw.aws_apigatewayv2_api.this", "aws_apigatewayv2_api",
                    json!({ "id": "api1", "arn": "arn:aws:apigateway:us-east-1::/apis/api1" })),
                resource("module.gw.aws_apigatewayv2_authorizer.this", "aws_apigatewayv2_authorizer",
                    json!({ "api_id": "api1", "id": "auth1", "authorizer_uri": invoke("demo-dev-authorizer") })),
                integration("i1", "demo-dev-access-profiles"),
                integration("i2", "demo-dev-mgmt-lambda-mgmt"),
                route("GET /profiles/me", "i1", "CUSTOM"),
                route("GET /mgmt/lambdas", "i2", "CUSTOM"),
                resource("module.gw.aws_lambda_permission.route[\"GET /mgmt/lambdas\"]", "aws_lambda_permission",
                    json!({ "function_name": "demo-dev-mgmt-lambda-mgmt", "principal": "apigateway.amazonaws.com" })),
            ]},
            { "address": "module.module_access", "resources": [
                lambda("module.module_access", "profiles", "demo-dev-access-profiles", &[ORG_COMMON]),
                resource("module.module_access.aws_lambda_layer_version.org_common", "aws_lambda_layer_version",
                    json!({ "arn": ORG_COMMON, "compatible_runtimes": ["python3.13"],
                            "filename": "../../build/org-common-layer.zip",
                            "source_code_hash": "sha-org-common-layer" })),
            ]},
            { "address": "module.module_mgmt", "resources": [
                lambda("module.module_mgmt", "lambda_mgmt", "demo-dev-mgmt-lambda-mgmt", &[ORG_COMMON]),
            ]},
        ],
    }}});
    let declared = parse_console(&serde_json::to_string(
        &json!({
            "module_access": [{ "method": "GET", "path": "/profiles/me", "integration": invoke("demo-dev-access-profiles"), "public": false }],
            "module_mgmt": [{ "method": "GET", "path": "/mgmt/lambdas", "integration": invoke("demo-dev-mgmt-lambda-mgmt"), "public": false }],
            "gw": null,
        })
        .to_string(),
    ).unwrap());
    let zips = ["authorizer", "profiles", "lambda_mgmt", "org-common-layer"]
        .iter()
        .map(|n| {
            let name = format!("../../build/{n}.zip");
            let zip = Zip {
                path: PathBuf::from(format!("/infra/build/{n}.zip")),
                sha256: Ok(format!("sha-{n}")),
            };
            (name, zip)
        })
        .collect();
    Fixture {
        state,
        declared,
        zips: Zips(zips),
        unrouted: Vec::new(),
        model: None,
        gateway: Some(GatewayCall {
            location: "envs/dev/main.tf:90".into(),
            routes_expr: "concat(module.module_access.api_routes, module.module_mgmt.api_routes)"
                .into(),
        }),
    }
}

pub(super) fn env() -> Env {
    Env {
        name: "dev".into(),
        bin: "terraform".into(),
    }
}

#[test]
fn a_redeploy_fix_goes_through_the_xtask_not_raw_terraform() {
    let prod = Env {
        name: "prod".into(),
        ..env()
    };
    assert_eq!(
        prod.replace("module.m.aws_lambda_function.f"),
        "`cargo xtask plan --env prod -- -replace='module.m.aws_lambda_function.f'`, \
         then `cargo xtask apply --env prod`"
    );
}

impl Fixture {
    pub(super) fn deployed(&self) -> Deployed {
        Deployed::from_state(&self.state).unwrap()
    }

    fn checks(&self) -> Vec<Check> {
        offline_checks(&Inputs {
            deployed: &self.deployed(),
            declared: &self.declared,
            zips: &self.zips,
            runtime: "python3.13",
            unrouted: &self.unrouted,
            env: &env(),
            gateway: self.gateway.as_ref(),
            model: self.model.as_ref().map(|(m, b)| (m, b.as_path())),
        })
    }

    /// The `values` of the resource at `address`, to break it.
    pub(super) fn values(&mut self, address: &str) -> &mut Value {
        find(&mut self.state["values"]["root_module"], address).expect("resource in fixture")
    }

    fn remove(&mut self, address: &str) {
        fn go(m: &mut Value, address: &str) {
            if let Some(rs) = m["resources"].as_array_mut() {
                rs.retain(|r| r["address"] != address);
            }
            for c in m["child_modules"].as_array_mut().into_iter().flatten() {
                go(c, address);
            }
        }
        go(&mut self.state["values"]["root_module"], address);
    }

    fn add(&mut self, module: usize, r: Value) {
        self.state["values"]["root_module"]["child_modules"][module]["resources"]
            .as_array_mut()
            .unwrap()
            .push(r);
    }
}

fn find<'a>(m: &'a mut Value, address: &str) -> Option<&'a mut Value> {
    if let Some(i) = m["resources"]
        .as_array()
        .and_then(|rs| rs.iter().position(|r| r["address"] == address))
    {
        return Some(&mut m["resources"][i]["values"]);
    }
    let n = m["child_modules"].as_array().map_or(0, Vec::len);
    for i in 0..n {
        if find(&mut m["child_modules"][i], address).is_some() {
            return find(&mut m["child_modules"][i], address);
        }
    }
    None
}

/// `(id, subject)` of every failed check.
pub(super) fn failures(checks: &[Check]) -> Vec<(&str, &str)> {
    checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| (c.id, c.subject.as_str()))
        .collect()
}

fn one<'a>(checks: &'a [Check], id: &str, subject: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.id == id && c.subject == subject)
        .unwrap_or_else(|| panic!("no {id} check for {subject} in {checks:#?}"))
}

#[test]
fn a_consistent_deployment_passes_every_check() {
    let checks = fixture().checks();
    assert_eq!(failures(&checks), Vec::<(&str, &str)>::new(), "{checks:#?}");
    let auth = one(&checks, "V2", "function demo-dev-authorizer");
    assert!(
        auth.message.contains("aws_apigatewayv2_authorizer"),
        "{auth:?}"
    );
    let r = one(&checks, "V1", "route GET /profiles/me");
    assert_eq!(r.module, "module.module_access");
    assert_eq!(r.message, "→ demo-dev-access-profiles");
    assert_eq!(
        one(&checks, "V4", "layer demo-dev-org-common:1").status,
        Status::Pass
    );
    // Every function and layer is checked: 3 functions × V2, V4, V5; 1 layer × V4.
    for id in ["V2", "V4", "V5"] {
        let n = checks
            .iter()
            .filter(|c| c.id == id && c.subject.starts_with("function"))
            .count();
        assert_eq!(n, 3, "{id}");
    }
}

#[test]
fn a_module_missing_from_module_routes_fails_v2_and_v3_with_the_line_to_edit() {
    let mut f = fixture();
    f.remove("module.gw.aws_apigatewayv2_route.this[\"GET /mgmt/lambdas\"]");
    f.remove("module.gw.aws_apigatewayv2_integration.this[\"i2\"]");
    f.gateway.as_mut().unwrap().routes_expr = "concat(module.module_access.api_routes)".into();
    let checks = f.checks();
    assert_eq!(
        failures(&checks),
        [
            ("V2", "function demo-dev-mgmt-lambda-mgmt"),
            ("V3", "route GET /mgmt/lambdas")
        ]
    );
    let v2 = one(&checks, "V2", "function demo-dev-mgmt-lambda-mgmt");
    assert_eq!(
        v2.message,
        "`demo-dev-mgmt-lambda-mgmt` exists but no route reaches it"
    );
    let fix = v2.fix.as_deref().unwrap();
    assert!(
        fix.contains("add module.module_mgmt.api_routes to `module_routes = concat(…)` at envs/dev/main.tf:90"),
        "{fix}"
    );
    let v3 = one(&checks, "V3", "route GET /mgmt/lambdas");
    assert!(
        v3.message.contains("(→ demo-dev-mgmt-lambda-mgmt)"),
        "{v3:?}"
    );
    assert_eq!(v3.module, "module.module_mgmt");
}

#[test]
fn an_unrouted_function_passes_when_listed_or_triggered_but_not_by_a_gateway_permission() {
    let mut f = fixture();
    f.remove("module.gw.aws_apigatewayv2_route.this[\"GET /mgmt/lambdas\"]");
    f.declared = parse_console(&serde_json::to_string("{}").unwrap());
    let subject = "function demo-dev-mgmt-lambda-mgmt";
    // The route's permission remains: it does not make the function reachable.
    let fails = f.checks();
    assert!(failures(&fails).contains(&("V2", subject)), "{fails:#?}");

    f.unrouted = vec!["demo-dev-mgmt-lambda-mgmt".into()];
    let c = f.checks();
    assert_eq!(one(&c, "V2", subject).status, Status::Pass);
    assert!(one(&c, "V2", subject).message.contains("[verify] unrouted"));

    f.unrouted.clear();
    f.add(
        2,
        resource(
            "module.module_mgmt.aws_cloudwatch_event_target.warm",
            "aws_cloudwatch_event_target",
            json!({ "arn": arn("demo-dev-mgmt-lambda-mgmt"), "rule": "warm" }),
        ),
    );
    let c = f.checks();
    assert_eq!(
        one(&c, "V2", subject).message,
        "no route; invoked by module.module_mgmt.aws_cloudwatch_event_target.warm"
    );
}

#[test]
fn arn_mentions_respect_name_boundaries() {
    let refs = [arn("demo-a")];
    assert!(mentions(&json!({ "x": [arn("demo-a")] }), "demo-a", &refs));
    assert!(mentions(
        &json!(format!("{{\"Resource\":\"{}:live\"}}", arn("demo-a"))),
        "demo-a",
        &refs
    ));
    assert!(!mentions(&json!(arn("demo-ab")), "demo-a", &refs));
    assert!(mentions(
        &json!({ "function_name": "demo-a" }),
        "demo-a",
        &refs
    ));
}

#[test]
fn routes_to_unknown_functions_missing_integrations_and_aliases() {
    let mut f = fixture();
    f.values("module.gw.aws_apigatewayv2_integration.this[\"i1\"]")["integration_uri"] =
        json!(invoke("somebody-else"));
    f.values("module.gw.aws_apigatewayv2_route.this[\"GET /mgmt/lambdas\"]")["target"] =
        json!("integrations/gone");
    let c = f.checks();
    let v1 = one(&c, "V1", "route GET /profiles/me");
    assert_eq!(v1.status, Status::Fail);
    assert!(v1.message.contains("somebody-else"), "{v1:?}");
    assert!(one(&c, "V1", "route GET /mgmt/lambdas")
        .message
        .contains("integrations/gone, which is not in the Terraform state"));

    // An alias's invoke ARN reaches the aliased function.
    let mut f = fixture();
    let alias_arn = format!("{}:live", arn("demo-dev-access-profiles"));
    f.add(
        1,
        resource(
            "module.module_access.aws_lambda_alias.live",
            "aws_lambda_alias",
            json!({ "function_name": "demo-dev-access-profiles", "arn": alias_arn,
                    "invoke_arn": format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{alias_arn}/invocations") }),
        ),
    );
    f.values("module.gw.aws_apigatewayv2_integration.this[\"i1\"]")["integration_uri"] =
        json!(format!(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{alias_arn}/invocations"
        ));
    let c = f.checks();
    assert_eq!(
        one(&c, "V1", "route GET /profiles/me").message,
        "→ demo-dev-access-profiles"
    );
}

#[test]
fn gateway_routes_no_module_declares_fail_v3() {
    let mut f = fixture();
    f.declared = parse_console(
        &serde_json::to_string(
            &json!({ "module_access": [{ "method": "GET", "path": "/profiles/me", "integration": invoke("demo-dev-access-profiles") }],
                     "module_mgmt": null })
            .to_string(),
        )
        .unwrap(),
    );
    let c = f.checks();
    assert_eq!(failures(&c), [("V3", "route GET /mgmt/lambdas")]);
    assert!(one(&c, "V3", "route GET /mgmt/lambdas")
        .message
        .contains("no module's api_routes declares it"));

    f.declared = Err("the configuration has changes that are not applied".into());
    let c = f.checks();
    assert_eq!(failures(&c), [("V3", "api_routes")]);
}

#[test]
fn code_that_is_not_the_local_build_fails_v4_with_the_right_fix() {
    let mut f = fixture();
    f.values("module.module_access.aws_lambda_function.profiles")["source_code_hash"] =
        json!("old");
    f.values("module.module_mgmt.aws_lambda_function.lambda_mgmt")["code_sha256"] =
        json!("tampered");
    f.values("aws_lambda_function.authorizer")["filename"] = Value::Null;
    f.values("aws_lambda_function.authorizer")["s3_bucket"] = json!("artifacts");
    f.values("aws_lambda_function.authorizer")["s3_key"] = json!("auth.zip");
    f.zips
        .0
        .get_mut("../../build/org-common-layer.zip")
        .unwrap()
        .sha256 = Err("/infra/build/org-common-layer.zip does not exist".into());
    let c = f.checks();
    assert_eq!(
        failures(&c),
        [
            ("V4", "function demo-dev-authorizer"),
            ("V4", "function demo-dev-access-profiles"),
            ("V4", "function demo-dev-mgmt-lambda-mgmt"),
            ("V4", "layer demo-dev-org-common:1"),
        ]
    );
    let changed = one(&c, "V4", "function demo-dev-access-profiles");
    assert!(
        changed
            .message
            .contains("state has old but the local profiles.zip is sha-profiles"),
        "{changed:?}"
    );
    assert!(changed
        .fix
        .as_deref()
        .unwrap()
        .contains("cargo xtask apply --env dev"));
    let tampered = one(&c, "V4", "function demo-dev-mgmt-lambda-mgmt");
    assert!(
        tampered.fix.as_deref().unwrap().contains(
            "plan --env dev -- -replace='module.module_mgmt.aws_lambda_function.lambda_mgmt'"
        ),
        "{tampered:?}"
    );
    assert!(one(&c, "V4", "function demo-dev-authorizer")
        .message
        .contains("s3://artifacts/auth.zip"));
    assert!(one(&c, "V4", "layer demo-dev-org-common:1")
        .fix
        .as_deref()
        .unwrap()
        .contains("cargo xtask build"));
}

#[test]
fn runtime_drift_and_layers_for_another_python_fail_v5() {
    let mut f = fixture();
    f.values("module.module_mgmt.aws_lambda_function.lambda_mgmt")["runtime"] = json!("python3.11");
    f.values("module.module_access.aws_lambda_layer_version.org_common")["compatible_runtimes"] =
        json!(["python3.11"]);
    let external = "arn:aws:lambda:us-east-1:017000801446:layer:Powertools:3";
    f.values("aws_lambda_function.authorizer")["layers"] = json!([external]);
    let c = f.checks();
    assert_eq!(
        failures(&c),
        [
            ("V5", "function demo-dev-access-profiles"),
            ("V5", "function demo-dev-mgmt-lambda-mgmt")
        ]
    );
    let mgmt = one(&c, "V5", "function demo-dev-mgmt-lambda-mgmt");
    assert!(
        mgmt.message
            .contains("runtime is python3.11, the build targets python3.13"),
        "{mgmt:?}"
    );
    assert!(one(&c, "V5", "function demo-dev-access-profiles")
        .message
        .contains("layer demo-dev-org-common:1 is built for python3.11 only"));
    assert!(one(&c, "V5", "function demo-dev-authorizer")
        .message
        .contains("published outside this state (seen live only)"));
}

#[test]
fn layers_in_state_that_are_not_the_ones_the_model_attaches_fail_v5() {
    let d = tempfile::tempdir().unwrap();
    let write = |p: &str, t: &str| {
        let p = d.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, t).unwrap();
    };
    write("env/main.tf", "module \"module_access\" { source = \"../access\" }\nmodule \"module_mgmt\" {\n  source = \"../mgmt\"\n  org    = module.module_access.org\n}\n");
    write("access/main.tf", "resource \"aws_lambda_layer_version\" \"org_common\" { layer_name = \"org\" }\nresource \"aws_lambda_function\" \"profiles\" { layers = [] }\noutput \"org\" { value = aws_lambda_layer_version.org_common.arn }\n");
    write("mgmt/main.tf", "variable \"org\" {}\nresource \"aws_lambda_function\" \"lambda_mgmt\" { layers = compact([var.org, null]) }\n");
    let model = crate::stack::model::Model::from_roots(vec![d.path().join("env")], &[]);
    let mut f = fixture();
    f.model = Some((model, d.path().to_path_buf()));
    let c = f.checks();
    // profiles carries org-common in state; the configuration no longer attaches it.
    assert_eq!(failures(&c), [("V5", "function demo-dev-access-profiles")]);
    assert!(one(&c, "V5", "function demo-dev-access-profiles").message.contains(
        "layers in state are module.module_access.aws_lambda_layer_version.org_common; the configuration attaches none"
    ));
    // Both lists are in the report, named as the other passes name them (no artifact here:
    // the address).
    let org = "module.module_access.aws_lambda_layer_version.org_common".to_string();
    assert_eq!(
        one(&c, "V5", "function demo-dev-access-profiles").layers,
        Some(super::layers::Layers {
            deployed: vec![org.clone()],
            expected: Some(vec![]),
        })
    );
    let json = serde_json::to_value(one(&c, "V5", "function demo-dev-access-profiles")).unwrap();
    assert_eq!(json["layers"], json!({ "deployed": [org], "expected": [] }));
    assert!(
        serde_json::to_value(one(&c, "V1", "route GET /profiles/me"))
            .unwrap()
            .get("layers")
            .is_none()
    );
}

#[test]
fn console_output_is_decoded_and_its_failures_named() {
    let declared = parse_console(
        "\"{\\\"a\\\":[{\\\"method\\\":\\\"GET\\\",\\\"path\\\":\\\"/x/{id}\\\",\\\"public\\\":true}],\\\"b\\\":null}\"\n",
    )
    .unwrap();
    assert_eq!(
        declared["module.a"],
        Some(vec![DeclaredRoute {
            key: "GET /x/{id}".into(),
            integration: None,
            public: true
        }])
    );
    assert_eq!(declared["module.b"], None);
    assert!(parse_console("(known after apply)\n")
        .unwrap_err()
        .contains("not applied"));
    assert!(parse_console("(sensitive value)")
        .unwrap_err()
        .contains("sensitive"));
    assert!(parse_console("\"{\\\"a\\\":[{\\\"path\\\":\\\"/x\\\"}]}\"")
        .unwrap_err()
        .contains("module.a.api_routes"));
}

#[test]
fn the_console_expression_covers_each_call_on_one_line() {
    let e = api_routes_expression(&["module_access".into(), "gw".into()]);
    assert!(!e.contains('\n'));
    assert!(e.starts_with("jsonencode({ \"module_access\" = try(module.module_access.api_routes, "));
    assert!(e.contains(
        "\"gw\" = try(module.gw.api_routes, flatten([for m in module.gw : m.api_routes]), null)"
    ));
}

#[test]
fn helpers_name_things_as_terraform_does() {
    assert_eq!(module_call("module.x[\"a\"]"), "module.x");
    assert_eq!(module_call("module.x.module.y"), "module.x");
    assert_eq!(
        local_address("module.m.aws_lambda_function.f"),
        "aws_lambda_function.f"
    );
    assert_eq!(
        region_of("arn:aws:apigateway:eu-west-1::/apis/x").as_deref(),
        Some("eu-west-1")
    );
}

#[test]
fn a_state_without_values_is_an_error_that_says_to_deploy() {
    let e = Deployed::from_state(&json!({ "format_version": "1.0" })).unwrap_err();
    assert!(e.to_string().contains("deploy first"), "{e}");
    let empty = json!({ "values": { "root_module": {} } });
    let e = Deployed::from_state(&empty).unwrap_err();
    assert!(e.to_string().contains("no Lambda function"), "{e}");
}
