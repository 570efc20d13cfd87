//! `cargo xtask build`: discovery, layouts, reproducibility, caching, failures.

use crate::common::*;

#[test]
fn demo_builds_every_function_and_layer_with_contract_names() {
    let d = Demo::new();
    let out = d.xtask(&["build", "--json"]).ok();
    let arts = artifacts(&out.json());
    let names: Vec<&str> = arts.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "infra/api-gateway-authorizer",
            "module-access/members",
            "module-access/org-common",
            "module-access/org-email-domains",
            "module-access/orgs",
            "module-access/profiles",
            "module-ai/ai-common",
            "module-ai/ai-config",
            "module-ai/provider",
            "module-mgmt/lambda-mgmt",
            "module-mgmt/mgmt_common",
        ]
    );
    for a in arts.values() {
        assert_eq!(a["status"], "built");
        assert!(std::path::Path::new(a["path"].as_str().unwrap()).is_file());
    }
    let access = d.path("packages/module-access/backend/.build");
    assert!(access.join("org-email-domains.zip").is_file());
    assert!(access.join("org-common-layer.zip").is_file());
    assert!(d
        .path("packages/module-mgmt/backend/.build/mgmt_common-layer.zip")
        .is_file());
    assert!(d.infra.join("build/authorizer.zip").is_file());
}
