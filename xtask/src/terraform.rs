//! Running Terraform (or OpenTofu): which binary, which env, which var files, in what
//! environment, with which arguments. Every command is a typed `proc::Cmd` built here (in the
//! manner of hashicorp/terraform-exec), so argument lists and environments are unit-testable.
//!
//! Nothing read from Terraform is printed raw: streamed lines, error tails and any value a
//! caller prints (`Terraform::scrub`) are scrubbed of the secrets of the env's var files
//! (`secrets.rs`), a plan's diff only once its before-values are known, and the JSON readers
//! null sensitive values out. Var files are checked before terraform reads (and would quote)
//! them (`var_syntax.rs`); which are passed is `var_files.rs`.

use std::borrow::Cow;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod output;
mod redact;
mod secrets;
pub mod stages;
mod var_files;
mod var_syntax;

pub use output::Log;
use redact::{redact_outputs, redact_state};
pub use secrets::Secrets;
use secrets::VarFileQuotes;
pub use var_files::VarFiles;

use crate::proc::{Cmd, Event};
use crate::stack::env;
use crate::stack::hcl as tf;
use crate::ui::{self, Activity};

/// The oldest Terraform the xtask supports: `-chdir`, `show -json` of saved plans with
/// `action_reason`/`replace_paths`, and the `-json` formats it reads, as they are today.
pub const MIN_VERSION: (u64, u64, u64) = (1, 5, 0);

pub(crate) const INSTALL: &str =
    "install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install) \
     or OpenTofu (https://opentofu.org/docs/intro/install/, then set `bin = \"tofu\"` under \
     [terraform] in xtask.toml, pass --tf-bin tofu or export TF_BIN=tofu)";

/// The secrets file every CORA env may hold, git-ignored, passed first when present.
pub const LOCAL_SECRETS: &str = "local-secrets.tfvars";

/// Inherited variables that would change what terraform does behind the xtask's back: extra
/// arguments, another workspace, debug logs (which can print secrets).
fn is_unwanted(name: &str) -> bool {
    name.starts_with("TF_CLI_ARGS") || name == "TF_WORKSPACE" || name.starts_with("TF_LOG")
}

/// The binary to use: `--tf-bin`, else `TF_BIN`, else `bin` under [terraform] in xtask.toml,
/// else `terraform`.
pub fn bin_name(flag: Option<&str>, env: Option<OsString>, config: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| {
            env.map(|v| v.to_string_lossy().into_owned())
                .filter(|v| !v.is_empty())
        })
        .or_else(|| config.map(str::to_string))
        .unwrap_or_else(|| "terraform".to_string())
}

/// The binary as the user configured it: `bin_name` with this process's `TF_BIN`.
pub fn configured_bin(flag: Option<&str>, config: Option<&str>) -> String {
    bin_name(flag, std::env::var_os("TF_BIN"), config)
}

/// `envs/<env>` of the infra repo; an unknown env, or one without `.tf` files, is an error that
/// lists the envs there are.
pub fn env_dir(infra: &Path, env: &str) -> Result<PathBuf> {
    let envs = infra.join("envs");
    let dir = envs.join(env);
    if tf::has_tf_files(&dir) && !env.contains('/') && env != ".." {
        return Ok(dir);
    }
    let known = tf::env_names(&envs);
    let what = if dir.is_dir() {
        "has no .tf files"
    } else {
        "does not exist"
    };
    if known.is_empty() {
        bail!(
            "env {env:?}: {} {what}, and {} holds no env with .tf files; \
             create envs/{env}/main.tf or pass --infra DIR",
            dir.display(),
            envs.display()
        );
    }
    bail!(
        "env {env:?}: {} {what}; envs in {}: {}. Pass --env with one of them",
        dir.display(),
        envs.display(),
        known.join(", ")
    )
}

