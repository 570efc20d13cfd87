//! `cargo xtask`: builds, checks, deploys and verifies a CORA stack.
//!
//! The pipeline: parse flags (here) → resolve the stack and its config (`config`) →
//! discover artifacts (`discover`) → run one subcommand module.
//!
//! Exit codes: 0 success; 1 failure (a failed artifact, an error finding, a terraform error);
//! 2 `plan` succeeded with changes pending; 64 bad command line; 130 cancelled (SIGINT, Ctrl-C,
//! or a confirmation declined), 143 cancelled (SIGTERM): 128 + the signal in every command and
//! every phase, after what the xtask started has been stopped. When terraform itself fails, its
//! own exit code is kept unless it is 2, 64 or above 125 (then 1); terraform exits 1 on errors.

mod archive;
mod build;
mod check;
mod config;
mod doctor;
mod fsutil;
mod help;
mod install;
mod plan;
mod pool;
mod proc;
mod release;
mod report;
mod s3;
mod scaffold;
mod smoke;
mod stack;
mod terraform;
mod ui;
mod verify;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version = concat!(env!("CARGO_PKG_VERSION"), " (source ", env!("XTASK_SOURCE_HASH"), ")"),
    about = "Build, check, deploy and verify a CORA stack (Python Lambdas + API Gateway + Terraform)",
    after_help = help::ROOT
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Stack root (default: `stack` in the workspace's xtask.toml, else the workspace root; the
    /// workspace is the one around the current directory that has the xtask)
    #[arg(long, global = true, value_name = "DIR")]
    stack: Option<PathBuf>,
    /// Infra repo (default: `infra` in xtask.toml, else ../<project>-infra, else the stack if it has envs/)
    #[arg(long, global = true, value_name = "DIR")]
    infra: Option<PathBuf>,
    /// Print one JSON document on stdout instead of the human report
    #[arg(long, global = true)]
    json: bool,
    /// No progress on stderr: only warnings, errors and the result
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// Colours: auto (on a terminal, unless NO_COLOR is set or CLICOLOR_FORCE asks for them
    /// anywhere), always or never
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ui::Color::Auto)]
    color: ui::Color,
}

