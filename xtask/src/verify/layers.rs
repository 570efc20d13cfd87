//! V5's layers against the stack model: the layers state says a function carries are the ones
//! the configuration attaches, in order (a layer dropped from `layers`, or reordered, is
//! deployed only after an apply).

use std::path::Path;

use serde::Serialize;

use super::state::{Deployed, Function};
use crate::stack::model::{not_checked, LayerTarget, Model};

/// A function's layers as `verify --json` reports them on its V5 check, named as build, size
/// and smoke name them: the artifact id of a layer this stack builds (`module-access/org-common`),
/// else its Terraform address, or the ARN of one published elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layers {
    /// Attached in the deployed state, in order.
    pub deployed: Vec<String>,
    /// Attached by the configuration as the stack model resolves it, in order; `null` when the
    /// model has no such function or cannot tell (a conditional or unknown layer).
    pub expected: Option<Vec<String>>,
}

/// The comparison: `Ok(None)`: they match or the model has no such function; `Ok(Some(note))`:
/// not compared, and why; `Err(problem)`: they differ. And both lists, named for the report.
pub(super) fn compare(
    model: Option<(&Model, &Path)>,
    d: &Deployed,
    f: &Function,
) -> (Result<Option<String>, String>, Layers) {
    // State names a layer of this configuration by its versioned ARN: back to its address.
    let actual: Vec<String> = f
        .layers
        .iter()
        .map(|arn| {
            d.layers
                .iter()
                .find(|l| &l.arn == arn)
                .map_or_else(|| arn.clone(), |l| l.address.clone())
        })
        .collect();
    let name = |address: &String| {
        model
            .and_then(|(m, _)| m.layer(address))
            .and_then(|l| l.artifact.clone())
            .unwrap_or_else(|| address.clone())
    };
    let mut layers = Layers {
        deployed: actual.iter().map(name).collect(),
        expected: None,
    };
    let expected = match model.map(|(m, base)| expected(m, base, f)) {
        None | Some(Ok(None)) => return (Ok(None), layers),
        Some(Err(note)) => return (Ok(Some(note)), layers),
        Some(Ok(Some(expected))) => expected,
    };
    layers.expected = Some(expected.iter().map(name).collect());
    if actual == expected {
        return (Ok(None), layers);
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let problem = format!(
        "layers in state are {}; the configuration attaches {}",
        list(&actual),
        list(&expected)
    );
    (Err(problem), layers)
}

/// The addresses (or external ARNs) the model attaches to `f`, in order; `Ok(None)`: no such
/// function in the model; `Err(note)`: why they cannot be known.
fn expected(model: &Model, base: &Path, f: &Function) -> Result<Option<Vec<String>>, String> {
    let Some(mf) = model.functions.iter().find(|m| m.address == f.address) else {
        return Ok(None);
    };
    let mut expected = Vec::new();
    for u in &mf.layers {
        if let Some(c) = &u.conditional {
            return Err(format!("layers {}", not_checked(c, base)));
        }
        match &u.target {
            LayerTarget::Deployed { address } => expected.push(address.clone()),
            LayerTarget::External { arn } => expected.push(arn.clone()),
            LayerTarget::Unknown { unknown } => {
                return Err(format!("layers {}", not_checked(unknown, base)))
            }
        }
    }
    Ok(Some(expected))
}
