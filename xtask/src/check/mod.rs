//! `cargo xtask check`: the stack and its infra env against the CORA contract, offline (no AWS,
//! no terraform binary). Terraform is read with hcl-edit (`tf`), Python with a line scanner
//! (`python`). Every finding has a stable code, a severity, `file:line` (line 0: the whole file
//! or directory), a message and a fix. Any error fails the command; warnings alone do not.
//!
//! | Code | Severity | Finding |
//! |------|----------|---------|
//! | `TF-parse-error` | error | a `.tf` file does not parse (the parser's message and line) |
//! | `F4-runtime` | error | a function's `runtime` or a layer's `compatible_runtimes` is not the build's target (`python` in xtask.toml), or a zip function has no `runtime` |
//! | `F10-no-handler-file` | error | a directory under `lambdas/` has no `lambda_function.py` |
//! | `F10-no-lambda-handler` | error | `lambda_function.py` binds no module-level `lambda_handler` |
//! | `F10-empty-layer` | error | a layer's `python/` is empty or missing and its requirements list nothing |
//! | `F11-no-modules` | error | the stack has no `packages/module-*` directory |
//! | `F11-no-infrastructure` | error | a module has no `infrastructure/` |
//! | `F11-missing-file` | error | `infrastructure/` lacks `main.tf`, `variables.tf`, `outputs.tf` or `versions.tf` |
//! | `F11-no-api-routes` | error | the module does not export `api_routes` |
//! | `F11-routes-unchecked` | warning | `api_routes`, or one entry, is not a literal route object, so it is not checked |
//! | `F11-route-method` | error | a route's `method` is missing or not GET, POST, PUT, PATCH, DELETE |
//! | `F11-route-path` | error | a route's `path` is missing or breaks the path rules (leading `/`, no trailing or double `/`, `{camelCase}` parameters, each once) |
//! | `F11-route-integration` | error | a route's `integration` is not `aws_lambda_function.<name>.invoke_arn` or `aws_lambda_alias.<name>.invoke_arn` of a resource in the module |
//! | `F11-route-public` | error | a route's `public` is missing or a literal that is not a bool |
//! | `F11-missing-variable` | error | a module does not declare a common module variable |
//! | `F12-no-infra` | warning | no infra repo was found: env checks are skipped |
//! | `F12-no-env` | error | `<infra>/envs/<env>/` does not exist or has no `.tf` files, or `<env>` is not a plain directory name |
//! | `F12-bad-source` | error | a module block's local `source` does not exist |
//! | `F12-duplicate-module` | error | two module blocks with the same name or the same source |
//! | `F12-environment-mismatch` | warning | a module block's `environment = "…"` differs from the env directory name |
//! | `F12-module-not-called` | error | a stack module is not called from the env |
//! | `F12-no-gateway` | error | no module block in the env sets `module_routes` |
//! | `F12-routes-unchecked` | warning | `module_routes` is not `concat(...)` or one `module.<name>.api_routes` |
//! | `F12-not-in-module-routes` | error | a called module exports `api_routes` but is not in `module_routes` |
//! | `F12-route-listed-twice` | error | `module.<name>.api_routes` appears more than once in `module_routes` |
//! | `F12-unknown-module` | error | `module_routes` names a module the env does not declare |
//! | `F13-s3-code` | error | a function or layer takes its code from `s3_bucket`/`s3_key`/`s3_object_version`/`image_uri` |
//! | `F13-no-local-zip` | error | a function or layer has no `filename`, or it is not a `.zip` |
//! | `F13-hash-mismatch` | error | `source_code_hash` is missing or is not `filebase64sha256` of the `filename` |
//! | `F14-zip-not-built` | error | Terraform reads a zip the build does not produce |
//! | `F14-zip-unused` | warning | the build produces a zip no Terraform resource reads |
//! | `F16-undeclared-variable` | error | `var.<name>` used in a module or the env but not declared there |
//! | `F16-missing-module-argument` | error | a module block omits a variable the stack module requires (no default) |
//! | `F16-unknown-module-argument` | error | a module block sets an argument the stack module does not declare |
//! | `F17-duplicate-route` | error | the same method and path declared twice (within or across modules) |
//! | `F17-too-many-routes` | error | more than 300 routes (and so integrations) reach one API |
//! | `F17-timeout` | warning | a routed function's `timeout` is over the 30 s integration timeout |
//! | `F17-param-name` | warning | the same path position is a parameter with different names |
//! | `F18-unresolved-import` | error | a function or layer imports a module nothing provides |
//! | `F18-optional-import` | warning | the same, for an import guarded by `except ImportError` |
//! | `DEP-stale-lock` | error | a `requirements.lock` was made from other requirements (or their `-r`/`-c` includes) or for another target than xtask.toml's |
//! | `SEC-secret-shipped` | error | a secret-looking file (`.env*`, a `.pem` with a private key, `id_rsa*`, `credentials`) ships because an `include` glob matches it |
//! | `SEC-secret-in-source` | warning | a secret-looking file sits in a function's or layer's source tree (the build leaves it out) |
//!
//! F18 resolves each top-level module a function's (or layer's) `.py` files import against: the
//! Python 3.13 standard library; what the Lambda runtime ships and AWS documents (boto3 and its
//! dependencies botocore, s3transfer, jmespath, urllib3 — not python-dateutil or six, which the
//! runtime only carries through botocore's pin and may drop); the function's own files; its
//! dependencies (the build's installed tree when one is cached, else the distribution names in
//! requirements.txt, with a few well-known renames); and, for functions, the layers attached in
//! Terraform (`build::declared_layers`), each providing its `python/` code and dependencies.
//! When a function's layers cannot be traced (no resource found for its zip, a literal ARN),
//! any layer of the stack counts: only what nothing could provide is reported.
//! Layer code may also import any other layer of the stack: which layers sit beside it depends
//! on the function. Tests (`tests/`, `test_*.py`, `conftest.py`) are not checked.

mod locks;
mod python;
mod secrets;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Result;
use hcl_edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl_edit::structure::Block;
use serde::Serialize;

use crate::build;
use crate::config::Config;
use crate::discover::{self, Artifact, Kind};
use crate::install;
use crate::tf::{self, TfFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable, e.g. `F11-no-api-routes`; the table in this module's docs lists them all.
    pub code: &'static str,
    pub severity: Severity,
    /// Relative to the stack's parent directory, so a stack and its sibling infra repo both
    /// read well (`demo-stack/packages/…`, `demo-infra/envs/dev/main.tf`).
    pub file: String,
    /// 1-based; 0 when the finding is about a whole file or directory.
    pub line: usize,
    pub message: String,
    pub fix: String,
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
const MODULE_FILES: [&str; 4] = ["main.tf", "variables.tf", "outputs.tf", "versions.tf"];
const COMMON_VARIABLES: [&str; 7] = [
    "project_name",
    "environment",
    "module_name",
    "aws_region",
    "supabase_secret_arn",
    "log_level",
    "common_tags",
];
/// module-access publishes the org-common layer; every other module is passed its ARN.
const LAYER_PUBLISHER: &str = "module-access";
/// Importable in every Python Lambda runtime without packaging: the AWS SDK and its own deps.
const RUNTIME_PROVIDED: [&str; 5] = ["boto3", "botocore", "jmespath", "s3transfer", "urllib3"];
/// API Gateway HTTP API limits.
const MAX_ROUTES: usize = 300;
const MAX_INTEGRATION_TIMEOUT: f64 = 30.0;
/// Distributions whose import name is not their normalized name (used only when nothing is
/// installed yet and requirements.txt is all there is).
const IMPORT_NAMES: [(&str, &str); 12] = [
    ("attrs", "attr"),
    ("beautifulsoup4", "bs4"),
    ("opencv_python", "cv2"),
    ("opensearch_py", "opensearchpy"),
    ("pillow", "PIL"),
    ("protobuf", "google"),
    ("psycopg2_binary", "psycopg2"),
    ("pycryptodome", "Crypto"),
    ("pyjwt", "jwt"),
    ("python_dateutil", "dateutil"),
    ("python_dotenv", "dotenv"),
    ("pyyaml", "yaml"),
];

pub fn run(cfg: &Config, infra: Option<&Path>, env: &str) -> Result<Vec<Finding>> {
    let found = discover::discover(cfg, infra, &[])?;
    let mut c = Checker {
        cfg,
        base: cfg.stack.parent().unwrap_or(&cfg.stack).to_path_buf(),
        findings: Vec::new(),
    };
    let modules = c.modules(&found);
    let env = c.env(infra, env);
    let routes: Vec<ModuleRoutes> = modules.iter().map(|m| c.module_routes(m)).collect();
    c.variables(&modules, env.as_ref());
    let code = c.lambda_code(&modules, env.as_ref(), &found.artifacts);
    if let Some(env) = &env {
        c.composition(env, &modules, &routes);
    }
    c.route_rules(&modules, &routes);
    c.sources(&found, &code);
    secrets::check(&mut c, &found);
    locks::check(&mut c, &found);
    let mut findings = c.findings;
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.code, &a.message).cmp(&(&b.file, b.line, b.code, &b.message))
    });
    Ok(findings)
}

