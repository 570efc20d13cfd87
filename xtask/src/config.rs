//! Where the stack is and how to build it: `--stack`, `xtask.toml`, defaults.
//!
//! Resolution order for the stack root: `--stack DIR`, else the `stack` key of the workspace
//! root's `xtask.toml`, else the workspace root itself (the xtask dropped into a stack repo).
//! The workspace is found from the current directory up (`workspace::find`), never from where
//! the binary was compiled.
//! The stack's own `xtask.toml` (optional) then supplies the build settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

pub const FILE_NAME: &str = "xtask.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    Arm64,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InstallerChoice {
    #[default]
    Auto,
    Uv,
    Pip,
}

/// Whether zips ship the AWS SDK the Lambda Python runtime already bundles (boto3 and its
/// dependencies). `keep` by default: AWS recommends packaging every dependency you use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeProvided {
    #[default]
    Keep,
    Drop,
}

/// Options passed to whichever installer runs. Paths are relative to the file that names them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InstallerOptions {
    pub index_url: Option<String>,
    #[serde(default)]
    pub extra_index_urls: Vec<String>,
    #[serde(default)]
    pub find_links: Vec<String>,
    #[serde(default)]
    pub no_index: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerraformConfig {
    /// `terraform` or `tofu` (or a path).
    pub bin: Option<String>,
    /// Extra var files per env, relative to `envs/<env>/`.
    #[serde(default)]
    pub var_files: BTreeMap<String, Vec<String>>,
    /// Resource addresses `deploy` applies first, stage by stage, before the whole env.
    pub stages: Option<Stages>,
    /// `deploy` derives bootstrap stages for a fresh env (default true); `false` makes
    /// check's F19/F20 errors instead.
    pub bootstrap: Option<bool>,
}

/// `stages = [["module.a", "aws_x.y"], …]` for every env, or `[terraform.stages]` with a list
/// of stages per env.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stages {
    Every(Vec<Vec<String>>),
    PerEnv(BTreeMap<String, Vec<Vec<String>>>),
}

impl TerraformConfig {
    /// The stages of `env`'s deploy, in order; none by default.
    pub fn stages(&self, env: &str) -> Vec<Vec<String>> {
        match &self.stages {
            Some(Stages::Every(stages)) => stages.clone(),
            Some(Stages::PerEnv(envs)) => envs.get(env).cloned().unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// Function names that legitimately have no route.
    #[serde(default)]
    pub unrouted: Vec<String>,
}

/// `[cache]`: the build cache shared through S3 (see `build::remote`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// `s3://bucket/prefix`; `XTASK_CACHE` and `--cache` take precedence.
    pub url: Option<String>,
    /// Download hits, never upload (untrusted branches).
    #[serde(default)]
    pub read_only: bool,
    /// Seconds to wait for a connection, or for any byte of an answer, before the cache is given
    /// up.
    pub timeout: Option<u64>,
}

/// `[release]`: where `cargo xtask release` stores releases (see `release`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    /// `s3://bucket/prefix`; default: the build cache's URL.
    pub url: Option<String>,
}

/// `[files]`: per-file globs matched against the path inside the zip (`lib/data.json`,
/// `python/pkg/x.sql` in a layer). `include` ships what a built-in rule or `.gitignore` drops;
/// `exclude` never ships and beats `include`. Sub-tables keyed `module/name` add rules for one
/// artifact (`infra/<fn>` for the infra repo's Lambdas).
#[derive(Debug, Clone, Default)]
pub struct FilesConfig {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub artifacts: BTreeMap<String, FileGlobs>,
}

/// `[files]` as written: sub-tables are checked by hand so a typo gets a clear error.
#[derive(Debug, Default, Deserialize)]
struct FilesFile {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(flatten)]
    artifacts: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileGlobs {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// `[check]`: what a team accepts (waivers) and how loud each code is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    #[serde(default)]
    pub allow: Vec<Waiver>,
    /// Code → severity, overriding the code table's.
    #[serde(default)]
    pub severity: BTreeMap<String, crate::check::Severity>,
}

