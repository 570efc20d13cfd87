//! Fault specs: smoke. What an import leaves running, a wrong interpreter setting, a run that
//! imports nothing, the bundled demo, and a SIGTERM mid-import.

use std::process::{Command, Stdio};

use super::build::{alive, signal_and_wait, wait_for};
use crate::common::*;
use crate::smoke::python313;

const PROFILES: &str = "packages/module-access/backend/lambdas/profiles/lambda_function.py";

/// The demo with `[smoke] python` set to the test interpreter.
fn demo_with(python: &std::path::Path) -> Demo {
    let d = Demo::new();
    d.config(&format!(
        "[smoke]\npython = {:?}",
        python.display().to_string()
    ));
    d
}

/// Prepends `code` to the profiles function's module scope.
fn at_import(d: &Demo, code: &str) {
    let source = d.read(PROFILES);
    d.write(PROFILES, &format!("{code}\n{source}"));
}

/// Issue 22, item 10: `subprocess.Popen(["sleep", "300"])` at import time outlived smoke.
#[test]
fn a_process_an_import_starts_does_not_outlive_smoke() {
    let Some(python) = python313() else { return };
    let d = demo_with(&python);
    let pid_file = d.tmp.path().join("sleep-pid");
    at_import(
        &d,
        &format!(
            "import subprocess\n_p = subprocess.Popen([\"sleep\", \"300\"])\n\
             open({:?}, \"w\").write(str(_p.pid))\n",
            pid_file.display().to_string()
        ),
    );
    d.xtask(&["smoke", "--module", "access"]).ok();
    let pid = std::fs::read_to_string(&pid_file).expect("the import ran");
    let gone = wait_for(5, || !alive(&pid));
    if !gone {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    }
    assert!(gone, "sleep {pid}, started at import time, outlived smoke");
}

/// Issue 22, item 11: a `[smoke] python` that does not exist was "no interpreter found": exit 0,
/// every function skipped. A setting that is wrong is an error naming it and the fix.
#[test]
fn a_smoke_python_setting_that_does_not_exist_is_an_error_naming_it() {
    let d = Demo::new();
    d.config("[smoke]\npython = \"/nonexistent/python3.13\"");
    let out = d.xtask(&["smoke", "--no-build"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let toml = d.path("xtask.toml").display().to_string();
    assert!(
        out.stderr.contains(&format!("{toml}:2")),
        "names the file and line: {}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("[smoke] python = \"/nonexistent/python3.13\": not found"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("fix: point `python` under [smoke]"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("skipped"), "{}", out.stdout);
}

/// Issue 22, item 17: Terraform declares another runtime than the build's for every function:
/// all skipped, exit 0. Nothing imported is an error, unless `--allow-skip`.
#[test]
fn a_smoke_that_imports_nothing_fails_unless_skips_are_allowed() {
    let Some(python) = python313() else { return };
    let d = demo_with(&python);
    for tf in [
        "packages/module-access/infrastructure/main.tf",
        "packages/module-ai/infrastructure/main.tf",
        "packages/module-mgmt/infrastructure/main.tf",
    ] {
        let text = d.read(tf).replace(
            "runtime          = \"python3.13\"",
            "runtime          = \"python3.12\"",
        );
        d.write(tf, &text);
    }
    let infra_tf = d.infra.join("envs/dev/main.tf");
    let text = std::fs::read_to_string(&infra_tf).unwrap().replace(
        "runtime          = \"python3.13\"",
        "runtime          = \"python3.12\"",
    );
    std::fs::write(&infra_tf, text).unwrap();

    let out = d.xtask(&["smoke"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("smoke imported nothing: all 8 functions were skipped"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("runs python3.12"), "{}", out.stderr);
    assert!(out.stderr.contains("--allow-skip"), "{}", out.stderr);
    d.xtask(&["smoke", "--allow-skip"]).ok();
}

/// Issue 22, item 20: the demo's wheelhouse had no boto3 for the runtime emulation, so smoke
/// skipped 7 of its 8 functions and plan printed the installer's "No solution found".
#[test]
fn the_demo_imports_every_function_with_its_own_wheelhouse() {
    let Some(python) = python313() else { return };
    let d = demo_with(&python);
    let out = d.xtask(&["smoke", "--json"]).ok();
    let functions = out.json()["functions"].as_array().unwrap().clone();
    assert_eq!(functions.len(), 8, "{functions:#?}");
    for f in &functions {
        assert_eq!(f["status"], "passed", "{f:#}");
    }
    assert!(!out.stderr.contains("No solution found"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("cannot be installed"),
        "{}",
        out.stderr
    );
}

/// Issue 22, item 6: SIGTERM mid-import exits 143 (SIGINT 130), as every command does, and
/// the interpreter importing is stopped with the xtask.
#[test]
fn a_sigterm_to_smoke_exits_143_and_stops_the_import() {
    let Some(python) = python313() else { return };
    let d = demo_with(&python);
    let pid_file = d.tmp.path().join("import-pid");
    at_import(
        &d,
        &format!(
            "import os, time\nopen({:?}, \"w\").write(str(os.getpid()))\ntime.sleep(300)\n",
            pid_file.display().to_string()
        ),
    );
    d.config(&format!(
        "[smoke]\npython = {:?}\ntimeout = 600",
        python.display().to_string()
    ));
    d.xtask(&["build"]).ok();
    let mut child = Command::new(xtask_bin())
        .args(["smoke", "--no-build", "--module", "access", "--stack"])
        .arg(&d.stack)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = wait_for(60, || {
        std::fs::read_to_string(&pid_file).is_ok_and(|p| !p.is_empty())
    });
    if !started {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the import never started");
    }
    let import = std::fs::read_to_string(&pid_file).unwrap();
    let Some(status) = signal_and_wait(&mut child, "TERM") else {
        let _ = child.kill();
        let _ = Command::new("kill").args(["-KILL", &import]).status();
        panic!("smoke did not stop within 10 s of SIGTERM");
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    let gone = wait_for(5, || !alive(&import));
    if !gone {
        let _ = Command::new("kill").args(["-KILL", &import]).status();
    }
    assert_eq!(status.code(), Some(143), "{status:?}\n{stderr}");
    assert!(stderr.contains("cancelled (SIGTERM)"), "{stderr}");
    assert!(gone, "the import {import} outlived smoke");
}
