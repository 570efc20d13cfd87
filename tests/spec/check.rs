//! `cargo xtask check`: the demo is clean, and each broken variant yields exactly its finding.

mod adopt;

use std::path::Path;

use crate::common::*;

const ACCESS: &str = "packages/module-access";
const AI: &str = "packages/module-ai";
const MGMT: &str = "packages/module-mgmt";
const ENV_MAIN: &str = "envs/dev/main.tf";

/// Runs `check --json`: the exit code and each finding as `severity[code] file:line: message`.
fn check(d: &Demo, extra: &[&str]) -> (i32, Vec<String>) {
    let mut args = vec!["check", "--json"];
    args.extend_from_slice(extra);
    let out = d.xtask(&args);
    let json = out.json();
    let findings = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let fix = f["fix"].as_str().unwrap();
            assert!(!fix.is_empty(), "a finding without a fix: {f}");
            format!(
                "{}[{}] {}:{}: {}",
                f["severity"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
                f["file"].as_str().unwrap(),
                f["line"],
                f["message"].as_str().unwrap()
            )
        })
        .collect();
    (out.code, findings)
}

/// Replaces the first `from` (which must be there, so a changed demo fails loudly) by `to`.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(from),
        "{} does not contain {from:?}",
        path.display()
    );
    write(path, &text.replacen(from, to, 1));
}

/// Removes the block that starts with `header` up to its closing `}` at column 0.
fn remove_block(path: &Path, header: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text
        .find(header)
        .unwrap_or_else(|| panic!("{} has no {header:?}", path.display()));
    let end = start + text[start..].find("\n}\n").unwrap() + 3;
    write(path, &format!("{}{}", &text[..start], &text[end..]));
}

#[test]
fn the_demo_is_clean() {
    let d = Demo::new();
    let out = d.xtask(&["check", "--json"]).ok();
    assert_eq!(out.json(), serde_json::json!({ "findings": [] }));
    let human = d.xtask(&["check"]).ok();
    assert_eq!(human.stdout, "check: 0 errors, 0 warnings\n");
}

#[test]
fn human_output_reads_like_a_compiler_and_errors_exit_1() {
    let d = Demo::new();
    remove_block(
        &d.path(&format!("{MGMT}/infrastructure/outputs.tf")),
        "output \"api_routes\"",
    );
    let out = d.xtask(&["check"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "error[F11-no-api-routes]: module-mgmt does not export api_routes: its Lambdas deploy \
         but no route reaches them, \
         so every endpoint returns 404\n  \
         --> demo-stack/packages/module-mgmt/infrastructure/outputs.tf\n  \
         = fix: add output \"api_routes\" { value = [{ method = \"GET\", path = \"/…\", \
         integration = aws_lambda_function.<fn>.invoke_arn, public = false }] }\n\n\
         check: 1 error, 0 warnings\n"
    );
}

#[test]
fn a_stack_without_modules() {
    let d = Demo::new();
    std::fs::remove_dir_all(d.path("packages")).unwrap();
    let missing = |line: usize, name: &str| {
        format!(
            "error[F12-bad-source] demo-infra/envs/dev/main.tf:{line}: module \"module_{name}\" \
             has source \
             \"../../../demo-stack/packages/module-{name}/infrastructure\", which does not exist"
        )
    };
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                missing(25, "access"),
                missing(37, "ai"),
                missing(50, "mgmt"),
                "error[F11-no-modules] demo-stack/packages:0: the stack has no packages/module-* \
                 directory"
                    .into(),
            ]
        )
    );
}

#[test]
fn a_module_without_infrastructure() {
    let d = Demo::new();
    std::fs::remove_dir_all(d.path(&format!("{MGMT}/infrastructure"))).unwrap();
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F12-bad-source] demo-infra/envs/dev/main.tf:50: module \"module_mgmt\" \
                 has source \
                 \"../../../demo-stack/packages/module-mgmt/infrastructure\", which does not exist"
                    .into(),
                "error[F11-no-infrastructure] demo-stack/packages/module-mgmt:0: module-mgmt has \
                 no infrastructure/: \
                 its Lambdas and routes are never deployed"
                    .into(),
            ]
        )
    );
}

