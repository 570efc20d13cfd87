//! A fresh env with what `terraform plan` cannot do before the first apply: the gateway counts
//! on the authorizer's ARN (created by the same apply) and a module looks its shared layer up
//! by name while the env publishes it. check names both (F19, F20) with the chain and the fix;
//! deploy bootstraps the env in one run; stage addresses are checked before terraform runs.

use std::path::PathBuf;

use crate::common::{fake_terraform, record, write, Demo, Out};
use crate::local_aws::LocalAws;

const GATEWAY: &str = "../demo-infra/modules/modular-api-gateway/main.tf";
const AI: &str = "packages/module-ai/infrastructure/main.tf";

/// The demo as a real CORA template writes it: the authorizer's permission counted on its
/// ARN, module-ai reading org-common's ARN with a data source instead of the variable.
fn fresh_env() -> Demo {
    let d = Demo::new();
    let gw = d.read(GATEWAY).replacen(
        "resource \"aws_lambda_permission\" \"authorizer\" {\n",
        "resource \"aws_lambda_permission\" \"authorizer\" {\n  count = var.authorizer_lambda_arn != \"\" ? 1 : 0\n\n",
        1,
    );
    d.write(GATEWAY, &gw);
    let ai = d
        .read(AI)
        .replacen(
            "resource \"aws_lambda_layer_version\" \"ai_common\" {",
            "data \"aws_lambda_layer_version\" \"org_common\" {\n  layer_name = \"${var.project_name}-${var.environment}-org-common\"\n}\n\nresource \"aws_lambda_layer_version\" \"ai_common\" {",
            1,
        )
        .replace(
            "layers           = [var.org_common_layer_arn,",
            "layers           = [data.aws_lambda_layer_version.org_common.arn,",
        );
    assert_eq!(ai.matches("data.aws_lambda_layer_version").count(), 2);
    d.write(AI, &ai);
    d
}

fn codes(out: &Out, code: &str) -> Vec<serde_json::Value> {
    out.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .cloned()
        .collect()
}

fn terraform_on_path() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|p| p.join("terraform"))
        .find(|p| p.is_file())
}

