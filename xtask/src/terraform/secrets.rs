//! What must never be printed, and the masking of everything read from terraform.
//!
//! A value is masked in one of two ways. Long enough to be a credential (`CREDENTIAL_LEN`), it is
//! masked wherever it appears, inside longer text too. Shorter, it is masked only where it stands
//! alone (between quotes, spaces, `=`, `:`, `@`, …), so `okta` never turns `okta_domain` into
//! garbage; and a short value is masked at all only when its variable is declared `sensitive` or
//! its name looks secret. Before-values of a plan (the old value of a rotated secret lives only
//! in the state) are added once the plan is known.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::Path;

use hcl_edit::expr::{Expression, ObjectKey};
use serde_json::Value;

use super::{VarFiles, LOCAL_SECRETS};
use crate::stack::hcl as tf;

/// Shorter values of `local-secrets.tfvars` that are neither declared `sensitive` nor named like
/// a secret are settings (`okta`, `us-east-1`, `INFO`), not credentials: API keys, tokens and
/// generated passwords are longer.
pub const CREDENTIAL_LEN: usize = 12;

const MASK: &str = "(sensitive value)";

/// Parts of a variable name that say its value is a secret.
const SECRET_NAMES: [&str; 6] = ["key", "secret", "token", "password", "passwd", "credential"];

fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| name.contains(s))
}

/// Whether a value is a secret whatever its length (declared so, or named so), or only when
/// long enough (any other string of `local-secrets.tfvars`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Declared,
    Other,
}

/// Values that must never be printed: those of variables declared `sensitive` in the env's
/// `.tf` or `.tf.json` files or named like a secret (from any var file or `TF_VAR_*`), and the
/// credential-length strings of `local-secrets.tfvars`. Terraform
/// redacts sensitive values itself, but quotes var-file source lines in its diagnostics and
/// prints non-sensitive variables in plans.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    /// Masked wherever they appear; longest first.
    anywhere: Vec<String>,
    /// Masked where they stand alone; longest first.
    alone: Vec<String>,
}

