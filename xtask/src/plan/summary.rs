//! What a saved plan will do, read from `terraform show -json`, and how it is told: the human
//! report, Markdown for a pull request, and the JSON document.

use std::collections::BTreeMap;

use console::style;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a saved plan will do, as printed by `plan` and `--json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub env: String,
    /// Anything to apply (terraform's `-detailed-exitcode` 2).
    pub changes: bool,
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    /// Lambda function names whose deployed code changes (new functions included).
    pub functions_with_new_code: Vec<String>,
    /// Layer names that get a new version.
    pub layers_republished: Vec<String>,
    /// Route keys, `GET /orgs/{orgId}`.
    pub routes_added: Vec<String>,
    pub routes_removed: Vec<String>,
    /// Every delete and every replace, except a layer's new version (see `destroys`).
    pub destructive: Vec<Destructive>,
    pub outputs_changed: Vec<String>,
    pub var_files: Vec<String>,
    pub plan_file: String,
    /// Set once `apply` or `deploy` applied the plan.
    pub applied: bool,
    /// Each function whose code changes, with its `source_code_hash` before and after
    /// (AWS's CodeSha256 of the zip; `None`: no function yet, or known only after apply).
    #[serde(default)]
    pub code_changes: Vec<CodeChange>,
    /// Routes added and removed, grouped by the stack module whose `api_routes` declares
    /// them (`undeclared` when none does, as for a route just removed from its module).
    #[serde(default)]
    pub routes_by_module: BTreeMap<String, RouteChanges>,
    /// Terraform plan arguments passed through after `--` (`-target=…`, `-replace=…`).
    #[serde(default)]
    pub plan_args: Vec<String>,
    /// `from release NAME (commit …)` with `--release`: what was planned was not built here.
    #[serde(default)]
    pub release: Option<String>,
    /// The bootstrap stage this plan is, when the xtask derived one for a fresh env.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<super::bootstrap::Stage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeChange {
    pub function: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// How many entries of one list the human report shows before "… and N more".
const SHOWN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destructive {
    pub address: String,
    /// `delete` or `replace`.
    pub action: String,
    pub reason: String,
}

impl Destructive {
    fn because(&self) -> String {
        if self.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.reason)
        }
    }
}

/// At most `SHOWN` items, one a line, then how many more there are.
fn push_capped(out: &mut String, indent: &str, items: &[String]) {
    for i in items.iter().take(SHOWN) {
        out.push_str(&format!("{indent}{i}\n"));
    }
    if items.len() > SHOWN {
        out.push_str(&format!(
            "{indent}… and {} more (all of them in --json)\n",
            items.len() - SHOWN
        ));
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Summary {
    /// Reads `terraform show -json <plan>`. Only names and addresses are taken: the plan holds
    /// variable values in clear.
    pub fn from_plan(plan: &Value, env: &str, changes: bool) -> Summary {
        let mut s = Summary {
            env: env.to_string(),
            changes,
            ..Default::default()
        };
        for rc in plan["resource_changes"].as_array().into_iter().flatten() {
            if rc["mode"] == "data" {
                continue;
            }
            let change = &rc["change"];
            let actions: Vec<&str> = change["actions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let action = match actions.as_slice() {
                ["create"] => Action::Create,
                ["update"] => Action::Update,
                ["delete"] => Action::Delete,
                [a, b] if [*a, *b].contains(&"delete") && [*a, *b].contains(&"create") => {
                    Action::Replace
                }
                _ => continue, // no-op, read, forget
            };
            match action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
            }
            let address = rc["address"].as_str().unwrap_or("?").to_string();
            let (before, after) = (&change["before"], &change["after"]);
            let name = |key: &str| {
                after[key]
                    .as_str()
                    .or_else(|| before[key].as_str())
                    .map_or_else(|| address.clone(), str::to_string)
            };
            let kind = rc["type"].as_str().unwrap_or_default();
            match kind {
                "aws_lambda_function" if new_code(action, change) => {
                    let hash = |v: &Value| v["source_code_hash"].as_str().map(str::to_string);
                    s.code_changes.push(CodeChange {
                        function: name("function_name"),
                        before: hash(before),
                        after: hash(after),
                    });
                    s.functions_with_new_code.push(name("function_name"))
                }
                "aws_lambda_layer_version"
                    if action != Action::Delete && action != Action::Update =>
                {
                    s.layers_republished.push(name("layer_name"))
                }
                "aws_apigatewayv2_route" => {
                    let (old, new) = (before["route_key"].as_str(), after["route_key"].as_str());
                    if (action != Action::Create && old != new) || action == Action::Delete {
                        s.routes_removed.extend(old.map(str::to_string));
                    }
                    if (action != Action::Delete && old != new) || action == Action::Create {
                        s.routes_added.extend(new.map(str::to_string));
                    }
                }
                _ => {}
            }
            if destroys(kind, action) {
                s.destructive.push(Destructive {
                    address,
                    action: if action == Action::Delete {
                        "delete"
                    } else {
                        "replace"
                    }
                    .into(),
                    reason: reason(rc),
                });
            }
        }
        if let Some(outputs) = plan["output_changes"].as_object() {
            for (name, c) in outputs {
                let noop = c["actions"]
                    .as_array()
                    .is_some_and(|a| a.len() == 1 && a[0] == "no-op");
                if !noop {
                    s.outputs_changed.push(name.clone());
                }
            }
        }
        for list in [
            &mut s.functions_with_new_code,
            &mut s.layers_republished,
            &mut s.routes_added,
            &mut s.routes_removed,
        ] {
            list.sort();
            list.dedup();
        }
        s.code_changes.sort_by(|a, b| a.function.cmp(&b.function));
        s.code_changes.dedup_by(|a, b| a.function == b.function);
        s
    }

    /// Groups the changed routes by the module that declares them: `owners` maps a route key
    /// (`GET /orgs/{orgId}`) to its module (`module-access`).
    pub fn group_routes(&mut self, owners: &BTreeMap<String, String>) {
        let mut groups: BTreeMap<String, RouteChanges> = BTreeMap::new();
        let owner = |key: &String| {
            owners
                .get(key)
                .cloned()
                .unwrap_or_else(|| "undeclared".into())
        };
        for key in &self.routes_added {
            groups
                .entry(owner(key))
                .or_default()
                .added
                .push(key.clone());
        }
        for key in &self.routes_removed {
            groups
                .entry(owner(key))
                .or_default()
                .removed
                .push(key.clone());
        }
        self.routes_by_module = groups;
    }

    /// The human report. `apply` is the command that applies the saved plan, after `plan` only.
    pub fn human(&self, apply: Option<&str>) -> String {
        let mut out = String::new();
        if let Some(r) = &self.release {
            out.push_str(&format!("plan {} {r}\n", self.env));
        }
        if let Some(stage) = &self.stage {
            out.push_str(&format!(
                "plan {}: {}; stage {} (the whole env) follows once it is applied\n",
                self.env,
                stage.banner(),
                stage.number + 1
            ));
        }
        if !self.plan_args.is_empty() {
            out.push_str(&format!(
                "plan {} with: {}\n",
                self.env,
                self.plan_args.join(" ")
            ));
        }
        if !self.changes {
            out.push_str(&format!(
                "plan {}: no changes; the infrastructure matches the configuration\n",
                self.env
            ));
            return out;
        }
        out.push_str(&format!("plan {}: {}\n", self.env, self.counts()));
        let sections = [
            (
                "Lambda functions with new code",
                &self.functions_with_new_code,
            ),
            ("layers republished", &self.layers_republished),
            ("outputs changed", &self.outputs_changed),
        ];
        for (title, items) in sections.into_iter().filter(|(_, i)| !i.is_empty()) {
            out.push_str(&format!("{title} ({}):\n", items.len()));
            push_capped(&mut out, "  ", items);
        }
        for (title, pick) in [
            (
                "routes added",
                (|r: &RouteChanges| &r.added) as fn(&RouteChanges) -> &Vec<String>,
            ),
            ("routes removed", |r: &RouteChanges| &r.removed),
        ] {
            let total: usize = self.routes_by_module.values().map(|r| pick(r).len()).sum();
            if total == 0 {
                continue;
            }
            out.push_str(&format!("{title} ({total}):\n"));
            for (module, routes) in &self.routes_by_module {
                let keys = pick(routes);
                if !keys.is_empty() {
                    out.push_str(&format!("  {module} ({}):\n", keys.len()));
                    push_capped(&mut out, "    ", keys);
                }
            }
        }
        if !self.destructive.is_empty() {
            let title = format!("deletes and replacements ({}):", self.destructive.len());
            out.push_str(&format!("{}\n", style(title).red().bold()));
            for d in &self.destructive {
                let line = format!("{:<8} {}{}", d.action, d.address, d.because());
                out.push_str(&format!("  {}\n", style(line).red()));
            }
        }
        if let Some(apply) = apply {
            out.push_str(&format!(
                "saved plan: {}; apply it with `{apply}`\n",
                self.plan_file
            ));
        }
        out
    }

    /// The summary as GitHub-flavoured Markdown, for a pull request or a job's step summary:
    /// every list in full (a PR reviewer scrolls), deletes and replaces first.
    pub fn markdown(&self) -> String {
        let mut md = format!("### `cargo xtask plan` — env `{}`\n\n", self.env);
        if let Some(r) = &self.release {
            md.push_str(&format!("Planned {r}: no build.\n\n"));
        }
        if let Some(stage) = &self.stage {
            md.push_str(&format!(
                "Stage {} of {} ({}): what the rest of the env needs applied first; stage {} \
                 (the whole env) follows.\n\n",
                stage.number,
                stage.of,
                stage.name,
                stage.number + 1
            ));
        }
        if !self.plan_args.is_empty() {
            md.push_str(&format!(
                "Planned with `{}`: only part of the env.\n\n",
                self.plan_args.join(" ")
            ));
        }
        if !self.changes {
            md.push_str("**No changes.** The infrastructure matches the configuration.\n");
            return md;
        }
        md.push_str(&format!("**{}**\n\n", self.counts()));
        if !self.destructive.is_empty() {
            md.push_str(&format!(
                "> [!CAUTION]\n> **{} to delete or replace.** Applying needs `--auto-approve` \
                 outside a terminal.\n\n| action | address | why |\n|---|---|---|\n",
                self.destructive.len()
            ));
            for d in &self.destructive {
                md.push_str(&format!(
                    "| **{}** | `{}` | {} |\n",
                    d.action,
                    d.address,
                    cell(&d.reason)
                ));
            }
            md.push('\n');
        }
        if !self.code_changes.is_empty() {
            md.push_str(&format!(
                "#### Lambda functions with new code ({})\n\n| function | CodeSha256 before | \
                 CodeSha256 after |\n|---|---|---|\n",
                self.code_changes.len()
            ));
            let hash = |h: &Option<String>, none: &str| {
                h.as_ref()
                    .map_or_else(|| none.to_string(), |h| format!("`{h}`"))
            };
            for c in &self.code_changes {
                md.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    c.function,
                    hash(&c.before, "(new)"),
                    hash(&c.after, "(known after apply)")
                ));
            }
            md.push('\n');
        }
        if !self.layers_republished.is_empty() {
            md.push_str(&format!(
                "#### Layers republished ({})\n\n",
                self.layers_republished.len()
            ));
            for l in &self.layers_republished {
                md.push_str(&format!("- `{l}`\n"));
            }
            md.push('\n');
        }
        if !self.routes_by_module.is_empty() {
            md.push_str("#### Routes\n\n| module | added | removed |\n|---|---|---|\n");
            let keys = |k: &[String]| {
                k.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join("<br>")
            };
            for (module, r) in &self.routes_by_module {
                md.push_str(&format!(
                    "| {module} | {} | {} |\n",
                    keys(&r.added),
                    keys(&r.removed)
                ));
            }
            md.push('\n');
        }
        if !self.outputs_changed.is_empty() {
            md.push_str(&format!(
                "Outputs changed: {}\n",
                self.outputs_changed
                    .iter()
                    .map(|o| format!("`{o}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        md
    }

    fn counts(&self) -> String {
        format!(
            "{} to create, {} to update, {} to replace, {} to delete",
            self.create, self.update, self.replace, self.delete
        )
    }

    /// Resource operations an apply reports as complete: a replace is two.
    pub fn steps(&self) -> u64 {
        (self.create + self.update + self.delete + 2 * self.replace) as u64
    }
}

