//! Turning results into what the user reads: aligned tables on stdout, or one JSON document.
//! Every write goes through `ui::out` / `ui::eprint_line`, so a closed pipe is never a panic.

use std::path::Path;

use anyhow::Result;
use console::style;

use crate::build::{self, Report, Status};
use crate::check::{Finding, Severity};
use crate::ui;

/// Prints rows as left-aligned columns separated by two spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    ui::out(&table_text(header, rows))
}

/// `table`, with the last column (a hash) cut to what `width` leaves it, ending in `…`, but
/// never below `MIN_LAST` characters: lines that do not fit even then are left to wrap.
fn table_fit(header: &[&str], rows: &[Vec<String>], width: Option<usize>) -> Result<()> {
    const MIN_LAST: usize = 8;
    let Some(width) = width else {
        return table(header, rows);
    };
    let n = header.len();
    let mut used = 0;
    for i in 0..n - 1 {
        let w = rows
            .iter()
            .map(|r| console::measure_text_width(&r[i]))
            .chain([header[i].len()])
            .max()
            .unwrap_or(0);
        used += w + 2;
    }
    let room = width.saturating_sub(used).max(MIN_LAST);
    let cut = |cell: &str| {
        if console::measure_text_width(cell) <= room {
            cell.to_string()
        } else {
            console::truncate_str(cell, room, "…").into_owned()
        }
    };
    let header: Vec<String> = header.iter().map(|h| cut(h)).collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r[n - 1] = cut(&r[n - 1]);
            r
        })
        .collect();
    table(&header, &rows)
}

fn table_text(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(console::measure_text_width(cell));
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&console::pad_str(cell, *w, console::Alignment::Left, None));
                s.push_str("  ");
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut text = line(header.iter().map(|h| style(h).bold().to_string()).collect());
    for row in rows {
        text += &line(row.clone());
    }
    text
}

