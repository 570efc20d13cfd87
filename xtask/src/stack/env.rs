//! What the passes that run terraform read of a root module as written: its module calls and
//! sources (init's fingerprint), its `terraform {}` blocks, its sensitive variables (masking),
//! and where it composes `module_routes` (verify's fixes name the line to edit).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hcl_edit::expr::Expression;

use crate::stack::hcl::{self, TfFile};

/// `module "<name>"` blocks of the env: the calls whose `api_routes` Terraform is asked for.
pub fn module_calls(files: &[TfFile]) -> Vec<String> {
    let mut calls: Vec<String> = files
        .iter()
        .flat_map(|f| f.labeled("module"))
        .map(|(name, _)| name.to_string())
        .collect();
    calls.sort();
    calls.dedup();
    calls
}

/// Where the env composes `module_routes`, for fixes that say which line to edit.
#[derive(Debug, Clone)]
pub struct GatewayCall {
    /// `envs/dev/main.tf:118`
    pub location: String,
    /// The `module_routes` expression as written.
    pub routes_expr: String,
}

pub fn gateway_call(files: &[TfFile], infra: &Path) -> Option<GatewayCall> {
    files.iter().find_map(|f| {
        let block = f
            .body
            .get_blocks("module")
            .find(|b| b.body.get_attribute("module_routes").is_some())?;
        let attr = block.body.get_attribute("module_routes")?;
        let expr = hcl_edit::Span::span(&attr.value)
            .and_then(|r| f.text.get(r))
            .unwrap_or_default();
        let rel = f.path.strip_prefix(infra).unwrap_or(&f.path);
        Some(GatewayCall {
            location: format!("{}:{}", rel.display(), f.line_of(attr)),
            routes_expr: expr.to_string(),
        })
    })
}

/// The env's module calls and its gateway call, from the `.tf` files of `env_dir`.
pub fn read(env_dir: &Path, infra: &Path) -> (Vec<String>, Option<GatewayCall>) {
    let (files, _) = crate::stack::hcl::parse_dir(env_dir);
    (module_calls(&files), gateway_call(&files, infra))
}

/// Local module directories the env uses, recursively (`source = "./…"` or `"../…"`),
/// canonical and sorted. Registry and git modules are pinned by `init` and not listed.
pub fn local_modules(env_dir: &Path) -> Vec<PathBuf> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![env_dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for (source, _) in module_sources(&dir) {
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
pub fn module_sources(dir: &Path) -> Vec<(String, String)> {
    let (files, _) = hcl::parse_dir(dir);
    files
        .iter()
        .flat_map(|f| f.body.get_blocks("module"))
        .filter_map(|b| {
            let source = hcl::attr(&b.body, "source").and_then(hcl::template_text)?;
            let version = hcl::attr(&b.body, "version")
                .and_then(hcl::template_text)
                .unwrap_or_default();
            Some((source, version))
        })
        .collect()
}

/// The text of every `terraform {}` block (backend, required providers) of a directory.
pub fn terraform_blocks(dir: &Path) -> Vec<String> {
    let (files, _) = hcl::parse_dir(dir);
    let mut out = Vec::new();
    for f in &files {
        for b in f.body.get_blocks("terraform") {
            if let Some(span) = hcl_edit::Span::span(b) {
                out.push(f.text.get(span).unwrap_or_default().to_string());
            }
        }
    }
    out
}

/// The `sensitive = true` variables a root module declares.
pub fn sensitive_variables(dir: &Path) -> BTreeSet<String> {
    let (files, _) = hcl::parse_dir(dir);
    files
        .iter()
        .flat_map(|f| f.body.get_blocks("variable"))
        .filter(
            |b| matches!(hcl::attr(&b.body, "sensitive"), Some(Expression::Bool(v)) if *v.value()),
        )
        .filter_map(|b| b.labels.first().map(|l| l.as_str().to_string()))
        .collect()
}
