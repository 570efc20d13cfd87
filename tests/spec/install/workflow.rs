//! The workflow `install.sh --ci github` writes, parsed as YAML: each property a security
//! reviewer asks for (issue 21), asserted on the structure rather than on strings.

use yaml_rust2::{Yaml, YamlLoader};

use super::{acme_stack, install};

fn generated(env: &str) -> (String, Yaml) {
    let tmp = tempfile::tempdir().unwrap();
    let stack = acme_stack(tmp.path());
    install(&["--ci", "github", "--env", env], &stack).ok();
    let text = std::fs::read_to_string(stack.join(".github/workflows/xtask.yml")).unwrap();
    let doc = YamlLoader::load_from_str(&text).unwrap().remove(0);
    (text, doc)
}

fn s(y: &Yaml) -> &str {
    y.as_str().unwrap_or("")
}

fn steps(job: &Yaml) -> &[Yaml] {
    job["steps"].as_vec().expect("a job has steps")
}

/// The steps that use `action` (owner/repo, before the `@`).
fn uses<'a>(job: &'a Yaml, action: &str) -> Vec<&'a Yaml> {
    steps(job)
        .iter()
        .filter(|st| s(&st["uses"]).split('@').next() == Some(action))
        .collect()
}

/// Index of the first `run:` step whose script contains `needle`.
fn run_index(job: &Yaml, needle: &str) -> usize {
    steps(job)
        .iter()
        .position(|st| s(&st["run"]).contains(needle))
        .unwrap_or_else(|| panic!("no step runs {needle:?}"))
}

#[test]
fn the_ci_workflow_separates_pull_request_plans_from_main_deploys() {
    let (_, doc) = generated("prod");
    // Nothing granted at the top: each job asks for its own.
    assert!(doc["permissions"].as_hash().is_some_and(|h| h.is_empty()));

    let plan = &doc["jobs"]["plan"];
    let deploy = &doc["jobs"]["deploy"];
    assert_eq!(s(&plan["if"]), "github.event_name == 'pull_request'");
    assert!(
        plan["environment"].is_badvalue(),
        "a plan has no deploy environment"
    );
    let d_if = s(&deploy["if"]);
    assert!(
        d_if.contains("github.ref == 'refs/heads/main'")
            && d_if.contains("github.event_name == 'push'")
            && d_if.contains("inputs.release == ''")
            && !d_if.contains("pull_request"),
        "{d_if}"
    );
    assert_eq!(s(&deploy["environment"]), "prod");
    for job in [plan, deploy] {
        assert_eq!(s(&job["permissions"]["contents"]), "read");
        assert_eq!(s(&job["permissions"]["id-token"]), "write");
    }

    // Each job assumes its own role: the plan's read-only one, the deploy's.
    let role = |job: &Yaml| {
        let aws = uses(job, "aws-actions/configure-aws-credentials");
        assert_eq!(aws.len(), 1);
        s(&aws[0]["with"]["role-to-assume"]).to_string()
    };
    let plan_role = role(plan);
    assert!(
        plan_role.contains("secrets.AWS_PLAN_ROLE_ARN"),
        "{plan_role}"
    );
    assert!(!plan_role.contains("DEPLOY"));
    assert!(role(deploy).contains("AWS_DEPLOY_ROLE_ARN") && !role(deploy).contains("PLAN"));

    // Fork pull requests: every step that touches AWS is skipped, the rest runs.
    assert_eq!(
        s(&plan["env"]["SAME_REPO"]),
        "${{ github.event.pull_request.head.repo.full_name == github.repository }}"
    );
    for st in steps(plan) {
        let touches_aws = s(&st["uses"]).starts_with("aws-actions/")
            || s(&st["run"]).contains("xtask plan")
            || s(&st["run"]).contains("xtask deploy");
        let guarded = s(&st["if"]) == "env.SAME_REPO == 'true'";
        assert_eq!(touches_aws, guarded, "{st:?}");
    }
    assert!(!steps(plan)
        .iter()
        .any(|st| s(&st["run"]).contains("xtask deploy")));

    // Separate concurrency: deploys queue and are never cancelled; a PR's new plan cancels its old.
    let (pc, dc) = (&plan["concurrency"], &deploy["concurrency"]);
    assert_ne!(s(&pc["group"]), s(&dc["group"]));
    assert!(s(&pc["group"]).contains("github.event.pull_request.number"));
    assert_eq!(pc["cancel-in-progress"].as_bool(), Some(true));
    assert_eq!(dc["cancel-in-progress"].as_bool(), Some(false));
    assert!(doc["concurrency"].is_badvalue(), "no workflow-wide group");
}

