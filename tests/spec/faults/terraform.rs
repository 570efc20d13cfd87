//! Fault specs: terraform — signals and hangs around plan, apply and verify, and the secrets of
//! the env's var files. The secrets specs run the real terraform on a generated env that needs
//! no provider (`terraform_data`), so what they check is what terraform really prints.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{fake_terraform, record, run, write, xtask_bin, Demo, Out};

/// A generated CORA stack and infra repo whose env `dev` needs no provider: one module, a
/// gateway module taking `module_routes`, and a `terraform_data` whose input is built from the
/// env's variables, so real terraform plans and applies it offline in well under a second.
struct Local {
    tmp: tempfile::TempDir,
    stack: PathBuf,
    env: PathBuf,
}

/// Variables as a real CORA env declares them: a sensitive one, secret-looking names, and
/// plain settings that also live in `local-secrets.tfvars` (the CORA example file's `okta`).
const ENV_MAIN: &str = r#"variable "log_level" {
  type = string
}
variable "api_token" {
  type = string
}
variable "auth_provider" {
  type = string
}
variable "db_password" {
  type      = string
  sensitive = true
}
variable "session_signing" {
  type    = string
  default = "unset"
}
module "module_x" {
  source = "../../../acme-stack/packages/module-x/infrastructure"
}
module "gateway" {
  source        = "../../modules/gw"
  module_routes = concat(module.module_x.api_routes)
}
resource "terraform_data" "cfg" {
  input = {
    LOG_LEVEL     = var.log_level
    TOKEN         = var.api_token
    PASSWORD      = nonsensitive(var.db_password)
    SIGNING       = var.session_signing
    provider      = var.auth_provider
    domain        = "${var.auth_provider}_domain"
    tag           = "${var.auth_provider}/${var.auth_provider}"
    function_name = "acme-dev-okta-sync"
  }
}
"#;

impl Local {
    /// `None` (the spec is skipped) without terraform on PATH, except under CI.
    fn new(secrets: &str) -> Option<Local> {
        let found = Command::new("terraform")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "terraform is not on PATH (CI needs it)"
            );
            eprintln!("SKIPPED end-to-end spec: terraform is not on PATH");
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let stack = tmp.path().join("acme-stack");
        let infra = tmp.path().join("acme-infra");
        let module = stack.join("packages/module-x/infrastructure");
        let mut variables = String::new();
        for v in [
            "environment",
            "log_level",
            "module_name",
            "org_common_layer_arn",
            "project_name",
            "supabase_secret_arn",
            "aws_region",
        ] {
            variables.push_str(&format!("variable \"{v}\" {{\n  default = \"\"\n}}\n"));
        }
        variables.push_str("variable \"common_tags\" {\n  default = {}\n}\n");
        write(&module.join("variables.tf"), &variables);
        write(
            &module.join("versions.tf"),
            "terraform {\n  required_version = \">= 1.5\"\n}\n",
        );
        write(&module.join("main.tf"), "# no Lambda yet\n");
        write(
            &module.join("outputs.tf"),
            "output \"api_routes\" {\n  value = []\n}\n",
        );
        std::fs::create_dir_all(stack.join("packages/module-x/backend/lambdas")).unwrap();
        write(
            &infra.join("modules/gw/main.tf"),
            "variable \"module_routes\" {\n  type = list(any)\n}\n",
        );
        let env = infra.join("envs/dev");
        write(&env.join("main.tf"), ENV_MAIN);
        write(&env.join("local-secrets.tfvars"), secrets);
        Some(Local { tmp, stack, env })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(xtask_bin());
        cmd.args(args)
            .arg("--stack")
            .arg(&self.stack)
            .env("NO_COLOR", "1")
            .env("TF_CLI_CONFIG_FILE", self.tmp.path().join("none.tfrc"))
            .env_remove("AWS_PROFILE");
        cmd
    }

    fn xtask(&self, args: &[&str]) -> Out {
        run(self.command(args))
    }

    fn secrets(&self, text: &str) {
        write(&self.env.join("local-secrets.tfvars"), text);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Saved plans hold every variable in clear (issue 9, item 11).
#[test]
fn the_saved_plan_and_its_directory_are_private_whatever_the_umask() {
    let Some(l) = Local::new(
        "log_level = \"info\"\napi_token = \"t0k3n-abcdefghijkl\"\nauth_provider = \"okta\"\ndb_password = \"pw-1\"\n",
    ) else {
        return;
    };
    // A directory left 0755 by an older run is tightened too.
    std::fs::create_dir_all(l.env.join(".xtask")).unwrap();
    std::fs::set_permissions(l.env.join(".xtask"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Through a shell that sets the usual umask, which would leave new files 0644.
    let inner = l.command(&["plan"]);
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 022 && exec \"$0\" \"$@\""])
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = run(cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(mode(&l.env.join(".xtask")), 0o700);
    let plan = l.env.join(".xtask/dev.tfplan");
    assert_eq!(mode(&plan), 0o600);
    for e in std::fs::read_dir(l.env.join(".xtask")).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p) & 0o077, 0, "{} is readable by others", p.display());
    }
}

