//! What a failed install says: the cause and its fix, or every requirement of the file that
//! cannot be installed, each with its file:line (found with dry runs: installers stop at the
//! first).

use std::path::Path;

use crate::config::Config;
use crate::proc::Output;

use super::failure::{self, Cause};
use super::requirements::{self, Pin};
use super::{indent, redact_userinfo, Installer};

impl Installer {
    /// Why `requirements` do not resolve, as a failed install says it: every requirement that
    /// cannot be placed with its file:line, cause and fix (dry runs of this installer find
    /// them), else the installer's words with the fix for their cause. For `lock`, whose
    /// resolver (`uv pip compile`) stops at the first.
    pub fn unresolvable(&self, cfg: &Config, requirements: &Path, out: &Output) -> anyhow::Error {
        let Diagnosis {
            cause, exited, on, ..
        } = match self.diagnose(cfg, requirements, out) {
            Ok(d) => d,
            Err((e, _)) => return e,
        };
        anyhow::anyhow!(
            "requirements cannot be resolved for {on}: {} ({exited}):\n{}\nfix: {}",
            cause.what(cfg),
            indent(&redact_userinfo(&out.tail(12))),
            cause.fix(cfg, requirements)
        )
    }

    /// What a failed run says: its cause, or (when requirements of ours are to blame) the
    /// error naming every one of them with file:line and fix, and their causes.
    pub(super) fn diagnose(
        &self,
        cfg: &Config,
        requirements: &Path,
        out: &Output,
    ) -> std::result::Result<Diagnosis, (anyhow::Error, Vec<Cause>)> {
        let text = format!("{}\n{}", out.stdout, out.stderr);
        let cause = failure::classify(&text);
        let exited = format!(
            "{} exited with {}",
            self.name(),
            out.code.map_or("a signal".to_string(), |c| c.to_string())
        );
        let on = format!("python{} on {}", cfg.python, cfg.arch);
        if cause.per_requirement() {
            let failed = self.failing_pins(cfg, requirements, out);
            if !failed.is_empty() {
                let causes = failed.iter().map(|(_, c, _)| *c).collect();
                return Err((pins_error(cfg, requirements, &on, &exited, &failed), causes));
            }
        }
        Ok(Diagnosis {
            text,
            cause,
            exited,
            on,
        })
    }

    /// Every requirement of the file and its `-r` includes that cannot be installed:
    /// installers stop at the first, and a stack must learn of all of them at once. The one an
    /// installer blames is taken out and the rest tried again (dry runs), so k failures cost
    /// k dry runs; what it blames on no requirement of ours (a conflict, a dependency of one)
    /// leaves the rest to be tried one by one.
    fn failing_pins(&self, cfg: &Config, requirements: &Path, first: &Output) -> Vec<Failed> {
        let Ok(reqs) = requirements::read(requirements) else {
            return Vec::new();
        };
        let mut left = reqs.pins.clone();
        let mut failed = Vec::new();
        let mut attempt = Some(outcome(first));
        // Until the rest installs, or the installer blames something that is not one of them.
        while let Some((ok, text, tail)) = attempt.take() {
            if ok {
                left.clear();
                break;
            }
            let cause = failure::classify(&text);
            let blamed = failing_package(&text)
                .filter(|_| cause.per_requirement())
                .and_then(|p| left.iter().position(|pin| same_name(&pin.text, &p)));
            let Some(i) = blamed else {
                break;
            };
            failed.push((left.remove(i), cause, tail));
            if !left.is_empty() {
                attempt = self.dry_run(cfg, &left);
            }
        }
        for pin in left {
            match self.dry_run(cfg, std::slice::from_ref(&pin)) {
                Some((false, text, tail)) => failed.push((pin, failure::classify(&text), tail)),
                Some(_) => {}
                None => break,
            }
        }
        // In reading order, whatever order the installers found them in.
        failed.sort_by_key(|(pin, _, _)| reqs.pins.iter().position(|p| p == pin));
        failed
    }

    /// Installs nothing: whether `pins` alone would install, with the installer's words.
    fn dry_run(&self, cfg: &Config, pins: &[Pin]) -> Option<(bool, String, String)> {
        let dir = tempfile::tempdir().ok()?;
        let file = dir.path().join("requirements.txt");
        let text: String = pins.iter().map(|p| format!("{}\n", p.text)).collect();
        std::fs::write(&file, text).ok()?;
        let probe = self.command(cfg, &file, &dir.path().join("target"));
        Some(outcome(&probe.arg("--dry-run").output().ok()?))
    }
}

