//! `cargo xtask stack`: the model as the xtask believes it, one block per function, or as a
//! versioned JSON document (`"schema": 1`, see README) that specs and scripts pin.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config::Config;
use crate::stack::model::{not_checked, Code, Field, Function, LayerTarget, Model};
use crate::ui;

pub const SCHEMA: u32 = 1;

/// Loads the model for `env` and prints it; false when a `.tf` file does not parse.
pub fn run(
    cfg: &Config,
    infra: Option<&Path>,
    env: &str,
    names: &[String],
    json: bool,
) -> Result<bool> {
    if let Some(envs) = infra.map(|i| i.join("envs")).filter(|e| e.is_dir()) {
        let names = crate::stack::hcl::env_names(&envs);
        if !names.iter().any(|n| n == env) {
            return Err(ui::Usage(format!(
                "no env `{env}` in {}: envs are {}",
                envs.display(),
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ))
            .into());
        }
    }
    let found = crate::stack::discover::discover(cfg, infra, &[])?;
    let m = Model::load(&cfg.stack, infra, env, &found.artifacts);
    let base = base(&cfg.stack);
    let selected: Vec<&Function> = select(&m, names)?;
    if json {
        let mut doc = serde_json::json!({
            "schema": SCHEMA,
            "env": env,
            "roots": m.roots,
            "functions": selected,
            "layers": m.layers,
            "unknowns": m.unknowns,
            "unknown_expansions": m.unknown_expansions,
            "data_lookups": m.data_lookups,
            "parse_errors": m.parse_errors.iter().map(|e| serde_json::json!({
                "file": e.path, "line": e.line, "message": e.message,
            })).collect::<Vec<_>>(),
        });
        relativize(&mut doc, &base);
        ui::out(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        ui::out(&text(&m, &selected, &base))?;
    }
    Ok(m.parse_errors.is_empty())
}

/// The directory paths are shown from: the stack's parent (where the infra repo sits too).
pub fn base(stack: &Path) -> PathBuf {
    let stack = stack.canonicalize().unwrap_or_else(|_| stack.to_path_buf());
    stack.parent().map(Path::to_path_buf).unwrap_or(stack)
}

/// Functions named by address, artifact id (`module-ai/chat`), artifact or resource name, or
/// function_name; all when none is named.
fn select<'a>(m: &'a Model, names: &[String]) -> Result<Vec<&'a Function>> {
    if names.is_empty() {
        return Ok(m.functions.iter().collect());
    }
    let mut out = Vec::new();
    for n in names {
        let hits: Vec<&Function> = m.functions.iter().filter(|f| matches(f, n)).collect();
        if hits.is_empty() {
            let known: Vec<&str> = m.functions.iter().map(|f| f.address.as_str()).collect();
            return Err(ui::Usage(format!(
                "no function `{n}` in the stack model; functions: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ))
            .into());
        }
        for h in hits {
            if !out.iter().any(|o: &&Function| o.address == h.address) {
                out.push(h);
            }
        }
    }
    Ok(out)
}

fn matches(f: &Function, n: &str) -> bool {
    let resource = f
        .address
        .rsplit("aws_lambda_function.")
        .next()
        .unwrap_or("");
    let name = resource.split('[').next().unwrap_or(resource);
    let artifact = match &f.code {
        Code::Zip {
            artifact: Some(a), ..
        } => a.as_str(),
        _ => "",
    };
    f.address == n
        || resource == n
        || name == n
        || artifact == n
        || artifact.rsplit('/').next() == Some(n)
        || f.function_name
            .as_ref()
            .and_then(Field::known)
            .map(String::as_str)
            == Some(n)
}

fn rel(p: &Path, base: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).display().to_string()
}

fn field<T>(
    f: &Option<Field<T>>,
    show: impl Fn(&T) -> String,
    absent: &str,
    base: &Path,
) -> String {
    match f {
        None => absent.to_string(),
        Some(Field::Known(t)) => show(t),
        Some(Field::Unknown { unknown }) => not_checked(unknown, base),
    }
}

