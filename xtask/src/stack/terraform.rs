//! What Terraform deploys for each function, with its layer attachments followed across
//! modules: a module's `layers = [var.org_common_layer_arn]` → the env's
//! `module "…" { org_common_layer_arn = module.module_access.org_common_layer_arn }` → that
//! module's `output` → its `aws_lambda_layer_version` → the zip it publishes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use hcl_edit::expr::{Expression, ObjectKey};

use crate::config::Config;
use crate::stack::hcl::{self as tf, TfFile};

/// Modules calling modules calling …: deeper than this is a cycle or a configuration no
/// one writes.
const MAX_DEPTH: usize = 12;

/// One `aws_lambda_function`, as far as Terraform can be read without running it.
#[derive(Debug, Clone)]
pub struct Function {
    /// `aws_lambda_function.profiles`, with the file and line that declare it.
    pub resource: String,
    pub file: PathBuf,
    pub line: usize,
    /// `lambda_function.lambda_handler`; `None` when it is not a literal (or missing).
    pub handler: Option<String>,
    /// `runtime`, when Terraform's files alone decide it (`local.lambda_runtime` followed).
    pub runtime: Option<String>,
    /// `environment { variables = { … } }`: names, with the value when Terraform's files alone
    /// decide it (a sensitive variable's default is never read).
    pub environment: Vec<(String, Option<String>)>,
    /// Each `layers` entry in order: the zip it publishes, or why it cannot be followed.
    pub layers: Vec<Result<PathBuf, String>>,
}

/// Each directory's `.tf` files, parsed once however many functions ask.
pub struct Model {
    stack: PathBuf,
    env_dir: Option<PathBuf>,
    env: String,
    parsed: HashMap<PathBuf, Rc<Vec<TfFile>>>,
}

impl Model {
    /// `env` names `<infra>/envs/<env>`, where module calls (and the infra's own Lambdas) are.
    pub fn new(cfg: &Config, infra: Option<&Path>, env: &str) -> Model {
        Model {
            stack: cfg.stack.clone(),
            env_dir: infra
                .map(|i| i.join("envs").join(env))
                .filter(|d| d.is_dir()),
            env: env.to_string(),
            parsed: HashMap::new(),
        }
    }

    fn files(&mut self, dir: &Path) -> Rc<Vec<TfFile>> {
        let key = canonical(dir);
        self.parsed
            .entry(key.clone())
            .or_insert_with(|| Rc::new(tf::parse_dir(&key).0))
            .clone()
    }

    /// The Terraform directory deploying an artifact's module: `packages/<m>/infrastructure`,
    /// or the env for the infra repo's own Lambdas.
    pub fn tf_dir(&self, module: &str) -> Option<PathBuf> {
        if module == "infra" {
            return self.env_dir.clone();
        }
        Some(
            self.stack
                .join("packages")
                .join(module)
                .join("infrastructure"),
        )
    }

