//! The trace of what a fresh env's plan cannot know, and data sources that read their own env.

use super::*;
use crate::stack::lookups;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// An env calling `./m` (whose files are `module`) with `args`, plus `root` in the env.
fn tree(root: &str, module: &str) -> (tempfile::TempDir, Tree) {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "env/main.tf", root);
    write(d.path(), "env/m/main.tf", module);
    let t = Tree::load(&d.path().join("env"));
    (d, t)
}

#[test]
fn a_count_on_a_created_resources_arn_through_a_local_and_an_output_is_unknown() {
    let (_d, t) = tree(
        r#"
resource "aws_lambda_function" "auth" { function_name = "auth" }
locals { auth = aws_lambda_function.auth.arn }
module "gw" {
  source   = "./m"
  auth_arn = local.auth
  name     = aws_lambda_function.auth.function_name
}
resource "aws_sns_topic" "t" { count = module.gw.enabled ? 1 : 0 }
"#,
        r#"
variable "auth_arn" {}
variable "name" {}
output "enabled" { value = var.auth_arn != "" }
resource "aws_lambda_permission" "p" { count = var.name != "" ? 1 : 0 }
"#,
    );
    let found = t.unknown_counts();
    // The permission counts on a name set in the configuration: known.
    assert_eq!(
        found.len(),
        1,
        "{:?}",
        found.iter().map(|u| &u.address).collect::<Vec<_>>()
    );
    let u = &found[0];
    assert_eq!((u.address.as_str(), u.meta), ("aws_sns_topic.t", "count"));
    assert_eq!(
        (u.why.resource.as_str(), u.why.attr.as_str()),
        ("aws_lambda_function.auth", "arn")
    );
    let texts: Vec<&str> = u.why.steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "resource \"aws_sns_topic\" \"t\" { count = module.gw.enabled ? 1 : 0 }",
            "output \"enabled\" { value = var.auth_arn != \"\" }",
            "module.gw: var.auth_arn = local.auth",
            "locals { auth = aws_lambda_function.auth.arn }",
            "aws_lambda_function.auth.arn is known only after apply",
        ]
    );
}

#[test]
fn a_for_each_keyed_by_literal_route_keys_is_known_though_its_values_are_not() {
    let (_d, t) = tree(
        r#"
resource "aws_lambda_function" "f" { function_name = "f" }
module "gw" {
  source = "./m"
  routes = concat([
    { method = "GET", path = "/a", integration = aws_lambda_function.f.invoke_arn },
  ], [])
  arns = { for k in ["a", "b"] : k => aws_lambda_function.f.arn }
}
"#,
        r#"
variable "routes" {}
variable "arns" {}
locals { routes = { for r in var.routes : "${r.method} ${r.path}" => r } }
resource "aws_apigatewayv2_route" "r" { for_each = local.routes }
resource "aws_lambda_permission" "p" { for_each = var.arns }
resource "aws_lambda_permission" "q" { for_each = toset([for r in var.routes : r.integration]) }
"#,
    );
    let found: Vec<String> = t.unknown_counts().into_iter().map(|u| u.address).collect();
    // Only the set built from the invoke ARNs themselves has unknown keys.
    assert_eq!(found, ["module.gw.aws_lambda_permission.q"]);
}

#[test]
fn a_data_source_whose_arguments_wait_for_the_apply_makes_its_attributes_unknown() {
    let (_d, t) = tree(
        r#"
resource "aws_iam_role" "r" { name = "x" }
data "aws_iam_policy_document" "d" { source_policy_documents = [aws_iam_role.r.arn] }
resource "aws_sns_topic" "t" { count = data.aws_iam_policy_document.d.json != "" ? 1 : 0 }
"#,
        "",
    );
    let found = t.unknown_counts();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].why.resource, "aws_iam_role.r");
}

#[test]
fn addresses_are_declared_with_or_without_instance_keys() {
    let (_d, t) = tree(
        r#"
module "m" { source = "./m" }
module "reg" { source = "terraform-aws-modules/lambda/aws" }
data "aws_caller_identity" "me" {}
"#,
        r#"resource "aws_lambda_function" "f" { count = 2 }"#,
    );
    assert_eq!(
        t.addresses(),
        [
            "data.aws_caller_identity.me",
            "module.m",
            "module.m.aws_lambda_function.f",
            "module.reg"
        ]
    );
    assert!(t.declares("module.m[0].aws_lambda_function.f[1]"));
    assert!(t.declares("module.m.aws_lambda_function.f[\"a.b\"]"));
    // Inside a module whose source is not local: not read, so not refused.
    assert!(t.declares("module.reg.aws_lambda_function.this"));
    assert!(!t.declares("module.n"));
    assert!(!t.declares("module.m.aws_lambda_function.g"));
}

#[test]
fn a_data_source_reading_a_layer_the_env_publishes_is_matched_by_its_evaluated_name() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "env/main.tf",
        r#"
variable "project" {}
variable "stage" { default = "dev" }
module "shared" {
  source = "./shared"
  prefix = "${var.project}-${var.stage}"
}
data "aws_lambda_layer_version" "common" { layer_name = "${var.project}-dev-common" }
resource "aws_lambda_function" "f" {
  layers = [data.aws_lambda_layer_version.common.arn]
}
"#,
    );
    write(d.path(), "env/terraform.tfvars", "project = \"acme\"\n");
    write(
        d.path(),
        "env/shared/main.tf",
        r#"
variable "prefix" {}
resource "aws_lambda_layer_version" "common" { layer_name = "${var.prefix}-common" }
output "common_arn" { value = aws_lambda_layer_version.common.arn }
"#,
    );
    let t = Tree::load(&d.path().join("env"));
    let found = t.own_lookups();
    assert_eq!(found.len(), 1);
    let l = &found[0];
    assert_eq!(l.value, "acme-dev-common");
    assert_eq!(l.resource, "module.shared.aws_lambda_layer_version.common");
    assert_eq!(
        l.instead,
        Some((
            "module.shared.common_arn".into(),
            "module.shared.common_arn".into()
        ))
    );
    // The use replaced and the block removed.
    let text = &t.files(0)[l.splices[0].file].text;
    let mut out = text.clone();
    let mut splices: Vec<&lookups::Splice> = l.splices.iter().collect();
    splices.sort_by_key(|s| std::cmp::Reverse(s.range.start));
    for s in splices {
        out.replace_range(s.range.clone(), &s.text);
    }
    assert!(!out.contains("data "), "{out}");
    assert!(out.contains("layers = [module.shared.common_arn]"), "{out}");
    crate::stack::hcl::parse_body(&out).unwrap();
}

#[test]
fn a_name_built_by_a_function_is_compared_as_the_evaluator_computes_it() {
    let (_d, t) = tree(
        r#"
variable "p" { default = "acme" }
resource "aws_iam_role" "r" { name = format("%s-role", lower(var.p)) }
data "aws_iam_role" "r" { name = "acme-role" }
"#,
        "",
    );
    let found = t.own_lookups();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].resource, "aws_iam_role.r");
    assert_eq!(found[0].value, "acme-role");
    // In the same module: the resource itself replaces the data source.
    assert_eq!(
        found[0].instead,
        Some(("aws_iam_role.r.arn".into(), "aws_iam_role.r.arn".into()))
    );
}
