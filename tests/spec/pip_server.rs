//! pip mode downloads every dependency set of a build through one Python (the xtask's pip
//! server) and keeps what a pip run per set gave: the same zips, errors and hash checks.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{artifacts, Demo, Out};

const SETS: [(&str, &str); 3] = [
    (
        "packages/module-ai/backend/lambdas/provider",
        "alpha==1.0\n",
    ),
    (
        "packages/module-ai/backend/lambdas/ai-config",
        "beta==1.2\n",
    ),
    (
        "packages/module-mgmt/backend/lambdas/lambda-mgmt",
        "fastc==0.1\n",
    ),
];

/// A `python3` first on PATH that runs the real interpreter and logs its first argument
/// (`-c`: the server; `-m`: a pip run) to a file when it starts and when it ends, and its pid.
struct Counted {
    path: String,
    log: PathBuf,
    pids: PathBuf,
}

impl Counted {
    fn new(d: &Demo) -> Counted {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap();
        let real = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let bin = d.tmp.path().join("counted-bin");
        let log = d.tmp.path().join("python-starts.log");
        let pids = d.tmp.path().join("python-pids");
        crate::common::write(
            &bin.join("python3"),
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{log}'\necho $$ >> '{pids}'\n\
                 '{real}' \"$@\"\nrc=$?\nprintf 'end %s\\n' \"$1\" >> '{log}'\nexit $rc\n",
                log = log.display(),
                pids = pids.display()
            ),
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("python3"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Counted { path, log, pids }
    }

    fn build(&self, d: &Demo) -> Out {
        let _ = std::fs::remove_file(&self.log);
        d.xtask_env(&["build", "--json"], &[("PATH", &self.path)])
    }

    /// The process id of the first Python started: the leader of its process group.
    fn first_pid(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.pids).ok()?;
        text.lines().next().map(str::to_string)
    }

