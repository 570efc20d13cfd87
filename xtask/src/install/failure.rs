//! Why an install failed, read from uv's or pip's own words, and the fix for that cause: a
//! network error never gets the "pin another wheel" hint.

use std::path::Path;

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The package exists, but no release has a wheel for the Lambda target.
    NoWheel,
    NotFound,
    VersionNotFound,
    /// pip's "(from versions: none)": no such package, or none of its wheels fits the target.
    NoWheelOrNotFound,
    Credentials,
    Unreachable,
    FindLinks,
    Syntax,
    DiskFull,
    /// A wheel's bytes are not the ones the lock recorded.
    HashMismatch,
    /// A lock line without `--hash` (edited by hand).
    HashMissing,
    Other,
}

/// In order: the first cause whose words appear wins (a 401 also makes uv say "not found").
const SIGNS: &[(Cause, &[&str])] = &[
    (
        Cause::DiskFull,
        &["No space left on device", "os error 28", "Errno 28"],
    ),
    (
        Cause::Credentials,
        &[
            "401 Unauthorized",
            "401 Error",
            "401 Client Error",
            "403 Forbidden",
            "403 Error",
            "403 Client Error",
            "authentication credentials",
            "Credentials not correct",
        ],
    ),
    (
        Cause::Unreachable,
        &[
            "Connection refused",
            "Failed to establish a new connection",
            "tcp connect error",
            "dns error",
            "Name or service not known",
            "Temporary failure in name resolution",
            "Network is unreachable",
            "timed out",
            "Max retries exceeded",
            "certificate verify failed",
            "invalid peer certificate",
            "Failed to fetch",
        ],
    ),
    (
        Cause::HashMismatch,
        &["Hash mismatch for", "DO NOT MATCH THE HASHES"],
    ),
    (
        Cause::HashMissing,
        &[
            "all requirements must have a hash",
            "Hashes are required in --require-hashes mode",
        ],
    ),
    (
        Cause::FindLinks,
        &[
            "Failed to read `--find-links` directory",
            "it is either a non-existing path",
        ],
    ),
    (
        Cause::Syntax,
        &["Couldn't parse requirement", "Invalid requirement:"],
    ),
    (
        Cause::NoWheel,
        &[
            "has no wheels with a matching",
            "has no usable wheels",
            "no wheels are available",
        ],
    ),
    (Cause::NotFound, &["was not found in the"]),
    (Cause::VersionNotFound, &["there is no version of"]),
    (Cause::NoWheelOrNotFound, &["(from versions: none)"]),
    (Cause::VersionNotFound, &["(from versions: "]),
];

/// An install error the same inputs reproduce (no wheel for the target, no such package or
/// version), as opposed to a network, credential or disk failure: a build may remember it
/// rather than run the installer again. Displays as the error it wraps.
#[derive(Debug)]
pub struct Deterministic(pub String);

impl std::fmt::Display for Deterministic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Deterministic {}

/// `e` marked as `Deterministic` when every cause is one the same inputs reproduce.
pub fn mark(e: anyhow::Error, causes: &[Cause]) -> anyhow::Error {
    if !causes.is_empty() && causes.iter().all(|c| c.per_requirement()) {
        anyhow::Error::new(Deterministic(format!("{e:#}")))
    } else {
        e
    }
}

pub fn classify(text: &str) -> Cause {
    SIGNS
        .iter()
        .find(|(_, signs)| signs.iter().any(|s| text.contains(s)))
        .map_or(Cause::Other, |(c, _)| *c)
}

impl Cause {
    /// A failure of some requirement to resolve, rather than of the installer or the network:
    /// worth trying each requirement alone to name every one that fails.
    pub fn per_requirement(self) -> bool {
        matches!(
            self,
            Cause::NoWheel | Cause::NotFound | Cause::VersionNotFound | Cause::NoWheelOrNotFound
        )
    }

