//! How a zip's bytes are laid out: the installed dependencies first (copied from their pack),
//! then the artifact's own files; files that do not compress stored, the rest deflated.

use crate::common::*;

/// xorshift bytes: nothing for deflate to find.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn incompressible_files_are_stored_and_everything_else_deflated() {
    let d = Demo::new();
    let data = noise(100_000);
    std::fs::write(
        d.path("packages/module-access/backend/lambdas/orgs/model.bin"),
        &data,
    )
    .unwrap();
    d.xtask(&["build", "--module", "access"]).ok();
    let zip = d.path("packages/module-access/backend/.build/orgs.zip");
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut model = z.by_name("model.bin").unwrap();
    assert_eq!(model.compression(), zip::CompressionMethod::Stored);
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut model, &mut back).unwrap();
    assert!(back == data, "model.bin reads back different bytes");
    drop(model);
    let handler = z.by_name("lambda_function.py").unwrap();
    assert_eq!(handler.compression(), zip::CompressionMethod::Deflated);
}

#[test]
fn dependencies_lead_each_zip_and_an_edit_gives_the_bytes_of_a_fresh_build() {
    let edited = Demo::new();
    let fresh = Demo::new();
    edited.xtask(&["build"]).ok();
    let code = "packages/module-access/backend/layers/org-common/python/org_common/responses.py";
    for d in [&edited, &fresh] {
        let mut text = d.read(code);
        text.push_str("\n# edited\n");
        d.write(code, &text);
    }
    let after_edit = artifacts(&edited.xtask(&["build", "--json"]).ok().json());
    let from_scratch = artifacts(&fresh.xtask(&["build", "--json"]).ok().json());
    let id = "module-access/org-common";
    assert_eq!(after_edit[id]["status"], "built");
    assert_eq!(
        after_edit[id]["sha256_base64"],
        from_scratch[id]["sha256_base64"]
    );
    let zip = edited.path("packages/module-access/backend/.build/org-common-layer.zip");
    let z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let order: Vec<&str> = z.file_names().collect();
    let at = |name: &str| order.iter().position(|n| *n == name).unwrap();
    // six.py is installed, org_common is the layer's own code: dependencies first.
    assert!(
        at("python/six.py") < at("python/org_common/__init__.py"),
        "{order:?}"
    );
}

#[test]
fn packs_of_an_earlier_format_are_removed_by_the_next_build() {
    let d = Demo::new();
    d.xtask(&["build"]).ok();
    let old = d.path(".xtask/deps/0123abcd.deflated-1.zip");
    std::fs::write(&old, "a pack of the first format").unwrap();
    d.xtask(&["build"]).ok();
    assert!(!old.exists(), "{} was kept", old.display());
}