#[derive(Subcommand)]
enum Command {
    /// Build every Lambda function and layer into reproducible zips
    #[command(after_help = help::BUILD)]
    Build(BuildArgs),
    /// Check the stack and its infra env against the CORA contract, offline
    #[command(after_help = help::CHECK)]
    Check(CheckArgs),
    /// Remove the zips the build produces, its state and its dependency cache
    #[command(after_help = help::CLEAN)]
    Clean,
    /// Print a shell completion script (for the command `xtask`: alias xtask='cargo xtask')
    #[command(after_help = help::COMPLETIONS)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Resolve each requirements.txt into requirements.lock: exact versions, sha256 of each wheel
    #[command(
        after_help = help::LOCK,
        long_about = "Resolve the requirements.txt of every function and layer (and the files it \
        includes) for the Lambda target (python in xtask.toml; the artifact's architecture: its \
        Terraform's, else arch in xtask.toml) into requirements.lock \
        beside it: exact versions and the sha256 of every wheel. Versions already locked are \
        kept unless --upgrade frees them; what changed is printed. `build` installs from the \
        lock with hashes required. Needs uv."
    )]
    Lock(LockArgs),
    /// Why a zip is big: bytes by distribution, each function plus its layers against 250 MiB
    #[command(
        after_help = help::SIZE,
        long_about = "Builds first (incrementally), then prints per artifact: zipped and unzipped \
        bytes, for a function its attached layers and the total against Lambda's 250 MiB, the \
        largest distributions by unzipped size, and what was left out because an attached layer \
        or the Lambda runtime provides it."
    )]
    Size(SizeArgs),
    /// Build, check, then `terraform plan` one env into a saved plan, and summarize it
    #[command(
        after_help = help::PLAN,
        long_about = "Build (incremental), check, run `terraform init` when needed, then \
        `terraform plan -detailed-exitcode -out=<env dir>/.xtask/<env>.tfplan` and summarize the \
        saved plan: counts by action, Lambda functions whose code changes, layers republished, \
        routes added or removed, every delete and replace.\n\n\
        Var files: <env dir>/local-secrets.tfvars when present, then the env's files listed \
        under [terraform.var_files] in xtask.toml, then each --var-file, in that order \
        (terraform.tfvars and *.auto.tfvars are loaded by terraform itself). Their names are \
        printed, never their values."
    )]
    Plan(PlanArgs),
    /// Apply the saved plan of one env, refused when anything it was made from changed
    #[command(
        after_help = help::APPLY,
        long_about = "Apply <env dir>/.xtask/<env>.tfplan, the plan `cargo xtask plan` \
        saved, and nothing else. Refused when there is none, when any zip, .tf file (of the \
        env or its local modules), lock file or var file changed since it was made, or when \
        --profile or --region differ from the plan's. A plan that \
        deletes or replaces anything (a layer's new version aside) asks for `yes` on a terminal \
        and needs --auto-approve elsewhere. Ctrl-C asks terraform to stop cleanly and release \
        the state lock; a second Ctrl-C kills it."
    )]
    Apply(ApplyArgs),
    /// Build, check, plan, apply and verify one env in one run (for CI)
    #[command(
        after_help = help::DEPLOY,
        long_about = "build → check → plan → apply → verify, as `cargo xtask plan`, \
        `cargo xtask apply` and `cargo xtask verify` would. A plan that deletes or replaces \
        anything (a layer's new version aside) needs --auto-approve, or `yes` on a terminal. \
        A failed verify fails the deploy. --json: the plan summary plus `verify`."
    )]
    Deploy(DeployArgs),
    /// Record the current build as a release: manifest + provenance, zips stored by hash
    #[command(
        after_help = help::RELEASE,
        long_about = "Builds (incrementally) and refuses unless every artifact built; with \
        --env, also unless the last verify of that env passed, live, against these exact zips. \
        Then writes the release manifest (every zip's module, name, kind, sha256, sizes and the \
        path Terraform reads it from; the lock files' hashes; the sources' hash; the git commit \
        and any uncommitted paths; the xtask's version; the env verified and when) and the same \
        as an in-toto / SLSA provenance v1 statement, and stores the zips (by sha256) and both \
        documents in the shared store ([release] url, else the build cache's), every write \
        conditional. `deploy --release NAME` deploys those bytes elsewhere without building."
    )]
    Release(ReleaseArgs),
    /// Import every handler in a Lambda-shaped sandbox with the target interpreter (nothing invoked)
    #[command(
        after_help = help::SMOKE,
        long_about = "For every function: its zip as the task root, its attached layers' zips \
        merged into one opt/ in Terraform's order (layers passed in through module variables \
        are followed through the env's module calls), the Lambda runtime's boto3 after them; \
        then the target interpreter imports the handler's module with Lambda's sys.path and \
        checks the handler exists. Nothing is invoked; the network is pointed at a closed port.\n\n\
        Interpreter: `python` under [smoke] in xtask.toml, else `uv python find 3.X`, else \
        python3.X on PATH, else pyenv's. Without one every function is skipped (exit 0), \
        except with --require; a `python` setting that does not run the target is an error. \
        With an interpreter, a run that imports nothing (every function skipped) is an error \
        unless --allow-skip."
    )]
    Smoke(SmokeArgs),
    /// What Terraform deploys, as the xtask reads it: per function its zip, runtime, arch, layers, routes
    #[command(
        after_help = help::STACK,
        long_about = "Reads the env's root module (<infra>/envs/ENV) and the modules it calls, or \
        without an infra repo each packages/<m>/infrastructure, and prints per aws_lambda_function: \
        its zip and the artifact that builds it, handler, runtime, architectures, its layers in \
        order (each → the zip this stack builds, or an external ARN), routes and the permission \
        for API Gateway. What the configuration alone does not decide (a variable without a \
        default, a data source, an attribute known after apply) is printed as `not checked: \
        <why> at file:line` — the same words every other pass uses. Variables take their \
        caller's argument, else their default; var files are not read (they may hold secrets). \
        --json: the versioned schema in README."
    )]
    Stack(StackArgs),
    /// After an apply: check that every route reaches a function, every function is reached,
    /// and what runs in AWS is the local build
    #[command(after_help = help::VERIFY)]
    Verify(VerifyArgs),
    /// Start a module or an env from the contract's shape: `new module NAME`, `new env NAME`
    #[command(
        subcommand,
        long_about = "Scaffolding that passes `check` with no finding and builds.\n\n\
        `new module NAME`: packages/module-NAME with a function (backend/lambdas/NAME), a layer \
        (backend/layers/NAME-common) and infrastructure/ (main, variables, outputs with \
        api_routes, versions); then a `module \"module_NAME\"` block in every env that calls \
        the stack's modules, with the arguments the first of them gets, and its routes added \
        to the gateway's module_routes.\n\n\
        `new env NAME [--from ENV]`: envs/NAME copied from envs/ENV (default dev), var files \
        included; secret files (local-secrets.tfvars, *secret*, .env, *.pem) become \
        placeholders with the same variable names and empty values, sensitive variables' \
        values are blanked, state, .terraform/ and .xtask/ are not copied, and the env's name \
        in string literals (environment, a backend key) is renamed, each rewrite printed.",
        after_help = help::NEW
    )]
    New(scaffold::New),
    /// Every prerequisite with its version, and the fix for what is missing or too old
    #[command(
        long_about = "Checks, without changing anything: rustc and cargo against the \
        xtask's rust-version; terraform (or tofu) and where its providers come from (a \
        filesystem mirror in the CLI config, TF_CLI_CONFIG_FILE, or the registry); the \
        dependency installer (uv or pip) and uv for `lock`; the Python smoke imports with; \
        curl >= 7.66 when a build cache is configured; AWS credentials and region (never \
        printed); the infra repo; xtask.toml, every key, including [files.\"module/name\"] \
        tables that name no artifact.",
        after_help = help::DOCTOR
    )]
    Doctor,
}

