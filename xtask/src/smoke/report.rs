//! What `smoke` prints: a table and compiler-style details, `--json`, and the check before a
//! plan.

use std::path::Path;

use anyhow::Result;

use super::{run, status_word, Options, Record, Report, Status};
use crate::config::Config;
use crate::ui;

/// The report: a table on stdout, then each failure and skip with where and the fix; or
/// `{"functions": [...]}` with `--json`. A one-line summary goes to stderr.
pub fn print(report: &Report, json: bool) -> Result<()> {
    summary(report);
    if json {
        return ui::out(&format!("{}\n", serde_json::to_string_pretty(report)?));
    }
    let rows: Vec<Vec<String>> = report
        .functions
        .iter()
        .map(|r| {
            vec![
                r.module.clone(),
                r.name.clone(),
                format!(
                    "{}{}",
                    status_word(r.status),
                    if r.cached { " (cached)" } else { "" }
                ),
            ]
        })
        .collect();
    crate::report::table(&["module", "function", "status"], &rows)?;
    let details = details(report);
    if details.is_empty() {
        return Ok(());
    }
    ui::out(&format!("\n{details}"))
}

fn summary(report: &Report) {
    ui::step(&format!(
        "smoke: {} functions, {} passed, {} failed, {} skipped ({} cached)",
        report.functions.len(),
        report.count(Status::Passed),
        report.count(Status::Failed),
        report.count(Status::Skipped),
        report.functions.iter().filter(|r| r.cached).count()
    ));
}

/// Each function that did not pass, compiler-style.
fn details(report: &Report) -> String {
    let mut out = String::new();
    for r in report
        .functions
        .iter()
        .filter(|r| r.status != Status::Passed)
    {
        out += &format!(
            "{} {}/{}: {}\n",
            status_word(r.status),
            r.module,
            r.name,
            r.error.as_deref().unwrap_or_default()
        );
        if let Some(file) = &r.file {
            match r.line {
                Some(line) => out += &format!("  --> {file}:{line}\n"),
                None => out += &format!("  --> {file}\n"),
            }
        }
        if let Some(fix) = &r.fix {
            out += &format!("  = fix: {fix}\n");
        }
    }
    out
}

/// Before `plan` and `deploy`: a failed import stops them, as a check error does.
pub fn preflight(cfg: &Config, infra: &Path, opts: &Options) -> Result<()> {
    let report = run(cfg, Some(infra), opts)?;
    summary(&report);
    let failed: Vec<&Record> = report
        .functions
        .iter()
        .filter(|r| r.status == Status::Failed)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    ui::eprint_line(
        details(&Report {
            functions: failed.into_iter().cloned().collect(),
            interpreter: true,
        })
        .trim_end(),
    );
    anyhow::bail!(
        "smoke found handlers that fail to import (listed above), so terraform was not run: fix \
         them, or pass --no-smoke"
    )
}

/// `smoke` that imported nothing although it had an interpreter (every function skipped: a
/// runtime Terraform declares that the build does not target, zips that failed to build) has
/// checked nothing, which is not a pass: an error unless `allow_skip`. Without an interpreter
/// `--require` decides, as before.
pub fn require_imports(report: &Report, allow_skip: bool) -> Result<()> {
    let skipped: Vec<&Record> = report
        .functions
        .iter()
        .filter(|r| r.status == Status::Skipped)
        .collect();
    let imported_none = !skipped.is_empty() && skipped.len() == report.functions.len();
    if allow_skip || !report.interpreter || !imported_none {
        return Ok(());
    }
    let first = skipped[0];
    anyhow::bail!(
        "smoke imported nothing: all {} functions were skipped, e.g. {}/{}: {}\n\
         fix: make what the skips say importable (listed above), or pass --allow-skip to accept \
         a run that checks nothing",
        skipped.len(),
        first.module,
        first.name,
        first.error.as_deref().unwrap_or("skipped")
    )
}
