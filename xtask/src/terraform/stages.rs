//! Staged applies: the addresses a stage or a `-target` names, checked against the env's
//! configuration before terraform runs (terraform itself plans nothing for an address that
//! matches nothing, silently), and what the state already holds.

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use serde_json::Value;

use super::Terraform;
use crate::stack::graph::{strip_keys, Tree};

/// Each address of `stages` (`[terraform] stages`) and of the `-target=` arguments must name
/// something `tree` declares: an error naming the address and the nearest real ones.
pub fn check_addresses(tree: &Tree, stages: &[Vec<String>], plan_args: &[String]) -> Result<()> {
    let targets = plan_args
        .iter()
        .filter_map(|a| {
            a.strip_prefix("-target=")
                .or_else(|| a.strip_prefix("--target="))
        })
        .map(|a| (a.to_string(), "-target"));
    let staged = stages
        .iter()
        .flatten()
        .map(|a| (a.clone(), "[terraform] stages in xtask.toml"));
    let mut bad = Vec::new();
    for (address, from) in staged.chain(targets) {
        if !tree.declares(&address) {
            let near = nearest(&strip_keys(&address), &tree.addresses(), 3);
            let near = if near.is_empty() {
                "the configuration declares nothing".to_string()
            } else {
                format!("nearest: {}", near.join(", "))
            };
            bad.push(format!(
                "`{address}` ({from}) matches nothing in the env's configuration; {near}"
            ));
        }
    }
    if !bad.is_empty() {
        bail!(
            "{}\nterraform was not run: fix the address (`cargo xtask check` reads the same \
             configuration)",
            bad.join("\n")
        );
    }
    Ok(())
}

/// The `n` addresses closest to `address` by edit distance, closest first.
pub fn nearest(address: &str, known: &[String], n: usize) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> =
        known.iter().map(|k| (distance(address, k), k)).collect();
    scored.sort();
    scored.into_iter().take(n).map(|(_, k)| k.clone()).collect()
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The resource addresses in the env's state, instance keys removed
/// (`module.a.aws_lambda_function.f`); empty for an env never applied.
pub fn state_addresses(tf: &Terraform) -> Result<BTreeSet<String>> {
    let state = tf.show_state_json()?;
    let mut out = BTreeSet::new();
    collect(&state["values"]["root_module"], &mut out);
    Ok(out)
}

fn collect(module: &Value, out: &mut BTreeSet<String>) {
    for r in module["resources"].as_array().into_iter().flatten() {
        if let Some(a) = r["address"].as_str() {
            out.insert(strip_keys(a));
        }
    }
    for m in module["child_modules"].as_array().into_iter().flatten() {
        collect(m, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_addresses_come_first() {
        let known: Vec<String> = ["module.module_access", "module.module_ai", "aws_iam_role.x"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            nearest("module.module_acess", &known, 2),
            ["module.module_access", "module.module_ai"]
        );
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn state_addresses_lose_their_instance_keys() {
        let state = serde_json::json!({"values": {"root_module": {
            "resources": [{"address": "aws_x.y[0]"}],
            "child_modules": [{"resources": [{"address": "module.a[\"k\"].aws_z.w"}]}]
        }}});
        let mut out = BTreeSet::new();
        collect(&state["values"]["root_module"], &mut out);
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            ["aws_x.y", "module.a.aws_z.w"]
        );
    }
}
