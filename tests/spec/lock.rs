//! `cargo xtask lock` and building from `requirements.lock`: a locked build installs the same
//! wheels (the same bytes) whatever the wheelhouse or index holds today; upgrades are explicit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Demo, Out, Wheelhouse};

const FN_DIR: &str = "packages/module-ai/backend/lambdas/provider";
const REQ: &str = "packages/module-ai/backend/lambdas/provider/requirements.txt";
const LOCK: &str = "packages/module-ai/backend/lambdas/provider/requirements.lock";
const ZIP: &str = "packages/module-ai/backend/.build/provider.zip";

/// The demo with a function needing `acmeclient>=1.0` (only 1.2.0 in the wheelhouse), and an
/// empty uv cache of its own: every spec sees its own wheels, as a fresh CI runner would.
struct Stack {
    demo: Demo,
    uv_cache: PathBuf,
}

impl Stack {
    fn new(config: &str) -> Stack {
        let demo = Demo::new();
        demo.config(config);
        acmeclient(&demo, "1.2.0", "1.2.0");
        demo.write(REQ, "# the API client; any 1.x\nacmeclient>=1.0\n");
        // As real handlers do: an import of the dependency, and a .env beside the handler.
        let handler = demo.read(&format!("{FN_DIR}/lambda_function.py"));
        demo.write(
            &format!("{FN_DIR}/lambda_function.py"),
            &format!("import acmeclient\n{handler}"),
        );
        demo.write(&format!("{FN_DIR}/.env"), "ACME_TOKEN=local-only\n");
        let uv_cache = demo.tmp.path().join("uv-cache");
        Stack { demo, uv_cache }
    }

    fn xtask(&self, args: &[&str]) -> Out {
        let cache = self.uv_cache.to_string_lossy().into_owned();
        self.demo.xtask_env(args, &[("UV_CACHE_DIR", &cache)])
    }

    /// A fresh machine: another empty uv cache from now on.
    fn fresh_uv_cache(&mut self, name: &str) {
        self.uv_cache = self.demo.tmp.path().join(name);
    }
}

fn wheelhouse(demo: &Demo) -> PathBuf {
    demo.tmp.path().join("wheelhouse")
}

/// Writes acmeclient `version`'s wheel, its module saying `said`.
fn acmeclient(demo: &Demo, version: &str, said: &str) -> PathBuf {
    Wheelhouse::new(&wheelhouse(demo)).wheel(
        "acmeclient",
        version,
        "py3-none-any",
        &[("acmeclient/__init__.py", &format!("VERSION = {said:?}\n"))],
        &[],
    );
    wheelhouse(demo).join(format!("acmeclient-{version}-py3-none-any.whl"))
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// A file's text inside a zip.
fn zip_text(zip: &Path, name: &str) -> Option<String> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut f = z.by_name(name).ok()?;
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    Some(s)
}

fn shipped_acmeclient(demo: &Demo) -> Option<String> {
    zip_text(&demo.path(ZIP), "acmeclient/__init__.py")
}