/// Terraform's working directory for an env: `TF_DATA_DIR` (relative to the env dir, where
/// terraform runs) when set, else `.terraform`.
pub fn data_dir(env_dir: &Path) -> PathBuf {
    std::env::var_os("TF_DATA_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| env_dir.join(".terraform"), |d| env_dir.join(d))
}

/// `path` relative to `base` when inside it (what terraform prints), else as given.
pub fn relative(base: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// AWS settings exported to terraform: `--profile` and `--region`.
#[derive(Debug, Clone, Default)]
pub struct Aws {
    pub profile: Option<String>,
    pub region: Option<String>,
}

/// `terraform plan` options.
#[derive(Debug, Clone)]
pub struct PlanOpts {
    pub var_files: Vec<PathBuf>,
    /// Where the saved plan goes.
    pub out: PathBuf,
    /// How long to wait for the state lock (`-lock-timeout`).
    pub lock_timeout: String,
    /// The user's own plan arguments (`-target=…`), already checked by the caller.
    pub extra: Vec<String>,
}

/// What `show -json` reads.
#[derive(Debug, Clone, Copy)]
pub enum Show<'a> {
    Plan(&'a Path),
    State,
}

/// terraform failed: its exit code and the tail of its stderr. `main` exits with that code.
#[derive(Debug)]
pub struct Failed {
    pub code: Option<i32>,
    pub message: String,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

/// One terraform binary working in one env dir.
#[derive(Debug, Clone)]
pub struct Terraform {
    bin: PathBuf,
    /// `terraform` or `tofu`, for messages.
    pub name: String,
    pub version: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
    /// Inherited variables removed from terraform's environment.
    pub removed: Vec<String>,
    secrets: Secrets,
    /// Where what terraform prints goes in full; without one, it is all streamed.
    log: Option<Arc<Log>>,
    /// `--verbose`: stream terraform's own output even with a log.
    verbose: bool,
}

impl Terraform {
    /// A terraform for `dir` whose environment is derived from `inherited` (the xtask's own).
    pub fn new(
        bin: &Path,
        dir: &Path,
        aws: &Aws,
        inherited: impl IntoIterator<Item = OsString>,
    ) -> Terraform {
        let mut removed: Vec<String> = inherited
            .into_iter()
            .map(|k| k.to_string_lossy().into_owned())
            .filter(|k| is_unwanted(k))
            .collect();
        removed.sort();
        let mut env = vec![
            ("TF_IN_AUTOMATION".to_string(), "1".to_string()),
            ("TF_INPUT".to_string(), "0".to_string()),
        ];
        if let Some(p) = &aws.profile {
            env.push(("AWS_PROFILE".to_string(), p.clone()));
        }
        if let Some(r) = &aws.region {
            env.push(("AWS_REGION".to_string(), r.clone()));
        }
        Terraform {
            name: bin
                .file_name()
                .map_or("terraform".into(), |n| n.to_string_lossy().into_owned()),
            bin: bin.to_path_buf(),
            version: String::new(),
            dir: dir.to_path_buf(),
            env,
            removed,
            secrets: Secrets::default(),
            log: None,
            verbose: false,
        }
    }

    /// The env's terraform as plan, apply and verify run it: finds `name` (a command on PATH
    /// or a path, see `configured_bin`), warns about the inherited variables it removes, checks
    /// the version once, and scrubs what must stay secret in the env's var files `vars` from all
    /// it prints.
    pub fn locate(name: &str, dir: &Path, aws: &Aws, vars: &VarFiles) -> Result<Terraform> {
        let bin = which::which(name)
            .map_err(|_| anyhow::anyhow!("{name} not found on PATH; {INSTALL}"))?;
        let mut tf = Terraform::new(&bin, dir, aws, std::env::vars_os().map(|(k, _)| k));
        for name in &tf.removed {
            ui::warn(&format!(
                "{name} is set in the environment; not passing it to {} so the xtask's \
                 arguments, workspace and log level hold (unset it to silence this)",
                tf.name
            ));
        }
        tf.version = tf.probe_version()?;
        var_syntax::check(dir, vars)?;
        Ok(tf.with_secrets(Secrets::collect(dir, vars)))
    }

    /// Lines read from this terraform and printed are scrubbed of these.
    pub fn with_secrets(mut self, secrets: Secrets) -> Terraform {
        self.secrets = secrets;
        self
    }

    /// Terraform's output goes to `log` in full; the terminal gets progress, unless `verbose`.
    pub fn with_output(mut self, log: Arc<Log>, verbose: bool) -> Terraform {
        self.log = Some(log);
        self.verbose = verbose;
        self
    }

    /// Progress and a summary rather than terraform's own stream.
    fn condensed(&self) -> bool {
        self.log.is_some() && !self.verbose
    }

    fn log_line(&self, line: &str) {
        if let Some(log) = &self.log {
            log.line(line);
        }
    }

    /// `text` with every secret masked: for anything read from terraform that is printed.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.secrets.scrub(text)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    fn probe_version(&self) -> Result<String> {
        let cmd = self.cmd().args(["version", "-json"]);
        let out = cmd.output()?;
        if !out.success() {
            bail!(
                "`{}` failed ({}):\n{}\n{INSTALL}",
                cmd.display(),
                exit_text(out.code),
                self.secrets.scrub(&VarFileQuotes::text(&out.tail(20)))
            );
        }
        let version = serde_json::from_str::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v["terraform_version"].as_str().map(str::to_string))
            .with_context(|| {
                format!(
                    "`{}` printed no terraform_version; is {} Terraform or OpenTofu?",
                    cmd.display(),
                    self.bin.display()
                )
            })?;
        check_version(&self.name, &version)?;
        Ok(version)
    }

    /// The base of every command: the env dir as working directory, a clean environment.
    fn cmd(&self) -> Cmd {
        let mut cmd = Cmd::new(&self.bin).dir(&self.dir);
        for k in &self.removed {
            cmd = cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd = cmd.env(k, v);
        }
        cmd
    }

    fn path_arg(&self, p: &Path) -> String {
        relative(&self.dir, p).display().to_string()
    }

    pub fn init(&self) -> Cmd {
        self.cmd().args(["init", "-input=false", "-no-color"])
    }

    pub fn plan(&self, opts: &PlanOpts) -> Cmd {
        let mut cmd = self.cmd().args([
            "plan".to_string(),
            "-input=false".into(),
            "-no-color".into(),
            "-detailed-exitcode".into(),
            format!("-lock-timeout={}", opts.lock_timeout),
            format!("-out={}", self.path_arg(&opts.out)),
        ]);
        for f in &opts.var_files {
            cmd = cmd.arg(format!("-var-file={}", self.path_arg(f)));
        }
        cmd.args(opts.extra.iter().cloned())
    }

    /// Applies a saved plan: terraform asks nothing, the plan is the approval.
    pub fn apply(&self, planfile: &Path, lock_timeout: &str) -> Cmd {
        let json = self.condensed().then(|| "-json".to_string());
        self.cmd()
            .args([
                "apply".to_string(),
                "-input=false".into(),
                "-no-color".into(),
                format!("-lock-timeout={lock_timeout}"),
            ])
            .args(json)
            .arg(self.path_arg(planfile))
    }

    pub fn show_json(&self, what: Show) -> Cmd {
        let cmd = self.cmd().args(["show", "-json", "-no-color"]);
        match what {
            Show::Plan(p) => cmd.arg(self.path_arg(p)),
            Show::State => cmd,
        }
    }

    /// `output -json`: every root output, sensitive ones included (see `output_json`).
    pub fn output(&self) -> Cmd {
        self.cmd().args(["output", "-json", "-no-color"])
    }

    /// Runs a captured command and parses its stdout as JSON.
    fn json(&self, cmd: Cmd, what: &str) -> Result<Value> {
        let out = cmd.output()?;
        if !out.success() {
            return Err(self.failed(what, out.code, &out.tail(usize::MAX)).into());
        }
        serde_json::from_str(&out.stdout)
            .with_context(|| format!("{} {what} printed something that is not JSON", self.name))
    }

    /// The saved plan as JSON. It holds variable values in clear: never print it.
    pub fn show_plan_json(&self, planfile: &Path) -> Result<Value> {
        self.json(self.show_json(Show::Plan(planfile)), "show -json")
    }

    /// The current state as JSON, every sensitive value replaced by `null`.
    pub fn show_state_json(&self) -> Result<Value> {
        let mut state = self.json(self.show_json(Show::State), "show -json")?;
        redact_state(&mut state);
        Ok(state)
    }

    /// The root outputs (`{name: {sensitive, type, value}}`), sensitive values replaced by `null`.
    pub fn output_json(&self) -> Result<Value> {
        let mut outputs = self.json(self.output(), "output -json")?;
        redact_outputs(&mut outputs);
        Ok(outputs)
    }

    /// `console` reading one expression (one line) from stdin, with the var files a plan
    /// passes: a value that depends on a variable set only there is otherwise unknown.
    pub fn console(&self, expr: &str, var_files: &[PathBuf]) -> Cmd {
        let mut cmd = self.cmd().args(["console", "-no-color"]);
        for f in var_files {
            cmd = cmd.arg(format!("-var-file={}", self.path_arg(f)));
        }
        cmd.stdin(format!("{expr}\n"))
    }

    /// What `console` prints for `expr`, evaluated against the current configuration and state
    /// (no calls beyond reading the state backend). A sensitive value prints as `(sensitive value)`.
    pub fn eval(&self, expr: &str, var_files: &[PathBuf]) -> Result<String> {
        let out = self.console(expr, var_files).output()?;
        if !out.success() {
            return Err(self
                .failed("console", out.code, &out.tail(usize::MAX))
                .into());
        }
        Ok(out.stdout)
    }

    /// Runs a long command (init, plan, apply) showing its lines on `activity`, scrubbed.
    /// Exit codes in `ok` are success; any other is `Failed` with the tail of stderr.
    pub fn stream(&self, cmd: &Cmd, what: &str, activity: &Activity, ok: &[i32]) -> Result<i32> {
        self.stream_lines(cmd, what, activity, ok, None)
    }

    /// `stream` for `plan`: progress lines (refreshing, reading) are shown as they come, the
    /// rest (the diff, which holds before-values from the state) is kept back, for
    /// `print_held` once the plan's secrets are known. Printed at once when the plan fails.
    pub fn stream_held(
        &self,
        cmd: &Cmd,
        what: &str,
        activity: &Activity,
        ok: &[i32],
    ) -> Result<(i32, Vec<String>)> {
        let mut held = Vec::new();
        match self.stream_lines(cmd, what, activity, ok, Some(&mut held)) {
            Ok(code) => Ok((code, held)),
            Err(e) => {
                self.print_held(&held);
                Err(e)
            }
        }
    }

    /// Lines `stream_held` kept, scrubbed with the secrets known now: into the log, and printed
    /// with `--verbose` off a terminal (on one, terraform's lines only pass through a bar).
    pub fn print_held(&self, held: &[String]) {
        let mut quotes = VarFileQuotes::default();
        for l in held {
            let l = self.secrets.scrub(&quotes.line(l)).into_owned();
            self.log_line(&l);
            if !self.condensed() && !ui::interactive() {
                ui::eprint_line(&l);
            }
        }
    }

    /// Masks the old values of attributes a plan (`show -json`) changes to hold a secret.
    pub fn add_plan_secrets(&mut self, plan: &Value) {
        self.secrets.add_before_values(plan);
    }

    fn stream_lines(
        &self,
        cmd: &Cmd,
        what: &str,
        activity: &Activity,
        ok: &[i32],
        mut held: Option<&mut Vec<String>>,
    ) -> Result<i32> {
        if let Some(log) = &self.log {
            log.section(what);
        }
        let mut quotes = VarFileQuotes::default();
        let mut err_quotes = VarFileQuotes::default();
        let mut counts = output::Counts::default();
        let out = cmd.stream(|e| match e {
            Event::Stdout(l) => {
                if let Some(held) = held.as_deref_mut().filter(|_| !is_progress(l)) {
                    held.push(l.to_string());
                    return;
                }
                let l = self.secrets.scrub(&quotes.line(l)).into_owned();
                self.log_line(&l);
                if !self.condensed() {
                    activity.line(&l);
                    if step_done(&l) {
                        activity.step();
                    }
                } else if let Some(status) = counts.status(&l) {
                    activity.status(&status);
                }
            }
            // Kept for the error message; terraform writes only diagnostics there.
            Event::Stderr(l) => self.log_line(&self.secrets.scrub(&err_quotes.line(l))),
            Event::Notice(l) => activity.note(&format!("{}: {l}", self.name)),
        });
        if let Some(total) = counts.total() {
            activity.summary(&total);
        }
        activity.finish();
        let out = out?;
        match out.code {
            Some(c) if ok.contains(&c) => Ok(c),
            _ => Err(self.failed(what, out.code, &out.tail(usize::MAX)).into()),
        }
    }

    /// Runs an apply. Condensed, it reads `apply -json` events: progress from each completed
    /// resource operation, errors from the diagnostics; the log gets each event's message.
    pub fn stream_apply(&self, cmd: &Cmd, activity: &Activity) -> Result<i32> {
        if !self.condensed() {
            return self.stream(cmd, "apply", activity, &[0]);
        }
        if let Some(log) = &self.log {
            log.section("apply");
        }
        let mut errors: Vec<String> = Vec::new();
        let mut done = 0u64;
        let out = cmd.stream(|e| match e {
            Event::Stdout(l) => match output::Event::parse(l) {
                Some((event, message)) => {
                    let message = self.secrets.scrub(&message).into_owned();
                    match event {
                        output::Event::Version { ui } if !output::ui_supported(&ui) => {
                            activity.note(&format!(
                                "warning: {} speaks machine-readable UI {ui}; the xtask reads \
                                 1.x, so its progress may be off (--verbose shows {}'s own)",
                                self.name, self.name
                            ));
                        }
                        output::Event::Started { address, action } => {
                            activity.status(&format!("{action} {address}"));
                        }
                        output::Event::Completed { address, action } => {
                            done += 1;
                            activity.step();
                            activity.status(&format!("{done} done; {action} {address} complete"));
                        }
                        output::Event::Diagnostic { severity, text } => {
                            let text = self.secrets.scrub(&text).into_owned();
                            self.log_line(&text);
                            if severity == "error" {
                                errors.push(text);
                            } else {
                                activity.note(&text);
                            }
                            return;
                        }
                        _ => {}
                    }
                    self.log_line(&message);
                }
                // Not an event (a crash, a plugin's own line): logged, and kept for the error.
                None => self.log_line(&self.secrets.scrub(l)),
            },
            Event::Stderr(l) => self.log_line(&self.secrets.scrub(l)),
            Event::Notice(l) => activity.note(&format!("{}: {l}", self.name)),
        });
        activity.finish();
        let out = out?;
        match out.code {
            Some(0) => Ok(0),
            code => {
                let stderr = self.secrets.scrub(out.stderr.trim()).into_owned();
                errors.extend((!stderr.is_empty()).then_some(stderr));
                if errors.is_empty() {
                    errors.push(self.secrets.scrub(&out.tail(usize::MAX)).into_owned());
                }
                Err(self.failed("apply", code, &errors.join("\n\n")).into())
            }
        }
    }

    /// Terraform's error blocks in full (masked), then where the whole output is.
    fn failed(&self, what: &str, code: Option<i32>, errors: &str) -> Failed {
        let log = self
            .log
            .as_ref()
            .map(|l| format!("\nfull output: {}", l.path().display()))
            .unwrap_or_default();
        Failed {
            code,
            message: format!(
                "{} {what} failed ({}):\n{}{log}",
                self.name,
                exit_text(code),
                self.secrets.scrub(&VarFileQuotes::text(errors))
            ),
        }
    }
}

fn exit_text(code: Option<i32>) -> String {
    code.map_or("killed by a signal".into(), |c| format!("exit code {c}"))
}

/// A line of terraform's progress while it reads the state and data sources: no values.
fn is_progress(line: &str) -> bool {
    [
        ": Refreshing state...",
        ": Reading...",
        ": Read complete after ",
        ": Still reading...",
    ]
    .iter()
    .any(|m| line.contains(m))
}

/// A line saying one resource operation of an apply has finished.
fn step_done(line: &str) -> bool {
    [
        ": Creation complete after ",
        ": Modifications complete after ",
        ": Destruction complete after ",
    ]
    .iter()
    .any(|m| line.contains(m))
}

fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().unwrap_or(Some(0))?,
    ))
}

