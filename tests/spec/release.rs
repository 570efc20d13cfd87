//! Build once, promote the same bytes (issue 20): `release` after a verified dev deploy, then
//! `deploy --env prd --release` from another checkout that cannot build, on moto with real
//! terraform; and every refusal on the way, named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{copy_dir, write, Demo, Out};
use crate::local_aws::LocalAws;

const BUCKET: &str = "xtask-releases";
const STATE_BUCKET: &str = "acme-tfstate";
const SECRET: &str = "sr-RELEASE-5e6f7a8b9c0d";

/// Both envs' state in one bucket, as a team keeps it, so each checkout reads the other env's.
fn shared_state(aws: &LocalAws, infra: &Path) {
    let var = |k: &str| {
        let (_, v) = aws.env.iter().find(|(name, _)| name == k).unwrap();
        v.clone()
    };
    for env in ["dev", "prd"] {
        let tf = infra.join("envs").join(env).join("backend.tf");
        let backend = format!(
            "backend \"s3\" {{\n    bucket = \"{STATE_BUCKET}\"\n    key = \"{env}/terraform.tfstate\"\n    \
             region = \"{}\"\n    endpoints = {{ s3 = \"{}\" }}\n    use_path_style = true\n    \
             skip_credentials_validation = true\n    skip_requesting_account_id = true\n    \
             skip_metadata_api_check = true\n    skip_region_validation = true\n  }}",
            var("AWS_REGION"),
            var("AWS_ENDPOINT_URL")
        );
        let text = std::fs::read_to_string(&tf).unwrap();
        write(&tf, &text.replace("backend \"local\" {}", &backend));
        write(
            &infra.join("envs").join(env).join("local-secrets.tfvars"),
            &format!("supabase_service_role_key = \"{SECRET}\"\n"),
        );
    }
}

fn run(d: &Demo, aws: &LocalAws, args: &[&str], extra_env: &[(&str, &str)]) -> Out {
    let mut env = aws.env_refs();
    env.extend_from_slice(extra_env);
    let out = d.xtask_env(args, &env);
    eprintln!("{}: exit {}\n{}", args.join(" "), out.code, out.stderr);
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "{args:?} printed the secret"
    );
    out
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// A PATH with terraform and curl only: no uv, no pip, no python, no aws CLI (verify calls AWS
/// through the xtask's own client).
fn deploy_only_path(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let tools = [
        ("terraform", which("terraform").unwrap()),
        ("curl", which("curl").expect("curl is on PATH")),
    ];
    for (name, target) in tools {
        std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
    }
    dir.display().to_string()
}

/// The stack as a git checkout, everything committed (what the xtask writes ignored): the
/// commit's hash.
fn commit(stack: &Path) -> String {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=spec", "-c", "user.email=spec@example.com"])
            .args(args)
            .current_dir(stack)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    write(&stack.join(".gitignore"), ".build/\n.xtask/\n");
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "the stack"]);
    git(&["rev-parse", "HEAD"])
}

