//! `cargo xtask new env NAME [--from ENV]`: a copy of an env's Terraform root module, var files
//! included, secrets not: a secret file becomes a placeholder with the same variable names and
//! empty values, a sensitive variable's value in any other var file becomes `""`. Terraform's
//! state, `.terraform/` and the xtask's `.xtask/` are never copied. The env's own name in string
//! literals (`environment = "dev"`, a backend key `acme/dev/…`) becomes the new one, each
//! rewrite printed, so the copy never shares the original's state.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use hcl_edit::Span;

use crate::stack::hcl::{self as tf, TfFile};

/// What `new env` did, for the report.
#[derive(Debug, Default)]
pub struct Copied {
    pub dir: String,
    pub files: Vec<String>,
    /// `file: placeholder (names)`, `file:line: before → after`, files left out.
    pub notes: Vec<String>,
}

pub fn new_env(infra: Option<&Path>, name: &str, from: Option<&str>) -> Result<Copied> {
    let infra = infra.context(
        "no infra repo found (an envs/ directory): pass --infra DIR or set `infra` in xtask.toml",
    )?;
    let envs = infra.join("envs");
    let names = tf::env_names(&envs);
    let from = match from {
        Some(f) if names.iter().any(|n| n == f) => f.to_string(),
        Some(f) => bail!(
            "--from {f}: no env {f:?} in {}; there are: {}",
            envs.display(),
            names.join(", ")
        ),
        None if names.iter().any(|n| n == "dev") => "dev".to_string(),
        None if names.len() == 1 => names[0].clone(),
        None => bail!(
            "which env to copy? pass --from ENV; {} has: {}",
            envs.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ),
    };
    let dest = envs.join(name);
    if dest.exists() {
        bail!(
            "{} already exists: `new env` never overwrites; pick another name",
            dest.display()
        );
    }
    let src = envs.join(&from);
    let sensitive = crate::stack::env::sensitive_variables(&src);
    // Built beside its final place and renamed: never a half-copied env.
    let tmp = tempfile::Builder::new()
        .prefix(".xtask-new-env-")
        .tempdir_in(&envs)
        .with_context(|| format!("cannot write in {}", envs.display()))?;
    let mut out = Copied {
        dir: format!("envs/{name}"),
        ..Copied::default()
    };
    let ctx = Ctx {
        from: &from,
        to: name,
        sensitive: &sensitive,
    };
    copy(&src, tmp.path(), "", &ctx, &mut out)?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(tmp.keep(), &dest)
        .with_context(|| format!("cannot create {}", dest.display()))?;
    out.notes.insert(0, format!("copied from envs/{from}"));
    Ok(out)
}

struct Ctx<'a> {
    from: &'a str,
    to: &'a str,
    sensitive: &'a BTreeSet<String>,
}

/// Never copied: Terraform's working directory and state, the xtask's plans and logs.
fn skipped(name: &str, is_dir: bool) -> bool {
    if is_dir {
        return matches!(name, ".terraform" | ".xtask" | "terraform.tfstate.d");
    }
    name.ends_with(".tfstate")
        || name.contains(".tfstate.")
        || name.ends_with(".tfplan")
        || name == "crash.log"
}

/// A file that holds secrets by its name; `*.example` files are templates and copied.
fn secret_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !lower.ends_with(".example")
        && (lower.contains("secret")
            || lower.contains("credential")
            || lower == ".env"
            || lower.starts_with(".env.")
            || lower.ends_with(".pem")
            || lower.ends_with(".key"))
}

fn copy(src: &Path, dest: &Path, rel: &str, ctx: &Ctx, out: &mut Copied) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .with_context(|| format!("cannot read {}", src.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let file_name = e.file_name().to_string_lossy().into_owned();
        let ty = e.file_type()?;
        let shown = format!("{}{rel}{file_name}", out.dir.clone() + "/");
        if skipped(&file_name, ty.is_dir()) {
            continue;
        }
        let to = dest.join(&file_name);
        if ty.is_dir() {
            std::fs::create_dir(&to)?;
            copy(&e.path(), &to, &format!("{rel}{file_name}/"), ctx, out)?;
            continue;
        }
        let bytes = std::fs::read(e.path())
            .with_context(|| format!("cannot read {}", e.path().display()))?;
        let mode = e.metadata()?.permissions().mode() & 0o777;
        let text = String::from_utf8(bytes.clone());
        let tfvars = file_name.ends_with(".tfvars");
        if secret_file(&file_name) {
            match (&text, tfvars || file_name.starts_with(".env")) {
                (Ok(t), true) => {
                    let (body, names) = if tfvars {
                        placeholder_tfvars(&e.path(), t)?
                    } else {
                        placeholder_dotenv(t)
                    };
                    std::fs::write(&to, body)?;
                    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
                    out.notes.push(format!(
                        "{shown}: a placeholder, values not copied; fill in {}",
                        if names.is_empty() {
                            "nothing".into()
                        } else {
                            names.join(", ")
                        }
                    ));
                    out.files.push(shown);
                }
                _ => out.notes.push(format!("{shown}: a secret, not copied")),
            }
            continue;
        }
        let new = match text {
            Ok(t) if tfvars || file_name.ends_with(".tf") => {
                let mut t = rename_env(&t, ctx.from, ctx.to, &shown, &mut out.notes);
                if tfvars {
                    t = blank_sensitive(&e.path(), &t, ctx.sensitive, &shown, &mut out.notes)?;
                }
                t.into_bytes()
            }
            _ => bytes,
        };
        std::fs::write(&to, new)?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
        out.files.push(shown);
    }
    Ok(())
}