pub fn build(report: &Report, stack: &Path, json: bool) -> Result<()> {
    if json {
        ui::out(&format!("{}\n", serde_json::to_string_pretty(report)?))?;
        build_errors(report);
        return Ok(());
    }
    let size = |b: Option<u64>| b.map(build::human).unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = report
        .artifacts
        .iter()
        .map(|r| {
            let word = build::status_word(r.status);
            let status = match r.status {
                Status::Built => style(word).green().to_string(),
                Status::Cached => style(word).dim().to_string(),
                Status::Remote => style(word).cyan().to_string(),
                Status::Failed => style(word).red().bold().to_string(),
            };
            vec![
                r.module.clone(),
                r.name.clone(),
                match r.kind {
                    crate::stack::discover::Kind::Function => "function".into(),
                    crate::stack::discover::Kind::Layer => "layer".into(),
                },
                status,
                size(r.zip_bytes),
                size(r.unzipped_bytes),
                r.sha256_base64.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table_fit(
        &[
            "module",
            "artifact",
            "kind",
            "status",
            "zipped",
            "unzipped",
            "sha256 (base64)",
        ],
        &rows,
        ui::width(),
    )?;
    let count = |s: Status| report.artifacts.iter().filter(|r| r.status == s).count();
    build_errors(report);
    if let Some(line) = report.runtime_provided.line() {
        ui::out(&format!("\n{line}\n"))?;
    }
    ui::out(&format!(
        "\n{} built, {} cached, {}{} failed ({}; installer {})\n",
        count(Status::Built),
        count(Status::Cached),
        match count(Status::Remote) {
            0 => String::new(),
            n => format!("{n} remote, "),
        },
        count(Status::Failed),
        stack.display(),
        report.installer.unwrap_or("none")
    ))
}

/// Each failed artifact's error on stderr: the one place a build error is printed.
pub fn build_errors(report: &Report) {
    for r in report
        .artifacts
        .iter()
        .filter(|r| r.status == Status::Failed)
    {
        ui::eprint_line("");
        ui::error(&format!(
            "{}/{}: {}",
            r.module,
            r.name,
            r.error.as_deref().unwrap_or("failed")
        ));
    }
}

/// `lock`: each artifact's lock and what moved in it; errors on stderr.
/// What `clean` removed: one line each, or `{"removed": [...]}`; saying so when there was
/// nothing, so an empty output never reads as a hung or failed run.
pub fn clean(removed: &[std::path::PathBuf], json: bool) -> Result<()> {
    if json {
        let paths: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
        let doc = serde_json::json!({ "removed": paths });
        return ui::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    }
    if removed.is_empty() {
        return ui::out("nothing to remove\n");
    }
    let text: String = removed
        .iter()
        .map(|p| format!("removed {}\n", p.display()))
        .collect();
    ui::out(&text)
}

pub fn lock(outcomes: &[crate::install::lock::Outcome], stack: &Path, json: bool) -> Result<()> {
    use crate::install::lock::Status as S;
    if json {
        let doc = serde_json::json!({ "locks": outcomes });
        ui::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    }
    let base = stack.parent().unwrap_or(stack);
    let mut text = String::new();
    for o in outcomes {
        let word = match o.status {
            S::Created => "created",
            S::Updated => "updated",
            S::Unchanged => "unchanged",
            S::Empty => "nothing to lock (requirements.txt lists no package)",
            S::Failed => "failed",
        };
        let path = o.lock.strip_prefix(base).unwrap_or(&o.lock);
        match o.status {
            S::Empty => text += &format!("{}: {word}\n", o.artifact),
            _ => text += &format!("{}: {word} ({})\n", o.artifact, path.display()),
        }
        for c in &o.changes {
            text += &format!("  {c}\n");
        }
    }
    if !json {
        ui::out(&text)?;
    }
    for o in outcomes {
        if let Some(e) = &o.error {
            ui::error(&format!("{}: {e}", o.artifact));
        }
    }
    Ok(())
}

/// `size`: one table of artifacts against Lambda's budget, then what each holds, largest first.
pub fn size(rows: &[build::size::Row], top: usize, json: bool) -> Result<()> {
    if json {
        let doc = serde_json::json!({ "artifacts": rows });
        return ui::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    }
    let b = |v: Option<u64>| v.map(build::human).unwrap_or_else(|| "-".into());
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let budget = r.total_unzipped_bytes.map_or("-".into(), |t| {
                format!("{} ({}%)", build::human(t), t * 100 / r.budget_bytes)
            });
            vec![
                format!("{}/{}", r.module, r.name),
                build::status_word(r.status).to_string(),
                b(r.zip_bytes),
                b(r.unzipped_bytes),
                budget,
            ]
        })
        .collect();
    table(
        &[
            "artifact",
            "status",
            "zipped",
            "unzipped",
            "with layers (of 250 MiB)",
        ],
        &table_rows,
    )?;
    let mut text = String::new();
    for r in rows {
        text += &format!("\n{}/{}\n", style(&r.module).bold(), style(&r.name).bold());
        for l in &r.layers {
            text += &format!(
                "  layer {:<40} {:>10}\n",
                l.id,
                build::human(l.unzipped_bytes)
            );
        }
        let mut parts: Vec<(String, u64)> = r
            .dists
            .iter()
            .map(|d| (format!("{} {}", d.name, d.version), d.bytes))
            .collect();
        parts.extend(r.code_bytes.map(|c| ("(own code)".to_string(), c)));
        parts.sort_by_key(|p| std::cmp::Reverse(p.1));
        for (name, bytes) in parts.iter().take(top) {
            text += &format!("  {name:<46} {:>10}\n", build::human(*bytes));
        }
        if parts.len() > top {
            text += &format!("  … {} more (--top N)\n", parts.len() - top);
        }
        // One line per provider: what it spares this zip.
        let mut by: std::collections::BTreeMap<&str, (u64, Vec<String>)> = Default::default();
        for d in &r.dropped {
            let e = by.entry(&d.by).or_default();
            e.0 += d.bytes;
            e.1.push(format!("{} {}", d.name, d.version));
        }
        for (who, (bytes, names)) in by {
            let who = match who {
                "runtime" => "the Lambda runtime".to_string(),
                layer => format!("layer {layer}"),
            };
            text += &format!(
                "  left out, {} provided by {who}: {}\n",
                build::human(bytes),
                names.join(", ")
            );
        }
        if let Some(e) = &r.error {
            text += &format!("  {}: {e}\n", style("failed").red().bold());
        }
    }
    ui::out(&text)
}

/// Findings as a compiler prints diagnostics, or `{"findings": [...]}` with `--json`.
pub fn check(findings: &[Finding], json: bool) -> Result<()> {
    if json {
        let doc = serde_json::json!({ "findings": findings });
        ui::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))
    } else {
        ui::out(&check_human(findings))
    }
}

