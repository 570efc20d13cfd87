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
