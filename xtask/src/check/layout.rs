//! F11 module layout, F12 the env directory, F10 handler files and layers.

use std::path::Path;

use super::{python, Checker, Env, ModuleTf};
use crate::install::requirements;
use crate::stack::discover::{self, Artifact, Kind};
use crate::stack::hcl as tf;

const MODULE_FILES: [&str; 3] = ["main.tf", "variables.tf", "outputs.tf"];

impl Checker<'_> {
    /// F11 layout, and each module's Terraform parsed.
    pub(super) fn modules(&mut self, found: &discover::Stack) -> Vec<ModuleTf> {
        if found.modules.is_empty() {
            self.error(
                "F11-no-modules",
                &self.cfg.stack.join("packages"),
                0,
                "the stack has no packages/module-* directory".into(),
                "point --stack at the stack repo's root (the directory holding packages/)".into(),
            );
        }
        let mut out = Vec::new();
        for m in &found.modules {
            let infra = m.dir.join("infrastructure");
            if !infra.is_dir() {
                self.error(
                    "F11-no-infrastructure",
                    &m.dir,
                    0,
                    format!(
                        "{} has no infrastructure/: its Lambdas and routes are never deployed",
                        m.name
                    ),
                    "add infrastructure/ with main.tf, variables.tf, outputs.tf (exporting \
                     api_routes) and versions.tf"
                        .into(),
                );
                out.push(ModuleTf {
                    name: m.name.clone(),
                    infra,
                    files: Vec::new(),
                    readable: false,
                });
                continue;
            }
            let (files, errors) = self.model.parsed(&infra);
            let readable = errors.is_empty();
            self.parse_errors(errors);
            for f in MODULE_FILES {
                if !infra.join(f).is_file() {
                    let what = match f {
                        "main.tf" => "the module's Lambda functions and layers",
                        "variables.tf" => "the module's variables",
                        _ => "its outputs (api_routes)",
                    };
                    // Terraform reads every .tf file of the directory: the contract's file
                    // names are a convention, and what must exist (the api_routes output, the
                    // functions, the variables) has its own error.
                    self.warn(
                        "F11-missing-file",
                        &infra.join(f),
                        0,
                        format!(
                            "{}/infrastructure has no {f}, the contract's file for {what}",
                            m.name
                        ),
                        format!("move {what} to {f}"),
                    );
                }
            }
            // versions.tf is a convention: a terraform block anywhere does the same job.
            let pinned = files
                .iter()
                .any(|f| f.body.get_blocks("terraform").next().is_some());
            if !infra.join("versions.tf").is_file() && !pinned && readable {
                self.warn(
                    "F11-no-versions",
                    &infra.join("versions.tf"),
                    0,
                    format!(
                        "{}/infrastructure has no versions.tf and no terraform block: the \
                         terraform and AWS provider versions it needs are not pinned",
                        m.name
                    ),
                    "add versions.tf with terraform { required_providers { aws = { source = \
                     \"hashicorp/aws\", version = \"~> 5.0\" } } }"
                        .into(),
                );
            }
            out.push(ModuleTf {
                name: m.name.clone(),
                infra,
                files,
                readable,
            });
        }
        out
    }

    pub(super) fn env(&mut self, infra: Option<&Path>, name: &str) -> Option<Env> {
        let Some(infra) = infra else {
            self.warn(
                "F12-no-infra",
                &self.cfg.stack.clone(),
                0,
                "no infra repo found, so module calls, module_routes and the infra Lambdas are \
                 not checked"
                    .into(),
                "pass --infra DIR, set infra in xtask.toml, or keep the infra repo beside the \
                 stack as <project>-infra"
                    .into(),
            );
            return None;
        };
        // What an env is follows `terraform::env_dir`, so `check` and `plan` agree on it.
        let envs_dir = infra.join("envs");
        let dir = envs_dir.join(name);
        let bad_name = name.contains('/') || name == "..";
        let problem = if bad_name {
            Some((
                envs_dir.clone(),
                format!("{name:?} is not an env name: an env is one directory of envs/"),
            ))
        } else if !dir.is_dir() {
            Some((dir.clone(), format!("the infra repo has no envs/{name}")))
        } else if !tf::has_tf_files(&dir) {
            Some((dir.clone(), format!("envs/{name} has no .tf files")))
        } else {
            None
        };
        if let Some((file, message)) = problem {
            let envs = tf::env_names(&envs_dir);
            let fix = if envs.is_empty() {
                let env = if bad_name { "<env>" } else { name };
                format!("create envs/{env}/main.tf calling the stack modules and the API gateway")
            } else {
                format!("pass --env with one of: {}", envs.join(", "))
            };
            self.error("F12-no-env", &file, 0, message, fix);
            return None;
        }
        let (files, errors) = self.model.parsed(&dir);
        let readable = errors.is_empty();
        self.parse_errors(errors);
        Some(Env {
            name: name.to_string(),
            dir,
            files,
            readable,
        })
    }

    /// F10: each lambdas/ directory has a handler file defining lambda_handler; layers ship something.
    pub(super) fn handlers(&mut self, found: &discover::Stack) {
        for p in &found.problems {
            self.error(
                "F10-no-handler-file",
                &p.dir,
                0,
                format!(
                    "{}/{} has no lambda_function.py, so it is not built",
                    p.module, p.name
                ),
                "add lambda_function.py with def lambda_handler(event, context), move the \
                 directory out of lambdas/, \
                 or list it under exclude in xtask.toml"
                    .into(),
            );
        }
        for a in &found.artifacts {
            match a.kind {
                Kind::Layer => {
                    let python = a.src.join("python");
                    if self.empty_layer(a) {
                        self.error(
                            "F10-empty-layer",
                            &python,
                            0,
                            format!(
                                "layer {} has nothing to ship: python/ is empty or missing \
                                 and it has no requirements",
                                a.id()
                            ),
                            "put the layer's package under python/<package>/, or delete the \
                             layer directory"
                                .into(),
                        );
                    }
                }
                Kind::Function => {
                    let handler = a.src.join("lambda_function.py");
                    let text = std::fs::read_to_string(&handler).unwrap_or_default();
                    if !python::defines_handler(&text) {
                        self.error(
                            "F10-no-lambda-handler",
                            &handler,
                            0,
                            format!(
                                "{}: lambda_function.py defines no lambda_handler, so every \
                                 invocation fails",
                                a.id()
                            ),
                            "define def lambda_handler(event, context): at module level".into(),
                        );
                    }
                }
            }
        }
    }
}

impl Checker<'_> {
    /// A layer the build refuses: nothing of `python/` ships and no requirements, as the build
    /// itself decides both (`select`, `requirements::read`).
    pub(super) fn empty_layer(&self, a: &Artifact) -> bool {
        a.kind == Kind::Layer
            && self.select.source(a).is_ok_and(|s| s.entries.is_empty())
            && a.requirements
                .as_deref()
                .is_none_or(|r| requirements::read(r).is_ok_and(|r| r.is_empty()))
    }
}