#[test]
fn a_module_without_versions_tf_is_a_warning_unless_a_terraform_block_pins_versions() {
    let d = Demo::new();
    let versions = d.path(&format!("{AI}/infrastructure/versions.tf"));
    let pins = std::fs::read_to_string(&versions).unwrap();
    std::fs::remove_file(&versions).unwrap();
    assert_eq!(
        check(&d, &[]),
        (
            0,
            vec!["warning[F11-no-versions] \
                  demo-stack/packages/module-ai/infrastructure/versions.tf:0: \
                  module-ai/infrastructure has no versions.tf and no terraform block: the \
                  terraform and AWS provider versions it needs are not pinned"
                .into()]
        )
    );
    // One real module keeps terraform {} in main.tf: that is the same pin.
    let main = d.path(&format!("{AI}/infrastructure/main.tf"));
    let text = std::fs::read_to_string(&main).unwrap();
    write(&main, &format!("{pins}\n{text}"));
    assert_eq!(check(&d, &[]), (0, vec![]));
}

#[test]
fn route_methods() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{AI}/infrastructure/outputs.tf")),
        "method = \"GET\"",
        "method = \"get\"",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F11-route-method] \
                  demo-stack/packages/module-ai/infrastructure/outputs.tf:4: \
                  route get /ai/config has method \"get\", which is not one of GET, POST, PUT, \
                  PATCH, DELETE"
                .into()]
        )
    );
}

#[test]
fn route_paths() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{ACCESS}/infrastructure/outputs.tf")),
        "/{orgId}/email-domains",
        "/{org_id}/email-domains",
    );
    edit(
        &d.path(&format!("{AI}/infrastructure/outputs.tf")),
        "path = \"/ai/providers\"",
        "path = \"ai/providers/\"",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F11-route-path] \
                 demo-stack/packages/module-access/infrastructure/outputs.tf:9: \
                 route GET /orgs/{org_id}/email-domains has parameter {org_id}, which is not \
                 {camelCase}"
                    .into(),
                "error[F11-route-path] demo-stack/packages/module-ai/infrastructure/outputs.tf:6: \
                 route GET ai/providers/ does not start with /"
                    .into(),
            ]
        )
    );
}

#[test]
fn route_integrations() {
    let d = Demo::new();
    let outputs = d.path(&format!("{AI}/infrastructure/outputs.tf"));
    edit(
        &outputs,
        "aws_lambda_function.provider.invoke_arn, public = true",
        "aws_lambda_function.provider.arn, public = true",
    );
    edit(
        &outputs,
        "aws_lambda_function.provider.invoke_arn, public = false",
        "aws_lambda_function.providers.invoke_arn, public = false",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F11-route-integration] \
                 demo-stack/packages/module-ai/infrastructure/outputs.tf:6: \
                 route GET /ai/providers has integration aws_lambda_function.provider.arn; API \
                 Gateway needs the invoke ARN"
                    .into(),
                "error[F11-route-integration] \
                 demo-stack/packages/module-ai/infrastructure/outputs.tf:7: \
                 route GET /ai/providers/{providerId} has integration \
                 aws_lambda_function.providers.invoke_arn, \
                 but the module defines no aws_lambda_function.providers"
                    .into(),
            ]
        )
    );
}

#[test]
fn route_public_flags() {
    let d = Demo::new();
    let outputs = d.path(&format!("{AI}/infrastructure/outputs.tf"));
    edit(&outputs, ", public = true }", " }");
    edit(&outputs, "public = false }", "public = \"false\" }");
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F11-route-public] \
                 demo-stack/packages/module-ai/infrastructure/outputs.tf:4: \
                 route GET /ai/config has public = \"false\", a string, not a bool"
                    .into(),
                "error[F11-route-public] \
                 demo-stack/packages/module-ai/infrastructure/outputs.tf:6: \
                 route GET /ai/providers has no public flag (the gateway's route type requires it)"
                    .into(),
            ]
        )
    );
}

#[test]
fn routes_that_cannot_be_read_are_a_warning() {
    let d = Demo::new();
    let outputs = d.path(&format!("{MGMT}/infrastructure/outputs.tf"));
    remove_block(&outputs, "output \"api_routes\"");
    let text = std::fs::read_to_string(&outputs).unwrap();
    write(
        &outputs,
        &format!(
            "output \"api_routes\" {{\n  value = \
             jsondecode(file(\"${{path.module}}/routes.json\"))\n}}\n{text}"
        ),
    );
    assert_eq!(
        check(&d, &[]),
        (
            0,
            vec!["warning[F11-routes-unchecked] \
                  demo-stack/packages/module-mgmt/infrastructure/outputs.tf:1: \
                  api_routes of module-mgmt is not a list of route objects check can read, so \
                  its routes are not checked"
                .into()]
        )
    );
}

