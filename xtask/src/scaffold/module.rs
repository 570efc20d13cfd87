//! `cargo xtask new module NAME`: packages/module-NAME with one function, one layer and the
//! infrastructure the contract asks for, then the module called from every env that calls the
//! stack's modules and its routes added to the gateway's `module_routes`, as the demo env does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hcl_edit::Span;

use super::create;
use crate::check;
use crate::config::Config;
use crate::stack::hcl::{self as tf, TfFile};
use crate::ui;

/// The variables every CORA module declares (the contract's common module variables).
const VARIABLES: &str = r#"variable "project_name" {
  description = "Project name, used as the prefix of every resource name."
  type        = string
}

variable "environment" {
  description = "Deployment environment (dev, tst, stg, prd)."
  type        = string
}

variable "module_name" {
  description = "Short module name used in function names."
  type        = string
}

variable "aws_region" {
  description = "AWS region the module is deployed to."
  type        = string
}

variable "supabase_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the Supabase url and service role key."
  type        = string
}

variable "log_level" {
  description = "Python log level for the Lambdas."
  type        = string
  default     = "INFO"
}

variable "common_tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}
"#;

const COMMON: [&str; 7] = [
    "project_name",
    "environment",
    "module_name",
    "aws_region",
    "supabase_secret_arn",
    "log_level",
    "common_tags",
];

const VERSIONS: &str = r#"terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}
"#;

/// The names one module NAME gives its parts.
struct Names {
    /// `billing-admin`: directories, the function, AWS names.
    name: String,
    /// `billing_admin`: Terraform identifiers, the layer's Python package.
    ident: String,
    /// `billing-admin-common`: the layer's directory.
    layer: String,
}

impl Names {
    fn new(name: &str) -> Names {
        Names {
            name: name.to_string(),
            ident: name.replace('-', "_"),
            layer: format!("{name}-common"),
        }
    }

    fn files(&self, cfg: &Config) -> Vec<(String, String)> {
        let Names { name, ident, layer } = self;
        let (runtime, arch) = (cfg.runtime(), cfg.arch.to_string());
        let main_tf = format!(
            r#"locals {{
  build_dir = "${{path.module}}/../backend/.build"
}}

resource "aws_iam_role" "lambda" {{
  name = "${{var.project_name}}-${{var.environment}}-${{var.module_name}}-lambda-role"

  assume_role_policy = jsonencode({{
    Version = "2012-10-17"
    Statement = [{{
      Effect    = "Allow"
      Principal = {{ Service = "lambda.amazonaws.com" }}
      Action    = "sts:AssumeRole"
    }}]
  }})

  tags = var.common_tags
}}

resource "aws_iam_role_policy_attachment" "basic_execution" {{
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}}

resource "aws_lambda_layer_version" "{ident}_common" {{
  layer_name               = "${{var.project_name}}-${{var.environment}}-{layer}"
  filename                 = "${{local.build_dir}}/{layer}-layer.zip"
  source_code_hash         = filebase64sha256("${{local.build_dir}}/{layer}-layer.zip")
  compatible_runtimes      = ["{runtime}"]
  compatible_architectures = ["{arch}"]
  description              = "Code shared by the functions of module-{name}"
}}

resource "aws_lambda_function" "{ident}" {{
  function_name    = "${{var.project_name}}-${{var.environment}}-${{var.module_name}}-{name}"
  filename         = "${{local.build_dir}}/{name}.zip"
  source_code_hash = filebase64sha256("${{local.build_dir}}/{name}.zip")
  runtime          = "{runtime}"
  architectures    = ["{arch}"]
  handler          = "lambda_function.lambda_handler"
  role             = aws_iam_role.lambda.arn
  timeout          = 30
  memory_size      = 256
  layers           = [aws_lambda_layer_version.{ident}_common.arn]

  environment {{
    variables = {{
      LOG_LEVEL = var.log_level
    }}
  }}

  tags = var.common_tags
}}
"#
        );
        let outputs_tf = format!(
            r#"output "api_routes" {{
  description = "Routes served by this module, consumed by the modular API gateway."
  value = [
    {{ method = "GET", path = "/{name}", integration = aws_lambda_function.{ident}.invoke_arn, public = false }},
  ]
}}

