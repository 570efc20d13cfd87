//! F11 common module variables, F16 `var.x` declared where used.

use std::collections::{BTreeMap, BTreeSet};

use std::path::PathBuf;

use super::calls::called_dirs;
use super::{canonical, Checker, Env, ModuleTf};
use crate::stack::hcl::{self as tf, TfFile};

const COMMON_VARIABLES: [&str; 7] = [
    "project_name",
    "environment",
    "module_name",
    "aws_region",
    "supabase_secret_arn",
    "log_level",
    "common_tags",
];
/// module-access publishes the org-common layer; every other module is passed its ARN.
const LAYER_PUBLISHER: &str = "module-access";

impl Checker<'_> {
    /// F11 common module variables; F16 `var.x` declared wherever it is used.
    pub(super) fn variables(&mut self, modules: &[ModuleTf], env: Option<&Env>) {
        let called: BTreeSet<PathBuf> = env
            .filter(|e| e.readable)
            .map(called_dirs)
            .unwrap_or_default();
        for m in modules.iter().filter(|m| m.readable) {
            let declared = declared_variables(&m.files);
            // A module the env calls is held to what the env passes it (F16), not to a list:
            // real envs pass module_name to some modules and not to others.
            let layer = (m.name != LAYER_PUBLISHER).then_some("org_common_layer_arn");
            let expected = if called.contains(&canonical(&m.infra)) {
                Vec::new()
            } else {
                COMMON_VARIABLES.iter().copied().chain(layer).collect()
            };
            for v in expected {
                if !declared.contains_key(v) {
                    self.error(
                        "F11-missing-variable",
                        &m.infra.join("variables.tf"),
                        0,
                        format!("{} does not declare variable \"{v}\"", m.name),
                        format!(
                            "add variable \"{v}\" to variables.tf if the env will pass it (CORA \
                             envs usually do); no env call of {} was found to check against",
                            m.name
                        ),
                    );
                }
            }
            self.undeclared(&m.files, &declared, &m.name);
        }
        if let Some(env) = env.filter(|e| e.readable) {
            let declared = declared_variables(&env.files);
            self.undeclared(&env.files, &declared, &format!("envs/{}", env.name));
        }
    }

    fn undeclared(&mut self, files: &[TfFile], declared: &BTreeMap<String, bool>, owner: &str) {
        for f in files {
            let mut seen = BTreeSet::new();
            for (name, line) in f.var_refs() {
                if !declared.contains_key(&name) && seen.insert(name.clone()) {
                    self.error(
                        "F16-undeclared-variable",
                        &f.path,
                        line,
                        format!("var.{name} is used but {owner} declares no variable \"{name}\""),
                        format!(
                            "declare variable \"{name}\" in variables.tf, or fix the reference"
                        ),
                    );
                }
            }
        }
    }
}

/// Variables declared in a module's files: name → has a default.
pub(super) fn declared_variables(files: &[TfFile]) -> BTreeMap<String, bool> {
    files
        .iter()
        .flat_map(|f| f.labeled("variable"))
        .map(|(n, b)| (n.to_string(), tf::attr(&b.body, "default").is_some()))
        .collect()
}
