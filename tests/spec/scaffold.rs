//! `cargo xtask new module` and `cargo xtask new env`: what they write checks clean and builds,
//! they never overwrite, bad names are usage errors, and an env's secrets and state never travel.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// `terraform init -backend=false` (providers from the machine's filesystem mirror) and
/// `terraform validate` in `env_dir`: Terraform itself accepts what was written. Without
/// terraform or a mirror: a failure under CI, a loud skip elsewhere.
fn terraform_validates(env_dir: &Path, tmp: &Path) {
    let mirror = std::env::var_os("TF_PROVIDER_MIRROR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/tf-plugins"));
    let has_terraform = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("terraform").is_file()));
    if !has_terraform || !mirror.join("registry.terraform.io/hashicorp/aws").is_dir() {
        let why = format!(
            "terraform or the provider mirror {} missing",
            mirror.display()
        );
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED terraform validate: {why}");
        return;
    }
    let rc = tmp.join("validate.tfrc");
    write(
        &rc,
        &format!(
            "provider_installation {{\n  filesystem_mirror {{\n    path = \"{}\"\n  }}\n}}\n",
            mirror.display()
        ),
    );
    for args in [
        &["init", "-backend=false", "-input=false"][..],
        &["validate"],
    ] {
        let mut cmd = Command::new("terraform");
        cmd.args(args)
            .current_dir(env_dir)
            .env("TF_CLI_CONFIG_FILE", &rc)
            .env("TF_IN_AUTOMATION", "1")
            .env("NO_COLOR", "1");
        let out = run(cmd);
        assert_eq!(
            out.code, 0,
            "terraform {args:?}:\n{}{}",
            out.stdout, out.stderr
        );
    }
}