/// Waits until `done`, failing after `limit` (a bound, so a broken xtask cannot hang the suite).
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What `child` printed, once exited; killed (and the spec failed) after `limit`.
fn finish(mut child: Child, limit: Duration) -> Out {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the xtask did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `timeout` or a CI runner stopping a deploy must not kill terraform mid-apply (issue 9, item 6).
#[test]
fn one_sigterm_sent_as_timeout_sends_it_is_one_graceful_stop() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    // Terraform as it behaves: the first SIGINT starts a clean stop, which takes a moment.
    let graceful = r#"trap 'echo got-int >> "$rec"; sleep 0.3; echo stopped-cleanly >> "$rec"; exit 1' INT; echo started >> "$rec"; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"#;
    let child = Command::new(xtask_bin())
        .args(["plan", "--no-build", "--stack"])
        .arg(&d.stack)
        .env("NO_COLOR", "1")
        .env("TF_BIN", &bin)
        .env("FAKE_PLAN", graceful)
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, as under `timeout`, which signals the process and then its group.
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for("the fake plan", Duration::from_secs(60), || {
        record(&bin).contains("started")
    });
    // To the process, then a few milliseconds later (a preempted sender) to its group.
    let pid = child.id().to_string();
    for (i, target) in [pid.clone(), format!("-{pid}")].iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(4));
        }
        let sent = Command::new("kill")
            .args(["-s", "TERM", "--", target])
            .status()
            .unwrap();
        assert!(sent.success());
    }
    let Out { code, stderr, .. } = finish(child, Duration::from_secs(20));
    let rec = record(&bin);
    // Issue 22, item 6: 128 + SIGTERM, as for every command (SIGINT gives 130).
    assert_eq!(code, 143, "{stderr}");
    assert!(stderr.contains("cancelled (SIGTERM)"), "{stderr}");
    assert_eq!(rec.matches("got-int").count(), 1, "{rec}");
    assert!(
        rec.contains("stopped-cleanly"),
        "terraform was killed mid-stop: {stderr}"
    );
    assert!(!stderr.contains("killed"), "{stderr}");
}

/// Those of `secrets` that appear in what the xtask printed.
fn leaks<'a>(out: &Out, secrets: &[&'a str]) -> Vec<&'a str> {
    secrets
        .iter()
        .copied()
        .filter(|s| out.stdout.contains(s) || out.stderr.contains(s))
        .collect()
}

impl Local {
    /// `plan` twice: streamed (`--verbose`), and condensed, with terraform's output in the
    /// env's log. Returns the streamed run, and the log with the condensed run's output.
    fn plan_both_ways(&self) -> (Out, Out) {
        let streamed = self.xtask(&["plan", "--verbose"]);
        let condensed = self.xtask(&["plan"]);
        let log = std::fs::read_to_string(self.env.join(".xtask/dev.log")).unwrap_or_default();
        let logged = Out {
            code: condensed.code,
            stdout: condensed.stdout,
            stderr: format!("{}\n{log}", condensed.stderr),
        };
        (streamed, logged)
    }
}

/// Terraform quotes the line it cannot parse (issue 9, item 8).
#[test]
fn a_var_file_terraform_cannot_parse_is_named_by_line_never_quoted() {
    let Some(l) = Local::new("") else {
        return;
    };
    let good = "auth_provider = \"okta\"\ndb_password = \"pw-ok-1\"\n";
    let cases = [
        (
            "api_token = 'single-quoted-9f3k'\n",
            "single quotes",
            "single-quoted-9f3k",
        ),
        ("api_token = unquoted9f3k\n", "not quoted", "unquoted9f3k"),
        (
            "api_token = \"trailing-9f3k\" oops-9f3k\n",
            "text after the quoted value",
            "9f3k",
        ),
    ];
    for (broken, what, secret) in cases {
        l.secrets(&format!("{good}log_level = \"info\"\n{broken}"));
        let out = l.xtask(&["plan"]);
        assert_eq!(out.code, 1, "{broken}: {}", out.stderr);
        assert_eq!(leaks(&out, &[secret]), Vec::<&str>::new(), "{}", out.stderr);
        assert!(
            out.stderr
                .contains("local-secrets.tfvars line 4 (`api_token`)")
                && out.stderr.contains(what),
            "{broken}: {}",
            out.stderr
        );
    }
}