/// No error among the findings: warnings alone pass.
pub fn passed(findings: &[Finding]) -> bool {
    !findings.iter().any(|f| f.severity == Severity::Error)
}

struct Checker<'a> {
    cfg: &'a Config,
    base: PathBuf,
    findings: Vec<Finding>,
}

/// One stack module's Terraform.
struct ModuleTf {
    name: String,
    infra: PathBuf,
    files: Vec<TfFile>,
    /// `infrastructure/` exists and every file parsed: absence of something means something.
    readable: bool,
}

/// The infra env's root module.
struct Env {
    name: String,
    dir: PathBuf,
    files: Vec<TfFile>,
    readable: bool,
}

/// What a module's `api_routes` says.
#[derive(Default)]
struct ModuleRoutes {
    exported: bool,
    /// Route objects, valid or not: each becomes one route and one integration.
    count: usize,
    /// Routes with a valid method and path.
    routes: Vec<Route>,
}

struct Route {
    method: String,
    path: String,
    file: PathBuf,
    line: usize,
    /// The `aws_lambda_function` resource the integration invokes, when known.
    function: Option<String>,
}

/// Where Terraform's function and layer resources live: a module, or the env (infra Lambdas).
struct Scope<'a> {
    files: &'a [TfFile],
    dir: &'a Path,
    readable: bool,
}

/// What `lambda_code` learned for later checks.
#[derive(Default)]
struct Code {
    /// Artifact id → the Terraform resource that deploys it.
    resource_of: HashMap<String, String>,
    /// Owners (`module-access`, `infra`) whose Terraform is missing or did not parse, or has a
    /// function or layer whose zip cannot be known: whether an artifact is deployed is unknown.
    uncertain: BTreeSet<String>,
}

