//! Stamps the binary with a hash of the xtask's own source, so `cargo xtask --version` tells
//! which xtask a stack runs even when every copy says version 0.1.0.
//!
//! The hash: FNV-1a 64 over `Cargo.toml`, `build.rs` and every file under `src/`, in byte order
//! of their `/`-separated paths, each fed as `path \0 length \0 bytes`. It identifies, it does
//! not protect: no dependency is worth a cryptographic hash here.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec!["Cargo.toml".to_string(), "build.rs".to_string()];
    list(root, "src", &mut files);
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for rel in &files {
        let bytes = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let head = format!("{rel}\0{}\0", bytes.len());
        for b in head.as_bytes().iter().chain(&bytes) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=XTASK_SOURCE_HASH={h:016x}");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=build.rs");
}

fn list(root: &Path, rel: &str, out: &mut Vec<String>) {
    let dir = root.join(rel);
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.expect("readable directory entry");
        let child = format!("{rel}/{}", entry.file_name().to_string_lossy());
        if entry.file_type().expect("file type").is_dir() {
            list(root, &child, out);
        } else {
            out.push(child);
        }
    }
}
