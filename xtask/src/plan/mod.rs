//! `cargo xtask plan`, `apply` and `deploy`.
//!
//! plan: build (incremental) → check → `init` when needed → `plan -out` into
//! `envs/<env>/.xtask/<env>.tfplan` → `show -json` → a summary, and a manifest recording the
//! hash of every input (zips, `.tf` files, var files) next to the plan.
//! apply: that saved plan and nothing else, refused when an input changed since (F15).
//! deploy: both in one run, for CI.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::build;
use crate::config::Config;
use crate::fsutil::write_atomic;
use crate::terraform::{self, PlanOpts, Terraform, VarFiles};
use crate::ui::{self, Activity};

mod apply;
mod bootstrap;
mod manifest;
mod summary;
pub use summary::Summary;

use apply::{apply_saved, post_deploy_verify, verified};
use manifest::{inputs, saved_plan, sha256_file, Manifest, MANIFEST_FORMAT};

pub struct Options {
    pub env: String,
    /// `--var-file`s, relative to the working directory.
    pub var_files: Vec<PathBuf>,
    pub tf_bin: Option<String>,
    pub aws: terraform::Aws,
    pub lock_timeout: String,
    /// `None` with `--no-build`.
    pub build: Option<build::Options>,
    /// `None` with `--no-smoke`.
    pub smoke: Option<crate::smoke::Options>,
    pub auto_approve: bool,
    pub json: bool,
    /// `--markdown FILE`: the summary as Markdown there too.
    pub markdown: Option<PathBuf>,
    /// Terraform plan arguments after `--`.
    pub plan_args: Vec<String>,
    /// `--verbose`: terraform's own output streamed, not condensed.
    pub verbose: bool,
    /// `--release`: the release's zips are placed instead of a build, check and smoke.
    pub release: Option<crate::release::place::Request>,
    /// Bootstrap a fresh env (`bootstrap`); false with `--no-bootstrap` (`[terraform]
    /// bootstrap = false` turns it off too).
    pub bootstrap: bool,
}

/// One env of the infra repo and where the xtask keeps its plan for it.
struct Target<'a> {
    cfg: &'a Config,
    infra: PathBuf,
    env: String,
    dir: PathBuf,
    /// This run's log of everything terraform printed, made on first use.
    log: std::sync::OnceLock<Arc<terraform::Log>>,
    /// `from release NAME (commit …)` once `--release` placed its zips.
    release: std::sync::OnceLock<String>,
}

impl<'a> Target<'a> {
    fn new(cfg: &'a Config, infra: Option<&Path>, env: &str) -> Result<Target<'a>> {
        let Some(infra) = infra else {
            bail!(
                "no infra repo found for {}: pass --infra DIR, or set `infra` in xtask.toml \
                 (looked for the sibling ../<project>-infra and for envs/ in the stack)",
                cfg.stack.display()
            );
        };
        Ok(Target {
            cfg,
            dir: terraform::env_dir(infra, env)?,
            infra: infra.to_path_buf(),
            env: env.to_string(),
            log: std::sync::OnceLock::new(),
            release: std::sync::OnceLock::new(),
        })
    }

    /// `envs/<env>/.xtask/<env>.log`: one per run of plan, apply or deploy, whose path is
    /// printed when it is made.
    fn log(&self) -> Result<Arc<terraform::Log>> {
        if let Some(log) = self.log.get() {
            return Ok(log.clone());
        }
        let path = self.state_dir()?.join(format!("{}.log", self.env));
        let log = Arc::new(terraform::Log::create(&path)?);
        ui::step(&format!("terraform's full output: {}", self.show(&path)));
        Ok(self.log.get_or_init(|| log).clone())
    }

    /// `envs/<env>/.xtask`, ignored by git whatever the repo's .gitignore says, and readable
    /// by its owner only (0700 whatever the umask): the saved plan holds every variable in clear.
    fn state_dir(&self) -> Result<PathBuf> {
        let dir = self.dir.join(".xtask");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        private(&dir, 0o700)?;
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            write_atomic(
                &ignore,
                b"# Written by cargo xtask: saved plans hold secrets.\n*\n",
            )?;
        }
        Ok(dir)
    }