impl Checker<'_> {
    fn add(
        &mut self,
        severity: Severity,
        code: &'static str,
        file: &Path,
        line: usize,
        message: String,
        fix: String,
    ) {
        let file = self.rel(file);
        self.findings.push(Finding {
            code,
            severity,
            file,
            line,
            message,
            fix,
        });
    }

    fn error(
        &mut self,
        code: &'static str,
        file: &Path,
        line: usize,
        message: String,
        fix: String,
    ) {
        self.add(Severity::Error, code, file, line, message, fix);
    }

    fn warn(&mut self, code: &'static str, file: &Path, line: usize, message: String, fix: String) {
        self.add(Severity::Warning, code, file, line, message, fix);
    }

    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.base)
            .unwrap_or(p)
            .display()
            .to_string()
    }

    fn parse_errors(&mut self, errors: Vec<tf::ParseError>) {
        for e in errors {
            let name = e
                .path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            self.error(
                "TF-parse-error",
                &e.path,
                e.line,
                format!("{name} does not parse: {}", e.message),
                "fix the syntax here; terraform stops at the same place".into(),
            );
        }
    }

    /// F11 layout, and each module's Terraform parsed.
    fn modules(&mut self, found: &discover::Stack) -> Vec<ModuleTf> {
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
            for f in MODULE_FILES {
                if !infra.join(f).is_file() {
                    let what = match f {
                        "main.tf" => {
                            "the module's aws_lambda_function and \
                             aws_lambda_layer_version resources"
                        }
                        "variables.tf" => {
                            "the common module variables (project_name, \
                             environment, …)"
                        }
                        "outputs.tf" => "the api_routes output",
                        _ => "terraform { required_providers { aws = … } }",
                    };
                    self.error(
                        "F11-missing-file",
                        &infra.join(f),
                        0,
                        format!("{}/infrastructure has no {f}", m.name),
                        format!("add {f} with {what}"),
                    );
                }
            }
            let (files, errors) = tf::parse_dir(&infra);
            let readable = errors.is_empty();
            self.parse_errors(errors);
            out.push(ModuleTf {
                name: m.name.clone(),
                infra,
                files,
                readable,
            });
        }
        out
    }

    fn env(&mut self, infra: Option<&Path>, name: &str) -> Option<Env> {
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
        let (files, errors) = tf::parse_dir(&dir);
        let readable = errors.is_empty();
        self.parse_errors(errors);
        Some(Env {
            name: name.to_string(),
            dir,
            files,
            readable,
        })
    }

    /// F11: the module's `api_routes` output, route by route.
    fn module_routes(&mut self, m: &ModuleTf) -> ModuleRoutes {
        let mut out = ModuleRoutes::default();
        let output = m.files.iter().find_map(|f| {
            f.labeled("output")
                .find(|(n, _)| *n == "api_routes")
                .map(|(_, b)| (f, b))
        });
        let Some((file, block)) = output else {
            if m.readable {
                self.error(
                    "F11-no-api-routes",
                    &m.infra.join("outputs.tf"),
                    0,
                    format!(
                        "{} does not export api_routes: its Lambdas deploy but no route reaches \
                         them, so every endpoint returns 404",
                        m.name
                    ),
                    "add output \"api_routes\" { value = [{ method = \"GET\", path = \"/…\", \
                     integration = aws_lambda_function.<fn>.invoke_arn, public = false }] }"
                        .into(),
                );
            }
            return out;
        };
        out.exported = true;
        let items = tf::attr(&block.body, "value").and_then(|v| route_items(v, &m.files));
        let Some(items) = items else {
            self.warn(
                "F11-routes-unchecked",
                &file.path,
                file.line_of(block),
                format!(
                    "api_routes of {} is not a list of route objects check can read, so its \
                     routes are not checked",
                    m.name
                ),
                "write api_routes as a list of { method, path, integration, public } objects \
                 (concat of such lists is fine)"
                    .into(),
            );
            return out;
        };
        for item in items {
            let line = file.line_of(item);
            let Expression::Object(obj) = item else {
                self.warn(
                    "F11-routes-unchecked",
                    &file.path,
                    line,
                    "this api_routes entry is not a { method, path, integration, public } \
                     object, so it is not checked"
                        .into(),
                    "write each route as an object literal".into(),
                );
                continue;
            };
            out.count += 1;
            let fields: HashMap<&str, &Expression> = obj
                .iter()
                .filter_map(|(k, v)| {
                    let key = match k {
                        ObjectKey::Ident(id) => id.as_str(),
                        ObjectKey::Expression(e) => e.as_str()?,
                    };
                    Some((key, v.expr()))
                })
                .collect();
            if let Some(route) = self.route(m, file, line, &fields) {
                out.routes.push(route);
            }
        }
        out
    }

    fn route(
        &mut self,
        m: &ModuleTf,
        file: &TfFile,
        line: usize,
        fields: &HashMap<&str, &Expression>,
    ) -> Option<Route> {
        let at = |k: &str| fields.get(k).map_or(line, |e| file.line_of(*e));
        let method = fields.get("method").and_then(|e| e.as_str());
        let path = fields.get("path").and_then(|e| e.as_str());
        let label = format!("route {} {}", method.unwrap_or("?"), path.unwrap_or("?"));
        let mut ok = true;

        let method_problem = match (fields.get("method"), method) {
            (None, _) => Some("has no method".to_string()),
            (Some(_), None) => Some("has a method that is not a string literal".to_string()),
            (Some(_), Some(verb)) if !METHODS.contains(&verb) => Some(format!(
                "has method \"{verb}\", which is not one of {}",
                METHODS.join(", ")
            )),
            _ => None,
        };
        if let Some(problem) = method_problem {
            ok = false;
            self.error(
                "F11-route-method",
                &file.path,
                at("method"),
                format!("{label} {problem}"),
                format!("set method to one of {}, in capitals", METHODS.join(", ")),
            );
        }

        let bad_path = match (fields.get("path"), path) {
            (None, _) => Some((
                "has no path".to_string(),
                "add path = \"/<resource>\"".to_string(),
            )),
            (Some(_), None) => Some((
                "has a path that is not a string literal".to_string(),
                "write the path as a literal such as \"/orgs/{orgId}\"".to_string(),
            )),
            (Some(_), Some(p)) => path_problem(p),
        };
        if let Some((problem, fix)) = bad_path {
            ok = false;
            self.error(
                "F11-route-path",
                &file.path,
                at("path"),
                format!("{label} {problem}"),
                fix,
            );
        }

        let function = match fields.get("integration") {
            None => {
                self.error(
                    "F11-route-integration",
                    &file.path,
                    line,
                    format!("{label} has no integration"),
                    "add integration = aws_lambda_function.<fn>.invoke_arn".into(),
                );
                None
            }
            Some(e) => match integration_target(e, &m.files) {
                Ok(function) => function,
                Err((problem, fix)) => {
                    self.error(
                        "F11-route-integration",
                        &file.path,
                        at("integration"),
                        format!("{label} {problem}"),
                        fix,
                    );
                    None
                }
            },
        };

        let public_problem = match fields.get("public") {
            None => Some("has no public flag (the gateway's route type requires it)".to_string()),
            Some(Expression::String(s)) => Some(format!(
                "has public = \"{}\", a string, not a bool",
                s.value()
            )),
            Some(
                e @ (Expression::Number(_)
                | Expression::Null(_)
                | Expression::Array(_)
                | Expression::Object(_)),
            ) => Some(format!("has public = {}, not a bool", e.to_string().trim())),
            _ => None,
        };
        if let Some(problem) = public_problem {
            self.error(
                "F11-route-public",
                &file.path,
                at("public"),
                format!("{label} {problem}"),
                "set public = false, or true for a route that skips the authorizer".into(),
            );
        }

        Some(Route {
            method: method?.to_string(),
            path: path?.to_string(),
            file: file.path.clone(),
            line,
            function,
        })
        .filter(|_| ok)
    }

    /// F11 common module variables; F16 `var.x` declared wherever it is used.
    fn variables(&mut self, modules: &[ModuleTf], env: Option<&Env>) {
        for m in modules.iter().filter(|m| m.readable) {
            let declared = declared_variables(&m.files);
            let layer = (m.name != LAYER_PUBLISHER).then_some("org_common_layer_arn");
            for v in COMMON_VARIABLES.iter().copied().chain(layer) {
                if !declared.contains_key(v) {
                    self.error(
                        "F11-missing-variable",
                        &m.infra.join("variables.tf"),
                        0,
                        format!("{} does not declare variable \"{v}\"", m.name),
                        format!(
                            "add variable \"{v}\" to variables.tf: the env passes it to \
                             every CORA module"
                        ),
                    );
                }
            }
            self.undeclared(&m.files, &declared, &m.name);
        }
        if let Some(env) = env.filter(|e| e.readable) {
            let declared = declared_variables(&env.files);
            self.undeclared(&env.files, &declared, &format!("envs/{}", env.name));
        }
    }

    fn undeclared(&mut self, files: &[TfFile], declared: &BTreeMap<String, bool>, owner: &str) {
        for f in files {
            let mut seen = BTreeSet::new();
            for (name, line) in f.var_refs() {
                if !declared.contains_key(&name) && seen.insert(name.clone()) {
                    self.error(
                        "F16-undeclared-variable",
                        &f.path,
                        line,
                        format!("var.{name} is used but {owner} declares no variable \"{name}\""),
                        format!(
                            "declare variable \"{name}\" in variables.tf, or fix the reference"
                        ),
                    );
                }
            }
        }
    }

    /// F13 local zips, F4 runtimes and F14 zips vs build outputs.
    fn lambda_code(
        &mut self,
        modules: &[ModuleTf],
        env: Option<&Env>,
        artifacts: &[Artifact],
    ) -> Code {
        let mut code = Code::default();
        let mut scopes: Vec<(&str, Scope)> = modules
            .iter()
            .map(|m| {
                let scope = Scope {
                    files: &m.files,
                    dir: &m.infra,
                    readable: m.readable,
                };
                (m.name.as_str(), scope)
            })
            .collect();
        if let Some(env) = env {
            let scope = Scope {
                files: &env.files,
                dir: &env.dir,
                readable: env.readable,
            };
            scopes.push(("infra", scope));
        }
        // Terraform resolves relative paths against the directory it runs in: the env.
        let cwd = env.map(|e| e.dir.as_path());
        let mut referenced = BTreeSet::new();
        for (owner, scope) in &scopes {
            if !scope.readable {
                code.uncertain.insert(owner.to_string());
            }
            for f in scope.files {
                for kind in ["aws_lambda_function", "aws_lambda_layer_version"] {
                    for (name, block) in f.resources(kind) {
                        let addr = format!("{kind}.{name}");
                        self.runtime(scope, f, block, &addr, kind);
                        let Some((zip, line)) = self.local_zip(scope, cwd, f, block, &addr) else {
                            // Code from S3 (already an error) still deploys the zip its key names.
                            let key = tf::attr(&block.body, "s3_key").and_then(tf::zip_basename);
                            match artifacts
                                .iter()
                                .find(|a| key.as_ref() == Some(&a.zip_name()))
                            {
                                Some(a) => referenced.insert(a.id()),
                                None => code.uncertain.insert(owner.to_string()),
                            };
                            continue;
                        };
                        match artifacts.iter().find(|a| zip.is(a)) {
                            Some(a) => {
                                referenced.insert(a.id());
                                code.resource_of.insert(a.id(), addr);
                            }
                            None => self.zip_not_built(&zip, artifacts, f, line, &addr),
                        }
                    }
                }
            }
        }
        for a in artifacts {
            // An empty layer is already an error and builds nothing.
            if referenced.contains(&a.id()) || code.uncertain.contains(&a.module) || empty_layer(a)
            {
                continue;
            }
            if a.module == "infra" && env.is_none() {
                continue;
            }
            let resource = match a.kind {
                Kind::Function => "an aws_lambda_function",
                Kind::Layer => "an aws_lambda_layer_version",
            };
            self.warn(
                "F14-zip-unused",
                &a.src,
                0,
                format!(
                    "{} builds {}, which no Terraform resource reads",
                    a.id(),
                    a.zip_name()
                ),
                format!(
                    "deploy it with {resource} whose filename is that zip, or remove the \
                     directory (or list it under exclude in xtask.toml)"
                ),
            );
        }
        code
    }

    fn runtime(&mut self, scope: &Scope, f: &TfFile, block: &Block, addr: &str, kind: &str) {
        let want = self.cfg.runtime();
        let fix = format!(
            "set it to \"{want}\", the version the build installs dependencies for \
             (python in xtask.toml)"
        );
        if kind == "aws_lambda_function" {
            match tf::attr(&block.body, "runtime") {
                None if tf::attr(&block.body, "image_uri").is_none() => self.error(
                    "F4-runtime",
                    &f.path,
                    f.line_of(block),
                    format!("{addr} sets no runtime"),
                    format!("add runtime = \"{want}\""),
                ),
                Some(e) => match tf::resolve_text(e, scope.files, scope.dir) {
                    Some(r) if r != want => self.error(
                        "F4-runtime",
                        &f.path,
                        f.line_of(e),
                        format!("{addr} has runtime \"{r}\" but the build targets {want}"),
                        fix,
                    ),
                    _ => {}
                },
                None => {}
            }
        } else if let Some(Expression::Array(rs)) = tf::attr(&block.body, "compatible_runtimes") {
            let wrong: Vec<&str> = rs
                .iter()
                .filter_map(|r| r.as_str())
                .filter(|r| *r != want)
                .collect();
            if !wrong.is_empty() {
                self.error(
                    "F4-runtime",
                    &f.path,
                    f.line_of(rs),
                    format!(
                        "{addr} is marked compatible with {} but the build targets {want}",
                        wrong.join(", ")
                    ),
                    format!(
                        "set compatible_runtimes = [\"{want}\"]: its packages are built for \
                         {want} only"
                    ),
                );
            }
        }
    }

    /// F13: the resource deploys a local zip, hashed by `source_code_hash`. Returns the zip and
    /// the line of `filename`.
    fn local_zip(
        &mut self,
        scope: &Scope,
        cwd: Option<&Path>,
        f: &TfFile,
        block: &Block,
        addr: &str,
    ) -> Option<(ZipRef, usize)> {
        let remote: Vec<&str> = ["s3_bucket", "s3_key", "s3_object_version", "image_uri"]
            .into_iter()
            .filter(|k| tf::attr(&block.body, k).is_some())
            .collect();
        if let Some(first) = remote.first() {
            let line = block.body.get_attribute(first).map_or(0, |a| f.line_of(a));
            self.error(
                "F13-s3-code",
                &f.path,
                line,
                format!(
                    "{addr} takes its code from {}: terraform never sees a new local build",
                    remote.join(", ")
                ),
                format!(
                    "remove {} and set filename to the built zip with source_code_hash = \
                     filebase64sha256(<same path>)",
                    remote.join(", ")
                ),
            );
            return None;
        }
        let Some(attr) = block.body.get_attribute("filename") else {
            self.error(
                "F13-no-local-zip",
                &f.path,
                f.line_of(block),
                format!("{addr} has no filename"),
                "set filename = \"${local.build_dir}/<name>.zip\" (the zip cargo xtask build \
                 writes)"
                    .into(),
            );
            return None;
        };
        let line = f.line_of(attr);
        let resolved = tf::resolve_text(&attr.value, scope.files, scope.dir);
        let zip = match &resolved {
            Some(text) if text.ends_with(".zip") => {
                let p = Path::new(text);
                let base = cwd.unwrap_or(scope.dir);
                Some(ZipRef::Path(tf::normalize(&base.join(p))))
            }
            Some(text) => {
                self.error(
                    "F13-no-local-zip",
                    &f.path,
                    line,
                    format!("{addr} has filename \"{text}\", which is not a .zip"),
                    "point filename at the zip cargo xtask build writes".into(),
                );
                return None;
            }
            // A name built from for_each or count (`${each.key}.zip`) is not known offline.
            None => tf::zip_basename(&attr.value)
                .filter(|b| !b.contains("${") && !b.contains("%{"))
                .map(ZipRef::Name),
        };
        match tf::attr(&block.body, "source_code_hash") {
            None => self.error(
                "F13-hash-mismatch",
                &f.path,
                f.line_of(block),
                format!(
                    "{addr} has no source_code_hash: terraform does not notice a rebuilt \
                     zip, so new code never deploys"
                ),
                format!(
                    "add source_code_hash = filebase64sha256({})",
                    written(&attr.value)
                ),
            ),
            Some(hash) => {
                let hashed = match tf::func_call(hash) {
                    Some(("filebase64sha256", args)) if args.len() == 1 => Some(args[0]),
                    _ => None,
                };
                let same = hashed.is_some_and(|h| {
                    match (tf::resolve_text(h, scope.files, scope.dir), &resolved) {
                        (Some(a), Some(b)) => {
                            tf::normalize(Path::new(&a)) == tf::normalize(Path::new(b))
                        }
                        _ => written(h) == written(&attr.value),
                    }
                });
                if !same {
                    let what = match hashed {
                        Some(h) => format!("hashes {}", written(h)),
                        None => "is not filebase64sha256(<zip>)".into(),
                    };
                    self.error(
                        "F13-hash-mismatch",
                        &f.path,
                        f.line_of(hash),
                        format!(
                            "{addr}: source_code_hash {what} but filename is {}",
                            written(&attr.value)
                        ),
                        format!(
                            "set source_code_hash = filebase64sha256({})",
                            written(&attr.value)
                        ),
                    );
                }
            }
        }
        zip.map(|z| (z, line))
    }

    fn zip_not_built(
        &mut self,
        zip: &ZipRef,
        artifacts: &[Artifact],
        f: &TfFile,
        line: usize,
        addr: &str,
    ) {
        let (shown, beside): (String, Vec<String>) = match zip {
            ZipRef::Path(p) => (
                self.rel(p),
                artifacts
                    .iter()
                    .filter(|a| a.out.parent() == p.parent())
                    .map(Artifact::zip_name)
                    .collect(),
            ),
            ZipRef::Name(n) => (n.clone(), Vec::new()),
        };
        let fix = if beside.is_empty() {
            "the build writes <module>/backend/.build/<fn>.zip and <layer>-layer.zip, and \
             <infra>/build/<fn>.zip; point filename there with ${path.module}/… \
             (relative paths resolve from the env directory)"
                .to_string()
        } else {
            format!(
                "the build writes {} there: fix the name, or rename the source directory",
                beside.join(", ")
            )
        };
        self.error(
            "F14-zip-not-built",
            &f.path,
            line,
            format!("{addr} reads {shown}, which cargo xtask build does not produce"),
            fix,
        );
    }

    /// F12 and F16 on the env's module blocks, F17 route count per API.
    fn composition(&mut self, env: &Env, modules: &[ModuleTf], routes: &[ModuleRoutes]) {
        struct Call<'f> {
            name: &'f str,
            block: &'f Block,
            file: &'f TfFile,
            /// Canonical directory of a local source.
            dir: Option<PathBuf>,
        }
        let main = env.dir.join("main.tf");
        let mut calls: Vec<Call> = Vec::new();
        for f in &env.files {
            for (name, block) in f.labeled("module") {
                let source = block.body.get_attribute("source");
                let src = source.and_then(|a| a.value.as_str());
                let dir = src
                    .filter(|s| s.starts_with("./") || s.starts_with("../"))
                    .map(|s| env.dir.join(s));
                if let (Some(a), Some(d), Some(s)) = (source, &dir, src) {
                    if !d.is_dir() {
                        self.error(
                            "F12-bad-source",
                            &f.path,
                            f.line_of(a),
                            format!("module \"{name}\" has source \"{s}\", which does not exist"),
                            "fix the path: it is relative to the env directory".into(),
                        );
                    }
                }
                let dir = dir.filter(|d| d.is_dir()).map(|d| canonical(&d));
                if let Some(first) = calls.iter().find(|c| c.name == name) {
                    let at = format!(
                        "{}:{}",
                        self.rel(&first.file.path),
                        first.file.line_of(first.block)
                    );
                    self.error(
                        "F12-duplicate-module",
                        &f.path,
                        f.line_of(block),
                        format!("module \"{name}\" is declared twice (also at {at})"),
                        "remove one of the blocks".into(),
                    );
                } else if let Some(first) = calls.iter().find(|c| c.dir.is_some() && c.dir == dir) {
                    let at = format!(
                        "{}:{}",
                        self.rel(&first.file.path),
                        first.file.line_of(first.block)
                    );
                    self.error(
                        "F12-duplicate-module",
                        &f.path,
                        f.line_of(block),
                        format!(
                            "module \"{name}\" calls the same source as module \"{}\" ({at}): \
                             both deploy the same functions",
                            first.name
                        ),
                        "remove one of the blocks".into(),
                    );
                }
                if let Some(a) = block.body.get_attribute("environment") {
                    if let Some(e) = a.value.as_str().filter(|e| *e != env.name) {
                        self.warn(
                            "F12-environment-mismatch",
                            &f.path,
                            f.line_of(a),
                            format!(
                                "module \"{name}\" sets environment = \"{e}\" in envs/{}",
                                env.name
                            ),
                            format!("set environment = \"{}\" (or var.environment)", env.name),
                        );
                    }
                }
                calls.push(Call {
                    name,
                    block,
                    file: f,
                    dir,
                });
            }
        }

        // Which stack module each call deploys; F16 on its arguments.
        let mut stack_module_of: HashMap<&str, usize> = HashMap::new();
        for (i, m) in modules.iter().enumerate() {
            if !m.infra.is_dir() {
                continue;
            }
            let target = canonical(&m.infra);
            let called: Vec<&Call> = calls
                .iter()
                .filter(|c| c.dir.as_ref() == Some(&target))
                .collect();
            if called.is_empty() {
                if env.readable {
                    let source = relative(&canonical(&env.dir), &target);
                    let name = m.name.replace('-', "_");
                    self.error(
                        "F12-module-not-called",
                        if main.is_file() { &main } else { &env.dir },
                        0,
                        format!(
                            "{} is not called from envs/{}: its Lambdas and routes are never \
                             deployed",
                            m.name, env.name
                        ),
                        format!(
                            "add module \"{name}\" {{ source = \"{}\" … }} and list \
                             module.{name}.api_routes in module_routes",
                            source.display()
                        ),
                    );
                }
                continue;
            }
            for call in called {
                stack_module_of.insert(call.name, i);
                if m.readable {
                    self.module_arguments(call.file, call.block, call.name, m);
                }
            }
        }

        let gateways: Vec<(&Call, &hcl_edit::structure::Attribute)> = calls
            .iter()
            .filter_map(|c| c.block.body.get_attribute("module_routes").map(|a| (c, a)))
            .collect();
        if gateways.is_empty() {
            if env.readable {
                self.error(
                    "F12-no-gateway",
                    if main.is_file() { &main } else { &env.dir },
                    0,
                    format!(
                        "no module in envs/{} sets module_routes, so no route reaches an API",
                        env.name
                    ),
                    "call the modular-api-gateway module with module_routes = \
                     concat(module.<name>.api_routes, …)"
                        .into(),
                );
            }
            return;
        }
        let mut listed: Vec<&str> = Vec::new();
        for (gw, attr) in &gateways {
            let f = gw.file;
            let items: Vec<&Expression> = match tf::func_call(&attr.value) {
                Some(("concat", args)) => args,
                _ if module_routes_ref(&attr.value).is_some() => vec![&attr.value],
                _ => {
                    self.warn(
                        "F12-routes-unchecked",
                        &f.path,
                        f.line_of(*attr),
                        "module_routes is not concat(module.<name>.api_routes, …), so check \
                         cannot tell which modules' routes are deployed"
                            .into(),
                        "write module_routes = concat(module.<a>.api_routes, \
                         module.<b>.api_routes, …)"
                            .into(),
                    );
                    return;
                }
            };
            let mut count = 0;
            for item in items {
                let Some(name) = module_routes_ref(item) else {
                    continue;
                };
                let line = f.line_of(item);
                if listed.contains(&name) {
                    self.error(
                        "F12-route-listed-twice",
                        &f.path,
                        line,
                        format!(
                            "module.{name}.api_routes is listed twice in module_routes: each \
                             of its routes would be declared twice"
                        ),
                        "remove the second entry".into(),
                    );
                    continue;
                }
                listed.push(name);
                match calls.iter().find(|c| c.name == name) {
                    None => self.error(
                        "F12-unknown-module",
                        &f.path,
                        line,
                        format!(
                            "module_routes lists module.{name}.api_routes but envs/{} \
                             declares no module \"{name}\"",
                            env.name
                        ),
                        "fix the name, or add the module block".into(),
                    ),
                    Some(c) => {
                        count += stack_module_of.get(c.name).map_or(0, |&i| routes[i].count);
                    }
                }
            }
            if count > MAX_ROUTES {
                self.error(
                    "F17-too-many-routes",
                    &f.path,
                    f.line_of(*attr),
                    format!(
                        "module \"{}\" receives {count} routes; an HTTP API allows at most \
                         {MAX_ROUTES} routes and {MAX_ROUTES} integrations (one per route here)",
                        gw.name
                    ),
                    "split the modules across two API gateways, or serve several paths from one \
                     route"
                        .into(),
                );
            }
        }
        for call in &calls {
            if listed.contains(&call.name) {
                continue;
            }
            let exports = match stack_module_of.get(call.name) {
                Some(&i) => routes[i].exported,
                None => call.dir.as_ref().is_some_and(|d| {
                    tf::parse_dir(d)
                        .0
                        .iter()
                        .any(|f| f.labeled("output").any(|(n, _)| n == "api_routes"))
                }),
            };
            if exports {
                let (gw, attr) = gateways[0];
                self.error(
                    "F12-not-in-module-routes",
                    &gw.file.path,
                    gw.file.line_of(attr),
                    format!(
                        "module.{} exports api_routes but is not in module_routes: its Lambdas \
                         deploy and every route returns 404",
                        call.name
                    ),
                    format!(
                        "add module.{}.api_routes to module_routes = concat(…)",
                        call.name
                    ),
                );
            }
        }
    }

    /// F16: a module block passes what the module requires and nothing it does not declare.
    fn module_arguments(&mut self, f: &TfFile, block: &Block, name: &str, m: &ModuleTf) {
        const META: [&str; 6] = [
            "source",
            "version",
            "providers",
            "depends_on",
            "count",
            "for_each",
        ];
        let declared = declared_variables(&m.files);
        for (var, has_default) in &declared {
            if !has_default && block.body.get_attribute(var).is_none() {
                self.error(
                    "F16-missing-module-argument",
                    &f.path,
                    f.line_of(block),
                    format!(
                        "module \"{name}\" does not set {var}, which {} requires (it has no \
                         default)",
                        m.name
                    ),
                    format!("add {var} = … to the module block"),
                );
            }
        }
        for a in block.body.attributes() {
            let key = a.key.as_str();
            if !META.contains(&key) && !declared.contains_key(key) {
                self.error(
                    "F16-unknown-module-argument",
                    &f.path,
                    f.line_of(a),
                    format!(
                        "module \"{name}\" sets {key}, which {} does not declare",
                        m.name
                    ),
                    format!(
                        "remove it, or declare variable \"{key}\" in \
                         {}/infrastructure/variables.tf",
                        m.name
                    ),
                );
            }
        }
    }

    /// F17 across all modules' routes: duplicates, parameter names, timeouts.
    fn route_rules(&mut self, modules: &[ModuleTf], routes: &[ModuleRoutes]) {
        let mut seen: HashMap<(&str, &str), &Route> = HashMap::new();
        let mut params: HashMap<String, (&str, &Route)> = HashMap::new();
        let mut reported: BTreeSet<(String, &str)> = BTreeSet::new();
        for r in routes.iter().flat_map(|m| &m.routes) {
            if let Some(first) = seen.get(&(r.method.as_str(), r.path.as_str())) {
                let at = format!("{}:{}", self.rel(&first.file), first.line);
                self.error(
                    "F17-duplicate-route",
                    &r.file,
                    r.line,
                    format!(
                        "route {} {} is also declared at {at}; the gateway keys routes by method \
                         and path, so the plan fails",
                        r.method, r.path
                    ),
                    "remove one of them, or give one another path".into(),
                );
            } else {
                seen.insert((&r.method, &r.path), r);
            }
            let segments: Vec<&str> = r.path.split('/').skip(1).collect();
            for (i, seg) in segments.iter().enumerate() {
                let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                    continue;
                };
                let shape: Vec<&str> = segments[..i]
                    .iter()
                    .map(|s| if s.starts_with('{') { "{}" } else { s })
                    .collect();
                let key = format!("/{}", shape.join("/"));
                match params.get(&key) {
                    Some((other, first)) if *other != name => {
                        if reported.insert((key.clone(), name)) {
                            let at = format!("{}:{}", self.rel(&first.file), first.line);
                            self.warn(
                                "F17-param-name",
                                &r.file,
                                r.line,
                                format!(
                                    "the parameter after {key} is {{{name}}} in {} but \
                                     {{{other}}} in {} ({at})",
                                    r.path, first.path
                                ),
                                "use one name for the same position in every path; handlers read \
                                 pathParameters by name"
                                    .into(),
                            );
                        }
                        break;
                    }
                    Some(_) => {}
                    None => {
                        params.insert(key, (name, r));
                    }
                }
            }
        }
        for (m, mr) in modules.iter().zip(routes) {
            let routed: BTreeSet<&str> = mr
                .routes
                .iter()
                .filter_map(|r| r.function.as_deref())
                .collect();
            for f in &m.files {
                for (name, block) in f.resources("aws_lambda_function") {
                    if !routed.contains(name) {
                        continue;
                    }
                    let Some(e) = tf::attr(&block.body, "timeout") else {
                        continue;
                    };
                    let Expression::Number(n) = e else { continue };
                    let Some(secs) = n.value().as_f64().filter(|s| *s > MAX_INTEGRATION_TIMEOUT)
                    else {
                        continue;
                    };
                    self.warn(
                        "F17-timeout",
                        &f.path,
                        f.line_of(e),
                        format!(
                            "aws_lambda_function.{name} has timeout = {secs} but is routed \
                             through the HTTP API, whose integrations give up after 30 s"
                        ),
                        "lower the timeout to 30 or less, or move the slow work off the request \
                         path"
                            .into(),
                    );
                }
            }
        }
    }

    /// F10 source layout and F18 imports.
    fn sources(&mut self, found: &discover::Stack, code: &Code) {
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
        let cfg = self.cfg;
        let mut deps: HashMap<PathBuf, Provided> = HashMap::new();
        let mut provided = |a: &Artifact| -> Provided {
            let own = match a.kind {
                Kind::Function => a.src.clone(),
                Kind::Layer => a.src.join("python"),
            };
            let mut p = Provided {
                names: top_level_names(&own),
                by_name: false,
            };
            if let Some(req) = &a.requirements {
                let d = deps
                    .entry(req.clone())
                    .or_insert_with(|| requirement_names(cfg, req));
                p.names.extend(d.names.iter().cloned());
                p.by_name |= d.by_name;
            }
            p
        };
        let layers: BTreeMap<String, Provided> = found
            .artifacts
            .iter()
            .filter(|a| a.kind == Kind::Layer)
            .map(|a| (a.id(), provided(a)))
            .collect();
        let mut all_layers = Provided::default();
        for p in layers.values() {
            all_layers.names.extend(p.names.iter().cloned());
            all_layers.by_name |= p.by_name;
        }
        let mut module_tf = build::ModuleTf::new(self.cfg);
        for a in &found.artifacts {
            let own = provided(a);
            match a.kind {
                Kind::Layer => {
                    let python = a.src.join("python");
                    if empty_layer(a) {
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
                    let mut allowed = own;
                    allowed.names.extend(all_layers.names.iter().cloned());
                    allowed.by_name |= all_layers.by_name;
                    self.imports(&python, &allowed, Whose::Layer, &layers, &a.src);
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
                    // When the layers cannot be traced, any layer of the stack may provide an
                    // import: only what none provides is certain to fail.
                    let attached = if a.module == "infra" {
                        Some(Vec::new())
                    } else {
                        build::declared_layers(&mut module_tf, &found.artifacts, &a.module, &a.name)
                    };
                    let mut allowed = own;
                    let whose = match &attached {
                        Some(ids) => {
                            for id in ids {
                                if let Some(p) = layers.get(id) {
                                    allowed.names.extend(p.names.iter().cloned());
                                    allowed.by_name |= p.by_name;
                                }
                            }
                            let resource = code.resource_of.get(&a.id()).cloned();
                            Whose::Function(
                                resource.unwrap_or_else(|| format!("function {}", a.id())),
                            )
                        }
                        None => {
                            allowed.names.extend(all_layers.names.iter().cloned());
                            allowed.by_name |= all_layers.by_name;
                            Whose::UntracedFunction
                        }
                    };
                    self.imports(&a.src, &allowed, whose, &layers, &a.src);
                }
            }
        }
    }

    /// F18 for the `.py` files under `dir`, which `allowed` names may be imported from.
    fn imports(
        &mut self,
        dir: &Path,
        allowed: &Provided,
        whose: Whose,
        layers: &BTreeMap<String, Provided>,
        src: &Path,
    ) {
        for file in python_files(dir) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let mut seen = BTreeSet::new();
            for imp in python::imports(&text) {
                let m = imp.module.as_str();
                if python::is_stdlib(m)
                    || RUNTIME_PROVIDED.contains(&m)
                    || allowed.names.contains(m)
                {
                    continue;
                }
                if !seen.insert((imp.line, imp.module.clone())) {
                    continue;
                }
                let guarded = if imp.optional {
                    " (guarded by except ImportError)"
                } else {
                    ""
                };
                let nor = "(nor the standard library, the Lambda runtime, the function's files or \
                           its requirements)";
                let message = match &whose {
                    Whose::Function(resource) => {
                        format!(
                            "imports {m}{guarded}, which no layer attached to {resource} \
                             provides {nor}"
                        )
                    }
                    Whose::UntracedFunction => {
                        format!("imports {m}{guarded}, which no layer of the stack provides {nor}")
                    }
                    Whose::Layer => format!(
                        "imports {m}{guarded}, which neither the layer's python/ code, its \
                         requirements, another layer, the standard library nor the Lambda \
                         runtime provides"
                    ),
                };
                let requirements = self.rel(&src.join("requirements.txt"));
                let provider = layers
                    .iter()
                    .find(|(_, p)| p.names.contains(m))
                    .map(|(id, _)| id);
                let mut fix = match (&whose, provider) {
                    (Whose::Function(resource), Some(layer)) => {
                        format!(
                            "attach layer {layer} (it provides {m}) to {resource}, in its \
                             layers list"
                        )
                    }
                    _ => format!(
                        "add the package that provides {m} to {requirements}, or fix the import \
                         (helper modules go next to lambda_function.py)"
                    ),
                };
                if allowed.by_name {
                    fix.push_str(
                        "; requirements were read by name (nothing is installed yet): run cargo \
                         xtask build first if another package brings it",
                    );
                }
                let (code, severity) = if imp.optional {
                    ("F18-optional-import", Severity::Warning)
                } else {
                    ("F18-unresolved-import", Severity::Error)
                };
                self.add(severity, code, &file, imp.line, message, fix);
            }
        }
    }
}

