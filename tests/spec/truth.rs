//! Tell the truth: errors that say what went wrong and how to fix it, printed once, and
//! progress that says what runs (issue 8 §4).

use crate::common::*;

#[test]
fn a_directory_without_packages_is_not_a_stack_and_nothing_is_written_there() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("README.md"), "not a stack\n");
    let out = run({
        let mut c = std::process::Command::new(xtask_bin());
        c.args(["build", "--stack"])
            .arg(dir.path())
            .env("NO_COLOR", "1");
        c
    })
    .fails();
    assert!(
        out.stderr
            .contains("is not a CORA stack: it has no packages/ directory"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("packages/module-<name>/backend/lambdas/<function>/lambda_function.py"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("built"), "{}", out.stdout);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["README.md"]);
}

const PROVIDER_REQS: &str = "packages/module-ai/backend/lambdas/provider/requirements.txt";

#[test]
fn a_failed_artifacts_error_is_printed_once_by_build_and_by_plan() {
    let d = Demo::new();
    d.write(PROVIDER_REQS, "nosuchpkg==1.0\n");
    let bin = fake_terraform(d.tmp.path());
    let once = |out: &Out, what: &str| {
        let n = out
            .stderr
            .matches("nosuchpkg==1.0, we can conclude")
            .count()
            + out
                .stderr
                .matches("No matching distribution found for nosuchpkg")
                .count();
        assert_eq!(n, 1, "{what}: the error {n} times in:\n{}", out.stderr);
    };
    once(&d.xtask(&["build", "--module", "ai"]).fails(), "build");
    once(
        &d.xtask(&["build", "--module", "ai", "--json"]).fails(),
        "build --json",
    );
    let plan = d.xtask_env(&["plan"], &[("TF_BIN", bin.to_str().unwrap())]);
    once(&plan.fails(), "plan");
}

#[test]
fn the_progress_says_dependencies_cached_when_no_installer_runs() {
    let d = Demo::new();
    d.write(PROVIDER_REQS, "alpha==1.0\n");
    let first = d.xtask(&["build", "--module", "ai"]).ok();
    assert!(
        first
            .stderr
            .contains("module-ai/provider: installing dependencies"),
        "{}",
        first.stderr
    );
    // A code edit: the zip is rebuilt, the dependencies come from the cache.
    let handler = "packages/module-ai/backend/lambdas/provider/lambda_function.py";
    d.write(handler, &(d.read(handler) + "\n# edited\n"));
    std::fs::remove_dir_all(d.tmp.path().join("wheelhouse")).unwrap();
    let second = d.xtask(&["build", "--module", "ai"]).ok();
    assert!(
        second
            .stderr
            .contains("module-ai/provider: dependencies (cached)"),
        "{}",
        second.stderr
    );
    assert!(!second.stderr.contains("installing"), "{}", second.stderr);
}