output "lambda_function_names" {{
  value = {{
    "{name}" = aws_lambda_function.{ident}.function_name
  }}
}}

output "lambda_function_arns" {{
  value = {{
    "{name}" = aws_lambda_function.{ident}.arn
  }}
}}
"#
        );
        let handler = format!(
            r#""""GET /{name}: the first function of module-{name} (written by `cargo xtask new module`)."""

import json
import logging
import os

from {ident}_common import greeting

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def lambda_handler(event, context):
    logger.info("GET /{name}")
    return {{
        "statusCode": 200,
        "headers": {{"Content-Type": "application/json"}},
        "body": json.dumps({{"message": greeting()}}),
    }}
"#
        );
        let layer_py = format!(
            r#""""Code shared by the functions of module-{name}, shipped as the {layer} layer."""


def greeting() -> str:
    return "hello from module-{name}"
"#
        );
        let fn_dir = format!("backend/lambdas/{name}");
        let layer_dir = format!("backend/layers/{layer}/python/{ident}_common");
        vec![
            (
                "backend/.gitignore".into(),
                ".build/\n*.pyc\n__pycache__/\n".into(),
            ),
            (format!("{fn_dir}/lambda_function.py"), handler),
            (
                format!("{fn_dir}/requirements.txt"),
                "# This function's dependencies, one per line; `cargo xtask lock` pins them.\n"
                    .into(),
            ),
            (format!("{layer_dir}/__init__.py"), layer_py),
            ("infrastructure/main.tf".into(), main_tf),
            ("infrastructure/variables.tf".into(), VARIABLES.into()),
            ("infrastructure/outputs.tf".into(), outputs_tf),
            ("infrastructure/versions.tf".into(), VERSIONS.into()),
        ]
    }
}

/// The files created, and the env files updated.
pub fn new_module(
    cfg: &Config,
    infra: Option<&Path>,
    name: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    crate::stack::discover::require_stack(&cfg.stack)?;
    let n = Names::new(name);
    let dir = cfg.stack.join("packages").join(format!("module-{name}"));
    if dir.exists() {
        bail!(
            "{} already exists: `new module` never overwrites; pick another name or remove it",
            dir.display()
        );
    }
    let mut written = Vec::new();
    for (rel, text) in n.files(cfg) {
        create(&dir.join(&rel), &text)?;
        written.push(format!("packages/module-{name}/{rel}"));
    }
    let Some(infra) = infra else {
        ui::warn("no infra repo found: call the module from your env and add its api_routes to module_routes");
        return Ok((written, Vec::new()));
    };
    let mut updated = Vec::new();
    for env in tf::env_names(&infra.join("envs")) {
        match register(cfg, infra, &env, &n, &dir)? {
            Some(file) => {
                updated.push(format!("{} (module \"module_{}\", routes)", file, n.ident));
            }
            None => ui::warn(&format!(
                "envs/{env} calls no module of the stack: module-{name} not added there"
            )),
        }
    }
    if updated.is_empty() {
        ui::warn(&format!(
            "no env calls the stack's modules: add module \"module_{}\" and its api_routes by hand",
            n.ident
        ));
    }
    Ok((written, updated))
}

/// A module block of the env whose source is one of the stack's modules.
struct Call<'a> {
    file: &'a TfFile,
    block: &'a hcl_edit::structure::Block,
    source: String,
}