/// Which env and which terraform, for plan, apply, deploy and verify.
#[derive(Args)]
struct TfArgs {
    /// The env to work on: the Terraform root module <infra>/envs/ENV
    #[arg(long, value_name = "ENV", default_value = "dev")]
    env: String,
    /// `terraform`, `tofu` or a path [default: $TF_BIN, else `bin` under [terraform] in xtask.toml, else terraform]
    #[arg(long, value_name = "BIN")]
    tf_bin: Option<String>,
    /// AWS profile, exported to terraform as AWS_PROFILE
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// AWS region, exported to terraform as AWS_REGION
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
}

/// For the commands that take terraform's state lock: plan, apply and deploy (verify's reads
/// take none).
#[derive(Args)]
struct StateLock {
    /// How long terraform waits for the state lock (-lock-timeout), e.g. 30s, 1m30s, 500ms
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration)]
    lock_timeout: String,
    /// Stream terraform's own output instead of progress and a summary (it is always in full
    /// in <env dir>/.xtask/<env>.log)
    #[arg(long, short = 'v')]
    verbose: bool,
}

/// What goes into a plan, for plan and deploy.
#[derive(Args)]
struct PlanInputs {
    /// A var file passed after local-secrets.tfvars and xtask.toml's; repeatable, in order
    #[arg(long = "var-file", value_name = "FILE")]
    var_files: Vec<PathBuf>,
    /// Plan the zips already built instead of building first (a failed build stops the plan)
    #[arg(long)]
    no_build: bool,
    /// Artifacts built at once (default: number of cores)
    #[arg(long, short = 'j', value_name = "N", value_parser = jobs)]
    jobs: Option<usize>,
    /// Build as `build --locked`: a missing or stale requirements.lock fails the build (CI)
    #[arg(long, conflicts_with = "no_build")]
    locked: bool,
    /// Also write the plan summary as Markdown to FILE (appended to $GITHUB_STEP_SUMMARY
    /// whenever that is set)
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Terraform plan arguments, after `--`: -target=ADDR, -replace=ADDR, -refresh-only,
    /// -refresh=false, -destroy, -parallelism=N. Recorded with the saved plan.
    #[arg(last = true, value_name = "TERRAFORM PLAN ARGS")]
    plan_args: Vec<String>,
    /// Do not import the handlers (`cargo xtask smoke`) after the check
    #[arg(long)]
    no_smoke: bool,
    /// Plan a release's zips instead of a build (NAME in the store, a release.json FILE, or its
    /// s3:// URL): no installer, no Python, no build, check or smoke (--locked is then moot)
    #[arg(long, value_name = "NAME|FILE|URL", conflicts_with = "no_build")]
    release: Option<String>,
    /// With --release: deploy even though this checkout's sources differ from the release's
    /// (recorded in the summary and in <env dir>/.xtask/release.json)
    #[arg(long, requires = "release")]
    allow_source_drift: bool,
    /// Never derive bootstrap stages for a fresh env: check's F19/F20 become errors
    /// (also `bootstrap = false` under [terraform] in xtask.toml)
    #[arg(long)]
    no_bootstrap: bool,
}