/// A function's code changes when it is created, or its zip hash (or source) differs.
fn new_code(action: Action, change: &Value) -> bool {
    match action {
        Action::Create | Action::Replace => true,
        Action::Delete => false,
        Action::Update => [
            "source_code_hash",
            "filename",
            "s3_key",
            "s3_object_version",
            "image_uri",
        ]
        .iter()
        .any(|k| change["before"][k] != change["after"][k] || change["after_unknown"][k] == true),
    }
}

/// Deletes and replaces need a confirmation, except a layer's new version: layer versions are
/// immutable, so republishing is how a layer is updated, and functions keep working on the old.
fn destroys(kind: &str, action: Action) -> bool {
    match action {
        Action::Delete => true,
        Action::Replace => kind != "aws_lambda_layer_version",
        Action::Create | Action::Update => false,
    }
}

fn reason(rc: &Value) -> String {
    let paths: Vec<String> = rc["change"]["replace_paths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_array())
        .map(|p| {
            p.iter()
                .map(|s| s.as_str().map_or_else(|| s.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    if !paths.is_empty() {
        return format!("{} forces replacement", paths.join(", "));
    }
    match rc["action_reason"].as_str() {
        Some("delete_because_no_resource_config") => "no longer in the configuration".into(),
        Some("delete_because_no_module") => "its module is no longer in the configuration".into(),
        Some("delete_because_count_index" | "delete_because_each_key") => {
            "its count index or for_each key is gone".into()
        }
        Some("replace_because_tainted") => "tainted".into(),
        Some("replace_by_request") => "replacement requested".into(),
        Some(other) => other.replace('_', " "),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rc(address: &str, kind: &str, actions: &[&str], before: Value, after: Value) -> Value {
        json!({"address": address, "mode": "managed", "type": kind,
               "change": {"actions": actions, "before": before, "after": after}})
    }

    fn plan_with_changes() -> Summary {
        let plan = json!({"resource_changes": [
            rc("module.module_access.aws_lambda_function.orgs", "aws_lambda_function", &["update"],
               json!({"function_name": "demo-dev-access-orgs", "source_code_hash": "OLD="}),
               json!({"function_name": "demo-dev-access-orgs", "source_code_hash": "NEW="})),
            rc("module.module_ai.aws_lambda_function.provider", "aws_lambda_function", &["create"],
               Value::Null, json!({"function_name": "demo-dev-ai-provider", "source_code_hash": "P="})),
            rc("module.api.aws_apigatewayv2_route.this[\"PUT /mgmt/warming\"]", "aws_apigatewayv2_route",
               &["delete"], json!({"route_key": "PUT /mgmt/warming"}), Value::Null),
            rc("module.api.aws_apigatewayv2_route.this[\"GET /ai/config\"]", "aws_apigatewayv2_route",
               &["create"], Value::Null, json!({"route_key": "GET /ai/config"})),
        ]});
        let mut s = Summary::from_plan(&plan, "dev", true);
        let owners = BTreeMap::from([
            ("PUT /mgmt/warming".to_string(), "module-mgmt".to_string()),
            ("GET /ai/config".to_string(), "module-ai".to_string()),
        ]);
        s.group_routes(&owners);
        s
    }

    #[test]
    fn markdown_of_a_plan_with_changes_and_a_delete() {
        let md = plan_with_changes().markdown();
        assert!(
            md.starts_with("### `cargo xtask plan` — env `dev`\n"),
            "{md}"
        );
        assert!(
            md.contains("**2 to create, 1 to update, 0 to replace, 1 to delete**"),
            "{md}"
        );
        assert!(
            md.contains("> [!CAUTION]\n> **1 to delete or replace.**"),
            "{md}"
        );
        assert!(
            md.contains(
                "| **delete** | `module.api.aws_apigatewayv2_route.this[\"PUT /mgmt/warming\"]` |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| `demo-dev-access-orgs` | `OLD=` | `NEW=` |"),
            "{md}"
        );
        assert!(
            md.contains("| `demo-dev-ai-provider` | (new) | `P=` |"),
            "{md}"
        );
        assert!(md.contains("| module-ai | `GET /ai/config` |  |"), "{md}");
        assert!(
            md.contains("| module-mgmt |  | `PUT /mgmt/warming` |"),
            "{md}"
        );
    }

    #[test]
    fn markdown_of_a_plan_without_changes_says_so_and_names_its_targets() {
        let s = Summary {
            env: "prod".into(),
            plan_args: vec!["-target=module.module_access".into()],
            ..Default::default()
        };
        let md = s.markdown();
        assert!(md.contains("env `prod`"), "{md}");
        assert!(!md.contains("Stage 1"), "{md}");
        let staged = Summary {
            stage: Some(super::super::bootstrap::Stage {
                number: 1,
                of: 2,
                name: "bootstrap".into(),
                targets: vec!["aws_lambda_function.a".into()],
            }),
            ..s.clone()
        };
        assert!(
            staged
                .markdown()
                .contains("Stage 1 of 2 (bootstrap): what the rest of the env needs applied first"),
            "{}",
            staged.markdown()
        );
        assert!(
            md.contains("Planned with `-target=module.module_access`"),
            "{md}"
        );
        assert!(md.contains("**No changes.**"), "{md}");
        assert!(!md.contains("CAUTION"), "{md}");
    }

    #[test]
    fn hundreds_of_routes_are_grouped_by_module_and_capped_in_the_human_report() {
        let mut s = Summary {
            env: "dev".into(),
            changes: true,
            routes_added: (0..300).map(|i| format!("GET /r{i:03}")).collect(),
            ..Default::default()
        };
        let owners = (0..300)
            .map(|i| (format!("GET /r{i:03}"), format!("module-{}", i % 3)))
            .collect();
        s.group_routes(&owners);
        let text = s.human(None);
        assert!(
            text.contains("routes added (300):\n  module-0 (100):\n    GET /r000\n"),
            "{text}"
        );
        assert!(
            text.contains("    … and 92 more (all of them in --json)\n"),
            "{text}"
        );
        assert!(text.lines().count() < 40, "{text}");
        // The JSON keeps every route.
        assert_eq!(s.routes_by_module["module-2"].added.len(), 100);
        assert_eq!(s.routes_added.len(), 300);
    }

    #[test]
    fn a_route_no_module_declares_is_grouped_as_undeclared() {
        let s = plan_with_changes();
        let mut other = s.clone();
        other.group_routes(&BTreeMap::new());
        assert_eq!(
            other.routes_by_module.keys().collect::<Vec<_>>(),
            ["undeclared"]
        );
        assert!(s
            .human(None)
            .contains("routes removed (1):\n  module-mgmt (1):\n    PUT /mgmt/warming\n"));
    }
}
