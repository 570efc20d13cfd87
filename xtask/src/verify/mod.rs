//! `cargo xtask verify`: after an apply, proves that what runs is what was built and that every
//! Lambda is reachable.
//!
//! Inputs: Terraform's state (`show -json`), root outputs (`output -json`, for `--http`), each module's
//! `api_routes` as Terraform evaluates it, and the local zips. Child-module outputs are not in
//! `show -json`, and `api_routes` is often more than a literal (locals, `for`), so it is read with
//! one `terraform console` expression over every module call of the env: Terraform's own answer
//! for the current configuration against the current state, with the var files a plan passes
//! (local-secrets.tfvars, xtask.toml's), making no calls beyond reading the state backend.
//!
//! Checks (one row per subject): V1 routes reach a function, V2 every function is reached,
//! V3 gateway routes = modules' `api_routes`, V4 state hashes = local zips, V5 runtime and layers;
//! then `live` (the aws CLI: AWS = state = build) unless `--offline`, and `http` with `--http`.
//! Nothing read from outputs or resource attributes is printed except names, ARNs, route keys
//! and hashes; a sensitive output is never used.

mod aws;
mod http;
mod layers;
mod live;
mod offline;
pub mod same_as;
mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::terraform::{self, Terraform, VarFiles};
use offline::{offline_checks, Inputs};
use state::{str_of, Deployed, Function, Zips};

pub struct Options {
    pub env: String,
    pub offline: bool,
    pub http: bool,
    /// Base URL for `http` instead of the `api_gateway_url` output.
    pub url: Option<String>,
    pub tf_bin: Option<String>,
    /// Exported to terraform and to the aws CLI.
    pub aws: terraform::Aws,
    /// Connect and read timeout of each aws CLI call, in seconds.
    pub aws_timeout: u64,
}

/// `--aws-timeout`'s default: as long as the HTTP checks wait.
pub const AWS_TIMEOUT_SECS: u64 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `V1`…`V5`, `live` or `http`.
    pub id: &'static str,
    pub status: Status,
    /// The Terraform module the subject belongs to (`module.module_access`, `root`): the report's groups.
    pub module: String,
    pub subject: String,
    pub message: String,
    pub fix: Option<String>,
    /// V5 only: the function's layers in state and as the configuration attaches them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<layers::Layers>,
}

impl Check {
    fn new(id: &'static str, status: Status, module: &str, subject: String) -> Check {
        Check {
            id,
            status,
            module: group(module),
            subject,
            message: String::new(),
            fix: None,
            layers: None,
        }
    }

    fn with_layers(self, layers: layers::Layers) -> Check {
        Check {
            layers: Some(layers),
            ..self
        }
    }

    fn pass(id: &'static str, module: &str, subject: String, message: String) -> Check {
        Check {
            message,
            ..Check::new(id, Status::Pass, module, subject)
        }
    }

    fn skip(id: &'static str, module: &str, subject: String, message: String) -> Check {
        Check {
            message,
            ..Check::new(id, Status::Skip, module, subject)
        }
    }

    fn fail(
        id: &'static str,
        module: &str,
        subject: String,
        message: String,
        fix: String,
    ) -> Check {
        Check {
            message,
            fix: Some(fix),
            ..Check::new(id, Status::Fail, module, subject)
        }
    }
}