    /// The function resource whose `filename` is `zip_name` in `module`'s Terraform.
    pub fn function(&mut self, module: &str, zip_name: &str) -> Option<Function> {
        let dir = self.tf_dir(module)?;
        let files = self.files(&dir);
        let (file, name, block) = files.iter().find_map(|f| {
            f.resources("aws_lambda_function")
                .find(|(_, b)| {
                    // `filename = local.authorizer_zip` is followed to the path it names.
                    let filename = tf::attr(&b.body, "filename");
                    let resolved = filename
                        .and_then(|e| tf::resolve_text(e, &files, &dir))
                        .and_then(|p| p.rsplit('/').next().map(str::to_string));
                    resolved
                        .or_else(|| filename.and_then(tf::zip_basename))
                        .as_deref()
                        == Some(zip_name)
                })
                .map(|(n, b)| (f, n, b))
        })?;
        let handler = tf::attr(&block.body, "handler")
            .and_then(|e| tf::resolve_text(e, &files, &dir))
            .filter(|h| !h.contains("${"));
        let variables: Vec<(String, Expression)> = block
            .body
            .get_blocks("environment")
            .filter_map(|b| tf::attr(&b.body, "variables"))
            .flat_map(|vars| match vars {
                Expression::Object(o) => o
                    .iter()
                    .filter_map(|(k, v)| {
                        let key = match k {
                            ObjectKey::Ident(i) => i.as_str().to_string(),
                            ObjectKey::Expression(e) => tf::template_text(e)?,
                        };
                        Some((key, v.expr().clone()))
                    })
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        let entries: Vec<Expression> = match tf::attr(&block.body, "layers") {
            Some(Expression::Array(a)) => a.iter().cloned().collect(),
            Some(other) => vec![other.clone()],
            None => Vec::new(),
        };
        let function = Function {
            resource: format!("aws_lambda_function.{name}"),
            file: file.path.clone(),
            line: file.line_of(block),
            handler,
            runtime: None,
            environment: Vec::new(),
            layers: Vec::new(),
        };
        let runtime = tf::attr(&block.body, "runtime").and_then(|e| self.text(&dir, &e.clone(), 0));
        let environment = variables
            .into_iter()
            .map(|(k, e)| (k, self.text(&dir, &e, 0)))
            .collect();
        let layers = entries.iter().map(|e| self.layer(&dir, e, 0)).collect();
        Some(Function {
            layers,
            runtime,
            environment,
            ..function
        })
    }

    /// The zip a layer reference publishes, read in the Terraform directory `dir`.
    fn layer(&mut self, dir: &Path, expr: &Expression, depth: usize) -> Result<PathBuf, String> {
        if depth > MAX_DEPTH {
            return Err("the layer reference loops through modules".into());
        }
        let files = self.files(dir);
        let path = match tf::traversal_path(expr) {
            Some(p) => p,
            None => {
                return Err(match tf::template_text(expr) {
                    Some(arn) => format!(
                        "layer `{arn}` is a literal ARN: its contents are not in this repository"
                    ),
                    None => "a layer is computed by an expression smoke cannot follow".into(),
                })
            }
        };
        let parts: Vec<&str> = path.split('.').collect();
        match parts.as_slice() {
            ["aws_lambda_layer_version", name, ..] => {
                let block = files
                    .iter()
                    .find_map(|f| {
                        f.resources("aws_lambda_layer_version")
                            .find(|(n, _)| n == name)
                    })
                    .map(|(_, b)| b)
                    .ok_or_else(|| format!("`{path}`: no such resource in {}", dir.display()))?;
                tf::attr(&block.body, "filename")
                    .and_then(|e| tf::resolve_text(e, &files, dir))
                    .map(|p| tf::normalize(Path::new(&p)))
                    .ok_or_else(|| {
                        format!("aws_lambda_layer_version.{name} has no local `filename` smoke can follow")
                    })
            }
            ["local", name] => {
                let e = tf::local(&files, name)
                    .ok_or_else(|| format!("`{path}` is not defined"))?
                    .clone();
                self.layer(dir, &e, depth + 1)
            }
            ["module", call, output, ..] => {
                let child = module_source(&files, dir, call)
                    .ok_or_else(|| format!("`{path}`: module \"{call}\" has no local source"))?;
                let child_files = self.files(&child);
                let value = child_files
                    .iter()
                    .find_map(|f| f.labeled("output").find(|(n, _)| n == output))
                    .and_then(|(_, b)| tf::attr(&b.body, "value"))
                    .ok_or_else(|| {
                        format!("`{path}`: module \"{call}\" has no output \"{output}\"")
                    })?
                    .clone();
                self.layer(&child, &value, depth + 1)
            }
            ["var", name] => {
                let (dir, e) = self.var_value(dir, name)?;
                self.layer(&dir, &e, depth + 1)
            }
            _ => Err(format!("`{path}` cannot be followed to a layer zip")),
        }
    }

    /// What `var.<name>` of the module in `dir` is set to: the env's module call's argument,
    /// else the variable's default, with the directory to read that expression in.
    fn var_value(&mut self, dir: &Path, name: &str) -> Result<(PathBuf, Expression), String> {
        let files = self.files(dir);
        let default = files
            .iter()
            .find_map(|f| f.labeled("variable").find(|(n, _)| *n == name))
            .filter(|(_, b)| {
                !matches!(tf::attr(&b.body, "sensitive"), Some(Expression::Bool(t)) if *t.value())
            })
            .and_then(|(_, b)| tf::attr(&b.body, "default").cloned())
            .map(|e| (dir.to_path_buf(), e));
        let env_dir = self.env_dir.clone().ok_or_else(|| {
            format!(
                "var.{name} is set by the env, and there is no envs/{}",
                self.env
            )
        })?;
        if canonical(dir) == canonical(&env_dir) {
            return default.ok_or_else(|| {
                format!(
                    "var.{name} is an input of envs/{} (a tfvars value): its layer is not built here",
                    self.env
                )
            });
        }
        let env_files = self.files(&env_dir);
        let target = canonical(dir);
        let call = env_files
            .iter()
            .flat_map(|f| f.labeled("module"))
            .find(|(call, _)| {
                module_source(&env_files, &env_dir, call).as_deref() == Some(&target)
            });
        let Some((call, block)) = call else {
            return default.ok_or_else(|| {
                format!(
                    "no module block in envs/{} calls {}: var.{name} has no value",
                    self.env,
                    dir.display()
                )
            });
        };
        match tf::attr(&block.body, name) {
            Some(e) => Ok((env_dir, e.clone())),
            None => default.ok_or_else(|| {
                format!("module \"{call}\" in envs/{} does not set {name}", self.env)
            }),
        }
    }

    /// A string's value when Terraform's files alone decide it (variables followed to their
    /// caller or default); `None` otherwise.
    fn text(&mut self, dir: &Path, expr: &Expression, depth: usize) -> Option<String> {
        let files = self.files(dir);
        if let Some(t) = tf::resolve_text(expr, &files, dir) {
            return Some(t);
        }
        let name = tf::traversal_path(expr)?.strip_prefix("var.")?.to_string();
        if depth > MAX_DEPTH || name.contains(['.', '[']) {
            return None;
        }
        let (dir, e) = self.var_value(dir, &name).ok()?;
        self.text(&dir, &e, depth + 1)
    }
}

/// The directory a `module "<call>"` block's local `source` names, resolved from `dir`.
fn module_source(files: &[TfFile], dir: &Path, call: &str) -> Option<PathBuf> {
    let block = files
        .iter()
        .find_map(|f| f.labeled("module").find(|(n, _)| *n == call))?
        .1;
    let source = tf::attr(&block.body, "source")?.as_str()?;
    (source.starts_with("./") || source.starts_with("../")).then(|| canonical(&dir.join(source)))
}

/// Canonical when it exists, else lexically normalized: the same directory compares equal
/// however a `source` spells it.
fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| tf::normalize(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn follows_a_variable_through_the_env_to_another_modules_layer() {
        let d = tempfile::tempdir().unwrap();
        let stack = d.path().join("acme-stack");
        let infra = d.path().join("acme-infra");
        let pkg = |m: &str| {
            stack
                .join("packages")
                .join(m)
                .join("infrastructure/main.tf")
        };
        write(
            &pkg("module-common"),
            r#"locals { build = "${path.module}/../backend/.build" }
resource "aws_lambda_layer_version" "common" { filename = "${local.build}/org-common-layer.zip" }
output "layer_arn" { value = aws_lambda_layer_version.common.arn }
"#,
        );
        write(
            &pkg("module-ai"),
            r#"locals { runtime = "python3.13" }
resource "aws_lambda_layer_version" "own" { filename = "${path.module}/../backend/.build/ai-layer.zip" }
variable "secret" { default = "s3" }
variable "key" {
  default   = "hidden"
  sensitive = true
}
variable "level" {}
resource "aws_lambda_function" "chat" {
  filename = "${path.module}/../backend/.build/chat.zip"
  handler  = "lambda_function.lambda_handler"
  runtime  = local.runtime
  layers   = [var.org_common_layer_arn, aws_lambda_layer_version.own.arn, var.missing, "arn:aws:lambda:us-east-1:1:layer:x:1"]
  environment { variables = { TABLE = "chats", SECRET = var.secret, LEVEL = var.level, KEY = var.key } }
}
"#,
        );
        write(
            &infra.join("envs/dev/main.tf"),
            r#"module "module_common" { source = "../../../acme-stack/packages/module-common/infrastructure" }
module "module_ai" {
  source               = "../../../acme-stack/packages/module-ai/infrastructure/"
  org_common_layer_arn = module.module_common.layer_arn
  level                = var.log_level
}
variable "log_level" { default = "INFO" }
"#,
        );
        let mut cfg = crate::config::load(Some(&stack)).unwrap();
        cfg.stack = stack.canonicalize().unwrap();
        let mut m = Model::new(&cfg, Some(&infra), "dev");
        let f = m.function("module-ai", "chat.zip").unwrap();
        assert_eq!(f.runtime.as_deref(), Some("python3.13"));
        assert_eq!(f.resource, "aws_lambda_function.chat");
        assert_eq!(f.handler.as_deref(), Some("lambda_function.lambda_handler"));
        assert_eq!(
            f.environment,
            [
                ("TABLE".into(), Some("chats".into())),
                ("SECRET".into(), Some("s3".into())),
                ("LEVEL".into(), Some("INFO".into())),
                ("KEY".into(), None)
            ]
        );
        let common = cfg
            .stack
            .join("packages/module-common/backend/.build/org-common-layer.zip");
        assert_eq!(f.layers[0].as_deref(), Ok(common.as_path()));
        let own = cfg
            .stack
            .join("packages/module-ai/backend/.build/ai-layer.zip");
        assert_eq!(f.layers[1].as_deref(), Ok(own.as_path()));
        assert!(f.layers[2]
            .as_ref()
            .unwrap_err()
            .contains("does not set missing"));
        assert!(f.layers[3].as_ref().unwrap_err().contains("literal ARN"));
        assert!(m.function("module-ai", "other.zip").is_none());
    }
}
