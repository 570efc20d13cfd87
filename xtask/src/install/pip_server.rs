//! `python -m pip download` for every dependency set of a run served by one Python
//! (pip_server.py): pip is imported once and each download runs in a fork of it, instead of
//! a Python start and pip import (~0.45 s of CPU) per set. Whenever the server cannot be used
//! (no pip, an argument that is not UTF-8, the server gone) the caller runs pip itself, as
//! before, which also gives the proper error.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use crate::proc::{Cmd, Output, Piped};

const SCRIPT: &str = include_str!("pip_server.py");

/// Servers kept at once: a build needs one (its indexes are the stack's); a process that
/// tries many configurations (the unit tests) lets the older ones exit.
const KEPT: usize = 4;

/// The exit code of each job sent and not yet answered (`None`: killed by a signal).
type Waiting = HashMap<u64, mpsc::Sender<Option<i32>>>;

struct Server {
    // Declared before `process`, so it is closed first: the server sees EOF, then is waited for.
    stdin: Mutex<os_pipe::PipeWriter>,
    waiting: Arc<Mutex<Option<Waiting>>>,
    next: AtomicU64,
    _process: crate::proc::Process,
}

/// What `python -m pip <args>` (`cmd`) gives, run by the server for `cmd`'s Python and
/// environment; `None` when it cannot be served and the caller should run `cmd` itself.
pub fn run(cmd: &Cmd) -> Option<Output> {
    // Linux only: on macOS pip (truststore) loads CoreFoundation, which aborts in a fork's
    // child ("you MUST exec()"); there each set keeps its own pip run.
    if !cfg!(target_os = "linux") {
        return None;
    }
    let args = cmd
        .arguments()
        .iter()
        .map(|a| a.to_str())
        .collect::<Option<Vec<&str>>>()?;
    let ["-m", "pip", argv @ ..] = args.as_slice() else {
        return None;
    };
    server(cmd)?.run(argv)
}

type Cell = Arc<OnceLock<Option<Arc<Server>>>>;

/// The servers started, by `Cmd::setup_key`.
static SERVERS: OnceLock<Mutex<HashMap<String, Cell>>> = OnceLock::new();

/// Closes every server's stdin and waits for it to exit, before the xtask does: left to exit
/// after it, they would be reaped by init, and their CPU time (every download's) would be
/// missing from what the xtask's own usage reports (`time cargo xtask build`).
pub fn stop_all() {
    let servers = SERVERS
        .get()
        .and_then(|m| m.lock().ok())
        .map(|mut m| std::mem::take(&mut *m));
    drop(servers);
}

/// The server for `cmd`'s program and environment, started by the first job that needs it.
fn server(cmd: &Cmd) -> Option<Arc<Server>> {
    let key = cmd.setup_key();
    let mut evicted = HashMap::new();
    let cell = {
        let mut map = SERVERS.get_or_init(Default::default).lock().ok()?;
        if !map.contains_key(&key) && map.len() >= KEPT {
            evicted = std::mem::take(&mut *map);
        }
        map.entry(key).or_default().clone()
    };
    // Outside the lock: dropping the last handle to a server waits for it to exit.
    drop(evicted);
    cell.get_or_init(|| Server::start(cmd.with_args(["-c", SCRIPT])))
        .clone()
}

impl Server {
    /// `None` when the Python does not start or cannot import pip.
    fn start(cmd: Cmd) -> Option<Arc<Server>> {
        let Piped {
            stdin,
            stdout,
            process,
        } = cmd.spawn_piped().ok()?;
        let mut stdout = BufReader::new(stdout);
        let mut first = String::new();
        stdout.read_line(&mut first).ok()?;
        if first.trim_end() != "ready" {
            return None;
        }
        let waiting = Arc::new(Mutex::new(Some(Waiting::new())));
        let answers = waiting.clone();
        std::thread::spawn(move || read_answers(stdout, &answers));
        Some(Arc::new(Server {
            stdin: Mutex::new(stdin),
            waiting,
            next: AtomicU64::new(0),
            _process: process,
        }))
    }

