//! A fresh env in one deploy. What `terraform plan` cannot do before the first apply (check's
//! F19: a `count` that depends on a resource's attribute; F20: a data source that looks up
//! what the env creates) decides the stages: first `-target=` the resources they point at
//! that the state does not hold yet (terraform adds what those need), then the whole env.
//! `plan` plans that first stage and says a second follows; `deploy` applies both. Off with
//! `--no-bootstrap` or `[terraform] bootstrap = false`; `[terraform] stages` wins when set.

use std::collections::BTreeSet;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{Options, Target};
use crate::stack::graph::Tree;
use crate::terraform::{self, stages, Terraform};
use crate::ui;

/// A stage the xtask derived, recorded in the plan's summary (and so its manifest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub number: usize,
    pub of: usize,
    /// `bootstrap`.
    pub name: String,
    pub targets: Vec<String>,
}

impl Stage {
    /// `stage 1/2: bootstrap (module.x.aws_lambda_function.authorizer, …)`.
    pub fn banner(&self) -> String {
        format!(
            "stage {}/{}: {} ({})",
            self.number,
            self.of,
            self.name,
            self.targets.join(", ")
        )
    }
}

/// Bootstrapping is on: no `--no-bootstrap`, no `[terraform] bootstrap = false`.
pub(super) fn on(t: &Target, opts: &Options) -> bool {
    opts.bootstrap && t.cfg.terraform.bootstrap != Some(false)
}

/// Whether this run may derive stages: bootstrapping on, no `[terraform] stages` for the env
/// and no terraform arguments of the user's own.
pub(super) fn derives(t: &Target, opts: &Options) -> bool {
    on(t, opts) && opts.plan_args.is_empty() && t.cfg.terraform.stages(&t.env).is_empty()
}

/// Every address of `[terraform] stages` and of `-target=` arguments names something of the
/// env's configuration, checked before anything is built or run.
pub(super) fn check_addresses(t: &Target, opts: &Options) -> Result<()> {
    let stages = t.cfg.terraform.stages(&t.env);
    if stages.is_empty() && !opts.plan_args.iter().any(|a| a.contains("target=")) {
        return Ok(());
    }
    stages::check_addresses(&Tree::load(&t.dir), &stages, &opts.plan_args)
}

/// The bootstrap stage the env needs now: the resources F19/F20 point at that the state does
/// not hold. `None` when there are none (an env applied before, or nothing to bootstrap).
pub(super) fn derive(t: &Target, tf: &Terraform) -> Result<Option<Stage>> {
    let tree = Tree::load(&t.dir);
    let wanted: BTreeSet<String> = tree
        .unknown_counts()
        .into_iter()
        .map(|u| u.why.resource)
        .chain(tree.own_lookups().into_iter().map(|l| l.resource))
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let state = stages::state_addresses(tf)?;
    let targets: Vec<String> = wanted.into_iter().filter(|a| !state.contains(a)).collect();
    if targets.is_empty() {
        return Ok(None);
    }
    let stage = Stage {
        number: 1,
        of: 2,
        name: "bootstrap".into(),
        targets,
    };
    ui::step(&stage.banner());
    Ok(Some(stage))
}

/// The `-target=` arguments of a stage.
pub(super) fn target_args(targets: &[String]) -> Vec<String> {
    targets.iter().map(|a| format!("-target={a}")).collect()
}

/// A plan that failed on what a bootstrap fixes says so.
pub(super) fn hint(t: &Target, e: anyhow::Error) -> anyhow::Error {
    let mut failed = match e.downcast::<terraform::Failed>() {
        Ok(f) => f,
        Err(e) => return e,
    };
    let fresh = [
        "Invalid count argument",
        "Invalid for_each argument",
        "empty result",
    ];
    if fresh.iter().any(|m| failed.message.contains(m)) {
        let deploy = if t.env == "dev" {
            "cargo xtask deploy".to_string()
        } else {
            format!("cargo xtask deploy --env {}", t.env)
        };
        failed.message.push_str(&format!(
            "\nhint: a value this plan needs comes from a resource not applied yet; `cargo xtask \
             check` names it (F19-count-unknown, F20-data-reads-own) and `{deploy}` applies it \
             first unless bootstrapping is off (--no-bootstrap, [terraform] bootstrap = false)"
        ));
    }
    failed.into()
}
