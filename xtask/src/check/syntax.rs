//! PY-syntax-error: a `.py` file that ships and does not compile. Lambda then fails every
//! invocation at import. Python's grammar (f-strings, `match`, soft keywords, PEG rules that move
//! with each minor version) is more than a line scanner can judge without false alarms, so the
//! judge is the target interpreter's own `compile()`, found as smoke finds it and run as smoke
//! runs it: isolated (`-I -S`), no inherited environment, its own process group. Nothing of the
//! stack is executed: `compile()` only parses, so any machine's build of the target minor will
//! do. Without an interpreter, check says so once on stderr: the findings stay a function of the
//! stack, not of the machine.
//!
//! Verdicts are kept in `.xtask/check-syntax.json`, keyed on each file's SHA-256 and the
//! interpreter: a check with no `.py` file changed starts no process.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Checker;
use crate::config::{Arch, Config};
use crate::fsutil::{hex, write_atomic};
use crate::proc::Cmd;
use crate::smoke::Interpreter;
use crate::stack::discover;
use crate::ui;

/// Reads NUL-separated paths on stdin; prints one JSON object per file that does not compile.
const COMPILE: &str = r#"
import json, sys
for path in sys.stdin.buffer.read().decode("utf-8", "surrogateescape").split("\0"):
    if not path:
        continue
    try:
        with open(path, "rb") as f:
            compile(f.read(), path, "exec", dont_inherit=True)
    except SyntaxError as e:
        print(json.dumps({"path": path, "line": e.lineno or 0, "message": e.msg}))
    except (ValueError, OSError) as e:
        print(json.dumps({"path": path, "line": 0, "message": str(e)}))
"#;

const CACHE: &str = "check-syntax.json";

#[derive(Deserialize)]
struct Broken {
    path: PathBuf,
    line: usize,
    message: String,
}

/// `None`: compiles.
type Verdict = Option<(usize, String)>;

#[derive(Default, Serialize, Deserialize)]
struct Cache {
    interpreter: Option<Interpreter>,
    /// SHA-256 of a file's bytes → its verdict, for `interpreter`.
    verdicts: BTreeMap<String, Verdict>,
}

pub(super) fn check(c: &mut Checker, found: &discover::Stack) {
    // Each file once, with the first artifact that ships it; a tree the selection cannot walk
    // fails the build, which names it.
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    for a in &found.artifacts {
        let Ok(selected) = c.select.source(a) else {
            continue;
        };
        for e in selected
            .entries
            .into_iter()
            .filter(|e| e.name.ends_with(".py"))
        {
            if seen.insert(e.source.clone()) {
                files.push((e.source, a.id()));
            }
        }
    }
    if files.is_empty() {
        return;
    }
    let cache_file = crate::build::cache_dir(c.cfg).join(CACHE);
    let mut cache: Cache = std::fs::read(&cache_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let python = match crate::smoke::find_interpreter(&host_arch(c.cfg), cache.interpreter.as_ref())
    {
        Ok(p) => p,
        Err(why) => {
            ui::eprint_line(&format!(
                "note: check: the syntax of {} .py file(s) was not checked: {why}",
                files.len()
            ));
            return;
        }
    };
    if cache.interpreter.as_ref() != Some(&python) {
        cache = Cache {
            interpreter: Some(python.clone()),
            verdicts: BTreeMap::new(),
        };
    }
    let shas: Vec<String> = files
        .iter()
        .map(|(p, _)| std::fs::read(p).map_or_else(|_| String::new(), |b| hex(&Sha256::digest(b))))
        .collect();
    let unknown: Vec<usize> = (0..files.len())
        .filter(|&i| shas[i].is_empty() || !cache.verdicts.contains_key(&shas[i]))
        .collect();
    if !unknown.is_empty() {
        match compile(&python, unknown.iter().map(|&i| &files[i].0)) {
            Ok(broken) => {
                for &i in &unknown {
                    let verdict = broken.get(&files[i].0).cloned();
                    if !shas[i].is_empty() {
                        cache.verdicts.insert(shas[i].clone(), verdict.clone());
                    }
                }
                // Keep only what this stack has now, so the cache does not grow forever.
                let now: BTreeSet<&String> = shas.iter().collect();
                cache.verdicts.retain(|k, _| now.contains(k));
                if let Ok(bytes) = serde_json::to_vec(&cache) {
                    // A read-only checkout still gets its findings, only not remembered.
                    let _ = std::fs::create_dir_all(crate::build::cache_dir(c.cfg))
                        .map_err(anyhow::Error::from)
                        .and_then(|()| write_atomic(&cache_file, &bytes));
                }
            }
            Err(why) => {
                ui::eprint_line(&format!(
                    "note: check: the syntax of the .py files was not checked: {why}"
                ));
                return;
            }
        }
    }
    for ((path, id), sha) in files.iter().zip(&shas) {
        let Some(Some((line, message))) = cache.verdicts.get(sha) else {
            continue;
        };
        c.error(
            "PY-syntax-error",
            path,
            *line,
            format!(
                "{id}: does not compile with Python {}: {message}",
                c.cfg.python
            ),
            "fix the syntax: Lambda fails every invocation when the module cannot be imported"
                .into(),
        );
    }
}

/// `cfg` with the host's architecture: parsing does not depend on it, and an arm64 target
/// checked on an x86_64 laptop is still checked.
fn host_arch(cfg: &Config) -> Config {
    let mut host = cfg.clone();
    if std::env::consts::ARCH == "aarch64" {
        host.arch = Arch::Arm64;
    } else {
        host.arch = Arch::X86_64;
    }
    host
}

/// The files of `paths` that do not compile, with their line and the parser's message.
fn compile<'a>(
    python: &Interpreter,
    paths: impl Iterator<Item = &'a PathBuf>,
) -> Result<BTreeMap<PathBuf, (usize, String)>, String> {
    let mut stdin = Vec::new();
    for path in paths {
        stdin.extend_from_slice(path.as_os_str().as_encoded_bytes());
        stdin.push(0);
    }
    let out = Cmd::new(&python.path)
        .args(["-I", "-S", "-c", COMPILE])
        .env("PATH", "/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .clear_env()
        .own_group()
        .stdin(stdin)
        .output()
        .map_err(|e| format!("{e:#}"))?;
    if !out.success() {
        return Err(format!("{} failed: {}", python.path.display(), out.tail(3)));
    }
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Broken>(l).ok())
        .map(|b| (b.path, (b.line, b.message)))
        .collect())
}
