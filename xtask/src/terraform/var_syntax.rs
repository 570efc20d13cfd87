//! Var files are read before terraform sees them: terraform quotes the line of a value it cannot
//! parse in its error, and a var file's lines are its secrets. A broken file is reported here by
//! file, line and variable name, with what is wrong, and never with its content.

use std::path::Path;

use anyhow::{bail, Context, Result};
use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::Structure;
use hcl_edit::template::{Element, Template};

use super::{relative, VarFiles};

/// Every var file terraform will read for a command (passed or loaded by itself), as terraform
/// reads it: only `name = value` lines whose values are literals.
pub fn check(env_dir: &Path, vars: &VarFiles) -> Result<()> {
    for path in vars.passed.iter().chain(&vars.auto) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read var file {}", path.display()))?;
        let shown = relative(env_dir, path).display().to_string();
        let problem = if path.extension().is_some_and(|e| e == "json") {
            // serde_json's message names the line and the kind of error, not the text.
            serde_json::from_str::<serde_json::Value>(&text)
                .err()
                .map(|e| (e.line(), None, format!("not valid JSON ({e})")))
        } else {
            hcl_problem(&text)
        };
        if let Some((line, name, what)) = problem {
            let name = name.map(|n| format!(" (`{n}`)")).unwrap_or_default();
            bail!(
                "{shown} line {line}{name}: {what}. The line is not shown: it may hold a secret; \
                 fix it in {}",
                path.display()
            );
        }
    }
    Ok(())
}

/// The first line terraform would refuse, the variable it sets when known, and why.
fn hcl_problem(text: &str) -> Option<(usize, Option<String>, String)> {
    let body = match crate::stack::hcl::parse_body(text) {
        Ok(body) => body,
        Err(e) => {
            let line = e.location().line();
            let source = text.lines().nth(line.saturating_sub(1)).unwrap_or_default();
            let (name, why) = diagnose(source);
            return Some((line, name, why.to_string()));
        }
    };
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map_or(1, |r| {
            text[..r.start.min(text.len())].matches('\n').count() + 1
        })
    };
    for s in body.iter() {
        match s {
            Structure::Block(b) => {
                return Some((
                    line_of(hcl_edit::Span::span(b)),
                    None,
                    "a block is not allowed in a var file: it holds `name = value` lines only"
                        .into(),
                ))
            }
            Structure::Attribute(a) => {
                if let Some(why) = not_literal(&a.value) {
                    return Some((
                        line_of(hcl_edit::Span::span(a)),
                        Some(a.key.as_str().to_string()),
                        why.into(),
                    ));
                }
            }
        }
    }
    None
}

const UNQUOTED: &str = "the value is not quoted: write strings in double quotes (\"…\")";

/// Why terraform refuses this value in a var file (it allows no variables, no functions).
fn not_literal(expr: &Expression) -> Option<&'static str> {
    match expr {
        Expression::Variable(_) | Expression::Traversal(_) => Some(UNQUOTED),
        Expression::FuncCall(_) => {
            Some("functions cannot be called in a var file: write the value itself")
        }
        Expression::ForExpr(_) => Some("a `for` expression is not allowed in a var file"),
        Expression::StringTemplate(t) => interpolated(t),
        Expression::HeredocTemplate(h) => interpolated(&h.template),
        Expression::Array(items) => items.iter().find_map(not_literal),
        Expression::Object(obj) => obj.iter().find_map(|(k, v)| {
            let key = match k {
                ObjectKey::Expression(k) => not_literal(k),
                ObjectKey::Ident(_) => None,
            };
            key.or_else(|| not_literal(v.expr()))
        }),
        Expression::Parenthesis(p) => not_literal(p.inner()),
        Expression::UnaryOp(op) => not_literal(&op.expr),
        Expression::BinaryOp(op) => not_literal(&op.lhs_expr).or_else(|| not_literal(&op.rhs_expr)),
        Expression::Conditional(c) => not_literal(&c.cond_expr)
            .or_else(|| not_literal(&c.true_expr))
            .or_else(|| not_literal(&c.false_expr)),
        _ => None,
    }
}

fn interpolated(t: &Template) -> Option<&'static str> {
    t.iter()
        .any(|e| !matches!(e, Element::Literal(_)))
        .then_some(
            "`${…}` and `%{…}` are not allowed in a var file: write the value itself \
             (`$${` for a literal `${`)",
        )
}

/// What is wrong with a line the parser refused, judged from its shape: the variable's name
/// (never secret) and a fix. Nothing of the value is returned.
fn diagnose(source: &str) -> (Option<String>, &'static str) {
    let Some((name, value)) = source.split_once('=') else {
        return (
            None,
            "not a `name = value` line (a value may have run on from the line above)",
        );
    };
    let name = name.trim();
    let name = (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then(|| name.to_string());
    let value = value.trim();
    let why = if value.starts_with('\'') || value.contains('\'') && !value.starts_with('"') {
        "single quotes are not valid: write the value in double quotes (\"…\")"
    } else if let Some(rest) = value.strip_prefix('"') {
        match closing_quote(rest) {
            Some(end) if !rest[end + 1..].trim().is_empty() => {
                "there is text after the quoted value: remove it, or start a comment with #"
            }
            Some(_) => "this value cannot be read: check its escapes (\\\", \\\\, \\n)",
            None => "the closing double quote is missing",
        }
    } else if value.is_empty() {
        "the value is missing after `=`"
    } else {
        UNQUOTED
    };
    (name, why)
}

/// The byte index of the `"` that closes a string whose opening quote has been removed.
fn closing_quote(rest: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Option<(usize, Option<String>, String)> {
        hcl_problem(text)
    }

    #[test]
    fn literals_pass() {
        let ok = "a = \"x\"\nb = 1\nc = -2\nd = true\ne = null\nf = [\"x\", 2]\n\
                  g = { k = \"v\", \"q\" = [1] }\nh = <<EOT\nline $${x}\nEOT\n# c\n";
        assert_eq!(problem(ok), None);
    }

    #[test]
    fn each_broken_line_is_named_without_its_value() {
        let cases = [
            ("a = \"x\"\ntoken = 'secret-1'\n", 2, "single quotes"),
            ("token = secret-2\n", 1, "not quoted"),
            ("token = secret3\n", 1, "not quoted"),
            ("token = \"secret-4\" trailing\n", 1, "text after"),
            ("token = \"secret-5\n", 1, "closing double quote"),
            ("token = \"${var.x}\"\n", 1, "not allowed"),
            ("token = file(\"x\")\n", 1, "functions"),
            ("token = [a.b]\n", 1, "not quoted"),
        ];
        for (text, line, what) in cases {
            let (l, name, why) = problem(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(l, line, "{text}");
            assert_eq!(name.as_deref(), Some("token"), "{text}");
            assert!(why.contains(what), "{text}: {why}");
            assert!(!why.contains("secret"), "{why}");
        }
    }
}
