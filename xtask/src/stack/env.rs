//! What verify reads of the env's root module as written: its module calls, and where it
//! composes `module_routes` (for fixes that name the line to edit).

use std::path::Path;

use crate::stack::hcl::TfFile;

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
