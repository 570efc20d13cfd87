//! One test per construct the evaluator follows: each writes a small module tree and reads a
//! root output.

use std::path::Path;

use super::eval::{Evaluator, Span, Value, Why};

fn write(root: &Path, files: &[(&str, &str)]) {
    for (p, text) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// The root output `out` of a tree whose root is `env/`.
fn out(files: &[(&str, &str)]) -> (Value, tempfile::TempDir) {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), files);
    let ev = Evaluator::load(&[d.path().join("env")]);
    let at = Span {
        file: "test".into(),
        line: 0,
    };
    (ev.output(0, "out", &at), d)
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

#[test]
fn literals_locals_and_templates_with_path_module() {
    let (v, d) = out(&[(
        "env/main.tf",
        r#"locals {
  build = "${path.module}/../backend/.build"
  zip   = "${local.build}/x.zip"
}
output "out" { value = [local.zip, 3, true, null, { a = "b" }] }
"#,
    )]);
    let env = d.path().join("env").canonicalize().unwrap();
    let Value::List(l) = v else { panic!("{v:?}") };
    assert_eq!(
        l[0],
        s(&format!("{}/../backend/.build/x.zip", env.display()))
    );
    assert_eq!(l[1], Value::Number(3.0));
    assert_eq!(l[2], Value::Bool(true));
    assert_eq!(l[3], Value::Null);
}

#[test]
fn a_module_argument_wins_over_the_default_several_levels_deep() {
    let (v, _d) = out(&[
        (
            "env/main.tf",
            r#"module "a" {
  source = "../mods/a"
  zip    = "from-env.zip"
}
output "out" { value = [module.a.zip, module.a.deep, module.a.default] }
"#,
        ),
        (
            "mods/a/main.tf",
            r#"variable "zip" { default = "default.zip" }
variable "other" { default = "other-default" }
module "b" {
  source = "../b"
  name   = var.zip
}
output "zip" { value = var.zip }
output "deep" { value = module.b.name }
output "default" { value = var.other }
"#,
        ),
        (
            "mods/b/main.tf",
            r#"variable "name" {}
output "name" { value = "deep-${var.name}" }
"#,
        ),
    ]);
    assert_eq!(
        v,
        Value::List(vec![
            s("from-env.zip"),
            s("deep-from-env.zip"),
            s("other-default")
        ])
    );
}

#[test]
fn a_root_variable_without_default_is_unknown_at_its_declaration_and_sensitive_is_never_read() {
    let (v, _d) = out(&[("env/main.tf", "variable \"x\" {}\nvariable \"k\" {\n  default = \"secret\"\n  sensitive = true\n}\noutput \"out\" { value = [var.x, var.k] }\n")]);
    let Value::List(l) = v else { panic!() };
    let Value::Unknown(u) = &l[0] else {
        panic!("{l:?}")
    };
    assert_eq!(
        u.why,
        Why::NoDefault {
            variable: "x".into()
        }
    );
    assert_eq!(u.at.line, 1);
    let Value::Unknown(u) = &l[1] else {
        panic!("{l:?}")
    };
    assert_eq!(
        u.why,
        Why::Sensitive {
            variable: "k".into()
        }
    );
    assert!(!format!("{l:?}").contains("secret\""));
}

#[test]
fn compact_concat_flatten_coalesce_try_tolist_toset() {
    let (v, _d) = out(&[(
        "env/main.tf",
        r#"variable "a" { default = "A" }
variable "n" { default = null }
locals { m = { k = "v" } }
output "out" {
  value = [
    compact([var.a, var.n, ""]),
    concat(["x"], ["y"], []),
    flatten([["p", ["q"]], "r"]),
    coalesce(var.n, "", "c"),
    try(local.m.missing, "fallback"),
    tolist(toset(["d", "d", "e"])),
  ]
}
"#,
    )]);
    assert_eq!(
        v,
        Value::List(vec![
            Value::List(vec![s("A")]),
            Value::List(vec![s("x"), s("y")]),
            Value::List(vec![s("p"), s("q"), s("r")]),
            s("c"),
            s("fallback"),
            Value::List(vec![s("d"), s("e")]),
        ])
    );
}

