//! A requirements file as the installers read it: its own lines and, followed recursively, the
//! files it includes with `-r`/`-c`. Both belong to the cache keys: editing an included file
//! must reinstall, wherever that file lives.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// One requirement as written, and where: what a failed install is reported against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub file: PathBuf,
    pub line: usize,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Requirements {
    /// Every meaningful line of the file and its includes, in reading order, each include's
    /// lines after a marker naming it as written: the dependency key's material. Never an
    /// absolute path, so a stack copied elsewhere keeps its keys.
    pub key_lines: Vec<String>,
    /// The requirements proper (not options, not constraints) of the file and its `-r` includes.
    pub pins: Vec<Pin>,
}

impl Requirements {
    /// Nothing to install: only comments and blank lines.
    pub fn is_empty(&self) -> bool {
        self.key_lines.is_empty()
    }
}

/// Reads `path` and every file it includes. An include that cannot be read is an error naming
/// the including file and line.
pub fn read(path: &Path) -> Result<Requirements> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    parse(path, &text)
}

/// `read` of a file whose `text` the caller already has.
pub fn parse(path: &Path, text: &str) -> Result<Requirements> {
    let mut out = Requirements::default();
    follow(path, text, true, &mut out, &mut vec![path.to_path_buf()])?;
    Ok(out)
}

fn follow(
    path: &Path,
    text: &str,
    pins: bool,
    out: &mut Requirements,
    chain: &mut Vec<PathBuf>,
) -> Result<()> {
    for (i, raw) in logical_lines(text) {
        let Some(line) = meaningful(&raw) else {
            continue;
        };
        out.key_lines.push(line.to_string());
        let Some((constraint, target)) = include(line) else {
            if pins && !line.starts_with('-') {
                out.pins.push(Pin {
                    file: path.to_path_buf(),
                    line: i + 1,
                    text: line.to_string(),
                });
            }
            continue;
        };
        if target.contains("://") {
            // A remote include is the installer's to fetch; its line alone is keyed.
            continue;
        }
        let at = format!("{}:{}: `{line}`", path.display(), i + 1);
        let file = path.parent().unwrap_or(Path::new(".")).join(target);
        if chain.iter().any(|p| crate::fsutil::same_file(p, &file)) {
            bail!("{at} includes a file that includes it back; remove one of the two lines");
        }
        let included = std::fs::read_to_string(&file).map_err(|e| {
            anyhow::anyhow!(
                "{at}: cannot read {}: {e}; include paths are relative to the file that names them",
                file.display()
            )
        })?;
        out.key_lines.push(format!("\0include {target}"));
        chain.push(file.clone());
        follow(&file, &included, pins && !constraint, out, chain)?;
        chain.pop();
        out.key_lines.push(format!("\0end {target}"));
    }
    Ok(())
}

/// (0-based index of its first line, text) of each line as pip reads it: a line ending in `\`
/// continues on the next (as lock files write `--hash` options), unless it is a comment.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let comment = line.trim_start().starts_with('#');
        match (line.strip_suffix('\\'), comment) {
            (Some(head), false) => {
                let (_, joined) = open.get_or_insert((i, String::new()));
                joined.push_str(head.trim());
                joined.push(' ');
            }
            _ => match open.take() {
                Some((first, mut joined)) if !comment => {
                    joined.push_str(line.trim());
                    out.push((first, joined));
                }
                Some(done) => {
                    out.push(done);
                    out.push((i, line.to_string()));
                }
                None => out.push((i, line.to_string())),
            },
        }
    }
    out.extend(open);
    out
}

/// A line without its comment, trimmed; `None` for a comment or blank line.
pub fn meaningful(line: &str) -> Option<&str> {
    let line = match line.find(" #").or(line.starts_with('#').then_some(0)) {
        Some(i) => &line[..i],
        None => line,
    };
    Some(line.trim()).filter(|l| !l.is_empty())
}

/// `-r F`, `--requirement F`, `-c F`, `--constraint F` (also `=F` and `-rF`): (is a
/// constraint, F).
fn include(line: &str) -> Option<(bool, &str)> {
    for (flag, constraint) in [
        ("--requirement", false),
        ("--constraint", true),
        ("-r", false),
        ("-c", true),
    ] {
        if let Some(rest) = line.strip_prefix(flag) {
            let long = flag.starts_with("--");
            let target = match rest.strip_prefix('=') {
                Some(t) => t,
                // `--requirementX` is no flag; `-rX` is pip's short form.
                None if long && !rest.starts_with(char::is_whitespace) => continue,
                None => rest,
            };
            let target = target.trim();
            if !target.is_empty() {
                return Some((constraint, target));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_forms() {
        assert_eq!(include("-r common.txt"), Some((false, "common.txt")));
        assert_eq!(include("-rcommon.txt"), Some((false, "common.txt")));
        assert_eq!(include("--requirement=../a.txt"), Some((false, "../a.txt")));
        assert_eq!(include("--constraint  c.txt"), Some((true, "c.txt")));
        assert_eq!(include("-c c.txt"), Some((true, "c.txt")));
        assert_eq!(include("requests==2"), None);
        assert_eq!(include("--requirementx"), None);
        assert_eq!(include("--index-url https://x"), None);
    }

    #[test]
    fn continued_lines_are_one_requirement_at_their_first_line() {
        let text = "# c \\\nacme==1.2.0 \\\n    --hash=sha256:ab \\\n    --hash=sha256:cd\n    # via x\nsix==1 \\\n";
        let lines: Vec<(usize, String)> = logical_lines(text);
        assert_eq!(
            lines,
            [
                (0, "# c \\".to_string()),
                (
                    1,
                    "acme==1.2.0 --hash=sha256:ab --hash=sha256:cd".to_string()
                ),
                (4, "    # via x".to_string()),
                (5, "six==1 ".to_string()),
            ]
        );
    }

    #[test]
    fn includes_are_followed_relative_to_their_file_and_keyed_by_content() {
        let d = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w(
            "fn/requirements.txt",
            "a==1  # pinned\n-r ../shared/common.txt\n-c ../c.txt\n",
        );
        w("shared/common.txt", "# common\nb==2\n-r more.txt\n");
        w("shared/more.txt", "d==4\n");
        w("c.txt", "b<3\n");
        let r = read(&d.path().join("fn/requirements.txt")).unwrap();
        let pins: Vec<(String, usize)> = r.pins.iter().map(|p| (p.text.clone(), p.line)).collect();
        assert_eq!(
            pins,
            [("a==1".into(), 1), ("b==2".into(), 2), ("d==4".into(), 1)]
        );
        assert!(r.key_lines.contains(&"b<3".to_string()));
        assert!(!r
            .key_lines
            .iter()
            .any(|l| l.contains(&*d.path().to_string_lossy())));

        w("shared/more.txt", "d==5\n");
        let again = read(&d.path().join("fn/requirements.txt")).unwrap();
        assert_ne!(r.key_lines, again.key_lines);

        w("shared/more.txt", "-r common.txt\n");
        let err = read(&d.path().join("fn/requirements.txt")).unwrap_err();
        assert!(
            err.to_string().contains("more.txt:1: `-r common.txt`"),
            "{err}"
        );

        w("fn/requirements.txt", "a==1\n-r missing.txt\n");
        let err = format!(
            "{:#}",
            read(&d.path().join("fn/requirements.txt")).unwrap_err()
        );
        assert!(
            err.contains("requirements.txt:2: `-r missing.txt`: cannot read"),
            "{err}"
        );
    }
}