/// Whose code F18 reads, for its messages.
enum Whose {
    /// A function whose attached layers are known; its Terraform resource.
    Function(String),
    /// A function whose layers cannot be traced: any layer of the stack counts.
    UntracedFunction,
    Layer,
}

/// A zip as Terraform names it: a full path when it resolves offline, else just the file name.
enum ZipRef {
    Path(PathBuf),
    Name(String),
}

impl ZipRef {
    fn is(&self, a: &Artifact) -> bool {
        match self {
            ZipRef::Path(p) => tf::normalize(&a.out) == *p,
            ZipRef::Name(n) => a.zip_name() == *n,
        }
    }
}

/// Top-level importable names, and whether any came from requirement names rather than an install.
#[derive(Default)]
struct Provided {
    names: BTreeSet<String>,
    by_name: bool,
}

/// The route objects of an `api_routes` value: a list, `concat` of lists, or a local holding one.
fn route_items<'a>(expr: &'a Expression, files: &'a [TfFile]) -> Option<Vec<&'a Expression>> {
    match expr {
        Expression::Array(items) => Some(items.iter().collect()),
        Expression::Parenthesis(p) => route_items(p.inner(), files),
        e => {
            if let Some(("concat", args)) = tf::func_call(e) {
                let mut out = Vec::new();
                for a in args {
                    out.extend(route_items(a, files)?);
                }
                return Some(out);
            }
            let path = tf::traversal_path(e)?;
            let name = path
                .strip_prefix("local.")
                .filter(|n| !n.contains(['.', '[']))?;
            route_items(tf::local(files, name)?, files)
        }
    }
}

