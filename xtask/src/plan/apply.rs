//! Applying a checked saved plan: the confirmation of deletes and replaces, the apply itself,
//! the outputs after it, and the verify a deploy ends with.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use console::style;
use serde_json::Value;

use super::manifest::Manifest;
use super::{locate, Options, Summary, Target};
use crate::config::Config;
use crate::proc::Cancelled;
use crate::terraform::{Terraform, VarFiles};
use crate::ui::{self, Activity};
use crate::verify;

/// Deletes and replaces go ahead with `--auto-approve`, or when typed `yes` on a terminal.
fn confirm(summary: &Summary, auto_approve: bool) -> Result<()> {
    if summary.destructive.is_empty() || auto_approve {
        return Ok(());
    }
    let list: Vec<String> = summary
        .destructive
        .iter()
        .map(|d| format!("{} {}", d.action, d.address))
        .collect();
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!(
            "the plan deletes or replaces {} resources ({}); not applied: with no terminal to \
             confirm on, pass --auto-approve once the plan is reviewed",
            list.len(),
            list.join(", ")
        );
    }
    ui::eprint_line(
        &style("The plan deletes or replaces:")
            .red()
            .bold()
            .to_string(),
    );
    for l in &list {
        ui::eprint_line(&format!("  {}", style(l).red()));
    }
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "Apply it? Only `yes` is accepted: ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    if answer.trim() != "yes" {
        ui::warn("not applied");
        return Err(Cancelled.into());
    }
    Ok(())
}

/// Applies the checked saved plan, then removes it (a saved plan applies once). `tf` is found
/// here unless the caller has one.
pub(super) fn apply_saved(
    t: &Target,
    opts: &Options,
    manifest: &Manifest,
    tf: Option<Terraform>,
) -> Result<Summary> {
    let mut summary = manifest.summary.clone();
    if !summary.changes {
        ui::step(&format!(
            "apply {}: the saved plan has no changes; nothing to apply",
            t.env
        ));
        t.remove_plan()?;
        return Ok(summary);
    }
    confirm(&summary, opts.auto_approve)?;
    // What terraform loads itself is masked as in the plan.
    let vars = VarFiles {
        passed: manifest.var_files.clone(),
        auto: VarFiles::auto_loaded(&t.dir)?,
    };
    let tf = match tf {
        Some(tf) => tf,
        None => locate(t, opts, &vars)?,
    };
    ui::step(&format!("apply {}: {}", t.env, t.show(&t.plan_file())));
    let started = Instant::now();
    let activity = Activity::new("apply", Some(summary.steps()));
    match tf.stream_apply(&tf.apply(&t.plan_file(), &opts.lock_timeout), &activity) {
        Ok(_) => {}
        Err(e) if e.is::<Cancelled>() => {
            ui::warn(&format!(
                "apply cancelled: {} stopped; what it finished is in the state. Run {} to see what remains",
                tf.name,
                t.plan_command()
            ));
            return Err(e);
        }
        Err(e) => return Err(e),
    }
    t.remove_plan()?;
    ui::step(&format!(
        "applied in {}s: {} created, {} updated, {} replaced, {} deleted",
        started.elapsed().as_secs(),
        summary.create,
        summary.update,
        summary.replace,
        summary.delete
    ));
    summary.applied = true;
    print_outputs(&tf, opts.json)?;
    Ok(summary)
}

/// The root outputs after an apply, sensitive ones hidden, when bars hid terraform's own
/// listing of them (plain output already shows terraform's).
fn print_outputs(tf: &Terraform, json: bool) -> Result<()> {
    if json || !ui::interactive() {
        return Ok(());
    }
    for line in output_lines(tf, &tf.output_json()?) {
        ui::eprint_line(&format!("  {line}"));
    }
    Ok(())
}

/// `name = value` per output, scrubbed: a non-sensitive output may still be computed from a
/// secret (a connection string holding a password).
pub(super) fn output_lines(tf: &Terraform, outputs: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for (name, o) in outputs.as_object().into_iter().flatten() {
        let value = match &o["value"] {
            _ if o["sensitive"] == true => "(sensitive)".to_string(),
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        lines.push(format!("{name} = {}", tf.scrub(&value)));
    }
    lines
}

/// After a deploy: the deployed stack is what was built, live. With --json only the deploy's
/// document is printed (see `deploy`); a failed check is the caller's to report.
pub(super) fn post_deploy_verify(
    cfg: &Config,
    infra: &Path,
    opts: &Options,
) -> Result<verify::Report> {
    let vopts = verify::Options {
        env: opts.env.clone(),
        offline: false,
        http: false,
        url: None,
        tf_bin: opts.tf_bin.clone(),
        aws: opts.aws.clone(),
        aws_timeout: verify::AWS_TIMEOUT_SECS,
    };
    let report = verify::run(cfg, Some(infra), &vopts)?;
    if !opts.json {
        // Apart from the plan summary above it: two reports, not one table.
        ui::out("\n")?;
        crate::report::verify(&report, &format!("envs/{}", opts.env), false)?;
    }
    Ok(report)
}

/// A deploy whose verify failed fails, naming each failed check.
pub(super) fn verified(report: &verify::Report, env: &str) -> Result<()> {
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.status == verify::Status::Fail)
        .map(|c| format!("{} {}: {}", c.id, c.subject, c.message))
        .collect();
    if !failed.is_empty() {
        bail!(
            "applied, but verify failed:\n  {}\nrun `cargo xtask verify --env {}` for the fixes",
            failed.join("\n  "),
            env
        );
    }
    Ok(())
}
