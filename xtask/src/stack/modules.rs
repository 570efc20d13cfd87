//! Which local modules an env uses and what of them `terraform init` depends on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::hcl as tf;

/// Local module directories the env uses, recursively (`source = "./…"` or `"../…"`),
/// canonical and sorted. Registry and git modules are pinned by `init` and not listed.
pub fn local_modules(env_dir: &Path) -> Vec<PathBuf> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![env_dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for (source, _) in module_calls(&dir) {
            if !(source.starts_with("./") || source.starts_with("../")) {
                continue;
            }
            if let Ok(m) = dir.join(&source).canonicalize() {
                if seen.insert(m.clone()) {
                    todo.push(m);
                }
            }
        }
    }
    seen.into_iter().collect()
}

/// `(source, version)` of every `module` block of a directory.
fn module_calls(dir: &Path) -> Vec<(String, String)> {
    let (files, _) = tf::parse_dir(dir);
    files
        .iter()
        .flat_map(|f| f.body.get_blocks("module"))
        .filter_map(|b| {
            let source = tf::attr(&b.body, "source").and_then(tf::template_text)?;
            let version = tf::attr(&b.body, "version")
                .and_then(tf::template_text)
                .unwrap_or_default();
            Some((source, version))
        })
        .collect()
}

/// What `init` reads from a directory: every module call's source and version and the text of
/// every `terraform {}` block (backend, required providers), in file order.
pub fn init_inputs(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = module_calls(dir)
        .into_iter()
        .map(|(source, version)| format!("module\0{source}\0{version}\0"))
        .collect();
    let (files, _) = tf::parse_dir(dir);
    for f in &files {
        for b in f.body.get_blocks("terraform") {
            if let Some(span) = hcl_edit::Span::span(b) {
                out.push(f.text.get(span).unwrap_or_default().to_string());
            }
        }
    }
    out
}
