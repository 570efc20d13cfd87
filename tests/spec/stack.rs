//! `cargo xtask stack`: the model every pass reads, pinned through `stack --json`, on a stack
//! written the way CORA repos write Terraform (one module per pattern of issue 17).

use std::path::{Path, PathBuf};

use crate::common::*;

pub struct Patterns {
    pub tmp: tempfile::TempDir,
    pub stack: PathBuf,
}

impl Patterns {
    pub fn xtask(&self, args: &[&str]) -> Out {
        let mut cmd = std::process::Command::new(xtask_bin());
        cmd.args(args)
            .arg("--stack")
            .arg(&self.stack)
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE");
        run(cmd)
    }

    /// A wheelhouse beside the stack (the runtime's boto3 stand-ins) and an xtask.toml using it.
    pub fn offline_installs(&self) {
        crate::smoke::runtime_wheels(&Wheelhouse::new(&self.tmp.path().join("wheelhouse")));
        write(
            &self.stack.join("xtask.toml"),
            "python = \"3.13\"\n[installer_options]\nfind_links = [\"../wheelhouse\"]\nno_index = true\n",
        );
    }

    /// `stack --json`'s function whose address ends with `resource`.
    pub fn function(json: &serde_json::Value, resource: &str) -> serde_json::Value {
        json["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["address"].as_str().unwrap().ends_with(resource))
            .unwrap_or_else(|| panic!("no function {resource} in {json:#}"))
            .clone()
    }

    /// The layer artifacts (`module-access/org-common`) a function of `stack --json` attaches.
    pub fn layer_artifacts(json: &serde_json::Value, resource: &str) -> Vec<String> {
        let f = Self::function(json, resource);
        f["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let address = l["address"].as_str()?;
                json["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x["address"] == address)?["artifact"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    }
}

fn function_dir(stack: &Path, module: &str, name: &str, code: &str) {
    write(
        &stack.join(format!(
            "packages/{module}/backend/lambdas/{name}/lambda_function.py"
        )),
        code,
    );
}

fn layer_dir(stack: &Path, module: &str, name: &str, package: &str) {
    write(
        &stack.join(format!(
            "packages/{module}/backend/layers/{name}/python/{package}/__init__.py"
        )),
        "VALUE = 1\n",
    );
}

pub const HANDLER: &str = "\n\ndef lambda_handler(event, context):\n    return {}\n";

/// acme-stack + acme-infra/envs/dev:
/// - module-access: org-common layer, `profiles` (literal zip in a local, api_routes, permission);
/// - module-ai: `workspace` (`filename = "${path.module}/${var.workspace_lambda_zip}"` with a
///   default, `runtime = local.lambda_runtime`, `layers = compact([var.org_common_layer_arn,
///   var.voice_common_layer_arn])`), `chat` (its layer through `data "aws_lambda_layer_version"`
///   by layer_name), `agents` (for_each over a map, each.value's zip);
/// - module-voice: its layer published by a nested module, its output passed up two levels;
///   `voice` with a conditional layer list on a variable without a default.
pub fn patterns() -> Patterns {
    let tmp = tempfile::tempdir().unwrap();
    let stack = tmp.path().join("acme-stack");
    write(&stack.join("xtask.toml"), "python = \"3.13\"\n");
    layer_dir(&stack, "module-access", "org-common", "org_common");
    function_dir(
        &stack,
        "module-access",
        "profiles",
        &format!("import org_common{HANDLER}"),
    );
    write(
        &stack.join("packages/module-access/infrastructure/main.tf"),
        r#"locals { build_dir = "${path.module}/../backend/.build" }
variable "env" { type = string }
resource "aws_lambda_layer_version" "org_common" {
  layer_name          = "${var.env}-access-common"
  filename            = "${local.build_dir}/org-common-layer.zip"
  compatible_runtimes = ["python3.13"]
}
resource "aws_lambda_function" "profiles" {
  function_name    = "${var.env}-profiles"
  filename         = "${local.build_dir}/profiles.zip"
  source_code_hash = filebase64sha256("${local.build_dir}/profiles.zip")
  handler          = "lambda_function.lambda_handler"
  runtime          = "python3.13"
  layers           = [aws_lambda_layer_version.org_common.arn]
}
resource "aws_lambda_permission" "api" {
  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  principal     = "apigateway.amazonaws.com"
  function_name = aws_lambda_function.profiles.function_name
}
output "org_common_layer_arn" { value = aws_lambda_layer_version.org_common.arn }
output "api_routes" {
  value = [
    { method = "GET", path = "/profiles/me", integration = aws_lambda_function.profiles.invoke_arn, public = false },
  ]
}
"#,
    );
    for f in ["workspace", "chat", "agents-a", "agents-b"] {
        function_dir(
            &stack,
            "module-ai",
            f,
            &format!("import org_common{HANDLER}"),
        );
    }
    write(
        &stack.join("packages/module-ai/infrastructure/main.tf"),
        r#"locals {
  lambda_runtime = "python3.13"
  agents         = { a = "agents-a.zip", b = "agents-b.zip" }
}
variable "env" { type = string }
variable "workspace_lambda_zip" {
  type    = string
  default = "../backend/.build/workspace.zip"
}
variable "org_common_layer_arn" {
  type    = string
  default = null
}
variable "voice_common_layer_arn" {
  type    = string
  default = null
}
data "aws_lambda_layer_version" "org_common" {
  layer_name = "${var.env}-access-common"
}
resource "aws_lambda_function" "workspace" {
  function_name = "${var.env}-workspace"
  filename      = "${path.module}/${var.workspace_lambda_zip}"
  handler       = "lambda_function.lambda_handler"
  runtime       = local.lambda_runtime
  layers        = compact([var.org_common_layer_arn, var.voice_common_layer_arn])
}
resource "aws_lambda_function" "chat" {
  function_name = "${var.env}-chat"
  filename      = "${path.module}/../backend/.build/chat.zip"
  handler       = "lambda_function.lambda_handler"
  runtime       = local.lambda_runtime
  layers        = [data.aws_lambda_layer_version.org_common.arn]
}
resource "aws_lambda_function" "agents" {
  for_each      = local.agents
  function_name = "${var.env}-agents-${each.key}"
  filename      = "${path.module}/../backend/.build/${each.value}"
  handler       = "lambda_function.lambda_handler"
  runtime       = local.lambda_runtime
  layers        = tolist([var.org_common_layer_arn])
}
"#,
    );
    layer_dir(&stack, "module-voice", "voice-common", "voice_common");
    function_dir(
        &stack,
        "module-voice",
        "voice",
        &format!("import voice_common{HANDLER}"),
    );
    write(
        &stack.join("packages/module-voice/infrastructure/main.tf"),
        r#"variable "env" { type = string }
variable "enable_voice_layer" { type = bool }
module "layers" {
  source = "./layers"
  env    = var.env
}
resource "aws_lambda_function" "voice" {
  function_name = "${var.env}-voice"
  filename      = "${path.module}/../backend/.build/voice.zip"
  handler       = "lambda_function.lambda_handler"
  runtime       = "python3.13"
  architectures = ["arm64"]
  layers        = var.enable_voice_layer ? [module.layers.voice_common_layer_arn] : []
}
output "voice_common_layer_arn" { value = module.layers.voice_common_layer_arn }
"#,
    );
    write(
        &stack.join("packages/module-voice/infrastructure/layers/main.tf"),
        r#"variable "env" { type = string }
resource "aws_lambda_layer_version" "voice_common" {
  layer_name               = "${var.env}-voice-common"
  filename                 = "${path.root}/../../../acme-stack/packages/module-voice/backend/.build/voice-common-layer.zip"
  compatible_architectures = ["arm64", "x86_64"]
}
output "voice_common_layer_arn" { value = aws_lambda_layer_version.voice_common.arn }
"#,
    );
    write(
        &tmp.path().join("acme-infra/envs/dev/main.tf"),
        r#"variable "env" { default = "dev" }
variable "enable_voice_layer" { type = bool }
module "module_access" {
  source = "../../../acme-stack/packages/module-access/infrastructure"
  env    = var.env
}
module "module_ai" {
  source                 = "../../../acme-stack/packages/module-ai/infrastructure"
  env                    = var.env
  org_common_layer_arn   = module.module_access.org_common_layer_arn
  voice_common_layer_arn = module.module_voice.voice_common_layer_arn
}
module "module_voice" {
  source             = "../../../acme-stack/packages/module-voice/infrastructure"
  env                = var.env
  enable_voice_layer = var.enable_voice_layer
}
"#,
    );
    Patterns { tmp, stack }
}

fn model(p: &Patterns) -> serde_json::Value {
    let out = p.xtask(&["stack", "--json"]).ok();
    let json = out.json();
    assert_eq!(json["schema"], 1);
    json
}

#[test]
fn a_zip_named_by_a_variable_default_under_path_module_is_the_artifact_that_builds_it() {
    let p = patterns();
    let json = model(&p);
    let ws = Patterns::function(&json, "aws_lambda_function.workspace");
    assert_eq!(
        ws["code"]["zip"]["artifact"], "module-ai/workspace",
        "{ws:#}"
    );
    assert_eq!(
        ws["code"]["zip"]["path"],
        "acme-stack/packages/module-ai/backend/.build/workspace.zip"
    );
    assert_eq!(ws["runtime"], "python3.13", "runtime read from a local");
    assert_eq!(ws["handler"], "lambda_function.lambda_handler");
}

#[test]
fn layers_through_compact_of_module_variables_resolve_to_the_zips_built_here() {
    let p = patterns();
    let json = model(&p);
    assert_eq!(
        Patterns::layer_artifacts(&json, "aws_lambda_function.workspace"),
        ["module-access/org-common", "module-voice/voice-common"]
    );
}

#[test]
fn a_layer_data_source_by_layer_name_is_the_layer_the_same_env_deploys() {
    let p = patterns();
    let json = model(&p);
    assert_eq!(
        Patterns::layer_artifacts(&json, "aws_lambda_function.chat"),
        ["module-access/org-common"]
    );
}

#[test]
fn for_each_functions_are_one_function_per_key_with_each_value_zip() {
    let p = patterns();
    let json = model(&p);
    for k in ["a", "b"] {
        let f = Patterns::function(&json, &format!("aws_lambda_function.agents[\"{k}\"]"));
        assert_eq!(
            f["code"]["zip"]["artifact"],
            format!("module-ai/agents-{k}")
        );
        assert_eq!(f["function_name"], format!("dev-agents-{k}"));
        assert_eq!(
            Patterns::layer_artifacts(&json, &format!("agents[\"{k}\"]")),
            ["module-access/org-common"]
        );
    }
}

#[test]
fn a_conditional_layer_list_on_an_unset_variable_keeps_the_layer_marked_with_file_and_line() {
    let p = patterns();
    let json = model(&p);
    let voice = Patterns::function(&json, "aws_lambda_function.voice");
    assert_eq!(voice["architectures"], serde_json::json!(["arm64"]));
    assert_eq!(
        Patterns::layer_artifacts(&json, "aws_lambda_function.voice"),
        ["module-voice/voice-common"],
        "a layer published two modules down"
    );
    let cond = &voice["layers"][0]["conditional"];
    assert_eq!(cond["why"]["kind"], "no_default", "{voice:#}");
    assert_eq!(cond["why"]["variable"], "enable_voice_layer");
    assert_eq!(cond["at"]["file"], "acme-infra/envs/dev/main.tf");
    assert_eq!(cond["at"]["line"], 2);
    let text = p.xtask(&["stack", "voice"]).ok().stdout;
    assert!(
        text.contains("only if: var.enable_voice_layer has no value here")
            && text.contains("acme-infra/envs/dev/main.tf:2"),
        "{text}"
    );
}

#[test]
fn routes_and_the_gateway_permission_reach_the_function() {
    let p = patterns();
    let json = model(&p);
    let f = Patterns::function(&json, "aws_lambda_function.profiles");
    assert_eq!(f["routes"][0]["method"], "GET");
    assert_eq!(f["routes"][0]["path"], "/profiles/me");
    assert_eq!(
        f["permissions"],
        serde_json::json!(["module.module_access.aws_lambda_permission.api"])
    );
    assert!(f["source_code_hash"]
        .as_str()
        .unwrap()
        .ends_with("module-access/backend/.build/profiles.zip"));
}

#[test]
fn an_unknown_function_name_is_a_usage_error_listing_the_functions() {
    let p = patterns();
    let out = p.xtask(&["stack", "nope"]);
    assert_eq!(out.code, 64, "{out:?}");
    assert!(out.stderr.contains("no function `nope`") && out.stderr.contains("workspace"));
    let out = p.xtask(&["stack", "--env", "prod"]);
    assert_eq!(out.code, 64, "{out:?}");
    assert!(out.stderr.contains("no env `prod`") && out.stderr.contains("envs are dev"));
}

#[test]
fn smoke_imports_through_layers_reached_by_compact_and_by_a_data_source() {
    let Some(_) = crate::smoke::python313() else {
        return;
    };
    let p = patterns();
    p.offline_installs();
    let out = p.xtask(&["smoke", "--json"]);
    let json = out.json();
    let status = |name: &str| {
        json["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {json:#}"))
            .clone()
    };
    // `import org_common` resolves only through the attached layer.
    for name in ["workspace", "chat", "agents-a", "profiles"] {
        assert_eq!(
            status(name)["status"],
            "passed",
            "{:#}\n{}",
            status(name),
            out.stderr
        );
    }
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// One source of truth, checked: for every function of the pattern stack, the layers `stack`
/// resolves are the ones the build measures (`build --json`), `size` counts, `smoke` imports
/// with, and `check` allows imports from. (verify, which needs a deploy: in
/// `the_demo_plans_applies_and_stays_in_sync_on_a_local_aws`.)
#[test]
fn build_size_smoke_and_check_see_the_layers_the_stack_model_resolves() {
    let p = patterns();
    p.offline_installs();
    // `chat` carries org-common only: importing voice-common's package is wrong for every pass.
    function_dir(
        &p.stack,
        "module-ai",
        "chat",
        &format!("import org_common\nimport voice_common{HANDLER}"),
    );
    let model = model(&p);
    let expected = model_layers(&model);
    assert_eq!(expected.len(), 6, "{expected:#?}");
    assert_eq!(
        expected["module-ai/workspace"],
        ["module-access/org-common", "module-voice/voice-common"]
    );
    let build = p.xtask(&["build", "--json"]).ok().json();
    assert_eq!(layers_by_function(&build, "artifacts"), expected, "build");
    let size = p.xtask(&["size", "--json"]).ok().json();
    assert_eq!(layers_by_function(&size, "artifacts"), expected, "size");

    let check = p.xtask(&["check", "--json"]).json();
    let f18: Vec<String> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "F18-unresolved-import")
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        f18,
        ["acme-stack/packages/module-ai/backend/lambdas/chat/lambda_function.py"],
        "check allows exactly what the attached layers provide: {check:#}"
    );

    if crate::smoke::python313().is_none() {
        return;
    }
    let smoke = p.xtask(&["smoke", "--json", "--no-build"]).json();
    for f in smoke["functions"].as_array().unwrap() {
        let chat = f["module"] == "module-ai" && f["name"] == "chat";
        let want = if chat { "failed" } else { "passed" };
        assert_eq!(f["status"], want, "{f:#}");
    }
    let imported = layers_by_function(&smoke, "functions");
    assert_eq!(imported, expected, "smoke");
}

#[test]
fn check_sees_a_layer_published_by_a_nested_module_as_deployed() {
    let p = patterns();
    let check = p.xtask(&["check", "--json"]).json();
    let unused: Vec<&serde_json::Value> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "F14-zip-unused" || f["code"] == "F14-zip-unverified")
        .collect();
    assert!(unused.is_empty(), "{unused:#?}");
}