    /// Runs `pip <argv>`, its stdout and stderr kept in files only this user can read.
    fn run(&self, argv: &[&str]) -> Option<Output> {
        let out = tempfile::NamedTempFile::new().ok()?;
        let err = tempfile::NamedTempFile::new().ok()?;
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let job = serde_json::json!({
            "id": id,
            "argv": argv,
            "out": out.path().to_str()?,
            "err": err.path().to_str()?,
        });
        let (tx, rx) = mpsc::channel();
        self.waiting.lock().ok()?.as_mut()?.insert(id, tx);
        {
            let mut stdin = self.stdin.lock().ok()?;
            if writeln!(stdin, "{job}")
                .and_then(|()| stdin.flush())
                .is_err()
            {
                return None;
            }
        }
        // An error: the server is gone and dropped every sender.
        let code = rx.recv().ok()?;
        Some(Output {
            code,
            stdout: String::from_utf8_lossy(&std::fs::read(out.path()).ok()?).into_owned(),
            stderr: String::from_utf8_lossy(&std::fs::read(err.path()).ok()?).into_owned(),
        })
    }
}

/// Hands each `<id> <code>` line to the job waiting for it; at EOF or a line it does not
/// understand, gives up on the server: every waiting job (and any later one) runs pip itself.
fn read_answers(stdout: BufReader<os_pipe::PipeReader>, waiting: &Mutex<Option<Waiting>>) {
    for line in stdout.lines() {
        let Some((id, code)) = line.ok().as_deref().and_then(parse_answer) else {
            break;
        };
        let tx = waiting
            .lock()
            .ok()
            .and_then(|mut w| w.as_mut().and_then(|w| w.remove(&id)));
        if let Some(tx) = tx {
            let _ = tx.send(code);
        }
    }
    if let Ok(mut w) = waiting.lock() {
        *w = None;
    }
}

/// `7 1` → job 7 exited 1; `7 -9` → job 7 was killed by signal 9 (no exit code).
fn parse_answer(line: &str) -> Option<(u64, Option<i32>)> {
    let (id, code) = line.trim_end().split_once(' ')?;
    let code: i32 = code.parse().ok()?;
    Some((id.parse().ok()?, (code >= 0).then_some(code)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `<name>-1.0-py3-none-any.whl` in `dir`: what pip needs to download it.
    fn wheel(dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{name}-1.0-py3-none-any.whl"));
        let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let info = format!("{name}-1.0.dist-info");
        for (file, text) in [
            (format!("{name}/__init__.py"), String::new()),
            (
                format!("{info}/METADATA"),
                format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"),
            ),
            (
                format!("{info}/WHEEL"),
                "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n".into(),
            ),
            (format!("{info}/RECORD"), String::new()),
        ] {
            z.start_file(file, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(text.as_bytes()).unwrap();
        }
        z.finish().unwrap();
    }

    /// `python3 -m pip download` of `package` from the wheelhouse `links` (given, as
    /// xtask.toml's find_links are, in the environment) into `dest`.
    fn download(links: &Path, package: &str, dest: &Path) -> Cmd {
        Cmd::new(which::which("python3").expect("python3 on PATH"))
            .args(["-m", "pip", "download", "--no-index", "--quiet"])
            .args(["--disable-pip-version-check", "--dest"])
            .arg(dest)
            .arg(package)
            .env("PIP_FIND_LINKS", links)
    }

    #[test]
    fn each_environment_gets_its_own_server_and_output_is_pip_s() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        wheel(&a, "onlyina");
        wheel(&b, "onlyinb");
        for (links, package) in [(&a, "onlyina"), (&b, "onlyinb"), (&a, "onlyina")] {
            let dest = t.path().join(format!("dest-{package}"));
            let out = run(&download(links, package, &dest)).expect("served");
            assert_eq!(out.code, Some(0), "{out:?}");
            assert!(dest
                .join(format!("{package}-1.0-py3-none-any.whl"))
                .is_file());
        }
        // Served by the first wheelhouse's server: its environment, not the other's.
        let out = run(&download(&a, "onlyinb", &t.path().join("x"))).expect("served");
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr
                .contains("No matching distribution found for onlyinb"),
            "{out:?}"
        );
        // Not a pip command: the caller runs it.
        assert!(run(&Cmd::new("python3").args(["-c", "pass"])).is_none());
    }

    #[test]
    fn answers_carry_the_exit_code_or_none_for_a_signal() {
        assert_eq!(parse_answer("7 1\n"), Some((7, Some(1))));
        assert_eq!(parse_answer("0 0"), Some((0, Some(0))));
        assert_eq!(parse_answer("3 -9"), Some((3, None)));
        assert_eq!(parse_answer("error bad job line"), None);
    }
}