    /// What went wrong, after "package `x` cannot be installed for python3.13 on x86_64: ".
    pub fn what(self, cfg: &Config) -> String {
        match self {
            Cause::NoWheel => format!(
                "no wheel for python{} on {} (cp{} manylinux or pure Python)",
                cfg.python,
                cfg.arch,
                cp(cfg)
            ),
            Cause::NotFound => "no such package on the index".into(),
            Cause::VersionNotFound => "no such version".into(),
            Cause::NoWheelOrNotFound => "no such package, or no wheel for this target".into(),
            Cause::Credentials => "the package index refused the credentials".into(),
            Cause::Unreachable => "the package index cannot be reached".into(),
            Cause::FindLinks => "a find_links directory does not exist".into(),
            Cause::Syntax => "a line of the requirements is not a requirement".into(),
            Cause::DiskFull => "the disk is full".into(),
            Cause::HashMismatch => {
                "a wheel is not the one the lock was made with (its sha256 differs)".into()
            }
            Cause::HashMissing => "a line of the lock has no --hash (edited by hand?)".into(),
            Cause::Other => "the installer failed".into(),
        }
    }

    pub fn fix(self, cfg: &Config, requirements: &Path) -> String {
        let req = requirements.display();
        let lock = requirements.file_name() == Some(super::lock::FILE.as_ref());
        if lock && self.per_requirement() {
            return format!(
                "{req} pins a version the index or wheelhouse no longer serves: bring its wheel \
                 back, or re-resolve that package with `cargo xtask lock --upgrade PACKAGE`"
            );
        }
        let indexes = "index_url / extra_index_urls under [installer_options] in xtask.toml \
                       (else pip.conf, PIP_INDEX_URL or UV_DEFAULT_INDEX)";
        match self {
            Cause::NoWheel => format!(
                "pin a version that publishes a cp{} manylinux wheel for {} (or a pure-Python wheel) in {req}",
                cp(cfg),
                cfg.arch
            ),
            Cause::NotFound => format!(
                "check the package name in {req}; a private package needs its index in {indexes}, \
                 or its wheels in a find_links folder"
            ),
            Cause::VersionNotFound => {
                format!("pin a version the index has (the installer lists them above) in {req}")
            }
            Cause::NoWheelOrNotFound => format!(
                "check the name and version in {req} exist on the index, and pin a version that \
                 publishes a cp{} manylinux wheel for {} (or a pure-Python wheel)",
                cp(cfg),
                cfg.arch
            ),
            Cause::Credentials => format!(
                "check the user and token of the index URL in {indexes}; the token may have expired"
            ),
            Cause::Unreachable => format!(
                "check the network (proxy, VPN) and the index URL in {indexes}, \
                 or build offline from a wheelhouse with find_links and no_index = true"
            ),
            Cause::FindLinks => "create the folder, or fix or remove the find_links entry \
                                 (xtask.toml [installer_options], or a --find-links line of the requirements)"
                .into(),
            Cause::Syntax => format!(
                "correct the line (a requirement looks like `name==1.2.3`) or comment it out with # in {req}"
            ),
            Cause::DiskFull => "free disk space (the dependency cache is .xtask/deps in the stack; \
                                `uv cache clean` or `pip cache purge` free the installers' caches), then build again"
                .into(),
            Cause::HashMismatch => "find out why the index or wheelhouse serves other bytes \
                                    under the same file name (a re-published or tampered wheel); \
                                    only if the new wheel is trusted, `cargo xtask lock --upgrade \
                                    PACKAGE` records its hash"
                .into(),
            Cause::HashMissing => "`cargo xtask lock` rewrites the lock with the sha256 of \
                                   every wheel; add packages to requirements.txt, not to the lock"
                .into(),
            Cause::Other => format!("fix what the installer reports above in {req}"),
        }
    }
}

fn cp(cfg: &Config) -> String {
    cfg.python.replace('.', "")
}

