//! Who the xtask is to S3 and where S3 is, resolved as the AWS CLI and SDKs do: credentials,
//! region and endpoint from the environment, then the profile in `~/.aws/credentials` and
//! `~/.aws/config`. What needs a round trip to resolve (SSO, an assumed role, web identity, a
//! container or instance role) is asked of the aws CLI v2 once per run
//! (`aws configure export-credentials`), so the chain stays the user's without an SDK here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::sigv4::Credentials;
use crate::proc::Cmd;

#[derive(Debug)]
pub struct Resolved {
    pub creds: Credentials,
    pub region: String,
    /// `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` or the profile's `endpoint_url`.
    pub endpoint: Option<String>,
    /// The same for each service verify calls, by the id its variable names (`LAMBDA`).
    others: HashMap<&'static str, String>,
}

/// The services besides S3 whose endpoint the chain resolves, as `AWS_ENDPOINT_URL_<ID>` names
/// them.
pub const SERVICE_IDS: [&str; 3] = ["STS", "LAMBDA", "APIGATEWAYV2"];

impl Resolved {
    /// The configured endpoint of service `id` (one of `SERVICE_IDS`, or `S3`), if any.
    pub fn endpoint_of(&self, id: &str) -> Option<&str> {
        match id {
            "S3" => self.endpoint.as_deref(),
            _ => self.others.get(id).map(String::as_str),
        }
    }
}

/// Variables and files the chain reads; `env` is the process's own outside tests.
pub struct Inputs<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl Inputs<'_> {
    pub fn of_process() -> Inputs<'static> {
        Inputs {
            env: &|k| std::env::var(k).ok().filter(|v| !v.is_empty()),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }

    fn file(&self, var: &str, default: &str) -> Option<PathBuf> {
        (self.env)(var)
            .map(PathBuf::from)
            .or_else(|| self.home.as_ref().map(|h| h.join(".aws").join(default)))
    }
}

