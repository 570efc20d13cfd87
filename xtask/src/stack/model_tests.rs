//! The model on a CORA-shaped stack: an env calling two modules, layers passed through
//! variables and a data source, a zip named by a variable's default.

use std::path::{Path, PathBuf};

use super::discover::{Artifact, Kind};
use super::model::{Code, Field, LayerTarget, Model};
use super::value::Why;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, text) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn artifact(stack: &Path, module: &str, name: &str, kind: Kind, zip: &str) -> Artifact {
    let m = stack.join("packages").join(module).join("backend");
    Artifact {
        module: module.into(),
        name: name.into(),
        kind,
        src: m
            .join(if kind == Kind::Layer {
                "layers"
            } else {
                "lambdas"
            })
            .join(name),
        out: m.join(".build").join(zip),
        requirements: None,
    }
}

const ACCESS: &str = r#"locals { build = "${path.module}/../backend/.build" }
resource "aws_lambda_layer_version" "common" {
  layer_name               = "${var.env}-access-common"
  filename                 = "${local.build}/org-common-layer.zip"
  compatible_runtimes      = ["python3.13"]
  compatible_architectures = ["arm64"]
}
resource "aws_lambda_function" "profiles" {
  function_name    = "${var.env}-profiles"
  filename         = "${local.build}/profiles.zip"
  source_code_hash = filebase64sha256("${local.build}/profiles.zip")
  handler          = "lambda_function.lambda_handler"
  runtime          = "python3.13"
  architectures    = ["arm64"]
  layers           = [aws_lambda_layer_version.common.arn]
  environment { variables = { TABLE = "profiles", KEY = var.secret } }
}
resource "aws_lambda_permission" "api" {
  principal     = "apigateway.amazonaws.com"
  function_name = aws_lambda_function.profiles.function_name
}
variable "env" {}
variable "secret" { sensitive = true }
output "org_common_layer_arn" { value = aws_lambda_layer_version.common.arn }
output "api_routes" {
  value = [{ method = "GET", path = "/profiles/me", integration = aws_lambda_function.profiles.invoke_arn, public = false }]
}
"#;

const AI: &str = r#"locals { lambda_runtime = "python3.13" }
variable "env" {}
variable "workspace_lambda_zip" { default = "../backend/.build/workspace.zip" }
variable "org_common_layer_arn" { default = null }
variable "voice_common_layer_arn" { default = null }
variable "extra_layers" {}
data "aws_lambda_layer_version" "common" { layer_name = "${var.env}-access-common" }
resource "aws_lambda_function" "workspace" {
  filename = "${path.module}/${var.workspace_lambda_zip}"
  handler  = "lambda_function.lambda_handler"
  runtime  = local.lambda_runtime
  layers   = compact([var.org_common_layer_arn, var.voice_common_layer_arn])
}
resource "aws_lambda_function" "chat" {
  for_each = { chat = "chat.zip", voice = "voice.zip" }
  filename = "${path.module}/../backend/.build/${each.value}"
  runtime  = local.lambda_runtime
  layers   = concat([data.aws_lambda_layer_version.common.arn], var.extra_layers)
}
"#;

const ENV: &str = r#"variable "env" { default = "dev" }
module "module_access" {
  source = "../../../acme-stack/packages/module-access/infrastructure"
  env    = var.env
  secret = "never-read"
}
module "module_ai" {
  source               = "../../../acme-stack/packages/module-ai/infrastructure"
  env                  = var.env
  org_common_layer_arn = module.module_access.org_common_layer_arn
  extra_layers         = var.flag ? ["arn:aws:lambda:us-east-1:1:layer:x:1"] : []
}
variable "flag" {}
"#;

fn load() -> (Model, tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            (
                "acme-stack/packages/module-access/infrastructure/main.tf",
                ACCESS,
            ),
            ("acme-stack/packages/module-ai/infrastructure/main.tf", AI),
            ("acme-infra/envs/dev/main.tf", ENV),
        ],
    );
    let stack = d.path().join("acme-stack");
    let arts = vec![
        artifact(
            &stack,
            "module-access",
            "org-common",
            Kind::Layer,
            "org-common-layer.zip",
        ),
        artifact(
            &stack,
            "module-access",
            "profiles",
            Kind::Function,
            "profiles.zip",
        ),
        artifact(
            &stack,
            "module-ai",
            "workspace",
            Kind::Function,
            "workspace.zip",
        ),
        artifact(&stack, "module-ai", "chat", Kind::Function, "chat.zip"),
    ];
    let m = Model::load(&stack, Some(&d.path().join("acme-infra")), "dev", &arts);
    (m, d, stack)
}