    /// Held for a whole plan, apply or deploy of the env: terraform writes the saved plan in
    /// place, so two at once would apply or record each other's half-written plan.
    fn lock(&self) -> Result<std::fs::File> {
        let dir = self.state_dir()?;
        let lock = crate::fsutil::lock(
            &dir,
            &format!("another plan, apply or deploy of env {}", self.env),
        )?;
        private(&dir.join("lock"), 0o600)?;
        Ok(lock)
    }

    fn plan_file(&self) -> PathBuf {
        self.dir.join(".xtask").join(format!("{}.tfplan", self.env))
    }

    fn manifest_file(&self) -> PathBuf {
        self.dir
            .join(".xtask")
            .join(format!("{}.plan.json", self.env))
    }

    fn init_record(&self) -> PathBuf {
        self.dir.join(".xtask").join("init.sha256")
    }

    /// The command that makes a new plan for this env.
    fn plan_command(&self) -> String {
        if self.env == "dev" {
            "cargo xtask plan".into()
        } else {
            format!("cargo xtask plan --env {}", self.env)
        }
    }

    /// A path as the user knows it: `module-access/backend/.build/profiles.zip`,
    /// `demo-infra/envs/dev/main.tf`.
    fn show(&self, p: &Path) -> String {
        let packages = self.cfg.stack.join("packages");
        let roots = [
            Some(packages.as_path()),
            self.infra.parent(),
            self.cfg.stack.parent(),
        ];
        let shown = roots
            .into_iter()
            .flatten()
            .find_map(|root| p.strip_prefix(root).ok())
            .unwrap_or(p);
        shown.display().to_string()
    }