#[test]
fn check_names_the_chain_and_the_fix_and_fix_rewrites_the_data_source() {
    let d = fresh_env();
    let out = d.xtask(&["check", "--json"]).ok();
    let f19 = codes(&out, "F19-count-unknown");
    let f20 = codes(&out, "F20-data-reads-own");
    assert_eq!((f19.len(), f20.len()), (1, 1), "{}", out.stdout);
    let (f19, f20) = (&f19[0], &f20[0]);
    assert_eq!(f19["severity"], "warning");
    assert_eq!(
        f19["file"],
        "demo-infra/modules/modular-api-gateway/main.tf"
    );
    // The chain: the count's line → the module argument → the resource.
    let m = f19["message"].as_str().unwrap();
    for hop in [
        "chain: demo-infra/modules/modular-api-gateway/main.tf:31 count = var.authorizer_lambda_arn != \"\" ? 1 : 0",
        "→ demo-infra/envs/dev/main.tf:110 module.modular_api_gateway: var.authorizer_lambda_arn = aws_lambda_function.authorizer.arn",
        "→ demo-infra/envs/dev/main.tf:84 aws_lambda_function.authorizer.arn is known only after apply",
    ] {
        assert!(m.contains(hop), "{m}");
    }
    let fix = f19["fix"].as_str().unwrap();
    assert!(
        fix.contains("enable_authorizer") && fix.contains("cargo xtask deploy"),
        "{fix}"
    );
    let m = f20["message"].as_str().unwrap();
    assert!(
        m.contains("module.module_ai.data.aws_lambda_layer_version.org_common looks up layer_name \"demo-dev-org-common\"")
            && m.contains("→ demo-stack/packages/module-access/infrastructure/main.tf:39 module.module_access.aws_lambda_layer_version.org_common"),
        "{m}"
    );
    let fix = f20["fix"].as_str().unwrap();
    assert!(
        fix.contains(
            "use var.org_common_layer_arn (it carries module.module_access.org_common_layer_arn)"
        ),
        "{fix}"
    );

    // With bootstrapping off, both are errors.
    d.config("[terraform]\nbootstrap = false\n");
    let out = d.xtask(&["check"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("error[F19-count-unknown]")
            && out.stdout.contains("error[F20-data-reads-own]")
            && out.stdout.contains("bootstrapping is off"),
        "{}",
        out.stdout
    );
    d.config("");

    // --fix: every `.arn` use becomes the variable that carries the module output, the data
    // source goes; the file is the demo's own again, so it parses and stays fmt-clean.
    let out = d.xtask(&["check", "--fix"]).ok();
    assert!(
        out.stdout.contains("(removed: 4 lines)")
            && out
                .stdout
                .contains("→ layers           = [var.org_common_layer_arn,"),
        "{}",
        out.stdout
    );
    let original =
        std::fs::read_to_string(crate::common::workspace().join("demo/demo-stack").join(AI))
            .unwrap();
    assert_eq!(d.read(AI), original);
    let out = d.xtask(&["check", "--json"]).ok();
    assert_eq!(codes(&out, "F20-data-reads-own").len(), 0, "{}", out.stdout);
    assert_eq!(codes(&out, "F19-count-unknown").len(), 1, "{}", out.stdout);
    if let Some(tf) = terraform_on_path() {
        let fmt = std::process::Command::new(tf)
            .args(["fmt", "-check", "-recursive"])
            .current_dir(d.stack.join("packages"))
            .output()
            .unwrap();
        assert!(fmt.status.success(), "{fmt:?}");
    }
}

/// `stack --json` shows the facts check's F19/F20 report (and deploy bootstraps from): the
/// same resources, at the same file and line.
#[test]
fn stack_json_names_what_check_f19_and_f20_name() {
    let d = fresh_env();
    let check = d.xtask(&["check", "--json"]).ok();
    let model = d.xtask(&["stack", "--json"]).ok().json();
    let at = |f: &serde_json::Value| format!("{}:{}", f["file"].as_str().unwrap(), f["line"]);

    let expansions = model["unknown_expansions"].as_array().unwrap();
    let f19 = codes(&check, "F19-count-unknown");
    assert_eq!(expansions.len(), f19.len(), "{expansions:?}\n{f19:?}");
    assert_eq!(
        expansions[0]["address"],
        "module.modular_api_gateway.aws_lambda_permission.authorizer"
    );
    for (e, f) in expansions.iter().zip(&f19) {
        let m = f["message"].as_str().unwrap();
        let first = &e["chain"][0];
        assert_eq!(at(first), at(f), "{e}");
        assert!(
            m.contains(e["address"].as_str().unwrap())
                && m.contains(&format!(
                    "{}.{}",
                    e["unknown"]["why"]["address"].as_str().unwrap(),
                    e["unknown"]["why"]["attr"].as_str().unwrap()
                )),
            "{m}\n{e}"
        );
    }

    let lookups = model["data_lookups"].as_array().unwrap();
    let f20 = codes(&check, "F20-data-reads-own");
    assert_eq!(lookups.len(), f20.len(), "{lookups:?}\n{f20:?}");
    assert_eq!(
        (
            &lookups[0]["address"],
            &lookups[0]["deployed"],
            &lookups[0]["fixable"]
        ),
        (
            &"module.module_ai.data.aws_lambda_layer_version.org_common".into(),
            &"module.module_access.aws_lambda_layer_version.org_common".into(),
            &true.into()
        )
    );
    for (l, f) in lookups.iter().zip(&f20) {
        let m = f["message"].as_str().unwrap();
        assert_eq!(at(&l["at"]), at(f), "{l}");
        assert!(
            m.contains(&format!("{} looks up", l["address"].as_str().unwrap()))
                && m.contains(&format!("({})", l["deployed"].as_str().unwrap())),
            "{m}\n{l}"
        );
    }
}

#[test]
fn stage_and_target_addresses_that_match_nothing_are_refused_before_terraform_runs() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let tf = [("TF_BIN", bin.to_str().unwrap())];
    d.config(
        "[terraform]\nstages = [[\"module.no_such_module\", \"aws_lambda_function.authorizer\"]]\n",
    );
    let out = d.xtask_env(&["deploy", "--no-build", "--auto-approve"], &tf);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`module.no_such_module` ([terraform] stages in xtask.toml) matches nothing")
            && out.stderr.contains("nearest: module.module_"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("aws_lambda_function.authorizer`"),
        "{}",
        out.stderr
    );
    assert_eq!(record(&bin), "", "terraform ran");

    // A -target with an instance key is checked without it; a typo names the real module.
    d.config("");
    let out = d.xtask_env(
        &["plan", "--no-build", "--", "-target=module.module_acess"],
        &tf,
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("`module.module_acess` (-target) matches nothing")
            && out.stderr.contains("nearest: module.module_access"),
        "{}",
        out.stderr
    );
    assert_eq!(record(&bin), "", "terraform ran");
    let out = d.xtask_env(
        &[
            "plan",
            "--no-build",
            "--no-smoke",
            "--",
            "-target=module.modular_api_gateway.aws_apigatewayv2_route.this[\"GET /x\"]",
        ],
        &tf,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn no_bootstrap_makes_them_errors_that_stop_the_deploy_before_terraform_plans() {
    let d = fresh_env();
    let bin = fake_terraform(d.tmp.path());
    let out = d.xtask_env(
        &[
            "deploy",
            "--no-bootstrap",
            "--no-build",
            "--no-smoke",
            "--auto-approve",
        ],
        &[("TF_BIN", bin.to_str().unwrap())],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("error[F19-count-unknown]")
            && out.stderr.contains("error[F20-data-reads-own]")
            && out.stderr.contains("terraform was not run"),
        "{}",
        out.stderr
    );
    let calls = record(&bin);
    assert!(
        !calls.contains("args:plan") && !calls.contains("args:init"),
        "{calls}"
    );
}

#[test]
fn a_fresh_env_that_needs_an_apply_first_deploys_in_one_command_on_a_local_aws() {
    let Some(aws) = LocalAws::start() else { return };
    let d = fresh_env();
    write(
        &d.infra.join("envs/dev/local-secrets.tfvars"),
        "supabase_service_role_key = \"sr-BOOT-7d1e2f3a4b5c\"\n",
    );

    // plan on the fresh env plans stage 1 and says a stage 2 follows; the manifest records it.
    let out = d.xtask_aws(&aws, &["plan", "--no-smoke"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let stage = "stage 1/2: bootstrap (aws_lambda_function.authorizer, module.module_access.aws_lambda_layer_version.org_common)";
    assert!(out.stderr.contains(stage), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("stage 2 (the whole env) follows once it is applied"),
        "{}",
        out.stdout
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.infra.join("envs/dev/.xtask/dev.plan.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["summary"]["stage"]["number"], 1, "{manifest}");
    assert_eq!(
        manifest["summary"]["plan_args"],
        serde_json::json!([
            "-target=aws_lambda_function.authorizer",
            "-target=module.module_access.aws_lambda_layer_version.org_common"
        ])
    );

    // One deploy: the bootstrap stage, then the whole env, then verify.
    let out = d.xtask_aws(&aws, &["deploy", "--env", "dev", "--auto-approve"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let s1 = out.stderr.find(stage).expect(&out.stderr);
    let s2 = out
        .stderr
        .find("stage 2/2: the whole env")
        .expect(&out.stderr);
    assert!(s1 < s2, "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("applied in").count(),
        2,
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains(" fail "), "{}", out.stdout);

    // Nothing left to do, and verify passes on its own.
    let out = d.xtask_aws(&aws, &["plan", "--no-smoke"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("no changes"), "{}", out.stdout);
    assert!(
        !out.stderr.contains("stage 1/2: bootstrap"),
        "{}",
        out.stderr
    );
    d.xtask_aws(&aws, &["verify", "--env", "dev"]).ok();
}

#[test]
fn a_plan_that_fails_on_what_a_bootstrap_fixes_says_so() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let out = d.xtask_env(
        &["plan", "--no-build", "--no-smoke"],
        &[
            ("TF_BIN", bin.to_str().unwrap()),
            (
                "FAKE_PLAN",
                "echo 'Error: Invalid count argument' >&2; exit 1",
            ),
        ],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("Invalid count argument")
            && out
                .stderr
                .contains("hint: a value this plan needs comes from a resource not applied yet")
            && out.stderr.contains("F19-count-unknown"),
        "{}",
        out.stderr
    );
}

#[test]
fn plan_targets_the_bootstrap_stage_unless_the_env_has_stages_of_its_own() {
    let d = fresh_env();
    let bin = fake_terraform(d.tmp.path());
    let tf = [("TF_BIN", bin.to_str().unwrap())];
    let out = d.xtask_env(&["plan", "--no-build", "--no-smoke", "--json"], &tf);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("stage 1/2: bootstrap ("),
        "{}",
        out.stderr
    );
    let calls = record(&bin);
    let plan = calls
        .lines()
        .find(|l| l.starts_with("args:plan"))
        .unwrap_or_else(|| panic!("{calls}"));
    assert!(
        plan.contains("-target=aws_lambda_function.authorizer")
            && plan.contains("-target=module.module_access.aws_lambda_layer_version.org_common"),
        "{plan}"
    );
    assert_eq!(out.json()["stage"]["targets"].as_array().unwrap().len(), 2);

    // `[terraform] stages` wins: plan plans the whole env, as it always did.
    d.config("[terraform]\nstages = [[\"module.module_access\"]]\n");
    std::fs::remove_file(bin.with_file_name("record")).unwrap();
    let out = d.xtask_env(&["plan", "--no-build", "--no-smoke"], &tf);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!out.stderr.contains("bootstrap ("), "{}", out.stderr);
    assert!(!record(&bin).contains("-target="), "{}", record(&bin));
}
