//! The var files of a plan: which are passed, in which order, and which terraform loads itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{relative, LOCAL_SECRETS};

/// Whether Terraform loads this file of the env dir by itself.
fn is_auto_loaded(name: &str) -> bool {
    name == "terraform.tfvars"
        || name == "terraform.tfvars.json"
        || name.ends_with(".auto.tfvars")
        || name.ends_with(".auto.tfvars.json")
}

/// The var files of one plan, in the order they are passed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VarFiles {
    /// Passed with `-var-file`: `local-secrets.tfvars`, then xtask.toml's, then `--var-file`s.
    pub passed: Vec<PathBuf>,
    /// Loaded by Terraform itself (`terraform.tfvars`, `*.auto.tfvars`): never passed again.
    pub auto: Vec<PathBuf>,
}

impl VarFiles {
    /// `local-secrets.tfvars` when present, then the env's files under [terraform.var_files]
    /// (relative to the env dir, each must exist), then `--var-file`s (relative to `cwd`).
    pub fn resolve(
        env_dir: &Path,
        env: &str,
        configured: &BTreeMap<String, Vec<String>>,
        flags: &[PathBuf],
        cwd: &Path,
    ) -> Result<VarFiles> {
        let auto = VarFiles::auto_loaded(env_dir)?;
        let mut candidates = Vec::new();
        let secrets = env_dir.join(LOCAL_SECRETS);
        if secrets.is_file() {
            candidates.push(secrets);
        }
        for rel in configured.get(env).into_iter().flatten() {
            let path = env_dir.join(rel);
            if !path.is_file() {
                bail!(
                    "var file {} does not exist: it is listed for env {env:?} under \
                     [terraform.var_files] in xtask.toml; create it or remove it from the list",
                    path.display()
                );
            }
            candidates.push(path);
        }
        for flag in flags {
            let path = cwd.join(flag);
            if !path.is_file() {
                bail!(
                    "--var-file {}: {} does not exist",
                    flag.display(),
                    path.display()
                );
            }
            candidates.push(path);
        }
        let mut passed: Vec<PathBuf> = Vec::new();
        for path in candidates {
            let same = |p: &PathBuf| crate::fsutil::same_file(p, &path);
            if auto.iter().any(same) || passed.iter().any(same) {
                continue;
            }
            passed.push(path);
        }
        Ok(VarFiles { passed, auto })
    }

    /// `terraform.tfvars` and `*.auto.tfvars` of the env dir, sorted: what Terraform loads
    /// itself, so what any command in the env sees (and must mask) besides the passed files.
    pub fn auto_loaded(env_dir: &Path) -> Result<Vec<PathBuf>> {
        let mut auto: Vec<PathBuf> = std::fs::read_dir(env_dir)
            .with_context(|| format!("cannot read {}", env_dir.display()))?
            .filter_map(|e| e.ok())
            .filter(|e| is_auto_loaded(&e.file_name().to_string_lossy()) && e.path().is_file())
            .map(|e| e.path())
            .collect();
        auto.sort();
        Ok(auto)
    }

    /// Names as the user knows them: relative to the env dir where possible.
    pub fn describe(&self, env_dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = self
            .passed
            .iter()
            .map(|p| relative(env_dir, p).display().to_string())
            .collect();
        names.extend(self.auto.iter().map(|p| {
            format!(
                "{} (loaded by terraform itself)",
                relative(env_dir, p).display()
            )
        }));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn var_files_order_skips_auto_loaded_and_dedupes() {
        let d = tempfile::tempdir().unwrap();
        let env = d.path().join("envs/dev");
        write(&env.join("main.tf"), "");
        for f in [
            "local-secrets.tfvars",
            "x.tfvars",
            "terraform.tfvars",
            "a.auto.tfvars",
        ] {
            write(&env.join(f), "");
        }
        write(&d.path().join("cli.tfvars"), "");
        let configured = BTreeMap::from([
            (
                "dev".to_string(),
                vec!["x.tfvars".to_string(), "local-secrets.tfvars".into()],
            ),
            ("prd".to_string(), vec!["p.tfvars".to_string()]),
        ]);
        let flags = [
            PathBuf::from("cli.tfvars"),
            PathBuf::from("envs/dev/terraform.tfvars"),
        ];
        let v = VarFiles::resolve(&env, "dev", &configured, &flags, d.path()).unwrap();
        assert_eq!(
            v.passed,
            [
                env.join("local-secrets.tfvars"),
                env.join("x.tfvars"),
                d.path().join("cli.tfvars")
            ]
        );
        assert_eq!(
            v.auto,
            [env.join("a.auto.tfvars"), env.join("terraform.tfvars")]
        );
        let names = v.describe(&env);
        assert_eq!(names[0], "local-secrets.tfvars");
        assert_eq!(names[3], "a.auto.tfvars (loaded by terraform itself)");
    }

    #[test]
    fn missing_var_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let env = d.path().join("envs/dev");
        write(&env.join("main.tf"), "");
        let configured = BTreeMap::from([("dev".to_string(), vec!["x.tfvars".to_string()])]);
        let err = VarFiles::resolve(&env, "dev", &configured, &[], d.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.tfvars does not exist") && err.contains("[terraform.var_files]"),
            "{err}"
        );
        let err = VarFiles::resolve(
            &env,
            "dev",
            &BTreeMap::new(),
            &[PathBuf::from("n.tfvars")],
            d.path(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("--var-file n.tfvars"), "{err}");
    }
}