/// Adds `module "module_<ident>"` to env `env` after its last call of a stack module, with
/// the arguments that call passes for the common variables, then adds the module's routes to
/// `module_routes` with the edit `check --fix` makes. `None` when the env calls no stack module.
fn register(
    cfg: &Config,
    infra: &Path,
    env: &str,
    n: &Names,
    module_dir: &Path,
) -> Result<Option<String>> {
    let env_dir = infra.join("envs").join(env);
    let (files, errors) = tf::parse_dir(&env_dir);
    if let Some(e) = errors.first() {
        bail!(
            "{}:{}: {}; fix it, then run `new module` again (the module is written)",
            e.path.display(),
            e.line,
            e.message
        );
    }
    let packages = cfg.stack.join("packages");
    let calls: Vec<Call> = files
        .iter()
        .flat_map(|f| f.labeled("module").map(move |(_, b)| (f, b)))
        .filter_map(|(file, block)| {
            let source = tf::template_text(tf::attr(&block.body, "source")?)?;
            let target = env_dir.join(&source).canonicalize().ok()?;
            (target.starts_with(&packages) && target != module_dir.join("infrastructure"))
                .then_some(Call {
                    file,
                    block,
                    source,
                })
        })
        .collect();
    // The last call in the file that holds the first: the new block goes after it.
    let Some(first) = calls.first() else {
        return Ok(None);
    };
    let last = calls
        .iter()
        .rev()
        .find(|c| c.file.path == first.file.path)
        .unwrap_or(first);
    let arg = |c: &Call, key: &str| {
        c.block.body.get_attribute(key).and_then(|a| {
            let r = a.value.span()?;
            Some(c.file.text[r].trim().to_string())
        })
    };
    let source = match first.source.rsplit_once("/module-") {
        Some((head, tail)) if tail.ends_with("/infrastructure") || !tail.contains('/') => {
            let rest = tail.split_once('/').map_or("", |(_, r)| r);
            let rest = if rest.is_empty() {
                String::new()
            } else {
                format!("/{rest}")
            };
            format!("{head}/module-{}{rest}", n.name)
        }
        _ => bail!(
            "{}: module source {:?} does not end in module-<name>/infrastructure: add module \
             \"module_{}\" by hand",
            first.file.path.display(),
            first.source,
            n.ident
        ),
    };
    let mut block = format!(
        "\nmodule \"module_{}\" {{\n  source = \"{source}\"\n\n",
        n.ident
    );
    let width = COMMON.iter().map(|v| v.len()).max().unwrap_or(0);
    for var in COMMON {
        let value = match var {
            "module_name" => Some(format!("\"{}\"", n.name)),
            _ => arg(first, var),
        };
        // The module declares every common variable; one the env does not pass keeps its
        // default, or is null (log_level and common_tags have defaults).
        let value = match (value, var) {
            (Some(v), _) => v,
            (None, "log_level" | "common_tags") => continue,
            (None, _) => "null".to_string(),
        };
        block.push_str(&format!("  {var:<width$} = {value}\n"));
    }
    block.push_str("}\n");
    let end = last
        .block
        .span()
        .map(|r| r.end)
        .context("module block without a span")?;
    let text = &last.file.text;
    // After the block's line end.
    let at = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
    let new = format!("{}{}{}", &text[..at], block, &text[at..]);
    let path = last.file.path.clone();
    crate::fsutil::write_atomic_with_mode(&path, new.as_bytes(), 0o644)?;
    add_routes(cfg, infra, env, n, &path)?;
    Ok(Some(rel(infra, &path)))
}

/// The gateway's `module_routes` gets `module.module_<ident>.api_routes`: the edit check's
/// F12-not-in-module-routes finding carries, and nothing else of `--fix`.
fn add_routes(cfg: &Config, infra: &Path, env: &str, n: &Names, file: &Path) -> Result<()> {
    let findings = check::run(cfg, Some(infra), env)?;
    let needle = format!("module.module_{}.api_routes", n.ident);
    let ours: Vec<check::Finding> = findings
        .into_iter()
        .filter(|f| f.code == "F12-not-in-module-routes" && f.fix.contains(&needle))
        .collect();
    if ours.is_empty() {
        ui::warn(&format!(
            "envs/{env}: no module_routes = concat(…) to add {needle} to; add it by hand"
        ));
        return Ok(());
    }
    let roots = [cfg.stack.as_path(), infra];
    let applied = check::fix::apply(&ours, false, &|p: &Path| rel(infra, p), &roots);
    if let Some(p) = applied.iter().find_map(|a| a.problem.as_ref()) {
        bail!("{}: {p}", file.display());
    }
    Ok(())
}

fn rel(base: &Path, p: &Path) -> String {
    let base: PathBuf = base.parent().unwrap_or(base).to_path_buf();
    p.strip_prefix(&base).unwrap_or(p).display().to_string()
}
