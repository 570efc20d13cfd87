//! `cargo xtask plan`, `apply`, `deploy`: var files, environment hygiene and Ctrl-C with a
//! recording fake terraform; then the demo deployed end to end on the local AWS API.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::local_aws::LocalAws;

fn env_dir(d: &Demo) -> PathBuf {
    d.infra.join("envs/dev")
}

#[test]
fn a_missing_listed_var_file_is_an_error_naming_it() {
    let d = Demo::new();
    d.config("[terraform.var_files]\ndev = [\"shared.tfvars\", \"missing.tfvars\"]");
    write(
        &env_dir(&d).join("shared.tfvars"),
        "log_level = \"DEBUG\"\n",
    );
    let out = d.xtask(&["plan", "--no-build"]).fails();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("missing.tfvars does not exist")
            && out.stderr.contains("[terraform.var_files]"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unknown_env_lists_the_envs_there_are() {
    let d = Demo::new();
    let out = d.xtask(&["plan", "--env", "prd", "--no-build"]).fails();
    assert!(
        out.stderr.contains("env \"prd\"") && out.stderr.contains(": dev."),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_terraform_says_how_to_install_it() {
    let d = Demo::new();
    let out = d
        .xtask_env(&["plan", "--no-build"], &[("TF_BIN", "no-such-terraform")])
        .fails();
    assert!(
        out.stderr.contains("no-such-terraform not found on PATH")
            && out
                .stderr
                .contains("developer.hashicorp.com/terraform/install"),
        "{}",
        out.stderr
    );
}

#[test]
fn terraform_gets_a_clean_environment_and_the_var_files_in_order() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let env = env_dir(&d);
    write(
        &env.join("local-secrets.tfvars"),
        "supabase_service_role_key = \"fake-secret-1\"\n",
    );
    write(&env.join("extra.tfvars"), "log_level = \"DEBUG\"\n");
    write(
        &d.tmp.path().join("cli.tfvars"),
        "log_level = \"WARNING\"\n",
    );
    d.config("[terraform]\nbin = \"terraform-from-config\"\n[terraform.var_files]\ndev = [\"extra.tfvars\"]");
    let cli = d.tmp.path().join("cli.tfvars");
    let args = [
        "plan",
        "--no-build",
        "--profile",
        "demo-admin",
        "--region",
        "eu-west-1",
        "--var-file",
        cli.to_str().unwrap(),
    ];
    let hostile = [
        ("TF_BIN", bin.to_str().unwrap()),
        ("TF_LOG", "TRACE"),
        (
            "TF_CLI_ARGS_plan",
            "-var=supabase_service_role_key=from-env",
        ),
        ("TF_WORKSPACE", "other"),
    ];
    let out = d.xtask_env(&args, &hostile);
    assert_eq!(out.code, 2, "{}", out.stderr);
    for name in ["TF_LOG", "TF_CLI_ARGS_plan", "TF_WORKSPACE"] {
        assert!(
            out.stderr
                .contains(&format!("warning: {name} is set in the environment")),
            "{}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains("TRACE") && !out.stderr.contains("from-env"));
    assert!(
        out.stderr.contains(&format!(
            "var files: local-secrets.tfvars, extra.tfvars, {}, terraform.tfvars (loaded by terraform itself)",
            cli.display()
        )),
        "{}",
        out.stderr
    );

    let rec = record(&bin);
    assert!(
        !rec.contains("TF_LOG") && !rec.contains("TF_CLI_ARGS") && !rec.contains("TF_WORKSPACE"),
        "{rec}"
    );
    for line in [
        "TF_IN_AUTOMATION=1",
        "TF_INPUT=0",
        "AWS_PROFILE=demo-admin",
        "AWS_REGION=eu-west-1",
    ] {
        assert!(rec.lines().any(|l| l == line), "{line} missing:\n{rec}");
    }
    let calls: Vec<&str> = rec
        .lines()
        .filter_map(|l| l.strip_prefix("args:"))
        .collect();
    assert_eq!(
        calls,
        [
            "version -json".to_string(),
            "init -input=false -no-color".into(),
            format!(
                "plan -input=false -no-color -detailed-exitcode -lock-timeout=2m -out=.xtask/dev.tfplan \
                 -var-file=local-secrets.tfvars -var-file=extra.tfvars -var-file={}",
                cli.display()
            ),
            "show -json -no-color .xtask/dev.tfplan".into(),
        ]
    );
    assert!(env.join(".xtask/dev.tfplan").is_file());
    assert_eq!(
        std::fs::read_to_string(env.join(".xtask/.gitignore"))
            .unwrap()
            .lines()
            .last(),
        Some("*")
    );

    // apply runs that saved plan and nothing else, for the same profile and region.
    let out = d
        .xtask_env(
            &["apply", "--profile", "demo-admin", "--region", "eu-west-1"],
            &[("TF_BIN", bin.to_str().unwrap())],
        )
        .ok();
    let rec = record(&bin);
    let calls: Vec<&str> = rec
        .lines()
        .filter_map(|l| l.strip_prefix("args:"))
        .collect();
    assert_eq!(
        calls[4..],
        [
            "version -json",
            "apply -input=false -no-color -lock-timeout=2m -json .xtask/dev.tfplan"
        ]
    );
    assert!(
        !env.join(".xtask/dev.tfplan").exists(),
        "a plan applies once"
    );
    assert!(!out.stderr.contains("fake-secret-1"));
}

#[test]
fn a_multi_line_secret_never_appears_in_streamed_lines_or_errors() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let body = [
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
        "VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDu",
    ];
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    );
    write(
        &env_dir(&d).join("local-secrets.tfvars"),
        &format!("supabase_service_role_key = \"fake-secret-1\"\ntls_key = <<EOT\n{pem}EOT\n"),
    );
    // terraform quotes the file's lines, then the value JSON-escaped, in its error.
    let escaped = d.tmp.path().join("escaped");
    write(&escaped, &format!("Error: invalid key {pem:?}\n"));
    let fake_plan = format!(
        "cat local-secrets.tfvars; cat local-secrets.tfvars '{}' >&2; exit 1",
        escaped.display()
    );
    let out = d
        .xtask_env(
            &["plan", "--no-build"],
            &[("TF_BIN", bin.to_str().unwrap()), ("FAKE_PLAN", &fake_plan)],
        )
        .fails();
    for secret in body {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("(sensitive value)"), "{}", out.stderr);
}

#[test]
fn apply_masks_sensitive_values_of_auto_loaded_var_files_as_plan_does() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let tfvars = env_dir(&d).join("terraform.tfvars");
    let text = std::fs::read_to_string(&tfvars).unwrap();
    write(
        &tfvars,
        &format!("{text}supabase_service_role_key = \"auto-loaded-secret-7\"\n"),
    );
    let env = [
        ("TF_BIN", bin.to_str().unwrap()),
        ("FAKE_PLAN", "cat terraform.tfvars"),
        ("FAKE_APPLY", "cat terraform.tfvars"),
    ];
    // Streamed (--verbose) and condensed into the log alike.
    for (args, code) in [
        (&["plan", "--no-build", "--verbose"][..], 2),
        (&["apply", "--verbose"][..], 0),
        (&["plan", "--no-build"][..], 2),
    ] {
        let out = d.xtask_env(args, &env);
        assert_eq!(out.code, code, "{}", out.stderr);
        let log = std::fs::read_to_string(env_dir(&d).join(".xtask/dev.log")).unwrap();
        let verbose = args.contains(&"--verbose");
        for (what, text) in [("stderr", &out.stderr), ("log", &log)] {
            if what == "stderr" && !verbose {
                continue;
            }
            assert!(
                !text.contains("auto-loaded-secret-7")
                    && text.contains("supabase_service_role_key = \"(sensitive value)\""),
                "{args:?} {what}:\n{text}"
            );
        }
        assert!(!out.stderr.contains("auto-loaded-secret-7"));
    }
}

#[test]
fn deploy_json_prints_its_document_when_verify_fails_after_the_apply() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    // An aws CLI without credentials: the live checks fail.
    let tools = d.tmp.path().join("tools");
    let aws = tools.join("aws");
    write(
        &aws,
        "#!/bin/sh\necho 'Unable to locate credentials' >&2\nexit 255\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = d.xtask_env(
        &["deploy", "--no-build", "--json"],
        &[("TF_BIN", bin.to_str().unwrap()), ("PATH", &path)],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("applied, but verify failed"),
        "{}",
        out.stderr
    );
    let doc = out.json();
    assert_eq!(doc["applied"], true, "{doc}");
    assert_eq!(doc["create"], 1, "{doc}");
    let checks = doc["verify"]["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["id"] == "live" && c["status"] == "fail"),
        "{doc}"
    );
}

/// Starts the xtask without waiting, stderr piped.
fn spawn(d: &Demo, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(xtask_bin());
    cmd.args(args)
        .arg("--stack")
        .arg(&d.stack)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("the xtask binary starts")
}

fn interrupt(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -INT failed");
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for the child and returns its exit code and stderr.
fn finish(child: Child, timeout: Duration) -> (i32, String) {
    let start = Instant::now();
    let mut child = child;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            panic!("the xtask did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_asks_terraform_to_stop_once_and_is_reported_as_cancelled() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let stops = r#"trap 'echo got-int >> "$rec"; exit 1' INT; echo started >> "$rec"; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"#;
    let child = spawn(
        &d,
        &["plan", "--no-build"],
        &[("TF_BIN", bin.to_str().unwrap()), ("FAKE_PLAN", stops)],
    );
    wait_for("the fake plan", Duration::from_secs(60), || {
        record(&bin).contains("started")
    });
    interrupt(&child);
    let (code, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("error: cancelled"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(record(&bin).matches("got-int").count(), 1);
    assert!(
        !env_dir(&d).join(".xtask/dev.tfplan").exists(),
        "an interrupted plan is not kept"
    );
}

#[test]
fn ctrl_c_while_terraform_prints_steadily_stops_before_the_next_step() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    // A line every 10 ms for about 5 s: the xtask never waits long for the next one.
    let chatty = r#"echo started >> "$rec"; i=0; while [ $i -lt 500 ]; do echo "init line $i"; sleep 0.01; i=$((i+1)); done"#;
    let child = spawn(
        &d,
        &["plan", "--no-build"],
        &[("TF_BIN", bin.to_str().unwrap()), ("FAKE_INIT", chatty)],
    );
    wait_for("the fake init", Duration::from_secs(60), || {
        record(&bin).contains("started")
    });
    std::thread::sleep(Duration::from_secs(1));
    interrupt(&child);
    let (code, stderr) = finish(child, Duration::from_secs(30));
    assert_eq!(code, 130, "{stderr}");
    assert!(stderr.contains("error: cancelled"), "{stderr}");
    assert!(!record(&bin).contains("args:plan"), "{}", record(&bin));
}

#[test]
fn a_second_ctrl_c_kills_a_terraform_that_does_not_stop() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let stubborn = r#"trap 'echo got-int >> "$rec"' INT; echo started >> "$rec"; i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"#;
    let child = spawn(
        &d,
        &["plan", "--no-build"],
        &[("TF_BIN", bin.to_str().unwrap()), ("FAKE_PLAN", stubborn)],
    );
    wait_for("the fake plan", Duration::from_secs(60), || {
        record(&bin).contains("started")
    });
    interrupt(&child);
    wait_for("the forwarded SIGINT", Duration::from_secs(10), || {
        record(&bin).contains("got-int")
    });
    interrupt(&child);
    let (code, stderr) = finish(child, Duration::from_secs(20));
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("Ctrl-C again to kill it") && stderr.contains("killed"),
        "{stderr}"
    );
    assert_eq!(
        record(&bin).matches("got-int").count(),
        1,
        "the second Ctrl-C kills, it is not forwarded"
    );
}

#[test]
fn a_second_run_on_the_same_env_waits_for_the_first() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let go = d.tmp.path().join("go");
    let slow = format!(
        r#"echo planning >> "$rec"; i=0; while [ ! -e '{}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done"#,
        go.display()
    );
    let tf_bin = ("TF_BIN", bin.to_str().unwrap());
    let first = spawn(&d, &["plan", "--no-build"], &[tf_bin, ("FAKE_PLAN", &slow)]);
    wait_for("the first plan", Duration::from_secs(60), || {
        record(&bin).contains("planning")
    });
    let mut second = spawn(&d, &["apply"], &[tf_bin]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(second.try_wait().unwrap().is_none(), "apply did not wait");
    assert_eq!(record(&bin).matches("args:version").count(), 1);
    write(&go, "");
    let (code, stderr) = finish(first, Duration::from_secs(30));
    assert_eq!(code, 2, "{stderr}");
    let (code, stderr) = finish(second, Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("another plan, apply or deploy of env dev holds")
            && stderr.contains("waiting for it to finish"),
        "{stderr}"
    );
    assert!(record(&bin).contains("args:apply"), "{}", record(&bin));
}

#[test]
fn apply_refuses_a_plan_made_for_another_profile_or_region() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let env = [("TF_BIN", bin.to_str().unwrap())];
    let planned = ["--profile", "demo-admin", "--region", "eu-west-1"];
    let out = d.xtask_env(&[&["plan", "--no-build"][..], &planned].concat(), &env);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = d
        .xtask_env(&["apply", "--profile", "demo-admin"], &env)
        .fails();
    assert!(
        out.stderr.contains(
            "plan is stale: it was made with --profile demo-admin --region eu-west-1, \
             this apply has --profile demo-admin"
        ),
        "{}",
        out.stderr
    );
    assert!(!record(&bin).contains("args:apply"), "{}", record(&bin));
    d.xtask_env(&[&["apply"][..], &planned].concat(), &env).ok();
    assert!(record(&bin).contains("args:apply"), "{}", record(&bin));
}

/// Everything the xtask printed in the end-to-end run, to look for the secret in.
struct Transcript {
    secret: &'static str,
    text: String,
    started: Instant,
}

impl Transcript {
    fn take(&mut self, step: &str, out: Out) -> Out {
        eprintln!(
            "[{:>5.1}s] {step}: exit {}",
            self.started.elapsed().as_secs_f64(),
            out.code
        );
        self.text.push_str(&out.stdout);
        self.text.push_str(&out.stderr);
        assert!(
            !out.stdout.contains(self.secret) && !out.stderr.contains(self.secret),
            "{step} printed the secret:\n{}\n{}",
            out.stdout,
            out.stderr
        );
        out
    }
}

fn names(v: &serde_json::Value, list: &str, key: &str) -> Vec<String> {
    let mut names: Vec<String> = v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_demo_plans_applies_and_stays_in_sync_on_a_local_aws() {
    let Some(aws) = LocalAws::start() else { return };
    let d = Demo::new();
    // smoke runs in plan and deploy: the runtime's boto3 comes from the wheelhouse.
    let Some(python) = crate::smoke::python313() else {
        return;
    };
    crate::smoke::runtime_wheels(&Wheelhouse::new(&d.tmp.path().join("wheelhouse")));
    d.config(&format!(
        "[smoke]\npython = {:?}",
        python.display().to_string()
    ));
    let env = env_dir(&d);
    let mut t = Transcript {
        secret: "sr-SENTINEL-5b1f0e9d",
        text: String::new(),
        started: Instant::now(),
    };
    write(
        &env.join("local-secrets.tfvars"),
        &format!("supabase_service_role_key = \"{}\"\n", t.secret),
    );
    let run = |t: &mut Transcript, step: &str, args: &[&str]| t.take(step, d.xtask_aws(&aws, args));

    // First plan: everything to create, the var files named.
    let out = run(&mut t, "plan", &["plan", "--json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "var files: local-secrets.tfvars, terraform.tfvars (loaded by terraform itself)"
        ),
        "{}",
        out.stderr
    );
    let p = out.json();
    assert_eq!(p["delete"], 0);
    assert!(p["destructive"].as_array().unwrap().is_empty(), "{p}");
    let functions = [
        "demo-dev-access-members",
        "demo-dev-access-org-email-domains",
        "demo-dev-access-orgs",
        "demo-dev-access-profiles",
        "demo-dev-ai-ai-config",
        "demo-dev-ai-provider",
        "demo-dev-api-gateway-authorizer",
        "demo-dev-mgmt-lambda-mgmt",
    ];
    assert_eq!(strings(&p["functions_with_new_code"]), functions);
    assert_eq!(
        strings(&p["layers_republished"]),
        [
            "demo-dev-ai-common",
            "demo-dev-mgmt_common",
            "demo-dev-org-common"
        ]
    );
    assert_eq!(p["routes_added"].as_array().unwrap().len(), 13);

    // Ctrl-C during the apply: terraform stops cleanly and releases the state lock.
    // --verbose: terraform's own lines, to interrupt at a known moment.
    let mut child = spawn(&d, &["apply", "--verbose"], &aws.env_refs());
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("apply starts creating");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("aws_lambda_function") && line.contains("Creating...") {
            break;
        }
    }
    // Then at a quiet moment, as the creates wait for their Lambdas: the xtask forwards Ctrl-C
    // at once, and a create request terraform cancels in flight can leave a resource in AWS that
    // is not in the state (terraform's own behaviour), which the next apply could not create.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        seen.push_str(&line);
        seen.push('\n');
    }
    interrupt(&child);
    let status = {
        let start = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "apply did not stop"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    seen.extend(rx.try_iter().map(|l| l + "\n"));
    let out = t.take(
        "apply (Ctrl-C)",
        Out {
            code: status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: seen,
        },
    );
    assert_eq!(out.code, 130, "{}", out.stderr);
    assert!(out.stderr.contains("error: cancelled"), "{}", out.stderr);

    // The lock was released: the next plan runs and finds what is left.
    let out = run(&mut t, "plan after Ctrl-C", &["plan", "--json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    // A create cut short leaves its resource tainted: replacing it needs the approval.
    let tainted = out.json()["destructive"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["action"] == "replace" && d["reason"] == "tainted");
    assert!(tainted, "{}", out.stdout);
    let out = run(&mut t, "apply", &["apply", "--auto-approve"]).ok();
    // Condensed: progress and the xtask's summary, terraform's own stream in the log.
    assert!(out.stderr.contains("applied in"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("Creation complete after"),
        "{}",
        out.stderr
    );
    let log = std::fs::read_to_string(env.join(".xtask/dev.log")).unwrap();
    assert!(
        log.contains("==> terraform apply") && log.contains("Creation complete after"),
        "{log}"
    );
    assert!(!log.contains(t.secret));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.join(".xtask/dev.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // What Terraform created is really there.
    let deployed: Vec<String> = aws.aws(&["lambda", "list-functions"])["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FunctionName"].as_str().unwrap().to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(deployed, functions);
    let layers = names(&aws.aws(&["lambda", "list-layers"]), "Layers", "LayerName");
    assert_eq!(
        layers,
        [
            "demo-dev-ai-common",
            "demo-dev-mgmt_common",
            "demo-dev-org-common"
        ]
    );
    let roles = names(&aws.aws(&["iam", "list-roles"]), "Roles", "RoleName");
    for r in [
        "demo-dev-access-lambda-role",
        "demo-dev-ai-lambda-role",
        "demo-dev-authorizer-role",
        "demo-dev-mgmt-lambda-role",
    ] {
        assert!(roles.contains(&r.to_string()), "{r} not in {roles:?}");
    }
    let apis = aws.aws(&["apigatewayv2", "get-apis"]);
    assert_eq!(names(&apis, "Items", "Name"), ["demo-dev-api"]);
    let api_id = apis["Items"][0]["ApiId"].as_str().unwrap().to_string();
    let routes = names(
        &aws.aws(&["apigatewayv2", "get-routes", "--api-id", &api_id]),
        "Items",
        "RouteKey",
    );
    assert_eq!(routes.len(), 13, "{routes:?}");
    assert!(
        routes.contains(&"GET /orgs/{orgId}/members".to_string()),
        "{routes:?}"
    );
    let integrations = aws.aws(&["apigatewayv2", "get-integrations", "--api-id", &api_id]);
    assert_eq!(integrations["Items"].as_array().unwrap().len(), 13);
    let policy = aws.aws(&[
        "lambda",
        "get-policy",
        "--function-name",
        "demo-dev-access-members",
    ]);
    let policy: serde_json::Value =
        serde_json::from_str(policy["Policy"].as_str().unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(
        statements.len(),
        2,
        "GET and POST /orgs/{{orgId}}/members: {policy}"
    );
    assert!(statements
        .iter()
        .all(|s| s["Principal"]["Service"] == "apigateway.amazonaws.com"));

    // Reproducible zips end to end: a rebuild and a new plan change nothing.
    let out = run(&mut t, "plan again", &["plan"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("no changes"), "{}", out.stdout);
    let out = run(&mut t, "apply nothing", &["apply"]).ok();
    assert!(out.stderr.contains("nothing to apply"), "{}", out.stderr);

    // One source of truth, deployed: for every function, the layers the stack model resolves
    // (org-common reaches module-ai and module-mgmt through module variables fed by
    // module_access's output) are the ones build, size and smoke use, check allows imports
    // from, and verify finds attached in state.
    let model = run(&mut t, "stack", &["stack", "--json"]).ok().json();
    let expected = model_layers(&model);
    assert_eq!(expected.len(), functions.len(), "{expected:#?}");
    assert_eq!(
        expected["module-mgmt/lambda-mgmt"],
        ["module-access/org-common", "module-mgmt/mgmt_common"]
    );
    for (pass, args, list) in [
        ("build", &["build", "--json"][..], "artifacts"),
        ("size", &["size", "--json"], "artifacts"),
        ("smoke", &["smoke", "--json", "--no-build"], "functions"),
    ] {
        let doc = run(&mut t, pass, args).ok().json();
        assert_eq!(layers_by_function(&doc, list), expected, "{pass}");
    }
    let verify = run(&mut t, "verify", &["verify", "--json"]).ok().json();
    assert_eq!(
        verify_layers(&verify, &model, "deployed"),
        expected,
        "verify"
    );
    assert_eq!(
        verify_layers(&verify, &model, "expected"),
        expected,
        "verify"
    );
    // check: every handler imports every layer's package; F18 names exactly the imports of
    // the layers a function does not carry.
    let mut layers: Vec<String> = model["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["artifact"].as_str().unwrap().to_string())
        .collect();
    layers.sort();
    let package = |layer: &str| layer.rsplit('/').next().unwrap().replace('-', "_");
    let imports: String = layers
        .iter()
        .map(|l| format!("import {}\n", package(l)))
        .collect();
    let handler = |id: &str| match id.split_once('/').unwrap() {
        ("infra", name) => d.infra.join(format!("lambdas/{name}/lambda_function.py")),
        (module, name) => d.path(&format!(
            "packages/{module}/backend/lambdas/{name}/lambda_function.py"
        )),
    };
    let handlers: Vec<(String, PathBuf, String)> = expected
        .keys()
        .map(|id| {
            let path = handler(id);
            let text = std::fs::read_to_string(&path).unwrap();
            write(&path, &format!("{imports}{text}"));
            (id.clone(), path, text)
        })
        .collect();
    let check = run(&mut t, "check", &["check", "--json"]).json();
    let mut allowed: std::collections::BTreeMap<String, Vec<String>> = handlers
        .iter()
        .map(|(id, _, _)| (id.clone(), layers.clone()))
        .collect();
    for f in check["findings"].as_array().unwrap() {
        if f["code"] != "F18-unresolved-import" {
            continue;
        }
        let file = d.tmp.path().join(f["file"].as_str().unwrap());
        let (id, _, _) = handlers
            .iter()
            .find(|(_, path, _)| *path == file)
            .unwrap_or_else(|| panic!("F18 outside the handlers: {f:#}"));
        let line = f["line"].as_u64().unwrap() as usize;
        assert!((1..=layers.len()).contains(&line), "{f:#}");
        allowed
            .get_mut(id)
            .unwrap()
            .retain(|l| *l != layers[line - 1]);
    }
    let mut carried = expected.clone();
    carried.values_mut().for_each(|l| l.sort());
    assert_eq!(allowed, carried, "check: {check:#}");
    for (_, path, text) in &handlers {
        write(path, text);
    }

    // One handler edited: the plan names exactly that function.
    let orgs = "packages/module-access/backend/lambdas/orgs/lambda_function.py";
    d.write(orgs, &format!("{}\n# edited\n", d.read(orgs)));
    let out = run(&mut t, "plan one handler", &["plan", "--json"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let p = out.json();
    assert_eq!(
        strings(&p["functions_with_new_code"]),
        ["demo-dev-access-orgs"]
    );
    assert!(strings(&p["layers_republished"]).is_empty(), "{p}");
    assert_eq!(
        (p["create"].as_u64(), p["update"].as_u64()),
        (Some(0), Some(1)),
        "{p}"
    );

    // Anything changed since the plan makes it stale.
    let profiles = "packages/module-access/backend/lambdas/profiles/lambda_function.py";
    d.write(profiles, &format!("{}\n# edited\n", d.read(profiles)));
    run(&mut t, "build", &["build"]).ok();
    let main_tf = "packages/module-mgmt/infrastructure/main.tf";
    d.write(main_tf, &format!("{}\n# a comment\n", d.read(main_tf)));
    let out = run(&mut t, "apply stale", &["apply"]).fails();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "plan is stale: module-access/backend/.build/profiles.zip changed, \
             module-mgmt/infrastructure/main.tf changed since the plan; run cargo xtask plan"
        ),
        "{}",
        out.stderr
    );

    // A terraform failure surfaces with its message and exit code, and leaves no plan.
    write(
        &env.join("broken.tf"),
        "output \"broken\" {\n  value = aws_lambda_function.nope.arn\n}\n",
    );
    let out = run(&mut t, "plan broken", &["plan"]).fails();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("terraform plan failed (exit code 1)")
            && out.stderr.contains("Reference to undeclared resource"),
        "{}",
        out.stderr
    );
    let out = run(&mut t, "apply without plan", &["apply"]).fails();
    assert!(
        out.stderr.contains("no saved plan for env dev"),
        "{}",
        out.stderr
    );
    std::fs::remove_file(env.join("broken.tf")).unwrap();

    // terraform would quote a broken var file line in its error: the xtask names it instead.
    let secrets = env.join("local-secrets.tfvars");
    let good = std::fs::read_to_string(&secrets).unwrap();
    let last = good.trim_end().lines().last().unwrap();
    let value = last.split('"').nth(1).unwrap();
    write(&secrets, &format!("{} junk\n", good.trim_end()));
    let out = run(&mut t, "plan broken secrets", &["plan", "--no-build"]).fails();
    assert!(
        out.stderr.contains(&format!(
            "local-secrets.tfvars line {} (`supabase_service_role_key`): there is text after",
            good.trim_end().lines().count()
        )) && !out.stderr.contains(value)
            && !out.stderr.contains("junk"),
        "{}",
        out.stderr
    );
    // No secrets file at all (F16): terraform's error, and where the value goes.
    std::fs::remove_file(&secrets).unwrap();
    let out = run(&mut t, "plan without secrets", &["plan", "--no-build"]).fails();
    assert!(
        out.stderr.contains("No value for required variable")
            && out.stderr.contains(
                "hint: copy demo-infra/envs/dev/local-secrets.tfvars.example to local-secrets.tfvars"
            ),
        "{}",
        out.stderr
    );
    write(&secrets, &good);

    // deploy: a route removed deletes resources, which needs --auto-approve without a terminal.
    let outputs_tf = "packages/module-mgmt/infrastructure/outputs.tf";
    let text = d.read(outputs_tf);
    let without: String = text
        .lines()
        .filter(|l| !l.contains("\"PUT\", path = \"/mgmt/warming\""))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(text, without);
    d.write(outputs_tf, &without);
    let out = run(&mut t, "deploy", &["deploy"]).fails();
    assert!(
        out.stderr.contains("deletes or replaces") && out.stderr.contains("--auto-approve"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains("routes removed (1):\n  undeclared (1):\n    PUT /mgmt/warming"),
        "{}",
        out.stdout
    );
    let out = run(
        &mut t,
        "deploy --auto-approve",
        &["deploy", "--auto-approve", "--json"],
    )
    .ok();
    // Every handler of the demo imported in its Lambda-shaped sandbox before the plan.
    assert!(
        out.stderr
            .contains("smoke: 8 functions, 8 passed, 0 failed, 0 skipped"),
        "{}",
        out.stderr
    );
    let p = out.json();
    assert_eq!(p["applied"], true);
    // deploy ends with verify, green: every check of the deploy passed, live included.
    let checks = p["verify"]["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["id"] == "live"), "{p}");
    assert!(checks.iter().any(|c| c["id"] == "V4"), "{p}");
    assert!(checks.iter().all(|c| c["status"] == "pass"), "{p}");
    assert_eq!(strings(&p["routes_removed"]), ["PUT /mgmt/warming"]);
    assert_eq!(
        strings(&p["functions_with_new_code"]),
        ["demo-dev-access-orgs", "demo-dev-access-profiles"]
    );
    assert!(
        names(&p, "destructive", "address")
            .iter()
            .all(|a| a.contains("PUT /mgmt/warming")),
        "{p}"
    );
    let routes = aws.aws(&["apigatewayv2", "get-routes", "--api-id", &api_id]);
    assert_eq!(routes["Items"].as_array().unwrap().len(), 12);
    let out = run(&mut t, "plan after deploy", &["plan"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    assert!(!t.text.contains(t.secret));
    eprintln!("end-to-end: {:.1}s", t.started.elapsed().as_secs_f64());
}

#[test]
fn plan_refuses_to_start_when_check_reports_an_error() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    let main_tf = env_dir(&d).join("main.tf");
    let text = std::fs::read_to_string(&main_tf).unwrap();
    std::fs::write(&main_tf, text.replace("module.module_mgmt.api_routes,", "")).unwrap();
    let out = d
        .xtask_env(&["plan"], &[("TF_BIN", bin.to_str().unwrap())])
        .fails();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("error[F12-not-in-module-routes]"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("terraform was not run"),
        "{}",
        out.stderr
    );
    assert!(!record(&bin).contains("args:plan"), "{}", record(&bin));
}

/// Off a terminal the first status line comes at once: it must not read as the total.
#[test]
fn plan_reports_the_refresh_totals_terraform_printed() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    // Terraform 1.11's lines for two resources in the state and one data source.
    let fake_plan = "echo 'terraform_data.a: Refreshing state... [id=ff73]'; \
                     echo 'terraform_data.b: Refreshing state... [id=a6f0]'; \
                     echo 'data.terraform_remote_state.s: Reading...'; \
                     echo 'data.terraform_remote_state.s: Read complete after 0s'";
    let out = d.xtask_env(
        &["plan", "--no-build", "--no-smoke"],
        &[("TF_BIN", bin.to_str().unwrap()), ("FAKE_PLAN", fake_plan)],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("2 resources refreshed, 1 data source read\n"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("1 resources"), "{}", out.stderr);
    let quiet = d.xtask_env(
        &["plan", "--no-build", "--no-smoke", "-q"],
        &[("TF_BIN", bin.to_str().unwrap()), ("FAKE_PLAN", fake_plan)],
    );
    assert!(!quiet.stderr.contains("refreshed"), "{}", quiet.stderr);
    assert!(quiet.stdout.contains("to create"), "{}", quiet.stdout);
}

#[test]
fn plan_and_deploy_locked_build_with_locked_and_stop_before_terraform() {
    // The demo's profiles/requirements.txt has no requirements.lock: `--locked` must fail the
    // build (as `build --locked` does) and terraform must never run.
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    for cmd in ["plan", "deploy"] {
        let out = d
            .xtask_env(&[cmd, "--locked"], &[("TF_BIN", bin.to_str().unwrap())])
            .fails();
        assert_eq!(out.code, 1, "{cmd}: {}", out.stderr);
        assert!(
            out.stderr.contains("has no requirements.lock") && out.stderr.contains("--locked"),
            "{cmd}: {}",
            out.stderr
        );
        assert!(!record(&bin).contains("args:plan"), "{}", record(&bin));
    }
    // `--locked` with `--no-build` would check nothing: refused as a usage error.
    assert_eq!(
        d.xtask(&["plan", "--locked", "--no-build"]).fails().code,
        64
    );
}