#[test]
fn common_module_variables_are_declared() {
    let d = Demo::new();
    remove_block(
        &d.path(&format!("{AI}/infrastructure/variables.tf")),
        "variable \"aws_region\"",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F16-unknown-module-argument] demo-infra/envs/dev/main.tf:42: \
                 module \"module_ai\" sets aws_region, which module-ai does not declare"
                    .into(),
            ]
        )
    );
    // With no env to say what is passed, the common variables are expected.
    std::fs::remove_dir_all(&d.infra).unwrap();
    let (code, findings) = check(&d, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        findings[1],
        "error[F11-missing-variable] demo-stack/packages/module-ai/infrastructure/variables.tf:0: \
         module-ai does not declare variable \"aws_region\""
    );
}

#[test]
fn variables_used_are_declared() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{ACCESS}/infrastructure/main.tf")),
        "var.log_level",
        "var.lg_level",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F16-undeclared-variable] \
                  demo-stack/packages/module-access/infrastructure/main.tf:62: \
                  var.lg_level is used but module-access declares no variable \"lg_level\""
                .into()]
        )
    );
}

#[test]
fn module_blocks_pass_what_the_module_declares() {
    let d = Demo::new();
    edit(
        &d.infra.join(ENV_MAIN),
        "  org_common_layer_arn = module.module_access.org_common_layer_arn\n}",
        "  colour               = \"blue\"\n}",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F16-missing-module-argument] demo-infra/envs/dev/main.tf:36: \
                 module \"module_ai\" does not set org_common_layer_arn, which module-ai \
                 requires (it has no default)"
                    .into(),
                "error[F16-unknown-module-argument] demo-infra/envs/dev/main.tf:46: \
                 module \"module_ai\" sets colour, which module-ai does not declare"
                    .into(),
            ]
        )
    );
}

#[test]
fn no_infra_repo_is_a_warning_and_exits_0() {
    let d = Demo::new();
    std::fs::remove_dir_all(&d.infra).unwrap();
    assert_eq!(
        check(&d, &[]),
        (
            0,
            vec![
                "warning[F12-no-infra] demo-stack:0: no infra repo found, so module calls, \
                 module_routes \
                 and the infra Lambdas are not checked"
                    .into()
            ]
        )
    );
}

#[test]
fn a_reader_closing_stdout_early_is_not_a_crash() {
    let d = Demo::new();
    for args in [&["check"][..], &["check", "--json"]] {
        let out = d.xtask_closed_stdout(args);
        assert_eq!(out.code, 0, "{args:?}:\n{}", out.stderr);
        assert!(
            !out.stderr.contains("panicked"),
            "{args:?}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn an_env_that_does_not_exist() {
    let d = Demo::new();
    assert_eq!(
        check(&d, &["--env", "prd"]),
        (
            1,
            vec!["error[F12-no-env] demo-infra/envs/prd:0: the infra repo has no envs/prd".into()]
        )
    );
    let json = d.xtask(&["check", "--json", "--env", "prd"]).json();
    assert_eq!(json["findings"][0]["fix"], "pass --env with one of: dev");
}

#[test]
fn envs_are_what_plan_accepts_directories_with_tf_files_named_plainly() {
    let d = Demo::new();
    write(
        &d.infra.join("envs/scratch/README.md"),
        "notes, no Terraform\n",
    );
    let json = d.xtask(&["check", "--json", "--env", "prd"]).json();
    assert_eq!(json["findings"][0]["fix"], "pass --env with one of: dev");
    assert_eq!(
        check(&d, &["--env", "scratch"]),
        (
            1,
            vec![
                "error[F12-no-env] demo-infra/envs/scratch:0: envs/scratch has no .tf files".into()
            ]
        )
    );
    for bad in ["dev/../dev", "..", "../envs/dev"] {
        assert_eq!(
            check(&d, &["--env", bad]),
            (
                1,
                vec![format!(
                    "error[F12-no-env] demo-infra/envs:0: {bad:?} is not an env name: an env is \
                     one directory of envs/"
                )]
            ),
            "--env {bad}"
        );
    }
}

#[test]
fn every_stack_module_is_called_from_the_env() {
    let d = Demo::new();
    let main = d.infra.join(ENV_MAIN);
    remove_block(&main, "module \"module_mgmt\"");
    edit(&main, "    module.module_mgmt.api_routes,\n", "");
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F12-module-not-called] demo-infra/envs/dev/main.tf:0: module-mgmt is not \
                 called from envs/dev: \
                 its Lambdas and routes are never deployed"
                    .into()
            ]
        )
    );
    let json = d.xtask(&["check", "--json"]).json();
    assert_eq!(
        json["findings"][0]["fix"],
        "add module \"module_mgmt\" { source = \
         \"../../../demo-stack/packages/module-mgmt/infrastructure\" … } \
         and list module.module_mgmt.api_routes in module_routes"
    );
}