    /// The first argument of every Python started and ended since the last build.
    fn starts(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn demo_with_sets() -> Demo {
    let d = Demo::new();
    d.config("installer = \"pip\"");
    for (dir, reqs) in SETS {
        d.write(&format!("{dir}/requirements.txt"), reqs);
    }
    d
}

#[test]
fn every_dependency_set_is_downloaded_by_one_python_and_zips_match_uv() {
    let d = demo_with_sets();
    let python = Counted::new(&d);
    let out = python.build(&d).ok();
    // Three sets of ours and the org-common layer's, one Python start for all of them, and
    // it has ended when the xtask does: its CPU time counts in the xtask's.
    assert_eq!(python.starts(), ["-c", "end -c"], "{}", out.stderr);
    let zips = |out: &Out| {
        artifacts(&out.json())
            .into_iter()
            .map(|(k, a)| (k, a["status"].clone(), a["sha256_base64"].clone()))
            .collect::<Vec<_>>()
    };
    let by_pip = zips(&out);
    for (k, status, _) in &by_pip {
        assert_eq!(status, "built", "{k}: {}", out.stdout);
    }
    d.config("installer = \"uv\"");
    let by_uv = d.xtask(&["build", "--json", "--force"]).ok();
    assert_eq!(by_pip, zips(&by_uv));
}

#[test]
fn a_set_that_fails_under_the_server_names_the_package_and_the_rest_build() {
    let d = demo_with_sets();
    let (dir, _) = SETS[0];
    d.write(&format!("{dir}/requirements.txt"), "nosuchpkg==1.0\n");
    let python = Counted::new(&d);
    let out = python.build(&d).fails();
    assert_eq!(python.starts(), ["-c", "end -c"], "{}", out.stderr);
    let arts = artifacts(&out.json());
    let err = arts["module-ai/provider"]["error"].as_str().unwrap();
    for want in [
        "module-ai/backend/lambdas/provider/requirements.txt",
        "package `nosuchpkg` cannot be installed for python3.13 on x86_64",
        "No matching distribution found for nosuchpkg",
        "fix: check the name and version",
    ] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }
    for name in ["module-ai/ai-config", "module-mgmt/lambda-mgmt"] {
        assert_eq!(arts[name]["status"], "built", "{name}: {}", out.stdout);
    }
}

#[test]
fn a_lock_hash_that_does_not_match_is_refused_under_the_server() {
    let d = demo_with_sets();
    let (dir, _) = SETS[1];
    d.xtask(&["lock"]).ok();
    let lock = format!("{dir}/requirements.lock");
    let text = d.read(&lock);
    let at = text.find("--hash=sha256:").expect("a hash in the lock") + 14;
    d.write(
        &lock,
        &format!("{}{}{}", &text[..at], "0".repeat(64), &text[at + 64..]),
    );
    let python = Counted::new(&d);
    let out = python.build(&d).fails();
    assert_eq!(python.starts(), ["-c", "end -c"], "{}", out.stderr);
    let err = artifacts(&out.json())["module-ai/ai-config"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("a wheel is not the one the lock was made with"),
        "{err}"
    );
}

/// The processes of process group `pgid` still running (zombies are not).
fn group_members(pgid: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp …; comm may hold spaces, so split after the last ')'.
        let after = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid) {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

fn wait_for(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..secs * 20 {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}

/// A pip build whose downloads hang (an index that accepts connections and never answers),
/// `signal` sent to the xtask alone once the server runs a download: the server and its
/// downloads must be gone within seconds, not when pip's timeouts expire.
fn interrupt_served_downloads(signal: &str) {
    let d = Demo::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    d.write(
        "xtask.toml",
        &format!(
            "installer = \"pip\"\n[installer_options]\nindex_url = \"http://127.0.0.1:{port}/simple\"\n"
        ),
    );
    let python = Counted::new(&d);
    let mut child = Command::new(crate::common::xtask_bin())
        .args(["build", "--stack"])
        .arg(&d.stack)
        .env("PATH", &python.path)
        .env("PIP_DEFAULT_TIMEOUT", "120")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The server's group: the wrapper, the server and a fork of it running a download.
    let mut members = Vec::new();
    let running = wait_for(60, || {
        members = python
            .first_pid()
            .map_or_else(Vec::new, |p| group_members(&p));
        members.len() >= 3
    });
    let signalled = running
        && Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
    let stopped = signalled && wait_for(10, || child.try_wait().unwrap().is_some());
    let pgid = python.first_pid().unwrap_or_default();
    let gone = stopped && wait_for(5, || group_members(&pgid).is_empty());
    let _ = child.kill();
    let _ = child.wait();
    drop(silent);
    assert!(running, "the server never ran a download: {members:?}");
    assert!(stopped, "the xtask did not stop within 10 s of SIG{signal}");
    assert!(
        gone,
        "SIG{signal}: served downloads still running: {:?}",
        group_members(&pgid)
    );
}

#[test]
fn an_interrupted_build_stops_the_server_and_its_downloads() {
    interrupt_served_downloads("INT");
}

#[test]
fn a_killed_build_does_not_leave_the_server_s_downloads_running() {
    interrupt_served_downloads("KILL");
}

/// A Python without pip cannot serve: each set runs pip itself, as before, and its error says
/// why.
#[test]
fn a_python_without_pip_gives_pip_s_own_error() {
    let d = demo_with_sets();
    let venv = d.tmp.path().join("no-pip");
    let made = Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success(), "python3 -m venv --without-pip failed");
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = d
        .xtask_env(&["build", "--json"], &[("PATH", &path)])
        .fails();
    let arts = artifacts(&out.json());
    for (dir, _) in SETS {
        let name = dir.replace("packages/", "").replace("/backend/lambdas", "");
        let err = arts[&name]["error"].as_str().unwrap_or_default();
        assert!(err.contains("No module named pip"), "{name}: {err}");
    }
}
