//! F12 and F16: the env's module blocks, its `module_routes`, F17 routes per API.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::Block;
use hcl_edit::Span;

use super::fix::Edit;
use super::routes::ModuleRoutes;
use super::variables::declared_variables;
use super::{canonical, Checker, Env, ModuleTf};
use crate::stack::hcl::{self as tf, TfFile};

const MAX_ROUTES: usize = 300;

impl Checker<'_> {
    /// F12 and F16 on the env's module blocks, F17 route count per API.
    pub(super) fn composition(&mut self, env: &Env, modules: &[ModuleTf], routes: &[ModuleRoutes]) {
        struct Call<'f> {
            name: &'f str,
            block: &'f Block,
            file: &'f TfFile,
            /// Canonical directory of a local source.
            dir: Option<PathBuf>,
        }
        let main = env.dir.join("main.tf");
        let mut calls: Vec<Call> = Vec::new();
        for f in &env.files {
            for (name, block) in f.labeled("module") {
                let source = block.body.get_attribute("source");
                let src = source.and_then(|a| a.value.as_str());
                let dir = src
                    .filter(|s| s.starts_with("./") || s.starts_with("../"))
                    .map(|s| env.dir.join(s));
                if let (Some(a), Some(d), Some(s)) = (source, &dir, src) {
                    if !d.is_dir() {
                        self.error(
                            "F12-bad-source",
                            &f.path,
                            f.line_of(a),
                            format!("module \"{name}\" has source \"{s}\", which does not exist"),
                            "fix the path: it is relative to the env directory".into(),
                        );
                    }
                }
                let dir = dir.filter(|d| d.is_dir()).map(|d| canonical(&d));
                let twin = calls
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| (c, true))
                    .or_else(|| {
                        let same = calls.iter().find(|c| c.dir.is_some() && c.dir == dir);
                        same.map(|c| (c, false))
                    });
                if let Some((first, same_name)) = twin {
                    let at = format!(
                        "{}:{}",
                        self.rel(&first.file.path),
                        first.file.line_of(first.block)
                    );
                    let message = if same_name {
                        format!("module \"{name}\" is declared twice (also at {at})")
                    } else {
                        format!(
                            "module \"{name}\" calls the same source as module \"{}\" ({at}): \
                             both deploy the same functions",
                            first.name
                        )
                    };
                    self.error(
                        "F12-duplicate-module",
                        &f.path,
                        f.line_of(block),
                        message,
                        "remove one of the blocks".into(),
                    );
                }
                if let Some(a) = block.body.get_attribute("environment") {
                    if let Some(e) = a.value.as_str().filter(|e| *e != env.name) {
                        self.warn(
                            "F12-environment-mismatch",
                            &f.path,
                            f.line_of(a),
                            format!(
                                "module \"{name}\" sets environment = \"{e}\" in envs/{}",
                                env.name
                            ),
                            format!("set environment = \"{}\" (or var.environment)", env.name),
                        );
                    }
                }
                calls.push(Call {
                    name,
                    block,
                    file: f,
                    dir,
                });
            }
        }

        // Which stack module each call deploys; F16 on its arguments.
        let mut stack_module_of: HashMap<&str, usize> = HashMap::new();
        for (i, m) in modules.iter().enumerate() {
            if !m.infra.is_dir() {
                continue;
            }
            let target = canonical(&m.infra);
            let called: Vec<&Call> = calls
                .iter()
                .filter(|c| c.dir.as_ref() == Some(&target))
                .collect();
            if called.is_empty() {
                if env.readable {
                    let source = relative(&canonical(&env.dir), &target);
                    let name = m.name.replace('-', "_");
                    self.error(
                        "F12-module-not-called",
                        if main.is_file() { &main } else { &env.dir },
                        0,
                        format!(
                            "{} is not called from envs/{}: its Lambdas and routes are never \
                             deployed",
                            m.name, env.name
                        ),
                        format!(
                            "add module \"{name}\" {{ source = \"{}\" … }} and list \
                             module.{name}.api_routes in module_routes",
                            source.display()
                        ),
                    );
                }
                continue;
            }
            for call in called {
                stack_module_of.insert(call.name, i);
                if m.readable {
                    self.module_arguments(call.file, call.block, call.name, m);
                }
            }
        }

        let gateways: Vec<(&Call, &hcl_edit::structure::Attribute)> = calls
            .iter()
            .filter_map(|c| c.block.body.get_attribute("module_routes").map(|a| (c, a)))
            .collect();
        if gateways.is_empty() {
            if env.readable {
                self.error(
                    "F12-no-gateway",
                    if main.is_file() { &main } else { &env.dir },
                    0,
                    format!(
                        "no module in envs/{} sets module_routes, so no route reaches an API",
                        env.name
                    ),
                    "call the modular-api-gateway module with module_routes = \
                     concat(module.<name>.api_routes, …)"
                        .into(),
                );
            }
            return;
        }
        let mut listed: Vec<&str> = Vec::new();
        for (gw, attr) in &gateways {
            let f = gw.file;
            let items: Vec<&Expression> = match tf::func_call(&attr.value) {
                Some(("concat", args)) => args,
                _ if module_routes_ref(&attr.value).is_some() => vec![&attr.value],
                _ => {
                    self.warn(
                        "F12-routes-unchecked",
                        &f.path,
                        f.line_of(*attr),
                        "module_routes is not concat(module.<name>.api_routes, …), so check \
                         cannot tell which modules' routes are deployed"
                            .into(),
                        "write module_routes = concat(module.<a>.api_routes, \
                         module.<b>.api_routes, …)"
                            .into(),
                    );
                    return;
                }
            };
            let mut count = 0;
            for item in items {
                let Some(name) = module_routes_ref(item) else {
                    continue;
                };
                let line = f.line_of(item);
                if listed.contains(&name) {
                    self.error(
                        "F12-route-listed-twice",
                        &f.path,
                        line,
                        format!(
                            "module.{name}.api_routes is listed twice in module_routes: each \
                             of its routes would be declared twice"
                        ),
                        "remove the second entry".into(),
                    );
                    continue;
                }
                listed.push(name);
                match calls.iter().find(|c| c.name == name) {
                    None => self.error(
                        "F12-unknown-module",
                        &f.path,
                        line,
                        format!(
                            "module_routes lists module.{name}.api_routes but envs/{} \
                             declares no module \"{name}\"",
                            env.name
                        ),
                        "fix the name, or add the module block".into(),
                    ),
                    Some(c) => {
                        count += stack_module_of.get(c.name).map_or(0, |&i| routes[i].count);
                    }
                }
            }
            if count > MAX_ROUTES {
                self.error(
                    "F17-too-many-routes",
                    &f.path,
                    f.line_of(*attr),
                    format!(
                        "module \"{}\" receives {count} routes; an HTTP API allows at most \
                         {MAX_ROUTES} routes and {MAX_ROUTES} integrations (one per route here)",
                        gw.name
                    ),
                    "split the modules across two API gateways, or serve several paths from one \
                     route"
                        .into(),
                );
            }
        }
        for call in &calls {
            if listed.contains(&call.name) {
                continue;
            }
            let exports = match stack_module_of.get(call.name) {
                Some(&i) => routes[i].exported,
                None => call
                    .dir
                    .as_ref()
                    .is_some_and(|d| tf::api_routes_output(&self.model.parsed(d).0).is_some()),
            };
            if exports {
                let (gw, attr) = gateways[0];
                self.error(
                    "F12-not-in-module-routes",
                    &gw.file.path,
                    gw.file.line_of(attr),
                    format!(
                        "module.{} exports api_routes but is not in module_routes: its Lambdas \
                         deploy and every route returns 404",
                        call.name
                    ),
                    format!(
                        "add module.{}.api_routes to module_routes = concat(…)",
                        call.name
                    ),
                );
                if let Some(edit) = add_to_concat(gw.file, &attr.value, call.name) {
                    self.fixed_by(edit);
                }
            }
        }
    }

    /// F16: a module block passes what the module requires and nothing it does not declare.
    fn module_arguments(&mut self, f: &TfFile, block: &Block, name: &str, m: &ModuleTf) {
        const META: [&str; 6] = [
            "source",
            "version",
            "providers",
            "depends_on",
            "count",
            "for_each",
        ];
        let declared = declared_variables(&m.files);
        for (var, has_default) in &declared {
            if !has_default && block.body.get_attribute(var).is_none() {
                self.error(
                    "F16-missing-module-argument",
                    &f.path,
                    f.line_of(block),
                    format!(
                        "module \"{name}\" does not set {var}, which {} requires (it has no \
                         default)",
                        m.name
                    ),
                    format!("add {var} = … to the module block"),
                );
            }
        }
        for a in block.body.attributes() {
            let key = a.key.as_str();
            if !META.contains(&key) && !declared.contains_key(key) {
                self.error(
                    "F16-unknown-module-argument",
                    &f.path,
                    f.line_of(a),
                    format!(
                        "module \"{name}\" sets {key}, which {} does not declare",
                        m.name
                    ),
                    format!(
                        "remove it, or declare variable \"{key}\" in \
                         {}/infrastructure/variables.tf",
                        m.name
                    ),
                );
            }
        }
    }
}

