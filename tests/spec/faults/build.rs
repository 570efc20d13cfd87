//! Fault specs: build. Zip-path collisions, a damaged dependency cache, what an interrupted
//! build leaves behind, and a full disk.

use crate::common::*;

/// Issue 9, item 2: function `ai-common-layer` and layer `ai-common` both map to
/// `ai-common-layer.zip`; built, each overwrote the other and the table lied about the hash.
#[test]
fn two_artifacts_mapping_to_one_zip_fail_naming_both_sources_and_write_no_zip() {
    let d = Demo::new();
    d.write(
        "packages/module-ai/backend/lambdas/ai-common-layer/lambda_function.py",
        "def lambda_handler(event, context):\n    return {}\n",
    );
    let out = d.xtask(&["build", "--json"]).fails();
    let arts = artifacts(&out.json());
    for id in ["module-ai/ai-common-layer", "module-ai/ai-common"] {
        let a = &arts[id];
        assert_eq!(a["status"], "failed", "{id}: {a}");
        let error = a["error"].as_str().unwrap();
        for src in [
            "packages/module-ai/backend/lambdas/ai-common-layer",
            "packages/module-ai/backend/layers/ai-common",
        ] {
            assert!(error.contains(src), "{id}: {error}");
        }
        assert!(error.contains("ai-common-layer.zip"), "{error}");
    }
    assert_eq!(arts["module-ai/ai-common"]["kind"], "layer");
    assert!(!d
        .path("packages/module-ai/backend/.build/ai-common-layer.zip")
        .exists());
    // The rest of the stack still builds.
    assert_eq!(arts["module-ai/ai-config"]["status"], "built");
}

/// The one `.xtask/deps/<key>` directory holding `package`.
fn deps_entry_with(d: &Demo, package: &str) -> std::path::PathBuf {
    let entries: Vec<_> = std::fs::read_dir(d.path(".xtask/deps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join(package).is_dir())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

/// Issue 9, item 4: a package directory deleted inside a cache entry was trusted, and the
/// layer shipped without it.
#[test]
fn a_damaged_dependency_cache_entry_is_reinstalled_not_shipped() {
    let d = Demo::new();
    d.xtask(&["build", "--module", "access"]).ok();
    let entry = deps_entry_with(&d, "dateutil");
    std::fs::remove_dir_all(entry.join("dateutil")).unwrap();
    // The layer's code changes, so it rebuilds and reads the damaged entry.
    d.write(
        "packages/module-access/backend/layers/org-common/python/org_common/extra.py",
        "X = 1\n",
    );
    let out = d.xtask(&["build", "--module", "access"]).ok();
    assert!(
        out.stderr.contains("damaged") && out.stderr.contains("dateutil/"),
        "{}",
        out.stderr
    );
    let names = zip_names(&d.path("packages/module-access/backend/.build/org-common-layer.zip"));
    for want in ["python/dateutil/__init__.py", "python/org_common/extra.py"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    assert!(entry.join("dateutil/__init__.py").is_file());
}

/// Issue 9, item 5: interrupted builds left `.xtask-*.zip.tmp` files next to the zips and
/// `.xtask/deps/.tmp-*` trees that nothing removed, `clean` included.
#[test]
fn leftovers_of_an_interrupted_build_are_removed_by_the_next_build_and_by_clean() {
    let d = Demo::new();
    let leave = |d: &Demo| {
        let zip_tmp = d.path("packages/module-ai/backend/.build/.xtask-Ab12Cd.zip.tmp");
        write(&zip_tmp, "half a zip");
        let deps_tmp = d.path(".xtask/deps/.tmp-Xy34Zw");
        write(&deps_tmp.join("six.py"), "half an install");
        (zip_tmp, deps_tmp)
    };
    let (zip_tmp, deps_tmp) = leave(&d);
    // Not leftovers: a user's file that merely looks alike must stay.
    let own = d.path("packages/module-ai/backend/.build/notes.zip.tmp");
    write(&own, "mine");
    d.xtask(&["build"]).ok();
    assert!(!zip_tmp.exists() && !deps_tmp.exists());
    assert!(own.exists());

    let (zip_tmp, deps_tmp) = leave(&d);
    let out = d.xtask(&["clean"]).ok();
    assert!(!zip_tmp.exists() && !deps_tmp.exists());
    assert!(
        out.stdout.contains(".xtask-Ab12Cd.zip.tmp"),
        "{}",
        out.stdout
    );
    assert!(own.exists());
}