impl Secrets {
    pub fn collect(env_dir: &Path, var_files: &VarFiles) -> Secrets {
        let mut sensitive: BTreeSet<String> = crate::stack::env::sensitive_variables(env_dir);
        sensitive.extend(json_sensitive_variables(env_dir));
        let mut s = Secrets::default();
        for path in var_files.passed.iter().chain(&var_files.auto) {
            let local = path.file_name().is_some_and(|n| n == LOCAL_SECRETS);
            for (name, strings) in var_file_strings(path) {
                let kind = if sensitive.contains(&name) || looks_secret(&name) {
                    Kind::Declared
                } else if local {
                    Kind::Other
                } else {
                    continue;
                };
                for v in strings {
                    s.add(v, kind);
                }
            }
        }
        for (key, v) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let Some(name) = key.strip_prefix("TF_VAR_") else {
                continue;
            };
            if sensitive.contains(name) || looks_secret(name) {
                s.add(v.to_string_lossy().into_owned(), Kind::Declared);
            }
        }
        s.sort();
        s
    }

    /// Secrets from values given directly, each treated as declared sensitive.
    #[cfg(test)]
    pub fn new(values: Vec<String>) -> Secrets {
        let mut s = Secrets::default();
        for v in values {
            s.add(v, Kind::Declared);
        }
        s.sort();
        s
    }

    fn add(&mut self, v: String, kind: Kind) {
        let long = |s: &str| s.len() >= CREDENTIAL_LEN;
        if v.trim_end().contains('\n') {
            // Streamed output is scrubbed line by line, terraform re-indents a multi-line value
            // (`<<-EOT`) and prints it JSON-escaped: a multi-line value must be found by each of
            // its lines and escaped too. Every line is masked, a short one where it stands alone
            // (a heredoc's `hd2` line is as secret as the rest); a line of punctuation only
            // (`}` of a JSON heredoc) is no secret and masking it would garble every brace.
            for l in v.lines().map(str::trim) {
                if long(l) {
                    self.anywhere.push(l.to_string());
                } else if l.chars().any(char::is_alphanumeric) {
                    self.alone.push(l.to_string());
                }
            }
            self.anywhere.push(v.replace('\n', "\\n"));
            self.anywhere.push(v);
        } else if long(&v) {
            self.anywhere.push(v);
        } else if kind == Kind::Declared && !v.trim().is_empty() {
            self.alone.push(v);
        }
    }

    /// Longest first, so a secret containing another is hidden whole.
    fn sort(&mut self) {
        for list in [&mut self.anywhere, &mut self.alone] {
            list.sort_by_key(|v| std::cmp::Reverse(v.len()));
            list.dedup();
        }
    }

    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for v in &self.anywhere {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), MASK));
            }
        }
        for v in &self.alone {
            if out.contains(v.as_str()) {
                if let Some(masked) = replace_alone(&out, v) {
                    out = Cow::Owned(masked);
                }
            }
        }
        out
    }

    /// Adds the before-values of every attribute a plan (`show -json`) changes to a value that
    /// holds a secret: a rotated secret's old value is in the state only, and terraform prints
    /// it (`"OLD" -> "NEW"`, or `- X = "OLD"` for what becomes unknown).
    pub fn add_before_values(&mut self, plan: &Value) {
        let mut old = Vec::new();
        let changes = plan["resource_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|rc| &rc["change"]);
        let outputs = plan["output_changes"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values());
        for change in changes.chain(outputs) {
            self.before_of_secrets(&change["before"], &change["after"], &mut old);
        }
        for v in old {
            self.add(v, Kind::Declared);
        }
        self.sort();
    }

    fn before_of_secrets(&self, before: &Value, after: &Value, old: &mut Vec<String>) {
        match (before, after) {
            (Value::String(b), Value::String(a)) if b != a && self.scrub(a) != a.as_str() => {
                old.push(b.clone());
            }
            (Value::Object(b), Value::Object(a)) => {
                for (k, v) in a {
                    if let Some(bv) = b.get(k) {
                        self.before_of_secrets(bv, v, old);
                    }
                }
            }
            (Value::Array(b), Value::Array(a)) => {
                for (bv, v) in b.iter().zip(a) {
                    self.before_of_secrets(bv, v, old);
                }
            }
            _ => {}
        }
    }
}

/// Characters that end a value standing alone: quotes, spaces and the punctuation around
/// values in HCL, JSON, URLs (`user:secret@host`) and environment listings.
fn is_edge(c: char) -> bool {
    c.is_whitespace() || "\"'`=,:;@()[]{}<>|".contains(c)
}

/// `text` with each occurrence of `v` that stands alone masked; `None` when there is none.
fn replace_alone(text: &str, v: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut found = false;
    for (i, _) in text.match_indices(v) {
        if i < last {
            continue;
        }
        let end = i + v.len();
        let before = text[..i].chars().next_back().is_none_or(is_edge);
        let after = text[end..].chars().next().is_none_or(is_edge);
        if before && after {
            out.push_str(&text[last..i]);
            out.push_str(MASK);
            last = end;
            found = true;
        }
    }
    found.then(|| {
        out.push_str(&text[last..]);
        out
    })
}

/// Hides the source lines terraform quotes from a var file in a diagnostic (`on x.tfvars line
/// 2:` then `  2: key = …`): the quoted line is the value, whatever it is. Fed the lines of one
/// stream in order.
#[derive(Debug, Default)]
pub struct VarFileQuotes {
    quoting: Option<String>,
}

