//! Installs a requirements file for the Lambda target (never the build host) with uv or pip.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::config::{Arch, Config, InstallerChoice};
use crate::proc::Cmd;

#[derive(Debug, Clone)]
pub enum Installer {
    Uv(PathBuf),
    /// pip, run as `python -m pip`.
    Pip(PathBuf),
}

impl Installer {
    pub fn detect(choice: InstallerChoice) -> Result<Installer> {
        let uv = || which::which("uv").ok().map(Installer::Uv);
        let pip = || {
            ["python3", "python"]
                .iter()
                .find_map(|p| which::which(p).ok())
                .map(Installer::Pip)
        };
        let found = match choice {
            InstallerChoice::Uv => uv(),
            InstallerChoice::Pip => pip(),
            InstallerChoice::Auto => uv().or_else(pip),
        };
        match found {
            Some(i) => Ok(i),
            None => bail!(
                "no dependency installer found (installer = {choice:?} in xtask.toml): \
                 install uv (`pip install uv`) or make python3 with pip available on PATH"
            ),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Installer::Uv(_) => "uv",
            Installer::Pip(_) => "pip",
        }
    }

    /// The argument list that installs `requirements` into `target` for the configured Lambda target.
    pub fn command(&self, cfg: &Config, requirements: &Path, target: &Path) -> Cmd {
        let opts = &cfg.installer_options;
        let cmd = match self {
            Installer::Uv(uv) => {
                let platform = match cfg.arch {
                    Arch::X86_64 => "x86_64-manylinux_2_34",
                    Arch::Arm64 => "aarch64-manylinux_2_34",
                };
                Cmd::new(uv)
                    .args(["pip", "install", "--target"])
                    .arg(target)
                    .args(["--python-version", &cfg.python])
                    .args(["--python-platform", platform])
                    .args(["--only-binary", ":all:", "--no-compile", "--quiet", "-r"])
                    .arg(requirements)
                    .env("UV_NO_PROGRESS", "1")
            }
            Installer::Pip(python) => {
                let arch = match cfg.arch {
                    Arch::X86_64 => "x86_64",
                    Arch::Arm64 => "aarch64",
                };
                // pip takes platform tags literally: list every glibc Amazon Linux 2023 (2.34) satisfies.
                let mut platforms = vec![format!("manylinux2014_{arch}")];
                platforms.extend((17..=34).rev().map(|v| format!("manylinux_2_{v}_{arch}")));
                let mut c = Cmd::new(python)
                    .args(["-m", "pip", "install", "--target"])
                    .arg(target);
                for p in &platforms {
                    c = c.args(["--platform", p]);
                }
                c.args(["--python-version", &cfg.python])
                    .args(["--implementation", "cp", "--only-binary=:all:"])
                    .args(["--no-compile", "--disable-pip-version-check", "--quiet"])
                    .args(["--no-warn-script-location", "-r"])
                    .arg(requirements)
            }
        };
        // Index URLs often carry credentials (`https://user:token@host/simple`): passed in the
        // environment they stay out of `ps` and out of `Cmd::display` in error messages.
        let (index, extra) = match self {
            Installer::Uv(_) => ("UV_DEFAULT_INDEX", "UV_INDEX"),
            Installer::Pip(_) => ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"),
        };
        let mut cmd = cmd;
        if let Some(url) = &opts.index_url {
            cmd = cmd.env(index, url);
        }
        if !opts.extra_index_urls.is_empty() {
            // Both installers split these variables on whitespace, which no URL contains.
            cmd = cmd.env(extra, opts.extra_index_urls.join(" "));
        }
        if let Installer::Uv(_) = self {
            // uv's deprecated names for the same settings: as with the flags, xtask.toml's
            // indexes replace inherited ones rather than add to them.
            if opts.index_url.is_some() {
                cmd = cmd.env_remove("UV_INDEX_URL");
            }
            if !opts.extra_index_urls.is_empty() {
                cmd = cmd.env_remove("UV_EXTRA_INDEX_URL");
            }
        }
        for link in &opts.find_links {
            cmd = cmd.args(["--find-links", link]);
        }
        if opts.no_index {
            cmd = cmd.arg("--no-index");
        }
        cmd
    }

    /// Installs, or fails with the installer's own words and the package it could not place.
    pub fn install(&self, cfg: &Config, requirements: &Path, target: &Path) -> Result<()> {
        let cmd = self.command(cfg, requirements, target).own_group();
        let out = cmd.output()?;
        if out.success() {
            return Ok(());
        }
        let text = format!("{}\n{}", out.stdout, out.stderr);
        let what = match failing_package(&text) {
            Some(p) => format!("package `{p}` cannot be installed for"),
            None => "dependencies cannot be installed for".to_string(),
        };
        bail!(
            "{what} python{} on {} ({} exited with {}):\n{}\nfix: pin a version that publishes a cp{} \
             manylinux wheel for {} (or a pure-Python wheel) in {}",
            cfg.python,
            cfg.arch,
            self.name(),
            out.code.map_or("a signal".to_string(), |c| c.to_string()),
            indent(&redact_userinfo(&out.tail(12))),
            cfg.python.replace('.', ""),
            cfg.arch,
            requirements.display()
        )
    }
}

