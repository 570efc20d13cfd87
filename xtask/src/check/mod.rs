//! `cargo xtask check`: the stack and its infra env against the CORA contract, offline (no AWS,
//! no terraform binary). Terraform is read with hcl-edit (`tf`), Python with a line scanner
//! (`python`). Every finding has a stable code, a severity, `file:line` (line 0: the whole file
//! or directory), a message and a fix. Any error fails the command; warnings alone do not.
//! Waivers and severity overrides (`waivers`) apply last; `--fix` applies the edits some
//! findings carry (`fix`). A new rule goes in the file of its family and adds its row here.
//!
//! | Code | Severity | Finding |
//! |------|----------|---------|
//! | `TF-parse-error` | error | a `.tf` file does not parse (the parser's message and line) |
//! | `F4-runtime` | error | a function's `runtime` or a layer's `compatible_runtimes` is not the build's target (`python` in xtask.toml), or a zip function has no `runtime`; a runtime held in a local is reported once, at the local |
//! | `F4-runtime-unverified` | warning | a function's `runtime` (or a layer's `compatible_runtimes`) is not known offline (a root variable without a default, a data source…): which Python it runs is not checked; the finding names where the value is unknown |
//! | `F10-no-handler-file` | error | a directory under `lambdas/` has no `lambda_function.py` |
//! | `F10-no-lambda-handler` | error | `lambda_function.py` binds no module-level `lambda_handler` |
//! | `F10-empty-layer` | error | nothing of a layer's `python/` ships (empty, missing, or only tests, ignored or excluded files) and its requirements list nothing |
//! | `F11-no-modules` | error | the stack has no `packages/module-*` directory |
//! | `F11-no-infrastructure` | error | a module has no `infrastructure/` |
//! | `F11-missing-file` | warning | `infrastructure/` lacks `main.tf`, `variables.tf` or `outputs.tf` (terraform reads every `.tf` file; what must be declared has its own error) |
//! | `F11-no-versions` | warning | `infrastructure/` has no `versions.tf` and no `terraform {}` block anywhere (a convention: Terraform works without it) |
//! | `F11-no-api-routes` | error | the module does not export `api_routes` |
//! | `F11-routes-unchecked` | warning | `api_routes`, or one entry, is not a literal route object, so it is not checked |
//! | `F11-route-method` | error | a route's `method` is missing or not GET, POST, PUT, PATCH, DELETE |
//! | `F11-route-path` | error | a route's `path` is missing or breaks the path rules (leading `/`, no trailing or double `/`, `{camelCase}` parameters, each once) |
//! | `F11-route-integration` | error | a route's `integration` is not `aws_lambda_function.<name>.invoke_arn` or `aws_lambda_alias.<name>.invoke_arn` of a resource in the module |
//! | `F11-route-public` | error | a route's `public` is missing or a literal that is not a bool |
//! | `F11-missing-variable` | error | a module no env call is checked against (no infra, or not called) does not declare a common module variable |
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
//! | `F14-zip-unverified` | warning | a function's or layer's `filename` is built from `for_each`/`count`, so which of the zips it could name it deploys is not checked |
//! | `F16-undeclared-variable` | error | `var.<name>` used in a module or the env but not declared there |
//! | `F16-missing-module-argument` | error | a module block omits a variable the stack module requires (no default) |
//! | `F16-unknown-module-argument` | error | a module block sets an argument the stack module does not declare |
//! | `F17-duplicate-route` | error | the same method and path declared twice (within or across modules) |
//! | `F17-too-many-routes` | error | more than 300 routes (and so integrations) reach one API |
//! | `F17-timeout` | warning | a routed function's `timeout` is over the 30 s integration timeout |
//! | `F17-timeout-unverified` | warning | a routed function's `timeout` is not known offline: whether it fits the 30 s integration is not checked; the finding names where the value is unknown |
//! | `F17-param-name` | warning | the same path position is a parameter with different names |
//! | `F18-unresolved-import` | error | a function or layer imports a module nothing provides |
//! | `F18-uncertain-import` | warning | the same, when the requirements are not installed (the build failed or has not run) and some of their import names are unknown |
//! | `F18-optional-import` | warning | the same, for an import guarded by `except ImportError` |
//! | `F19-count-unknown` | warning | a `count`/`for_each` (of a resource, data source or module) depends on an attribute only the apply of a resource of the same configuration knows (an error with bootstrapping off) |
//! | `F20-data-reads-own` | warning | a data source looks up what the configuration creates (same layer, function, role… name) (an error with bootstrapping off) |
//! | `PY-syntax-error` | error | a `.py` file that ships does not compile with the target Python (its `compile()`, found as smoke finds it; without one, a note on stderr) |
//! | `DEP-stale-lock` | error | a `requirements.lock` was made from other requirements (or their `-r`/`-c` includes) or for another target than its artifact's (xtask.toml's `python`, the architecture its Terraform gives it) |
//! | `DEP-unreadable` | error | a `requirements.txt`, a file it includes or its `requirements.lock` cannot be read or parsed (build would fail on it) |
//! | `ARCH-native-mismatch` | error | a native library (`.so`) in a built zip is not compiled for its artifact's architecture (its ELF header; a function's `architectures`, a layer's `compatible_architectures` or its functions', else `arch` in xtask.toml): the zip, the file and its distribution are named |
//! | `ARCH-layer-mismatch` | error | a function attaches a layer built for the other architecture that ships native code (pure-Python layers serve both) |
//! | `SEC-secret-shipped` | error | a secret-looking file (`.env*`, a `.pem` with a private key, `id_rsa*`, `credentials`) ships because an `include` glob matches it |
//! | `SEC-secret-in-source` | warning | a secret-looking file sits in a function's or layer's source tree (the build leaves it out) |
//! | `XT-unknown-code` | error | `[check] severity`, a `[[check.allow]]` entry or an inline `xtask: allow` names a code not in this table |
//! | `XT-waiver-no-reason` | error | a waiver (`[[check.allow]]` or inline) gives no reason, so it waives nothing |
//! | `XT-unused-waiver` | warning | a waiver matches no finding |
//!
//! F18 resolves each top-level module a function's (or layer's) `.py` files import against: the
//! Python 3.13 standard library; what the Lambda runtime ships and AWS documents (boto3 and its
//! dependencies botocore, s3transfer, jmespath, urllib3 — not python-dateutil or six, which the
//! runtime only carries through botocore's pin and may drop); the function's own files; its
//! dependencies (the build's installed tree when one is cached, else each distribution's import
//! names from its wheel at hand (`dists`), a well-known rename, or a guess that makes any
//! finding F18-uncertain-import); and, for functions, the layers attached in
//! Terraform (`build::declared_layers`), each providing its `python/` code and dependencies.
//! When a function's layers cannot be traced (no resource found for its zip, a literal ARN),
//! any layer of the stack counts: only what nothing could provide is reported.
//! Layer code may also import any other layer of the stack: which layers sit beside it depends
//! on the function. Only the files that ship are read, as `build::select` decides: not tests
//! (`tests/`, `test_*.py`, `conftest.py`), nor git-ignored or excluded files.

