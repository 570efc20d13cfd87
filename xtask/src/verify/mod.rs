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

mod http;
mod layers;
mod live;
pub mod same_as;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::stack::hcl as tf;
use crate::terraform::{self, Terraform, VarFiles};

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

use crate::stack::env::GatewayCall;

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

// ---------------------------------------------------------------------------------------------
// What is deployed, read from `terraform show -json`

#[derive(Debug, Clone)]
struct Function {
    address: String,
    module: String,
    name: String,
    arn: String,
    /// Every string an integration or trigger may use to name it: ARNs and invoke ARNs.
    refs: Vec<String>,
    runtime: Option<String>,
    image: bool,
    layers: Vec<String>,
    code: Code,
}

/// Where a function's or layer's code comes from, and the hashes Terraform recorded.
#[derive(Debug, Clone, Default)]
struct Code {
    filename: Option<String>,
    s3: Option<String>,
    source_code_hash: Option<String>,
    /// What AWS reported at the last refresh (provider ≥ 5).
    code_sha256: Option<String>,
}

#[derive(Debug, Clone)]
struct Alias {
    function: String,
    refs: Vec<String>,
}

#[derive(Debug, Clone)]
struct Layer {
    address: String,
    module: String,
    /// The versioned ARN functions attach.
    arn: String,
    compatible_runtimes: Vec<String>,
    code: Code,
}

#[derive(Debug, Clone)]
struct Api {
    module: String,
    id: String,
    region: Option<String>,
}

#[derive(Debug, Clone)]
struct Route {
    address: String,
    module: String,
    api_id: String,
    key: String,
    target: Option<String>,
    authorization_type: String,
}

#[derive(Debug, Clone)]
struct Integration {
    api_id: String,
    id: String,
    kind: String,
    subtype: Option<String>,
    uri: Option<String>,
}

#[derive(Debug, Clone)]
struct Authorizer {
    address: String,
    module: String,
    api_id: String,
    id: String,
    uri: Option<String>,
}

/// A resource that can invoke a Lambda without a route: its values are searched for the function.
#[derive(Debug, Clone)]
struct Trigger {
    address: String,
    values: Value,
}

/// Resource types that invoke Lambdas. `aws_lambda_permission` counts unless it is API Gateway's
/// (a route's permission without the route reaches nothing).
const TRIGGER_TYPES: &[&str] = &[
    "aws_apigatewayv2_authorizer",
    "aws_api_gateway_authorizer",
    "aws_api_gateway_integration",
    "aws_lambda_event_source_mapping",
    "aws_lambda_function_url",
    "aws_lambda_permission",
    "aws_cloudwatch_event_target",
    "aws_scheduler_schedule",
    "aws_sns_topic_subscription",
    "aws_s3_bucket_notification",
    "aws_cloudwatch_log_subscription_filter",
    "aws_cognito_user_pool",
    "aws_sfn_state_machine",
    "aws_iot_topic_rule",
    "aws_pipes_pipe",
    "aws_lb_target_group_attachment",
    "aws_cloudfront_distribution",
    "aws_ses_receipt_rule",
    "aws_appsync_datasource",
    "aws_config_config_rule",
];

#[derive(Debug, Default)]
struct Deployed {
    functions: Vec<Function>,
    aliases: Vec<Alias>,
    layers: Vec<Layer>,
    apis: Vec<Api>,
    routes: Vec<Route>,
    integrations: Vec<Integration>,
    authorizers: Vec<Authorizer>,
    triggers: Vec<Trigger>,
}

