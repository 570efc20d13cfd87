//! `check` as a team adopts it on real CORA modules: waivers, severity, findings that point at
//! the one edit that fixes them, and `--fix`. The fixture `ws_module` has the real modules'
//! shape: a runtime local shared by several functions and layers, layers attached through
//! variables, an env that passes `module_name` to some modules and not to this one.

use crate::common::*;

use super::{check, edit, remove_block};

const WS: &str = "packages/module-ws";
const WS_MAIN: &str = "packages/module-ws/infrastructure/main.tf";

/// Adds `module-ws` to the demo, with its runtime in `local.lambda_runtime` (`python3.11`), and
/// calls it from the env without `module_name`, as the real env does.
fn ws_module(d: &Demo) {
    for f in ["connect", "message", "disconnect"] {
        d.write(
            &format!("{WS}/backend/lambdas/{f}/lambda_function.py"),
            "import ws_common\nimport org_common\n\n\ndef lambda_handler(event, context):\n    \
             return ws_common.ok()\n",
        );
    }
    d.write(
        &format!("{WS}/backend/layers/ws_common/python/ws_common/__init__.py"),
        "def ok():\n    return {\"statusCode\": 200}\n",
    );
    d.write(
        &format!("{WS}/backend/layers/ws_extra/python/ws_extra/__init__.py"),
        "X = 1\n",
    );
    let function = |name: &str, zip: &str| {
        format!(
            r#"
resource "aws_lambda_function" "{name}" {{
  function_name    = "${{var.project_name}}-${{var.environment}}-ws-{zip}"
  filename         = "${{local.build_dir}}/{zip}.zip"
  source_code_hash = filebase64sha256("${{local.build_dir}}/{zip}.zip")
  runtime          = local.lambda_runtime
  handler          = "lambda_function.lambda_handler"
  role             = var.role_arn
  layers           = [var.org_common_layer_arn, aws_lambda_layer_version.ws_common.arn]
}}
"#
        )
    };
    let layer = |name: &str, zip: &str| {
        format!(
            r#"
resource "aws_lambda_layer_version" "{name}" {{
  layer_name          = "${{var.project_name}}-${{var.environment}}-{zip}"
  filename            = "${{local.build_dir}}/{zip}-layer.zip"
  source_code_hash    = filebase64sha256("${{local.build_dir}}/{zip}-layer.zip")
  compatible_runtimes = [local.lambda_runtime]
}}
"#
        )
    };
    d.write(
        WS_MAIN,
        &format!(
            "locals {{\n  build_dir      = \"${{path.module}}/../backend/.build\"\n  \
             lambda_runtime = \"python3.11\"\n}}\n{}{}{}{}{}",
            layer("ws_common", "ws_common"),
            layer("ws_extra", "ws_extra"),
            function("connect", "connect"),
            function("message", "message"),
            function("disconnect", "disconnect"),
        ),
    );
    d.write(
        &format!("{WS}/infrastructure/variables.tf"),
        &[
            "project_name",
            "environment",
            "aws_region",
            "supabase_secret_arn",
            "log_level",
            "common_tags",
            "org_common_layer_arn",
            "role_arn",
        ]
        .map(|v| format!("variable \"{v}\" {{\n  type = any\n}}\n"))
        .join("\n"),
    );
    d.write(
        &format!("{WS}/infrastructure/outputs.tf"),
        "output \"api_routes\" {\n  value = [\n    { method = \"GET\", path = \"/ws\", \
         integration = aws_lambda_function.connect.invoke_arn, public = false },\n  ]\n}\n",
    );
    d.write(
        &format!("{WS}/infrastructure/versions.tf"),
        "terraform {\n  required_version = \">= 1.5\"\n}\n",
    );
    edit(
        &d.infra.join("envs/dev/main.tf"),
        "# API Gateway authorizer",
        "module \"module_ws\" {\n  source = \"../../../demo-stack/packages/module-ws/infrastructure\"\n\n  \
         project_name         = var.project_name\n  environment          = \"dev\"\n  \
         aws_region           = var.aws_region\n  \
         supabase_secret_arn  = aws_secretsmanager_secret.supabase.arn\n  \
         log_level            = var.log_level\n  common_tags          = var.common_tags\n  \
         org_common_layer_arn = module.module_access.org_common_layer_arn\n  \
         role_arn             = aws_iam_role.authorizer.arn\n}\n\n# API Gateway authorizer",
    );
    edit(
        &d.infra.join("envs/dev/main.tf"),
        "    module.module_mgmt.api_routes,\n",
        "    module.module_mgmt.api_routes,\n    module.module_ws.api_routes,\n",
    );
}