/// Substring masking of short settings garbled output (issue 9, item 10).
#[test]
fn masking_hides_every_secret_and_garbles_no_setting() {
    // The real CORA example file's shape: a provider name and short settings next to secrets.
    let Some(l) = Local::new(
        "log_level = \"INFO\"\napi_token = \"tk9\"\nauth_provider = \"okta\"\n\
         db_password = \"pw7\"\nsession_signing = \"s1gn-9a8b7c6d5e4f3g2h\"\n",
    ) else {
        return;
    };
    let (streamed, logged) = l.plan_both_ways();
    for out in [streamed, logged] {
        assert_eq!(out.code, 2, "{}", out.stderr);
        // The declared-sensitive, the secret-named (short too) and the credential-length value.
        assert_eq!(
            leaks(&out, &["tk9", "pw7", "s1gn-9a8b7c6d5e4f3g2h"]),
            Vec::<&str>::new(),
            "{}",
            out.stderr
        );
        for kept in [
            "\"okta_domain\"",
            "\"okta/okta\"",
            "\"acme-dev-okta-sync\"",
            "LOG_LEVEL     = \"INFO\"",
        ] {
            assert!(out.stderr.contains(kept), "{kept} garbled: {}", out.stderr);
        }
    }
}

/// The old value of a rotated secret lives in the state only (issue 9, item 9).
#[test]
fn a_rotated_secret_shows_neither_its_old_nor_its_new_value() {
    let Some(l) = Local::new(
        "log_level = \"INFO\"\napi_token = \"old-token-7h6g5f4e3d\"\nauth_provider = \"okta\"\n\
         db_password = \"pw7\"\n",
    ) else {
        return;
    };
    let planned = l.xtask(&["plan"]);
    assert_eq!(planned.code, 2, "{}", planned.stderr);
    let applied = l.xtask(&["apply"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    l.secrets(
        "log_level = \"INFO\"\napi_token = \"new-token-1a2b3c4d5e\"\nauth_provider = \"okta\"\n\
         db_password = \"pw7\"\n",
    );
    let (streamed, logged) = l.plan_both_ways();
    for out in [streamed, logged] {
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("~ TOKEN"), "{}", out.stderr);
        assert_eq!(
            leaks(&out, &["old-token-7h6g5f4e3d", "new-token-1a2b3c4d5e"]),
            Vec::<&str>::new(),
            "{}",
            out.stderr
        );
    }
}

/// A heredoc value of `local-secrets.tfvars` reached the env's log in clear through an output
/// (issue 22, item 3): every line of it is masked, short lines too, in every stream.
#[test]
fn every_line_of_a_heredoc_secret_is_masked_everywhere() {
    let Some(l) = Local::new(
        "log_level = \"INFO\"\napi_token = \"tk9\"\nauth_provider = \"okta\"\n\
         db_password = <<EOT\nhd-first-line-8c7b6a\nhd2\n  hd-third-5x4y\nEOT\n",
    ) else {
        return;
    };
    let main = std::fs::read_to_string(l.env.join("main.tf")).unwrap();
    write(
        &l.env.join("main.tf"),
        &format!("{main}output \"dsn\" {{\n  value = nonsensitive(var.db_password)\n}}\n"),
    );
    let secrets = ["hd-first-line-8c7b6a", "hd2", "hd-third-5x4y"];
    let md = l.tmp.path().join("plan.md");
    let (streamed, logged) = l.plan_both_ways();
    let with_md = l.xtask(&["plan", "--markdown", md.to_str().unwrap()]);
    let markdown = std::fs::read_to_string(&md).unwrap_or_default();
    assert!(!markdown.is_empty(), "{}", with_md.stderr);
    for out in [streamed, logged, with_md] {
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert_eq!(leaks(&out, &secrets), Vec::<&str>::new(), "{}", out.stderr);
    }
    assert!(secrets.iter().all(|s| !markdown.contains(s)), "{markdown}");
    // Applied, the output is printed, streamed and logged.
    let applied = l.xtask(&["apply", "--verbose"]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let log = std::fs::read_to_string(l.env.join(".xtask/dev.log")).unwrap();
    let out = Out {
        code: 0,
        stdout: applied.stdout,
        stderr: format!("{}\n{log}", applied.stderr),
    };
    assert_eq!(leaks(&out, &secrets), Vec::<&str>::new(), "{}", out.stderr);
}

/// A stuck endpoint kept verify silent for 127 s (issue 9, item 7).
#[test]
fn verify_against_an_endpoint_that_never_answers_names_the_call_and_gives_up() {
    if which("aws").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the aws CLI is not on PATH (CI needs it)"
        );
        eprintln!("SKIPPED: the aws CLI is not on PATH");
        return;
    }
    let help = Demo::new().xtask(&["verify", "--help"]).ok().stdout;
    assert!(
        help.contains("--aws-timeout") && help.contains("--cli-read-timeout"),
        "{help}"
    );
    // Accepts every connection and never answers, as a stuck proxy or endpoint does.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    std::fs::create_dir_all(d.infra.join("envs/dev/.terraform")).unwrap();
    let none = d.tmp.path().join("no-aws-config");
    let child = Command::new(xtask_bin())
        .args(["verify", "--json", "--aws-timeout", "2", "--stack"])
        .arg(&d.stack)
        .env("NO_COLOR", "1")
        .env("TF_BIN", &bin)
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", &none)
        .env("AWS_SHARED_CREDENTIALS_FILE", &none)
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two attempts of 2 s each and a back-off: far below the bound, which only keeps a hung
    // xtask from hanging the suite (the aws CLI's own defaults take 127 s here).
    let Out {
        code,
        stdout,
        stderr,
    } = finish(child, Duration::from_secs(60));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("still waiting for `aws sts get-caller-identity`")
            && stderr.contains("gives up after 2 s without an answer"),
        "{stderr}"
    );
    let report = stdout_of_failed_live_check(&stdout);
    assert!(
        report.contains("timeout on endpoint URL") && report.contains("--aws-timeout"),
        "{report}"
    );
}

