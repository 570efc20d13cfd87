//! Installs a requirements file for the Lambda target (never the build host) with uv or pip.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::config::{Arch, Config, InstallerChoice};
use crate::proc::Cmd;
use diagnose::{failing_package, Diagnosis};
use failure::Cause;

mod diagnose;
mod failure;
pub use failure::Deterministic;
pub mod lock;
mod pip_server;
pub use pip_server::stop_all as stop_pip_servers;
pub mod requirements;
mod wheel;

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

    /// The binary run: uv, or the Python whose pip is run.
    pub fn program(&self) -> &Path {
        match self {
            Installer::Uv(p) | Installer::Pip(p) => p,
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
        let cmd = match self {
            Installer::Uv(uv) => Cmd::new(uv)
                .args(["pip", "install", "--target"])
                .arg(target)
                .args(["--python-version", &cfg.python])
                .args(["--python-platform", uv_platform(cfg.arch)])
                .args(["--only-binary", ":all:", "--no-compile", "--quiet", "-r"])
                .arg(requirements)
                .env("UV_NO_PROGRESS", "1"),
            Installer::Pip(python) => {
                let c = Cmd::new(python)
                    .args(["-m", "pip", "install", "--target"])
                    .arg(target);
                pip_target(c, cfg)
                    .args(["--no-compile", "--no-warn-script-location", "-r"])
                    .arg(requirements)
            }
        };
        self.with_options(cmd, cfg)
    }

    /// The interpreter uv picks, resolved once per run with `uv python find` and passed to each
    /// install: found through a wrapper script or a version manager's shim (pyenv), uv cannot
    /// keep its query of the interpreter in its cache and runs Python again for every install
    /// (~60 ms of CPU each); named by its real path, it is queried once. `None` (uv decides, as
    /// before) when uv finds none.
    fn uv_python(&self) -> Option<&'static Path> {
        static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
        let Installer::Uv(uv) = self else {
            return None;
        };
        FOUND
            .get_or_init(|| {
                let out = Cmd::new(uv)
                    .args(["python", "find"])
                    .env("UV_NO_PROGRESS", "1")
                    .own_group()
                    .output()
                    .ok()?;
                let found = PathBuf::from(out.stdout.trim());
                (out.success() && found.is_absolute() && found.is_file()).then_some(found)
            })
            .as_deref()
    }

    /// pip only resolves and downloads the wheels into `dir`; `wheel::install_all` unpacks them.
    fn download_command(
        &self,
        python: &Path,
        cfg: &Config,
        requirements: &Path,
        dir: &Path,
    ) -> Cmd {
        let c = Cmd::new(python)
            .args(["-m", "pip", "download", "--dest"])
            .arg(dir);
        self.with_options(pip_target(c, cfg).arg("-r").arg(requirements), cfg)
    }

    /// `cmd` with xtask.toml's `[installer_options]`: indexes, find-links, no-index.
    pub fn with_options(&self, cmd: Cmd, cfg: &Config) -> Cmd {
        let opts = &cfg.installer_options;
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
        if !opts.find_links.is_empty() {
            // Through the environment too: a links URL may carry credentials. uv splits the
            // variable on commas, pip on whitespace; a local path holding the separator goes
            // as a percent-encoded file:// URL, which both read as the directory.
            let (var, sep) = match self {
                Installer::Uv(_) => ("UV_FIND_LINKS", ","),
                Installer::Pip(_) => ("PIP_FIND_LINKS", " "),
            };
            let links: Vec<String> = opts
                .find_links
                .iter()
                .map(|l| match self {
                    _ if l.contains("://") => l.clone(),
                    Installer::Uv(_) if l.contains(',') => file_url(l),
                    Installer::Pip(_) if l.contains(char::is_whitespace) => file_url(l),
                    _ => l.clone(),
                })
                .collect();
            cmd = cmd.env(var, links.join(sep));
        }
        if opts.no_index {
            cmd = cmd.arg("--no-index");
        }
        cmd
    }

    /// Installs, or fails with the installer's own words, every requirement it cannot place
    /// and the fix for that cause. `require_hashes` (a lock): every wheel must have the sha256
    /// the file records, so a wheel swapped on the index or in the wheelhouse is refused.
    pub fn install(
        &self,
        cfg: &Config,
        requirements: &Path,
        target: &Path,
        require_hashes: bool,
    ) -> Result<()> {
        missing_find_links(cfg)?;
        // pip downloads (checking a lock's hashes) and the xtask unpacks: one pip run per
        // dependency set instead of pip's slower install, and the tree laid out by one code.
        let wheels = match self {
            Installer::Pip(_) => Some(
                tempfile::Builder::new()
                    .prefix(".tmp-wheels-")
                    .tempdir_in(target.parent().unwrap_or(Path::new(".")))?,
            ),
            Installer::Uv(_) => None,
        };
        let mut cmd = match (self, &wheels) {
            (Installer::Pip(python), Some(dir)) => {
                self.download_command(python, cfg, requirements, dir.path())
            }
            _ => self.command(cfg, requirements, target),
        };
        if let Some(python) = self.uv_python() {
            cmd = cmd.arg("--python").arg(python);
        }
        if require_hashes {
            cmd = cmd.arg("--require-hashes");
        }
        // pip's downloads go to the one Python that serves them all, when it can.
        let served = match self {
            Installer::Pip(_) => pip_server::run(&cmd),
            Installer::Uv(_) => None,
        };
        let out = match served {
            Some(out) => out,
            None => cmd.own_group().output()?,
        };
        if out.success() {
            if let Some(dir) = &wheels {
                wheel::install_all(dir.path(), target)?;
            }
            return Ok(());
        }
        let Diagnosis {
            text,
            cause,
            exited,
            on,
        } = match self.diagnose(cfg, requirements, &out) {
            Ok(d) => d,
            Err((e, causes)) => return Err(failure::mark(e, &causes)),
        };
        let what = match (cause, failing_package(&text)) {
            (c, Some(p)) if c.per_requirement() || c == Cause::Other => {
                format!(
                    "package `{p}` cannot be installed for {on}: {}",
                    c.what(cfg)
                )
            }
            (Cause::Syntax, _) => match failure::syntax_location(&text) {
                Some(at) => format!("{at}: {}", cause.what(cfg)),
                None => cause.what(cfg),
            },
            _ => format!(
                "dependencies cannot be installed for {on}: {}",
                cause.what(cfg)
            ),
        };
        let e = anyhow::anyhow!(
            "{what} ({exited}):\n{}\nfix: {}",
            indent(&redact_userinfo(&out.tail(12))),
            cause.fix(cfg, requirements)
        );
        Err(failure::mark(e, &[cause]))
    }
}

