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
