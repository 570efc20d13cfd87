//! Staged and targeted deploys, and the Markdown summary, end to end on a local AWS API.

use std::path::Path;

use crate::common::{write, Demo, Out};
use crate::local_aws::LocalAws;

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

const SECRET: &str = "sr-STAGED-9c1d2e3f4a5b";

/// Every run of the spec goes through here: nothing it prints may carry the secret.
fn run(d: &Demo, aws: &LocalAws, args: &[&str], extra_env: &[(&str, &str)]) -> Out {
    let mut env = aws.env_refs();
    env.extend_from_slice(extra_env);
    let out = d.xtask_env(args, &env);
    eprintln!("{}: exit {}", args.join(" "), out.code);
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "{args:?} printed the secret"
    );
    out
}

#[test]
fn a_staged_deploy_then_a_targeted_plan_with_markdown_summaries_on_a_local_aws() {
    let Some(aws) = LocalAws::start() else { return };
    let d = Demo::new();
    d.config("[terraform]\nstages = [[\"module.module_access\"]]\n");
    let env_dir = d.infra.join("envs/dev");
    write(
        &env_dir.join("local-secrets.tfvars"),
        &format!("supabase_service_role_key = \"{SECRET}\"\n"),
    );
    let md = d.tmp.path().join("plan.md");
    let step = d.tmp.path().join("step-summary.md");
    let md_arg = md.to_str().unwrap();
    let summary_env = [("GITHUB_STEP_SUMMARY", step.to_str().unwrap())];

    // The stage first (module_access and what it needs), then the whole env, then one verify.
    let out = run(
        &d,
        &aws,
        &["deploy", "--json", "--markdown", md_arg],
        &summary_env,
    )
    .ok();
    let stage1 = out
        .stderr
        .find("stage 1/2: module.module_access")
        .expect(&out.stderr);
    let stage2 = out
        .stderr
        .find("stage 2/2: the whole env")
        .expect(&out.stderr);
    let applied = out.stderr.find("applied in").expect(&out.stderr);
    assert!(stage1 < applied && applied < stage2, "{}", out.stderr);
    assert_eq!(
        out.stderr.matches("applied in").count(),
        2,
        "{}",
        out.stderr
    );
    let p = out.json();
    assert_eq!(p["applied"], true);
    // The last stage's plan: what the first stage left, everything but module_access.
    let functions = strings(&p["functions_with_new_code"]);
    assert!(
        functions.contains(&"demo-dev-ai-provider".to_string()),
        "{p}"
    );
    assert!(
        !functions.iter().any(|f| f.starts_with("demo-dev-access-")),
        "{p}"
    );
    let checks = p["verify"]["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["status"] == "pass"), "{p}");
    // Each stage's summary went to the job summary, the last one to --markdown.
    let steps = read(&step);
    assert_eq!(
        steps.matches("### `cargo xtask plan` — env `dev`").count(),
        2,
        "{steps}"
    );
    assert!(
        steps.contains("Planned with `-target=module.module_access`"),
        "{steps}"
    );
    assert!(
        steps.contains("| `demo-dev-access-orgs` | (new) |"),
        "{steps}"
    );
    assert!(
        read(&md).contains("| `demo-dev-ai-provider` | (new) |"),
        "{}",
        read(&md)
    );

    // Arguments that would break the saved-plan contract are refused before terraform runs.
    let out = run(&d, &aws, &["plan", "--", "-out=elsewhere.tfplan"], &[]).fails();
    assert!(
        out.stderr
            .contains("`-out=elsewhere.tfplan` cannot be passed"),
        "{}",
        out.stderr
    );

    // Two modules edited, one targeted: its plan names only that module's function, and apply
    // applies exactly that plan.
    for f in [
        "packages/module-access/backend/lambdas/orgs/lambda_function.py",
        "packages/module-ai/backend/lambdas/provider/lambda_function.py",
    ] {
        d.write(f, &format!("{}\n# edited\n", d.read(f)));
    }
    let out = run(
        &d,
        &aws,
        &["plan", "--json", "--", "-target=module.module_access"],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    let p = out.json();
    assert_eq!(
        strings(&p["functions_with_new_code"]),
        ["demo-dev-access-orgs"]
    );
    assert_eq!(strings(&p["plan_args"]), ["-target=module.module_access"]);
    let out = run(&d, &aws, &["apply"], &[]).ok();
    assert!(
        out.stdout
            .contains("plan dev with: -target=module.module_access"),
        "{}",
        out.stdout
    );

    // The rest is still pending; the Markdown shows the provider's old and new CodeSha256.
    let built = run(&d, &aws, &["build", "--json"], &[]).ok().json();
    let provider = built["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "provider")
        .unwrap()["sha256_base64"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run(&d, &aws, &["plan", "--json", "--markdown", md_arg], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        strings(&out.json()["functions_with_new_code"]),
        ["demo-dev-ai-provider"]
    );
    let text = read(&md);
    let row = text
        .lines()
        .find(|l| l.starts_with("| `demo-dev-ai-provider` |"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.ends_with(&format!("| `{provider}` |")), "{row}");
    assert!(!row.contains("(new)"), "{row}");
    run(&d, &aws, &["apply"], &[]).ok();

    // Nothing left: the Markdown says so.
    let out = run(&d, &aws, &["plan", "--markdown", md_arg], &[]).ok();
    assert!(out.stdout.contains("no changes"), "{}", out.stdout);
    assert!(read(&md).contains("**No changes.**"), "{}", read(&md));

    // A deploy with nothing to change still verifies; a blank line parts its plan summary
    // from verify's tables.
    let out = run(&d, &aws, &["deploy"], &[]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let first_table = lines
        .windows(2)
        .position(|w| w[1].starts_with("check ") && w[1].contains("status"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(first_table > 1, "{}", out.stdout);
    assert_eq!(lines[first_table - 1], "", "{}", out.stdout);
    assert!(out.stdout.contains("no changes"), "{}", out.stdout);
}
