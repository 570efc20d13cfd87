//! Cross-env comparison: `verify --env prd --same-as dev` puts each function's live CodeSha256
//! beside the same function's (same Terraform address) in the other env; `verify --release R`
//! beside the zip release R holds for it. Any difference, or a function on one side only,
//! fails naming the function. Also the record every verify leaves for `release --env`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::aws::{Client, Op};
use super::state::{region_of, Deployed, Function, Zips};
use super::{function_subject, Check, Report, Status};
use crate::config::Config;
use crate::release::{manifest::Manifest, proof};
use crate::stack::{discover, hcl};
use crate::terraform::{self, Aws, Terraform, VarFiles};
use crate::ui;

pub enum Against {
    Env(String),
    Release(String),
}

pub struct Options {
    pub env: String,
    pub tf_bin: Option<String>,
    pub aws: Aws,
    pub aws_timeout: u64,
    pub against: Against,
}

/// What a verify proved, for `release --env`: its failures and the zips it compared.
pub(super) fn record_proof(env_dir: &Path, env: &str, checks: &[Check], zips: &Zips) {
    let failed = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| format!("{} {}: {}", c.id, c.subject, c.message))
        .collect();
    let live = checks
        .iter()
        .any(|c| c.id == "live" && c.status == Status::Pass);
    let zips = zips
        .0
        .values()
        .filter_map(|z| Some((proof::key(&z.path), z.sha256.clone().ok()?)))
        .collect();
    proof::record(
        env_dir,
        &proof::Proof {
            env: env.to_string(),
            at: crate::release::manifest::now(),
            live,
            failed,
            zips,
        },
    );
}

pub fn run(cfg: &Config, infra: Option<&Path>, opts: &Options) -> Result<Report> {
    let infra = infra.context(
        "verify needs the infra repo (envs/<env>/): none found; pass --infra DIR or set `infra` in xtask.toml",
    )?;
    let (ours, env_dir) = deployed(cfg, infra, &opts.env, opts, false)?;
    let aws = Client::new(&opts.aws, opts.aws_timeout)?;
    let live = code_sha256(&aws, &ours);
    let checks = match &opts.against {
        Against::Env(other) => {
            let (theirs, _) = deployed(cfg, infra, other, opts, true)?;
            let their_live = code_sha256(&aws, &theirs);
            by_address(&opts.env, &ours, &live, other, &theirs, &their_live)
        }
        Against::Release(r) => {
            let m = crate::release::place::read_manifest(cfg, r)?;
            against_release(cfg, infra, &env_dir, &opts.env, &m, &ours, &live)?
        }
    };
    Ok(Report { checks })
}

/// The env's Lambda functions from its state; `init` first when `may_init` and it has none (the
/// other env of a comparison, in a checkout that never deployed it).
fn deployed(
    cfg: &Config,
    infra: &Path,
    env: &str,
    opts: &Options,
    may_init: bool,
) -> Result<(Vec<Function>, std::path::PathBuf)> {
    let env_dir = terraform::env_dir(infra, env)?;
    let cwd = std::env::current_dir()?;
    let vars = VarFiles::resolve(&env_dir, env, &cfg.terraform.var_files, &[], &cwd)?;
    let bin = terraform::configured_bin(opts.tf_bin.as_deref(), cfg.terraform.bin.as_deref());
    let tf = Terraform::locate(&bin, &env_dir, &opts.aws, &vars)?;
    if !terraform::data_dir(&env_dir).is_dir() {
        if !may_init {
            bail!(
                "envs/{env} is not initialised: deploy it first with `cargo xtask deploy --env {env}`"
            );
        }
        ui::step(&format!("init envs/{env} to read its state"));
        let out = tf.init().output()?;
        if !out.success() {
            bail!(
                "cannot init envs/{env} to read its state: {}\ninit it (`cargo xtask plan --env \
                 {env}`), or compare with --release instead",
                tf.scrub(&out.tail(10))
            );
        }
    }
    let d = Deployed::from_state(&tf.show_state_json()?)
        .with_context(|| format!("nothing to compare in envs/{env}"))?;
    Ok((d.functions, env_dir))
}

/// Each function's live CodeSha256, or why it could not be read.
type Live = Vec<Result<String, String>>;

/// Each function's live CodeSha256 (`lambda get-function`).
fn code_sha256(aws: &Client, functions: &[Function]) -> Live {
    crate::pool::parallel(functions, aws.parallelism(), |f| {
        match aws.call(Op::Function(&f.name), region_of(&f.arn).as_deref()) {
            Ok(v) => v["Configuration"]["CodeSha256"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| "AWS gave no CodeSha256 (an image function?)".to_string()),
            Err(e) => Err(e.message),
        }
    })
}

fn show(live: &Result<String, String>) -> String {
    match live {
        Ok(sha) => sha.clone(),
        Err(why) => format!("unreadable ({why})"),
    }
}

