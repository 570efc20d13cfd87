//! F19, F20: what `terraform plan` cannot do on a fresh env. A `count`/`for_each` that depends
//! on an attribute only the apply of a resource of the same configuration knows (`Invalid count
//! argument`), and a data source that looks up what the configuration creates (`empty
//! result`). Both are warnings while `deploy` bootstraps them (it applies the resources they
//! point at first), errors when bootstrapping is off.

use std::path::Path;

use super::{fix, Checker, Env, Severity};
use crate::stack::graph::{Step, Tree};

pub(super) fn check(c: &mut Checker, env: &Env) {
    if !env.readable {
        return;
    }
    // The model's own tree when it was read from this env (it was, unless the env has no
    // `.tf` files to read): `stack --json` shows the same facts, and the env is read once.
    let own = c.model.roots == [env.dir.clone()];
    let tree = match c.model.tree.take() {
        Some(t) if own => t,
        other => {
            c.model.tree = other;
            Tree::load(&env.dir)
        }
    };
    report(c, &tree);
    if own {
        c.model.tree = Some(tree);
    }
}

fn report(c: &mut Checker, tree: &Tree) {
    let severity = if c.bootstrap {
        Severity::Warning
    } else {
        Severity::Error
    };
    let off = "bootstrapping is off (`--no-bootstrap` or `[terraform] bootstrap = false`)";
    for u in tree.unknown_counts() {
        let first = u.why.steps.first().map_or(u.line, |s| s.line);
        let file = u
            .why
            .steps
            .first()
            .map_or(u.file.clone(), |s| s.file.clone());
        let message = format!(
            "the {} of {} depends on {}.{}, known only after apply: terraform plan fails on a \
             fresh env (Invalid {} argument){}",
            u.meta,
            u.address,
            u.why.resource,
            u.why.attr,
            u.meta,
            chain(c, &u.why.steps)
        );
        let later = if c.bootstrap {
            format!(
                ", or let `cargo xtask deploy` bootstrap: it applies {} first (stage 1/2), then \
                 the whole env",
                u.why.resource
            )
        } else {
            format!("; {off}")
        };
        let fix = format!(
            "decide the {} from a value known at plan time (e.g. a boolean `enable_{}` variable \
             set by the env) instead of {}.{}{later}",
            u.meta,
            short_name(&u.why.resource),
            u.why.resource,
            u.why.attr
        );
        c.add(severity, "F19-count-unknown", &file, first, message, fix);
    }
    for l in tree.own_lookups() {
        // As the data source's own module writes it.
        let data = match l.address.rsplit_once(".data.") {
            Some((_, local)) => format!("data.{local}"),
            None => l.address.clone(),
        };
        let steps = [
            Step {
                file: l.file.clone(),
                line: l.line,
                text: format!("{}: {} = \"{}\"", l.address, l.key, l.value),
            },
            Step {
                file: l.resource_file.clone(),
                line: l.resource_line,
                text: format!("{}: {} = \"{}\"", l.resource, l.key, l.value),
            },
        ];
        let message = format!(
            "{} looks up {} \"{}\", which this env creates ({}): terraform plan fails on a fresh \
             env (empty result), and later it reads what exists before the apply changes it{}",
            l.address,
            l.key,
            l.value,
            l.resource,
            chain(c, &steps)
        );
        let instead = match &l.instead {
            Some((expr, via)) if expr == via => format!(
                "reference the resource instead: use {expr} in place of {data}.arn and remove \
                 the data source"
            ),
            Some((expr, via)) => format!(
                "reference the resource instead: use {expr} (it carries {via}) in place of \
                 {data}.arn and remove the data source"
            ),
            None => format!(
                "reference the resource instead: pass {}'s ARN in through a module output and a \
                 variable, use it in place of {data}.arn and remove the data source",
                l.resource
            ),
        };
        let by = if !l.splices.is_empty() {
            " (`cargo xtask check --fix` does it)"
        } else {
            ""
        };
        let later = if c.bootstrap {
            format!(
                "; or let `cargo xtask deploy` bootstrap: it applies {} first",
                l.resource
            )
        } else {
            format!("; {off}")
        };
        c.add(
            severity,
            "F20-data-reads-own",
            &l.file,
            l.line,
            message,
            format!("{instead}{by}{later}"),
        );
        for s in &l.splices {
            let f = &tree.files(s.module)[s.file];
            c.fixed_by(fix::Edit::new(f, s.range.clone(), s.text.clone()));
        }
    }
}

/// The hops, one a line, under the message.
fn chain(c: &Checker, steps: &[Step]) -> String {
    let mut out = String::new();
    for (i, s) in steps.iter().enumerate() {
        let lead = if i == 0 {
            "\n  chain: "
        } else {
            "\n       → "
        };
        out += &format!("{lead}{}:{} {}", rel(c, &s.file), s.line, s.text);
    }
    out
}

fn rel(c: &Checker, p: &Path) -> String {
    c.rel(p)
}

/// `authorizer` of `module.x.aws_lambda_function.authorizer`.
fn short_name(address: &str) -> &str {
    address.rsplit('.').next().unwrap_or(address)
}