#[test]
fn module_sources_resolve() {
    let d = Demo::new();
    edit(
        &d.infra.join(ENV_MAIN),
        "packages/module-access/infrastructure",
        "packages/module-acess/infrastructure",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F12-module-not-called] demo-infra/envs/dev/main.tf:0: module-access is \
                 not called from envs/dev: \
                 its Lambdas and routes are never deployed"
                    .into(),
                "error[F12-bad-source] demo-infra/envs/dev/main.tf:25: module \"module_access\" \
                 has source \
                 \"../../../demo-stack/packages/module-acess/infrastructure\", which does not exist"
                    .into(),
            ]
        )
    );
}

#[test]
fn duplicate_module_blocks() {
    let d = Demo::new();
    let main = std::fs::read_to_string(d.infra.join(ENV_MAIN)).unwrap();
    let start = main.find("module \"module_ai\"").unwrap();
    let block = &main[start..start + main[start..].find("\n}\n").unwrap() + 3];
    let again = block.replace("module \"module_ai\"", "module \"ai_again\"");
    write(
        &d.infra.join("envs/dev/more.tf"),
        &format!("{block}\n{again}"),
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F12-not-in-module-routes] demo-infra/envs/dev/main.tf:114: \
                 module.ai_again exports api_routes \
                 but is not in module_routes: its Lambdas deploy and every route returns 404"
                    .into(),
                "error[F12-duplicate-module] demo-infra/envs/dev/more.tf:1: module \"module_ai\" \
                 is declared twice \
                 (also at demo-infra/envs/dev/main.tf:36)"
                    .into(),
                "error[F12-duplicate-module] demo-infra/envs/dev/more.tf:14: module \"ai_again\" \
                 calls the same source as \
                 module \"module_ai\" (demo-infra/envs/dev/main.tf:36): both deploy the same \
                 functions"
                    .into(),
            ]
        )
    );
}

#[test]
fn an_environment_literal_that_differs_from_the_env_is_a_warning() {
    let d = Demo::new();
    edit(
        &d.infra.join(ENV_MAIN),
        "environment          = \"dev\"",
        "environment          = \"prod\"",
    );
    assert_eq!(
        check(&d, &[]),
        (
            0,
            vec![
                "warning[F12-environment-mismatch] demo-infra/envs/dev/main.tf:40: \
                 module \"module_ai\" sets environment = \"prod\" in envs/dev"
                    .into()
            ]
        )
    );
}

#[test]
fn module_routes_lists_every_routed_module_once() {
    let d = Demo::new();
    edit(
        &d.infra.join(ENV_MAIN),
        "    module.module_mgmt.api_routes,\n",
        "    module.module_ai.api_routes,\n    module.module_mgt.api_routes,\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F12-not-in-module-routes] demo-infra/envs/dev/main.tf:114: \
                 module.module_mgmt exports api_routes \
                 but is not in module_routes: its Lambdas deploy and every route returns 404"
                    .into(),
                "error[F12-route-listed-twice] demo-infra/envs/dev/main.tf:117: \
                 module.module_ai.api_routes is listed \
                 twice in module_routes: each of its routes would be declared twice"
                    .into(),
                "error[F12-unknown-module] demo-infra/envs/dev/main.tf:118: module_routes lists \
                 module.module_mgt.api_routes but envs/dev declares no module \"module_mgt\""
                    .into(),
            ]
        )
    );
}

#[test]
fn an_env_without_a_gateway() {
    let d = Demo::new();
    let main = d.infra.join(ENV_MAIN);
    edit(&main, "  module_routes = concat(\n", "  routes = concat(\n");
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F12-no-gateway] demo-infra/envs/dev/main.tf:0: no module in envs/dev \
                 sets module_routes, \
                 so no route reaches an API"
                    .into()
            ]
        )
    );
}

