//! What a team accepts: `[[check.allow]]` entries in xtask.toml and inline
//! `xtask: allow CODE -- reason` comments (in `.tf` and `.py` files, on the finding's line or the
//! line above) waive findings; `[check] severity` re-grades a code. A waived finding is still
//! reported, with its reason, but never fails the run. Waivers are checked in turn: one without
//! a reason is an error, one that matches nothing is a warning (stale waivers hide new problems).

use std::path::{Path, PathBuf};

use super::{Checker, Env, Finding};
use crate::config::FILE_NAME;
use crate::stack::discover::{self, Kind};

/// Every code and its default severity, read from the table in `check/mod.rs`'s docs, so the
/// table a reader sees is the one `check` knows.
pub(super) fn code_table() -> Vec<(&'static str, &'static str)> {
    include_str!("mod.rs")
        .lines()
        .filter_map(|l| {
            let (code, rest) = l.strip_prefix("//! | `")?.split_once('`')?;
            Some((code, rest.split('|').nth(1)?.trim()))
        })
        .collect()
}

/// An inline `xtask: allow` comment.
struct Inline {
    file: PathBuf,
    line: usize,
    code: String,
    reason: Option<String>,
}

impl Checker<'_> {
    pub(super) fn waivers(&mut self, found: &discover::Stack, env: Option<&Env>) {
        let table = code_table();
        let known = |code: &str| table.iter().any(|(c, _)| *c == code);
        let toml = self.cfg.stack.join(FILE_NAME);
        let mut findings = std::mem::take(&mut self.findings);
        for code in self.cfg.check.severity.keys() {
            if !known(code) {
                self.error(
                    "XT-unknown-code",
                    &toml,
                    0,
                    format!("[check] severity names {code:?}, which is not a check code"),
                    "use a code as check prints it (the README lists them all)".into(),
                );
            }
        }
        let cfg = self.cfg;
        for w in &cfg.check.allow {
            let label = match &w.path {
                Some(p) => format!("[[check.allow]] code = {:?}, path = {p:?}", w.code),
                None => format!("[[check.allow]] code = {:?}", w.code),
            };
            if !known(&w.code) {
                self.unknown(&toml, 0, &label, &w.code);
                continue;
            }
            let Some(reason) = w.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) else {
                self.no_reason(&toml, 0, &label, "add reason = \"…\" to the entry");
                continue;
            };
            let opts = glob::MatchOptions {
                require_literal_separator: true,
                ..Default::default()
            };
            let matched = waive(&mut findings, reason, |f| {
                f.code == w.code
                    && w.pattern
                        .as_ref()
                        .is_none_or(|p| p.matches_with(&f.file, opts))
            });
            if matched == 0 {
                self.unused(&toml, 0, &label);
            }
        }
        for c in inline_waivers(found, env) {
            let label = format!("xtask: allow {}", c.code);
            if !known(&c.code) {
                self.unknown(&c.file, c.line, &label, &c.code);
                continue;
            }
            let Some(reason) = &c.reason else {
                self.no_reason(&c.file, c.line, &label, "write xtask: allow CODE -- reason");
                continue;
            };
            let file = self.rel(&c.file);
            let matched = waive(&mut findings, reason, |f| {
                f.code == c.code && f.file == file && (f.line == c.line || f.line == c.line + 1)
            });
            if matched == 0 {
                self.unused(&c.file, c.line, &label);
            }
        }
        findings.append(&mut self.findings);
        // Last, so the waivers' own findings can be re-graded too.
        for f in &mut findings {
            if let Some(severity) = cfg.check.severity.get(f.code) {
                f.severity = *severity;
            }
        }
        self.findings = findings;
    }

    fn no_reason(&mut self, file: &Path, line: usize, label: &str, fix: &str) {
        self.error(
            "XT-waiver-no-reason",
            file,
            line,
            format!("{label} gives no reason, so it waives nothing"),
            format!("{fix}: why the team accepts this finding"),
        );
    }

    fn unknown(&mut self, file: &Path, line: usize, label: &str, code: &str) {
        self.error(
            "XT-unknown-code",
            file,
            line,
            format!("{label}: {code:?} is not a check code, so it waives nothing"),
            "use a code as check prints it (the README lists them all)".into(),
        );
    }

    fn unused(&mut self, file: &Path, line: usize, label: &str) {
        let place = if line == 0 {
            ""
        } else {
            " on this line or the next"
        };
        self.warn(
            "XT-unused-waiver",
            file,
            line,
            format!("{label} matches no finding{place}"),
            "remove the waiver: what it accepted is gone (or fix its code or path)".into(),
        );
    }
}

/// Marks the findings `which` selects as waived; returns how many it selected.
fn waive(findings: &mut [Finding], reason: &str, which: impl Fn(&Finding) -> bool) -> usize {
    let mut n = 0;
    for f in findings.iter_mut().filter(|f| which(f)) {
        n += 1;
        if !f.waived {
            f.waived = true;
            f.reason = Some(reason.to_string());
        }
    }
    n
}