impl VarFileQuotes {
    pub fn line<'a>(&mut self, line: &'a str) -> Cow<'a, str> {
        let trimmed = line.trim_start_matches([' ', '│']).trim_start();
        if let Some(rest) = trimmed.strip_prefix("on ") {
            let file = rest.split(" line ").next().unwrap_or_default();
            let var_file = file.ends_with(".tfvars") || file.ends_with(".tfvars.json");
            self.quoting = (var_file && rest.contains(" line ")).then(|| file.to_string());
            return Cow::Borrowed(line);
        }
        let Some(file) = &self.quoting else {
            return Cow::Borrowed(line);
        };
        match trimmed.split_once(": ") {
            Some((n, _)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
                let indent = &line[..line.len() - trimmed.len()];
                Cow::Owned(format!(
                    "{indent}{n}: (line {n} of {file} not shown: it may hold a secret)"
                ))
            }
            // The quote ends at the first line that is not source: a blank or the message.
            _ => {
                self.quoting = None;
                Cow::Borrowed(line)
            }
        }
    }

    /// Every line of `text` through `line`.
    pub fn text(text: &str) -> String {
        let mut q = VarFileQuotes::default();
        text.lines()
            .map(|l| q.line(l).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Variables declared `sensitive` in the `.tf.json` files of a directory:
/// `{"variable": {"name": {"sensitive": true}}}`, where JSON syntax also allows each level to be
/// an array of such objects.
fn json_sensitive_variables(dir: &Path) -> Vec<String> {
    fn objects(v: &Value) -> Vec<&serde_json::Map<String, Value>> {
        match v {
            Value::Object(map) => vec![map],
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            _ => Vec::new(),
        }
    }
    let texts = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tf.json"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok());
    let mut names = Vec::new();
    for text in texts {
        let Ok(doc) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        for vars in objects(&doc["variable"]) {
            for (name, decl) in vars {
                if objects(decl)
                    .iter()
                    .any(|d| d.get("sensitive") == Some(&Value::Bool(true)))
                {
                    names.push(name.clone());
                }
            }
        }
    }
    names
}

/// Every string value of each top-level variable of a `.tfvars` or `.tfvars.json` file.
fn var_file_strings(path: &Path) -> Vec<(String, Vec<String>)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    if path.extension().is_some_and(|e| e == "json") {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
            return Vec::new();
        };
        return map
            .into_iter()
            .map(|(k, v)| {
                let mut out = Vec::new();
                json_strings(&v, &mut out);
                (k, out)
            })
            .collect();
    }
    let Ok(body) = crate::stack::hcl::parse_body(&text) else {
        // Terraform quotes the broken line in its error: take `name = "…"` lines as they are.
        return text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                let quoted = v.split('"').skip(1).step_by(2).map(str::to_string);
                (k.trim().to_string(), quoted.collect())
            })
            .collect();
    };
    body.attributes()
        .map(|a| {
            let mut out = Vec::new();
            hcl_strings(&a.value, &text, &mut out);
            (a.key.as_str().to_string(), out)
        })
        .collect()
}

fn json_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| json_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| json_strings(i, out)),
        _ => {}
    }
}