#[derive(Args)]
struct ReleaseArgs {
    /// Require, and record, a passing live verify of ENV against these exact zips
    #[arg(long, value_name = "ENV")]
    env: Option<String>,
    /// The release's name [default: git-<commit> for a clean checkout, else src-<sources hash>]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Fail an artifact whose requirements.lock is missing or older than its requirements (CI)
    #[arg(long)]
    locked: bool,
    /// Artifacts built at once (default: number of cores)
    #[arg(long, short = 'j', value_name = "N", value_parser = jobs)]
    jobs: Option<usize>,
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    tf: TfArgs,
    #[command(flatten)]
    lock: StateLock,
    #[command(flatten)]
    inputs: PlanInputs,
}

#[derive(Args)]
struct ApplyArgs {
    #[command(flatten)]
    tf: TfArgs,
    #[command(flatten)]
    lock: StateLock,
    /// Apply a plan that deletes or replaces resources without asking
    #[arg(long)]
    auto_approve: bool,
}

#[derive(Args)]
struct DeployArgs {
    #[command(flatten)]
    tf: TfArgs,
    #[command(flatten)]
    lock: StateLock,
    #[command(flatten)]
    inputs: PlanInputs,
    /// Apply a plan that deletes or replaces resources without asking
    #[arg(long)]
    auto_approve: bool,
}

/// `-j N`: one or more. 0 is a usage error rather than silently one at a time (a script's
/// `-j $(nproc_or_nothing)` gone wrong should say so).
fn jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a number of jobs (1 or more)")),
    }
}

/// A terraform duration, in Go's syntax as terraform parses it: `0`, or numbers (decimals
/// allowed) each followed by a unit, ns, us, µs, ms, s, m or h: `30s`, `1m30s`, `1.5h`, `500ms`.
fn duration(s: &str) -> Result<String, String> {
    let bad = || format!("{s:?} is not a duration like 30s, 1m30s, 500ms or 1h");
    match s {
        "0" => return Ok(s.to_string()),
        "" => return Err(bad()),
        _ => {}
    }
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if !number.chars().any(|c| c.is_ascii_digit()) || number.matches('.').count() > 1 {
            return Err(bad());
        }
        rest = &rest[digits..];
        // `ms` before `m`, so `1ms` is not a minute followed by garbage.
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u))
            .ok_or_else(bad)?;
        rest = &rest[unit.len()..];
    }
    Ok(s.to_string())
}