/// The provider's error after a build with `installer` of `reqs`, `config` being the whole
/// xtask.toml (None: the local wheelhouse with no index).
fn provider_error(d: &Demo, installer: &str, reqs: &str, config: Option<&str>) -> String {
    match config {
        Some(toml) => d.write(
            "xtask.toml",
            &format!("installer = \"{installer}\"\n{toml}"),
        ),
        None => d.config(&format!("installer = \"{installer}\"")),
    }
    d.write(PROVIDER_REQS, reqs);
    // One retry: an unreachable index fails soon (pip says why only when it retries).
    let env = [("PIP_RETRIES", "1"), ("UV_HTTP_RETRIES", "0")];
    let out = d
        .xtask_env(&["build", "--json", "--module", "ai"], &env)
        .fails();
    artifacts(&out.json())["module-ai/provider"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", out.stdout))
        .to_string()
}

const WRONG_HINT: &str = "pin a version that publishes";

#[track_caller]
fn says(err: &str, installer: &str, wants: &[&str]) {
    for w in wants {
        assert!(err.contains(w), "{installer}: {w:?} missing from:\n{err}");
    }
}

#[test]
fn the_hint_matches_a_missing_package_or_version_or_wheel() {
    let d = Demo::new();
    for installer in ["uv", "pip"] {
        let err = provider_error(&d, installer, "beta==9.9\n", None);
        says(
            &err,
            installer,
            &[
                "package `beta`",
                "no such version",
                "pin a version the index has",
            ],
        );
        assert!(!err.contains(WRONG_HINT), "{installer}: {err}");
    }
    let err = provider_error(&d, "uv", "nosuchpkg==1.0\n", None);
    says(
        &err,
        "uv",
        &["no such package on the index", "check the package name"],
    );
    assert!(!err.contains(WRONG_HINT), "{err}");
    // pip says "(from versions: none)" alike for both: the hint covers both.
    let err = provider_error(&d, "pip", "nosuchpkg==1.0\n", None);
    says(
        &err,
        "pip",
        &[
            "no such package, or no wheel for this target",
            "check the name and version",
        ],
    );
    d.set_attr(
        "module-ai",
        "aws_lambda_function",
        "provider",
        "architectures",
        "[\"arm64\"]",
    );
    let err = provider_error(&d, "uv", "fastc==0.1\n", None);
    says(
        &err,
        "uv",
        &[
            "package `fastc` cannot be installed for python3.13 on arm64: no wheel",
            WRONG_HINT,
        ],
    );
}

#[test]
fn the_hint_matches_an_unreachable_index_or_refused_credentials() {
    let d = Demo::new();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let closed = "[installer_options]\nindex_url = \"http://127.0.0.1:9/simple\"\n";
    let refusing = refusing_index();
    let creds =
        format!("[installer_options]\nindex_url = \"http://me:s3cret@{refusing}/simple\"\n");
    for installer in ["uv", "pip"] {
        let err = provider_error(&d, installer, "alpha==1.0\n", Some(closed));
        says(
            &err,
            installer,
            &["the package index cannot be reached", "check the network"],
        );
        assert!(!err.contains(WRONG_HINT), "{installer}: {err}");
        let err = provider_error(&d, installer, "alpha==1.0\n", Some(&creds));
        says(
            &err,
            installer,
            &[
                "the package index refused the credentials",
                "check the user and token",
            ],
        );
        assert!(
            !err.contains(WRONG_HINT) && !err.contains("s3cret"),
            "{installer}: {err}"
        );
    }
}

/// A package index on loopback that answers every request with 401, as one does to a bad token.
fn refusing_index() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let _ = std::io::Write::write_all(
                &mut s,
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"index\"\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    addr
}

#[test]
fn the_hint_matches_a_missing_find_links_folder_or_a_syntax_error() {
    let d = Demo::new();
    let gone = "[installer_options]\nfind_links = [\"../no-such-wheelhouse\"]\nno_index = true\n";
    for installer in ["uv", "pip"] {
        let err = provider_error(&d, installer, "alpha==1.0\n", Some(gone));
        says(
            &err,
            installer,
            &["no-such-wheelhouse does not exist", "create the folder"],
        );
        assert!(!err.contains(WRONG_HINT), "{installer}: {err}");
        let err = provider_error(&d, installer, "alpha==1.0\nthis is not valid!!\n", None);
        says(
            &err,
            installer,
            &[
                "requirements.txt:2: a line of the requirements is not a requirement",
                "correct the line",
            ],
        );
        assert!(!err.contains(WRONG_HINT), "{installer}: {err}");
    }
}

#[test]
fn every_unsatisfiable_requirement_is_named_not_only_the_first() {
    let d = Demo::new();
    // A pin that fails through its own dependency: the installers blame the dependency.
    Wheelhouse::new(&d.tmp.path().join("wheelhouse")).wheel(
        "gamma",
        "1.0",
        "py3-none-any",
        &[("gamma/__init__.py", "G = 1\n")],
        &["nosuchdep>=1"],
    );
    // As the real stack had it: psycopg2-binary==2.9.9 failed first and hid tiktoken==0.5.2.
    let reqs = "nosuchpkg==1.0\nalpha==1.0\ngamma==1.0\n# pinned for the tokenizer\nbeta==9.9\n";
    for installer in ["uv", "pip"] {
        let err = provider_error(&d, installer, reqs, None);
        says(
            &err,
            installer,
            &[
                "3 packages cannot be installed for python3.13 on x86_64: `nosuchpkg`, `gamma`, `beta`",
                "requirements.txt:1: `nosuchpkg==1.0`",
                "requirements.txt:3: `gamma==1.0`",
                "nosuchdep",
                "requirements.txt:5: `beta==9.9`: no such version",
            ],
        );
        assert!(!err.contains("`alpha"), "{installer}: {err}");
    }
}

#[test]
fn the_hint_matches_a_full_disk() {
    let d = Demo::new();
    // A full disk cannot be made hermetically: installers that fail as uv and pip do on ENOSPC.
    let bin = d.tmp.path().join("full-disk-bin");
    for (name, words, code) in [
        (
            "uv",
            "error: Failed to install: alpha-1.0-py3-none-any.whl (alpha==1.0)\n  \
             Caused by: failed to write to file `alpha/__init__.py`: No space left on device (os error 28)",
            2,
        ),
        (
            "python3",
            "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device",
            1,
        ),
    ] {
        let script = bin.join(name);
        write(&script, &format!("#!/bin/sh\ncat >&2 <<'EOF'\n{words}\nEOF\nexit {code}\n"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    d.write(PROVIDER_REQS, "alpha==1.0\n");
    for installer in ["uv", "pip"] {
        d.config(&format!("installer = \"{installer}\""));
        let out = d
            .xtask_env(&["build", "--json", "--module", "ai"], &[("PATH", &path)])
            .fails();
        let err = artifacts(&out.json())["module-ai/provider"]["error"]
            .as_str()
            .unwrap()
            .to_string();
        says(&err, installer, &["the disk is full", "free disk space"]);
        assert!(!err.contains(WRONG_HINT), "{installer}: {err}");
    }
}
