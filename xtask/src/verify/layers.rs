//! V5's layers against the stack model: the layers state says a function carries are the ones
//! the configuration attaches, in order (a layer dropped from `layers`, or reordered, is
//! deployed only after an apply).

use std::path::Path;

use super::state::{Deployed, Function};
use crate::stack::model::{not_checked, LayerTarget, Model};

/// `Ok(None)`: they match or the model has no such function; `Ok(Some(note))`: not compared,
/// and why; `Err(problem)`: they differ.
pub(super) fn compare(
    model: &Model,
    base: &Path,
    d: &Deployed,
    f: &Function,
) -> Result<Option<String>, String> {
    let Some(mf) = model.functions.iter().find(|m| m.address == f.address) else {
        return Ok(None);
    };
    let mut expected = Vec::new();
    for u in &mf.layers {
        if let Some(c) = &u.conditional {
            return Ok(Some(format!("layers {}", not_checked(c, base))));
        }
        match &u.target {
            LayerTarget::Deployed { address } => expected.push(address.clone()),
            LayerTarget::External { arn } => expected.push(arn.clone()),
            LayerTarget::Unknown { unknown } => {
                return Ok(Some(format!("layers {}", not_checked(unknown, base))))
            }
        }
    }
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
    if actual == expected {
        return Ok(None);
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    Err(format!(
        "layers in state are {}; the configuration attaches {}",
        list(&actual),
        list(&expected)
    ))
}
