//! `cargo xtask check --fix`: the findings with one mechanical fix carry it as an `Edit` (a
//! span of a `.tf` file as hcl-edit parsed it, and its replacement). Edits splice the text, so
//! every comment and every other byte stays as written; the result must parse again. A file
//! that changed since it was parsed is not written. A file reached through a symlink is edited
//! where it really is when that is inside the stack or infra repo (the link stays a link), and
//! left alone otherwise: a fix never edits a file outside the repos check was pointed at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::Finding;
use crate::stack::hcl::TfFile;

/// Replace `start..end` of `file` (byte offsets into the text as parsed) by `text`.
#[derive(Debug, Clone)]
pub struct Edit {
    pub file: PathBuf,
    pub start: usize,
    pub end: usize,
    pub text: String,
    /// SHA-256 of the file as parsed.
    parsed: String,
}

impl Edit {
    pub(super) fn new(f: &TfFile, range: std::ops::Range<usize>, text: String) -> Edit {
        Edit {
            file: f.path.clone(),
            start: range.start,
            end: range.end,
            text,
            parsed: digest(&f.text),
        }
    }
}

fn digest(text: &str) -> String {
    crate::fsutil::hex(&Sha256::digest(text.as_bytes()))
}

/// One edit as the user reads it: `file:line: before → after` (`+ after` for an insertion).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    pub file: String,
    pub line: usize,
    /// `None` for an insertion.
    pub before: Option<String>,
    pub after: String,
    /// False with --dry-run, or when the file changed since it was parsed (see `problem`).
    pub written: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Applies (or with `dry_run` only describes) the edits of the findings that are not waived.
/// `rel` names files as the findings do; `roots` are the repos a fix may write in.
pub fn apply(
    findings: &[Finding],
    dry_run: bool,
    rel: &dyn Fn(&Path) -> String,
    roots: &[&Path],
) -> Vec<Applied> {
    let mut by_file: BTreeMap<&Path, Vec<&Edit>> = BTreeMap::new();
    for f in findings.iter().filter(|f| !f.waived) {
        for e in &f.edits {
            by_file.entry(&e.file).or_default().push(e);
        }
    }
    let mut out = Vec::new();
    for (file, mut edits) in by_file {
        // The same span fixed by two findings is one edit.
        edits.sort_by_key(|e| (e.start, e.end));
        edits.dedup_by(|a, b| (a.start, a.end, &a.text) == (b.start, b.end, &b.text));
        let shown = rel(file);
        let current = std::fs::read_to_string(file).unwrap_or_default();
        let real = real_file(file, roots);
        let problem = if let Err(why) = &real {
            Some(why.clone())
        } else if edits.iter().any(|e| e.parsed != digest(&current)) {
            Some("the file changed since check read it: run check --fix again".to_string())
        } else {
            None
        };
        let new = splice(&current, &edits);
        let problem = problem.or_else(|| {
            crate::stack::hcl::parse_body(&new).err().map(|e| {
                format!(
                    "the edited file would not parse ({}): left as it was",
                    e.message()
                )
            })
        });
        let lines = |text: &str, at: usize| -> String {
            let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            text[start..end].trim().to_string()
        };
        let mut shift: isize = 0;
        for e in &edits {
            let at = (e.start as isize + shift) as usize;
            let end = (at + e.text.len()).min(new.len());
            let after = if e.text.is_empty() {
                let n = current[e.start.min(current.len())..e.end.min(current.len())]
                    .matches('\n')
                    .count();
                format!("(removed: {n} line{})", if n == 1 { "" } else { "s" })
            } else {
                lines(&new, end)
            };
            let (line, before) = if e.start == e.end {
                (new[..end].matches('\n').count() + 1, None)
            } else {
                let start = e.start.min(current.len());
                (
                    current[..start].matches('\n').count() + 1,
                    Some(lines(&current, start)),
                )
            };
            shift += e.text.len() as isize - (e.end - e.start) as isize;
            out.push(Applied {
                file: shown.clone(),
                line,
                before,
                after,
                written: false,
                problem: problem.clone(),
            });
        }
        if dry_run || problem.is_some() {
            continue;
        }
        let Ok(real) = real else { continue };
        let written = write_keeping_mode(&real, &new);
        let n = out.len();
        for a in &mut out[n - edits.len()..] {
            match &written {
                Ok(()) => a.written = true,
                Err(e) => a.problem = Some(format!("{e:#}")),
            }
        }
    }
    out
}

/// `text` with each edit applied; edits are sorted and do not overlap.
fn splice(text: &str, edits: &[&Edit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in edits {
        if e.start < at || e.end > text.len() {
            continue;
        }
        out.push_str(&text[at..e.start]);
        out.push_str(&e.text);
        at = e.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The file an edit of `file` must write: `file` itself, or what it is a symlink to (writing the
/// link's path would replace the link by a copy and leave the real file unfixed). `Err` with
/// the reason when that is outside every root, or cannot be resolved.
fn real_file(file: &Path, roots: &[&Path]) -> Result<PathBuf, String> {
    let real = file
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", file.display()))?;
    let inside = roots
        .iter()
        .filter_map(|r| r.canonicalize().ok())
        .any(|r| real.starts_with(r));
    if inside {
        return Ok(real);
    }
    Err(format!(
        "it resolves to {}, outside the stack and infra repos, so check does not edit it: make the \
         edit there yourself, or replace the link by a copy of the file",
        real.display()
    ))
}

fn write_keeping_mode(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777;
    crate::fsutil::write_atomic_with_mode(path, text.as_bytes(), mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Severity;

    fn finding(edit: Edit, waived: bool) -> Finding {
        Finding {
            code: "F4-runtime",
            severity: Severity::Error,
            file: "main.tf".into(),
            line: 1,
            message: String::new(),
            fix: String::new(),
            waived,
            reason: None,
            edits: vec![edit],
        }
    }

    fn runtime_edit(path: &Path) -> Edit {
        let f = TfFile::parse(path).unwrap();
        let at = f.text.find("\"python3.11\"").unwrap();
        Edit::new(&f, at..at + 12, "\"python3.13\"".into())
    }

    #[test]
    fn a_file_changed_since_it_was_parsed_is_not_written() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("main.tf");
        std::fs::write(&path, "locals {\n  r = \"python3.11\" # keep\n}\n").unwrap();
        let edit = runtime_edit(&path);
        std::fs::write(
            &path,
            "locals {\n  r = \"python3.11\" # edited meanwhile\n}\n",
        )
        .unwrap();
        let rel = |p: &Path| p.display().to_string();
        let applied = apply(&[finding(edit, false)], false, &rel, &[d.path()]);
        assert!(!applied[0].written);
        assert!(applied[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("changed since"));
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("edited meanwhile"));
    }

    #[test]
    fn edits_keep_comments_and_skip_waived_findings() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("main.tf");
        std::fs::write(&path, "locals {\n  r = \"python3.11\" # keep\n}\n").unwrap();
        let rel = |p: &Path| p.display().to_string();
        assert!(apply(
            &[finding(runtime_edit(&path), true)],
            false,
            &rel,
            &[d.path()]
        )
        .is_empty());
        let applied = apply(
            &[finding(runtime_edit(&path), false)],
            false,
            &rel,
            &[d.path()],
        );
        assert!(applied[0].written);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "locals {\n  r = \"python3.13\" # keep\n}\n"
        );
    }
}