/// The function an integration invokes, or what is wrong with it.
fn integration_target(
    expr: &Expression,
    files: &[TfFile],
) -> Result<Option<String>, (String, String)> {
    let defined = |kind: &str| -> Vec<String> {
        files
            .iter()
            .flat_map(|f| f.resources(kind).map(|(n, _)| n.to_string()))
            .collect()
    };
    let usage = "set integration = aws_lambda_function.<fn>.invoke_arn (or \
                 aws_lambda_alias.<alias>.invoke_arn)";
    let Some(path) = tf::traversal_path(expr) else {
        return Err((
            "has an integration that is not a resource's invoke_arn".into(),
            usage.into(),
        ));
    };
    let parts: Vec<&str> = path.split('.').collect();
    let [kind @ ("aws_lambda_function" | "aws_lambda_alias"), name, attr] = parts.as_slice() else {
        return Err((
            format!("has integration {path}, not a Lambda function's or alias's invoke_arn"),
            usage.into(),
        ));
    };
    // `aws_lambda_function.x[0]` (count) and `["k"]` (for_each) are still resource x.
    let name = name.split('[').next().unwrap_or(name);
    let names = defined(kind);
    if !names.iter().any(|n| n == name) {
        let fix = if names.is_empty() {
            format!("define the {kind} in this module, or point at one that exists")
        } else {
            format!(
                "use one of: {}",
                names
                    .iter()
                    .map(|n| format!("{kind}.{n}.invoke_arn"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        return Err((
            format!("has integration {path}, but the module defines no {kind}.{name}"),
            fix,
        ));
    }
    if *attr != "invoke_arn" {
        return Err((
            format!("has integration {path}; API Gateway needs the invoke ARN"),
            format!("use {kind}.{name}.invoke_arn"),
        ));
    }
    if *kind == "aws_lambda_function" {
        return Ok(Some(name.to_string()));
    }
    // An alias routes to the function named in its function_name.
    let target = files
        .iter()
        .flat_map(|f| f.resources("aws_lambda_alias"))
        .find(|(n, _)| *n == name)
        .and_then(|(_, b)| {
            let p = tf::traversal_path(tf::attr(&b.body, "function_name")?)?;
            p.strip_prefix("aws_lambda_function.")?
                .split(['.', '['])
                .next()
                .map(str::to_string)
        });
    Ok(target)
}

/// `X` of `module.X.api_routes`.
fn module_routes_ref(expr: &Expression) -> Option<&str> {
    let Expression::Traversal(t) = expr else {
        return None;
    };
    let Expression::Variable(root) = &t.expr else {
        return None;
    };
    let ops: Vec<&TraversalOperator> = t.operators.iter().map(|o| o.value()).collect();
    match (root.as_str(), ops.as_slice()) {
        ("module", [TraversalOperator::GetAttr(name), TraversalOperator::GetAttr(attr)])
            if attr.as_str() == "api_routes" =>
        {
            Some(name.as_str())
        }
        _ => None,
    }
}

/// Variables declared in a module's files: name → has a default.
fn declared_variables(files: &[TfFile]) -> BTreeMap<String, bool> {
    files
        .iter()
        .flat_map(|f| f.labeled("variable"))
        .map(|(n, b)| (n.to_string(), tf::attr(&b.body, "default").is_some()))
        .collect()
}

/// How an expression is written, for messages: `${local.build_dir}/x.zip`, `local.zip`.
fn written(expr: &Expression) -> String {
    tf::template_text(expr)
        .map(|t| format!("\"{t}\""))
        .or_else(|| tf::traversal_path(expr))
        .unwrap_or_else(|| expr.to_string().trim().to_string())
}

/// What is wrong with a route path, and the fix. The rules are the gateway's: a leading `/`,
/// no empty or trailing segment, literal segments of `[A-Za-z0-9._-]`, parameters `{camelCase}`
/// each named once.
fn path_problem(path: &str) -> Option<(String, String)> {
    let Some(rest) = path.strip_prefix('/') else {
        return Some(("does not start with /".into(), format!("write \"/{path}\"")));
    };
    if rest.is_empty() {
        return Some((
            "has no segment".into(),
            "route a resource path such as \"/profiles/me\"".into(),
        ));
    }
    if rest.ends_with('/') {
        return Some((
            "ends with /".into(),
            format!(
                "write \"{}\": API Gateway treats a trailing slash as another path",
                path.trim_end_matches('/')
            ),
        ));
    }
    let mut names: Vec<&str> = Vec::new();
    for seg in rest.split('/') {
        if seg.is_empty() {
            return Some((
                "has an empty segment (//)".into(),
                "remove the doubled /".into(),
            ));
        }
        if let Some(inner) = seg.strip_prefix('{') {
            let name = inner.strip_suffix('}').unwrap_or(inner);
            let camel = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_alphanumeric());
            if !inner.ends_with('}') || !camel {
                return Some((
                    format!("has parameter {seg}, which is not {{camelCase}}"),
                    format!("write {{{}}}", camel_case(name)),
                ));
            }
            if names.contains(&name) {
                return Some((
                    format!("names parameter {seg} twice"),
                    "give each parameter its own name".into(),
                ));
            }
            names.push(name);
        } else if let Some(bad) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-".contains(*c)))
        {
            return Some((
                format!(
                    "has segment \"{seg}\" with '{bad}', outside letters, digits, '.', '_' and '-'"
                ),
                "rename the segment (parameters are written {camelCase})".into(),
            ));
        }
    }
    None
}

/// `org_id`, `org-id`, `OrgId` → `orgId`; anything else but letters and digits dropped.
fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            upper = !out.is_empty();
        } else if out.is_empty() {
            out.push(c.to_ascii_lowercase());
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        "name".into()
    } else {
        out
    }
}

/// Importable top-level names in a directory: packages (any directory, as namespace packages
/// count), `.py` modules and extension modules; installer metadata and tools excluded.
fn top_level_names(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name.starts_with('.') || name == "__pycache__" || name == "bin" {
            continue;
        }
        if path.is_dir() {
            if !name.ends_with(".dist-info")
                && !name.ends_with(".data")
                && !name.ends_with(".egg-info")
            {
                out.insert(name);
            }
        } else if let Some(stem) = name.strip_suffix(".py") {
            out.insert(stem.to_string());
        } else if name.ends_with(".so") || name.ends_with(".pyd") {
            out.insert(name.split('.').next().unwrap_or_default().to_string());
        }
    }
    out
}