#[test]
fn a_lock_pins_versions_and_hashes_a_newer_wheel_changes_no_locked_build_and_upgrades_are_explicit()
{
    let s = Stack::new("");
    let d = &s.demo;
    let out = s.xtask(&["lock"]).ok();
    assert!(
        out.stdout.contains("module-ai/provider: created")
            && out.stdout.contains("acmeclient 1.2.0 (added)"),
        "{}",
        out.stdout
    );
    let lock = d.read(LOCK);
    let wheel = wheelhouse(d).join("acmeclient-1.2.0-py3-none-any.whl");
    assert!(lock.contains("acmeclient==1.2.0"), "{lock}");
    assert!(
        lock.contains(&format!("--hash=sha256:{}", sha256(&wheel))),
        "{lock}"
    );
    assert!(lock.contains("# target: python3.13 x86_64-manylinux_2_34"));
    assert!(lock.contains("# requirements-sha256: "));
    // Nothing of this machine: the same lock on every laptop and runner.
    let tmp = d.tmp.path().to_string_lossy().into_owned();
    assert!(
        !lock.contains(&tmp) && !lock.contains("wheelhouse"),
        "{lock}"
    );
    // The layer's requirements are locked too; a file listing nothing gets no lock.
    assert!(d
        .read("packages/module-access/backend/layers/org-common/requirements.lock")
        .contains("python-dateutil==2.9.0.post0"));
    assert!(out
        .stdout
        .contains("module-access/profiles: nothing to lock"));

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.path(LOCK))
        .unwrap()
        .permissions()
        .mode();
    let req_mode = std::fs::metadata(d.path(REQ)).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        req_mode & 0o666,
        "as readable as requirements.txt"
    );

    let again = s.xtask(&["lock"]).ok();
    assert!(again.stdout.contains("module-ai/provider: unchanged"));
    assert_eq!(d.read(LOCK), lock);

    s.xtask(&["build"]).ok();
    assert_eq!(
        shipped_acmeclient(d).as_deref(),
        Some("VERSION = \"1.2.0\"\n")
    );
    let names = crate::common::zip_names(&d.path(ZIP));
    assert!(!names.iter().any(|n| n.ends_with(".lock")), "{names:?}");

    // 1.3.0 appears: a forced reinstall, and `lock` itself, keep 1.2.0.
    acmeclient(d, "1.3.0", "1.3.0");
    s.xtask(&["build", "--force"]).ok();
    assert_eq!(
        shipped_acmeclient(d).as_deref(),
        Some("VERSION = \"1.2.0\"\n")
    );
    let kept = s.xtask(&["lock"]).ok();
    assert!(kept.stdout.contains("module-ai/provider: unchanged"));
    assert!(!kept.stdout.contains('→'), "{}", kept.stdout);

    // An upgrade of one package names it; an unknown one is an error.
    let bad = s.xtask(&["lock", "--upgrade", "acmeclientt"]).fails();
    assert!(bad.stderr.contains("acmeclientt"), "{}", bad.stderr);
    let up = s.xtask(&["lock", "--upgrade", "acmeclient"]).ok();
    assert!(
        up.stdout.contains("module-ai/provider: updated")
            && up.stdout.contains("acmeclient 1.2.0 → 1.3.0"),
        "{}",
        up.stdout
    );
    assert!(up.stdout.contains("module-access/org-common: unchanged"));
    let build = s.xtask(&["build", "--json"]).ok().json();
    let provider = &crate::common::artifacts(&build)["module-ai/provider"];
    assert_eq!(provider["status"], "built");
    assert_eq!(
        shipped_acmeclient(d).as_deref(),
        Some("VERSION = \"1.3.0\"\n")
    );
}