fn text(m: &Model, fns: &[&Function], base: &Path) -> String {
    let roots: Vec<String> = m.roots.iter().map(|r| rel(r, base)).collect();
    let mut out = format!("read from {}\n\n", roots.join(", "));
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("  {k:<9} {v}\n"));
    for f in fns {
        out.push_str(&format!(
            "{}  ({}:{})\n",
            f.address,
            rel(&f.at.file, base),
            f.at.line
        ));
        if let Some(u) = &f.instances {
            line(
                &mut out,
                "count",
                format!("kept once: {}", not_checked(u, base)),
            );
        }
        let code = match &f.code {
            Code::Zip {
                path,
                artifact: Some(a),
            } => format!("{} (built by {a})", rel(path, base)),
            Code::Zip {
                path,
                artifact: None,
            } => format!("{} (no artifact of this stack builds it)", rel(path, base)),
            Code::S3 { key, .. } => format!(
                "s3 key {}",
                field(&Some(key.clone()), |k| k.clone(), "", base)
            ),
            Code::Image { uri } => format!(
                "image {}",
                field(&Some(uri.clone()), |k| k.clone(), "", base)
            ),
            Code::Unknown { unknown } => not_checked(unknown, base),
            Code::Missing => "none (no filename, s3_key or image_uri)".into(),
        };
        line(&mut out, "zip", code);
        line(
            &mut out,
            "handler",
            field(&f.handler, |s| s.clone(), "not set", base),
        );
        line(
            &mut out,
            "runtime",
            field(&f.runtime, |s| s.clone(), "not set", base),
        );
        line(
            &mut out,
            "arch",
            field(
                &f.architectures,
                |a| a.join(", "),
                "x86_64 (Lambda's default)",
                base,
            ),
        );
        if f.layers.is_empty() {
            line(&mut out, "layers", "none".into());
        }
        for (i, u) in f.layers.iter().enumerate() {
            let target = match &u.target {
                LayerTarget::Deployed { address } => match m.layer(address) {
                    Some(l) => match (&l.zip, &l.artifact) {
                        (Some(Field::Known(z)), Some(a)) => {
                            format!("{address} → {} ({a})", rel(z, base))
                        }
                        (Some(Field::Known(z)), None) => {
                            format!("{address} → {} (not built here)", rel(z, base))
                        }
                        (Some(Field::Unknown { unknown }), _) => {
                            format!("{address} → {}", not_checked(unknown, base))
                        }
                        (None, _) => format!("{address} (no filename)"),
                    },
                    None => address.clone(),
                },
                LayerTarget::External { arn } => format!("{arn} (external)"),
                LayerTarget::Unknown { unknown } => not_checked(unknown, base),
            };
            let cond = match &u.conditional {
                Some(c) => format!(
                    " [only if: {}]",
                    not_checked(c, base).trim_start_matches("not checked: ")
                ),
                None => String::new(),
            };
            line(
                &mut out,
                if i == 0 { "layers" } else { "" },
                format!("{}. {target}{cond}", i + 1),
            );
        }
        for (i, r) in f.routes.iter().enumerate() {
            line(
                &mut out,
                if i == 0 { "routes" } else { "" },
                format!("{} {}", r.method, r.path),
            );
        }
        if !f.integrations.is_empty() {
            line(&mut out, "gateway", f.integrations.join(", "));
        }
        if !f.permissions.is_empty() {
            line(&mut out, "invoke", f.permissions.join(", "));
        }
        if let Field::Known(names) = &f.environment {
            if !names.is_empty() {
                line(&mut out, "env vars", names.join(", "));
            }
        }
        out.push('\n');
    }
    if fns.is_empty() {
        out.push_str("no aws_lambda_function in the model\n");
    }
    if !m.unknowns.is_empty() {
        out.push_str(&format!(
            "{} value(s) the configuration alone does not decide:\n",
            m.unknowns.len()
        ));
        for u in &m.unknowns {
            out.push_str(&format!("  {}\n", not_checked(u, base)));
        }
    }
    for e in &m.parse_errors {
        out.push_str(&format!(
            "error: {}:{}: {}\n",
            rel(&e.path, base),
            e.line,
            e.message
        ));
    }
    out
}

/// Paths in the JSON document are relative to the stack's parent, so a spec can pin them.
fn relativize(v: &mut serde_json::Value, base: &Path) {
    let prefix = format!("{}/", base.display());
    match v {
        serde_json::Value::String(s) => {
            if let Some(rest) = s.strip_prefix(&prefix) {
                *s = rest.to_string();
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|v| relativize(v, base)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|v| relativize(v, base)),
        _ => {}
    }
}