#[test]
fn module_routes_that_cannot_be_read_are_a_warning() {
    let d = Demo::new();
    edit(
        &d.infra.join(ENV_MAIN),
        "  module_routes = concat(\n",
        "  module_routes = flatten(\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            0,
            vec![
                "warning[F12-routes-unchecked] demo-infra/envs/dev/main.tf:114: module_routes \
                 is not \
                 concat(module.<name>.api_routes, …), so check cannot tell which modules' \
                 routes are deployed"
                    .into()
            ]
        )
    );
}

#[test]
fn code_comes_from_local_zips_not_s3() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{MGMT}/infrastructure/main.tf")),
        "  filename         = \"${local.build_dir}/lambda-mgmt.zip\"\n  \
         source_code_hash = filebase64sha256(\"${local.build_dir}/lambda-mgmt.zip\")\n",
        "  s3_bucket        = \"demo-artifacts\"\n  s3_key           = \
         \"lambda/lambda-mgmt.zip\"\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F13-s3-code] demo-stack/packages/module-mgmt/infrastructure/main.tf:65: \
                 aws_lambda_function.lambda_mgmt takes its code from s3_bucket, s3_key: \
                 terraform never sees a new local build"
                    .into()
            ]
        )
    );
}

#[test]
fn functions_and_layers_name_a_local_zip() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{AI}/infrastructure/main.tf")),
        "  filename                 = \"${local.build_dir}/ai-common-layer.zip\"\n",
        "",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F13-no-local-zip] demo-stack/packages/module-ai/infrastructure/main.tf:39: \
                 aws_lambda_layer_version.ai_common has no filename"
                    .into()
            ]
        )
    );
}

#[test]
fn source_code_hash_hashes_the_deployed_zip() {
    let d = Demo::new();
    let main = d.path(&format!("{ACCESS}/infrastructure/main.tf"));
    edit(
        &main,
        "filebase64sha256(\"${local.build_dir}/orgs.zip\")",
        "filebase64sha256(\"${local.build_dir}/profiles.zip\")",
    );
    edit(
        &main,
        "  source_code_hash = filebase64sha256(\"${local.build_dir}/members.zip\")\n",
        "",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F13-hash-mismatch] \
                 demo-stack/packages/module-access/infrastructure/main.tf:73: \
                 aws_lambda_function.orgs: source_code_hash hashes \
                 \"${local.build_dir}/profiles.zip\" \
                 but filename is \"${local.build_dir}/orgs.zip\""
                    .into(),
                "error[F13-hash-mismatch] \
                 demo-stack/packages/module-access/infrastructure/main.tf:92: \
                 aws_lambda_function.members has no source_code_hash: terraform does not notice \
                 a rebuilt zip, \
                 so new code never deploys"
                    .into(),
            ]
        )
    );
}

#[test]
fn terraform_reads_only_zips_the_build_produces() {
    let d = Demo::new();
    let main = d.path(&format!("{ACCESS}/infrastructure/main.tf"));
    edit(
        &main,
        "\"${local.build_dir}/members.zip\"",
        "\"${local.build_dir}/member.zip\"",
    );
    edit(
        &main,
        "\"${local.build_dir}/members.zip\"",
        "\"${local.build_dir}/member.zip\"",
    );
    let (code, findings) = check(&d, &[]);
    assert_eq!(
        (code, findings),
        (
            1,
            vec![
                "warning[F14-zip-unused] \
                 demo-stack/packages/module-access/backend/lambdas/members:0: \
                 module-access/members builds members.zip, which no Terraform resource reads"
                    .into(),
                "error[F14-zip-not-built] \
                 demo-stack/packages/module-access/infrastructure/main.tf:94: \
                 aws_lambda_function.members reads \
                 demo-stack/packages/module-access/backend/.build/member.zip, \
                 which cargo xtask build does not produce"
                    .into(),
            ]
        )
    );
    let json = d.xtask(&["check", "--json"]).json();
    assert_eq!(
        json["findings"][1]["fix"],
        "the build writes members.zip, org-email-domains.zip, orgs.zip, profiles.zip, \
         org-common-layer.zip there: \
         fix the name, or rename the source directory"
    );
}

#[test]
fn the_infra_env_reads_the_authorizer_zip_through_a_local() {
    let d = Demo::new();
    edit(
        &d.infra.join(ENV_MAIN),
        "/../../build/authorizer.zip",
        "/../build/authorizer.zip",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F14-zip-not-built] demo-infra/envs/dev/main.tf:86: \
                 aws_lambda_function.authorizer reads \
                 demo-infra/envs/build/authorizer.zip, which cargo xtask build does not produce"
                    .into(),
                "warning[F14-zip-unused] demo-infra/lambdas/api-gateway-authorizer:0: \
                 infra/api-gateway-authorizer builds authorizer.zip, which no Terraform resource \
                 reads"
                    .into(),
            ]
        )
    );
}

