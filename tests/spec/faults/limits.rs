//! Fault specs: limits.

use crate::common::{artifacts, Demo};

/// Lambda's 250 MiB (function + layers, unzipped) is checked before the new zip is moved into
/// place: a build that fails it keeps the previous good zip, and the state still describes that
/// zip, so nothing downstream (`check`, `plan --no-build`, the next build) takes the failed one.
#[test]
fn the_250_mib_limit_is_checked_before_the_zip_is_replaced() {
    let d = Demo::new();
    // Zeros: small zipped, large unzipped, and sparse on disk.
    let grow = |rel: &str, len: u64| {
        std::fs::File::create(d.path(rel))
            .unwrap()
            .set_len(len)
            .unwrap()
    };
    grow(
        "packages/module-ai/backend/layers/ai-common/python/ai_common/model.bin",
        200_000_000,
    );
    d.xtask(&["build", "--module", "ai"]).ok();
    let zip = d.path("packages/module-ai/backend/.build/ai-config.zip");
    let good = std::fs::read(&zip).unwrap();

    let blob = "packages/module-ai/backend/lambdas/ai-config/weights.bin";
    grow(blob, 70_000_000);
    for _ in 0..2 {
        let out = d.xtask(&["build", "--json", "--module", "ai"]).fails();
        let arts = artifacts(&out.json());
        let err = arts["module-ai/ai-config"]["error"].as_str().unwrap();
        assert!(err.contains("over Lambda's 250 MiB limit"), "{err}");
        assert!(err.contains("module-ai/ai-common"), "{err}");
        assert!(err.contains("previous zip was kept"), "{err}");
        assert_eq!(arts["module-ai/provider"]["status"], "cached");
        assert!(
            std::fs::read(&zip).unwrap() == good,
            "the failed build replaced ai-config.zip"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(zip.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Back to the sources of the good zip: the state still describes it, so it is current.
    std::fs::remove_file(d.path(blob)).unwrap();
    let arts = artifacts(&d.xtask(&["build", "--json", "--module", "ai"]).ok().json());
    assert_eq!(arts["module-ai/ai-config"]["status"], "cached");
    assert_eq!(std::fs::read(&zip).unwrap(), good);
}