/// Live CodeSha256 of every function, by name.
fn live_code(aws: &LocalAws) -> BTreeMap<String, String> {
    let v = aws.aws(&["lambda", "list-functions"]);
    v["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["FunctionName"].as_str().unwrap().to_string(),
                f["CodeSha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_release_verified_in_dev_deploys_to_prd_from_a_checkout_that_cannot_build() {
    let Some(aws) = LocalAws::start() else { return };
    aws.aws(&["s3api", "create-bucket", "--bucket", BUCKET]);
    aws.aws(&["s3api", "create-bucket", "--bucket", STATE_BUCKET]);
    let dev = Demo::new();
    dev.config(&format!("[release]\nurl = \"s3://{BUCKET}/acme\"\n"));
    dev.xtask(&["new", "env", "prd"]).ok();
    shared_state(&aws, &dev.infra);
    let head = commit(&dev.stack);

    // Nothing verified yet: nothing to release.
    let out = run(&dev, &aws, &["release", "--env", "dev"], &[]).fails();
    assert!(
        out.stderr.contains("no verify of env dev is recorded"),
        "{}",
        out.stderr
    );

    run(&dev, &aws, &["deploy", "--env", "dev"], &[]).ok();
    let out = run(
        &dev,
        &aws,
        &["release", "--env", "dev", "--name", "r1", "--json"],
        &[],
    )
    .ok();
    let released = out.json();
    let m = &released["manifest"];
    assert_eq!(m["format"], "cora-xtask-release/1");
    assert_eq!(m["verified"]["env"], "dev");
    assert_eq!(m["git"]["commit"], head.as_str());
    assert_eq!(m["git"]["dirty"].as_array().map(Vec::len), Some(0), "{m}");
    let artifacts = m["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 11, "{m}");
    for a in artifacts {
        let zip = a["root"].as_str().map(|r| match r {
            "stack" => dev.stack.join(a["path"].as_str().unwrap()),
            _ => dev.infra.join(a["path"].as_str().unwrap()),
        });
        let bytes = std::fs::read(zip.unwrap()).unwrap();
        assert_eq!(a["zip_bytes"], bytes.len() as u64, "{a}");
    }
    let objects = aws.aws(&["s3api", "list-objects-v2", "--bucket", BUCKET]);
    let keys: Vec<&str> = objects["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["Key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"acme/releases/r1/release.json"), "{keys:?}");
    assert!(
        keys.contains(&"acme/releases/r1/provenance.intoto.json"),
        "{keys:?}"
    );
    let sha = artifacts[0]["sha256"].as_str().unwrap();
    assert!(
        keys.contains(&format!("acme/releases/zips/sha256/{sha}").as_str()),
        "{keys:?}"
    );
    // Released again unchanged: the same name holds the same zips, nothing is refused.
    run(
        &dev,
        &aws,
        &["release", "--env", "dev", "--name", "r1"],
        &[],
    )
    .ok();

    // Another checkout of both repos (no zips, no .xtask, no state) that cannot build.
    let tmp = tempfile::tempdir().unwrap();
    let prd = Demo {
        stack: tmp.path().join("demo-stack"),
        infra: tmp.path().join("demo-infra"),
        tmp,
    };
    copy_dir(&dev.stack, &prd.stack);
    copy_dir(&dev.infra, &prd.infra);
    shared_state(&aws, &prd.infra);
    let path = deploy_only_path(&prd.tmp.path().join("bin"));
    let only = [("PATH", path.as_str())];
    for missing in ["uv", "pip", "pip3", "python", "python3", "aws"] {
        assert!(!Path::new(&path).join(missing).exists());
    }

    let out = run(
        &prd,
        &aws,
        &["deploy", "--env", "prd", "--release", "r1", "--json"],
        &only,
    )
    .ok();
    let p = out.json();
    assert_eq!(p["applied"], true);
    assert!(
        p["release"]
            .as_str()
            .is_some_and(|r| r == format!("from release r1 (commit {})", &head[..12])),
        "{p}"
    );
    assert!(
        p["verify"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "pass"),
        "{p}"
    );
    assert!(!out.stderr.contains("build:"), "{}", out.stderr);

    // Every prd function runs the bytes dev runs.
    let live = live_code(&aws);
    let prd_functions: Vec<&String> = live.keys().filter(|n| n.contains("-prd-")).collect();
    assert_eq!(prd_functions.len(), 8, "{live:?}");
    for name in prd_functions {
        let dev_name = name.replace("-prd-", "-dev-");
        assert_eq!(live.get(&dev_name), live.get(name), "{name} vs {dev_name}");
    }
    let out = run(
        &prd,
        &aws,
        &["verify", "--env", "prd", "--same-as", "dev"],
        &only,
    )
    .ok();
    assert!(
        out.stdout.contains("demo-prd-access-orgs") && out.stdout.contains("demo-dev-access-orgs"),
        "{}",
        out.stdout
    );
    // The release by its manifest's URL, as the store holds it.
    let url = format!("s3://{BUCKET}/acme/releases/r1/release.json");
    run(
        &prd,
        &aws,
        &["verify", "--env", "prd", "--release", &url],
        &only,
    )
    .ok();

    // A function this checkout has and the release lacks: refused, named, before terraform.
    prd.write(
        "packages/module-access/backend/lambdas/invites/lambda_function.py",
        "def lambda_handler(event, context):\n    return {}\n",
    );
    let out = run(
        &prd,
        &aws,
        &["deploy", "--env", "prd", "--release", "r1"],
        &only,
    )
    .fails();
    assert!(
        out.stderr.contains("release r1 has no zip for")
            && out.stderr.contains("module-access/invites"),
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(prd.path("packages/module-access/backend/lambdas/invites")).unwrap();

    // This checkout's source moves on: refused, unless the drift is allowed and recorded.
    let handler = "packages/module-access/backend/lambdas/orgs/lambda_function.py";
    let original = prd.read(handler);
    prd.write(handler, &format!("{original}\n# edited after r1\n"));
    let out = run(
        &prd,
        &aws,
        &["deploy", "--env", "prd", "--release", "r1"],
        &only,
    )
    .fails();
    assert!(
        out.stderr.contains("source differs from release r1")
            && out.stderr.contains("module-access/orgs"),
        "{}",
        out.stderr
    );
    // The manifest as a file (release's local copy), its zips from the configured store.
    let file = dev.path(".xtask/releases/r1.json");
    let out = run(
        &prd,
        &aws,
        &[
            "plan",
            "--env",
            "prd",
            "--release",
            file.to_str().unwrap(),
            "--allow-source-drift",
            "--json",
        ],
        &only,
    );
    assert_eq!(out.code, 0, "the same zips: no changes\n{}", out.stderr);
    let recorded = out.json()["release"].as_str().unwrap().to_string();
    assert!(
        recorded.contains("source drift allowed") && recorded.contains("module-access/orgs"),
        "{recorded}"
    );
    let record = std::fs::read_to_string(prd.infra.join("envs/prd/.xtask/release.json")).unwrap();
    assert!(record.contains("module-access/orgs"), "{record}");
    prd.write(handler, &original);

    // One zip rots in the store: the deploy is refused before terraform runs, naming it.
    let profiles = artifacts
        .iter()
        .find(|a| a["module"] == "module-access" && a["name"] == "profiles")
        .unwrap();
    let key = format!(
        "acme/releases/zips/sha256/{}",
        profiles["sha256"].as_str().unwrap()
    );
    let garbage = prd.tmp.path().join("garbage.zip");
    std::fs::write(&garbage, b"PK not the zip").unwrap();
    aws.aws(&[
        "s3api",
        "put-object",
        "--bucket",
        BUCKET,
        "--key",
        &key,
        "--body",
        garbage.to_str().unwrap(),
    ]);
    // And another is gone from it.
    let orgs = artifacts
        .iter()
        .find(|a| a["module"] == "module-access" && a["name"] == "orgs")
        .unwrap();
    let gone = format!(
        "acme/releases/zips/sha256/{}",
        orgs["sha256"].as_str().unwrap()
    );
    aws.aws(&["s3api", "delete-object", "--bucket", BUCKET, "--key", &gone]);
    let placed = prd.path("packages/module-access/backend/.build/profiles.zip");
    let before = std::fs::read(&placed).unwrap();
    let out = run(
        &prd,
        &aws,
        &["deploy", "--env", "prd", "--release", "r1"],
        &only,
    )
    .fails();
    assert!(
        out.stderr.contains("module-access/profiles")
            && out.stderr.contains(&key)
            && out.stderr.contains("before terraform ran")
            && out.stderr.contains(&format!(
                "module-access/orgs: s3://{BUCKET}/{gone} is missing"
            )),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("terraform's full output"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read(&placed).unwrap(),
        before,
        "nothing was placed"
    );

    // Dev's code changed outside Terraform: verify fails, and a release is refused after it.
    let other = dev.path("packages/module-access/backend/.build/orgs.zip");
    aws.aws(&[
        "lambda",
        "update-function-code",
        "--function-name",
        "demo-dev-access-profiles",
        "--zip-file",
        &format!("fileb://{}", other.display()),
    ]);
    run(&dev, &aws, &["verify", "--env", "dev"], &[]).fails();
    let out = run(
        &dev,
        &aws,
        &["release", "--env", "dev", "--name", "r2"],
        &[],
    )
    .fails();
    assert!(
        out.stderr.contains("the last verify of env dev")
            && out.stderr.contains("demo-dev-access-profiles"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_release_with_a_failed_artifact_is_refused_naming_it() {
    let d = Demo::new();
    d.config("[release]\nurl = \"s3://xtask-releases/acme\"\n");
    d.write(
        "packages/module-access/backend/lambdas/broken/helper.py",
        "X = 1\n",
    );
    let out = d.xtask(&["release"]).fails();
    assert!(
        out.stderr
            .contains("release refused: the build is not complete")
            && out.stderr.contains("module-access/broken")
            && out.stderr.contains("no lambda_function.py"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_release_needs_a_store_and_a_bad_name_is_a_usage_error() {
    let d = Demo::new();
    let out = d.xtask(&["release"]).fails();
    assert!(out.stderr.contains("no release store"), "{}", out.stderr);
    let out = d.xtask(&["deploy", "--release", "r1", "--no-build"]);
    assert_eq!(out.code, 64, "{}", out.stderr);
    let out = d.xtask(&["deploy", "--allow-source-drift"]);
    assert_eq!(out.code, 64, "{}", out.stderr);
}
