//! Only source ships: what a function's directory holds besides its code (a `.env` with a
//! secret, a virtualenv, tests, git-ignored files) stays out of the zip, `[files]` globs in
//! xtask.toml adjust that, and `check` reports secret-looking files.

use crate::common::*;

const ORGS: &str = "packages/module-access/backend/lambdas/orgs";
const ORGS_ZIP: &str = "packages/module-access/backend/.build/orgs.zip";
const SECRET: &str = "sk-live-FAKE-9f3c1e77a0d24b6c";

/// The orgs function as a real repo has it: code and helpers, plus a `.env` next to the handler,
/// a virtualenv (hidden and not), tests, node tooling, and files git ignores.
fn cluttered() -> Demo {
    let d = Demo::new();
    let f = |rel: &str, body: &str| d.write(&format!("{ORGS}/{rel}"), body);
    f("helpers.py", "def ok():\n    return True\n");
    f("lib/util.py", "X = 1\n");
    f(".env", &format!("SUPABASE_SERVICE_KEY={SECRET}\n"));
    f(".env.example", "SUPABASE_SERVICE_KEY=\n");
    f(".venv/pyvenv.cfg", "home = /usr/bin\n");
    f(".venv/lib/python3.13/site-packages/pkg.py", "");
    f("env/pyvenv.cfg", "home = /usr/bin\n");
    f("env/lib/python3.13/site-packages/other.py", "");
    f("tests/test_orgs.py", "def test_x():\n    pass\n");
    f("tests/fixtures/org.json", "{}\n");
    f("conftest.py", "");
    f("test_handler.py", "");
    f("handler_test.py", "");
    f("node_modules/left-pad/index.js", "");
    f(".pytest_cache/v/cache/nodeids", "[]\n");
    f("requirements-dev.txt", "pytest\n");
    // A nested .gitignore (the function's own) and the stack root's.
    f(".gitignore", "scratch/\n*.csv\n!keep.local.json\n");
    f("scratch/notes.py", "");
    f("data/regions.csv", "eu,us\n");
    f("data/regions.json", "[]\n");
    let root = d.read(".gitignore");
    d.write(".gitignore", &format!("{root}*.local.json\n"));
    f("settings.local.json", "{}\n");
    // Re-included by the deeper .gitignore, which git reads last.
    f("keep.local.json", "{}\n");
    d
}

fn build_json(d: &Demo) -> serde_json::Value {
    let out = d.xtask(&["build", "--json", "--module", "access"]).ok();
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "the secret is in the output:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    out.json()
}

fn assert_secret_not_in_zip(d: &Demo) {
    let bytes = std::fs::read(d.path(ORGS_ZIP)).unwrap();
    assert!(
        !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the secret is in the zip"
    );
}

#[test]
fn a_function_ships_its_code_and_nothing_else() {
    let d = cluttered();
    build_json(&d);
    assert_eq!(
        zip_names(&d.path(ORGS_ZIP)),
        [
            "data/regions.json",
            "helpers.py",
            "keep.local.json",
            "lambda_function.py",
            "lib/util.py"
        ]
    );
    assert_secret_not_in_zip(&d);
}

#[test]
fn include_ships_what_a_default_or_gitignore_drops_and_exclude_wins() {
    let d = cluttered();
    d.config(
        "[files]\nexclude = [\"**/*.json\"]\n\n\
         [files.\"module-access/orgs\"]\ninclude = [\"data/regions.csv\", \"tests/fixtures/*.json\", \"conftest.py\"]\n",
    );
    build_json(&d);
    // regions.csv is git-ignored and conftest.py a default exclude: both included. The fixture
    // sits in tests/, a dropped directory an include reaches into, but exclude beats include.
    assert_eq!(
        zip_names(&d.path(ORGS_ZIP)),
        [
            "conftest.py",
            "data/regions.csv",
            "helpers.py",
            "lambda_function.py",
            "lib/util.py"
        ]
    );
    d.config(
        "[files.\"module-access/orgs\"]\ninclude = [\"tests/fixtures/*.json\", \".env.example\"]\n",
    );
    build_json(&d);
    let names = zip_names(&d.path(ORGS_ZIP));
    assert!(
        names.contains(&"tests/fixtures/org.json".to_string())
            && names.contains(&".env.example".to_string())
            && !names.contains(&"tests/test_orgs.py".to_string()),
        "{names:?}"
    );
}

#[test]
fn a_misspelt_artifact_in_files_is_an_error() {
    let d = Demo::new();
    d.config("[files.\"module-access/org\"]\ninclude = [\"data/*\"]\n");
    let out = d.xtask(&["build"]).fails();
    assert!(
        out.stderr.contains("module-access/org") && out.stderr.contains("names no function"),
        "{}",
        out.stderr
    );
}