/// What a requirements file provides: the installed tree's names when a build cached it, else
/// the distribution names normalized to import names.
fn requirement_names(cfg: &Config, req: &Path) -> Provided {
    if let Some(dir) = build::installed_deps(cfg, req) {
        return Provided {
            names: top_level_names(&dir),
            by_name: false,
        };
    }
    // With the files it includes: a package pinned in a shared `-r` file is provided too. An
    // include that cannot be read is the build's to report; the file's own lines still count.
    let lines: Vec<String> = match install::requirements::read(req) {
        Ok(r) => r.pins.into_iter().map(|p| p.text).collect(),
        Err(_) => install::requirement_lines(&std::fs::read_to_string(req).unwrap_or_default()),
    };
    let mut names = BTreeSet::new();
    for line in lines.iter().filter(|l| !l.starts_with('-')) {
        let dist: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .map(|c| {
                if c == '-' || c == '.' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        match IMPORT_NAMES.iter().find(|(d, _)| *d == dist) {
            Some((_, import)) => names.insert(import.to_string()),
            None => names.insert(dist),
        };
    }
    Provided {
        by_name: !names.is_empty(),
        names,
    }
}

/// The `.py` files under `dir` that ship and run, sorted; tests are left out.
fn python_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with('.') || name == "__pycache__" {
                continue;
            }
            if path.is_dir() {
                if name != "tests" && name != "test" {
                    stack.push(path);
                }
            } else if name.ends_with(".py")
                && !name.starts_with("test_")
                && !name.ends_with("_test.py")
                && name != "conftest.py"
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A layer the build refuses: nothing under `python/` and no requirements.
fn empty_layer(a: &Artifact) -> bool {
    let requirements = a.requirements.as_ref().map_or(String::new(), |r| {
        std::fs::read_to_string(r).unwrap_or_default()
    });
    a.kind == Kind::Layer
        && !has_files(&a.src.join("python"))
        && install::requirement_lines(&requirements).is_empty()
}

/// Whether `dir` holds any file the build would ship (bytecode and hidden files do not count).
fn has_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name.starts_with('.') || name == "__pycache__" {
            false
        } else if path.is_dir() {
            has_files(&path)
        } else {
            !name.ends_with(".pyc")
        }
    })
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| tf::normalize(p))
}