/// `X` of `module.X.api_routes`.
fn module_routes_ref(expr: &Expression) -> Option<&str> {
    let Expression::Traversal(t) = expr else {
        return None;
    };
    let Expression::Variable(root) = &t.expr else {
        return None;
    };
    let ops: Vec<&TraversalOperator> = t.operators.iter().map(|o| o.value()).collect();
    match (root.as_str(), ops.as_slice()) {
        ("module", [TraversalOperator::GetAttr(name), TraversalOperator::GetAttr(attr)])
            if attr.as_str() == "api_routes" =>
        {
            Some(name.as_str())
        }
        _ => None,
    }
}

/// `to` relative to `from` (both absolute and normalized), for suggested `source` paths.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

/// `module.<name>.api_routes` added after the last `module.*.api_routes` of a `concat(…)`,
/// one per line when the call is written one per line.
fn add_to_concat(f: &TfFile, value: &Expression, name: &str) -> Option<Edit> {
    let Some(("concat", args)) = tf::func_call(value) else {
        return None;
    };
    let last = args.iter().rev().find(|a| module_routes_ref(a).is_some())?;
    let (start, end) = (value.span()?.start, last.span()?.end);
    let at = last.span()?.start;
    let line_start = f.text[..at].rfind('\n').map_or(0, |i| i + 1);
    let indent = &f.text[line_start..at];
    let text = if f.text[start..at].contains('\n') && indent.trim().is_empty() {
        format!(",\n{indent}module.{name}.api_routes")
    } else {
        format!(", module.{name}.api_routes")
    };
    Some(Edit::new(f, end..end, text))
}

/// The stack module directories (canonical) the env's module blocks call by local source.
pub(super) fn called_dirs(env: &Env) -> BTreeSet<PathBuf> {
    env.files
        .iter()
        .flat_map(|f| f.labeled("module"))
        .filter_map(|(_, b)| b.body.get_attribute("source")?.value.as_str())
        .filter(|s| s.starts_with("./") || s.starts_with("../"))
        .map(|s| env.dir.join(s))
        .filter(|d| d.is_dir())
        .map(|d| canonical(&d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn relative_source_paths() {
        assert_eq!(
            relative(
                Path::new("/w/demo-infra/envs/dev"),
                Path::new("/w/demo-stack/packages/module-ai/infrastructure")
            ),
            Path::new("../../../demo-stack/packages/module-ai/infrastructure")
        );
    }
}