pub(crate) fn check_version(name: &str, version: &str) -> Result<()> {
    let (a, b, c) = MIN_VERSION;
    match parse_version(version) {
        Some(v) if v >= MIN_VERSION => Ok(()),
        Some(_) => bail!(
            "{name} {version} is older than {a}.{b}.{c}, the oldest the xtask supports; \
             upgrade it: {INSTALL}"
        ),
        None => bail!("{name} reported version {version:?}, which is not a version number"),
    }
}

/// What `init` depends on: the binary, every module call, every `terraform {}` block (backend,
/// required providers) of the env and its local modules, and the dependency lock file. When it
/// differs from the one recorded at the last init, init runs again.
pub fn init_fingerprint(tf: &Terraform) -> String {
    let mut h = Sha256::new();
    h.update(format!("{}\0{}\0", tf.bin.display(), tf.version));
    let env_dir = tf.dir();
    for dir in std::iter::once(env_dir.to_path_buf()).chain(env::local_modules(env_dir)) {
        h.update(format!("dir\0{}\0", dir.display()));
        for (source, version) in env::module_sources(&dir) {
            h.update(format!("module\0{source}\0{version}\0"));
        }
        for block in env::terraform_blocks(&dir) {
            h.update(block);
        }
    }
    h.update(std::fs::read(env_dir.join(".terraform.lock.hcl")).unwrap_or_default());
    crate::fsutil::hex(&h.finalize())
}

#[cfg(test)]
mod tests;