#[derive(Args)]
struct CheckArgs {
    /// Environment to check: the directory under <infra>/envs/
    #[arg(long, value_name = "ENV", default_value = "dev")]
    env: String,
    /// Apply the fixes that are one mechanical edit (runtimes, module_routes), then check again
    #[arg(long)]
    fix: bool,
    /// With --fix: print the edits, write nothing
    #[arg(long, requires = "fix")]
    dry_run: bool,
}

#[derive(Args)]
struct SmokeArgs {
    /// The env whose module calls pass layers between modules: <infra>/envs/ENV
    #[arg(long, value_name = "ENV", default_value = "dev")]
    env: String,
    /// Only this module's functions (`access` or `module-access`; `infra`); repeatable
    #[arg(long = "module", value_name = "NAME")]
    modules: Vec<String>,
    /// Imports run at once (default: number of cores)
    #[arg(long, short = 'j', value_name = "N", value_parser = jobs)]
    jobs: Option<usize>,
    /// Fail when no target interpreter is found, instead of skipping every function (CI)
    #[arg(long)]
    require: bool,
    /// Exit 0 when an interpreter was found but every function was skipped (nothing imported)
    #[arg(long)]
    allow_skip: bool,
    /// Import the zips already built instead of building (incrementally) first
    #[arg(long)]
    no_build: bool,
}

#[derive(Args)]
struct StackArgs {
    /// Only these functions: address, resource name, artifact (`module-ai/chat` or `chat`) or function_name
    #[arg(value_name = "FUNCTION")]
    functions: Vec<String>,
    /// The env whose root module is read: <infra>/envs/ENV
    #[arg(long, value_name = "ENV", default_value = "dev")]
    env: String,
}

#[derive(Args)]
struct BuildArgs {
    /// The env whose module calls decide which layers each function attaches (dedupe, budget)
    #[arg(long, value_name = "ENV", default_value = "dev")]
    env: String,
    /// Only build this module (`access` or `module-access`; `infra` for the infra Lambdas); repeatable
    #[arg(long = "module", value_name = "NAME")]
    modules: Vec<String>,
    /// Rebuild everything, ignoring the cache
    #[arg(long)]
    force: bool,
    /// Fail an artifact whose requirements.lock is missing or older than its requirements (CI)
    #[arg(long)]
    locked: bool,
    /// Artifacts built at once (default: number of cores)
    #[arg(long, short = 'j', value_name = "N", value_parser = jobs)]
    jobs: Option<usize>,
    /// Shared build cache, s3://bucket/prefix [default: $XTASK_CACHE, else [cache] url in xtask.toml]
    #[arg(long, value_name = "URL")]
    cache: Option<String>,
    /// Download from the shared cache, never upload (untrusted branches)
    #[arg(long)]
    cache_read_only: bool,
}

#[derive(Args)]
struct LockArgs {
    /// Only lock this module's artifacts (`access` or `module-access`; `infra`); repeatable
    #[arg(long = "module", value_name = "NAME")]
    modules: Vec<String>,
    /// Move locked versions to the newest the requirements allow: every package, or PACKAGE only
    #[arg(long, value_name = "PACKAGE", num_args = 0..=1)]
    upgrade: Option<Option<String>>,
}

#[derive(Args)]
struct SizeArgs {
    /// The env whose module calls decide which layers each function attaches
    #[arg(long, value_name = "ENV", default_value = "dev")]
    env: String,
    /// `module-access/profiles`, `access/profiles` or a name unique in the stack (default: all)
    #[arg(value_name = "ARTIFACT")]
    artifacts: Vec<String>,
    /// Distributions listed per artifact
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: usize,
    /// Artifacts built at once (default: number of cores)
    #[arg(long, short = 'j', value_name = "N", value_parser = jobs)]
    jobs: Option<usize>,
}