#[test]
fn every_function_gets_its_zip_and_layers_however_the_module_writes_them() {
    let (m, _d, _) = load();
    let f = |a: &str| {
        m.functions
            .iter()
            .find(|f| f.address == a)
            .unwrap_or_else(|| panic!("{a}: {:#?}", m.functions))
    };
    let profiles = f("module.module_access.aws_lambda_function.profiles");
    assert!(
        matches!(&profiles.code, Code::Zip { artifact: Some(a), .. } if a == "module-access/profiles")
    );
    assert_eq!(profiles.runtime, Some(Field::Known("python3.13".into())));
    assert_eq!(
        profiles.architectures,
        Some(Field::Known(vec!["arm64".into()]))
    );
    assert_eq!(
        profiles.environment,
        Field::Known(vec!["TABLE".into(), "KEY".into()])
    );
    assert_eq!(m.layer_artifacts(profiles), ["module-access/org-common"]);
    assert_eq!(profiles.routes.len(), 1);
    assert_eq!(
        profiles.permissions,
        ["module.module_access.aws_lambda_permission.api"]
    );
    assert!(
        matches!(&profiles.source_code_hash, Some(Field::Known(p)) if p.ends_with("profiles.zip"))
    );

    let ws = f("module.module_ai.aws_lambda_function.workspace");
    assert!(
        matches!(&ws.code, Code::Zip { artifact: Some(a), .. } if a == "module-ai/workspace"),
        "{:?}",
        ws.code
    );
    assert_eq!(ws.runtime, Some(Field::Known("python3.13".into())));
    assert_eq!(
        m.layer_artifacts(ws),
        ["module-access/org-common"],
        "compact() drops the null"
    );

    let chat = f("module.module_ai.aws_lambda_function.chat[\"chat\"]");
    assert!(matches!(&chat.code, Code::Zip { artifact: Some(a), .. } if a == "module-ai/chat"));
    assert_eq!(
        m.layer_artifacts(chat),
        ["module-access/org-common"],
        "the data source is the deployed layer"
    );
    match &chat.layers[1].target {
        LayerTarget::External { arn } => assert!(arn.ends_with("layer:x:1")),
        other => panic!("{other:?}"),
    }
    let cond = chat.layers[1]
        .conditional
        .as_ref()
        .expect("attached on one arm");
    assert_eq!(
        cond.why,
        Why::NoDefault {
            variable: "flag".into()
        }
    );
    assert!(chat.layers[0].conditional.is_none());
    let layer = m
        .layer("module.module_access.aws_lambda_layer_version.common")
        .unwrap();
    assert_eq!(layer.users.len(), 4);
    assert_eq!(
        layer.compatible_architectures,
        Some(Field::Known(vec!["arm64".into()]))
    );
    assert!(m.unknowns.iter().any(|u| u.why
        == Why::NoDefault {
            variable: "flag".into()
        }));
    assert!(!format!("{m:?}").contains("never-read"));
    let lookup = m
        .data_lookups
        .iter()
        .find(|d| d.address == "module.module_ai.data.aws_lambda_layer_version.common")
        .unwrap();
    assert_eq!(
        lookup.deployed,
        "module.module_access.aws_lambda_layer_version.common"
    );
    assert!(
        m.unknown_expansions.is_empty(),
        "{:?}",
        m.unknown_expansions
    );
}

#[test]
fn a_count_unknown_because_of_a_resource_this_config_creates_names_the_chain() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), &[
        ("env/main.tf", "resource \"aws_iam_role\" \"r\" { name = \"dev-role\" }\nmodule \"m\" {\n  source = \"../m\"\n  role   = aws_iam_role.r.arn\n}\n"),
        ("m/main.tf", "variable \"role\" {}\nresource \"aws_cloudwatch_log_group\" \"g\" {\n  count = var.role != \"\" ? 1 : 0\n}\ndata \"aws_iam_role\" \"r\" { name = \"dev-role\" }\n"),
    ]);
    let m = Model::from_roots(vec![d.path().join("env")], &[]);
    let [x] = m.unknown_expansions.as_slice() else {
        panic!("{:?}", m.unknown_expansions)
    };
    assert_eq!(x.address, "module.m.aws_cloudwatch_log_group.g");
    assert_eq!(
        x.unknown.why,
        Why::ResourceAttr {
            address: "aws_iam_role.r".into(),
            attr: "arn".into()
        }
    );
    assert_eq!(
        (
            x.unknown.at.line,
            x.unknown.via.iter().map(|s| s.line).collect::<Vec<_>>()
        ),
        (4, vec![3])
    );
    let lookup = &m.data_lookups[0];
    assert_eq!(lookup.deployed, "aws_iam_role.r");
}