/// pip's flags that pick wheels for the Lambda target rather than the build host.
fn pip_target(cmd: Cmd, cfg: &Config) -> Cmd {
    let arch = match cfg.arch {
        Arch::X86_64 => "x86_64",
        Arch::Arm64 => "aarch64",
    };
    // pip takes platform tags literally: list every glibc Amazon Linux 2023 (2.34) satisfies.
    // pip prefers earlier ones, so most specific first, as uv does: a package with both
    // manylinux_2_17 and manylinux_2_34 wheels gets the 2_34 one from either installer.
    let mut platforms: Vec<String> = (17..=34)
        .rev()
        .map(|v| format!("manylinux_2_{v}_{arch}"))
        .collect();
    platforms.push(format!("manylinux2014_{arch}"));
    let mut c = cmd;
    for p in &platforms {
        c = c.args(["--platform", p]);
    }
    c.args(["--python-version", &cfg.python])
        .args(["--implementation", "cp", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--quiet"])
}

/// uv's `--python-platform` for the Lambda target (Amazon Linux 2023: glibc 2.34).
pub fn uv_platform(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64-manylinux_2_34",
        Arch::Arm64 => "aarch64-manylinux_2_34",
    }
}

/// A local find_links folder that does not exist, before any installer reads it (pip would
/// only warn, then report every package as missing).
pub fn missing_find_links(cfg: &Config) -> Result<()> {
    for link in &cfg.installer_options.find_links {
        if !link.contains("://") && !Path::new(link).is_dir() {
            bail!(
                "find_links folder {link} does not exist (xtask.toml [installer_options]; relative \
                 paths are relative to the stack root)\nfix: {}",
                Cause::FindLinks.fix(cfg, Path::new(""))
            );
        }
    }
    Ok(())
}

/// `file://` and an absolute path, percent-encoded but for `/` and the unreserved characters.
fn file_url(path: &str) -> String {
    let mut url = String::from("file://");
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// `scheme://user:secret@host…` → `scheme://***@host…` for every URL in `text`: installers
/// quote index URLs in their errors, and pip masks only the password.
pub fn redact_userinfo(text: &str) -> String {
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

/// The requirement lines that matter: comments, blank lines and trailing comments removed.
/// A file with none installs nothing (and is not an error).
pub fn requirement_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(requirements::meaningful)
        .map(str::to_string)
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

    pub(crate) fn cfg(index_url: Option<&str>, extra: &[&str]) -> Config {
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
            runtime_provided: Default::default(),
            infra: None,
            exclude: Vec::new(),
            files: Default::default(),
            terraform: Default::default(),
            verify: Default::default(),
            check: Default::default(),
            smoke: Default::default(),
            cache: Default::default(),
            release: Default::default(),
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
            assert!(!line.contains("--find-links"), "{line}");
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
    fn find_links_go_through_the_environment_in_each_installer_s_syntax() {
        let mut c = cfg(None, &[]);
        c.installer_options.find_links = vec![
            "https://me:t0k@links.example.com/wheels/".into(),
            "/home/John Doe/acme, ltd/wh".into(),
        ];
        let (req, target) = (Path::new("/s/requirements.txt"), Path::new("/t"));
        let uv = Installer::Uv("uv".into()).command(&c, req, target);
        assert_eq!(
            env_of(&uv, "UV_FIND_LINKS").as_deref(),
            Some(
                "https://me:t0k@links.example.com/wheels/,file:///home/John%20Doe/acme%2C%20ltd/wh"
            )
        );
        let pip = Installer::Pip("python3".into()).command(&c, req, target);
        assert_eq!(
            env_of(&pip, "PIP_FIND_LINKS").as_deref(),
            Some(
                "https://me:t0k@links.example.com/wheels/ file:///home/John%20Doe/acme%2C%20ltd/wh"
            )
        );
        for cmd in [uv, pip] {
            assert!(!cmd.display().contains("example.com"), "{}", cmd.display());
        }
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
}