#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    tf: TfArgs,
    /// Only read Terraform's state and the local zips: no AWS calls beyond reading the state
    /// backend (S3 for a remote state)
    #[arg(long)]
    offline: bool,
    /// Also request every route without credentials: private → 401/403, public → not 404
    #[arg(long)]
    http: bool,
    /// Base URL for --http instead of the `api_gateway_url` output (implies --http)
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Seconds each AWS call may take to connect and, again, to answer (the aws CLI's
    /// --cli-connect-timeout and --cli-read-timeout); the first call is tried twice at most
    #[arg(long, value_name = "SECS", default_value_t = verify::AWS_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    aws_timeout: u64,
    /// Compare each function's live CodeSha256 with the same function in ENV (by Terraform
    /// address), side by side; any difference fails
    #[arg(long, value_name = "ENV", conflicts_with_all = ["offline", "http", "url"])]
    same_as: Option<String>,
    /// Compare each function's live CodeSha256 with the zip a release holds for it
    #[arg(long, value_name = "NAME|FILE|URL", conflicts_with_all = ["offline", "http", "url", "same_as"])]
    release: Option<String>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            return ExitCode::from(if usage { 64 } else { 0 });
        }
    };
    ui::init(cli.global.color, cli.global.quiet);
    if let Command::Completions { shell } = cli.command {
        return completions(shell);
    }
    // From the start, so a signal at any point exits as `proc::cancelled_exit_code` says.
    if let Err(e) = proc::install_interrupt_handlers() {
        ui::warn(&format!("{e:#}"));
    }
    let result = run(cli);
    install::stop_pip_servers();
    match result {
        Ok(code) => code,
        Err(e) if e.is::<proc::Cancelled>() => {
            ui::error(proc::cancelled_by());
            ExitCode::from(proc::cancelled_exit_code())
        }
        Err(e) if e.is::<ui::Usage>() => {
            ui::error(&format!("{e:#}"));
            ExitCode::from(64)
        }
        Err(e) => {
            ui::error(&format!("{e:#}"));
            let code = match e.downcast_ref::<terraform::Failed>().and_then(|f| f.code) {
                Some(c @ 1..=125) if c != 2 && c != 64 => c as u8,
                _ => 1,
            };
            ExitCode::from(code)
        }
    }
}

