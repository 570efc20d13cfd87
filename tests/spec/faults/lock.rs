//! Fault specs: lock. A lock that cannot be resolved says as much as a build that cannot
//! install.

use crate::common::*;

const REQS: &str = "packages/module-ai/backend/lambdas/provider/requirements.txt";

/// Issue 22, item 16: `lock` gave uv's first complaint only ("psycopg2") where `build` named
/// every requirement that cannot be installed (tiktoken too), with its file:line and the fix.
#[test]
fn a_lock_that_cannot_resolve_names_every_unsatisfiable_pin_with_its_line_and_fix() {
    let d = Demo::new();
    Wheelhouse::new(&d.tmp.path().join("wheelhouse")).wheel(
        "gamma",
        "1.0",
        "py3-none-any",
        &[("gamma/__init__.py", "G = 1\n")],
        &["nosuchdep>=1"],
    );
    d.write(
        REQS,
        "nosuchpkg==1.0\nalpha==1.0\ngamma==1.0\n# pinned for the tokenizer\nbeta==9.9\n",
    );
    let uv_cache = d.tmp.path().join("uv-cache");
    let out = d
        .xtask_env(
            &["lock", "--json", "--module", "ai"],
            &[("UV_CACHE_DIR", uv_cache.to_str().unwrap())],
        )
        .fails();
    let json = out.json();
    let provider = json["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["artifact"] == "module-ai/provider")
        .unwrap()
        .clone();
    assert_eq!(provider["status"], "failed");
    let err = provider["error"].as_str().unwrap();
    for want in [
        "3 packages cannot be installed for python3.13 on x86_64: `nosuchpkg`, `gamma`, `beta`",
        "requirements.txt:1: `nosuchpkg==1.0`",
        "requirements.txt:3: `gamma==1.0`",
        "nosuchdep",
        "requirements.txt:5: `beta==9.9`: no such version",
        "fix: pin a version the index has",
        "fix: check the package name",
    ] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }
    assert!(!err.contains("`alpha"), "{err}");
    assert!(
        out.stderr.contains("module-ai/provider: "),
        "{}",
        out.stderr
    );
    assert!(!d
        .path("packages/module-ai/backend/lambdas/provider/requirements.lock")
        .exists());
}