fn group(module: &str) -> String {
    if module.is_empty() {
        "root".into()
    } else {
        module.into()
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

pub fn run(cfg: &Config, infra: Option<&Path>, opts: &Options) -> Result<Report> {
    let infra = infra.context(
        "verify needs the infra repo (envs/<env>/): none found; pass --infra DIR or set `infra` in xtask.toml",
    )?;
    let env_dir = terraform::env_dir(infra, &opts.env)?;
    let env = Env {
        name: opts.env.clone(),
        bin: terraform::configured_bin(opts.tf_bin.as_deref(), cfg.terraform.bin.as_deref()),
    };
    let data = terraform::data_dir(&env_dir);
    if !data.is_dir() {
        bail!(
            "{} is not initialised ({} does not exist): deploy it first with {}",
            env.label(),
            data.display(),
            env.apply()
        );
    }
    let cwd = std::env::current_dir()?;
    let vars = VarFiles::resolve(&env_dir, &opts.env, &cfg.terraform.var_files, &[], &cwd)?;
    let tf = Terraform::locate(&env.bin, &env_dir, &opts.aws, &vars)?;
    let (calls, gateway) = crate::stack::env::read(&env_dir, infra);

    // Independent terraform reads of the same state, side by side. Only --http needs the
    // outputs (the API's URL and id).
    let (state, outputs, declared) = std::thread::scope(|s| {
        let state = s.spawn(|| tf.show_state_json());
        let outputs = opts.http.then(|| s.spawn(|| tf.output_json()));
        let declared = evaluate_api_routes(&tf, &calls, &vars.passed);
        (
            state.join().expect("no panics"),
            outputs.map(|o| o.join().expect("no panics")),
            declared,
        )
    });
    let deployed = Deployed::from_state(&state?)
        .with_context(|| format!("nothing to verify in {}", env.label()))?;
    let zips = Zips::hash(&deployed, &env_dir);
    let runtime = cfg.runtime();
    let artifacts = crate::stack::discover::discover(cfg, Some(infra), &[])
        .map(|s| s.artifacts)
        .unwrap_or_default();
    let model = crate::stack::model::Model::load(&cfg.stack, Some(infra), &opts.env, &artifacts);
    let base = crate::stack::show::base(&cfg.stack);

    let mut checks = offline_checks(&Inputs {
        deployed: &deployed,
        declared: &declared,
        zips: &zips,
        runtime: &runtime,
        unrouted: &cfg.verify.unrouted,
        env: &env,
        gateway: gateway.as_ref(),
        model: Some((&model, &base)),
    });
    if !opts.offline {
        checks.extend(live::checks(
            &deployed,
            &zips,
            &runtime,
            &env,
            &opts.aws,
            opts.aws_timeout,
        ));
    }
    if let Some(outputs) = outputs {
        checks.extend(http::checks(&deployed, &outputs?, opts.url.as_deref()));
    }
    same_as::record_proof(&env_dir, &opts.env, &checks, &zips);
    Ok(Report { checks })
}

/// The environment being verified, as messages name it.
struct Env {
    name: String,
    /// The terraform binary as configured (`terraform`, `tofu`, a path), for fixes to run.
    bin: String,
}

impl Env {
    /// `envs/dev`
    fn label(&self) -> String {
        format!("envs/{}", self.name)
    }

    fn apply(&self) -> String {
        format!("`cargo xtask apply --env {}`", self.name)
    }

    /// Redeploying `address` as it is built, through the xtask (its var files, checks, saved
    /// plan and stale check), never raw terraform.
    fn replace(&self, address: &str) -> String {
        format!(
            "`cargo xtask plan --env {} -- -replace='{address}'`, then {}",
            self.name,
            self.apply()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Terraform

/// One route as a module's `api_routes` declares it.
#[derive(Debug, Clone, PartialEq)]
struct DeclaredRoute {
    key: String,
    integration: Option<String>,
    public: bool,
}

/// Module call → its `api_routes` (`None`: the module has no such output); `Err` says why
/// Terraform could not evaluate them.
type Declared = Result<BTreeMap<String, Option<Vec<DeclaredRoute>>>, String>;

fn evaluate_api_routes(tf: &Terraform, calls: &[String], var_files: &[PathBuf]) -> Declared {
    if calls.is_empty() {
        return Ok(BTreeMap::new());
    }
    let printed = tf
        .eval(&api_routes_expression(calls), var_files)
        .map_err(|e| format!("{e:#}"))?;
    parse_console(&printed)
}

/// One line (the console prints only the last line's value): `{ call = routes or null, … }`.
/// `try` covers a module without `api_routes` and modules with `count`/`for_each`.
fn api_routes_expression(calls: &[String]) -> String {
    let items: Vec<String> = calls
        .iter()
        .map(|c| {
            format!(
                "\"{c}\" = try(module.{c}.api_routes, flatten([for m in module.{c} : m.api_routes]), null)"
            )
        })
        .collect();
    format!("jsonencode({{ {} }})", items.join(", "))
}

fn parse_console(stdout: &str) -> Declared {
    let line = stdout.trim();
    match line {
        "(known after apply)" => {
            return Err(
                "some api_routes are not known yet: the configuration has changes that are \
                 not applied, or they use a variable that no var file sets"
                    .into(),
            )
        }
        "(sensitive value)" => {
            return Err("an api_routes output is marked sensitive, so it cannot be compared".into())
        }
        _ => {}
    }
    let json: String = serde_json::from_str(line)
        .map_err(|_| "terraform console did not print the expected JSON string".to_string())?;
    let value: Value = serde_json::from_str(&json)
        .map_err(|e| format!("terraform console printed invalid JSON: {e}"))?;
    let mut out = BTreeMap::new();
    for (call, routes) in value.as_object().into_iter().flatten() {
        let module = format!("module.{call}");
        let parsed = match routes {
            Value::Null => None,
            Value::Array(items) => Some(
                items
                    .iter()
                    .map(|r| {
                        declared_route(r).ok_or_else(|| {
                            format!(
                        "{module}.api_routes has an entry without a string `method` and `path`"
                    )
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?,
            ),
            _ => return Err(format!("{module}.api_routes is not a list")),
        };
        out.insert(module, parsed);
    }
    Ok(out)
}

fn declared_route(r: &Value) -> Option<DeclaredRoute> {
    Some(DeclaredRoute {
        key: format!("{} {}", r["method"].as_str()?, r["path"].as_str()?),
        integration: str_of(r, "integration"),
        public: r["public"].as_bool().unwrap_or(false),
    })
}
fn route_subject(key: &str) -> String {
    format!("route {key}")
}

fn function_subject(f: &Function) -> String {
    format!("function {}", f.name)
}

/// `demo-dev-org-common:1` of `arn:aws:lambda:…:layer:demo-dev-org-common:1`; `fallback` when
/// `arn` is not a layer version ARN.
fn layer_name<'a>(arn: &'a str, fallback: &'a str) -> &'a str {
    arn.splitn(7, ':').nth(6).unwrap_or(fallback)
}

fn layer_subject(arn: &str, fallback: &str) -> String {
    format!("layer {}", layer_name(arn, fallback))
}
#[cfg(test)]
mod tests;
