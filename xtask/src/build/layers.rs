//! What the stack model says of the layers on a function, as the build needs it: which to
//! deduplicate against, which the 250 MiB budget cannot count.

use std::path::Path;

use crate::stack::discover::{Artifact, Kind};
use crate::stack::model::Model;

/// Layer artifact ids attached to a function, per the stack model, and whether they are
/// exactly what is on it (only then may a layer take a distribution out of the function); all
/// of its module's layers and `false` when the model has no function for it. A layer attached
/// on one arm of an unknown conditional is counted in the budget, never deduplicated against.
pub(super) fn attached_layers(
    model: &Model,
    artifacts: &[Artifact],
    a: &Artifact,
) -> (Vec<String>, bool) {
    match model.function_for_artifact(&a.id()) {
        Some(f) => {
            let att = model.attachments(f);
            let traced = att.certain.len() == att.possible.len();
            (att.possible, traced)
        }
        None => (
            artifacts
                .iter()
                .filter(|x| x.kind == Kind::Layer && x.module == a.module)
                .map(Artifact::id)
                .collect(),
            false,
        ),
    }
}

/// The layers of a function the 250 MiB budget cannot measure, each said the way every pass
/// says what it does not check.
pub(super) fn uncounted_layers(model: &Model, a: &Artifact, stack: &Path) -> Vec<String> {
    use crate::stack::model::{not_checked, LayerTarget};
    let Some(f) = model.function_for_artifact(&a.id()) else {
        return Vec::new();
    };
    let base = crate::stack::show::base(stack);
    f.layers
        .iter()
        .enumerate()
        .filter_map(|(i, u)| {
            let why = match &u.target {
                LayerTarget::External { arn } => format!("{arn} is published elsewhere"),
                LayerTarget::Unknown { unknown } => not_checked(unknown, &base),
                LayerTarget::Deployed { address } if model.layer(address)?.artifact.is_none() => {
                    format!("{address} is not built by this stack")
                }
                LayerTarget::Deployed { .. } => return None,
            };
            Some(format!(
                "layer {} is not in the 250 MiB budget: {why}",
                i + 1
            ))
        })
        .collect()
}

/// The layers a function attaches when the model knows every one of them (check's imports
/// rule); `None` when any is external, unknown or conditional.
pub fn declared_layers(model: &Model, a: &Artifact) -> Option<Vec<String>> {
    let att = model.attachments(model.function_for_artifact(&a.id())?);
    att.complete.then_some(att.certain)
}