fn parse_vars(path: &Path, text: &str) -> Result<TfFile> {
    TfFile::from_text(path, text.to_string()).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}: {} (the line is not shown: it may hold a secret); fix it, then run `new env` again",
            e.path.display(),
            e.line,
            e.message
        )
    })
}

/// The same variable names, empty values: what to fill in for the new env.
fn placeholder_tfvars(path: &Path, text: &str) -> Result<(String, Vec<String>)> {
    let f = parse_vars(path, text)?;
    let names: Vec<String> = f
        .body
        .attributes()
        .map(|a| a.key.as_str().to_string())
        .collect();
    let mut body = String::from(
        "# Secrets of this env: fill in (written by `cargo xtask new env`; values are never copied).\n",
    );
    for n in &names {
        body.push_str(&format!("{n} = \"\"\n"));
    }
    Ok((body, names))
}

fn placeholder_dotenv(text: &str) -> (String, Vec<String>) {
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let l = l
                .trim_start()
                .strip_prefix("export ")
                .unwrap_or(l.trim_start());
            let (k, _) = l.split_once('=')?;
            (!k.starts_with('#') && !k.trim().is_empty()).then(|| k.trim().to_string())
        })
        .collect();
    let body = names.iter().map(|n| format!("{n}=\n")).collect();
    (body, names)
}

/// A sensitive variable's value in a var file becomes `""`.
fn blank_sensitive(
    path: &Path,
    text: &str,
    sensitive: &BTreeSet<String>,
    shown: &str,
    notes: &mut Vec<String>,
) -> Result<String> {
    let f = parse_vars(path, text)?;
    let mut spans: Vec<(std::ops::Range<usize>, String)> = f
        .body
        .attributes()
        .filter(|a| sensitive.contains(a.key.as_str()))
        .filter_map(|a| a.value.span().map(|r| (r, a.key.as_str().to_string())))
        .collect();
    spans.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut t = text.to_string();
    for (r, name) in spans {
        notes.push(format!(
            "{shown}: {name} is sensitive, its value not copied"
        ));
        t.replace_range(r, "\"\"");
    }
    Ok(t)
}

/// `from` as a whole word inside string literals becomes `to` (`"dev"`, `"acme/dev/state"`,
/// `"acme-dev"`); comments and identifiers are left alone. Each change is noted.
fn rename_env(text: &str, from: &str, to: &str, shown: &str, notes: &mut Vec<String>) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let mut new = String::with_capacity(line.len());
        let (mut in_str, mut escaped) = (false, false);
        let mut k = 0;
        while k < line.len() {
            let c = line[k..].chars().next().unwrap_or(' ');
            if !in_str && (c == '#' || line[k..].starts_with("//")) {
                new.push_str(&line[k..]);
                break;
            }
            if in_str && !escaped && line[k..].starts_with(from) {
                let before = line[..k].chars().next_back();
                let after = line[k + from.len()..].chars().next();
                if !word(before) && !word(after) {
                    new.push_str(to);
                    k += from.len();
                    continue;
                }
            }
            if c == '"' && !escaped {
                in_str = !in_str;
            }
            escaped = in_str && c == '\\' && !escaped;
            new.push(c);
            k += c.len_utf8();
        }
        if new != line {
            notes.push(format!(
                "{shown}:{}: {} → {}",
                i + 1,
                line.trim(),
                new.trim()
            ));
        }
        out.push_str(&new);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_name_is_renamed_in_strings_only() {
        let mut notes = Vec::new();
        let t = "environment = \"dev\" # dev stays\nkey = \"acme/dev/x\"\ndev_ip = \"devices\"\n";
        let out = rename_env(t, "dev", "stg", "f", &mut notes);
        assert_eq!(
            out,
            "environment = \"stg\" # dev stays\nkey = \"acme/stg/x\"\ndev_ip = \"devices\"\n"
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn secret_files_are_known_by_name_and_examples_are_not_secrets() {
        for s in [
            "local-secrets.tfvars",
            "prod.secret.tfvars",
            ".env",
            "deploy.pem",
            "aws-credentials",
        ] {
            assert!(secret_file(s), "{s}");
        }
        for s in [
            "terraform.tfvars",
            "local-secrets.tfvars.example",
            "main.tf",
        ] {
            assert!(!secret_file(s), "{s}");
        }
    }
}