#[test]
fn without_an_infra_env_each_package_is_its_own_root() {
    let (_m, d, stack) = load();
    let m = Model::load(&stack, Some(&d.path().join("nowhere")), "dev", &[]);
    assert_eq!(m.roots.len(), 2);
    let ws = m
        .functions
        .iter()
        .find(|f| f.address == "aws_lambda_function.workspace")
        .unwrap();
    // No caller: the layer variables keep their null defaults.
    assert!(ws.layers.is_empty(), "{:?}", ws.layers);
}

#[test]
fn count_zero_deploys_nothing_an_unknown_count_keeps_the_function_marked() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        &[
            (
                "env/main.tf",
                r#"variable "enabled" {}
module "off" {
  source = "../m"
  count  = 0
}
module "on" { source = "../m" }
resource "aws_lambda_function" "none" {
  count    = 0
  filename = "x.zip"
}
resource "aws_lambda_function" "maybe" {
  count    = var.enabled ? 1 : 0
  filename = "y.zip"
}
resource "aws_lambda_function" "s3" {
  s3_bucket = "b"
  s3_key    = "code/z.zip"
}
resource "aws_lambda_function" "remote" {
  filename = "r.zip"
  layers   = [module.vendor.layer_arn]
}
module "vendor" { source = "terraform-aws-modules/lambda/aws" }
"#,
            ),
            (
                "m/main.tf",
                "resource \"aws_lambda_function\" \"f\" { filename = \"f.zip\" }\n",
            ),
        ],
    );
    let m = Model::from_roots(vec![d.path().join("env")], &[]);
    let addresses: Vec<&str> = m.functions.iter().map(|f| f.address.as_str()).collect();
    assert_eq!(
        addresses,
        [
            "aws_lambda_function.maybe",
            "aws_lambda_function.s3",
            "aws_lambda_function.remote",
            "module.on.aws_lambda_function.f"
        ]
    );
    let maybe = &m.functions[0];
    let u = maybe.instances.as_ref().expect("kept once, marked");
    assert_eq!(
        u.why,
        Why::NoDefault {
            variable: "enabled".into()
        }
    );
    assert!(
        matches!(&m.functions[1].code, Code::S3 { key: Field::Known(k), .. } if k == "code/z.zip")
    );
    let LayerTarget::Unknown { unknown } = &m.functions[2].layers[0].target else {
        panic!()
    };
    assert!(matches!(&unknown.why, Why::RemoteModule { call, .. } if call == "vendor"));
    assert_eq!(unknown.at.line, 23, "the module call");
    // Every unknown once, by where it is written.
    let spans: Vec<usize> = m.unknowns.iter().map(|u| u.at.line).collect();
    assert_eq!(spans, [1, 23]);
    let text = super::model::not_checked(unknown, d.path());
    assert_eq!(
        text,
        "not checked: module \"vendor\" comes from terraform-aws-modules/lambda/aws, not a local directory at env/main.tf:23 (via env/main.tf:21)"
    );
}

#[test]
fn the_directories_the_model_read_are_handed_out_not_parsed_again() {
    let (m, d, stack) = load();
    let tree = m.tree.as_ref().unwrap();
    let env = d.path().join("acme-infra/envs/dev");
    for dir in [stack.join("packages/module-ai/infrastructure"), env] {
        // check asks with the same (canonical) paths the model read.
        assert!(
            tree.ev.instances.iter().any(|i| i.src.dir == dir),
            "{dir:?} not read by the model"
        );
        let (files, errors) = m.parsed(&dir);
        assert!(errors.is_empty());
        let text = std::fs::read_to_string(dir.join("main.tf")).unwrap();
        assert_eq!(
            files.iter().map(|f| f.text.as_str()).collect::<Vec<_>>(),
            [text.as_str()]
        );
    }
    // A directory the model did not read is parsed when asked.
    write(d.path(), &[("other/main.tf", "variable \"x\" {}\n")]);
    let (files, _) = m.parsed(&d.path().join("other"));
    assert_eq!(files.len(), 1);
}