#[test]
fn an_artifact_nothing_deploys_is_a_warning() {
    let d = Demo::new();
    d.write(
        &format!("{AI}/backend/lambdas/reports/lambda_function.py"),
        "def lambda_handler(event, context):\n    return {}\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            0,
            vec![
                "warning[F14-zip-unused] demo-stack/packages/module-ai/backend/lambdas/reports:0: \
                 module-ai/reports builds reports.zip, which no Terraform resource reads"
                    .into()
            ]
        )
    );
}

#[test]
fn runtimes_match_the_build_target() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{AI}/infrastructure/main.tf")),
        "runtime          = \"python3.13\"",
        "runtime          = \"python3.12\"",
    );
    edit(
        &d.path(&format!("{ACCESS}/infrastructure/main.tf")),
        "compatible_runtimes      = [\"python3.13\"]",
        "compatible_runtimes      = [\"python3.11\", \"python3.13\"]",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec![
                "error[F4-runtime] demo-stack/packages/module-access/infrastructure/main.tf:43: \
                 aws_lambda_layer_version.org_common is marked compatible with python3.11 but \
                 the build targets python3.13"
                    .into(),
                "error[F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:52: \
                 aws_lambda_function.ai_config has runtime \"python3.12\" but the build targets \
                 python3.13"
                    .into(),
            ]
        )
    );
}

#[test]
fn duplicate_routes_across_modules() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{MGMT}/infrastructure/outputs.tf")),
        "  value = [\n",
        "  value = [\n    { method = \"GET\", path = \"/ai/config\", integration = \
         aws_lambda_function.lambda_mgmt.invoke_arn, public = false },\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F17-duplicate-route] \
                  demo-stack/packages/module-mgmt/infrastructure/outputs.tf:4: \
                  route GET /ai/config is also declared at \
                  demo-stack/packages/module-ai/infrastructure/outputs.tf:4; \
                  the gateway keys routes by method and path, so the plan fails"
                .into()]
        )
    );
}

#[test]
fn one_name_per_path_parameter_position() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{ACCESS}/infrastructure/outputs.tf")),
        "  value = [\n",
        "  value = [\n    { method = \"GET\", path = \"/orgs/{organizationId}/settings\", \
         integration = aws_lambda_function.orgs.invoke_arn, public = false },\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            0,
            vec!["warning[F17-param-name] \
                  demo-stack/packages/module-access/infrastructure/outputs.tf:7: \
                  the parameter after /orgs is {orgId} in /orgs/{orgId} but {organizationId} in \
                  /orgs/{organizationId}/settings \
                  (demo-stack/packages/module-access/infrastructure/outputs.tf:4)"
                .into()]
        )
    );
}

#[test]
fn routed_functions_fit_the_integration_timeout() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{MGMT}/infrastructure/main.tf")),
        "timeout          = 30",
        "timeout          = 45",
    );
    assert_eq!(
        check(&d, &[]),
        (
            0,
            vec![
                "warning[F17-timeout] demo-stack/packages/module-mgmt/infrastructure/main.tf:71: \
                 aws_lambda_function.lambda_mgmt has timeout = 45 but is routed through the \
                 HTTP API, \
                 whose integrations give up after 30 s"
                    .into()
            ]
        )
    );
}

#[test]
fn at_most_300_routes_per_api() {
    let d = Demo::new();
    let routes: String = (0..291)
        .map(|i| {
            format!(
                "    {{ method = \"GET\", path = \"/mgmt/r{i}\", integration = \
                 aws_lambda_function.lambda_mgmt.invoke_arn, public = false }},\n"
            )
        })
        .collect();
    edit(
        &d.path(&format!("{MGMT}/infrastructure/outputs.tf")),
        "  value = [\n",
        &format!("  value = [\n{routes}"),
    );
    let (code, findings) = check(&d, &[]);
    assert_eq!(
        (code, findings),
        (
            1,
            vec![
                "error[F17-too-many-routes] demo-infra/envs/dev/main.tf:114: module \
                 \"modular_api_gateway\" receives \
                 304 routes; an HTTP API allows at most 300 routes and 300 integrations (one \
                 per route here)"
                    .into()
            ]
        )
    );
}