/// One `[[check.allow]]` entry. A missing reason is reported by `check`, not refused here, so
/// the rest of the file still works.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    pub code: String,
    /// Glob over finding paths (relative to the directory holding the stack and infra).
    pub path: Option<String>,
    pub reason: Option<String>,
    #[serde(skip)]
    pub pattern: Option<glob::Pattern>,
}

/// Python versions Lambda offers as a managed runtime (`python3.x`).
pub const LAMBDA_PYTHONS: [&str; 5] = ["3.10", "3.11", "3.12", "3.13", "3.14"];

/// `[smoke]`: the interpreter and limits of `cargo xtask smoke`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeConfig {
    /// The target interpreter (`python3.13` or a path); default: discovered.
    pub python: Option<String>,
    /// Seconds one handler import may take.
    pub timeout: Option<u64>,
    /// What the Lambda runtime bundles, as requirement lines; default: `smoke::RUNTIME_PACKAGES`.
    pub runtime_packages: Option<Vec<String>>,
}

/// The file as written. Every key is optional: zero config works on a standard CORA stack.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    stack: Option<String>,
    python: Option<String>,
    arch: Option<Arch>,
    installer: Option<InstallerChoice>,
    installer_options: Option<InstallerOptions>,
    runtime_provided: Option<RuntimeProvided>,
    infra: Option<String>,
    #[serde(default)]
    exclude: Vec<String>,
    terraform: Option<TerraformConfig>,
    verify: Option<VerifyConfig>,
    files: Option<FilesFile>,
    check: Option<CheckConfig>,
    smoke: Option<SmokeConfig>,
    cache: Option<CacheConfig>,
    release: Option<ReleaseConfig>,
}

/// The resolved configuration every subcommand works from.
#[derive(Debug, Clone)]
pub struct Config {
    pub stack: PathBuf,
    /// Python version of the Lambda runtime, e.g. `3.13`.
    pub python: String,
    pub arch: Arch,
    pub installer: InstallerChoice,
    pub installer_options: InstallerOptions,
    pub runtime_provided: RuntimeProvided,
    /// Infra dir named in `xtask.toml`, absolute.
    pub infra: Option<PathBuf>,
    /// Globs relative to the stack root; matching artifact directories are not built.
    pub exclude: Vec<glob::Pattern>,
    pub terraform: TerraformConfig,
    pub verify: VerifyConfig,
    /// `[files]`, globs checked to compile.
    pub files: FilesConfig,
    pub check: CheckConfig,
    pub smoke: SmokeConfig,
    pub cache: CacheConfig,
    pub release: ReleaseConfig,
}

impl Config {
    /// The Lambda runtime identifier, e.g. `python3.13`.
    pub fn runtime(&self) -> String {
        format!("python{}", self.python)
    }

    pub fn is_excluded(&self, rel: &Path) -> bool {
        let opts = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        self.exclude.iter().any(|p| p.matches_path_with(rel, opts))
    }
}

pub fn load(stack_flag: Option<&Path>) -> Result<Config> {
    let stack = match stack_flag {
        Some(dir) => absolute(dir)?,
        None => {
            let cwd = std::env::current_dir().context("cannot read the working directory")?;
            let root = crate::workspace::find(&cwd)?;
            let file = read_file(&root.join(FILE_NAME))?;
            match file.stack {
                Some(rel) => root.join(rel),
                None => root,
            }
        }
    };
    if !stack.is_dir() {
        bail!(
            "stack directory {} does not exist; pass --stack DIR or set `stack` in {}",
            stack.display(),
            FILE_NAME
        );
    }
    let stack = stack
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", stack.display()))?;
    let path = stack.join(FILE_NAME);
    let file = read_file(&path)?;
    from_file(stack, file, &path)
}