/// Same address, same live code.
fn by_address(
    env: &str,
    ours: &[Function],
    live: &Live,
    other: &str,
    theirs: &[Function],
    their_live: &Live,
) -> Vec<Check> {
    let theirs: BTreeMap<&str, (&Function, &Result<String, String>)> = theirs
        .iter()
        .zip(their_live)
        .map(|(f, l)| (f.address.as_str(), (f, l)))
        .collect();
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for (f, l) in ours.iter().zip(live) {
        let subject = function_subject(f);
        let Some((g, m)) = theirs.get(f.address.as_str()) else {
            out.push(Check::fail(
                "same-as",
                &f.module,
                subject,
                format!("{} is in {env} but not in {other}", f.address),
                format!("deploy the same configuration to both envs ({other} lacks it)"),
            ));
            continue;
        };
        seen.push(f.address.as_str());
        let side_by_side = format!(
            "{env} `{}` {} | {other} `{}` {}",
            f.name,
            show(l),
            g.name,
            show(m)
        );
        out.push(match (l, m) {
            (Ok(a), Ok(b)) if a == b => Check::pass("same-as", &f.module, subject, side_by_side),
            _ => Check::fail(
                "same-as",
                &f.module,
                subject,
                format!("different code: {side_by_side}"),
                format!(
                    "release what {other} runs and deploy it: `cargo xtask release --env {other}`, \
                     then `cargo xtask deploy --env {env} --release <name>`"
                ),
            ),
        });
    }
    for (address, (g, _)) in theirs {
        if !seen.contains(&address) {
            out.push(Check::fail(
                "same-as",
                &g.module,
                function_subject(g),
                format!("{address} is in {other} but not in {env}"),
                format!("deploy the same configuration to both envs ({env} lacks it)"),
            ));
        }
    }
    out
}

/// Each function's live code = the release's zip for the artifact its `filename` names.
fn against_release(
    cfg: &Config,
    infra: &Path,
    env_dir: &Path,
    env: &str,
    m: &Manifest,
    ours: &[Function],
    live: &Live,
) -> Result<Vec<Check>> {
    let found = discover::discover(cfg, Some(infra), &[])?;
    let mut out = Vec::new();
    for (f, l) in ours.iter().zip(live) {
        let subject = function_subject(f);
        let Some(filename) = &f.code.filename else {
            out.push(Check::skip(
                "release",
                &f.module,
                subject,
                "its code does not come from a local zip".into(),
            ));
            continue;
        };
        let path = hcl::normalize(&env_dir.join(filename));
        let entry = found
            .artifacts
            .iter()
            .find(|a| hcl::normalize(&a.out) == path)
            .and_then(|a| m.entry(&a.module, &a.name));
        let Some(e) = entry else {
            out.push(Check::fail(
                "release",
                &f.module,
                subject,
                format!("release {} has no zip for {filename}", m.name),
                "deploy a release made from this stack".into(),
            ));
            continue;
        };
        let msg = format!(
            "{env} `{}` {} | release {} {}/{} {}",
            f.name,
            show(l),
            m.name,
            e.module,
            e.name,
            e.sha256_base64
        );
        out.push(match l {
            Ok(sha) if *sha == e.sha256_base64 => Check::pass("release", &f.module, subject, msg),
            _ => Check::fail(
                "release",
                &f.module,
                subject,
                format!("different code: {msg}"),
                format!(
                    "`cargo xtask deploy --env {env} --release {}` to run the release",
                    m.name
                ),
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(address: &str, name: &str) -> Function {
        Function {
            address: address.into(),
            module: "module.module_access".into(),
            name: name.into(),
            arn: String::new(),
            refs: Vec::new(),
            runtime: None,
            image: false,
            layers: Vec::new(),
            architectures: Vec::new(),
            code: Default::default(),
        }
    }

    #[test]
    fn functions_are_paired_by_address_and_any_difference_names_the_function() {
        let a = "module.module_access.aws_lambda_function.orgs";
        let b = "module.module_access.aws_lambda_function.members";
        let only = "aws_lambda_function.only_dev";
        let prd = [function(a, "x-prd-orgs"), function(b, "x-prd-members")];
        let dev = [
            function(a, "x-dev-orgs"),
            function(b, "x-dev-members"),
            function(only, "x-dev-only"),
        ];
        let checks = by_address(
            "prd",
            &prd,
            &vec![Ok("AAA=".into()), Ok("BBB=".into())],
            "dev",
            &dev,
            &vec![Ok("AAA=".into()), Ok("CCC=".into()), Ok("DDD=".into())],
        );
        let status = |s: &str| checks.iter().find(|c| c.subject == s).unwrap();
        assert_eq!(status("function x-prd-orgs").status, Status::Pass);
        assert_eq!(
            status("function x-prd-orgs").message,
            "prd `x-prd-orgs` AAA= | dev `x-dev-orgs` AAA="
        );
        let members = status("function x-prd-members");
        assert_eq!(members.status, Status::Fail);
        assert!(
            members
                .message
                .contains("prd `x-prd-members` BBB= | dev `x-dev-members` CCC="),
            "{}",
            members.message
        );
        let only = status("function x-dev-only");
        assert_eq!(only.status, Status::Fail);
        assert!(only.message.contains("is in dev but not in prd"));
        assert_eq!(checks.len(), 3);
    }

    #[test]
    fn an_unreadable_function_is_a_failure_not_a_match() {
        let a = "aws_lambda_function.f";
        let checks = by_address(
            "prd",
            &[function(a, "p")],
            &vec![Err("AccessDenied".into())],
            "dev",
            &[function(a, "d")],
            &vec![Err("AccessDenied".into())],
        );
        assert_eq!(checks[0].status, Status::Fail);
        assert!(checks[0].message.contains("unreadable (AccessDenied)"));
    }
}