/// `check --fix`: each edit as `file:line: before → after`, then the findings that remain;
/// with `--json`, `{"edits": [...], "findings": [...]}`.
pub fn check_fix(
    edits: &[crate::check::fix::Applied],
    findings: &[Finding],
    json: bool,
) -> Result<()> {
    if json {
        let doc = serde_json::json!({ "edits": edits, "findings": findings });
        return ui::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    }
    let mut out = String::new();
    for e in edits {
        let change = match &e.before {
            Some(before) => format!("{before} → {}", e.after),
            None => format!("+ {}", e.after),
        };
        let state = match (&e.problem, e.written) {
            (Some(p), _) => format!(" (not written: {p})"),
            (None, false) => " (dry run)".to_string(),
            (None, true) => String::new(),
        };
        out += &format!("{}:{}: {change}{state}\n", e.file, e.line);
    }
    if !edits.is_empty() {
        out += "\n";
    }
    out += &check_human(findings);
    ui::out(&out)
}

/// Findings as a compiler prints them, then the waived ones (one line each, with the reason),
/// with a closing count.
pub fn check_human(findings: &[Finding]) -> String {
    let mut out = String::new();
    let at = |f: &Finding| {
        if f.line == 0 {
            f.file.clone()
        } else {
            format!("{}:{}", f.file, f.line)
        }
    };
    for f in findings.iter().filter(|f| !f.waived) {
        let head = match f.severity {
            Severity::Error => style(format!("error[{}]", f.code)).red().bold(),
            Severity::Warning => style(format!("warning[{}]", f.code)).yellow().bold(),
        };
        out += &format!("{head}: {}\n", style(&f.message).bold());
        out += &format!("  {} {}\n", style("-->").blue().bold(), at(f));
        out += &format!("  {} fix: {}\n\n", style("=").blue().bold(), f.fix);
    }
    let waived: Vec<&Finding> = findings.iter().filter(|f| f.waived).collect();
    if !waived.is_empty() {
        out += &format!("{}\n", style("waived:").dim().bold());
        for f in &waived {
            let reason = f.reason.as_deref().unwrap_or_default();
            out += &format!("  [{}] {}: {reason}\n", f.code, at(f));
        }
        out += "\n";
    }
    let count = |s: Severity| {
        findings
            .iter()
            .filter(|f| f.severity == s && !f.waived)
            .count()
    };
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let waived = if waived.is_empty() {
        String::new()
    } else {
        format!(", {} waived", waived.len())
    };
    out += &format!(
        "check: {}, {}{waived}\n",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning")
    );
    out
}

/// `verify`: one table per Terraform module, then each failure with its fix.
pub fn verify(report: &crate::verify::Report, env: &str, json: bool) -> Result<()> {
    use crate::verify::Status as S;
    if json {
        return ui::out(&format!("{}\n", serde_json::to_string_pretty(report)?));
    }
    let mut groups: std::collections::BTreeMap<&str, Vec<Vec<String>>> = Default::default();
    for c in &report.checks {
        let status = match c.status {
            S::Pass => style("pass").green().to_string(),
            S::Fail => style("FAIL").red().bold().to_string(),
            S::Skip => style("skip").dim().to_string(),
        };
        groups.entry(&c.module).or_default().push(vec![
            c.id.to_string(),
            status,
            c.subject.clone(),
            c.message.clone(),
        ]);
    }
    for (i, (module, rows)) in groups.iter().enumerate() {
        if i > 0 {
            ui::out("\n")?;
        }
        ui::out(&format!("{}\n", style(module).bold().underlined()))?;
        table(&["check", "status", "subject", "detail"], rows)?;
    }
    for c in report.checks.iter().filter(|c| c.status == S::Fail) {
        ui::eprint_line("");
        ui::error(&format!("{} {}: {}", c.id, c.subject, c.message));
        if let Some(fix) = &c.fix {
            ui::eprint_line(&format!("  fix: {fix}"));
        }
    }
    ui::out(&format!(
        "\n{} passed, {} failed, {} skipped ({env})\n",
        report.count(S::Pass),
        report.count(S::Fail),
        report.count(S::Skip)
    ))
}