#[test]
fn a_conditional_on_an_unknown_keeps_both_arms_and_a_known_one_picks() {
    let (v, _d) = out(&[(
        "env/main.tf",
        r#"variable "on" {}
variable "env" { default = "dev" }
output "out" { value = [var.on ? ["a"] : [], var.env == "prod" ? "p" : "d"] }
"#,
    )]);
    let Value::List(l) = v else { panic!() };
    match &l[0] {
        Value::Conditional { cond, then, else_ } => {
            assert_eq!(
                cond.why,
                Why::NoDefault {
                    variable: "on".into()
                }
            );
            assert_eq!(**then, Value::List(vec![s("a")]));
            assert_eq!(**else_, Value::List(vec![]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(l[1], s("d"));
}

#[test]
fn for_expressions_over_lists_and_maps() {
    let (v, _d) = out(&[(
        "env/main.tf",
        r#"locals { fns = { a = "x.zip", b = "y.zip" } }
output "out" {
  value = [
    [for k, v in local.fns : "${k}=${v}"],
    { for n in ["p", "q"] : n => upper(n) if n != "q" },
  ]
}
"#,
    )]);
    let mut m = std::collections::BTreeMap::new();
    m.insert("p".to_string(), s("P"));
    assert_eq!(
        v,
        Value::List(vec![
            Value::List(vec![s("a=x.zip"), s("b=y.zip")]),
            Value::Map(m)
        ])
    );
}

#[test]
fn locals_in_a_cycle_are_named_not_looped() {
    let (v, _d) = out(&[(
        "env/main.tf",
        "locals {\n  a = local.b\n  b = local.a\n}\noutput \"out\" { value = local.a }\n",
    )]);
    let Value::Unknown(u) = v else {
        panic!("{v:?}")
    };
    let Why::Cycle { chain } = u.why else {
        panic!()
    };
    assert_eq!(chain, ["local.a", "local.b", "local.a"]);
}

#[test]
fn resources_with_count_and_for_each_and_their_attributes() {
    let (v, _d) = out(&[(
        "env/main.tf",
        r#"resource "aws_lambda_layer_version" "l" {
  count      = 2
  layer_name = "layer-${count.index}"
}
resource "aws_lambda_function" "f" {
  for_each      = { a = "x.zip" }
  filename      = each.value
  function_name = "fn-${each.key}"
}
output "out" {
  value = [
    aws_lambda_layer_version.l[1].arn,
    aws_lambda_layer_version.l[1].layer_name,
    aws_lambda_function.f["a"].function_name,
    aws_lambda_function.f["a"].filename,
  ]
}
"#,
    )]);
    let Value::List(l) = v else { panic!() };
    assert!(
        matches!(&l[0], Value::Attr { address, attr, .. } if address == "aws_lambda_layer_version.l[1]" && attr == "arn"),
        "{l:?}"
    );
    assert_eq!(l[1], s("layer-1"));
    assert_eq!(l[2], s("fn-a"));
    assert_eq!(l[3], s("x.zip"));
}

#[test]
fn an_unknown_count_from_a_resource_attribute_carries_the_chain_of_spans() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), &[
        ("env/main.tf", "resource \"aws_iam_role\" \"r\" {}\nmodule \"m\" {\n  source = \"../m\"\n  role   = aws_iam_role.r.arn\n}\n"),
        ("m/main.tf", "variable \"role\" {}\nresource \"aws_lambda_function\" \"f\" {\n  count = var.role == \"\" ? 0 : 1\n}\n"),
    ]);
    let ev = Evaluator::load(&[d.path().join("env")]);
    let (file, block) = ev.instances[1]
        .src
        .resource("aws_lambda_function", "f")
        .unwrap();
    let super::value::Expansion::Unknown(u) = ev.expansion(1, file, block) else {
        panic!()
    };
    assert_eq!(
        u.why,
        Why::ResourceAttr {
            address: "aws_iam_role.r".into(),
            attr: "arn".into()
        }
    );
    assert_eq!(u.at.line, 4, "the argument naming the resource");
    assert!(u.at.file.ends_with("env/main.tf"));
    assert_eq!(
        u.via.iter().map(|s| s.line).collect::<Vec<_>>(),
        [3],
        "the count's line in the child"
    );
}

#[test]
fn a_layer_data_source_by_layer_name_is_the_layer_this_config_deploys() {
    let (v, _d) = out(&[
        (
            "env/main.tf",
            r#"module "common" { source = "../common" }
module "ai" { source = "../ai" }
output "out" { value = module.ai.layers }
"#,
        ),
        (
            "common/main.tf",
            r#"resource "aws_lambda_layer_version" "org" { layer_name = "dev-access-common" }"#,
        ),
        (
            "ai/main.tf",
            r#"data "aws_lambda_layer_version" "org" { layer_name = "dev-access-common" }
data "aws_lambda_layer_version" "ext" { layer_name = "someone-elses" }
output "layers" { value = [data.aws_lambda_layer_version.org.arn, data.aws_lambda_layer_version.ext.arn] }
"#,
        ),
    ]);
    let Value::List(l) = v else { panic!() };
    assert!(
        matches!(&l[0], Value::Attr { address, .. } if address == "module.common.aws_lambda_layer_version.org"),
        "{l:?}"
    );
    assert!(
        matches!(&l[1], Value::Unknown(u) if matches!(u.why, Why::DataSource { .. })),
        "{l:?}"
    );
}

#[test]
fn filebase64sha256_names_the_file_and_remote_modules_are_unknown() {
    let (v, _d) = out(&[(
        "env/main.tf",
        r#"module "r" { source = "terraform-aws-modules/lambda/aws" }
output "out" { value = [filebase64sha256("x.zip"), module.r.arn, timestamp()] }
"#,
    )]);
    let Value::List(l) = v else { panic!() };
    assert_eq!(l[0], Value::FileHash("x.zip".into()));
    assert!(matches!(&l[1], Value::Unknown(u) if matches!(u.why, Why::RemoteModule { .. })));
    assert!(
        matches!(&l[2], Value::Unknown(u) if u.why == Why::Function { name: "timestamp".into() })
    );
}

#[test]
fn a_template_that_is_one_interpolation_is_the_value_itself() {
    let (v, _d) = out(&[(
        "env/main.tf",
        "variable \"l\" { default = [\"a\"] }\noutput \"out\" { value = \"${var.l}\" }\n",
    )]);
    assert_eq!(v, Value::List(vec![s("a")]));
}