pub fn resolve(inputs: &Inputs) -> Result<Resolved> {
    let env = inputs.env;
    let profile = env("AWS_PROFILE")
        .or_else(|| env("AWS_DEFAULT_PROFILE"))
        .unwrap_or_else(|| "default".into());
    let config = read_ini(inputs.file("AWS_CONFIG_FILE", "config"))?;
    let credentials = read_ini(inputs.file("AWS_SHARED_CREDENTIALS_FILE", "credentials"))?;
    let empty = HashMap::new();
    let conf = config
        .get(&format!("profile {profile}"))
        .or_else(|| config.get(&profile).filter(|_| profile == "default"))
        .unwrap_or(&empty);
    let cred = credentials.get(&profile).unwrap_or(&empty);

    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| conf.get("region").cloned())
        .unwrap_or_else(|| "us-east-1".into());
    let ignore_endpoints =
        env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint_of = |id: &str| match ignore_endpoints {
        true => None,
        false => env(&format!("AWS_ENDPOINT_URL_{id}"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .or_else(|| conf.get("endpoint_url").cloned()),
    };
    let endpoint = endpoint_of("S3");
    let others = SERVICE_IDS
        .iter()
        .filter_map(|id| Some((*id, endpoint_of(id)?)))
        .collect();

    let static_keys = |s: &HashMap<String, String>| {
        Some(Credentials {
            access_key: s.get("aws_access_key_id")?.clone(),
            secret_key: s.get("aws_secret_access_key")?.clone(),
            session_token: s.get("aws_session_token").cloned(),
        })
    };
    // The SDKs' order: the environment, then a role or SSO the profile names (these win over
    // keys in the credentials file), then the credentials file, a credential_process, keys in
    // the config file; containers and instances last.
    let needs_cli = env("AWS_WEB_IDENTITY_TOKEN_FILE").is_some()
        || [
            "role_arn",
            "sso_session",
            "sso_start_url",
            "web_identity_token_file",
        ]
        .iter()
        .any(|k| conf.contains_key(*k));
    let creds = if let (Some(id), Some(secret)) =
        (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
    {
        Credentials {
            access_key: id,
            secret_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
        }
    } else if let Some(c) = static_keys(cred).filter(|_| !needs_cli) {
        c
    } else if let Some(command) = cred
        .get("credential_process")
        .or_else(|| conf.get("credential_process"))
        .filter(|_| !needs_cli)
    {
        let sh = which::which("sh").context("no `sh` on PATH to run the credential_process")?;
        let out = Cmd::new(sh).args(["-c", command]).output()?;
        if !out.success() {
            bail!(
                "the credential_process of profile {profile} failed: {}",
                out.tail(2)
            );
        }
        parse_process(&out.stdout)
            .with_context(|| format!("the credential_process of profile {profile}"))?
    } else if let Some(c) = static_keys(conf).filter(|_| !needs_cli) {
        c
    } else {
        from_aws_cli(&profile)?
    };
    Ok(Resolved {
        creds,
        region,
        endpoint,
        others,
    })
}

/// The credentials the aws CLI v2 resolves for `profile` (SSO, roles, containers, instances).
fn from_aws_cli(profile: &str) -> Result<Credentials> {
    let hint = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, give the profile keys or a \
                credential_process, or install the aws CLI v2 (it resolves SSO, roles and \
                instance profiles for the xtask)";
    let Ok(aws) = which::which("aws") else {
        bail!("no AWS credentials found for profile {profile}; {hint}");
    };
    let out = Cmd::new(aws)
        .args(["configure", "export-credentials", "--format", "process"])
        .args(["--profile", profile])
        .env("AWS_PAGER", "")
        .output()?;
    if !out.success() {
        let why = match out.stderr.contains("Invalid choice") {
            true => "the aws CLI on PATH is v1, which cannot export credentials".to_string(),
            false => out.tail(1).trim().to_string(),
        };
        bail!("no AWS credentials found for profile {profile} ({why}); {hint}");
    }
    parse_process(&out.stdout).context("aws configure export-credentials")
}

/// The JSON a credential_process prints (`"Version": 1`).
fn parse_process(stdout: &str) -> Result<Credentials> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Process {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    }
    let p: Process = serde_json::from_str(stdout.trim())
        .context("its output is not the credential_process JSON (AccessKeyId, SecretAccessKey)")?;
    Ok(Credentials {
        access_key: p.access_key_id,
        secret_key: p.secret_access_key,
        session_token: p.session_token,
    })
}

type Ini = HashMap<String, HashMap<String, String>>;

/// The sections of an AWS config or credentials file; absent is empty. Indented lines (the
/// nested settings of `s3 =`) and comments are skipped.
fn read_ini(path: Option<PathBuf>) -> Result<Ini> {
    let Some(path) = path else {
        return Ok(Ini::new());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(parse_ini(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ini::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", Path::new(&path).display())),
    }
}

fn parse_ini(text: &str) -> Ini {
    let mut ini = Ini::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            ini.entry(name.clone()).or_default();
            section = Some(name);
        } else if let (Some(s), Some((k, v))) = (&section, line.split_once('=')) {
            ini.entry(s.clone())
                .or_default()
                .insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    ini
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_with(vars: &[(&str, &str)], home: &Path) -> Result<Resolved> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| vars.get(k).cloned();
        resolve(&Inputs {
            env: &env,
            home: Some(home.to_path_buf()),
        })
    }

    fn home(config: &str, credentials: &str) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(home.path().join(".aws/config"), config).unwrap();
        std::fs::write(home.path().join(".aws/credentials"), credentials).unwrap();
        home
    }

    #[test]
    fn the_environment_wins_over_the_profile() {
        let h = home(
            "[default]\nregion = eu-west-1\n",
            "[default]\naws_access_key_id = FILE\naws_secret_access_key = s\n",
        );
        let r = resolve_with(
            &[
                ("AWS_ACCESS_KEY_ID", "ENV"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("AWS_SESSION_TOKEN", "tok"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ],
            h.path(),
        )
        .unwrap();
        assert_eq!(r.creds.access_key, "ENV");
        assert_eq!(r.creds.session_token.as_deref(), Some("tok"));
        assert_eq!(r.region, "eu-west-1", "the profile's region still applies");
        assert_eq!(r.endpoint.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(r.endpoint_of("LAMBDA"), Some("http://127.0.0.1:5000"));
        let r = resolve_with(
            &[
                ("AWS_ACCESS_KEY_ID", "ENV"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
                ("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:5001"),
            ],
            h.path(),
        )
        .unwrap();
        assert_eq!(r.endpoint_of("LAMBDA"), Some("http://127.0.0.1:5001"));
        assert_eq!(r.endpoint_of("STS"), Some("http://127.0.0.1:5000"));
        assert_eq!(r.endpoint_of("S3"), Some("http://127.0.0.1:5000"));
    }

    #[test]
    fn a_named_profile_reads_both_files() {
        let h = home(
            "[default]\nregion = eu-west-1\n\n[profile ci]\nregion = ap-south-1\n\
             endpoint_url = http://minio:9000\ns3 =\n  addressing_style = path\n",
            "# keys\n[default]\naws_access_key_id = D\naws_secret_access_key = d\n\
             [ci]\naws_access_key_id = C\naws_secret_access_key = c\n",
        );
        let r = resolve_with(&[("AWS_PROFILE", "ci")], h.path()).unwrap();
        assert_eq!(r.creds.access_key, "C");
        assert_eq!(r.creds.secret_key, "c");
        assert_eq!(r.region, "ap-south-1");
        assert_eq!(r.endpoint.as_deref(), Some("http://minio:9000"));
        let r = resolve_with(
            &[
                ("AWS_PROFILE", "ci"),
                ("AWS_REGION", "us-west-2"),
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ],
            h.path(),
        )
        .unwrap();
        assert_eq!(r.region, "us-west-2");
        assert_eq!(r.endpoint, None);
        assert_eq!(r.endpoint_of("APIGATEWAYV2"), None);
    }

    #[test]
    fn a_credential_process_is_run_and_its_json_read() {
        let h = home(
            "[profile p]\ncredential_process = printf '{\"Version\": 1, \"AccessKeyId\": \
             \"P\", \"SecretAccessKey\": \"ps\", \"SessionToken\": \"pt\"}'\n",
            "",
        );
        let r = resolve_with(&[("AWS_PROFILE", "p")], h.path()).unwrap();
        assert_eq!(r.creds.access_key, "P");
        assert_eq!(r.creds.session_token.as_deref(), Some("pt"));
        assert_eq!(r.region, "us-east-1");
        let h = home("[profile p]\ncredential_process = echo not json\n", "");
        let e = resolve_with(&[("AWS_PROFILE", "p")], h.path()).unwrap_err();
        assert!(format!("{e:#}").contains("credential_process"), "{e:#}");
    }

    #[test]
    fn debug_prints_never_show_the_secret() {
        let c = Credentials {
            access_key: "AKID".into(),
            secret_key: "very-secret".into(),
            session_token: Some("token-secret".into()),
        };
        let s = format!("{c:?}");
        assert!(!s.contains("secret"), "{s}");
    }
}