#[test]
fn layers_follow_the_same_rules_under_python() {
    let d = Demo::new();
    let layer = "packages/module-mgmt/backend/layers/mgmt_common";
    d.write(&format!("{layer}/python/mgmt_common/.env"), "K=v\n");
    d.write(&format!("{layer}/python/mgmt_common/tests/test_w.py"), "");
    d.write(
        &format!("{layer}/python/mgmt_common/seed.sql"),
        "select 1;\n",
    );
    d.write(&format!("{layer}/.gitignore"), "*.sql\n");
    d.config("[files]\ninclude = [\"python/mgmt_common/*.sql\"]\n");
    d.xtask(&["build", "--module", "mgmt"]).ok();
    let names = zip_names(&d.path("packages/module-mgmt/backend/.build/mgmt_common-layer.zip"));
    assert!(
        names.contains(&"python/mgmt_common/seed.sql".to_string())
            && !names
                .iter()
                .any(|n| n.contains(".env") || n.contains("tests/")),
        "{names:?}"
    );
}

/// The input key hashes what ships: a .gitignore or include change that changes the file list
/// rebuilds, one that does not is a no-op.
#[test]
fn selection_changes_rebuild_only_when_what_ships_changes() {
    let d = cluttered();
    build_json(&d);
    let status = |d: &Demo| artifacts(&build_json(d))["module-access/orgs"]["status"].clone();
    d.write(
        &format!("{ORGS}/.gitignore"),
        "scratch/\n*.csv\n!keep.local.json\n*.tmp\n",
    );
    assert_eq!(status(&d), "cached");
    d.write(
        &format!("{ORGS}/.gitignore"),
        "scratch/\n*.csv\n!keep.local.json\ndata/\n",
    );
    assert_eq!(status(&d), "built");
    assert!(!zip_names(&d.path(ORGS_ZIP)).contains(&"data/regions.json".to_string()));
    d.config("[files.\"module-access/orgs\"]\ninclude = [\"nothing/*\"]\n");
    assert_eq!(status(&d), "cached");
    d.config("[files.\"module-access/orgs\"]\ninclude = [\"scratch/*.py\"]\n");
    assert_eq!(status(&d), "built");
    assert!(zip_names(&d.path(ORGS_ZIP)).contains(&"scratch/notes.py".to_string()));
}

fn check_findings(d: &Demo) -> (i32, Vec<String>) {
    let out = d.xtask(&["check", "--json"]);
    assert!(
        !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
        "the secret is in check's output"
    );
    let findings = out.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"].as_str().unwrap().starts_with("SEC-"))
        .map(|f| {
            format!(
                "{}[{}] {}",
                f["severity"].as_str().unwrap(),
                f["code"].as_str().unwrap(),
                f["file"].as_str().unwrap()
            )
        })
        .collect();
    (out.code, findings)
}

#[test]
fn check_warns_on_excluded_secrets_and_fails_on_included_ones() {
    let d = cluttered();
    d.write(&format!("{ORGS}/certs/id_rsa"), "not really\n");
    d.write(
        &format!("{ORGS}/certs/client.pem"),
        "-----BEGIN PRIVATE KEY-----\nMIIfake\n",
    );
    d.write(
        &format!("{ORGS}/certs/ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIfake\n",
    );
    let (code, findings) = check_findings(&d);
    let at = |f: &str| format!("demo-stack/{ORGS}/{f}");
    assert_eq!(
        findings,
        [
            format!("warning[SEC-secret-in-source] {}", at(".env")),
            format!("warning[SEC-secret-in-source] {}", at("certs/client.pem")),
            format!("warning[SEC-secret-in-source] {}", at("certs/id_rsa")),
        ]
    );
    assert_eq!(code, 0, "warnings alone pass");
    // The CA bundle is no secret: it ships by default.
    build_json(&d);
    assert!(zip_names(&d.path(ORGS_ZIP)).contains(&"certs/ca.pem".to_string()));

    d.config("[files]\ninclude = [\".env*\"]\n");
    let (code, findings) = check_findings(&d);
    assert!(
        findings.contains(&format!("error[SEC-secret-shipped] {}", at(".env"))),
        "{findings:?}"
    );
    assert_eq!(code, 1);
}

/// Source rules are for source: an installed package keeps its own `tests/` and dotfiles.
#[test]
fn installed_packages_keep_their_tests() {
    let d = Demo::new();
    Wheelhouse::new(&d.tmp.path().join("wheelhouse")).wheel(
        "gamma",
        "1.0",
        "py3-none-any",
        &[
            ("gamma/__init__.py", ""),
            ("gamma/tests/test_g.py", ""),
            ("gamma/conftest.py", ""),
            ("gamma/.config", ""),
        ],
        &[],
    );
    d.write(&format!("{ORGS}/requirements.txt"), "gamma==1.0\n");
    build_json(&d);
    let names = zip_names(&d.path(ORGS_ZIP));
    for want in [
        "gamma/tests/test_g.py",
        "gamma/conftest.py",
        "gamma/.config",
    ] {
        assert!(names.contains(&want.to_string()), "{want}: {names:?}");
    }
    assert!(!names.contains(&"requirements.txt".to_string()));
}