/// `check --json`: the exit code and each finding as `severity[code] file:line: message`, a
/// waived one as `waived[code] file:line: reason`.
fn findings(d: &Demo) -> (i32, Vec<String>) {
    let out = d.xtask(&["check", "--json"]);
    let json = out.json();
    let list = json["findings"].as_array().unwrap().iter().map(|f| {
        let at = format!("{}:{}", f["file"].as_str().unwrap(), f["line"]);
        if f["waived"] == true {
            format!(
                "waived[{}] {at}: {}",
                f["code"].as_str().unwrap(),
                f["reason"].as_str().unwrap()
            )
        } else {
            assert_eq!(f["waived"], false, "{f}");
            assert!(f.get("reason").is_none(), "{f}");
            format!(
                "{}[{}] {at}: {}",
                f["severity"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        }
    });
    (out.code, list.collect())
}

const AI_MAIN: &str = "packages/module-ai/infrastructure/main.tf";

/// module-ai's ai_config on python3.12: one F4-runtime error at main.tf:52.
fn ai_on_312(d: &Demo) {
    edit(
        &d.path(AI_MAIN),
        "runtime          = \"python3.13\"",
        "runtime          = \"python3.12\"",
    );
}

#[test]
fn a_waiver_in_xtask_toml_accepts_a_finding_and_says_why() {
    let d = Demo::new();
    ai_on_312(&d);
    d.config(
        "[[check.allow]]\ncode = \"F4-runtime\"\npath = \"demo-stack/packages/module-ai/**\"\n\
         reason = \"the vendor SDK is not on 3.13 yet\"\n",
    );
    assert_eq!(
        findings(&d),
        (
            0,
            vec![
                "waived[F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:52: \
                  the vendor SDK is not on 3.13 yet"
                    .into()
            ]
        )
    );
    let human = d.xtask(&["check"]).ok();
    assert_eq!(
        human.stdout,
        "waived:\n  [F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:52: the \
         vendor SDK is not on 3.13 yet\n\ncheck: 0 errors, 0 warnings, 1 waived\n"
    );
    // The path is a glob over the findings' paths: another module is not waived.
    d.config(
        "[[check.allow]]\ncode = \"F4-runtime\"\npath = \"demo-stack/packages/module-mgmt/**\"\n\
         reason = \"r\"\n",
    );
    let (code, list) = findings(&d);
    assert_eq!(code, 1);
    assert_eq!(
        list,
        [
            "error[F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:52: \
             aws_lambda_function.ai_config has runtime \"python3.12\" but the build targets \
             python3.13",
            "warning[XT-unused-waiver] demo-stack/xtask.toml:0: [[check.allow]] code = \
             \"F4-runtime\", path = \"demo-stack/packages/module-mgmt/**\" matches no finding",
        ]
    );
}

#[test]
fn inline_waivers_on_the_line_or_the_line_above() {
    let d = Demo::new();
    ai_on_312(&d);
    edit(
        &d.path(AI_MAIN),
        "  runtime          = \"python3.12\"",
        "  # xtask: allow F4-runtime -- pinned with the vendor SDK\n  runtime          = \
         \"python3.12\"",
    );
    let handler = "packages/module-ai/backend/lambdas/provider/lambda_function.py";
    let text = d.read(handler);
    d.write(
        handler,
        &format!(
            "{text}\n\ndef vertex():\n    import vertexai  # xtask: allow \
             F18-unresolved-import -- only on the Vertex path, which ships its own layer\n    \
             return vertexai\n"
        ),
    );
    let n = text.lines().count() + 4;
    assert_eq!(
        findings(&d),
        (
            0,
            vec![
                format!(
                    "waived[F18-unresolved-import] \
                     demo-stack/packages/module-ai/backend/lambdas/provider/lambda_function.py:\
                     {n}: only on the Vertex path, which ships its own layer"
                ),
                "waived[F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:53: \
                 pinned with the vendor SDK"
                    .into(),
            ]
        )
    );
}

#[test]
fn stale_waivers_warn_and_waivers_without_a_reason_or_with_an_unknown_code_are_errors() {
    let d = Demo::new();
    ai_on_312(&d);
    d.config(
        "[[check.allow]]\ncode = \"F4-runtime\"\n\n\
         [[check.allow]]\ncode = \"F14-zip-unused\"\nreason = \"kept for the rollback\"\n\n\
         [[check.allow]]\ncode = \"F4-runtimes\"\nreason = \"typo\"\n",
    );
    edit(
        &d.path("packages/module-mgmt/infrastructure/main.tf"),
        "locals {",
        "# xtask: allow F4-runtime\n# xtask: allow F4-runtimez -- typo\nlocals {",
    );
    assert_eq!(
        findings(&d),
        (
            1,
            vec![
                "error[F4-runtime] demo-stack/packages/module-ai/infrastructure/main.tf:52: \
                 aws_lambda_function.ai_config has runtime \"python3.12\" but the build targets \
                 python3.13"
                    .into(),
                "error[XT-waiver-no-reason] demo-stack/packages/module-mgmt/infrastructure/\
                 main.tf:1: xtask: allow F4-runtime gives no reason, so it waives nothing"
                    .into(),
                "error[XT-unknown-code] demo-stack/packages/module-mgmt/infrastructure/\
                 main.tf:2: xtask: allow F4-runtimez: \"F4-runtimez\" is not a check code, so \
                 it waives nothing"
                    .into(),
                // A typo in a waiver's code is an error (issue 22, item 8), not a stale waiver.
                "error[XT-unknown-code] demo-stack/xtask.toml:0: [[check.allow]] code = \
                 \"F4-runtimes\": \"F4-runtimes\" is not a check code, so it waives nothing"
                    .into(),
                "warning[XT-unused-waiver] demo-stack/xtask.toml:0: [[check.allow]] code = \
                 \"F14-zip-unused\" matches no finding"
                    .into(),
                "error[XT-waiver-no-reason] demo-stack/xtask.toml:0: [[check.allow]] code = \
                 \"F4-runtime\" gives no reason, so it waives nothing"
                    .into(),
            ]
        )
    );
}

#[test]
fn severity_demotes_or_promotes_a_code() {
    let d = Demo::new();
    edit(
        &d.path("packages/module-ai/infrastructure/main.tf"),
        "timeout          = 15",
        "timeout          = 900",
    );
    remove_block(
        &d.path("packages/module-mgmt/infrastructure/outputs.tf"),
        "output \"api_routes\"",
    );
    d.config(
        "[check]\nseverity = { \"F11-no-api-routes\" = \"warning\", \"F17-timeout\" = \"error\" }\n",
    );
    let (code, list) = findings(&d);
    assert_eq!(code, 1, "{list:#?}");
    assert_eq!(
        list,
        [
            "error[F17-timeout] demo-stack/packages/module-ai/infrastructure/main.tf:56: \
             aws_lambda_function.ai_config has timeout = 900 but is routed through the HTTP \
             API, whose integrations give up after 30 s",
            "warning[F11-no-api-routes] demo-stack/packages/module-mgmt/infrastructure/\
             outputs.tf:0: module-mgmt does not export api_routes: its Lambdas deploy but no \
             route reaches them, so every endpoint returns 404",
        ]
    );
    d.config(
        "[check]\nseverity = { \"F17-timeout\" = \"warning\", \"F99-nope\" = \"warning\", \
         \"XT-unused-waiver\" = \"error\" }\n[[check.allow]]\ncode = \"F4-runtime\"\nreason = \"r\"\n",
    );
    let (code, list) = findings(&d);
    assert_eq!(code, 1, "{list:#?}");
    assert!(list[0].starts_with("warning[F17-timeout]"), "{list:#?}");
    assert_eq!(
        list[list.len() - 2..],
        [
            "error[XT-unknown-code] demo-stack/xtask.toml:0: [check] severity names \
             \"F99-nope\", which is not a check code",
            "error[XT-unused-waiver] demo-stack/xtask.toml:0: [[check.allow]] code = \
             \"F4-runtime\" matches no finding",
        ]
    );
}

#[test]
fn a_runtime_in_a_local_is_one_finding_at_the_local_naming_its_users() {
    let d = Demo::new();
    ws_module(&d);
    let (code, list) = check(&d, &[]);
    assert_eq!(code, 1);
    let f4: Vec<&String> = list.iter().filter(|f| f.contains("[F4-runtime]")).collect();
    assert_eq!(
        f4,
        [
            "error[F4-runtime] demo-stack/packages/module-ws/infrastructure/main.tf:3: \
             local.lambda_runtime is \"python3.11\" but the build targets python3.13; it sets \
             the runtime of aws_lambda_function.connect, aws_lambda_function.message, \
             aws_lambda_function.disconnect, aws_lambda_layer_version.ws_common \
             (compatible_runtimes), aws_lambda_layer_version.ws_extra (compatible_runtimes)"
        ]
    );
    // Literal runtimes are still reported where they are written.
    edit(
        &d.path(WS_MAIN),
        "compatible_runtimes = [local.lambda_runtime]",
        "compatible_runtimes = [\"python3.12\", local.lambda_runtime]",
    );
    let (_, list) = check(&d, &[]);
    assert!(
        list.iter().any(|f| f
            == "error[F4-runtime] demo-stack/packages/module-ws/infrastructure/main.tf:10: \
                aws_lambda_layer_version.ws_common is marked compatible with python3.12 but the \
                build targets python3.13"),
        "{list:#?}"
    );
}

#[test]
fn python_in_xtask_toml_is_a_runtime_lambda_offers() {
    let d = Demo::new();
    d.config("python = \"3.99\"");
    let out = d.xtask(&["check"]).fails();
    assert!(
        out.stderr.contains(
            "python = \"3.99\" is not a Python version Lambda offers; use one of \
             \"3.10\", \"3.11\", \"3.12\", \"3.13\", \"3.14\""
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn module_variables_follow_what_the_env_passes() {
    let d = Demo::new();
    ws_module(&d);
    // The env passes module_name to module-ai and not to module-ws, which does not declare it.
    let (_, list) = check(&d, &[]);
    assert!(
        !list.iter().any(|f| f.contains("F11-missing-variable")),
        "{list:#?}"
    );
    // What the env does pass must be declared.
    edit(
        &d.infra.join("envs/dev/main.tf"),
        "  role_arn             = aws_iam_role.authorizer.arn\n",
        "  role_arn             = aws_iam_role.authorizer.arn\n  module_name          = \"ws\"\n",
    );
    let (_, list) = check(&d, &[]);
    assert!(
        list.iter()
            .any(|f| f.starts_with("error[F16-unknown-module-argument]")
                && f.ends_with(
                    "module \"module_ws\" sets module_name, which module-ws does not declare"
                )),
        "{list:#?}"
    );
}

#[test]
fn import_names_come_from_wheels_at_hand_and_otherwise_the_finding_is_uncertain() {
    let d = Demo::new();
    Wheelhouse::new(&d.tmp.path().join("wheelhouse")).wheel(
        "python_docx",
        "1.1.2",
        "py3-none-any",
        &[("docx/__init__.py", "")],
        &[],
    );
    let dir = "packages/module-ai/backend/lambdas/provider";
    d.write(
        &format!("{dir}/requirements.txt"),
        "python-docx==1.1.2\nPyPDF2==3.0.1\n",
    );
    let handler = format!("{dir}/lambda_function.py");
    let text = d.read(&handler);
    d.write(&handler, &format!("import docx\nimport PyPDF2\n{text}"));
    let (code, list) = check(&d, &[]);
    assert_eq!(
        (code, list),
        (
            0,
            vec!["warning[F18-uncertain-import] \
                  demo-stack/packages/module-ai/backend/lambdas/provider/lambda_function.py:2: \
                  imports PyPDF2, which no layer attached to aws_lambda_function.provider \
                  provides (nor the standard library, the Lambda runtime, the function's files \
                  or its requirements); uncertain: nothing is installed for the requirements \
                  (the build failed or has not run) and the import names of PyPDF2 are not \
                  known"
                .into()]
        )
    );
    // Another function's build installed PyPDF2 (flit writes no top_level.txt): now certain.
    let tree = d.path(".xtask/deps/0123abcd");
    d.write(
        ".xtask/deps/0123abcd/PyPDF2-3.0.1.dist-info/METADATA",
        "Name: PyPDF2\n",
    );
    write(&tree.join("PyPDF2/__init__.py"), "");
    assert_eq!(check(&d, &[]), (0, vec![]));
}

#[test]
fn imports_under_if_not_type_checking_and_in_match_cases_are_read() {
    let d = Demo::new();
    let handler = "packages/module-ai/backend/lambdas/provider/lambda_function.py";
    let text = d.read(handler);
    let n = text.lines().count();
    d.write(
        handler,
        &format!(
            "{text}\nfrom typing import TYPE_CHECKING\n\nif not TYPE_CHECKING:\n    import \
             vertexai\n\n\ndef pick(kind):\n    match kind:\n        case \"pdf\": import \
             PyPDF2\n        case _:\n            return None\n"
        ),
    );
    let (code, list) = check(&d, &[]);
    assert_eq!(code, 1);
    let at = |line: usize, m: &str| {
        format!(
            "error[F18-unresolved-import] \
             demo-stack/packages/module-ai/backend/lambdas/provider/lambda_function.py:{line}: \
             imports {m}, which no layer attached to aws_lambda_function.provider provides (nor \
             the standard library, the Lambda runtime, the function's files or its requirements)"
        )
    };
    assert_eq!(list, [at(n + 5, "vertexai"), at(n + 10, "PyPDF2")]);
}

#[test]
fn a_filename_from_an_unknown_for_each_leaves_only_its_own_zips_unchecked() {
    let d = Demo::new();
    ws_module(&d);
    let main = d.read(WS_MAIN);
    let start = main.find("\nresource \"aws_lambda_function\"").unwrap();
    d.write(
        WS_MAIN,
        &format!(
            "{}\nresource \"aws_lambda_function\" \"handlers\" {{\n  for_each         = \
             toset(var.handler_names)\n  function_name    = \
             each.key\n  filename         = \"${{local.build_dir}}/${{each.key}}.zip\"\n  \
             source_code_hash = filebase64sha256(\"${{local.build_dir}}/${{each.key}}.zip\")\n  \
             runtime          = \"python3.13\"\n  handler          = \
             \"lambda_function.lambda_handler\"\n  role             = var.role_arn\n}}\n\
             variable \"handler_names\" {{ type = list(string) }}\n",
            &main[..start],
        ),
    );
    // Nothing reads the ws_common layer any more: that much is certain.
    remove_block(
        &d.path(WS_MAIN),
        "resource \"aws_lambda_layer_version\" \"ws_common\"",
    );
    edit(
        &d.path(&format!("{WS}/infrastructure/outputs.tf")),
        "aws_lambda_function.connect.invoke_arn",
        "aws_lambda_function.handlers[\"connect\"].invoke_arn",
    );
    let (_, list) = check(&d, &[]);
    let f14: Vec<&String> = list.iter().filter(|f| f.contains("[F14-")).collect();
    assert_eq!(
        f14,
        [
            "warning[F14-zip-unused] demo-stack/packages/module-ws/backend/layers/ws_common:0: \
             module-ws/ws_common builds ws_common-layer.zip, which no Terraform resource reads",
            "warning[F14-zip-unverified] \
             demo-stack/packages/module-ws/infrastructure/main.tf:17: \
             aws_lambda_function.handlers reads \"${local.build_dir}/${each.key}.zip\", which \
             is not known offline, so whether it deploys connect.zip, disconnect.zip, \
             message.zip is not checked",
        ]
    );
}

/// The same for_each over a literal set: the stack model evaluates it, so each zip is known.
#[test]
fn a_filename_from_a_literal_for_each_is_checked_zip_by_zip() {
    let d = Demo::new();
    ws_module(&d);
    let main = d.read(WS_MAIN);
    let start = main.find("\nresource \"aws_lambda_function\"").unwrap();
    d.write(
        WS_MAIN,
        &format!(
            "{}\nresource \"aws_lambda_function\" \"handlers\" {{\n  for_each         = \
             toset([\"connect\", \"message\", \"disconnect\"])\n  function_name    = \
             each.key\n  filename         = \"${{local.build_dir}}/${{each.key}}.zip\"\n  \
             source_code_hash = filebase64sha256(\"${{local.build_dir}}/${{each.key}}.zip\")\n  \
             runtime          = \"python3.13\"\n  handler          = \
             \"lambda_function.lambda_handler\"\n  role             = var.role_arn\n}}\n",
            &main[..start],
        ),
    );
    remove_block(
        &d.path(WS_MAIN),
        "resource \"aws_lambda_layer_version\" \"ws_common\"",
    );
    edit(
        &d.path(&format!("{WS}/infrastructure/outputs.tf")),
        "aws_lambda_function.connect.invoke_arn",
        "aws_lambda_function.handlers[\"connect\"].invoke_arn",
    );
    let (_, list) = check(&d, &[]);
    let f14: Vec<&String> = list.iter().filter(|f| f.contains("[F14-")).collect();
    assert_eq!(
        f14,
        [
            "warning[F14-zip-unused] demo-stack/packages/module-ws/backend/layers/ws_common:0: \
          module-ws/ws_common builds ws_common-layer.zip, which no Terraform resource reads"
        ]
    );
}

/// `terraform fmt` over `dirs`: `check` leaves the files canonical (`-check`) or not.
fn terraform_fmt(dirs: &[&std::path::Path], check_only: bool) -> Out {
    let mut cmd = std::process::Command::new("terraform");
    cmd.arg("fmt");
    if check_only {
        cmd.arg("-check");
    }
    for d in dirs {
        cmd.arg(d);
    }
    run(cmd)
}

#[test]
fn fix_applies_the_mechanical_fixes_keeping_comments_and_format() {
    let d = Demo::new();
    ws_module(&d);
    edit(
        &d.infra.join("envs/dev/main.tf"),
        "    module.module_ws.api_routes,\n",
        "",
    );
    edit(
        &d.path(WS_MAIN),
        "  lambda_runtime = \"python3.11\"",
        "  # the platform team pins this\n  lambda_runtime = \"python3.11\" # all handlers",
    );
    edit(&d.path(AI_MAIN), "[\"python3.13\"]", "[\"python3.12\"]");
    ai_on_312(&d);
    let env_main = d.infra.join("envs/dev/main.tf");
    let ws_main = d.path(WS_MAIN);
    let ai_main = d.path(AI_MAIN);
    let files = [env_main.as_path(), ws_main.as_path(), ai_main.as_path()];
    terraform_fmt(&files, false).ok();
    terraform_fmt(&files, true).ok();
    let before: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();

    let dry = d.xtask(&["check", "--fix", "--dry-run"]);
    assert_eq!(dry.code, 1, "{}", dry.stderr);
    for (f, text) in files.iter().zip(&before) {
        assert_eq!(
            &std::fs::read_to_string(f).unwrap(),
            text,
            "--dry-run wrote {f:?}"
        );
    }
    let edits = |out: &str| -> Vec<String> {
        out.lines()
            .take_while(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let expected = |state: &str| {
        vec![
            format!("demo-infra/envs/dev/main.tf:131: + module.module_ws.api_routes,{state}"),
            format!(
                "demo-stack/packages/module-ai/infrastructure/main.tf:43: compatible_runtimes      \
                 = [\"python3.12\"] → compatible_runtimes      = [\"python3.13\"]{state}"
            ),
            format!(
                "demo-stack/packages/module-ai/infrastructure/main.tf:52: runtime          = \
                 \"python3.12\" → runtime          = \"python3.13\"{state}"
            ),
            format!(
                "demo-stack/packages/module-ws/infrastructure/main.tf:4: lambda_runtime = \
                 \"python3.11\" # all handlers → lambda_runtime = \"python3.13\" # all \
                 handlers{state}"
            ),
        ]
    };
    assert_eq!(edits(&dry.stdout), expected(" (dry run)"), "{}", dry.stdout);

    let fixed = d.xtask(&["check", "--fix"]);
    assert_eq!(edits(&fixed.stdout), expected(""), "{}", fixed.stdout);
    assert_eq!(fixed.code, 0, "{}", fixed.stdout);
    assert!(
        fixed.stdout.ends_with("check: 0 errors, 0 warnings\n"),
        "{}",
        fixed.stdout
    );
    let (code, list) = check(&d, &[]);
    assert_eq!((code, list), (0, vec![]));
    terraform_fmt(&files, true).ok();
    let ws = std::fs::read_to_string(&ws_main).unwrap();
    assert!(
        ws.contains(
            "  # the platform team pins this\n  lambda_runtime = \"python3.13\" # all handlers\n"
        ),
        "{ws}"
    );
    // Only the fixed spans changed.
    assert_eq!(ws.replace("python3.13", "python3.11"), before[1],);
    // Nothing left to fix.
    let again = d.xtask(&["check", "--fix"]).ok();
    assert_eq!(again.stdout, "check: 0 errors, 0 warnings\n");
}

#[test]
fn plan_goes_ahead_past_a_waived_error_and_shows_it() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    edit(
        &d.infra.join("envs/dev/main.tf"),
        "    module.module_mgmt.api_routes,\n",
        "",
    );
    d.config(
        "[[check.allow]]\ncode = \"F12-not-in-module-routes\"\n\
         reason = \"mgmt is served by the ops API for now\"\n",
    );
    let out = d.xtask_env(&["plan"], &[("TF_BIN", bin.to_str().unwrap())]);
    assert!(
        out.stderr.contains(
            "waived:\n  [F12-not-in-module-routes] demo-infra/envs/dev/main.tf:114: mgmt is \
             served by the ops API for now"
        ),
        "{}",
        out.stderr
    );
    assert!(record(&bin).contains("args:plan"), "{}", record(&bin));
}
