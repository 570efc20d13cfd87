//! What the stack model says about each artifact's architecture: a function's
//! `architectures`, a layer's `compatible_architectures`, and which layers each function
//! attaches (a layer's platform may come from its users). The build, `lock`, `check` and
//! `smoke` ask `read`, never the `.tf` files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::{Arch, Config};
use crate::stack::discover::Artifact;
use crate::stack::model::{self, Code, Field, Model};
use crate::stack::value::Span;

/// One `architectures`/`compatible_architectures` attribute, where its resource is declared.
#[derive(Debug, Clone)]
pub struct Declared {
    pub file: PathBuf,
    /// The resource's line.
    pub line: usize,
    /// Whether the resource sets the attribute (else `value` is empty).
    pub set: bool,
    /// The architectures, or why they cannot be known without running terraform.
    pub value: Result<Vec<Arch>, String>,
}

/// Per artifact id (`module/name`): what Terraform declares. An artifact no resource of the
/// model deploys has no entry.
#[derive(Debug, Default)]
pub struct Architectures {
    pub functions: HashMap<String, Declared>,
    pub layers: HashMap<String, Declared>,
    /// Function id → the layer ids it attaches (those this stack builds), in order.
    pub attached: HashMap<String, Vec<String>>,
}

/// Every artifact's declaration, from the model of `env`.
pub fn read(
    cfg: &Config,
    infra: Option<&Path>,
    env: &str,
    artifacts: &[Artifact],
) -> Architectures {
    of_model(cfg, &Model::load(&cfg.stack, infra, env, artifacts))
}

/// Every artifact's declaration in a model already loaded.
pub fn of_model(cfg: &Config, m: &Model) -> Architectures {
    let base = cfg.stack.parent().unwrap_or(&cfg.stack);
    let mut out = Architectures::default();
    for f in &m.functions {
        let Code::Zip {
            artifact: Some(id), ..
        } = &f.code
        else {
            continue;
        };
        // Several instances (count/for_each) of one zip: the first decides.
        if out.functions.contains_key(id) {
            continue;
        }
        let d = declared(&f.at, f.architectures.as_ref(), "architectures", base);
        out.functions.insert(id.clone(), d);
        out.attached.insert(id.clone(), m.layer_artifacts(f));
    }
    for l in &m.layers {
        let Some(id) = &l.artifact else {
            continue;
        };
        if out.layers.contains_key(id) {
            continue;
        }
        let d = declared(
            &l.at,
            l.compatible_architectures.as_ref(),
            "compatible_architectures",
            base,
        );
        out.layers.insert(id.clone(), d);
    }
    out
}

fn declared(at: &Span, field: Option<&Field<Vec<String>>>, attr: &str, base: &Path) -> Declared {
    let value = match field {
        None => Ok(Vec::new()),
        Some(Field::Unknown { unknown }) => Err(format!(
            "`{attr}` cannot be known before terraform runs ({})",
            model::not_checked(unknown, base)
        )),
        Some(Field::Known(names)) => names
            .iter()
            .map(|n| match n.as_str() {
                "x86_64" => Ok(Arch::X86_64),
                "arm64" => Ok(Arch::Arm64),
                other => Err(format!(
                    "`{attr}` names `{other}`, not an architecture Lambda offers (x86_64 or arm64)"
                )),
            })
            .collect(),
    };
    Declared {
        file: at.file.clone(),
        line: at.line,
        set: field.is_some(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::discover::Kind;

    #[test]
    fn values_passed_by_the_env_are_read_and_the_rest_named() {
        let d = tempfile::tempdir().unwrap();
        let stack = d.path().join("acme-stack");
        let module = stack.join("packages/module-x/infrastructure");
        let env = d.path().join("acme-infra/envs/dev");
        std::fs::create_dir_all(&module).unwrap();
        std::fs::create_dir_all(&env).unwrap();
        let build = |zip: &str| format!("filename = \"${{path.module}}/../backend/.build/{zip}\"");
        std::fs::write(
            module.join("main.tf"),
            format!(
                r#"variable "arch" {{}}
variable "unset" {{}}
variable "fallback" {{ default = ["x86_64"] }}
resource "aws_lambda_layer_version" "common" {{
  {}
  compatible_architectures = ["x86_64", var.arch]
}}
resource "aws_lambda_function" "a" {{
  {}
  architectures = [var.arch]
  layers        = [aws_lambda_layer_version.common.arn]
}}
resource "aws_lambda_function" "b" {{
  {}
  architectures = var.fallback
}}
resource "aws_lambda_function" "c" {{
  {}
  architectures = [var.unset]
}}
resource "aws_lambda_function" "d" {{
  {}
  architectures = ["arm"]
}}
resource "aws_lambda_function" "e" {{
  {}
}}
"#,
                build("common-layer.zip"),
                build("a.zip"),
                build("b.zip"),
                build("c.zip"),
                build("d.zip"),
                build("e.zip"),
            ),
        )
        .unwrap();
        std::fs::write(
            env.join("main.tf"),
            r#"module "module_x" {
  source = "../../../acme-stack/packages/module-x/infrastructure"
  arch   = "arm64"
}
"#,
        )
        .unwrap();
        let mut cfg = crate::config::load(Some(&stack)).unwrap();
        cfg.stack = stack.clone();
        let art = |name: &str, kind| {
            let zip = match kind {
                Kind::Function => format!("{name}.zip"),
                Kind::Layer => format!("{name}-layer.zip"),
            };
            Artifact {
                module: "module-x".into(),
                name: name.into(),
                kind,
                src: PathBuf::new(),
                out: stack.join("packages/module-x/backend/.build").join(zip),
                requirements: None,
            }
        };
        let mut artifacts: Vec<Artifact> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| art(n, Kind::Function))
            .collect();
        artifacts.push(art("common", Kind::Layer));
        let infra = d.path().join("acme-infra");
        let a = read(&cfg, Some(&infra), "dev", &artifacts);
        let v = |m: &HashMap<String, Declared>, id: &str| m[id].value.clone();
        assert_eq!(v(&a.functions, "module-x/a"), Ok(vec![Arch::Arm64]));
        assert_eq!(v(&a.functions, "module-x/b"), Ok(vec![Arch::X86_64]));
        let c = v(&a.functions, "module-x/c").unwrap_err();
        assert!(
            c.contains(
                "`architectures` cannot be known before terraform runs (not checked: var.unset"
            ),
            "{c}"
        );
        let d = v(&a.functions, "module-x/d").unwrap_err();
        assert!(d.contains("`architectures` names `arm`"), "{d}");
        assert!(!a.functions["module-x/e"].set);
        assert_eq!(a.functions["module-x/e"].line, 25);
        assert_eq!(
            v(&a.layers, "module-x/common"),
            Ok(vec![Arch::X86_64, Arch::Arm64])
        );
        assert_eq!(a.attached["module-x/a"], ["module-x/common"]);
    }
}