/// The script completes the command `xtask` (a shell cannot complete a two-word command):
/// with `alias xtask='cargo xtask'` it completes every subcommand and flag.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut buf = Vec::new();
    clap_complete::generate(
        shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "xtask",
        &mut buf,
    );
    match ui::out(&String::from_utf8_lossy(&buf)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui::error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn build_options(jobs: Option<usize>) -> build::Options {
    build::Options {
        jobs: jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        force: false,
        modules: Vec::new(),
        locked: false,
        cache: build::remote::Flags::default(),
        env: "dev".into(),
    }
}

fn plan_options(
    tf: TfArgs,
    lock: StateLock,
    inputs: Option<PlanInputs>,
    auto_approve: bool,
    json: bool,
) -> plan::Options {
    let no_bootstrap = inputs.as_ref().is_some_and(|i| i.no_bootstrap);
    let (var_files, build, smoke, markdown, plan_args, release) = match inputs {
        Some(i) => (
            i.var_files,
            (!i.no_build && i.release.is_none()).then(|| build::Options {
                locked: i.locked,
                env: tf.env.clone(),
                ..build_options(i.jobs)
            }),
            (!i.no_smoke && i.release.is_none()).then(|| smoke_options(&tf.env, i.jobs)),
            i.markdown,
            i.plan_args,
            i.release.map(|release| release::place::Request {
                release,
                allow_source_drift: i.allow_source_drift,
            }),
        ),
        None => (Vec::new(), None, None, None, Vec::new(), None),
    };
    plan::Options {
        env: tf.env,
        var_files,
        tf_bin: tf.tf_bin,
        aws: terraform::Aws {
            profile: tf.profile,
            region: tf.region,
        },
        lock_timeout: lock.lock_timeout,
        verbose: lock.verbose,
        build,
        smoke,
        auto_approve,
        json,
        markdown,
        plan_args,
        release,
        bootstrap: !no_bootstrap,
    }
}

fn smoke_options(env: &str, jobs: Option<usize>) -> smoke::Options {
    smoke::Options {
        env: env.to_string(),
        modules: Vec::new(),
        jobs: build_options(jobs).jobs,
        require: false,
        build: None,
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    // Before the config is loaded: a broken xtask.toml is one of the things doctor reports.
    if let Command::Doctor = cli.command {
        return doctor::run(g.stack.as_deref(), g.infra.as_deref(), g.json);
    }
    let cfg = config::load(g.stack.as_deref())?;
    let infra = config::infra_dir(&cfg, g.infra.as_deref())?;
    match cli.command {
        Command::Build(args) => {
            let opts = build::Options {
                env: args.env,
                force: args.force,
                modules: args.modules,
                locked: args.locked,
                cache: build::remote::Flags {
                    url: args.cache,
                    read_only: args.cache_read_only,
                },
                ..build_options(args.jobs)
            };
            let report = build::run(&cfg, infra.as_deref(), &opts)?;
            report::build(&report, &cfg.stack, g.json)?;
            Ok(exit(report.failed() == 0))
        }
        Command::Check(args) if args.fix => {
            let (edits, findings) =
                check::run_fix(&cfg, infra.as_deref(), &args.env, args.dry_run)?;
            report::check_fix(&edits, &findings, g.json)?;
            Ok(exit(check::passed(&findings)))
        }
        Command::Check(args) => {
            let findings = check::run(&cfg, infra.as_deref(), &args.env)?;
            report::check(&findings, g.json)?;
            Ok(exit(check::passed(&findings)))
        }
        Command::Smoke(args) => {
            let opts = smoke::Options {
                modules: args.modules,
                require: args.require,
                build: (!args.no_build).then(|| build::Options {
                    env: args.env.clone(),
                    ..build_options(args.jobs)
                }),
                ..smoke_options(&args.env, args.jobs)
            };
            let report = smoke::run(&cfg, infra.as_deref(), &opts)?;
            smoke::print(&report, g.json)?;
            smoke::require_imports(&report, args.allow_skip)?;
            Ok(exit(report.count(smoke::Status::Failed) == 0))
        }
        Command::Verify(args) if args.same_as.is_some() || args.release.is_some() => {
            let (env, tf_bin) = (args.tf.env.clone(), args.tf.tf_bin.clone());
            let aws = terraform::Aws {
                profile: args.tf.profile,
                region: args.tf.region,
            };
            let against = match (args.same_as, args.release) {
                (Some(other), _) => verify::same_as::Against::Env(other),
                (None, Some(r)) => verify::same_as::Against::Release(r),
                (None, None) => unreachable!("guarded above"),
            };
            let opts = verify::same_as::Options {
                env,
                tf_bin,
                aws,
                aws_timeout: args.aws_timeout,
                against,
            };
            let report = verify::same_as::run(&cfg, infra.as_deref(), &opts)?;
            report::verify(&report, &format!("envs/{}", opts.env), g.json)?;
            Ok(exit(report.count(verify::Status::Fail) == 0))
        }
        Command::Stack(args) => {
            let ok = stack::show::run(&cfg, infra.as_deref(), &args.env, &args.functions, g.json)?;
            Ok(exit(ok))
        }
        Command::Verify(args) => {
            let opts = verify::Options {
                http: args.http || args.url.is_some(),
                url: args.url,
                env: args.tf.env,
                offline: args.offline,
                aws_timeout: args.aws_timeout,
                tf_bin: args.tf.tf_bin,
                aws: terraform::Aws {
                    profile: args.tf.profile,
                    region: args.tf.region,
                },
            };
            let report = verify::run(&cfg, infra.as_deref(), &opts)?;
            report::verify(&report, &format!("envs/{}", opts.env), g.json)?;
            Ok(exit(report.count(verify::Status::Fail) == 0))
        }
        Command::Size(args) => {
            let opts = build::Options {
                env: args.env,
                ..build_options(args.jobs)
            };
            let report = build::run(&cfg, infra.as_deref(), &opts)?;
            let rows = build::size::rows(&report, &args.artifacts)?;
            report::size(&rows, args.top, g.json)?;
            Ok(exit(rows.iter().all(|r| r.status != build::Status::Failed)))
        }
        Command::Lock(args) => {
            let upgrade = match args.upgrade {
                None => install::lock::Upgrade::Keep,
                Some(None) => install::lock::Upgrade::All,
                Some(Some(p)) => install::lock::Upgrade::Package(p),
            };
            stack::discover::require_stack(&cfg.stack)?;
            let found = stack::discover::discover(&cfg, infra.as_deref(), &args.modules)?;
            let jobs = build_options(None).jobs;
            let targets = build::arch::for_stack(&cfg, infra.as_deref())?;
            for w in &targets.warnings {
                ui::warn(w);
            }
            let outcomes = install::lock::run(&cfg, &targets, &found.artifacts, &upgrade, jobs)?;
            report::lock(&outcomes, &cfg.stack, g.json)?;
            Ok(exit(
                outcomes
                    .iter()
                    .all(|o| o.status != install::lock::Status::Failed),
            ))
        }
        // Handled in main, before a stack is looked for (completions work anywhere).
        Command::Completions { shell } => Ok(completions(shell)),
        Command::Release(args) => {
            let opts = release::Options {
                env: args.env,
                name: args.name,
                build: build::Options {
                    locked: args.locked,
                    ..build_options(args.jobs)
                },
            };
            let outcome = release::run(&cfg, infra.as_deref(), &opts)?;
            release::print(&outcome, g.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Clean => {
            let removed = build::clean(&cfg, infra.as_deref())?;
            report::clean(&removed, g.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => {
            let opts = plan_options(args.tf, args.lock, Some(args.inputs), false, g.json);
            let changes = plan::plan(&cfg, infra.as_deref(), &opts)?;
            Ok(ExitCode::from(if changes { 2 } else { 0 }))
        }
        Command::Apply(args) => {
            let opts = plan_options(args.tf, args.lock, None, args.auto_approve, g.json);
            plan::apply(&cfg, infra.as_deref(), &opts)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor => unreachable!("doctor runs before the config is loaded"),
        Command::New(what) => scaffold::run(&cfg, infra.as_deref(), what, g.json),
        Command::Deploy(args) => {
            let opts = plan_options(
                args.tf,
                args.lock,
                Some(args.inputs),
                args.auto_approve,
                g.json,
            );
            plan::deploy(&cfg, infra.as_deref(), &opts)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_terraforms_syntax() {
        for ok in [
            "0", "30s", "5m", "1h", "1m30s", "500ms", "1.5h", "2h45m10s", "10us",
        ] {
            assert_eq!(duration(ok).as_deref(), Ok(ok), "{ok}");
        }
        for bad in ["", "30", "m", "1x", "1.2.3s", "-1s", "1m30", ".s", "1 m"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verify_takes_no_lock_timeout() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|_| ());
        assert!(parse(&["xtask", "plan", "--lock-timeout", "1m30s"]).is_ok());
        assert!(parse(&["xtask", "verify", "--lock-timeout", "1m"]).is_err());
    }
}