/// The `xtask: allow` comments in the files check reads: each module's `.tf` and `.py` files,
/// the env's `.tf` files and the infra Lambdas' code.
fn inline_waivers(found: &discover::Stack, env: Option<&Env>) -> Vec<Inline> {
    let mut files = Vec::new();
    for m in &found.modules {
        walk(&m.dir, &mut files);
    }
    for a in found.artifacts.iter().filter(|a| a.module == "infra") {
        if a.kind == Kind::Function {
            walk(&a.src, &mut files);
        }
    }
    if let Some(env) = env {
        files.extend(env.files.iter().map(|f| f.path.clone()));
    }
    files.sort();
    files.dedup();
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if let Some((code, reason)) = parse_inline(line) {
                out.push(Inline {
                    file: file.clone(),
                    line: i + 1,
                    code,
                    reason,
                });
            }
        }
    }
    out
}

/// `# xtask: allow CODE -- reason` (or after `//`, `/*`): the code, and the reason if any.
fn parse_inline(line: &str) -> Option<(String, Option<String>)> {
    const MARK: &str = "xtask: allow ";
    let at = line.find(MARK)?;
    let before = &line[..at];
    if !(before.contains('#') || before.contains("//") || before.contains("/*")) {
        return None;
    }
    let rest = line[at + MARK.len()..].trim();
    let rest = rest.strip_suffix("*/").unwrap_or(rest).trim();
    let (code, reason) = match rest.split_once("--") {
        Some((code, reason)) => (code.trim(), Some(reason.trim())),
        None => (rest, None),
    };
    let code = code.split_whitespace().next()?.to_string();
    Some((code, reason.filter(|r| !r.is_empty()).map(str::to_string)))
}

/// `.tf` and `.py` files under `dir`, skipping hidden directories (`.build`, `.terraform`),
/// caches and node_modules.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if path.is_dir() {
            if !name.starts_with('.') && name != "__pycache__" && name != "node_modules" {
                walk(&path, out);
            }
        } else if name.ends_with(".tf") || name.ends_with(".py") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_comments() {
        let p = |l: &str| parse_inline(l);
        assert_eq!(
            p("  runtime = local.r # xtask: allow F4-runtime -- pinned by vendor"),
            Some(("F4-runtime".into(), Some("pinned by vendor".into())))
        );
        assert_eq!(
            p("/* xtask: allow F14-zip-unused -- kept */"),
            Some(("F14-zip-unused".into(), Some("kept".into())))
        );
        assert_eq!(
            p("// xtask: allow F4-runtime"),
            Some(("F4-runtime".into(), None))
        );
        assert_eq!(
            p("import x  # xtask: allow F18-unresolved-import --  "),
            Some(("F18-unresolved-import".into(), None))
        );
        assert_eq!(p("s = \"xtask: allow F4-runtime -- no\""), None);
    }

    #[test]
    fn the_readme_shows_the_code_table() {
        let rows = |text: &str, prefix: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(prefix))
                .filter(|l| l.starts_with("| `"))
                .map(str::to_string)
                .collect()
        };
        let readme = include_str!("../../../README.md");
        let codes = readme.split_once("### Codes").map_or("", |(_, r)| r);
        let table = codes.split("\n\n").nth(1).unwrap_or_default();
        assert_eq!(rows(table, ""), rows(include_str!("mod.rs"), "//! "));
    }

    #[test]
    fn the_code_table_lists_every_code_once_with_a_severity() {
        let table = code_table();
        assert!(table.len() > 40);
        for (i, (code, severity)) in table.iter().enumerate() {
            assert!(
                ["error", "warning"].contains(severity),
                "{code}: {severity}"
            );
            assert!(!table[..i].iter().any(|(c, _)| c == code), "{code} twice");
        }
        // Every code the rules emit is in the table.
        for src in [
            include_str!("mod.rs"),
            include_str!("layout.rs"),
            include_str!("routes.rs"),
            include_str!("calls.rs"),
            include_str!("zips.rs"),
            include_str!("runtime.rs"),
            include_str!("variables.rs"),
            include_str!("imports.rs"),
            include_str!("waivers.rs"),
        ] {
            for part in src.split('"').skip(1).step_by(2) {
                let looks_like_code = part.split_once('-').is_some_and(|(p, rest)| {
                    !rest.is_empty()
                        && !rest.contains(' ')
                        && (p == "TF"
                            || p == "XT"
                            || p.starts_with('F') && p[1..].parse::<u8>().is_ok())
                });
                if looks_like_code {
                    assert!(
                        table.iter().any(|(c, _)| *c == part),
                        "{part} is not in the table"
                    );
                }
            }
        }
    }
}