fn from_file(stack: PathBuf, file: File, path: &Path) -> Result<Config> {
    let python = file.python.unwrap_or_else(|| "3.13".to_string());
    if !LAMBDA_PYTHONS.contains(&python.as_str()) {
        bail!(
            "{}: python = {python:?} is not a Python version Lambda offers; use one of {}",
            path.display(),
            LAMBDA_PYTHONS.map(|v| format!("\"{v}\"")).join(", ")
        );
    }
    let mut check = file.check.unwrap_or_default();
    for w in &mut check.allow {
        if let Some(g) = &w.path {
            w.pattern = Some(glob::Pattern::new(g).with_context(|| {
                format!(
                    "{}: [[check.allow]] path {g:?} is not a valid glob",
                    path.display()
                )
            })?);
        }
    }
    let mut exclude = Vec::new();
    for g in &file.exclude {
        let pat = glob::Pattern::new(g).with_context(|| {
            format!("{}: exclude glob {g:?} is not a valid glob", path.display())
        })?;
        exclude.push(pat);
    }
    let raw = file.files.unwrap_or_default();
    let mut files = FilesConfig {
        include: raw.include,
        exclude: raw.exclude,
        artifacts: BTreeMap::new(),
    };
    for (key, value) in raw.artifacts {
        if !value.is_table() {
            bail!(
                "{}: [files] has an unknown key `{key}`: the keys are include, exclude and \
                 [files.\"<module>/<name>\"] tables",
                path.display()
            );
        }
        let globs: FileGlobs = value.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!(
                "{}: [files.\"{key}\"]: {}",
                path.display(),
                e.message().trim_end()
            )
        })?;
        files.artifacts.insert(key, globs);
    }
    let all = FileGlobs {
        include: files.include.clone(),
        exclude: files.exclude.clone(),
    };
    for (at, globs) in std::iter::once(("files".to_string(), &all)).chain(
        files
            .artifacts
            .iter()
            .map(|(id, g)| (format!("files.\"{id}\""), g)),
    ) {
        for g in globs.include.iter().chain(&globs.exclude) {
            glob::Pattern::new(g).with_context(|| {
                format!("{}: [{at}] glob {g:?} is not a valid glob", path.display())
            })?;
        }
    }
    let mut installer_options = file.installer_options.unwrap_or_default();
    // find-links may be local folders: anchor them at the stack root so cwd does not matter.
    for link in &mut installer_options.find_links {
        if !link.contains("://") && Path::new(link.as_str()).is_relative() {
            *link = stack.join(&*link).to_string_lossy().into_owned();
        }
    }
    Ok(Config {
        infra: file.infra.map(|p| stack.join(p)),
        python,
        arch: file.arch.unwrap_or(Arch::X86_64),
        installer: file.installer.unwrap_or_default(),
        installer_options,
        runtime_provided: file.runtime_provided.unwrap_or_default(),
        exclude,
        terraform: file.terraform.unwrap_or_default(),
        verify: file.verify.unwrap_or_default(),
        files,
        check,
        smoke: file.smoke.unwrap_or_default(),
        cache: file.cache.unwrap_or_default(),
        release: file.release.unwrap_or_default(),
        stack,
    })
}

/// The infra repo: `--infra DIR`, else `infra` in xtask.toml, else the sibling
/// `../<project>-infra` of a `<project>-stack`, else the stack itself when it holds `envs/`
/// (the monorepo layout). `None` when there is none.
pub fn infra_dir(cfg: &Config, flag: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(dir) = flag
        .map(absolute)
        .transpose()?
        .or_else(|| cfg.infra.clone())
    {
        if !dir.is_dir() {
            bail!("infra directory {} does not exist", dir.display());
        }
        return Ok(Some(dir.canonicalize()?));
    }
    let name = cfg
        .stack
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    if let Some(project) = name.as_deref().and_then(|n| n.strip_suffix("-stack")) {
        let sibling = cfg.stack.with_file_name(format!("{project}-infra"));
        if sibling.is_dir() {
            return Ok(Some(sibling));
        }
    }
    Ok(cfg.stack.join("envs").is_dir().then(|| cfg.stack.clone()))
}

