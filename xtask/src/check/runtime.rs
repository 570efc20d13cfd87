//! F4 runtimes and F17 the integration timeout.

use std::collections::{BTreeMap, BTreeSet};

use hcl_edit::expr::{Array, Expression};
use hcl_edit::Span;

use super::fix::Edit;
use super::routes::ModuleRoutes;
use super::{Checker, ModuleTf, Scope};
use crate::stack::hcl::{self as tf, TfFile};

const MAX_INTEGRATION_TIMEOUT: f64 = 30.0;

impl Checker<'_> {
    /// F4 for every function and layer. A wrong runtime held in a local is one edit, so it is
    /// one finding at the local, naming every resource that uses it.
    pub(super) fn runtimes(&mut self, scopes: &[(&str, Scope)]) {
        let want = self.cfg.runtime();
        for (_, scope) in scopes {
            // Local name → the resources whose runtime it sets, in source order.
            let mut via_local: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for f in scope.files {
                for (name, block) in f.resources("aws_lambda_function") {
                    let addr = format!("aws_lambda_function.{name}");
                    let Some(e) = tf::attr(&block.body, "runtime") else {
                        if tf::attr(&block.body, "image_uri").is_none() {
                            self.error(
                                "F4-runtime",
                                &f.path,
                                f.line_of(block),
                                format!("{addr} sets no runtime"),
                                format!("add runtime = \"{want}\""),
                            );
                        }
                        continue;
                    };
                    match tf::resolve_text(e, scope.files, scope.dir) {
                        Some(r) if r != want => match tf::local_name(e) {
                            Some(local) => via_local.entry(local).or_default().push(addr),
                            None => {
                                self.error(
                                    "F4-runtime",
                                    &f.path,
                                    f.line_of(e),
                                    format!(
                                        "{addr} has runtime \"{r}\" but the build targets {want}"
                                    ),
                                    format!(
                                        "set it to \"{want}\", the version the build installs \
                                         dependencies for (python in xtask.toml)"
                                    ),
                                );
                                self.literal_fix(f, e, &want);
                            }
                        },
                        Some(_) => {}
                        // `var.lambda_runtime`, a module output…: what the stack model evaluates.
                        None => self.model_runtime(f, block, e, &addr, &want),
                    }
                }
                for (name, block) in f.resources("aws_lambda_layer_version") {
                    let addr = format!("aws_lambda_layer_version.{name}");
                    let rs = match tf::attr(&block.body, "compatible_runtimes") {
                        Some(Expression::Array(rs)) => rs,
                        None => continue,
                        // `var.runtimes`, `concat(…)`: what the stack model evaluates.
                        Some(e) => {
                            self.model_layer_runtimes(f, block, e, &addr, &want);
                            continue;
                        }
                    };
                    let mut wrong = Vec::new();
                    let mut unread = false;
                    for r in rs.iter() {
                        match tf::resolve_text(r, scope.files, scope.dir) {
                            Some(text) if text != want => match tf::local_name(r) {
                                Some(local) => via_local
                                    .entry(local)
                                    .or_default()
                                    .push(format!("{addr} (compatible_runtimes)")),
                                None => wrong.push(text),
                            },
                            Some(_) => {}
                            None => unread = true,
                        }
                    }
                    if unread && wrong.is_empty() {
                        let e =
                            tf::attr(&block.body, "compatible_runtimes").expect("matched above");
                        self.model_layer_runtimes(f, block, e, &addr, &want);
                    }
                    if !wrong.is_empty() {
                        let fixed = fixed_runtimes(f, rs, &want);
                        self.error(
                            "F4-runtime",
                            &f.path,
                            f.line_of(rs),
                            format!(
                                "{addr} is marked compatible with {} but the build targets \
                                 {want}",
                                wrong.join(", ")
                            ),
                            format!(
                                "set compatible_runtimes = [\"{want}\"]: its packages are built \
                                 for {want} only"
                            ),
                        );
                        if let Some(edit) = fixed {
                            self.fixed_by(edit);
                        }
                    }
                }
            }
            for (local, users) in via_local {
                let Some((f, value)) = tf::local_definition(scope.files, &local) else {
                    continue;
                };
                let r = tf::resolve_text(value, scope.files, scope.dir).unwrap_or_default();
                self.error(
                    "F4-runtime",
                    &f.path,
                    f.line_of(value),
                    format!(
                        "local.{local} is \"{r}\" but the build targets {want}; it sets the \
                         runtime of {}",
                        users.join(", ")
                    ),
                    format!(
                        "set {local} = \"{want}\" in this locals block (one edit for all {} \
                         uses; python in xtask.toml is the version the build installs for)",
                        users.len()
                    ),
                );
                self.literal_fix(f, value, &want);
            }
        }
    }

    /// F4 for a runtime only the stack model can evaluate (a variable passed by the env, its
    /// default, a module output): wrong is an error; unknown is said, never skipped silently.
    fn model_runtime(
        &mut self,
        f: &TfFile,
        block: &hcl_edit::structure::Block,
        e: &Expression,
        addr: &str,
        want: &str,
    ) {
        let runtimes: Vec<crate::stack::model::Field<String>> = self
            .model
            .functions_at(&f.path, f.line_of(block))
            .filter_map(|m| m.runtime.clone())
            .collect();
        let wrong: BTreeSet<&String> = runtimes
            .iter()
            .filter_map(|r| r.known())
            .filter(|r| *r != want)
            .collect();
        if !wrong.is_empty() {
            let wrong: Vec<&str> = wrong.into_iter().map(String::as_str).collect();
            self.error(
                "F4-runtime",
                &f.path,
                f.line_of(e),
                format!(
                    "{addr} has runtime \"{}\" (as the env's module calls set it; see `cargo xtask stack`) but the build targets {want}",
                    wrong.join("\", \"")
                ),
                format!(
                    "set the value it comes from to \"{want}\", the version the build installs \
                     dependencies for (python in xtask.toml)"
                ),
            );
            return;
        }
        let base = self.base.clone();
        if let Some(unknown) = runtimes.iter().find_map(|r| match r {
            crate::stack::model::Field::Unknown { unknown } => Some(unknown),
            _ => None,
        }) {
            self.warn(
                "F4-runtime-unverified",
                &f.path,
                f.line_of(e),
                format!(
                    "{addr}'s runtime is {}",
                    crate::stack::model::not_checked(unknown, &base)
                ),
                format!("write runtime as \"{want}\" (or a local or variable default holding it)"),
            );
        }
    }

    /// F4 for a layer's `compatible_runtimes` only the stack model can evaluate.
    fn model_layer_runtimes(
        &mut self,
        f: &TfFile,
        block: &hcl_edit::structure::Block,
        e: &Expression,
        addr: &str,
        want: &str,
    ) {
        use crate::stack::model::{not_checked, Field};
        let fields: Vec<Field<Vec<String>>> = self
            .model
            .layers_at(&f.path, f.line_of(block))
            .filter_map(|l| l.compatible_runtimes.clone())
            .collect();
        let wrong: BTreeSet<&String> = fields
            .iter()
            .filter_map(Field::known)
            .flatten()
            .filter(|r| *r != want)
            .collect();
        if !wrong.is_empty() {
            let wrong: Vec<&str> = wrong.into_iter().map(String::as_str).collect();
            self.error(
                "F4-runtime",
                &f.path,
                f.line_of(e),
                format!(
                    "{addr} is marked compatible with {} (as the stack model evaluates it) but \
                     the build targets {want}",
                    wrong.join(", ")
                ),
                format!("set compatible_runtimes = [\"{want}\"]: its packages are built for {want} only"),
            );
            return;
        }
        let base = self.base.clone();
        if let Some(Field::Unknown { unknown }) =
            fields.iter().find(|f| matches!(f, Field::Unknown { .. }))
        {
            self.warn(
                "F4-runtime-unverified",
                &f.path,
                f.line_of(e),
                format!(
                    "{addr}'s compatible_runtimes is {}",
                    not_checked(unknown, &base)
                ),
                format!("write compatible_runtimes = [\"{want}\"]"),
            );
        }
    }

    /// A runtime written as a string literal is fixed by writing the target there.
    fn literal_fix(&mut self, f: &TfFile, e: &Expression, want: &str) {
        if let (Expression::String(_), Some(span)) = (e, e.span()) {
            self.fixed_by(Edit::new(f, span, format!("\"{want}\"")));
        }
    }

    /// F17: a routed function's timeout fits the integration's.
    pub(super) fn timeouts(&mut self, modules: &[ModuleTf], routes: &[ModuleRoutes]) {
        for (m, mr) in modules.iter().zip(routes) {
            let routed: BTreeSet<&str> = mr
                .routes
                .iter()
                .filter_map(|r| r.function.as_deref())
                .collect();
            for f in &m.files {
                for (name, block) in f.resources("aws_lambda_function") {
                    // The model's view too: routes built by for expressions, module outputs….
                    let model = self.model_functions_at(f, block);
                    if !routed.contains(name) && model.iter().all(|m| m.routes.is_empty()) {
                        continue;
                    }
                    let Some(e) = tf::attr(&block.body, "timeout") else {
                        continue;
                    };
                    let secs = match e {
                        Expression::Number(n) => n.value().as_f64(),
                        // `var.timeout`, `local.timeout`: as the stack model evaluates it.
                        _ => {
                            let fields: Vec<_> =
                                model.iter().filter_map(|m| m.timeout.clone()).collect();
                            let known = fields
                                .iter()
                                .filter_map(|t| t.known()?.parse::<f64>().ok())
                                .fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.max(t))));
                            if known.is_none() {
                                if let Some(crate::stack::model::Field::Unknown { unknown }) =
                                    fields.first()
                                {
                                    let base = self.base.clone();
                                    self.warn(
                                        "F17-timeout-unverified",
                                        &f.path,
                                        f.line_of(e),
                                        format!(
                                            "aws_lambda_function.{name} is routed through the HTTP API and its timeout is {}",
                                            crate::stack::model::not_checked(unknown, &base)
                                        ),
                                        "write timeout as a number of seconds, 30 or less".into(),
                                    );
                                }
                            }
                            known
                        }
                    };
                    let Some(secs) = secs.filter(|s| *s > MAX_INTEGRATION_TIMEOUT) else {
                        continue;
                    };
                    self.warn(
                        "F17-timeout",
                        &f.path,
                        f.line_of(e),
                        format!(
                            "aws_lambda_function.{name} has timeout = {secs} but is routed \
                             through the HTTP API, whose integrations give up after 30 s"
                        ),
                        "lower the timeout to 30 or less, or move the slow work off the request \
                         path"
                            .into(),
                    );
                }
            }
        }
    }

    /// The model's instances of the resource `block` declares (one, or one per count/for_each key).
    fn model_functions_at(
        &self,
        f: &TfFile,
        block: &hcl_edit::structure::Block,
    ) -> Vec<crate::stack::model::Function> {
        self.model
            .functions_at(&f.path, f.line_of(block))
            .cloned()
            .collect()
    }
}

/// `compatible_runtimes` with each wrong literal replaced by the target, once: the whole list
/// rewritten when it is on one line, else each literal in place.
fn fixed_runtimes(f: &TfFile, rs: &Array, want: &str) -> Option<Edit> {
    let span = rs.span()?;
    let target = format!("\"{want}\"");
    let mut items: Vec<String> = Vec::new();
    for r in rs.iter() {
        let text = match r {
            Expression::String(_) => target.clone(),
            _ => f.text.get(r.span()?)?.to_string(),
        };
        if !items.contains(&text) {
            items.push(text);
        }
    }
    if f.text.get(span.clone())?.contains('\n') {
        return None;
    }
    Some(Edit::new(f, span, format!("[{}]", items.join(", "))))
}
