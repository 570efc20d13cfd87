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
