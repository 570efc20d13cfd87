//! `cargo xtask verify`: the demo deployed to the local AWS API with terraform, then broken
//! out of band (aws CLI) and in the configuration, one apply per step that needs one.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

use crate::common::*;
use crate::local_aws::LocalAws;

const SECRET_KEY: &str = "sekrit-service-role-key-for-verify";

impl Demo {
    fn env_dir(&self) -> PathBuf {
        self.infra.join("envs/dev")
    }

    /// terraform in envs/dev against the local AWS API; panics with its output on failure.
    fn terraform(&self, aws: &LocalAws, args: &[&str]) -> String {
        let mut cmd = Command::new("terraform");
        cmd.args(args)
            .current_dir(self.env_dir())
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("AWS_PROFILE");
        for (k, v) in &aws.env {
            cmd.env(k, v);
        }
        let out = run(cmd);
        assert_eq!(
            out.code, 0,
            "terraform {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Builds, then `terraform init` + `apply` as a user would (the xtask's own apply lives
    /// elsewhere). Returns the seconds the apply took.
    fn deploy(&self, aws: &LocalAws) -> f64 {
        self.xtask(&["build"]).ok();
        write(
            &self.env_dir().join("local-secrets.tfvars"),
            &format!("supabase_service_role_key = \"{SECRET_KEY}\"\n"),
        );
        if !self.env_dir().join(".terraform").is_dir() {
            self.terraform(aws, &["init", "-input=false", "-no-color"]);
        }
        let t = Instant::now();
        self.terraform(
            aws,
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-var-file=local-secrets.tfvars",
            ],
        );
        t.elapsed().as_secs_f64()
    }

    fn output(&self, aws: &LocalAws, name: &str) -> String {
        let outputs: Value =
            serde_json::from_str(&self.terraform(aws, &["output", "-json"])).unwrap();
        outputs[name]["value"].as_str().unwrap().to_string()
    }
}

/// `(id, subject)` of the failed checks of a `verify --json` run.
fn failures(json: &Value) -> Vec<(String, String)> {
    checks(json)
        .filter(|c| c["status"] == "fail")
        .map(|c| {
            (
                c["id"].as_str().unwrap().into(),
                c["subject"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn checks(json: &Value) -> impl Iterator<Item = &Value> {
    json["checks"].as_array().unwrap().iter()
}

fn check<'a>(json: &'a Value, id: &str, subject: &str) -> &'a Value {
    checks(json)
        .find(|c| c["id"] == id && c["subject"] == subject)
        .unwrap_or_else(|| panic!("no {id} check of {subject}"))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The env of the local AWS API with its endpoint moved to a port nothing listens on.
fn unreachable_aws(aws: &LocalAws) -> Vec<(String, String)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = aws.env.clone();
    for (k, v) in &mut env {
        if k == "AWS_ENDPOINT_URL" {
            *v = format!("http://127.0.0.1:{port}");
        }
    }
    env
}

/// `env` with a PATH of terraform and curl only: verify calls AWS through its own client.
fn without_aws_cli(env: &[(String, String)], dir: &Path) -> Vec<(String, String)> {
    std::fs::create_dir_all(dir).unwrap();
    for tool in ["terraform", "curl"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} is on PATH"));
        let link = dir.join(tool);
        if !link.exists() {
            std::os::unix::fs::symlink(found, link).unwrap();
        }
    }
    let mut env = env.to_vec();
    env.push(("PATH".into(), dir.display().to_string()));
    env
}

fn refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A stand-in for the gateway on loopback: 200 for the public route, 404 for
/// `GET /orgs/{orgId}/email-domains` (on purpose), 401 for everything else. Records each request head.
fn fake_gateway() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/stage", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let line = head.lines().next().unwrap_or_default().to_string();
                let status = match line.split(' ').nth(1).unwrap_or_default() {
                    "/stage/ai/providers" => "200 OK",
                    p if p.ends_with("/email-domains") => "404 Not Found",
                    _ => "401 Unauthorized",
                };
                let body = "{\"message\":\"stand-in\"}";
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                log.lock().unwrap().push(head);
            });
        }
    });
    (url, seen)
}

fn zip_with_handler(path: &Path, body: &str) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    z.start_file(
        "lambda_function.py",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    z.write_all(body.as_bytes()).unwrap();
    z.finish().unwrap();
}

