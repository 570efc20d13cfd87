//! Fault specs: the command line — usage errors exit 64 wherever they are found, and every
//! command honours `--json` (or refuses it with 64).

use crate::common::*;

/// Refused terraform arguments after `--` exited 1 like a failed plan (issue 22, item 13).
#[test]
fn refused_terraform_arguments_are_a_usage_error() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let tf = bin.to_str().unwrap();
    for (cmd, arg) in [
        ("plan", "-out=x"),
        ("plan", "-var=db_password=x"),
        ("plan", "-detailed-exitcode"),
        ("deploy", "-state=elsewhere"),
    ] {
        let out = d.xtask(&[cmd, "--tf-bin", tf, "--", arg]);
        assert_eq!(out.code, 64, "{cmd} -- {arg}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("`{arg}` cannot be passed")),
            "{}",
            out.stderr
        );
    }
    // Refused before anything ran: no build, no terraform.
    assert_eq!(record(&bin), "");
    assert!(!d.path("packages/module-access/backend/.build").exists());
    // Arguments that cannot go with the env's stages are a usage error too.
    d.config("[terraform]\nstages = [[\"module.module_access\"]]\n");
    let out = d.xtask(&["deploy", "--tf-bin", tf, "--", "-target=module.x"]);
    assert_eq!(out.code, 64, "{}", out.stderr);
}

/// `clean --json` printed plain text, and nothing at all with nothing to remove (issue 22,
/// item 5).
#[test]
fn clean_answers_json_and_says_when_there_was_nothing() {
    let d = Demo::new();
    d.xtask(&["build", "--module", "access"]).ok();
    let out = d.xtask(&["clean", "--json"]).ok();
    let removed: Vec<String> = out.json()["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert!(
        removed.iter().any(|p| p.ends_with("orgs.zip")),
        "{removed:?}"
    );
    let out = d.xtask(&["clean", "--json"]).ok();
    assert_eq!(out.json(), serde_json::json!({ "removed": [] }));
    let out = d.xtask(&["clean"]).ok();
    assert_eq!(out.stdout, "nothing to remove\n");
}

/// Every command that reports answers `--json` with one JSON document on stdout, whether it
/// succeeds or not (the audit of issue 22, item 5; plan, apply, deploy, verify and smoke have
/// their own specs).
#[test]
fn every_offline_command_answers_json_on_stdout() {
    let d = Demo::new();
    for args in [
        &["build", "--json"][..],
        &["check", "--json"],
        &["check", "--fix", "--dry-run", "--json"],
        &["size", "--json"],
        &["clean", "--json"],
    ] {
        let out = d.xtask(args);
        assert!(out.json().is_object(), "{args:?}: {}", out.stdout);
    }
}
