use super::*;
use std::os::unix::fs::PermissionsExt;

fn args(cmd: &Cmd) -> Vec<String> {
    cmd.arguments()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn tf(dir: &Path) -> Terraform {
    Terraform::new(
        Path::new("/usr/bin/terraform"),
        dir,
        &Aws {
            profile: Some("dev-admin".into()),
            region: Some("eu-west-1".into()),
        },
        [
            "PATH",
            "TF_LOG",
            "TF_CLI_ARGS_plan",
            "TF_WORKSPACE",
            "TF_CLI_CONFIG_FILE",
        ]
        .map(OsString::from),
    )
}

#[test]
fn bin_precedence_is_flag_env_config_default() {
    let env = || Some(OsString::from("tofu-env"));
    assert_eq!(bin_name(Some("flag"), env(), Some("cfg")), "flag");
    assert_eq!(bin_name(None, env(), Some("cfg")), "tofu-env");
    assert_eq!(bin_name(None, Some(OsString::new()), Some("cfg")), "cfg");
    assert_eq!(bin_name(None, None, None), "terraform");
}

#[test]
fn plan_arguments_and_environment() {
    let t = tf(Path::new("/i/envs/dev"));
    let cmd = t.plan(&PlanOpts {
        var_files: vec![
            PathBuf::from("/i/envs/dev/local-secrets.tfvars"),
            PathBuf::from("/elsewhere/x.tfvars"),
        ],
        out: PathBuf::from("/i/envs/dev/.xtask/dev.tfplan"),
        lock_timeout: "2m".into(),
        extra: vec!["-target=module.a".into()],
    });
    assert_eq!(
        args(&cmd),
        [
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            "-lock-timeout=2m",
            "-out=.xtask/dev.tfplan",
            "-var-file=local-secrets.tfvars",
            "-var-file=/elsewhere/x.tfvars",
            "-target=module.a",
        ]
    );
    let env: Vec<(String, String)> = cmd
        .get_env()
        .iter()
        .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
        .collect();
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        env,
        pairs(&[
            ("TF_IN_AUTOMATION", "1"),
            ("TF_INPUT", "0"),
            ("AWS_PROFILE", "dev-admin"),
            ("AWS_REGION", "eu-west-1"),
        ])
    );
    let removed: Vec<_> = cmd
        .get_env_remove()
        .iter()
        .map(|k| k.to_string_lossy())
        .collect();
    assert_eq!(removed, ["TF_CLI_ARGS_plan", "TF_LOG", "TF_WORKSPACE"]);
}

#[test]
fn other_commands_arguments() {
    let t = tf(Path::new("/i/envs/dev"));
    let plan = Path::new("/i/envs/dev/.xtask/dev.tfplan");
    assert_eq!(args(&t.init()), ["init", "-input=false", "-no-color"]);
    assert_eq!(
        args(&t.apply(plan, "2m")),
        [
            "apply",
            "-input=false",
            "-no-color",
            "-lock-timeout=2m",
            ".xtask/dev.tfplan"
        ]
    );
    assert_eq!(
        args(&t.show_json(Show::Plan(plan))),
        ["show", "-json", "-no-color", ".xtask/dev.tfplan"]
    );
    assert_eq!(
        args(&t.show_json(Show::State)),
        ["show", "-json", "-no-color"]
    );
    assert_eq!(args(&t.output()), ["output", "-json", "-no-color"]);
    let secrets = PathBuf::from("/i/envs/dev/local-secrets.tfvars");
    assert_eq!(
        args(&t.console("1", &[secrets])),
        ["console", "-no-color", "-var-file=local-secrets.tfvars"]
    );
}

#[test]
fn versions() {
    assert_eq!(parse_version("1.11.4"), Some((1, 11, 4)));
    assert_eq!(parse_version("1.6.0-beta1"), Some((1, 6, 0)));
    assert!(check_version("terraform", "1.5.0").is_ok());
    let err = check_version("terraform", "1.4.6").unwrap_err().to_string();
    assert!(
        err.contains("older than 1.5.0") && err.contains("install"),
        "{err}"
    );
    assert!(check_version("tofu", "banana").is_err());
}

