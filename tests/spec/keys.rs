//! Same bytes on every machine and installer: the wheel each installer picks, cache validity by
//! content rather than mtimes, and requirement includes in the keys (issue 8 §3).

use std::path::Path;

use crate::common::*;

const PROVIDER_REQS: &str = "packages/module-ai/backend/lambdas/provider/requirements.txt";
const PROVIDER_ZIP: &str = "packages/module-ai/backend/.build/provider.zip";

fn zip_file(zip: &Path, name: &str) -> String {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut z.by_name(name).unwrap(), &mut body).unwrap();
    body
}

#[test]
fn uv_and_pip_pick_the_same_wheel_among_several_manylinux_tags() {
    let d = Demo::new();
    // One release published twice, as cryptography 46 is: glibc 2.17 and glibc 2.34 builds.
    let wh = Wheelhouse::new(&d.tmp.path().join("wheelhouse"));
    for (tag, body) in [
        (
            "manylinux_2_17_x86_64.manylinux2014_x86_64",
            "GLIBC = '2.17'\n",
        ),
        ("manylinux_2_34_x86_64", "GLIBC = '2.34'\n"),
    ] {
        let tag = format!("cp313-cp313-{tag}");
        wh.wheel("twotag", "1.0", &tag, &[("twotag/__init__.py", body)], &[]);
    }
    d.write(PROVIDER_REQS, "twotag==1.0\n");
    let mut zips = Vec::new();
    for installer in ["uv", "pip"] {
        d.config(&format!("installer = \"{installer}\""));
        let out = d.xtask(&["build", "--json", "--module", "ai"]).ok();
        assert_eq!(out.json()["installer"], installer);
        let zip = d.path(PROVIDER_ZIP);
        // The most specific tag Amazon Linux 2023 (glibc 2.34) supports, whichever installer.
        assert_eq!(
            zip_file(&zip, "twotag/__init__.py"),
            "GLIBC = '2.34'\n",
            "{installer}"
        );
        zips.push(std::fs::read(&zip).unwrap());
    }
    assert!(zips[0] == zips[1], "uv and pip zips differ");
}

/// Copies a tree with everything in it (outputs and `.xtask/` too), as `cp -r` or a CI cache
/// restore does: same bytes, new inodes and mtimes.
fn copy_all(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_all(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

fn statuses(out: &Out) -> Vec<(String, String)> {
    artifacts(&out.json())
        .into_iter()
        .map(|(k, a)| (k, a["status"].as_str().unwrap().to_string()))
        .collect()
}

fn all_cached(out: &Out) -> bool {
    statuses(out).iter().all(|(_, s)| s == "cached")
}

#[test]
fn a_copied_stack_with_new_mtimes_is_a_no_op() {
    let d = Demo::new();
    d.write(PROVIDER_REQS, "alpha==1.0\n");
    let first = d.xtask(&["build", "--json"]).ok();
    let copy = tempfile::tempdir().unwrap();
    copy_all(d.tmp.path(), copy.path());
    // No wheelhouse in the copy: a reinstall would fail, so only the caches can serve.
    std::fs::remove_dir_all(copy.path().join("wheelhouse")).unwrap();
    let out = run({
        let mut c = std::process::Command::new(xtask_bin());
        c.args(["build", "--json", "--stack"])
            .arg(copy.path().join("demo-stack"))
            .env("NO_COLOR", "1");
        c
    })
    .ok();
    assert!(all_cached(&out), "{:?}", statuses(&out));
    for (id, a) in artifacts(&out.json()) {
        assert_eq!(
            a["sha256_base64"],
            artifacts(&first.json())[&id]["sha256_base64"]
        );
    }
}

#[test]
fn touching_every_file_rebuilds_nothing_and_a_same_size_edit_of_a_zip_is_rebuilt() {
    let d = Demo::new();
    d.xtask(&["build"]).ok();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    touch_all(d.tmp.path(), later);
    let out = d.xtask(&["build", "--json"]).ok();
    assert!(all_cached(&out), "{:?}", statuses(&out));

    // One byte changed by hand, size and mtime put back: detected, and the zip rebuilt.
    let zip = d.path(PROVIDER_ZIP);
    let good = std::fs::read(&zip).unwrap();
    let mtime = std::fs::metadata(&zip).unwrap().modified().unwrap();
    let mut bad = good.clone();
    bad[40] ^= 0xff;
    std::fs::write(&zip, &bad).unwrap();
    let f = std::fs::File::options().write(true).open(&zip).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    let out = d.xtask(&["build", "--json"]).ok();
    assert_eq!(
        artifacts(&out.json())["module-ai/provider"]["status"],
        "built"
    );
    assert_eq!(std::fs::read(&zip).unwrap(), good);
    let again = d.xtask(&["build", "--json"]).ok();
    assert!(all_cached(&again), "{:?}", statuses(&again));
}

fn touch_all(dir: &Path, t: std::time::SystemTime) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            touch_all(&p, t);
        } else {
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(t).unwrap();
        }
    }
}

fn provider_beta(d: &Demo) -> String {
    zip_file(&d.path(PROVIDER_ZIP), "beta/__init__.py")
}

#[test]
fn an_included_requirements_file_outside_the_artifact_is_part_of_the_keys() {
    let d = Demo::new();
    // Shared pins at the module level, included from the function, as real stacks do.
    let shared = "packages/module-ai/backend/requirements-common.txt";
    d.write(shared, "beta==1.2\n");
    d.write(
        PROVIDER_REQS,
        "alpha==1.0\n-r ../../requirements-common.txt\n",
    );
    d.xtask(&["build"]).ok();
    assert_eq!(provider_beta(&d), "B = 2\n");

    d.write(shared, "beta==1.3\n");
    let out = d.xtask(&["build", "--json"]).ok();
    assert_eq!(
        artifacts(&out.json())["module-ai/provider"]["status"],
        "built"
    );
    assert_eq!(provider_beta(&d), "B = 3\n");
}

#[test]
fn a_constraints_file_is_part_of_the_keys() {
    let d = Demo::new();
    let constraints = "packages/module-ai/backend/constraints.txt";
    d.write(constraints, "beta==1.2\n");
    d.write(PROVIDER_REQS, "alpha==1.0\n-c ../../constraints.txt\n");
    d.xtask(&["build"]).ok();
    assert_eq!(provider_beta(&d), "B = 2\n");

    d.write(constraints, "beta==1.3\n");
    let out = d.xtask(&["build", "--json"]).ok();
    assert_eq!(
        artifacts(&out.json())["module-ai/provider"]["status"],
        "built"
    );
    assert_eq!(provider_beta(&d), "B = 3\n");
}

#[test]
fn an_include_that_cannot_be_read_names_the_file_and_line() {
    let d = Demo::new();
    d.write(PROVIDER_REQS, "alpha==1.0\n\n-r ../../missing.txt\n");
    let out = d.xtask(&["build", "--json"]).fails();
    let err = artifacts(&out.json())["module-ai/provider"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("provider/requirements.txt:3: `-r ../../missing.txt`: cannot read"),
        "{err}"
    );
}