/// `scheme://user:secret@host…` → `scheme://***@host…` for every URL in `text`: installers
/// quote index URLs in their errors, and pip masks only the password.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends where the path, query or fragment starts, or the URL does;
        // userinfo may hold `,;'()` but never these.
        let end = tail
            .find(|c: char| c.is_whitespace() || "/?#\"<>`".contains(c))
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Picks the package name out of pip's or uv's resolution error.
fn failing_package(text: &str) -> Option<String> {
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

/// The requirement lines that matter: comments, blank lines and trailing comments removed.
/// A file with none installs nothing (and is not an error).
pub fn requirement_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| match l.find(" #").or(l.starts_with('#').then_some(0)) {
            Some(i) => &l[..i],
            None => l,
        })
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blank_lines_are_not_requirements() {
        let text = "# only comments\n\n   # indented\nrequests==2.32.3  # http\n\tboto3\n";
        assert_eq!(requirement_lines(text), ["requests==2.32.3", "boto3"]);
        assert!(requirement_lines("# nothing\n\n").is_empty());
    }

    fn cfg(index_url: Option<&str>, extra: &[&str]) -> Config {
        Config {
            stack: PathBuf::from("/s"),
            python: "3.13".into(),
            arch: Arch::X86_64,
            installer: InstallerChoice::Auto,
            installer_options: crate::config::InstallerOptions {
                index_url: index_url.map(str::to_string),
                extra_index_urls: extra.iter().map(|u| u.to_string()).collect(),
                find_links: vec!["/s/wh".into()],
                no_index: false,
            },
            infra: None,
            exclude: Vec::new(),
            terraform: Default::default(),
            verify: Default::default(),
            smoke: Default::default(),
        }
    }

    fn env_of(cmd: &Cmd, key: &str) -> Option<String> {
        let found = cmd.get_env().iter().rev().find(|(k, _)| k == key);
        found.map(|(_, v)| v.to_string_lossy().into_owned())
    }

    #[test]
    fn index_urls_and_their_credentials_stay_off_the_command_line() {
        let c = cfg(
            Some("https://me:s3cret@pypi.example.com/simple"),
            &[
                "https://t0ken@extra.example.com/simple",
                "https://other.example.com/simple",
            ],
        );
        let (req, target) = (Path::new("/s/requirements.txt"), Path::new("/t"));
        for (installer, index, extra) in [
            (Installer::Uv("uv".into()), "UV_DEFAULT_INDEX", "UV_INDEX"),
            (
                Installer::Pip("python3".into()),
                "PIP_INDEX_URL",
                "PIP_EXTRA_INDEX_URL",
            ),
        ] {
            let cmd = installer.command(&c, req, target);
            let line = cmd.display();
            assert!(!line.contains("example.com"), "{line}");
            assert!(line.contains("--find-links /s/wh"), "{line}");
            assert_eq!(
                env_of(&cmd, index).as_deref(),
                Some("https://me:s3cret@pypi.example.com/simple")
            );
            assert_eq!(
                env_of(&cmd, extra).as_deref(),
                Some("https://t0ken@extra.example.com/simple https://other.example.com/simple")
            );
        }
        // uv's deprecated names for the same settings must not add to xtask.toml's indexes.
        let uv = Installer::Uv("uv".into()).command(&c, req, target);
        assert_eq!(uv.get_env_remove(), ["UV_INDEX_URL", "UV_EXTRA_INDEX_URL"]);
        // Nothing configured: the installer's own configuration (pip.conf, UV_*) applies.
        let plain = Installer::Pip("python3".into()).command(&cfg(None, &[]), req, target);
        assert_eq!(env_of(&plain, "PIP_INDEX_URL"), None);
        assert_eq!(env_of(&plain, "PIP_EXTRA_INDEX_URL"), None);
    }

    #[test]
    fn credentials_in_urls_are_redacted_from_installer_output() {
        let pip = "Looking in indexes: https://me:****@pypi.example.com/simple, http://t0ken@x.example.com\nERROR: 401 Client Error for url: https://me:s3cret@pypi.example.com:8443/simple/foo/";
        assert_eq!(
            redact_userinfo(pip),
            "Looking in indexes: https://***@pypi.example.com/simple, http://***@x.example.com\nERROR: 401 Client Error for url: https://***@pypi.example.com:8443/simple/foo/"
        );
        let plain = "Because foo was not found in https://pypi.org/simple (mail me@example.com)";
        assert_eq!(redact_userinfo(plain), plain);
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
