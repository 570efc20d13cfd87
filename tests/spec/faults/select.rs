//! Fault specs: select (which files of a source tree ship, and how its walk fails).

use std::os::unix::ffi::OsStrExt;

use crate::common::*;

const ORGS: &str = "packages/module-access/backend/lambdas/orgs";

fn build_error(d: &Demo, id: &str) -> String {
    let out = d.xtask(&["build", "--json", "--module", "access"]).fails();
    artifacts(&out.json())[id]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{id} did not fail: {}", out.stdout))
        .to_string()
}

/// Two names that differ only in a non-UTF-8 byte are not merged into one entry (dropping a
/// file): the build refuses the name, quoting it.
#[test]
fn non_utf8_file_names_are_refused_with_the_path() {
    let d = Demo::new();
    let dir = d.path(ORGS);
    for name in [b"caf\xe9.py", b"caf\xe8.py"] {
        let p = dir.join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(p, "X = 1\n").unwrap();
    }
    let err = build_error(&d, "module-access/orgs");
    assert!(
        err.contains("not valid UTF-8") && err.contains(r"caf\xE8.py"),
        "{err}"
    );
}

#[test]
fn a_module_that_builds_nothing_is_named() {
    let d = Demo::new();
    d.write(
        "packages/module-reports/infrastructure/main.tf",
        "# routes only\n",
    );
    let out = d.xtask(&["build", "--module", "reports"]).ok();
    assert!(
        out.stderr.contains("warning")
            && out.stderr.contains("module-reports")
            && out.stderr.contains("no backend/"),
        "{}",
        out.stderr
    );
}

/// A tree deeper than the walk's limit is said to be one, not guessed to be a symlink loop.
#[test]
fn a_deep_real_tree_is_not_called_a_symlink_loop() {
    let d = Demo::new();
    let deep = format!("{ORGS}/{}x.py", "a/".repeat(70));
    d.write(&deep, "");
    let err = build_error(&d, "module-access/orgs");
    assert!(
        err.contains("real directory tree") && !err.contains("symlink loop?"),
        "{err}"
    );
}

#[test]
fn a_symlink_loop_is_named_as_one() {
    let d = Demo::new();
    d.write(&format!("{ORGS}/pkg/__init__.py"), "");
    std::os::unix::fs::symlink("..", d.path(&format!("{ORGS}/pkg/up"))).unwrap();
    let err = build_error(&d, "module-access/orgs");
    assert!(
        err.contains("pkg/up is a symlink to") && err.contains("symlink loop;"),
        "{err}"
    );
}

/// What never ships cannot fail the build: an editor's dangling lock link, a non-UTF-8 name
/// that a built-in rule drops.
#[test]
fn files_that_never_ship_do_not_fail_the_walk() {
    let d = Demo::new();
    let dir = d.path(ORGS);
    std::os::unix::fs::symlink("user@host.1234", dir.join(".#lambda_function.py")).unwrap();
    std::fs::write(dir.join(std::ffi::OsStr::from_bytes(b".caf\xe9.swp")), "").unwrap();
    d.xtask(&["build", "--module", "access"]).ok();
    assert_eq!(
        zip_names(&d.path("packages/module-access/backend/.build/orgs.zip")),
        ["lambda_function.py"]
    );
}