/// A requirement that cannot be installed, why, and the installer's last words about it.
type Failed = (Pin, Cause, String);

/// A failed run that no single requirement of ours explains: its text, cause, how the
/// installer exited and the target it was installing for.
pub(super) struct Diagnosis {
    pub(super) text: String,
    pub(super) cause: Cause,
    pub(super) exited: String,
    pub(super) on: String,
}

/// (succeeded, all its text, its last lines) of an installer run.
fn outcome(out: &Output) -> (bool, String, String) {
    (
        out.success(),
        format!("{}\n{}", out.stdout, out.stderr),
        out.tail(3),
    )
}

/// Whether `requirement` is for the distribution `name` (PEP 503: case and `-_.` ignored).
fn same_name(requirement: &str, name: &str) -> bool {
    let norm = crate::build::size::normalize;
    norm(package_name(requirement)) == norm(name)
}

/// Every failing requirement with its file, line, cause and the installer's words about it.
fn pins_error(
    cfg: &Config,
    requirements: &Path,
    on: &str,
    exited: &str,
    failed: &[Failed],
) -> anyhow::Error {
    let names: Vec<String> = failed
        .iter()
        .map(|(p, _, _)| format!("`{}`", package_name(&p.text)))
        .collect();
    let mut msg = match names.as_slice() {
        [one] => format!(
            "package {one} cannot be installed for {on}: {} ({exited}):",
            failed[0].1.what(cfg)
        ),
        _ => format!(
            "{} packages cannot be installed for {on}: {} ({exited}):",
            names.len(),
            names.join(", ")
        ),
    };
    let mut fixes: Vec<String> = Vec::new();
    for (pin, cause, words) in failed {
        msg += &format!(
            "\n  {}:{}: `{}`: {}\n{}",
            pin.file.display(),
            pin.line,
            pin.text,
            cause.what(cfg),
            indent(&indent(&redact_userinfo(words)))
        );
        let fix = cause.fix(cfg, requirements);
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    anyhow::anyhow!("{msg}\nfix: {}", fixes.join("\nfix: "))
}

/// `tiktoken` of `tiktoken[extra]==0.5.2 ; python_version>"3"`.
fn package_name(requirement: &str) -> &str {
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(requirement.len());
    &requirement[..end]
}

/// Picks the package name out of pip's or uv's resolution error.
pub(super) fn failing_package(text: &str) -> Option<String> {
    let after = |marker: &str| {
        text.find(marker).map(|i| {
            text[i + marker.len()..]
                .trim_start()
                .split(|c: char| c.is_whitespace() || "=<>!~;[(`',".contains(c))
                .next()
                .unwrap_or_default()
                .to_string()
        })
    };
    [
        "No matching distribution found for",
        "Because",
        "Could not find a version that satisfies the requirement",
        "because",
    ]
    .iter()
    .filter_map(|m| after(m))
    .find(|p| !p.is_empty() && p != "you" && p != "there" && p != "only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_match_distribution_names_as_pep_503_does() {
        assert_eq!(
            package_name("tiktoken[extra]==0.5.2 ; python_version>'3'"),
            "tiktoken"
        );
        assert!(same_name("psycopg2-binary==2.9.9", "psycopg2_binary"));
        assert!(same_name("Zope.Interface>=5", "zope-interface"));
        assert!(!same_name("beta==1", "betamax"));
    }

    #[test]
    fn failing_package_from_pip_and_uv() {
        let pip = "ERROR: Could not find a version that satisfies the requirement tiktoken==0.3.0 (from versions: none)\nERROR: No matching distribution found for tiktoken==0.3.0";
        assert_eq!(failing_package(pip).as_deref(), Some("tiktoken"));
        let uv = "  × No solution found when resolving dependencies:\n  ╰─▶ Because fastc==0.1 has no wheels with a matching platform tag";
        assert_eq!(failing_package(uv).as_deref(), Some("fastc"));
        let uv2 = "  ╰─▶ Because nosuchpkg was not found in the provided package locations";
        assert_eq!(failing_package(uv2).as_deref(), Some("nosuchpkg"));
    }
}