#[test]
fn exactly_300_routes_are_allowed() {
    let d = Demo::new();
    let routes: String = (0..287)
        .map(|i| {
            format!(
                "    {{ method = \"GET\", path = \"/mgmt/r{i}\", integration = \
                 aws_lambda_function.lambda_mgmt.invoke_arn, public = false }},\n"
            )
        })
        .collect();
    edit(
        &d.path(&format!("{MGMT}/infrastructure/outputs.tf")),
        "  value = [\n",
        &format!("  value = [\n{routes}"),
    );
    assert_eq!(check(&d, &[]), (0, vec![]));
}

#[test]
fn a_directory_under_lambdas_without_a_handler_file() {
    let d = Demo::new();
    d.write(
        &format!("{ACCESS}/backend/lambdas/notes/README.md"),
        "old experiments\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F10-no-handler-file] \
                  demo-stack/packages/module-access/backend/lambdas/notes:0: \
                  module-access/notes has no lambda_function.py, so it is not built"
                .into()]
        )
    );
}

#[test]
fn a_handler_file_without_lambda_handler() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{AI}/backend/lambdas/provider/lambda_function.py")),
        "def lambda_handler(",
        "def handler(",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F10-no-lambda-handler] \
                  demo-stack/packages/module-ai/backend/lambdas/provider/lambda_function.py:0: \
                  module-ai/provider: lambda_function.py defines no lambda_handler, so every \
                  invocation fails"
                .into()]
        )
    );
}

#[test]
fn an_empty_layer() {
    let d = Demo::new();
    std::fs::create_dir_all(d.path(&format!("{MGMT}/backend/layers/reporting/python"))).unwrap();
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F10-empty-layer] \
                  demo-stack/packages/module-mgmt/backend/layers/reporting/python:0: \
                  layer module-mgmt/reporting has nothing to ship: python/ is empty or missing \
                  and it has no requirements"
                .into()]
        )
    );
}

/// What ships is the build's answer: a layer whose python/ holds only tests builds nothing,
/// and check says so before the build does.
#[test]
fn a_layer_whose_files_never_ship_is_empty() {
    let d = Demo::new();
    let tests = d.path(&format!("{MGMT}/backend/layers/reporting/python/tests"));
    std::fs::create_dir_all(&tests).unwrap();
    std::fs::write(tests.join("test_report.py"), "def test_x():\n    pass\n").unwrap();
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F10-empty-layer] \
                  demo-stack/packages/module-mgmt/backend/layers/reporting/python:0: \
                  layer module-mgmt/reporting has nothing to ship: python/ is empty or missing \
                  and it has no requirements"
                .into()]
        )
    );
    let build = d.xtask(&["build", "--json"]);
    assert!(
        build.stderr.contains("layer reporting has nothing to ship"),
        "{}",
        build.stderr
    );
}

#[test]
fn imports_resolve_to_an_attached_layer() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{ACCESS}/infrastructure/main.tf")),
        "  layers           = [aws_lambda_layer_version.org_common.arn]\n",
        "",
    );
    let (code, findings) = check(&d, &[]);
    assert_eq!(
        (code, findings),
        (
            1,
            vec!["error[F18-unresolved-import] \
                  demo-stack/packages/module-access/backend/lambdas/profiles/lambda_function.py:6: \
                  imports org_common, which no layer attached to aws_lambda_function.profiles \
                  provides \
                  (nor the standard library, the Lambda runtime, the function's files or its \
                  requirements)"
                .into()]
        )
    );
    let json = d.xtask(&["check", "--json"]).json();
    assert_eq!(
        json["findings"][0]["fix"],
        "attach layer module-access/org-common (it provides org_common) to \
         aws_lambda_function.profiles, in its layers list"
    );
}

/// F18 reads the files that ship, as the build selects them: a git-ignored scratch file and a
/// `test/` helper are judged apart (the first never runs in Lambda, the second ships).
#[test]
fn imports_are_checked_in_the_files_that_ship() {
    let d = Demo::new();
    let profiles = d.path(&format!("{ACCESS}/backend/lambdas/profiles"));
    std::fs::write(profiles.join(".gitignore"), "scratch.py\n").unwrap();
    std::fs::write(profiles.join("scratch.py"), "import ipdb\n").unwrap();
    std::fs::create_dir_all(profiles.join("test")).unwrap();
    std::fs::write(profiles.join("test/fixtures.py"), "import faker\n").unwrap();
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F18-unresolved-import] \
                  demo-stack/packages/module-access/backend/lambdas/profiles/test/fixtures.py:1: \
                  imports faker, which no layer attached to aws_lambda_function.profiles \
                  provides \
                  (nor the standard library, the Lambda runtime, the function's files or its \
                  requirements)"
                .into()]
        )
    );
}