#[test]
fn an_edited_requirements_file_or_include_makes_the_lock_stale_until_relocked() {
    let s = Stack::new("");
    let d = &s.demo;
    // The function's requirements include a file shared by the module.
    d.write(
        "packages/module-ai/backend/requirements-common.txt",
        "acmeclient>=1.0\n",
    );
    d.write(REQ, "-r ../../requirements-common.txt\n");
    Wheelhouse::new(&wheelhouse(d)).wheel(
        "acmeauth",
        "0.4.0",
        "py3-none-any",
        &[("acmeauth.py", "TOKEN_TTL = 60\n")],
        &[],
    );
    s.xtask(&["lock"]).ok();
    s.xtask(&["build", "--locked"]).ok();
    s.xtask(&["check"]).ok();

    // A comment changes no resolution: still fresh.
    d.write(REQ, "# shared pins\n-r ../../requirements-common.txt\n");
    s.xtask(&["build", "--locked"]).ok();

    // The included file gains a requirement: the lock is stale.
    d.write(
        "packages/module-ai/backend/requirements-common.txt",
        "acmeclient>=1.0\nacmeauth>=0.4\n",
    );
    let warned = s.xtask(&["build"]).ok();
    let said = format!("{}{}", warned.stdout, warned.stderr);
    assert!(
        said.contains("requirements.txt (or a file it includes) changed since")
            && said.contains("cargo xtask lock"),
        "{said}"
    );
    assert!(zip_text(&d.path(ZIP), "acmeauth.py").is_none());
    let failed = s.xtask(&["build", "--locked"]).fails();
    assert!(failed.stderr.contains(REQ), "{}", failed.stderr);
    assert!(failed.stderr.contains("--locked"), "{}", failed.stderr);
    let check = s.xtask(&["check", "--json"]).fails().json();
    let stale: Vec<&serde_json::Value> = check["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "DEP-stale-lock")
        .collect();
    assert_eq!(stale.len(), 1, "{check}");
    assert_eq!(stale[0]["severity"], "error");
    assert!(stale[0]["file"].as_str().unwrap().ends_with(LOCK));
    assert!(stale[0]["fix"]
        .as_str()
        .unwrap()
        .contains("cargo xtask lock --module module-ai"));

    let relock = s.xtask(&["lock", "--module", "ai"]).ok();
    assert!(
        relock.stdout.contains("acmeauth 0.4.0 (added)") && !relock.stdout.contains("acmeclient"),
        "{}",
        relock.stdout
    );
    s.xtask(&["build", "--locked"]).ok();
    assert!(zip_text(&d.path(ZIP), "acmeauth.py").is_some());
    s.xtask(&["check"]).ok();

    // CI with no lock at all: refused, naming the requirements without one.
    std::fs::remove_file(
        d.path("packages/module-access/backend/layers/org-common/requirements.lock"),
    )
    .unwrap();
    let failed = s.xtask(&["build", "--locked"]).fails();
    assert!(
        failed
            .stderr
            .contains("org-common/requirements.txt has no requirements.lock"),
        "{}",
        failed.stderr
    );
}

#[test]
fn a_wheel_swapped_under_the_same_name_is_refused_by_uv_and_pip() {
    for installer in ["uv", "pip"] {
        let mut s = Stack::new(&format!("installer = \"{installer}\""));
        let d = &s.demo;
        s.xtask(&["lock"]).ok();
        s.xtask(&["build"]).ok();
        let good = std::fs::read(d.path(ZIP)).unwrap();

        // A package added to the lock by hand, without its hash: refused.
        let lock = d.read(LOCK);
        d.write(LOCK, &format!("{lock}six==1.17.0\n"));
        let failed = s.xtask(&["build"]).fails();
        assert!(
            failed.stderr.contains("a line of the lock has no --hash"),
            "{installer}: {}",
            failed.stderr
        );
        d.write(LOCK, &lock);

        // Same file name, other bytes; a machine that has never seen the real one.
        let wheel = acmeclient(d, "1.2.0", "evil");
        assert!(!d.read(LOCK).contains(&sha256(&wheel)));
        s.fresh_uv_cache("uv-cache-2");
        let failed = s.xtask(&["build", "--force"]).fails();
        assert!(
            failed
                .stderr
                .contains("a wheel is not the one the lock was made with"),
            "{installer}: {}",
            failed.stderr
        );
        assert!(failed.stderr.contains("acmeclient"), "{}", failed.stderr);
        assert_eq!(
            std::fs::read(s.demo.path(ZIP)).unwrap(),
            good,
            "{installer}"
        );
    }
}

#[test]
fn a_locked_version_gone_from_the_wheelhouse_is_named_with_its_lock_line_and_the_fix() {
    let mut s = Stack::new("");
    s.xtask(&["lock"]).ok();
    // A machine that never cached the locked wheel.
    s.fresh_uv_cache("uv-cache-2");
    let d = &s.demo;
    std::fs::remove_file(wheelhouse(d).join("acmeclient-1.2.0-py3-none-any.whl")).unwrap();
    acmeclient(d, "1.3.0", "1.3.0");
    let failed = s.xtask(&["build"]).fails();
    let line = d
        .read(LOCK)
        .lines()
        .position(|l| l.starts_with("acmeclient==1.2.0"))
        .unwrap()
        + 1;
    assert!(
        failed
            .stderr
            .contains(&format!("{LOCK}:{line}: `acmeclient==1.2.0 --hash=sha256:")),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains("re-resolve that package with `cargo xtask lock --upgrade PACKAGE`"),
        "{}",
        failed.stderr
    );
    s.xtask(&["lock", "--upgrade", "acmeclient"]).ok();
    s.xtask(&["build", "--locked"]).ok();
    assert_eq!(
        shipped_acmeclient(d).as_deref(),
        Some("VERSION = \"1.3.0\"\n")
    );
}

#[test]
fn lock_without_uv_says_it_needs_uv_and_writes_nothing() {
    let s = Stack::new("");
    let empty = s.demo.tmp.path().join("no-tools");
    std::fs::create_dir_all(&empty).unwrap();
    let out = s
        .demo
        .xtask_env(&["lock"], &[("PATH", &empty.to_string_lossy())])
        .fails();
    assert!(
        out.stderr.contains("`cargo xtask lock` needs uv")
            && out.stderr.contains("pip cannot without pip-tools"),
        "{}",
        out.stderr
    );
    assert!(!s.demo.path(LOCK).exists());
}
