//! Sensitive values nulled out of what terraform's JSON readers return, before anything prints them.

use serde_json::Value;

pub(super) fn redact_outputs(outputs: &mut Value) {
    if let Value::Object(map) = outputs {
        for o in map.values_mut() {
            if o["sensitive"] == Value::Bool(true) {
                o["value"] = Value::Null;
            }
        }
    }
}

/// Nulls every value `sensitive_values` marks, in every module of a `show -json` state.
pub(super) fn redact_state(state: &mut Value) {
    let Some(values) = state.get_mut("values") else {
        return;
    };
    if let Some(outputs) = values.get_mut("outputs") {
        redact_outputs(outputs);
    }
    if let Some(root) = values.get_mut("root_module") {
        redact_module(root);
    }
}

fn redact_module(module: &mut Value) {
    if let Some(Value::Array(resources)) = module.get_mut("resources") {
        for r in resources {
            let mask = r.get("sensitive_values").cloned().unwrap_or(Value::Null);
            if let Some(v) = r.get_mut("values") {
                apply_mask(v, &mask);
            }
        }
    }
    if let Some(Value::Array(children)) = module.get_mut("child_modules") {
        children.iter_mut().for_each(redact_module);
    }
}

fn apply_mask(value: &mut Value, mask: &Value) {
    match (value, mask) {
        (v, Value::Bool(true)) => *v = Value::Null,
        (Value::Object(v), Value::Object(m)) => {
            for (k, sub) in m {
                if let Some(x) = v.get_mut(k) {
                    apply_mask(x, sub);
                }
            }
        }
        (Value::Array(v), Value::Array(m)) => {
            for (x, sub) in v.iter_mut().zip(m) {
                apply_mask(x, sub);
            }
        }
        _ => {}
    }
}
