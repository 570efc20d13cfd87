//! `cargo xtask`: builds, checks, deploys and verifies a CORA stack.
//!
//! The pipeline: parse flags (here) → resolve the stack and its config (`config`) →
//! discover artifacts (`discover`) → run one subcommand module.
//!
//! Exit codes: 0 success; 1 failure (a failed artifact, an error finding, a terraform error);
//! 2 `plan` succeeded with changes pending; 64 bad command line; 130 cancelled.

mod archive;
mod build;
mod config;
mod discover;
mod install;
mod proc;
mod report;
mod terraform;
mod tf;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    about = "Build, check, deploy and verify a CORA stack (Python Lambdas + API Gateway + Terraform)",
    after_help = "Exit codes: 0 ok, 1 failure, 2 plan has changes pending, 64 usage error, 130 cancelled.\n\
                  Progress goes to stderr (bars on a terminal, plain lines otherwise or with NO_COLOR); \
                  tables and --json go to stdout."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Stack root (default: `stack` in the workspace's xtask.toml, else the workspace root)
    #[arg(long, global = true, value_name = "DIR")]
    stack: Option<PathBuf>,
    /// Infra repo (default: `infra` in xtask.toml, else ../<project>-infra, else the stack if it has envs/)
    #[arg(long, global = true, value_name = "DIR")]
    infra: Option<PathBuf>,
    /// Print one JSON document on stdout instead of the human report
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Build every Lambda function and layer into reproducible zips
    Build(BuildArgs),
    /// Remove the zips the build produces, its state and its dependency cache
    Clean,
}

#[derive(Args)]
struct BuildArgs {
    /// Only build this module (`access` or `module-access`; `infra` for the infra Lambdas); repeatable
    #[arg(long = "module", value_name = "NAME")]
    modules: Vec<String>,
    /// Rebuild everything, ignoring the cache
    #[arg(long)]
    force: bool,
    /// Artifacts built at once (default: number of cores)
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
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
    ui::init_colors();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            ui::error(&format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    let cfg = config::load(g.stack.as_deref())?;
    let infra = config::infra_dir(&cfg, g.infra.as_deref())?;
    match cli.command {
        Command::Build(args) => {
            let jobs = args
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            let opts = build::Options {
                jobs,
                force: args.force,
                modules: args.modules,
            };
            let report = build::run(&cfg, infra.as_deref(), &opts)?;
            report::build(&report, &cfg.stack, g.json)?;
            Ok(exit(report.failed() == 0))
        }
        Command::Clean => {
            for p in build::clean(&cfg, infra.as_deref())? {
                println!("removed {}", p.display());
            }
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