/// A non-empty string attribute.
fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn strings_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// `us-east-1` from `arn:aws:lambda:us-east-1:…` or `arn:aws:apigateway:us-east-1::/apis/x`.
fn region_of(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

impl Code {
    fn of(v: &Value) -> Code {
        Code {
            filename: str_of(v, "filename"),
            s3: str_of(v, "s3_bucket")
                .map(|b| format!("s3://{b}/{}", str_of(v, "s3_key").unwrap_or_default())),
            source_code_hash: str_of(v, "source_code_hash"),
            code_sha256: str_of(v, "code_sha256"),
        }
    }
}

impl Deployed {
    fn from_state(state: &Value) -> Result<Deployed> {
        let Some(root) = state.pointer("/values/root_module") else {
            bail!(
                "Terraform has no state here: deploy first (terraform apply, or `cargo xtask apply`)"
            );
        };
        let mut d = Deployed::default();
        d.walk(root, "");
        if d.functions.is_empty() && d.routes.is_empty() {
            bail!("the Terraform state holds no Lambda function and no API route: deploy first");
        }
        Ok(d)
    }

    fn walk(&mut self, module: &Value, address: &str) {
        for r in module["resources"].as_array().into_iter().flatten() {
            if r["mode"] != "managed" {
                continue;
            }
            let (Some(kind), Some(addr)) = (r["type"].as_str(), r["address"].as_str()) else {
                continue;
            };
            self.add(kind, addr, address, &r["values"]);
        }
        for child in module["child_modules"].as_array().into_iter().flatten() {
            let child_address = child["address"].as_str().unwrap_or_default().to_string();
            self.walk(child, &child_address);
        }
    }

    fn add(&mut self, kind: &str, address: &str, module: &str, v: &Value) {
        let s = |k| str_of(v, k);
        let (address, module) = (address.to_string(), module.to_string());
        let api_gateway_permission = kind == "aws_lambda_permission"
            && s("principal").as_deref() == Some("apigateway.amazonaws.com");
        if TRIGGER_TYPES.contains(&kind) && !api_gateway_permission {
            self.triggers.push(Trigger {
                address: address.clone(),
                values: v.clone(),
            });
        }
        match kind {
            "aws_lambda_function" => self.functions.push(Function {
                name: s("function_name").unwrap_or_else(|| address.clone()),
                arn: s("arn").unwrap_or_default(),
                refs: ["arn", "qualified_arn", "invoke_arn", "qualified_invoke_arn"]
                    .iter()
                    .filter_map(|k| s(k))
                    .collect(),
                runtime: s("runtime"),
                image: s("package_type").as_deref() == Some("Image"),
                layers: strings_of(v, "layers"),
                code: Code::of(v),
                address,
                module,
            }),
            "aws_lambda_alias" => self.aliases.push(Alias {
                function: s("function_name").unwrap_or_default(),
                refs: ["arn", "invoke_arn"].iter().filter_map(|k| s(k)).collect(),
            }),
            "aws_lambda_layer_version" => self.layers.push(Layer {
                arn: s("arn").unwrap_or_default(),
                compatible_runtimes: strings_of(v, "compatible_runtimes"),
                code: Code::of(v),
                address,
                module,
            }),
            "aws_apigatewayv2_api" => self.apis.push(Api {
                id: s("id").unwrap_or_default(),
                region: s("arn").as_deref().and_then(region_of),
                module,
            }),
            "aws_apigatewayv2_route" => self.routes.push(Route {
                api_id: s("api_id").unwrap_or_default(),
                key: s("route_key").unwrap_or_default(),
                target: s("target"),
                authorization_type: s("authorization_type").unwrap_or_else(|| "NONE".into()),
                address,
                module,
            }),
            "aws_apigatewayv2_integration" => self.integrations.push(Integration {
                api_id: s("api_id").unwrap_or_default(),
                id: s("id").unwrap_or_default(),
                kind: s("integration_type").unwrap_or_default(),
                subtype: s("integration_subtype"),
                uri: s("integration_uri"),
            }),
            "aws_apigatewayv2_authorizer" => self.authorizers.push(Authorizer {
                api_id: s("api_id").unwrap_or_default(),
                id: s("id").unwrap_or_default(),
                uri: s("authorizer_uri"),
                address,
                module,
            }),
            _ => {}
        }
    }

    /// The function an integration URI (or trigger) names: directly, or through an alias.
    fn function_for(&self, uri: &str) -> Option<&Function> {
        if let Some(f) = self
            .functions
            .iter()
            .find(|f| f.refs.iter().any(|r| r == uri))
        {
            return Some(f);
        }
        let alias = self
            .aliases
            .iter()
            .find(|a| a.refs.iter().any(|r| r == uri))?;
        self.functions
            .iter()
            .find(|f| f.name == alias.function || f.arn == alias.function)
    }

    fn route_target(&self, r: &Route) -> RouteTarget<'_> {
        let Some(id) = r
            .target
            .as_deref()
            .and_then(|t| t.strip_prefix("integrations/"))
        else {
            return RouteTarget::NoTarget;
        };
        let Some(i) = self
            .integrations
            .iter()
            .find(|i| i.id == id && i.api_id == r.api_id)
        else {
            return RouteTarget::MissingIntegration(id.to_string());
        };
        let uri = i.uri.clone().unwrap_or_default();
        if i.kind != "AWS_PROXY" || i.subtype.is_some() {
            return RouteTarget::NotLambda(format!("{} {uri}", i.kind));
        }
        match self.function_for(&uri) {
            Some(f) => RouteTarget::Function(f),
            None => RouteTarget::UnknownFunction(uri),
        }
    }

    /// A route is shown with the module of the function it reaches, else the gateway's.
    fn route_module<'a>(&'a self, r: &'a Route) -> &'a str {
        match self.route_target(r) {
            RouteTarget::Function(f) => &f.module,
            _ => &r.module,
        }
    }

    /// The first trigger (not a route) that names the function.
    fn trigger_of(&self, f: &Function) -> Option<&Trigger> {
        let mut refs = f.refs.clone();
        for a in &self.aliases {
            if a.function == f.name || a.function == f.arn {
                refs.extend(a.refs.iter().cloned());
            }
        }
        self.triggers
            .iter()
            .find(|t| mentions(&t.values, &f.name, &refs))
    }
}