/// A fake terraform that records its arguments and environment, one per line.
fn fake(dir: &Path, version: &str) -> PathBuf {
    let bin = dir.join("terraform");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\n\
             {{ echo \"args:$*\"; echo \"pwd:$(pwd)\"; env | grep -E '^(TF_|AWS_)' | sort; }} >> '{}'\n\
             case \"$1\" in\n\
               version) echo '{{\"terraform_version\":\"{version}\"}}' ;;\n\
               output) echo '{{\"url\":{{\"sensitive\":false,\"value\":\"u\"}},\"key\":{{\"sensitive\":true,\"value\":\"hunter22\"}}}}' ;;\n\
               plan) echo 'Error: boom hunter22' >&2; exit 1 ;;\n\
             esac\n",
            dir.join("record").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn a_recording_fake_sees_a_clean_environment_and_nothing_sensitive_leaks() {
    let d = tempfile::tempdir().unwrap();
    let bin = fake(d.path(), "1.9.0");
    let env_dir = d.path().join("envs/dev");
    std::fs::create_dir_all(&env_dir).unwrap();
    let mut t = Terraform::new(&bin, &env_dir, &Aws::default(), [])
        .with_secrets(Secrets::new(vec!["hunter22".into()]));
    t.version = t.probe_version().unwrap();
    assert_eq!(t.version, "1.9.0");

    let outputs = t.output_json().unwrap();
    assert_eq!(outputs["url"]["value"], "u");
    assert_eq!(outputs["key"]["value"], Value::Null);

    let plan = t.plan(&PlanOpts {
        var_files: vec![],
        out: env_dir.join("p"),
        lock_timeout: "1m".into(),
        extra: vec![],
    });
    let err = t
        .stream(&plan, "plan", &Activity::new("plan", None), &[0, 2])
        .unwrap_err();
    let failed = err.downcast_ref::<Failed>().unwrap();
    assert_eq!(failed.code, Some(1));
    assert!(failed.message.contains("exit code 1"), "{failed}");
    assert!(
        failed.message.contains("Error: boom (sensitive value)"),
        "{failed}"
    );

    let record = std::fs::read_to_string(d.path().join("record")).unwrap();
    assert!(record.contains("args:version -json"), "{record}");
    assert!(record.contains("args:output -json -no-color"), "{record}");
    assert!(
        record.contains(
            "args:plan -input=false -no-color -detailed-exitcode -lock-timeout=1m -out=p"
        ),
        "{record}"
    );
    assert!(
        record.contains(&format!("pwd:{}", env_dir.display())),
        "{record}"
    );
    assert!(record.contains("\nTF_IN_AUTOMATION=1\n"), "{record}");
    assert!(record.contains("\nTF_INPUT=0\n"), "{record}");
}

#[test]
fn too_old_a_terraform_says_how_to_upgrade() {
    let d = tempfile::tempdir().unwrap();
    let bin = fake(d.path(), "1.3.9");
    let t = Terraform::new(&bin, d.path(), &Aws::default(), []);
    let err = format!("{:#}", t.probe_version().unwrap_err());
    assert!(err.contains("terraform 1.3.9 is older than 1.5.0"), "{err}");
    assert!(
        err.contains("developer.hashicorp.com/terraform/install"),
        "{err}"
    );
}

#[test]
fn state_and_outputs_are_redacted() {
    let mut state = serde_json::json!({
        "values": {
            "outputs": {"arn": {"sensitive": true, "value": "arn:x"}},
            "root_module": {
                "resources": [{
                    "values": {"name": "n", "secret_string": "s3cret", "tags": {"a": "b"}},
                    "sensitive_values": {"secret_string": true, "tags": {}}
                }],
                "child_modules": [{"resources": [{
                    "values": {"env": [{"vars": {"K": "v"}}]},
                    "sensitive_values": {"env": [{"vars": true}]}
                }]}]
            }
        }
    });
    redact_state(&mut state);
    let v = &state["values"];
    assert_eq!(v["outputs"]["arn"]["value"], Value::Null);
    let r = &v["root_module"]["resources"][0]["values"];
    assert_eq!(r["secret_string"], Value::Null);
    assert_eq!(r["name"], "n");
    assert_eq!(r["tags"]["a"], "b");
    assert_eq!(
        v["root_module"]["child_modules"][0]["resources"][0]["values"]["env"][0]["vars"],
        Value::Null
    );
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn unknown_envs_list_the_known_ones() {
    let d = tempfile::tempdir().unwrap();
    write(&d.path().join("envs/dev/main.tf"), "");
    write(&d.path().join("envs/stg/main.tf"), "");
    write(&d.path().join("envs/empty/README.md"), "");
    assert_eq!(env_dir(d.path(), "dev").unwrap(), d.path().join("envs/dev"));
    let err = env_dir(d.path(), "prd").unwrap_err().to_string();
    assert!(
        err.contains("does not exist") && err.contains("dev, stg"),
        "{err}"
    );
    let err = env_dir(d.path(), "empty").unwrap_err().to_string();
    assert!(err.contains("has no .tf files"), "{err}");
}

#[test]
fn local_modules_are_followed_and_feed_the_init_fingerprint() {
    let d = tempfile::tempdir().unwrap();
    let env = d.path().join("envs/dev");
    write(
        &env.join("main.tf"),
        "module \"a\" {\n  source = \"../../modules/a\"\n}\nmodule \"r\" {\n  source = \"x/y/aws\"\n  version = \"1.0\"\n}\n",
    );
    write(
        &d.path().join("modules/a/main.tf"),
        "module \"b\" {\n  source = \"../b\"\n}\n",
    );
    write(
        &d.path().join("modules/b/main.tf"),
        "terraform {\n  required_version = \">= 1.5\"\n}\n",
    );
    let mods = crate::stack::env::local_modules(&env);
    let root = d.path().canonicalize().unwrap();
    assert_eq!(mods, [root.join("modules/a"), root.join("modules/b")]);

    let t = tf(&env);
    let before = init_fingerprint(&t);
    assert_eq!(before, init_fingerprint(&t));
    write(
        &d.path().join("modules/b/main.tf"),
        "terraform {\n  required_version = \">= 1.6\"\n}\n",
    );
    let after = init_fingerprint(&t);
    assert_ne!(before, after);
    write(&env.join(".terraform.lock.hcl"), "# lock\n");
    assert_ne!(after, init_fingerprint(&t));
}
