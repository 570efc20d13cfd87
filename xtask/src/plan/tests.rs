use super::apply::output_lines;
use super::summary::Destructive;
use super::*;
use crate::terraform::Secrets;
use serde_json::json;

fn rc(address: &str, kind: &str, actions: &[&str], before: Value, after: Value) -> Value {
    json!({
        "address": address, "mode": "managed", "type": kind,
        "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}}
    })
}

#[test]
fn summary_names_code_changes_layers_routes_and_destruction() {
    let mut layer = rc(
        "module.a.aws_lambda_layer_version.common",
        "aws_lambda_layer_version",
        &["delete", "create"],
        json!({"layer_name": "d-common"}),
        json!({"layer_name": "d-common"}),
    );
    layer["change"]["replace_paths"] = json!([["source_code_hash"]]);
    let mut gone = rc(
        "module.g.aws_apigatewayv2_route.this[\"PUT /y\"]",
        "aws_apigatewayv2_route",
        &["delete"],
        json!({"route_key": "PUT /y"}),
        Value::Null,
    );
    gone["action_reason"] = json!("delete_because_each_key");
    let mut role = rc(
        "aws_iam_role.r",
        "aws_iam_role",
        &["create", "delete"],
        json!({"name": "a"}),
        json!({"name": "b"}),
    );
    role["change"]["replace_paths"] = json!([["name"]]);
    let mut data = rc(
        "data.aws_caller_identity.me",
        "aws_caller_identity",
        &["read"],
        Value::Null,
        json!({}),
    );
    data["mode"] = json!("data");
    let changes = vec![
        rc(
            "module.a.aws_lambda_function.orgs",
            "aws_lambda_function",
            &["update"],
            json!({"function_name": "d-orgs", "source_code_hash": "A"}),
            json!({"function_name": "d-orgs", "source_code_hash": "B"}),
        ),
        // Only its layer version changes: not new code.
        rc(
            "module.a.aws_lambda_function.members",
            "aws_lambda_function",
            &["update"],
            json!({"function_name": "d-members", "source_code_hash": "A", "layers": ["l:1"]}),
            json!({"function_name": "d-members", "source_code_hash": "A", "layers": ["l:2"]}),
        ),
        rc(
            "module.a.aws_lambda_function.new",
            "aws_lambda_function",
            &["create"],
            Value::Null,
            json!({"function_name": "d-new"}),
        ),
        layer,
        rc(
            "module.g.aws_apigatewayv2_route.this[\"GET /x\"]",
            "aws_apigatewayv2_route",
            &["create"],
            Value::Null,
            json!({"route_key": "GET /x"}),
        ),
        gone,
        role,
        rc(
            "aws_s3_bucket.same",
            "aws_s3_bucket",
            &["no-op"],
            json!({}),
            json!({}),
        ),
        data,
    ];
    let plan = json!({
        "variables": {"key": {"value": "hunter22"}},
        "resource_changes": changes,
        "output_changes": {"url": {"actions": ["update"]}, "same": {"actions": ["no-op"]}}
    });
    let s = Summary::from_plan(&plan, "dev", true);
    assert_eq!((s.create, s.update, s.replace, s.delete), (2, 2, 2, 1));
    assert_eq!(s.functions_with_new_code, ["d-new", "d-orgs"]);
    assert_eq!(s.layers_republished, ["d-common"]);
    assert_eq!(s.routes_added, ["GET /x"]);
    assert_eq!(s.routes_removed, ["PUT /y"]);
    assert_eq!(s.outputs_changed, ["url"]);
    assert_eq!(
        s.destructive,
        [
            Destructive {
                address: "module.g.aws_apigatewayv2_route.this[\"PUT /y\"]".into(),
                action: "delete".into(),
                reason: "its count index or for_each key is gone".into(),
            },
            Destructive {
                address: "aws_iam_role.r".into(),
                action: "replace".into(),
                reason: "name forces replacement".into(),
            },
        ]
    );
    assert_eq!(s.steps(), 2 + 2 + 1 + 4);
    assert!(!serde_json::to_string(&s).unwrap().contains("hunter22"));
}

#[test]
fn outputs_computed_from_a_secret_are_printed_scrubbed() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("main.tf"), "").unwrap();
    std::fs::write(
        d.path().join(terraform::LOCAL_SECRETS),
        "db_password = \"hunter2-secret\"\n",
    )
    .unwrap();
    let vars = VarFiles::resolve(d.path(), "dev", &BTreeMap::new(), &[], d.path()).unwrap();
    let tf = Terraform::new(
        Path::new("/usr/bin/terraform"),
        d.path(),
        &terraform::Aws::default(),
        [],
    )
    .with_secrets(Secrets::collect(d.path(), &vars));
    let outputs = json!({
        "dsn": {"sensitive": false, "value": "postgres://app:hunter2-secret@db"},
        "key": {"sensitive": true, "value": null},
        "map": {"sensitive": false, "value": {"a": "hunter2-secret"}},
    });
    assert_eq!(
        output_lines(&tf, &outputs),
        [
            "dsn = postgres://app:(sensitive value)@db",
            "key = (sensitive)",
            "map = {\"a\":\"(sensitive value)\"}",
        ]
    );
}

#[test]
fn a_route_whose_key_changes_in_place_is_removed_and_added() {
    let plan = json!({"resource_changes": [
        rc("r", "aws_apigatewayv2_route", &["update"], json!({"route_key": "GET /a"}), json!({"route_key": "GET /b"})),
    ]});
    let s = Summary::from_plan(&plan, "dev", true);
    assert_eq!(s.routes_added, ["GET /b"]);
    assert_eq!(s.routes_removed, ["GET /a"]);
}

#[test]
fn unknown_new_code_hash_counts_as_new_code() {
    let mut r = rc(
        "f",
        "aws_lambda_function",
        &["update"],
        json!({"function_name": "f", "source_code_hash": "A"}),
        json!({"function_name": "f"}),
    );
    r["change"]["after_unknown"] = json!({"source_code_hash": true});
    let s = Summary::from_plan(&json!({"resource_changes": [r]}), "dev", true);
    assert_eq!(s.functions_with_new_code, ["f"]);
}

#[test]
fn plan_args_that_break_the_contract_are_refused_with_the_reason() {
    for (arg, why) in [
        ("-out=x.tfplan", "saves the plan itself"),
        ("-detailed-exitcode", "exit code 2"),
        ("-var-file=prod.tfvars", "use --var-file"),
        ("-var=token=abc", "shows in `ps`"),
        ("-input=true", "never lets terraform prompt"),
    ] {
        let e = check_plan_args(&["-target=module.a".into(), arg.into()]).unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.contains(&format!("`{arg}` cannot be passed")) && e.contains(why),
            "{e}"
        );
    }
    let ok: Vec<String> = [
        "-target=module.a",
        "-replace=aws_x.y",
        "-refresh-only",
        "-destroy",
    ]
    .map(String::from)
    .to_vec();
    check_plan_args(&ok).unwrap();
}