#[test]
fn check_reads_a_runtime_the_env_passes_and_names_one_it_cannot_know() {
    let p = patterns();
    let voice = p.stack.join("packages/module-voice/infrastructure/main.tf");
    let text = std::fs::read_to_string(&voice).unwrap().replace(
        "  runtime       = \"python3.13\"\n  architectures",
        "  runtime       = var.voice_runtime\n  architectures",
    )
        + "variable \"voice_runtime\" {\n  type    = string\n  default = \"python3.13\"\n}\n";
    write(&voice, &text);
    let env = p.tmp.path().join("acme-infra/envs/dev/main.tf");
    let env_text = std::fs::read_to_string(&env).unwrap().replace(
        "  enable_voice_layer = var.enable_voice_layer\n",
        "  enable_voice_layer = var.enable_voice_layer\n  voice_runtime      = \"python3.12\"\n",
    );
    write(&env, &env_text);
    let findings = |p: &Patterns| {
        let json = p.xtask(&["check", "--json"]).json();
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"].as_str().unwrap().starts_with("F4-"))
            .map(|f| {
                format!(
                    "{} {}:{} {}",
                    f["code"].as_str().unwrap(),
                    f["file"].as_str().unwrap(),
                    f["line"],
                    f["message"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    let f4 = findings(&p);
    assert_eq!(f4.len(), 1, "{f4:#?}");
    assert!(
        f4[0].starts_with("F4-runtime acme-stack/packages/module-voice/infrastructure/main.tf:11")
            && f4[0].contains("runtime \"python3.12\""),
        "{f4:#?}"
    );
    // The env passes a root variable without a default: not known offline, and said so.
    write(
        &env,
        &(env_text.replace(
            "voice_runtime      = \"python3.12\"",
            "voice_runtime      = var.runtime",
        ) + "variable \"runtime\" { type = string }\n"),
    );
    let f4 = findings(&p);
    assert_eq!(f4.len(), 1, "{f4:#?}");
    assert!(
        f4[0].starts_with("F4-runtime-unverified")
            && f4[0].contains("not checked: var.runtime has no value here")
            && f4[0].contains("acme-infra/envs/dev/main.tf:"),
        "{f4:#?}"
    );
}

#[test]
fn check_compares_source_code_hash_and_filename_as_the_model_evaluates_them() {
    let p = patterns();
    let ai = p.stack.join("packages/module-ai/infrastructure/main.tf");
    let text = std::fs::read_to_string(&ai).unwrap();
    let f13 = |p: &Patterns| -> Vec<String> {
        let json = p.xtask(&["check", "--json"]).json();
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == "F13-hash-mismatch")
            .filter(|f| f["message"].as_str().unwrap().contains("workspace"))
            .map(|f| f["message"].as_str().unwrap().to_string())
            .collect()
    };
    // Spelled differently, the same zip: nothing to say.
    let same = text.replace(
        "  filename      = \"${path.module}/${var.workspace_lambda_zip}\"\n",
        "  filename      = \"${path.module}/${var.workspace_lambda_zip}\"\n  source_code_hash = filebase64sha256(\"${path.module}/../backend/.build/workspace.zip\")\n",
    );
    write(&ai, &same);
    assert_eq!(f13(&p), Vec::<String>::new());
    // Another zip: the hash never changes when the deployed one does.
    write(
        &ai,
        &same.replace("build/workspace.zip\")", "build/chat.zip\")"),
    );
    let found = f13(&p);
    assert_eq!(found.len(), 1, "{found:#?}");
}

#[test]
fn a_build_for_an_env_that_does_not_exist_says_whose_layers_it_read() {
    let p = patterns();
    let out = p.xtask(&["build", "--env", "prod"]).ok();
    assert!(
        out.stderr.contains("no env `prod`")
            && out.stderr.contains("(envs: dev)")
            && out.stderr.contains("pass --env"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_layer_the_budget_cannot_measure_is_said_by_the_build() {
    let p = patterns();
    // An external ARN cannot be measured: the build says so instead of counting nothing.
    let ai = p.stack.join("packages/module-ai/infrastructure/main.tf");
    let text = std::fs::read_to_string(&ai).unwrap().replace(
        "layers        = [data.aws_lambda_layer_version.org_common.arn]",
        "layers        = [data.aws_lambda_layer_version.org_common.arn, \"arn:aws:lambda:us-east-1:017000801446:layer:Powertools:3\"]",
    );
    write(&ai, &text);
    let out = p.xtask(&["build", "--json"]).ok();
    let chat = out.json()["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "chat")
        .unwrap()
        .clone();
    assert_eq!(
        chat["warnings"],
        serde_json::json!(["layer 2 is not in the 250 MiB budget: arn:aws:lambda:us-east-1:017000801446:layer:Powertools:3 is published elsewhere"]),
        "{chat:#}"
    );
}

#[test]
fn smoke_names_the_unknown_when_a_zip_is_named_by_a_variable_without_a_value() {
    let Some(_) = crate::smoke::python313() else {
        return;
    };
    let p = patterns();
    p.offline_installs();
    let ai = p.stack.join("packages/module-ai/infrastructure/main.tf");
    let text = std::fs::read_to_string(&ai).unwrap().replace(
        "  type    = string\n  default = \"../backend/.build/workspace.zip\"\n",
        "  type    = string\n",
    );
    write(&ai, &text);
    let json = p.xtask(&["smoke", "--json", "--allow-skip"]).json();
    let ws = json["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "workspace")
        .unwrap()
        .clone();
    assert_eq!(ws["status"], "skipped", "{ws:#}");
    let why = ws["error"].as_str().unwrap();
    assert!(
        why.contains("module.module_ai.aws_lambda_function.workspace's zip is not checked: var.workspace_lambda_zip has no value here")
            && why.contains("acme-stack/packages/module-ai/infrastructure/main.tf:6"),
        "{why}"
    );
}

#[test]
fn check_reads_a_layers_compatible_runtimes_through_a_variable() {
    let p = patterns();
    let access = p
        .stack
        .join("packages/module-access/infrastructure/main.tf");
    let text = std::fs::read_to_string(&access).unwrap().replace(
        "  compatible_runtimes = [\"python3.13\"]\n",
        "  compatible_runtimes = var.layer_runtimes\n",
    ) + "variable \"layer_runtimes\" {\n  type    = list(string)\n  default = [\"python3.12\"]\n}\n";
    write(&access, &text);
    let json = p.xtask(&["check", "--json"]).json();
    let f4: Vec<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"].as_str().unwrap().starts_with("F4-"))
        .map(|f| {
            format!(
                "{} line {}: {}",
                f["code"].as_str().unwrap(),
                f["line"],
                f["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        f4,
        ["F4-runtime line 6: aws_lambda_layer_version.org_common is marked compatible with python3.12 (as the stack model evaluates it) but the build targets python3.13"]
    );
}

#[test]
fn check_reads_a_routed_functions_timeout_through_a_variable() {
    let p = patterns();
    let access = p
        .stack
        .join("packages/module-access/infrastructure/main.tf");
    let original = std::fs::read_to_string(&access).unwrap();
    let with = |decl: &str| {
        original.replace(
            "  runtime          = \"python3.13\"\n  layers",
            "  runtime          = \"python3.13\"\n  timeout          = var.api_timeout\n  layers",
        ) + decl
    };
    let f17 = |p: &Patterns| -> Vec<String> {
        let json = p.xtask(&["check", "--json"]).json();
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"].as_str().unwrap().starts_with("F17-timeout"))
            .map(|f| {
                format!(
                    "{}: {}",
                    f["code"].as_str().unwrap(),
                    f["message"].as_str().unwrap()
                )
            })
            .collect()
    };
    write(
        &access,
        &with("variable \"api_timeout\" { default = 60 }\n"),
    );
    assert_eq!(
        f17(&p),
        ["F17-timeout: aws_lambda_function.profiles has timeout = 60 but is routed through the HTTP API, whose integrations give up after 30 s"]
    );
    write(
        &access,
        &with("variable \"api_timeout\" { type = number }\n"),
    );
    let found = f17(&p);
    assert!(
        found.len() == 1
            && found[0].starts_with("F17-timeout-unverified: aws_lambda_function.profiles is routed through the HTTP API and its timeout is not checked: var.api_timeout has no value here"),
        "{found:#?}"
    );
}