fn findings(d: &Demo, env: &str) -> Vec<serde_json::Value> {
    let out = d.xtask(&["check", "--env", env, "--json"]).ok();
    out.json()["findings"].as_array().unwrap().clone()
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn new_module_is_contract_shaped_registered_in_the_env_checks_clean_and_builds() {
    let d = Demo::new();
    let out = d.xtask(&["new", "module", "module-billing-admin"]).ok();
    assert!(
        out.stdout
            .contains("created packages/module-billing-admin/infrastructure/main.tf\n")
            && out.stdout.contains("updated demo-infra/envs/dev/main.tf"),
        "{}",
        out.stdout
    );
    let m = d.path("packages/module-billing-admin");
    assert_eq!(
        tree(&m),
        [
            "backend/.gitignore",
            "backend/lambdas/billing-admin/lambda_function.py",
            "backend/lambdas/billing-admin/requirements.txt",
            "backend/layers/billing-admin-common/python/billing_admin_common/__init__.py",
            "infrastructure/main.tf",
            "infrastructure/outputs.tf",
            "infrastructure/variables.tf",
            "infrastructure/versions.tf",
        ]
    );
    assert!(std::fs::read_to_string(m.join("infrastructure/outputs.tf"))
        .unwrap()
        .contains("output \"api_routes\""));
    // Called from the env with the arguments the demo's modules get, routes on the gateway.
    let main_tf = std::fs::read_to_string(d.infra.join("envs/dev/main.tf")).unwrap();
    assert!(main_tf.contains(
        "module \"module_billing_admin\" {\n  source = \"../../../demo-stack/packages/module-billing-admin/infrastructure\""
    ));
    assert!(main_tf.contains("  module_name         = \"billing-admin\"\n"));
    assert!(main_tf.contains("supabase_secret_arn = aws_secretsmanager_secret.supabase.arn"));
    assert!(main_tf.contains(
        "    module.module_mgmt.api_routes,\n    module.module_billing_admin.api_routes,\n"
    ));

    assert_eq!(findings(&d, "dev"), Vec::<serde_json::Value>::new());
    let built = d
        .xtask(&["build", "--locked", "--module", "billing-admin", "--json"])
        .ok();
    let statuses: Vec<(String, String)> = built.json()["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().into(),
                a["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("billing-admin".to_string(), "built".to_string()),
            ("billing-admin-common".to_string(), "built".to_string())
        ]
    );

    // Terraform reads every zip the env deploys: the rest of the demo built too.
    d.xtask(&["build"]).ok();
    terraform_validates(&d.infra.join("envs/dev"), d.tmp.path());

    // Never over an existing module: refused, nothing touched.
    let before = std::fs::read_to_string(d.infra.join("envs/dev/main.tf")).unwrap();
    let again = d.xtask(&["new", "module", "billing-admin"]).fails();
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("module-billing-admin already exists"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(d.infra.join("envs/dev/main.tf")).unwrap(),
        before
    );
}

#[test]
fn invalid_names_are_usage_errors_and_write_nothing() {
    let d = Demo::new();
    for args in [
        &["new", "module", "Billing"][..],
        &["new", "module", "a_b"],
        &["new", "module", "../x"],
        &["new", "module", "infra"],
        &["new", "env", "a/b"],
        &["new", "env", ".."],
        &["new", "env", "stg", "--from", "../dev"],
    ] {
        let out = d.xtask(args).fails();
        assert_eq!(out.code, 64, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("invalid value"), "{}", out.stderr);
    }
    assert_eq!(
        tl(&d.path("packages")),
        ["module-access", "module-ai", "module-mgmt"]
    );
    assert_eq!(tl(&d.infra.join("envs")), ["dev"]);
}

fn tl(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn new_env_copies_var_files_but_never_secrets_or_state_and_checks_clean() {
    let d = Demo::new();
    let dev = d.infra.join("envs/dev");
    write(
        &dev.join("local-secrets.tfvars"),
        "supabase_service_role_key = \"s3cr3t-one\"\n",
    );
    // A sensitive variable set in an auto-loaded var file is blanked too.
    write(
        &dev.join("extra.auto.tfvars"),
        "log_level = \"DEBUG\"\nsupabase_service_role_key = \"s3cr3t-two\"\n",
    );
    write(&dev.join(".env"), "export TOKEN=s3cr3t-three\n");
    write(&dev.join("terraform.tfstate"), "{\"s3cr3t\": \"state\"}");
    write(&dev.join("terraform.tfstate.backup"), "{}");
    write(&dev.join(".terraform/terraform.tfstate"), "{}");
    write(&dev.join(".xtask/dev.tfplan"), "plan");
    write(
        &dev.join("backend.tf"),
        &std::fs::read_to_string(dev.join("backend.tf"))
            .unwrap()
            .replace(
                "backend \"local\" {}",
                "backend \"local\" {\n    path = \"state/dev/terraform.tfstate\"\n  }",
            ),
    );

    let out = d.xtask(&["new", "env", "stg"]).ok();
    let stg = d.infra.join("envs/stg");
    assert_eq!(
        tree(&stg),
        [
            ".env",
            ".gitignore",
            "backend.tf",
            "extra.auto.tfvars",
            "local-secrets.tfvars",
            "local-secrets.tfvars.example",
            "main.tf",
            "outputs.tf",
            "providers.tf",
            "terraform.tfvars",
            "variables.tf",
        ]
    );
    for f in tree(&stg) {
        let text = std::fs::read_to_string(stg.join(&f)).unwrap();
        assert!(!text.contains("s3cr3t"), "{f} holds a secret:\n{text}");
    }
    assert!(!out.stdout.contains("s3cr3t") && !out.stderr.contains("s3cr3t"));
    let secrets = std::fs::read_to_string(stg.join("local-secrets.tfvars")).unwrap();
    assert!(
        secrets.contains("supabase_service_role_key = \"\"\n"),
        "{secrets}"
    );
    assert!(
        out.stdout.contains("fill in supabase_service_role_key"),
        "{}",
        out.stdout
    );
    let extra = std::fs::read_to_string(stg.join("extra.auto.tfvars")).unwrap();
    assert_eq!(
        extra,
        "log_level = \"DEBUG\"\nsupabase_service_role_key = \"\"\n"
    );
    assert_eq!(
        std::fs::read_to_string(stg.join(".env")).unwrap(),
        "TOKEN=\n"
    );
    // The copy's own name, so it never shares the original's state or names.
    let backend = std::fs::read_to_string(stg.join("backend.tf")).unwrap();
    assert!(
        backend.contains("path = \"state/stg/terraform.tfstate\""),
        "{backend}"
    );
    let main_tf = std::fs::read_to_string(stg.join("main.tf")).unwrap();
    assert!(main_tf.contains("environment         = \"stg\"") && !main_tf.contains("\"dev\""));
    assert!(
        out.stdout.contains("envs/stg/backend.tf:"),
        "{}",
        out.stdout
    );

    assert_eq!(findings(&d, "stg"), Vec::<serde_json::Value>::new());
    d.xtask(&["build"]).ok();
    terraform_validates(&stg, d.tmp.path());

    let again = d.xtask(&["new", "env", "stg"]).fails();
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let unknown = d.xtask(&["new", "env", "prd", "--from", "qa"]).fails();
    assert!(
        unknown.stderr.contains("no env \"qa\"") && unknown.stderr.contains("dev, stg"),
        "{}",
        unknown.stderr
    );
    assert!(!d.infra.join("envs/prd").exists());
}