/// Every key at its default: what doctor checks the tools against when xtask.toml is broken.
pub fn defaults() -> Config {
    from_file(PathBuf::new(), File::default(), Path::new(FILE_NAME))
        .expect("the defaults are a valid config")
}

fn read_file(path: &Path) -> Result<File> {
    match std::fs::read_to_string(path) {
        // The error quotes the line: an index or links URL there may carry a token.
        Ok(text) => toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}\nfix the file; keys are documented in the README",
                path.display(),
                crate::install::redact_userinfo(e.to_string().trim_end())
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    Ok(if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()?.join(dir)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        let file: File = toml::from_str(text)?;
        from_file(PathBuf::from("/s"), file, Path::new("/s/xtask.toml"))
    }

    #[test]
    fn defaults_target_python_313_x86_64() {
        let c = parse("").unwrap();
        assert_eq!(c.runtime(), "python3.13");
        assert_eq!(c.arch, Arch::X86_64);
        assert_eq!(c.installer, InstallerChoice::Auto);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = parse("pyhton = \"3.13\"").unwrap_err().to_string();
        assert!(err.contains("pyhton"), "{err}");
    }

    #[test]
    fn bad_python_version_is_named() {
        let err = parse("python = \"313\"").unwrap_err().to_string();
        assert!(err.contains("\"313\""), "{err}");
    }

    #[test]
    fn python_is_a_version_lambda_offers() {
        for v in ["3.99", "3.8", "3.9"] {
            let err = parse(&format!("python = \"{v}\"")).unwrap_err().to_string();
            assert!(
                err.contains(&format!("\"{v}\"")) && err.contains("\"3.13\""),
                "{err}"
            );
        }
        assert_eq!(parse("python = \"3.12\"").unwrap().runtime(), "python3.12");
    }

    #[test]
    fn check_waivers_and_severity() {
        let c = parse(
            "[check]\nseverity = { \"F11-missing-file\" = \"warning\" }\n\
             [[check.allow]]\ncode = \"F4-runtime\"\npath = \"x/**/main.tf\"\nreason = \"r\"",
        )
        .unwrap();
        assert_eq!(c.check.allow[0].code, "F4-runtime");
        assert!(c.check.allow[0]
            .pattern
            .as_ref()
            .unwrap()
            .matches("x/a/b/main.tf"));
        let err = parse("[[check.allow]]\ncode = \"x\"\npath = \"[\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid glob"), "{err}");
        let err = parse("[check]\nseverity = { x = \"loud\" }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("loud"), "{err}");
    }

    #[test]
    fn relative_find_links_are_anchored_at_the_stack() {
        let c =
            parse("[installer_options]\nfind_links = [\"wh\", \"https://x/y\"]\nno_index = true")
                .unwrap();
        assert_eq!(c.installer_options.find_links, ["/s/wh", "https://x/y"]);
    }

    #[test]
    fn files_globs_stack_wide_and_per_artifact() {
        let c =
            parse("[files]\ninclude = [\"**/*.sql\"]\n[files.\"module-a/f\"]\nexclude = [\"x/*\"]")
                .unwrap();
        assert_eq!(c.files.include, ["**/*.sql"]);
        assert_eq!(c.files.artifacts["module-a/f"].exclude, ["x/*"]);
        let err = parse("[files.\"module-a/f\"]\nincludes = [\"x\"]").unwrap_err();
        assert!(format!("{err:#}").contains("includes"), "{err:#}");
        let err = parse("[files]\nincludes = [\"x\"]").unwrap_err();
        assert!(format!("{err:#}").contains("includ"), "{err:#}");
        let err = parse("[files]\nexclude = [\"a[\"]").unwrap_err();
        assert!(format!("{err:#}").contains("\"a[\""), "{err:#}");
    }

    #[test]
    fn exclude_globs_match_relative_paths() {
        let c = parse("exclude = [\"packages/*/backend/lambdas/old-*\"]").unwrap();
        assert!(c.is_excluded(Path::new("packages/module-a/backend/lambdas/old-x")));
        assert!(!c.is_excluded(Path::new("packages/module-a/backend/lambdas/new")));
    }
}