/// `to` relative to `from` (both absolute and normalized), for suggested `source` paths.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        for p in [
            "/profiles/me",
            "/orgs/{orgId}/members",
            "/a.b/c_d/e-f/{x1}",
            "/v1/{userId}/items/{itemId}",
        ] {
            assert_eq!(path_problem(p), None, "{p}");
        }
    }

    #[test]
    fn path_rules_name_the_problem_and_the_fix() {
        let p = |s: &str| path_problem(s).map(|(m, f)| format!("{m} | {f}"));
        assert_eq!(
            p("orgs").unwrap(),
            "does not start with / | write \"/orgs\""
        );
        assert_eq!(
            p("/").unwrap(),
            "has no segment | route a resource path such as \"/profiles/me\""
        );
        assert_eq!(
            p("/orgs/").unwrap(),
            "ends with / | write \"/orgs\": API Gateway treats a trailing slash as another path"
        );
        assert_eq!(
            p("/orgs//x").unwrap(),
            "has an empty segment (//) | remove the doubled /"
        );
        assert_eq!(
            p("/orgs/{org_id}").unwrap(),
            "has parameter {org_id}, which is not {camelCase} | write {orgId}"
        );
        assert_eq!(
            p("/orgs/{OrgId}").unwrap(),
            "has parameter {OrgId}, which is not {camelCase} | write {orgId}"
        );
        assert_eq!(
            p("/orgs/{orgId").unwrap(),
            "has parameter {orgId, which is not {camelCase} | write {orgId}"
        );
        assert_eq!(
            p("/files/{proxy+}").unwrap(),
            "has parameter {proxy+}, which is not {camelCase} | write {proxy}"
        );
        assert_eq!(
            p("/a/{id}/b/{id}").unwrap(),
            "names parameter {id} twice | give each parameter its own name"
        );
        assert_eq!(
            p("/a b").unwrap(),
            "has segment \"a b\" with ' ', outside letters, digits, '.', '_' and '-' | rename \
             the segment (parameters are written {camelCase})"
        );
    }

    #[test]
    fn integrations_name_a_function_or_alias_invoke_arn() {
        let tf = r#"
resource "aws_lambda_function" "a" { count = 1 }
resource "aws_lambda_alias" "live" { function_name = aws_lambda_function.a[0].function_name }
"#;
        let files = [TfFile::from_text(Path::new("main.tf"), tf.into()).unwrap()];
        let target = |src: &str| {
            integration_target(&hcl_edit::parser::parse_expr(src).unwrap(), &files)
                .map_err(|(message, _)| message)
        };
        assert_eq!(
            target("aws_lambda_function.a[0].invoke_arn"),
            Ok(Some("a".into()))
        );
        assert_eq!(
            target("aws_lambda_alias.live.invoke_arn"),
            Ok(Some("a".into()))
        );
        assert_eq!(
            target("aws_lambda_function.a.arn"),
            Err(
                "has integration aws_lambda_function.a.arn; API Gateway needs the invoke ARN"
                    .into()
            )
        );
        assert_eq!(
            target("aws_lambda_alias.dead.invoke_arn"),
            Err(
                "has integration aws_lambda_alias.dead.invoke_arn, but the module defines no \
                 aws_lambda_alias.dead"
                    .into()
            )
        );
        assert_eq!(
            target("\"arn:aws:apigateway:x\""),
            Err("has an integration that is not a resource's invoke_arn".into())
        );
        assert_eq!(
            target("module.x.invoke_arn"),
            Err(
                "has integration module.x.invoke_arn, not a Lambda function's or alias's \
                 invoke_arn"
                    .into()
            )
        );
    }

    #[test]
    fn camel_case_suggestions() {
        assert_eq!(camel_case("org_id"), "orgId");
        assert_eq!(camel_case("org-email-id"), "orgEmailId");
        assert_eq!(camel_case("_x"), "x");
        assert_eq!(camel_case("+"), "name");
    }

    #[test]
    fn relative_source_paths() {
        assert_eq!(
            relative(
                Path::new("/w/demo-infra/envs/dev"),
                Path::new("/w/demo-stack/packages/module-ai/infrastructure")
            ),
            Path::new("../../../demo-stack/packages/module-ai/infrastructure")
        );
    }

    #[test]
    fn requirement_names_fall_back_to_import_names() {
        let d = tempfile::tempdir().unwrap();
        let req = d.path().join("requirements.txt");
        std::fs::write(
            &req,
            "# c\nPython-Dateutil==2.9\nrequests[socks]>=2 ; \
             python_version>'3'\n-r other.txt\nmy.pkg\n",
        )
        .unwrap();
        let cfg = crate::config::load(Some(d.path())).unwrap();
        let p = requirement_names(&cfg, &req);
        assert!(p.by_name);
        assert_eq!(
            p.names.into_iter().collect::<Vec<_>>(),
            ["dateutil", "my_pkg", "requests"]
        );
        std::fs::write(d.path().join("other.txt"), "PyYAML==6.0\n").unwrap();
        let p = requirement_names(&cfg, &req);
        assert_eq!(
            p.names.into_iter().collect::<Vec<_>>(),
            ["dateutil", "my_pkg", "requests", "yaml"]
        );
    }

    #[test]
    fn top_level_names_skip_metadata() {
        let d = tempfile::tempdir().unwrap();
        for dir in ["pkg", "six-1.0.dist-info", "bin", "__pycache__", "nsdir"] {
            std::fs::create_dir(d.path().join(dir)).unwrap();
        }
        for file in [
            "six.py",
            "_speed.cpython-313-x86_64-linux-gnu.so",
            "README.md",
            "x.pth",
        ] {
            std::fs::write(d.path().join(file), "").unwrap();
        }
        let names: Vec<String> = top_level_names(d.path()).into_iter().collect();
        assert_eq!(names, ["_speed", "nsdir", "pkg", "six"]);
    }
}