    fn remove_plan(&self) -> Result<()> {
        for p in [self.plan_file(), self.manifest_file()] {
            match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot remove {}", p.display()))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Sets `path`'s mode exactly (chmod ignores the umask).
fn private(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot restrict the permissions of {}", path.display()))
}

/// The env's terraform, named in the progress output.
fn locate(t: &Target, opts: &Options, vars: &VarFiles) -> Result<Terraform> {
    let name = terraform::configured_bin(opts.tf_bin.as_deref(), t.cfg.terraform.bin.as_deref());
    let tf = Terraform::locate(&name, &t.dir, &opts.aws, vars)?.with_output(t.log()?, opts.verbose);
    ui::step(&format!(
        "{} {} ({})",
        tf.name,
        tf.version,
        tf.bin().display()
    ));
    Ok(tf)
}

fn build_first(t: &Target, opts: &Options) -> Result<()> {
    let Some(build_opts) = &opts.build else {
        ui::step("build skipped (--no-build): planning with the zips already there");
        return Ok(());
    };
    ui::step("build");
    let report = build::run(t.cfg, Some(&t.infra), build_opts)?;
    let failed: Vec<_> = report
        .artifacts
        .iter()
        .filter(|r| r.status == build::Status::Failed)
        .collect();
    for r in &failed {
        ui::error(&format!(
            "{}/{}: {}",
            r.module,
            r.name,
            r.error.as_deref().unwrap_or("failed")
        ));
    }
    if !failed.is_empty() {
        bail!(
            "the build failed ({} of {} artifacts); nothing was planned. Fix the errors above \
             (`cargo xtask build` shows them all), or pass --no-build to plan the zips already there",
            failed.len(),
            report.artifacts.len()
        );
    }
    let count = |s: build::Status| report.artifacts.iter().filter(|r| r.status == s).count();
    let remote = match count(build::Status::Remote) {
        0 => String::new(),
        n => format!(", {n} from the shared cache"),
    };
    ui::step(&format!(
        "build: {} artifacts, {} built, {} cached{remote}",
        report.artifacts.len(),
        count(build::Status::Built),
        count(build::Status::Cached)
    ));
    Ok(())
}

/// `cargo xtask check` before every plan: a stack that fails it is not planned.
fn preflight_check(cfg: &Config, infra: &Path, env: &str, bootstrap: bool) -> Result<()> {
    let findings = crate::check::run_with(cfg, Some(infra), env, bootstrap)?;
    if !findings.is_empty() {
        ui::eprint_line(crate::report::check_human(&findings).trim_end());
    }
    if !crate::check::passed(&findings) {
        bail!("check found errors (listed above), so terraform was not run: fix them, then run cargo xtask plan again");
    }
    Ok(())
}

/// `init` when there is no `.terraform`, or when what init depends on changed since the last.
fn ensure_init(t: &Target, tf: &Terraform) -> Result<()> {
    let data = terraform::data_dir(&t.dir);
    let now = terraform::init_fingerprint(tf);
    let last = std::fs::read_to_string(t.init_record()).unwrap_or_default();
    let why = if !data.is_dir() {
        format!("{} is not initialized", t.show(&t.dir))
    } else if last.trim() != now {
        "modules, providers or the lock file changed since the last init".to_string()
    } else {
        return Ok(());
    };
    ui::step(&format!("init: {why}"));
    tf.stream(&tf.init(), "init", &Activity::new("init", None), &[0])?;
    // Init may have written the lock file: record what it leaves.
    write_atomic(&t.init_record(), terraform::init_fingerprint(tf).as_bytes())
}

/// build → check → init → plan → summary; the saved plan and its manifest are left for apply.
/// `plan_args` go to terraform plan; `prepare` builds and checks first (a later stage of a
/// deploy has done so already); `derive` plans a bootstrap stage when the env needs one.
fn make_plan(
    t: &Target,
    opts: &Options,
    plan_args: &[String],
    prepare: bool,
    derive: bool,
) -> Result<(Summary, Terraform)> {
    check_plan_args(plan_args)?;
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let vars = VarFiles::resolve(
        &t.dir,
        &t.env,
        &t.cfg.terraform.var_files,
        &opts.var_files,
        &cwd,
    )?;
    // A release is placed, or refused, before terraform is run at all.
    if let (true, Some(req)) = (prepare, &opts.release) {
        let placed = crate::release::place(t.cfg, &t.infra, &t.env, req)?;
        let _ = t.release.set(crate::release::place::summary_line(&placed));
    }
    let mut tf = locate(t, opts, &vars)?;
    if prepare && opts.release.is_none() {
        build_first(t, opts)?;
        preflight_check(t.cfg, &t.infra, &t.env, bootstrap::on(t, opts))?;
        if let Some(smoke) = &opts.smoke {
            crate::smoke::preflight(t.cfg, &t.infra, smoke)?;
        }
    }
    t.state_dir()?;
    ensure_init(t, &tf)?;
    let stage = match derive {
        true => bootstrap::derive(t, &tf)?,
        false => None,
    };
    let staged;
    let plan_args = match &stage {
        Some(s) => {
            staged = bootstrap::target_args(&s.targets);
            &staged
        }
        None => plan_args,
    };

    let names = vars.describe(&t.dir);
    ui::step(&format!(
        "plan {}: var files: {}",
        t.env,
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    ));
    let before = inputs(t, &vars.passed)?;
    t.remove_plan()?;
    let plan_file = t.plan_file();
    let cmd = tf.plan(&PlanOpts {
        var_files: vars.passed.clone(),
        out: plan_file.clone(),
        lock_timeout: opts.lock_timeout.clone(),
        extra: plan_args.to_vec(),
    });
    let (code, diff) = match tf.stream_held(&cmd, "plan", &Activity::new("plan", None), &[0, 2]) {
        Ok(done) => done,
        Err(e) => {
            t.remove_plan()?;
            return Err(bootstrap::hint(t, unset_variable_hint(t, e)));
        }
    };
    // Terraform creates it as the umask says; the directory is private already, the file too.
    private(&plan_file, 0o600)?;
    let json = tf.show_plan_json(&plan_file)?;
    // The diff is printed once the old values of rotated secrets are known to be secret.
    tf.add_plan_secrets(&json);
    tf.print_held(&diff);
    let mut summary = Summary::from_plan(&json, &t.env, code == 2);
    summary.var_files = names;
    summary.plan_file = t.show(&plan_file);
    summary.plan_args = plan_args.to_vec();
    summary.release = t.release.get().cloned();
    summary.stage = stage;
    summary.group_routes(&route_owners(t.cfg, &t.infra, &t.env));
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        plan_sha256: sha256_file(&plan_file)?,
        profile: opts.aws.profile.clone(),
        region: opts.aws.region.clone(),
        var_files: vars.passed,
        inputs: before,
        summary: summary.clone(),
    };
    write_atomic(&t.manifest_file(), &serde_json::to_vec_pretty(&manifest)?)?;
    Ok((summary, tf))
}

/// Terraform plan arguments the xtask takes after `--`, refused when they would break what
/// plan and apply promise: one saved plan, from the var files it names, never a prompt.
fn check_plan_args(args: &[String]) -> Result<()> {
    for arg in args {
        let flag = arg.split('=').next().unwrap_or(arg).trim_start_matches('-');
        let why = match flag {
            "out" => "the xtask saves the plan itself, where apply finds it",
            "detailed-exitcode" => "the xtask always passes it: its exit code 2 means changes",
            "var-file" => "use --var-file before `--`, so the file is recorded and masked",
            "var" => "a value on the command line shows in `ps` and logs; put it in a var file",
            "input" => "the xtask never lets terraform prompt",
            "lock-timeout" => "use --lock-timeout",
            "json" | "state" | "state-out" | "backup" | "chdir" => {
                "the xtask reads terraform's output and state itself"
            }
            _ => continue,
        };
        return Err(ui::Usage(format!(
            "`{arg}` cannot be passed to terraform plan through the xtask: {why}"
        ))
        .into());
    }
    Ok(())
}

/// Which stack module declares each route key: the routes the stack model gives each function
/// (from the modules' `api_routes` outputs), by the package whose module declares the function.
fn route_owners(cfg: &Config, infra: &Path, env: &str) -> BTreeMap<String, String> {
    let packages = crate::stack::model::canonical_lossy(&cfg.stack.join("packages"));
    let model = crate::stack::model::Model::load(&cfg.stack, Some(infra), env, &[]);
    let mut owners = BTreeMap::new();
    for f in &model.functions {
        let Some(module) = f
            .module_dir
            .strip_prefix(&packages)
            .ok()
            .and_then(|rest| rest.components().next())
        else {
            continue;
        };
        let module = module.as_os_str().to_string_lossy().into_owned();
        for r in &f.routes {
            owners.insert(format!("{} {}", r.method, r.path), module.clone());
        }
    }
    owners
}

/// `--markdown FILE`, and the job summary of a GitHub Actions run (`GITHUB_STEP_SUMMARY`).
fn write_markdown(summary: &Summary, opts: &Options) -> Result<()> {
    let md = summary.markdown();
    if let Some(file) = &opts.markdown {
        std::fs::write(file, &md).with_context(|| format!("cannot write {}", file.display()))?;
    }
    if let Some(step) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let cannot = || {
            format!(
                "cannot append to GITHUB_STEP_SUMMARY ({})",
                step.to_string_lossy()
            )
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&step)
            .with_context(cannot)?;
        f.write_all(format!("{md}\n").as_bytes())
            .with_context(cannot)?;
    }
    Ok(())
}

/// A required variable with no value (F16) says where values go.
fn unset_variable_hint(t: &Target, e: anyhow::Error) -> anyhow::Error {
    let mut failed = match e.downcast::<terraform::Failed>() {
        Ok(f) if f.message.contains("No value for required variable") => f,
        Ok(f) => return f.into(),
        Err(e) => return e,
    };
    let secrets = t.dir.join(terraform::LOCAL_SECRETS);
    let example = t.dir.join(format!("{}.example", terraform::LOCAL_SECRETS));
    failed
        .message
        .push_str(&if !secrets.exists() && example.exists() {
            format!(
                "\nhint: copy {} to {} and fill it in",
                t.show(&example),
                terraform::LOCAL_SECRETS
            )
        } else {
            format!(
                "\nhint: set it in {}, in a var file listed for {} under [terraform.var_files] in \
             xtask.toml, or pass --var-file",
                t.show(&secrets),
                t.env
            )
        });
    failed.into()
}

/// `cargo xtask plan`. `Ok(true)` when changes are pending.
pub fn plan(cfg: &Config, infra: Option<&Path>, opts: &Options) -> Result<bool> {
    let t = Target::new(cfg, infra, &opts.env)?;
    // Usage errors (exit 64) first, then addresses that match nothing (exit 1).
    check_plan_args(&opts.plan_args)?;
    bootstrap::check_addresses(&t, opts)?;
    let _lock = t.lock()?;
    let derive = bootstrap::derives(&t, opts);
    let (summary, _) = make_plan(&t, opts, &opts.plan_args, true, derive)?;
    write_markdown(&summary, opts)?;
    if opts.json {
        print_json(&summary)?;
    } else {
        print_human(&t, &summary, true)?;
    }
    Ok(summary.changes)
}

/// `cargo xtask apply`.
pub fn apply(cfg: &Config, infra: Option<&Path>, opts: &Options) -> Result<()> {
    let t = Target::new(cfg, infra, &opts.env)?;
    let _lock = t.lock()?;
    let manifest = saved_plan(&t, &opts.aws)?;
    if !opts.json {
        print_human(&t, &manifest.summary, false)?;
    }
    let summary = apply_saved(&t, opts, &manifest, None)?;
    if opts.json {
        print_json(&summary)?;
    }
    Ok(())
}

/// `cargo xtask deploy`: build → check → plan → apply → verify. With `[terraform] stages`
/// for the env, each stage is planned with `-target`s and applied first, then the whole env;
/// without, a fresh env gets the bootstrap stage it needs (`bootstrap`). Every plan goes
/// through the same stale check, and verify runs once at the end.
pub fn deploy(cfg: &Config, infra: Option<&Path>, opts: &Options) -> Result<()> {
    let t = Target::new(cfg, infra, &opts.env)?;
    check_plan_args(&opts.plan_args)?;
    let stages = cfg.terraform.stages(&opts.env);
    if !stages.is_empty() && !opts.plan_args.is_empty() {
        return Err(ui::Usage(format!(
            "deploy -- {} and [terraform] stages for env {} do not mix: deploy the stages, \
             or plan and apply the targeted change with `cargo xtask plan -- …`",
            opts.plan_args.join(" "),
            opts.env
        ))
        .into());
    }
    bootstrap::check_addresses(&t, opts)?;
    let _lock = t.lock()?;
    let mut total = stages.len() + 1;
    let mut plans: Vec<Vec<String>> = stages
        .iter()
        .map(|stage| bootstrap::target_args(stage))
        .collect();
    plans.push(opts.plan_args.clone());
    let derive = bootstrap::derives(&t, opts);
    let mut summary = Summary::default();
    let mut i = 0;
    while i < total {
        // A derived bootstrap stage comes before the whole env's plan.
        let plan_args = &plans[i.min(plans.len() - 1)];
        if total > 1 {
            ui::step(&format!(
                "stage {}/{total}: {}",
                i + 1,
                if i + 1 == total {
                    "the whole env".to_string()
                } else {
                    stages[i].join(", ")
                }
            ));
        }
        let (planned, tf) = make_plan(&t, opts, plan_args, i == 0, derive && i == 0)?;
        if planned.stage.is_some() {
            total = 2;
        }
        write_markdown(&planned, opts)?;
        if !opts.json {
            print_human(&t, &planned, false)?;
        }
        // Checked again: nothing may have changed while terraform planned.
        let manifest = saved_plan(&t, &opts.aws)?;
        summary = apply_saved(&t, opts, &manifest, Some(tf))?;
        i += 1;
    }
    let report = post_deploy_verify(cfg, &t.infra, opts);
    // Printed whatever verify found: CI must learn what was applied even when it then fails.
    if opts.json {
        let mut doc = serde_json::to_value(&summary)?;
        doc["verify"] = match &report {
            Ok(r) => serde_json::to_value(r)?,
            Err(_) => Value::Null,
        };
        ui::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    }
    verified(&report?, &opts.env)
}

fn print_json(s: &Summary) -> Result<()> {
    ui::out(&format!("{}\n", serde_json::to_string_pretty(s)?))
}

/// The summary on stdout, deletes and replaces in red; `apply_hint` after `plan` only.
fn print_human(t: &Target, s: &Summary, apply_hint: bool) -> Result<()> {
    let apply = if t.env == "dev" {
        "cargo xtask apply".to_string()
    } else {
        format!("cargo xtask apply --env {}", t.env)
    };
    ui::out(&s.human(apply_hint.then_some(apply.as_str())))
}
#[cfg(test)]
mod tests;
