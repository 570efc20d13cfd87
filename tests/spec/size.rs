//! Specs for what a zip ships and `cargo xtask size`: a distribution an attached layer already
//! carries is left out of the function, the runtime's SDK is kept or dropped as configured, and
//! `size` says what takes the room.

use crate::common::{artifacts, zip_names, Demo, Wheelhouse};

/// Some bytes, so sizes are not lost in rounding.
fn body(tag: &str) -> String {
    format!("# {tag}\n{}", "X = 1\n".repeat(2000))
}

/// The demo with `acmeclient` 1.0 in the org-common layer (module-access), and functions that
/// attach it through the layer resource (orgs, profiles) and through a variable (module-ai's
/// ai-config), as real modules do.
fn demo_with_acmeclient() -> Demo {
    let d = Demo::new();
    let w = Wheelhouse::new(&d.tmp.path().join("wheelhouse"));
    for v in ["1.0", "0.9"] {
        w.wheel(
            "acmeclient",
            v,
            "py3-none-any",
            &[("acmeclient/__init__.py", &body(v))],
            &[],
        );
    }
    let access = "packages/module-access/backend";
    d.write(
        &format!("{access}/layers/org-common/requirements.txt"),
        "python-dateutil==2.9.0.post0\nacmeclient==1.0\n",
    );
    d.write(
        &format!("{access}/lambdas/orgs/requirements.txt"),
        "acmeclient==1.0\n",
    );
    d.write(
        &format!("{access}/lambdas/profiles/requirements.txt"),
        "acmeclient==0.9\n",
    );
    d.write(
        "packages/module-ai/backend/lambdas/ai-config/requirements.txt",
        "acmeclient==1.0\n",
    );
    // members names its layer by a literal ARN: which build it is cannot be traced.
    d.write(
        &format!("{access}/lambdas/members/requirements.txt"),
        "acmeclient==1.0\n",
    );
    let tf = "packages/module-access/infrastructure/main.tf";
    let text = d.read(tf);
    let at = text.find("/members.zip\")").unwrap();
    let layers = "[aws_lambda_layer_version.org_common.arn]";
    let end = at + text[at..].find(layers).unwrap();
    let arn = "[\"arn:aws:lambda:us-east-1:123456789012:layer:org-common:7\"]";
    d.write(
        tf,
        &format!("{}{arn}{}", &text[..end], &text[end + layers.len()..]),
    );
    d
}

fn has_acmeclient(d: &Demo, zip: &str) -> bool {
    zip_names(&d.path(zip))
        .iter()
        .any(|n| n.starts_with("acmeclient"))
}

#[test]
fn a_distribution_an_attached_layer_carries_is_not_shipped_twice() {
    let d = demo_with_acmeclient();
    let arts = artifacts(&d.xtask(&["build", "--json"]).ok().json());
    let build = "packages/module-access/backend/.build";
    assert!(zip_names(&d.path(&format!("{build}/org-common-layer.zip")))
        .contains(&"python/acmeclient/__init__.py".to_string()));
    // Same version as the layer's: left out, through the resource and through the variable.
    assert!(!has_acmeclient(&d, &format!("{build}/orgs.zip")));
    assert!(!has_acmeclient(
        &d,
        "packages/module-ai/backend/.build/ai-config.zip"
    ));
    // Another version: shipped (it shadows the layer's), with a warning naming both.
    assert!(has_acmeclient(&d, &format!("{build}/profiles.zip")));
    let warnings = arts["module-access/profiles"]["warnings"].to_string();
    assert!(
        warnings.contains("acmeclient 0.9")
            && warnings.contains("acmeclient 1.0")
            && warnings.contains("module-access/org-common"),
        "{warnings}"
    );
    assert!(arts["module-access/orgs"]["warnings"].is_null());
    // A layer that cannot be traced from the Terraform takes nothing out.
    assert!(has_acmeclient(&d, &format!("{build}/members.zip")));
    // A build of one module traces the same layers: nothing changes.
    let arts = artifacts(&d.xtask(&["build", "--json", "--module", "ai"]).ok().json());
    assert_eq!(arts["module-ai/ai-config"]["status"], "cached");

    // The layer moves to 0.9: orgs (1.0) must now ship its own copy, profiles (0.9) not.
    d.write(
        "packages/module-access/backend/layers/org-common/requirements.txt",
        "python-dateutil==2.9.0.post0\nacmeclient==0.9\n",
    );
    let arts = artifacts(&d.xtask(&["build", "--json"]).ok().json());
    assert_eq!(arts["module-access/orgs"]["status"], "built");
    assert!(has_acmeclient(&d, &format!("{build}/orgs.zip")));
    assert!(!has_acmeclient(&d, &format!("{build}/profiles.zip")));
    // A function without dependencies, or with untraced layers, does not depend on their contents.
    assert_eq!(arts["module-access/org-email-domains"]["status"], "cached");
    assert_eq!(arts["module-access/members"]["status"], "cached");
}

