//! F4 runtimes and F17 the integration timeout.

use std::collections::BTreeSet;

use hcl_edit::expr::Expression;
use hcl_edit::structure::Block;

use super::routes::ModuleRoutes;
use super::{Checker, ModuleTf, Scope};
use crate::tf::{self, TfFile};

const MAX_INTEGRATION_TIMEOUT: f64 = 30.0;

impl Checker<'_> {
    /// F4 for every function and layer.
    pub(super) fn runtimes(&mut self, scopes: &[(&str, Scope)]) {
        for (_, scope) in scopes {
            for f in scope.files {
                for kind in ["aws_lambda_function", "aws_lambda_layer_version"] {
                    for (name, block) in f.resources(kind) {
                        self.runtime(scope, f, block, &format!("{kind}.{name}"), kind);
                    }
                }
            }
        }
    }

    fn runtime(&mut self, scope: &Scope, f: &TfFile, block: &Block, addr: &str, kind: &str) {
        let want = self.cfg.runtime();
        let fix = format!(
            "set it to \"{want}\", the version the build installs dependencies for \
             (python in xtask.toml)"
        );
        if kind == "aws_lambda_function" {
            match tf::attr(&block.body, "runtime") {
                None if tf::attr(&block.body, "image_uri").is_none() => self.error(
                    "F4-runtime",
                    &f.path,
                    f.line_of(block),
                    format!("{addr} sets no runtime"),
                    format!("add runtime = \"{want}\""),
                ),
                Some(e) => match tf::resolve_text(e, scope.files, scope.dir) {
                    Some(r) if r != want => self.error(
                        "F4-runtime",
                        &f.path,
                        f.line_of(e),
                        format!("{addr} has runtime \"{r}\" but the build targets {want}"),
                        fix,
                    ),
                    _ => {}
                },
                None => {}
            }
        } else if let Some(Expression::Array(rs)) = tf::attr(&block.body, "compatible_runtimes") {
            let wrong: Vec<&str> = rs
                .iter()
                .filter_map(|r| r.as_str())
                .filter(|r| *r != want)
                .collect();
            if !wrong.is_empty() {
                self.error(
                    "F4-runtime",
                    &f.path,
                    f.line_of(rs),
                    format!(
                        "{addr} is marked compatible with {} but the build targets {want}",
                        wrong.join(", ")
                    ),
                    format!(
                        "set compatible_runtimes = [\"{want}\"]: its packages are built for \
                         {want} only"
                    ),
                );
            }
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
                    if !routed.contains(name) {
                        continue;
                    }
                    let Some(e) = tf::attr(&block.body, "timeout") else {
                        continue;
                    };
                    let Expression::Number(n) = e else { continue };
                    let Some(secs) = n.value().as_f64().filter(|s| *s > MAX_INTEGRATION_TIMEOUT)
                    else {
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
}
