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