/// A fake AWS SDK: boto3 needing botocore, both with some bytes.
fn demo_with_boto3() -> Demo {
    let d = Demo::new();
    Wheelhouse::new(&d.tmp.path().join("wheelhouse"))
        .wheel(
            "boto3",
            "1.35.0",
            "py3-none-any",
            &[("boto3/__init__.py", &body("boto3"))],
            &["botocore==1.35.0"],
        )
        .wheel(
            "botocore",
            "1.35.0",
            "py3-none-any",
            &[("botocore/__init__.py", &body("botocore"))],
            &[],
        );
    d.write(
        "packages/module-access/backend/lambdas/orgs/requirements.txt",
        "boto3==1.35.0\nalpha==1.0\n",
    );
    d
}

#[test]
fn runtime_provided_packages_are_kept_by_default_and_their_cost_is_printed() {
    let d = demo_with_boto3();
    let out = d.xtask(&["build"]).ok();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("runtime-provided packages"))
        .unwrap_or_else(|| panic!("no runtime-provided line:\n{}", out.stdout));
    assert!(line.contains("runtime_provided = \"drop\""), "{line}");
    let zip = d.path("packages/module-access/backend/.build/orgs.zip");
    let names = zip_names(&zip);
    assert!(
        names.contains(&"boto3/__init__.py".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"botocore/__init__.py".to_string()),
        "{names:?}"
    );

    let json = d.xtask(&["build", "--json"]).ok().json();
    let cost = &json["runtime_provided"];
    assert_eq!(cost["mode"], "keep");
    // orgs, and the org-common layer (python-dateutil and six, which botocore needs).
    assert_eq!(cost["zips"], 2);
    assert!(cost["bytes"].as_u64().unwrap() > 2 * 12_000, "{cost}");
}

#[test]
fn runtime_provided_drop_leaves_the_sdk_to_the_runtime() {
    let d = demo_with_boto3();
    d.xtask(&["build"]).ok();
    let zip = d.path("packages/module-access/backend/.build/orgs.zip");
    let kept = std::fs::metadata(&zip).unwrap().len();

    d.config("runtime_provided = \"drop\"");
    let out = d.xtask(&["build"]).ok();
    assert!(
        out.stdout.contains("left out of 2 zip(s)"),
        "{}",
        out.stdout
    );
    let names = zip_names(&zip);
    assert!(!names.iter().any(|n| n.starts_with("boto")), "{names:?}");
    // What the runtime does not provide still ships.
    assert!(
        names.contains(&"alpha/__init__.py".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"beta/__init__.py".to_string()), "{names:?}");
    assert!(std::fs::metadata(&zip).unwrap().len() < kept);

    d.config("runtime_provided = \"maybe\"");
    let out = d.xtask(&["build"]).fails();
    assert!(out.stderr.contains("runtime_provided"), "{}", out.stderr);
}

#[test]
fn size_shows_the_budget_the_layers_and_the_largest_distributions() {
    let d = demo_with_acmeclient();
    let json = d.xtask(&["size", "--json", "access/orgs"]).ok().json();
    let arts = json["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 1);
    let orgs = &arts[0];
    assert_eq!(orgs["name"], "orgs");
    let layers = orgs["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{layers:?}");
    assert_eq!(layers[0]["id"], "module-access/org-common");
    let layer_bytes = layers[0]["unzipped_bytes"].as_u64().unwrap();
    let own = orgs["unzipped_bytes"].as_u64().unwrap();
    assert_eq!(
        orgs["total_unzipped_bytes"].as_u64().unwrap(),
        own + layer_bytes
    );
    assert_eq!(orgs["budget_bytes"], 262_144_000u64);
    assert_eq!(orgs["dropped"][0]["name"], "acmeclient");
    assert_eq!(orgs["dropped"][0]["by"], "module-access/org-common");

    // The layer: its distributions, largest first, with their bytes.
    let json = d
        .xtask(&["size", "--json", "module-access/org-common"])
        .ok()
        .json();
    let dists = json["artifacts"][0]["dists"].as_array().unwrap();
    let names: Vec<&str> = dists.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"acmeclient"), "{names:?}");
    let bytes: Vec<u64> = dists.iter().map(|x| x["bytes"].as_u64().unwrap()).collect();
    assert!(bytes.windows(2).all(|w| w[0] >= w[1]), "{bytes:?}");
    assert!(bytes.iter().all(|b| *b > 0), "{bytes:?}");

    let human = d.xtask(&["size", "profiles"]).ok().stdout;
    assert!(human.contains("with layers (of 250 MiB)"), "{human}");
    assert!(human.contains("layer module-access/org-common"), "{human}");
    assert!(human.contains("acmeclient 0.9"), "{human}");

    let out = d.xtask(&["size", "nosuch"]).fails();
    assert!(
        out.stderr.contains("no artifact \"nosuch\""),
        "{}",
        out.stderr
    );
}