/// The strings of `expr` (`text` is its file's source); a quoted string written with escapes
/// (`"a\nb"`) is also taken as written, the form terraform quotes in its diagnostics.
fn hcl_strings(expr: &Expression, text: &str, out: &mut Vec<String>) {
    match expr {
        Expression::String(_) | Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            let Some(value) = tf::template_text(expr) else {
                return;
            };
            let written = hcl_edit::Span::span(expr)
                .and_then(|r| text.get(r))
                .filter(|_| !matches!(expr, Expression::HeredocTemplate(_)))
                .map(|w| w.strip_prefix('"').unwrap_or(w))
                .map(|w| w.strip_suffix('"').unwrap_or(w));
            if let Some(w) = written.filter(|w| *w != value) {
                out.push(w.to_string());
            }
            out.push(value);
        }
        Expression::Array(items) => items.iter().for_each(|i| hcl_strings(i, text, out)),
        Expression::Object(obj) => {
            for (key, value) in obj.iter() {
                if let ObjectKey::Expression(k) = key {
                    hcl_strings(k, text, out);
                }
                hcl_strings(value.expr(), text, out);
            }
        }
        Expression::Parenthesis(p) => hcl_strings(p.inner(), text, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    /// Issue 22, item 3: a heredoc's short line reached the env's log in clear.
    #[test]
    fn every_line_of_a_heredoc_is_masked_and_braces_are_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let env = d.path().join("envs/dev");
        write(&env.join("main.tf"), "");
        write(
            &env.join("local-secrets.tfvars"),
            "blob = <<EOT\n{\n  k: hd2\n  long-line-of-a-secret\n}\nEOT\n",
        );
        let v = VarFiles::resolve(&env, "dev", &BTreeMap::new(), &[], d.path()).unwrap();
        let s = Secrets::collect(&env, &v);
        assert_eq!(s.scrub("        k: hd2"), "        (sensitive value)");
        assert_eq!(
            s.scrub("  long-line-of-a-secret }"),
            "  (sensitive value) }"
        );
    }

    #[test]
    fn secrets_come_from_sensitive_variables_and_local_secrets() {
        let d = tempfile::tempdir().unwrap();
        let env = d.path().join("envs/dev");
        write(
            &env.join("variables.tf"),
            "variable \"key\" {\n  sensitive = true\n}\nvariable \"url\" {}\n",
        );
        write(
            &env.join("terraform.tfvars"),
            "url = \"https://public.example\"\nkey = \"from-tfvars-key\"\n",
        );
        write(
            &env.join("local-secrets.tfvars"),
            "other = { nested = \"deep-secret-1\" }\n",
        );
        let v = VarFiles::resolve(&env, "dev", &BTreeMap::new(), &[], d.path()).unwrap();
        let s = Secrets::collect(&env, &v);
        let line = "a from-tfvars-key b deep-secret-1 c https://public.example";
        assert_eq!(
            s.scrub(line),
            "a (sensitive value) b (sensitive value) c https://public.example"
        );
        // A file terraform cannot parse either is the one it quotes in its error.
        write(
            &env.join("local-secrets.tfvars"),
            "key = \"broken-secret-2\" junk\n",
        );
        let s = Secrets::collect(&env, &v);
        assert_eq!(
            s.scrub("1: key = \"broken-secret-2\" junk"),
            "1: key = \"(sensitive value)\" junk"
        );
    }

    #[test]
    fn sensitive_variables_declared_in_tf_json_are_masked() {
        let d = tempfile::tempdir().unwrap();
        let env = d.path().join("envs/dev");
        write(
            &env.join("variables.tf.json"),
            r#"{"variable": {"token": {"sensitive": true}, "name": {}}}"#,
        );
        write(
            &env.join("other.tf.json"),
            r#"{"variable": [{"key": [{"type": "string", "sensitive": true}]}]}"#,
        );
        write(
            &env.join("terraform.tfvars"),
            "token = \"json-declared-1\"\nkey = \"json-declared-2\"\nname = \"public-name\"\n",
        );
        let v = VarFiles::resolve(&env, "dev", &BTreeMap::new(), &[], d.path()).unwrap();
        assert_eq!(
            Secrets::collect(&env, &v).scrub("json-declared-1 json-declared-2 public-name"),
            "(sensitive value) (sensitive value) public-name"
        );
    }

    #[test]
    fn multi_line_and_escaped_secrets_are_masked_in_every_form() {
        let d = tempfile::tempdir().unwrap();
        let env = d.path().join("envs/dev");
        write(&env.join("main.tf"), "");
        let pem = [
            "-----BEGIN PRIVATE KEY-----",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
            "VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDu",
            "-----END PRIVATE KEY-----",
        ];
        write(
            &env.join("local-secrets.tfvars"),
            &format!(
                "tls_key = <<EOT\n{}\nEOT\nindented = <<-EOT\n    indented-secret-1\n    second-line-2\n    EOT\n\
                 escaped = \"first-line-3\\nsecond-line-4\"\n",
                pem.join("\n")
            ),
        );
        let v = VarFiles::resolve(&env, "dev", &BTreeMap::new(), &[], d.path()).unwrap();
        let s = Secrets::collect(&env, &v);
        let leaks = |text: &str| {
            let scrubbed = s.scrub(text);
            pem[1..3]
                .iter()
                .copied()
                .chain([
                    "indented-secret-1",
                    "second-line-2",
                    "first-line-3",
                    "second-line-4",
                ])
                .filter(|secret| scrubbed.contains(secret))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        // Streamed line by line, as terraform prints a plan or a diagnostic.
        for line in pem.iter().chain(&["  indented-secret-1", "second-line-2"]) {
            assert_eq!(leaks(line), Vec::<String>::new(), "{line}");
        }
        // JSON-escaped, and quoted from the source as written.
        let escaped = format!("\"value\": \"{}\\n\"", pem.join("\\n"));
        assert_eq!(leaks(&escaped), Vec::<String>::new(), "{escaped}");
        let quoted = "  3: escaped = \"first-line-3\\nsecond-line-4\"";
        assert_eq!(leaks(quoted), Vec::<String>::new(), "{quoted}");
        assert_eq!(leaks(&pem.join("\n")), Vec::<String>::new());
    }

    #[test]
    fn short_values_are_masked_only_alone_and_only_when_secret() {
        let d = tempfile::tempdir().unwrap();
        let env = d.path().join("envs/dev");
        write(
            &env.join("variables.tf"),
            "variable \"pin\" {\n  sensitive = true\n}\n",
        );
        write(
            &env.join("local-secrets.tfvars"),
            "auth_provider = \"okta\"\napi_token = \"tok\"\npin = \"1234\"\n\
             client_id = \"0oa1b2c3d4e5f6g7h8\"\n",
        );
        let v = VarFiles::resolve(&env, "dev", &BTreeMap::new(), &[], d.path()).unwrap();
        let s = Secrets::collect(&env, &v);
        // A setting that is no credential is left as is, even alone.
        assert_eq!(
            s.scrub("domain = \"okta_domain\" tag = \"okta/okta\" p = \"okta\""),
            "domain = \"okta_domain\" tag = \"okta/okta\" p = \"okta\""
        );
        // Short secrets: alone, in quotes or a URL's userinfo, never inside a word.
        assert_eq!(
            s.scrub("TOKEN = \"tok\" url = https://u:tok@h stock = \"stock\" 1234 x12345"),
            "TOKEN = \"(sensitive value)\" url = https://u:(sensitive value)@h stock = \"stock\" (sensitive value) x12345"
        );
        // A credential-length value is masked wherever it is.
        assert_eq!(s.scrub("id=x0oa1b2c3d4e5f6g7h8y"), "id=x(sensitive value)y");
    }

    #[test]
    fn before_values_of_attributes_that_now_hold_a_secret_are_masked() {
        let mut s = Secrets::new(vec!["NEW-secret-value-1".into(), "tok".into()]);
        let plan = serde_json::json!({
            "resource_changes": [{"change": {
                "before": {"input": {"LEVEL": "OLD-secret-value-0", "T": "old", "name": "n1", "same": "tok"}},
                "after": {"input": {"LEVEL": "NEW-secret-value-1", "T": "tok", "name": "n2", "same": "tok"}}
            }}],
            "output_changes": {"o": {"before": "pre-OLD-out-value", "after": "pre-NEW-secret-value-1"}}
        });
        s.add_before_values(&plan);
        assert_eq!(
            s.scrub("\"OLD-secret-value-0\" -> \"x\" - T = \"old\" n1 n2 pre-OLD-out-value"),
            "\"(sensitive value)\" -> \"x\" - T = \"(sensitive value)\" n1 n2 (sensitive value)"
        );
    }

    #[test]
    fn var_file_source_quoted_in_diagnostics_is_hidden() {
        let text = "Error: Invalid character\n\n  on local-secrets.tfvars line 2:\n   2: api_token = 'abc'\n\nSingle quotes are not valid.\n  on main.tf line 3:\n   3: x = 1\n";
        assert_eq!(
            VarFileQuotes::text(text),
            "Error: Invalid character\n\n  on local-secrets.tfvars line 2:\n   2: (line 2 of local-secrets.tfvars not shown: it may hold a secret)\n\nSingle quotes are not valid.\n  on main.tf line 3:\n   3: x = 1"
        );
    }
}