enum RouteTarget<'a> {
    Function(&'a Function),
    NoTarget,
    MissingIntegration(String),
    NotLambda(String),
    UnknownFunction(String),
}

/// True when a string in `v` is the function's name, or holds one of its ARNs as a whole token
/// (a state machine definition, an event pattern…): `…:function:a` does not match `…:function:ab`.
fn mentions(v: &Value, name: &str, refs: &[String]) -> bool {
    match v {
        Value::String(s) => {
            s == name
                || refs.iter().any(|r| {
                    s.match_indices(r.as_str()).any(|(i, _)| {
                        let next = s[i + r.len()..].chars().next();
                        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    })
                })
        }
        Value::Array(items) => items.iter().any(|x| mentions(x, name, refs)),
        Value::Object(map) => map.values().any(|x| mentions(x, name, refs)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Local zips

#[derive(Debug, Clone)]
struct Zip {
    path: PathBuf,
    sha256: Result<String, String>,
}

/// The local zip of every `filename` in state, keyed by that attribute, hashed once.
#[derive(Debug, Default)]
struct Zips(BTreeMap<String, Zip>);

impl Zips {
    fn hash(d: &Deployed, env_dir: &Path) -> Zips {
        let names = d
            .functions
            .iter()
            .map(|f| &f.code)
            .chain(d.layers.iter().map(|l| &l.code))
            .filter_map(|c| c.filename.clone());
        let mut zips = BTreeMap::new();
        for name in names {
            if zips.contains_key(&name) {
                continue;
            }
            // Terraform records `filename` relative to the env dir (`path.module` is relative).
            let path = tf::normalize(&env_dir.join(&name));
            let sha256 = if path.is_file() {
                crate::archive::sha256_base64(&path).map_err(|e| format!("{e:#}"))
            } else {
                Err(format!("{} does not exist", path.display()))
            };
            zips.insert(name, Zip { path, sha256 });
        }
        Zips(zips)
    }

    fn get(&self, code: &Code) -> Option<&Zip> {
        code.filename.as_ref().and_then(|f| self.0.get(f))
    }

    /// The local build's hash of this code, when there is a readable local zip.
    fn sha256(&self, code: &Code) -> Option<&str> {
        self.get(code).and_then(|z| z.sha256.as_deref().ok())
    }
}

// ---------------------------------------------------------------------------------------------
// V1–V5: from state, config and the local zips only

struct Inputs<'a> {
    deployed: &'a Deployed,
    declared: &'a Declared,
    zips: &'a Zips,
    runtime: &'a str,
    unrouted: &'a [String],
    env: &'a Env,
    gateway: Option<&'a GatewayCall>,
    /// The stack model and the directory its paths are shown from: the layers each function
    /// should carry.
    model: Option<(&'a crate::stack::model::Model, &'a Path)>,
}

fn offline_checks(i: &Inputs) -> Vec<Check> {
    let mut out = Vec::new();
    routes_reach_functions(i, &mut out);
    functions_are_reached(i, &mut out);
    routes_match_modules(i, &mut out);
    deployed_code_is_built_code(i, &mut out);
    runtimes_and_layers(i, &mut out);
    out
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

/// V1: every route targets an integration in state whose URI is a function's or alias's invoke ARN.
fn routes_reach_functions(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    for r in &d.routes {
        let subject = route_subject(&r.key);
        let module = d.route_module(r);
        out.push(match d.route_target(r) {
            RouteTarget::Function(f) => Check::pass("V1", module, subject, format!("→ {}", f.name)),
            RouteTarget::NoTarget => Check::fail(
                "V1",
                module,
                subject,
                format!("{} has no `integrations/<id>` target", r.address),
                "give the route `target = \"integrations/${aws_apigatewayv2_integration.<name>.id}\"`"
                    .into(),
            ),
            RouteTarget::MissingIntegration(id) => Check::fail(
                "V1",
                module,
                subject,
                format!(
                    "{} targets integrations/{id}, which is not in the Terraform state",
                    r.address
                ),
                "point the route at an integration managed by the same configuration, then apply"
                    .into(),
            ),
            RouteTarget::NotLambda(what) => Check::skip(
                "V1",
                module,
                subject,
                format!("targets a non-Lambda integration ({what})"),
            ),
            RouteTarget::UnknownFunction(uri) => Check::fail(
                "V1",
                module,
                subject,
                format!("its integration URI {uri} is not the invoke ARN of a function or alias in this state"),
                "use `aws_lambda_function.<name>.invoke_arn` as the route's `integration` in the module's api_routes, then apply".into(),
            ),
        });
    }
}

/// Route keys reaching each function, by function address.
fn routes_by_function(d: &Deployed) -> BTreeMap<&str, Vec<&str>> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &d.routes {
        if let RouteTarget::Function(f) = d.route_target(r) {
            map.entry(f.address.as_str()).or_default().push(&r.key);
        }
    }
    map
}

/// V2: every function has a route, a trigger, or is listed in `[verify] unrouted`.
fn functions_are_reached(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    let reached = routes_by_function(d);
    for f in &d.functions {
        let subject = function_subject(f);
        if let Some(keys) = reached.get(f.address.as_str()) {
            let mut list = keys[..keys.len().min(3)].join(", ");
            if keys.len() > 3 {
                list.push_str(", …");
            }
            let n = keys.len();
            let s = if n == 1 { "" } else { "s" };
            out.push(Check::pass(
                "V2",
                &f.module,
                subject,
                format!("{n} route{s}: {list}"),
            ));
        } else if i.unrouted.iter().any(|u| *u == f.name || *u == f.address) {
            out.push(Check::pass(
                "V2",
                &f.module,
                subject,
                "no route; listed in [verify] unrouted".into(),
            ));
        } else if let Some(t) = d.trigger_of(f) {
            out.push(Check::pass(
                "V2",
                &f.module,
                subject,
                format!("no route; invoked by {}", t.address),
            ));
        } else {
            out.push(Check::fail(
                "V2",
                &f.module,
                subject,
                format!("`{}` exists but no route reaches it", f.name),
                unreached_fix(i, f),
            ));
        }
    }
}

fn unreached_fix(i: &Inputs, f: &Function) -> String {
    let otherwise = format!(
        "or give it another trigger, or list \"{}\" under [verify] unrouted in xtask.toml",
        f.name
    );
    let declared = i.declared.as_ref().ok();
    let call = module_call(&f.module);
    let routes = declared.and_then(|m| m.get(&call));
    match routes {
        Some(Some(routes))
            if routes
                .iter()
                .any(|r| r.integration.as_deref().is_some_and(|u| f.refs.iter().any(|x| x == u))) =>
        {
            format!("{}; {otherwise}", include_module_fix(i, &call))
        }
        Some(None) => format!(
            "{call} has no `api_routes` output: export its routes in the module's outputs.tf and add {call}.api_routes to module_routes, {otherwise}"
        ),
        _ => format!(
            "add a route with `integration = {}.invoke_arn` to {call}'s api_routes output, {otherwise}",
            local_address(&f.address)
        ),
    }
}

/// `module.module_access` for a resource or module instance address (`module.x["a"]` → `module.x`).
fn module_call(module: &str) -> String {
    let first = module.split('.').take(2).collect::<Vec<_>>().join(".");
    first.split('[').next().unwrap_or_default().to_string()
}

/// `aws_lambda_function.profiles` from `module.module_access.aws_lambda_function.profiles`.
fn local_address(address: &str) -> String {
    let parts: Vec<&str> = address.split('.').collect();
    parts[parts.len().saturating_sub(2)..].join(".")
}

/// The fix for a module whose declared routes are not in the gateway.
fn include_module_fix(i: &Inputs, call: &str) -> String {
    let reference = format!("{call}.api_routes");
    match i.gateway {
        Some(g) if !g.routes_expr.contains(&reference) => format!(
            "add {reference} to `module_routes = concat(…)` at {}, then apply",
            g.location
        ),
        Some(_) => format!(
            "{reference} is in module_routes but not deployed: run {}",
            i.env.apply()
        ),
        None => format!(
            "add {reference} to the gateway's module_routes in {}, then apply",
            i.env.label()
        ),
    }
}

/// V3: gateway routes = the union of the modules' `api_routes`.
fn routes_match_modules(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    let declared = match i.declared {
        Ok(map) => map,
        Err(why) => {
            out.push(Check::fail(
                "V3",
                "",
                "api_routes".into(),
                format!("cannot evaluate the modules' api_routes: {why}"),
                format!(
                    "run `cargo xtask plan --env {}` and fix what it reports, then apply",
                    i.env.name
                ),
            ));
            return;
        }
    };
    let mut by_key: BTreeMap<&str, &str> = BTreeMap::new();
    for (call, routes) in declared {
        for r in routes.iter().flatten() {
            by_key.insert(&r.key, call);
            let target = r.integration.as_deref().and_then(|u| d.function_for(u));
            let module = target.map_or(call.as_str(), |f| f.module.as_str());
            let to = target
                .map(|f| format!(" (→ {})", f.name))
                .unwrap_or_default();
            let subject = route_subject(&r.key);
            let in_gateway = d.routes.iter().find(|g| g.key == r.key);
            out.push(match in_gateway {
                None => Check::fail(
                    "V3",
                    module,
                    subject,
                    format!(
                        "route `{}`{to} is declared by {call}.api_routes but is not in the gateway",
                        r.key
                    ),
                    include_module_fix(i, call),
                ),
                Some(g) => match (d.route_target(g), target) {
                    (RouteTarget::Function(got), Some(want)) if got.address != want.address => {
                        Check::fail(
                            "V3",
                            module,
                            subject,
                            format!(
                                "the gateway sends `{}` to {} but {call}.api_routes declares {}",
                                r.key, got.name, want.name
                            ),
                            format!("run {} so the gateway follows api_routes", i.env.apply()),
                        )
                    }
                    _ => Check::pass("V3", module, subject, format!("declared by {call}")),
                },
            });
        }
    }
    for g in &d.routes {
        if !by_key.contains_key(g.key.as_str()) {
            out.push(Check::fail(
                "V3",
                d.route_module(g),
                route_subject(&g.key),
                format!(
                    "route `{}` is in the gateway ({}) but no module's api_routes declares it",
                    g.key, g.address
                ),
                "declare it in the owning module's api_routes output (and route module_routes from there), or remove it"
                    .into(),
            ));
        }
    }
}

/// V4: the hash Terraform deployed (and AWS last reported) = the local zip's.
fn deployed_code_is_built_code(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    for f in &d.functions {
        if f.image {
            out.push(Check::skip(
                "V4",
                &f.module,
                function_subject(f),
                "container image; no zip".into(),
            ));
            continue;
        }
        out.push(code_check(
            i,
            &f.module,
            function_subject(f),
            &f.address,
            &f.code,
        ));
    }
    for l in &d.layers {
        out.push(code_check(
            i,
            &l.module,
            layer_subject(&l.arn, &l.address),
            &l.address,
            &l.code,
        ));
    }
}

fn code_check(i: &Inputs, module: &str, subject: String, address: &str, code: &Code) -> Check {
    let fail =
        |message: String, fix: String| Check::fail("V4", module, subject.clone(), message, fix);
    let Some(zip) = i.zips.get(code) else {
        let from = code.s3.as_deref().unwrap_or("no local file");
        return fail(
            format!("{address} is deployed from {from}, not from a local build zip: Terraform never sees new builds"),
            "use `filename = \"${local.build_dir}/<name>.zip\"` and `source_code_hash = filebase64sha256(…)` of the build output".into(),
        );
    };
    let local = match &zip.sha256 {
        Ok(sha) => sha,
        Err(why) => {
            return fail(
                format!("cannot hash the local zip: {why}"),
                "run `cargo xtask build` (the same build that was applied)".into(),
            )
        }
    };
    let name = zip
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match (&code.source_code_hash, &code.code_sha256) {
        (None, _) => fail(
            format!("{address} has no source_code_hash: Terraform cannot tell when the code changes"),
            format!("set `source_code_hash = filebase64sha256(\"…/{name}\")` on {address}"),
        ),
        (Some(state), _) if state != local => fail(
            format!(
                "state has {state} but the local {name} is {local}: the build changed since the last apply"
            ),
            format!("run {} to deploy this build (or rebuild what was applied)", i.env.apply()),
        ),
        (_, Some(aws)) if aws != local => fail(
            format!(
                "AWS reported code {aws} at the last refresh, but the local {name} is {local}: changed outside Terraform"
            ),
            format!(
                "redeploy: {} (Terraform does not notice code changed outside it)",
                i.env.replace(address)
            ),
        ),
        _ => Check::pass("V4", module, subject, format!("{name} {local}")),
    }
}

/// V5: every function runs the configured Python, and its layers exist and fit that runtime.
fn runtimes_and_layers(i: &Inputs, out: &mut Vec<Check>) {
    let d = i.deployed;
    for f in &d.functions {
        let subject = function_subject(f);
        if f.image {
            out.push(Check::skip(
                "V5",
                &f.module,
                subject,
                "container image; no runtime".into(),
            ));
            continue;
        }
        let mut problems = Vec::new();
        let runtime = f.runtime.as_deref().unwrap_or("none");
        if runtime != i.runtime {
            problems.push(format!(
                "runtime is {runtime}, the build targets {}",
                i.runtime
            ));
        }
        let mut notes = Vec::new();
        if let Some((model, base)) = i.model {
            match layers::compare(model, base, d, f) {
                Ok(note) => notes.extend(note),
                Err(problem) => problems.push(problem),
            }
        }
        let mut external = 0;
        for arn in &f.layers {
            match d.layers.iter().find(|l| &l.arn == arn) {
                None => external += 1,
                Some(l)
                    if !l.compatible_runtimes.is_empty()
                        && !l.compatible_runtimes.iter().any(|r| r == runtime) =>
                {
                    problems.push(format!(
                        "{} is built for {} only",
                        layer_subject(&l.arn, &l.address),
                        l.compatible_runtimes.join(", ")
                    ))
                }
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            let layers = match (f.layers.len(), external) {
                (0, _) => "no layers".to_string(),
                (n, 0) => format!("{n} layer(s) in state"),
                (n, e) => {
                    format!("{n} layer(s), {e} published outside this state (seen live only)")
                }
            };
            let notes: String = notes.iter().map(|n| format!("; {n}")).collect();
            out.push(Check::pass(
                "V5",
                &f.module,
                subject,
                format!("{runtime}, {layers}{notes}"),
            ));
        } else {
            out.push(Check::fail(
                "V5",
                &f.module,
                subject,
                problems.join("; "),
                format!(
                    "set `runtime = \"{}\"` on {} and `compatible_runtimes = [\"{}\"]` on its layers (or `python` in xtask.toml); for layers, `cargo xtask stack` shows what the configuration attaches; rebuild and apply",
                    i.runtime, f.address, i.runtime
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests;