/// `file:line` of the line an installer could not parse, from uv's "Couldn't parse requirement
/// in `FILE` at position N" or pip's "(from line N of FILE)".
pub fn syntax_location(text: &str) -> Option<String> {
    if let Some(i) = text.find("Couldn't parse requirement in `") {
        let rest = &text[i + "Couldn't parse requirement in `".len()..];
        let (file, rest) = rest.split_once("` at position ")?;
        let pos: usize = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        let bytes = std::fs::read(file).ok()?;
        let line = bytes[..pos.min(bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        return Some(format!("{file}:{line}"));
    }
    let i = text.find("(from line ")?;
    let rest = &text[i + "(from line ".len()..];
    let (line, rest) = rest.split_once(" of ")?;
    let file = rest.split(')').next()?;
    Some(format!("{file}:{line}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The installers' real words (uv 0.13, pip 23.2) for each failure, made by hand.
    #[test]
    fn causes_from_uv_and_pip() {
        let cases: &[(&str, Cause)] = &[
            ("  cause: Because armonly==1.0 has no wheels with a matching platform tag (e.g., `manylinux_2_34_x86_64`) and you require armonly==1.0", Cause::NoWheel),
            ("  cause: Because nosuch was not found in the provided package locations and you require nosuch==1.0", Cause::NotFound),
            ("  cause: Because there is no version of pure==9.9 and you require pure==9.9", Cause::VersionNotFound),
            ("ERROR: Could not find a version that satisfies the requirement pure==9.9 (from versions: 1.0)", Cause::VersionNotFound),
            ("ERROR: Could not find a version that satisfies the requirement nosuch==1.0 (from versions: none)", Cause::NoWheelOrNotFound),
            ("  cause: Because pure was not found in the package registry\nhint: An index URL (http://127.0.0.1:1/simple) could not be queried due to a lack of valid authentication credentials (401 Unauthorized)", Cause::Credentials),
            ("WARNING: 401 Error, Credentials not correct for http://127.0.0.1:1/simple/pure/\nERROR: Could not find a version that satisfies the requirement pure==1.0 (from versions: none)", Cause::Credentials),
            ("  cause: tcp connect error\n  cause: Connection refused (os error 111)", Cause::Unreachable),
            ("WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError(': Failed to establish a new connection: [Errno 111] Connection refused')': /simple/pure/\nERROR: No matching distribution found for pure==1.0 (from versions: none)", Cause::Unreachable),
            ("error: Failed to read `--find-links` directory: /nonexistent/wh\n  cause: No such file or directory (os error 2)", Cause::FindLinks),
            ("WARNING: Location '/nonexistent/wh' is ignored: it is either a non-existing path or lacks a specific scheme.", Cause::FindLinks),
            ("error: Couldn't parse requirement in `r.txt` at position 10", Cause::Syntax),
            ("ERROR: Invalid requirement: 'this is not valid!!' (from line 2 of r.txt)", Cause::Syntax),
            ("error: Failed to write to the target: No space left on device (os error 28)", Cause::DiskFull),
            ("ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device", Cause::DiskFull),
            ("error: Failed to download `acme==1.3.0`\n  cause: Hash mismatch for `acme==1.3.0`", Cause::HashMismatch),
            ("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.", Cause::HashMismatch),
            ("error: In `--require-hashes` mode, all requirements must have a hash, but none were provided for: six==1.17.0", Cause::HashMissing),
            ("ERROR: Hashes are required in --require-hashes mode, but they are missing from some requirements.", Cause::HashMissing),
            ("  cause: Because a==1 depends on b==1 and you require b==2, we can conclude that your requirements are unsatisfiable.", Cause::Other),
        ];
        for (text, want) in cases {
            assert_eq!(classify(text), *want, "{text}");
        }
    }

    #[test]
    fn syntax_errors_are_located_by_line() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("requirements.txt");
        std::fs::write(&f, "pure==1.0\nthis is not valid!!\n").unwrap();
        let uv = format!(
            "error: Couldn't parse requirement in `{}` at position 10\n",
            f.display()
        );
        assert_eq!(syntax_location(&uv), Some(format!("{}:2", f.display())));
        let pip = "ERROR: Invalid requirement: 'x y' (from line 7 of /s/requirements.txt)";
        assert_eq!(
            syntax_location(pip).as_deref(),
            Some("/s/requirements.txt:7")
        );
    }
}