mod bootstrap;
mod calls;
mod dists;
pub mod fix;
mod imports;
mod layout;
mod locks;
mod native;
mod python;
mod routes;
mod runtime;
mod secrets;
mod syntax;
mod variables;
mod waivers;
mod zips;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::build::select::Selector;
use crate::config::Config;
use crate::stack::discover;
use crate::stack::hcl::{self as tf, TfFile};
use routes::ModuleRoutes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Accepted by a waiver (`[[check.allow]]` or an inline comment): listed, never counted.
    pub waived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The mechanical fix, which `check --fix` applies: one edit, or a few that belong
    /// together (every use replaced and the definition removed).
    #[serde(skip)]
    pub edits: Vec<fix::Edit>,
}

pub fn run(cfg: &Config, infra: Option<&Path>, env: &str) -> Result<Vec<Finding>> {
    run_with(cfg, infra, env, cfg.terraform.bootstrap.unwrap_or(true))
}

/// `run`, with `deploy`'s bootstrapping on or off (F19 and F20 are errors when it is off).
pub fn run_with(
    cfg: &Config,
    infra: Option<&Path>,
    env: &str,
    bootstrap: bool,
) -> Result<Vec<Finding>> {
    let found = discover::discover(cfg, infra, &[])?;
    let mut c = Checker {
        cfg,
        bootstrap,
        base: cfg.stack.parent().unwrap_or(&cfg.stack).to_path_buf(),
        findings: Vec::new(),
        select: Selector::new(cfg),
        model: crate::stack::model::Model::load(&cfg.stack, infra, env, &found.artifacts),
    };
    let modules = c.modules(&found);
    let targets = crate::build::arch::from_model(cfg, &c.model, &found.artifacts);
    let env = c.env(infra, env);
    let routes: Vec<ModuleRoutes> = modules.iter().map(|m| c.module_routes(m)).collect();
    c.variables(&modules, env.as_ref());
    c.runtimes(&scopes(&modules, env.as_ref()));
    let code = c.lambda_code(&modules, env.as_ref(), &found.artifacts);
    if let Some(env) = &env {
        c.composition(env, &modules, &routes);
        bootstrap::check(&mut c, env);
    }
    c.route_rules(&routes);
    c.timeouts(&modules, &routes);
    c.handlers(&found);
    c.sources(&found, &code);
    secrets::check(&mut c, &found);
    locks::check(&mut c, &found, &targets);
    native::check(&mut c, &found, &targets);
    syntax::check(&mut c, &found);
    c.waivers(&found, env.as_ref());
    let mut findings = c.findings;
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.code, &a.message).cmp(&(&b.file, b.line, b.code, &b.message))
    });
    Ok(findings)
}