#[test]
fn the_ci_workflow_pins_actions_locks_builds_and_requires_smoke() {
    let (text, doc) = generated("dev");
    let jobs = doc["jobs"].as_hash().unwrap();
    assert_eq!(jobs.len(), 3);
    for (name, job) in jobs {
        let name = s(name);
        for st in steps(job) {
            // Every action pinned to a full commit SHA, its tag in a comment on the line.
            if let Some(action) = st["uses"].as_str() {
                let (_, sha) = action.split_once('@').unwrap();
                assert!(
                    sha.len() == 40
                        && sha
                            .bytes()
                            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                    "{name}: {action} is not pinned to a commit"
                );
                let line = text.lines().find(|l| l.contains(action)).unwrap();
                assert!(line.contains(&format!("{action} # v")), "{line}");
            }
            // No checkout leaves its token in .git/config for the code that runs after it.
            if s(&st["uses"]).starts_with("actions/checkout@") {
                assert_eq!(
                    st["with"]["persist-credentials"].as_bool(),
                    Some(false),
                    "{name}"
                );
            }
            let run = s(&st["run"]);
            // Every cargo run honours Cargo.lock; every build honours requirements.lock.
            if run.contains("xtask") {
                assert!(run.contains("cargo --locked xtask"), "{name}: {run}");
            }
            for cmd in ["xtask build", "xtask plan", "xtask deploy", "xtask release"] {
                if run.contains(cmd) {
                    assert!(run.contains(&format!("{cmd} --locked")), "{name}: {run}");
                }
            }
            // The xtask appends the plan summary itself: the workflow must not again.
            assert!(!run.contains("GITHUB_STEP_SUMMARY"), "{name}: {run}");
        }
        if name == "promote" {
            continue; // builds nothing: the promotion spec below
        }

        // Python 3.13 installed before smoke, which fails rather than skips without it.
        let py = uses(job, "actions/setup-python");
        assert_eq!(py.len(), 1, "{name}");
        assert_eq!(s(&py[0]["with"]["python-version"]), "3.13");
        let setup_python = steps(job)
            .iter()
            .position(|st| s(&st["uses"]).starts_with("actions/setup-python@"))
            .unwrap();
        let smoke = run_index(job, "xtask smoke --require");
        assert!(setup_python < smoke, "{name}");
        let tf = if name == "plan" {
            "xtask plan"
        } else {
            "xtask deploy"
        };
        assert!(smoke < run_index(job, tf), "{name}: smoke runs before {tf}");
        assert!(run_index(job, "xtask build --locked") < smoke);

        // Cache keys change with the toolchain and with every lock file.
        let toolchain = steps(job)
            .iter()
            .find(|st| s(&st["id"]) == "toolchain")
            .expect("a toolchain step");
        assert!(s(&toolchain["run"]).contains("rustc --version"));
        let keys: Vec<&str> = uses(job, "actions/cache")
            .iter()
            .map(|c| s(&c["with"]["key"]))
            .collect();
        let cargo = keys.iter().find(|k| k.starts_with("cargo-")).unwrap();
        assert!(cargo.contains("steps.toolchain.outputs.rustc") && cargo.contains("Cargo.lock"));
        let deps = keys.iter().find(|k| k.starts_with("deps-")).unwrap();
        assert!(deps.contains("requirements.lock") && deps.contains("requirements*.txt"));

        // Terraform's log of the env, uploaded when a step failed.
        let up = uses(job, "actions/upload-artifact");
        assert_eq!(up.len(), 1, "{name}");
        assert_eq!(s(&up[0]["if"]), "failure()");
        // upload-artifact skips dot-directories (.xtask/) unless told not to.
        assert_eq!(up[0]["with"]["include-hidden-files"].as_bool(), Some(true));
        assert_eq!(
            s(&up[0]["with"]["path"]),
            "acme-infra/envs/dev/.xtask/dev.log"
        );
    }
}

#[test]
fn the_ci_workflow_releases_on_main_and_promotes_by_hand_without_building() {
    let (_, doc) = generated("dev");
    let deploy = &doc["jobs"]["deploy"];
    let promote = &doc["jobs"]["promote"];
    // dev: deploy, then release what its verify proved.
    let release = run_index(deploy, "xtask release --locked --env \"$XTASK_ENV\"");
    assert!(run_index(deploy, "xtask deploy") < release);

    // prd: a manual run given a release, in its own protected environment and role.
    assert_eq!(
        s(&promote["if"]),
        "github.event_name == 'workflow_dispatch' && inputs.release != ''"
    );
    assert_eq!(s(&promote["environment"]), "prd");
    assert_eq!(s(&promote["env"]["XTASK_ENV"]), "prd");
    assert_eq!(s(&promote["permissions"]["contents"]), "read");
    assert_eq!(s(&promote["permissions"]["id-token"]), "write");
    let aws = uses(promote, "aws-actions/configure-aws-credentials");
    assert_eq!(aws.len(), 1);
    let role = s(&aws[0]["with"]["role-to-assume"]);
    assert!(role.contains("secrets.AWS_PROMOTE_ROLE_ARN"), "{role}");
    let c = &promote["concurrency"];
    assert_eq!(s(&c["group"]), "xtask-deploy-prd");
    assert_eq!(c["cancel-in-progress"].as_bool(), Some(false));

    // Nothing built: no Python, no uv, no build or smoke; the release name reaches the shell
    // through the environment, never spliced into the script.
    assert!(uses(promote, "actions/setup-python").is_empty());
    assert!(uses(promote, "astral-sh/setup-uv").is_empty());
    for st in steps(promote) {
        let run = s(&st["run"]);
        assert!(
            !run.contains("xtask build") && !run.contains("xtask smoke"),
            "{run}"
        );
        assert!(!run.contains("inputs."), "{run}");
    }
    let step = &steps(promote)[run_index(promote, "xtask deploy")];
    assert!(
        s(&step["run"]).contains("--env \"$XTASK_ENV\" --release \"$RELEASE\""),
        "{step:?}"
    );
    assert_eq!(s(&step["env"]["RELEASE"]), "${{ inputs.release }}");
    let checkout = &uses(promote, "actions/checkout")[0];
    assert_eq!(
        s(&checkout["with"]["ref"]),
        "${{ inputs.release_ref || github.sha }}"
    );
    let up = uses(promote, "actions/upload-artifact");
    assert_eq!(
        s(&up[0]["with"]["path"]),
        "acme-infra/envs/prd/.xtask/prd.log"
    );
}