/// The message of the `live` check that failed, from a `verify --json` document.
fn stdout_of_failed_live_check(stdout: &str) -> String {
    let doc: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "live" && c["status"] == "fail")
        .map(|c| c["message"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no failed live check: {stdout}"))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// TOML errors quote the offending line (issue 9, item 12).
#[test]
fn a_toml_error_on_an_index_url_line_does_not_quote_its_token() {
    let token = "t0k-9x8y7w";
    let d = Demo::new();
    // A type error on an index_url line: the error quotes the line.
    d.write(
        "xtask.toml",
        &format!(
            "[installer_options]\nindex_url = [\"https://me:{token}@pypi.example.com/simple\"]\n"
        ),
    );
    let out = d.xtask(&["build"]).fails();
    assert!(!out.stderr.contains(token), "{}", out.stderr);
    assert!(
        out.stderr.contains("index_url") && out.stderr.contains("xtask.toml"),
        "{}",
        out.stderr
    );
}

/// Anything on a command line is visible in `ps` (issue 9, item 12).
#[test]
fn credentials_in_find_links_stay_out_of_the_installer_s_command_line() {
    let token = "t0k-9x8y7w";
    let d = Demo::new();
    // An installer that records its command line (what `ps` shows) and its links setting.
    let bin = d.tmp.path().join("bin");
    let rec = d.tmp.path().join("uv-record");
    write(
        &bin.join("uv"),
        &format!(
            "#!/bin/sh\n{{ echo \"args:$*\"; echo \"links:$UV_FIND_LINKS\"; }} >> '{}'\nexit 1\n",
            rec.display()
        ),
    );
    std::fs::set_permissions(bin.join("uv"), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.write(
        "xtask.toml",
        &format!(
            "installer = \"uv\"\n[installer_options]\nfind_links = [\"https://me:{token}@links.example.com/wheels/\", \"../wheelhouse\"]\nno_index = true\n"
        ),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = d.xtask_env(&["build"], &[("PATH", &path)]).fails();
    assert!(!out.stderr.contains(token), "{}", out.stderr);
    let record = std::fs::read_to_string(&rec).unwrap();
    let args: Vec<&str> = record.lines().filter(|l| l.starts_with("args:")).collect();
    assert!(!args.is_empty(), "{record}");
    assert!(
        args.iter()
            .all(|l| !l.contains(token) && !l.contains("links.example.com")),
        "{record}"
    );
    assert!(
        record.contains(&format!(
            "links:https://me:{token}@links.example.com/wheels/,"
        )),
        "{record}"
    );
}