/// `check --fix`: applies the findings' mechanical fixes (with `dry_run`, only lists them),
/// then checks again. Returns the edits and the findings that remain.
pub fn run_fix(
    cfg: &Config,
    infra: Option<&Path>,
    env: &str,
    dry_run: bool,
) -> Result<(Vec<fix::Applied>, Vec<Finding>)> {
    let findings = run(cfg, infra, env)?;
    let base = cfg.stack.parent().unwrap_or(&cfg.stack);
    let rel = |p: &Path| p.strip_prefix(base).unwrap_or(p).display().to_string();
    let roots: Vec<&Path> = std::iter::once(cfg.stack.as_path()).chain(infra).collect();
    let applied = fix::apply(&findings, dry_run, &rel, &roots);
    if applied.iter().any(|a| a.written) {
        return Ok((applied, run(cfg, infra, env)?));
    }
    Ok((applied, findings))
}

/// No error among the findings that are not waived: warnings alone pass.
pub fn passed(findings: &[Finding]) -> bool {
    !findings
        .iter()
        .any(|f| f.severity == Severity::Error && !f.waived)
}

struct Checker<'a> {
    cfg: &'a Config,
    /// `deploy` bootstraps a fresh env (F19 and F20 are warnings), or not (errors).
    bootstrap: bool,
    base: PathBuf,
    findings: Vec<Finding>,
    /// What ships, as the build decides it: check never has its own idea.
    select: Selector<'a>,
    /// What Terraform deploys, as every pass reads it.
    model: crate::stack::model::Model,
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

/// Where Terraform's function and layer resources live: a module, or the env (infra Lambdas).
struct Scope<'a> {
    files: &'a [TfFile],
    dir: &'a Path,
    readable: bool,
}

/// The Terraform that declares functions and layers: each module's, then the env's (`infra`).
fn scopes<'a>(modules: &'a [ModuleTf], env: Option<&'a Env>) -> Vec<(&'a str, Scope<'a>)> {
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
    scopes
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
            waived: false,
            reason: None,
            edits: Vec::new(),
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

    /// Attaches (a part of) the mechanical fix of the finding just added.
    fn fixed_by(&mut self, edit: fix::Edit) {
        if let Some(f) = self.findings.last_mut() {
            f.edits.push(edit);
        }
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
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| tf::normalize(p))
}