#[test]
fn untraced_layers_let_any_stack_layer_provide() {
    let d = Demo::new();
    let main = d.path(&format!("{AI}/infrastructure/main.tf"));
    let both = "[var.org_common_layer_arn, aws_lambda_layer_version.ai_common.arn]";
    let literal = "[\"arn:aws:lambda:us-east-1:123456789012:layer:shared:3\"]";
    // The last function in main.tf is provider: give it a layer ARN check cannot trace.
    let text = std::fs::read_to_string(&main).unwrap();
    let at = text.rfind(both).expect("provider attaches both layers");
    write(
        &main,
        &format!("{}{literal}{}", &text[..at], &text[at + both.len()..]),
    );
    assert_eq!(check(&d, &[]), (0, vec![]));
    edit(
        &d.path(&format!("{AI}/backend/lambdas/provider/lambda_function.py")),
        "import os\n",
        "import os\n\nimport nowhere\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F18-unresolved-import] \
                  demo-stack/packages/module-ai/backend/lambdas/provider/lambda_function.py:6: \
                  imports nowhere, which no layer of the stack provides (nor the standard library, \
                  the Lambda runtime, the function's files or its requirements)"
                .into()]
        )
    );
}

#[test]
fn guarded_imports_are_warnings() {
    let d = Demo::new();
    edit(
        &d.path(&format!("{ACCESS}/backend/lambdas/orgs/lambda_function.py")),
        "import os\n",
        "import os\n\ntry:\n    import ujson as json\nexcept ImportError:\n    import json\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            0,
            vec!["warning[F18-optional-import] \
                  demo-stack/packages/module-access/backend/lambdas/orgs/lambda_function.py:7: \
                  imports ujson (guarded by except ImportError), which no layer attached to \
                  aws_lambda_function.orgs \
                  provides (nor the standard library, the Lambda runtime, the function's files \
                  or its requirements)"
                .into()]
        )
    );
}

#[test]
fn layer_code_imports_resolve_against_its_requirements() {
    let d = Demo::new();
    edit(
        &d.path(&format!(
            "{AI}/backend/layers/ai-common/python/ai_common/config.py"
        )),
        "AI_CONFIG_TABLE",
        "import requests\n\nAI_CONFIG_TABLE",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[F18-unresolved-import] \
                  demo-stack/packages/module-ai/backend/layers/ai-common/python/ai_common/config.py:3: \
                  imports requests, which neither the layer's python/ code, its requirements, \
                  another layer, \
                  the standard library nor the Lambda runtime provides"
                .into()]
        )
    );
}

#[test]
fn installed_dependencies_provide_their_whole_tree() {
    let d = Demo::new();
    // alpha depends on beta: only an install knows that.
    d.write(
        &format!("{AI}/backend/lambdas/provider/requirements.txt"),
        "alpha==1.0\n",
    );
    edit(
        &d.path(&format!("{AI}/backend/lambdas/provider/lambda_function.py")),
        "import os\n",
        "import os\n\nimport alpha\nimport beta\n",
    );
    let (code, findings) = check(&d, &[]);
    assert_eq!(
        (code, findings),
        (
            1,
            vec!["error[F18-unresolved-import] \
                  demo-stack/packages/module-ai/backend/lambdas/provider/lambda_function.py:7: \
                  imports beta, which no layer attached to aws_lambda_function.provider provides \
                  (nor the standard library, the Lambda runtime, the function's files or its \
                  requirements)"
                .into()]
        )
    );
    d.xtask(&["build", "--module", "ai"]).ok();
    assert_eq!(check(&d, &[]), (0, vec![]));
}

#[test]
fn a_tf_file_that_does_not_parse() {
    let d = Demo::new();
    d.write(
        &format!("{AI}/infrastructure/broken.tf"),
        "resource \"aws_s3_bucket\" \"b\" {\n  bucket = \n}\n",
    );
    assert_eq!(
        check(&d, &[]),
        (
            1,
            vec!["error[TF-parse-error] \
                  demo-stack/packages/module-ai/infrastructure/broken.tf:2: broken.tf does not \
                  parse: \
                  invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter \
                  or digit"
                .into()]
        )
    );
}