#[test]
fn verify_proves_a_deploy_and_names_every_kind_of_drift() {
    let Some(aws) = LocalAws::start() else { return };
    let started = Instant::now();
    let d = Demo::new();
    let first_apply = d.deploy(&aws);
    let api = d.output(&aws, "api_gateway_id");
    let secret_arn = {
        let o: Value = serde_json::from_str(&d.terraform(&aws, &["output", "-json"])).unwrap();
        assert_eq!(o["supabase_secret_arn"]["sensitive"], true);
        o["supabase_secret_arn"]["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let no_secrets = |out: &Out| {
        for secret in [secret_arn.as_str(), SECRET_KEY] {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "a sensitive value was printed:\n{}\n{}",
                out.stdout,
                out.stderr
            );
        }
    };

    // A clean deploy verifies green, live, in both output forms.
    let t = Instant::now();
    let human = d.xtask_aws(&aws, &["verify"]).ok();
    let live_secs = t.elapsed().as_secs_f64();
    no_secrets(&human);
    for group in [
        "module.module_access",
        "module.module_ai",
        "module.module_mgmt",
        "root",
    ] {
        assert!(
            human.stdout.lines().any(|l| l == group),
            "no {group} group:\n{}",
            human.stdout
        );
    }
    assert!(human.stdout.contains(" 0 failed, "), "{}", human.stdout);
    let out = d.xtask_aws(&aws, &["verify", "--json"]).ok();
    no_secrets(&out);
    let json = out.json();
    assert_eq!(failures(&json), pairs(&[]));
    // Without the aws CLI on PATH the built-in client (curl) reads AWS the same.
    let no_cli = without_aws_cli(&aws.env, &d.tmp.path().join("no-aws-cli"));
    let by_curl = d.xtask_env(&["verify", "--json"], &refs(&no_cli)).ok();
    no_secrets(&by_curl);
    assert_eq!(by_curl.json()["checks"], json["checks"]);
    for id in ["V1", "V2", "V3", "V4", "V5", "live"] {
        assert!(checks(&json).any(|c| c["id"] == id), "no {id} check");
    }
    for f in [
        "access-profiles",
        "access-orgs",
        "ai-provider",
        "mgmt-lambda-mgmt",
        "api-gateway-authorizer",
    ] {
        let subject = format!("function demo-dev-{f}");
        assert_eq!(check(&json, "V4", &subject)["status"], "pass");
        assert_eq!(check(&json, "live", &subject)["status"], "pass");
    }
    assert_eq!(
        check(&json, "live", "route GET /profiles/me")["message"],
        format!("matches API {api}")
    );
    assert!(
        check(&json, "V2", "function demo-dev-api-gateway-authorizer")["message"]
            .as_str()
            .unwrap()
            .contains("aws_apigatewayv2_authorizer")
    );

    // --offline needs no AWS at all; without it, an unreachable AWS is one named failure.
    let gone = unreachable_aws(&aws);
    let t = Instant::now();
    let offline = d
        .xtask_env(&["verify", "--offline", "--json"], &refs(&gone))
        .ok();
    let offline_secs = t.elapsed().as_secs_f64();
    let offline = offline.json();
    assert!(checks(&offline).all(|c| c["id"] != "live"));
    assert_eq!(failures(&offline), pairs(&[]));
    let out = d.xtask_env(&["verify", "--json"], &refs(&gone)).fails();
    assert_eq!(failures(&out.json()), pairs(&[("live", "AWS credentials")]));
    let gone_no_cli = without_aws_cli(&gone, &d.tmp.path().join("no-aws-cli"));
    let out = d
        .xtask_env(&["verify", "--json"], &refs(&gone_no_cli))
        .fails();
    assert_eq!(failures(&out.json()), pairs(&[("live", "AWS credentials")]));

    // api_routes built from a variable set only in local-secrets.tfvars: the same routes, so
    // nothing to apply, but Terraform knows them only with the var file (V3).
    let edits = [
        (
            d.path("packages/module-mgmt/infrastructure/outputs.tf"),
            "path = \"/mgmt/",
            "path = \"${var.routes_prefix}/",
        ),
        (
            d.path("packages/module-mgmt/infrastructure/variables.tf"),
            "variable \"log_level\" {",
            "variable \"routes_prefix\" {}\nvariable \"log_level\" {",
        ),
        (
            d.env_dir().join("main.tf"),
            "module_name          = \"mgmt\"\n",
            "module_name          = \"mgmt\"\n  routes_prefix        = var.mgmt_routes_prefix\n",
        ),
        (
            d.env_dir().join("variables.tf"),
            "variable \"log_level\" {",
            "variable \"mgmt_routes_prefix\" {}\nvariable \"log_level\" {",
        ),
        (
            d.env_dir().join("local-secrets.tfvars"),
            "supabase_service_role_key",
            "mgmt_routes_prefix = \"/mgmt\"\nsupabase_service_role_key",
        ),
    ];
    let originals: Vec<String> = edits
        .iter()
        .map(|(path, from, to)| {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.contains(from), "{from} not in {}", path.display());
            write(path, &text.replace(from, to));
            text
        })
        .collect();
    let out = d
        .xtask_env(&["verify", "--offline", "--json"], &refs(&gone))
        .ok();
    assert_eq!(failures(&out.json()), pairs(&[]));
    for ((path, ..), text) in edits.iter().zip(originals) {
        write(path, &text);
    }

    // --http: every route without credentials against a stand-in answering 404 for one.
    let (url, seen) = fake_gateway();
    let out = d
        .xtask_aws(
            &aws,
            &["verify", "--offline", "--http", "--url", &url, "--json"],
        )
        .fails();
    let json = out.json();
    assert_eq!(
        failures(&json),
        pairs(&[("http", "route GET /orgs/{orgId}/email-domains")])
    );
    let missing = check(&json, "http", "route GET /orgs/{orgId}/email-domains");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .contains("answered 404"),
        "{missing}"
    );
    assert!(check(&json, "http", "route GET /ai/providers")["message"]
        .as_str()
        .unwrap()
        .contains("public, answered 200"));
    assert!(check(&json, "http", "route PUT /profiles/me")["message"]
        .as_str()
        .unwrap()
        .contains("private, answered 401"));
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 13, "{requests:#?}");
    assert!(requests
        .iter()
        .all(|r| !r.to_ascii_lowercase().contains("authorization:")));
    assert!(requests
        .iter()
        .any(|r| r.starts_with("GET /stage/orgs/xtask-verify/members HTTP/1.1")));

    // Out of band: a route deleted and a function's code replaced with the aws CLI.
    let routes = aws.aws(&["apigatewayv2", "get-routes", "--api-id", &api]);
    let route_id = routes["Items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["RouteKey"] == "GET /profiles/me")
        .unwrap()["RouteId"]
        .as_str()
        .unwrap()
        .to_string();
    aws.aws(&[
        "apigatewayv2",
        "delete-route",
        "--api-id",
        &api,
        "--route-id",
        &route_id,
    ]);
    let other = d.tmp.path().join("other.zip");
    zip_with_handler(
        &other,
        "def lambda_handler(event, context):\n    return 'not the build'\n",
    );
    let zip_arg = format!("fileb://{}", other.display());
    aws.aws(&[
        "lambda",
        "update-function-code",
        "--function-name",
        "demo-dev-access-orgs",
        "--zip-file",
        &zip_arg,
    ]);
    let out = d.xtask_aws(&aws, &["verify", "--json"]).fails();
    no_secrets(&out);
    let json = out.json();
    assert_eq!(
        failures(&json),
        pairs(&[
            ("live", "route GET /profiles/me"),
            ("live", "function demo-dev-access-orgs")
        ])
    );
    let by_curl = d.xtask_env(&["verify", "--json"], &refs(&no_cli)).fails();
    no_secrets(&by_curl);
    assert_eq!(by_curl.json()["checks"], json["checks"]);
    assert_eq!(
        check(&json, "live", "route GET /profiles/me")["message"],
        format!("route `GET /profiles/me` is in state but not in API {api}")
    );
    let orgs = check(&json, "live", "function demo-dev-access-orgs");
    assert!(
        orgs["message"].as_str().unwrap().contains("CodeSha256"),
        "{orgs}"
    );
    assert!(orgs["fix"].as_str().unwrap().contains(
        "cargo xtask plan --env dev -- -replace='module.module_access.aws_lambda_function.orgs'"
    ));
    // The state does not know: offline stays green.
    d.xtask_env(&["verify", "--offline"], &refs(&gone)).ok();

    // A module dropped from module_routes and applied: its function is cut off.
    let main_tf = d.env_dir().join("main.tf");
    let text = std::fs::read_to_string(&main_tf).unwrap();
    assert!(text.contains("    module.module_mgmt.api_routes,\n"));
    write(
        &main_tf,
        &text.replace("    module.module_mgmt.api_routes,\n", ""),
    );
    let second_apply = d.deploy(&aws);
    let out = d.xtask_aws(&aws, &["verify", "--json"]).fails();
    let json = out.json();
    // The apply restored the deleted route, and its refresh recorded the replaced code (V4).
    assert_eq!(
        failures(&json),
        pairs(&[
            ("V2", "function demo-dev-mgmt-lambda-mgmt"),
            ("V3", "route GET /mgmt/lambdas"),
            ("V3", "route GET /mgmt/warming"),
            ("V3", "route PUT /mgmt/warming"),
            ("V4", "function demo-dev-access-orgs"),
            ("live", "function demo-dev-access-orgs"),
        ])
    );
    let v2 = check(&json, "V2", "function demo-dev-mgmt-lambda-mgmt");
    assert_eq!(
        v2["message"],
        "`demo-dev-mgmt-lambda-mgmt` exists but no route reaches it"
    );
    assert_eq!(v2["module"], "module.module_mgmt");
    let fix = v2["fix"].as_str().unwrap();
    assert!(
        fix.contains(
            "add module.module_mgmt.api_routes to `module_routes = concat(…)` at envs/dev/main.tf:"
        ),
        "{fix}"
    );
    assert!(check(&json, "V3", "route GET /mgmt/warming")["message"]
        .as_str()
        .unwrap()
        .contains("(→ demo-dev-mgmt-lambda-mgmt) is declared by module.module_mgmt.api_routes but is not in the gateway"));

    // Listing it as unrouted accepts the function, not the missing routes.
    d.config("[verify]\nunrouted = [\"demo-dev-mgmt-lambda-mgmt\"]");
    let json = d
        .xtask_aws(&aws, &["verify", "--offline", "--json"])
        .fails()
        .json();
    assert_eq!(
        check(&json, "V2", "function demo-dev-mgmt-lambda-mgmt")["status"],
        "pass"
    );
    assert!(failures(&json).iter().all(|(id, _)| id != "V2"));

    eprintln!(
        "timings: first apply {first_apply:.1}s, verify (live) {live_secs:.1}s, verify --offline {offline_secs:.1}s, \
         second apply {second_apply:.1}s, whole test {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn verify_without_a_deployment_says_what_to_do() {
    let d = Demo::new();
    let out = d.xtask(&["verify", "--env", "prod"]).fails();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("env \"prod\""), "{}", out.stderr);
    assert!(out.stderr.contains(": dev. Pass --env"), "{}", out.stderr);
    let out = d.xtask(&["verify", "--offline"]).fails();
    assert!(
        out.stderr.contains("envs/dev is not initialised"),
        "{}",
        out.stderr
    );
}

#[test]
fn verify_refuses_a_missing_listed_var_file_like_plan() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    std::fs::create_dir_all(d.env_dir().join(".terraform")).unwrap();
    d.config("[terraform.var_files]\ndev = [\"missing.tfvars\"]");
    let out = d
        .xtask_env(
            &["verify", "--offline"],
            &[("TF_BIN", bin.to_str().unwrap())],
        )
        .fails();
    assert!(
        out.stderr.contains("missing.tfvars does not exist")
            && out.stderr.contains("[terraform.var_files]"),
        "{}",
        out.stderr
    );
}

#[test]
fn verify_finds_terraform_initialised_in_tf_data_dir_as_plan_does() {
    let d = Demo::new();
    let bin = fake_terraform(d.tmp.path());
    std::fs::create_dir_all(d.env_dir().join("tf-data")).unwrap();
    let out = d.xtask_env(
        &["verify", "--offline"],
        &[
            ("TF_BIN", bin.to_str().unwrap()),
            ("TF_DATA_DIR", "tf-data"),
        ],
    );
    assert!(!out.stderr.contains("not initialised"), "{}", out.stderr);
    assert!(
        record(&bin).contains("args:show -json -no-color\n"),
        "{}",
        record(&bin)
    );
}
