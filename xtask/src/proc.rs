//! The one place that spawns external processes (installers, terraform, aws).
//! A `Cmd` is a typed, printable argument list; running it captures output (`output`) or hands
//! its lines over as they come while Ctrl-C is forwarded to it (`stream`).

use std::ffi::{OsStr, OsString};
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

mod served;
pub use served::{Piped, Process};

#[derive(Debug, Clone)]
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    dir: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    own_group: bool,
    clear_env: bool,
}

#[derive(Debug)]
pub struct Output {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last `n` non-empty lines of stderr (or stdout when stderr is empty), for error messages.
    pub fn tail(&self, n: usize) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// The user interrupted a streamed command (Ctrl-C or SIGTERM) and it has stopped: reported as
/// cancelled (exit `cancelled_exit_code`: 130, or 143 for SIGTERM), not as a failure of the
/// command.
#[derive(Debug)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// What a streamed command produced, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    Stdout(&'a str),
    Stderr(&'a str),
    /// Said by the xtask itself while the command runs (how an interrupt is being handled).
    Notice(&'a str),
}

/// Signals received while a streamed command runs, an echo of the first not counted.
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
/// When the first of them came (monotonic nanoseconds; 0: none yet).
static FIRST_AT: AtomicU64 = AtomicU64::new(0);
/// A signal this soon after the first is the same one delivered twice (to the process and to its
/// group), never a second Ctrl-C.
const ECHO_NS: u64 = 20_000_000;

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime(2) writes the struct it is given and is async-signal-safe.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// The first SIGINT or SIGTERM the xtask received (0: none): what `exit_code` reports.
static FIRST_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The exit code of a run stopped by a signal, the same for every command and every phase
/// (between commands or while one runs): 128 + the first signal, as a shell reports a process
/// the signal killed: SIGINT (Ctrl-C) 130, SIGTERM (`timeout`, a CI runner) 143. Without a
/// signal (an apply the user declined), 130.
pub fn cancelled_exit_code() -> u8 {
    match FIRST_SIGNAL.load(Ordering::SeqCst) {
        0 => 130,
        sig => (128 + sig) as u8,
    }
}

/// What `cancelled_exit_code` gives for `sig`, in words, for the last line printed.
pub fn cancelled_by() -> &'static str {
    match FIRST_SIGNAL.load(Ordering::SeqCst) {
        libc::SIGINT => "cancelled (SIGINT)",
        libc::SIGTERM => "cancelled (SIGTERM)",
        _ => "cancelled",
    }
}

/// The signal handler's action: count a signal unless it echoes the first.
fn count_interrupt(sig: libc::c_int) {
    let _ = FIRST_SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    let now = monotonic_ns().max(1);
    match FIRST_AT.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => {
            INTERRUPTS.fetch_add(1, Ordering::SeqCst);
        }
        Err(first) if now.saturating_sub(first) >= ECHO_NS => {
            INTERRUPTS.fetch_add(1, Ordering::SeqCst);
        }
        Err(_) => {}
    }
}
/// True when no streamed command runs: a signal then does what it does by default (terminate).
static IDLE: AtomicBool = AtomicBool::new(true);

/// Installs, once, handlers for SIGINT and SIGTERM that count them while a command streams and
/// otherwise stop the xtask at once (a build, a smoke), after the group killer has stopped
/// what it started, with the exit code `cancelled_exit_code` gives: the same for a signal
/// between commands as for one during a streamed command. What is left is consistent: every
/// output is written through a temporary file and a rename, and temporary files are swept by
/// the next run.
pub fn install_interrupt_handlers() -> Result<()> {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        install_group_killer()?;
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Registered first, so it runs first: when idle it exits before any counting.
            // SAFETY: the action reads atomics and calls write(2) and _exit(2), all
            // async-signal-safe.
            unsafe { signal_hook::low_level::register(sig, move || exit_when_idle(sig)) }
                .map_err(|e| e.to_string())?;
            // SAFETY: the action only reads the clock and updates atomics, which are
            // async-signal-safe.
            unsafe { signal_hook::low_level::register(sig, move || count_interrupt(sig)) }
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .clone()
    .map_err(|e| anyhow!("cannot install the Ctrl-C handler: {e}"))
}

/// The signal handler's action while no streamed command runs: say so and exit 128 + `sig`.
fn exit_when_idle(sig: libc::c_int) {
    if !IDLE.load(Ordering::SeqCst) {
        return;
    }
    let line: &[u8] = if sig == libc::SIGTERM {
        b"error: cancelled (SIGTERM)\n"
    } else {
        b"error: cancelled (SIGINT)\n"
    };
    // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is static.
    unsafe {
        libc::write(2, line.as_ptr().cast(), line.len());
        libc::_exit(128 + sig);
    }
}

/// Marks a streamed command as running for the signal handlers until dropped.
struct Busy;

impl Busy {
    fn start() -> Busy {
        INTERRUPTS.store(0, Ordering::SeqCst);
        FIRST_AT.store(0, Ordering::SeqCst);
        IDLE.store(false, Ordering::SeqCst);
        Busy
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        IDLE.store(true, Ordering::SeqCst);
    }
}

/// Process groups of running `Cmd::own_group` commands (0: free slot, -1: reserved). Slots of
/// atomics, not a Vec, because a signal handler may touch nothing else.
static GROUPS: [AtomicI32; 256] = [const { AtomicI32::new(0) }; 256];

/// Registers, once and before the handlers that may terminate the xtask, the action that kills
/// every `own_group` command's group on SIGINT or SIGTERM: they die with the xtask.
fn install_group_killer() -> std::result::Result<(), String> {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // SAFETY: the action only reads atomics and calls kill(2), both async-signal-safe.
            unsafe {
                signal_hook::low_level::register(sig, || {
                    for slot in &GROUPS {
                        let pgid = slot.load(Ordering::SeqCst);
                        if pgid > 0 {
                            send_signal(-pgid, libc::SIGKILL);
                        }
                    }
                })
            }
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .clone()
}

/// A reserved slot of `GROUPS`, freed when dropped.
struct GroupSlot(&'static AtomicI32);

impl GroupSlot {
    fn reserve() -> Option<GroupSlot> {
        GROUPS
            .iter()
            .find(|s| {
                s.compare_exchange(0, -1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            })
            .map(GroupSlot)
    }
}

impl Drop for GroupSlot {
    fn drop(&mut self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

fn send_signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; a stale pid only yields ESRCH.
    unsafe {
        libc::kill(pid, sig);
    }
}

impl Cmd {
    pub fn new(program: impl AsRef<Path>) -> Cmd {
        Cmd {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            dir: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: None,
            own_group: false,
            clear_env: false,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, it: I) -> Cmd {
        self.args
            .extend(it.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn dir(mut self, d: impl AsRef<Path>) -> Cmd {
        self.dir = Some(d.as_ref().to_path_buf());
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Cmd {
        self.env
            .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        self
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Cmd {
        self.env_remove.push(k.as_ref().to_os_string());
        self
    }

    /// Bytes for the child's stdin (e.g. `terraform console`'s expression); none by default.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(input.into());
        self
    }

    /// Runs `output()` in its own process group, killed (with whatever it started) when the
    /// xtask is interrupted or killed, and whatever is left in the group once the command
    /// exits: an installer must not outlive the build that started it, nor a process an
    /// import started the smoke run. SIGKILL is safe there: an installer writes only a temporary tree the next build
    /// removes.
    pub fn own_group(mut self) -> Cmd {
        self.own_group = true;
        self
    }

    /// Starts the command with only the variables given by `env`, nothing inherited.
    pub fn clear_env(mut self) -> Cmd {
        self.clear_env = true;
        self
    }

    #[cfg(test)]
    pub fn get_env(&self) -> &[(OsString, OsString)] {
        &self.env
    }

    #[cfg(test)]
    pub fn get_env_remove(&self) -> &[OsString] {
        &self.env_remove
    }

    /// The command line as a user would type it, for messages.
    pub fn display(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    fn expression(&self) -> duct::Expression {
        let mut e = duct::cmd(&self.program, &self.args);
        if let Some(d) = &self.dir {
            e = e.dir(d);
        }
        if self.clear_env {
            return e.full_env(self.env.iter().cloned());
        }
        for k in &self.env_remove {
            e = e.env_remove(k);
        }
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        e
    }

    /// Runs to completion with stdout and stderr captured. A non-zero exit is not an error here:
    /// callers decide what a failure means and quote `Output::tail`.
    pub fn output(&self) -> Result<Output> {
        let e = self
            .with_stdin()
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        let out = run(e, self.own_group, || {})
            .with_context(|| format!("cannot run `{}`", self.display()))?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// As `output`, handing each line of stderr to `on_line` as the command writes it (the
    /// `Output` keeps them too): the caller acts on each result of a batch while the rest runs.
    pub fn output_stderr_lines(&self, mut on_line: impl FnMut(&str)) -> Result<Output> {
        let (err_r, err_w) = os_pipe::pipe().context("cannot create a pipe")?;
        let e = self
            .with_stdin()
            .stdout_capture()
            .stderr_file(err_w)
            .unchecked();
        let mut stderr = String::new();
        let read = || {
            let mut reader = std::io::BufReader::new(err_r);
            let mut buf = Vec::new();
            while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                let line = String::from_utf8_lossy(&buf);
                on_line(line.trim_end_matches(['\n', '\r']));
                stderr.push_str(&line);
                buf.clear();
            }
        };
        let out = run(e, self.own_group, read)
            .with_context(|| format!("cannot run `{}`", self.display()))?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        })
    }

    fn with_stdin(&self) -> duct::Expression {
        match &self.stdin {
            Some(bytes) => self.expression().stdin_bytes(bytes.clone()),
            None => self.expression().stdin_null(),
        }
    }

    /// Runs to completion, handing each line of stdout and stderr to `on_event` as it comes
    /// (both are also kept in the returned `Output`). A non-zero exit is not an error here.
    ///
    /// The command gets its own process group, so a Ctrl-C at the terminal reaches only the
    /// xtask, which forwards it once as SIGINT: terraform then stops cleanly and releases its
    /// state lock (two SIGINTs would make it exit at once). A second Ctrl-C kills the group.
    /// Interrupted runs return `Cancelled` once the command has exited.
    pub fn stream(&self, mut on_event: impl FnMut(Event)) -> Result<Output> {
        install_interrupt_handlers()?;
        let (out_r, out_w) = os_pipe::pipe().context("cannot create a pipe")?;
        let (err_r, err_w) = os_pipe::pipe().context("cannot create a pipe")?;
        let busy = Busy::start();
        let handle = {
            // Dropped at the end of this block, closing the write ends the expression keeps:
            // only the child's copies remain, so the readers see EOF when it exits.
            let expression = self
                .expression()
                .stdin_null()
                .stdout_file(out_w)
                .stderr_file(err_w)
                .unchecked()
                .before_spawn(|c| {
                    c.process_group(0);
                    Ok(())
                });
            expression
                .start()
                .with_context(|| format!("cannot run `{}`", self.display()))?
        };
        let pid = handle
            .pids()
            .first()
            .and_then(|p| i32::try_from(*p).ok())
            .filter(|p| *p > 0)
            .context("the started command has no process id")?;

        let (tx, rx) = mpsc::channel::<(bool, String)>();
        for (is_err, reader) in [(false, out_r), (true, err_r)] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(reader);
                let mut buf = Vec::new();
                while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if tx.send((is_err, line)).is_err() {
                        break;
                    }
                    buf.clear();
                }
            });
        }
        drop(tx);

        let (mut stdout, mut stderr) = (String::new(), String::new());
        let mut handled = 0;
        let mut exited: Option<Instant> = None;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok((is_err, line)) => {
                    let text = if is_err { &mut stderr } else { &mut stdout };
                    text.push_str(&line);
                    text.push('\n');
                    on_event(if is_err {
                        Event::Stderr(&line)
                    } else {
                        Event::Stdout(&line)
                    });
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            // Checked on every pass: a command that prints steadily never lets the wait time out.
            // Every signal that came before the stop was forwarded is that one stop: one SIGTERM
            // often arrives twice at once (`timeout` and CI runners signal the process and then
            // its group). Only one that comes after it kills.
            let signals = INTERRUPTS.load(Ordering::SeqCst);
            if signals > handled && exited.is_none() {
                if handled == 0 {
                    send_signal(pid, libc::SIGINT);
                    on_event(Event::Notice(
                        "interrupted: waiting for the command to stop cleanly (Ctrl-C again to kill it)",
                    ));
                } else {
                    // The whole group: terraform's provider plugins must not outlive it.
                    send_signal(-pid, libc::SIGKILL);
                    on_event(Event::Notice("killed"));
                }
                handled = signals;
            }
            match exited {
                // A grandchild that inherited the pipes may keep them open: stop reading soon
                // after the command itself has exited.
                Some(at) if at.elapsed() > Duration::from_secs(2) => break,
                Some(_) => {}
                None => {
                    if handle.try_wait().ok().flatten().is_some() {
                        exited = Some(Instant::now());
                    }
                }
            }
        }
        let status = handle
            .wait()
            .with_context(|| format!("cannot wait for `{}`", self.display()))?
            .status;
        // Also when the command exited before the interrupt could be forwarded: the user
        // asked to stop, so what follows it (a plan after init, an apply after a plan) must not run.
        let interrupted = INTERRUPTS.load(Ordering::SeqCst) > 0;
        drop(busy);
        if interrupted {
            return Err(Cancelled.into());
        }
        Ok(Output {
            code: status.code(),
            stdout,
            stderr,
        })
    }
}

/// Runs `e`, calling `during` once it has started (the expression dropped, so a pipe it writes
/// to ends with it), then waits for it. With `own_group`, as the leader of a new process group
/// registered in `GROUPS` for the group killer (without a free slot, in the xtask's group as any
/// command, so a terminal's Ctrl-C still reaches it). On Linux the kernel also kills the leader
/// when the xtask dies of SIGKILL.
fn run(
    e: duct::Expression,
    own_group: bool,
    during: impl FnOnce(),
) -> std::io::Result<std::process::Output> {
    if own_group {
        install_interrupt_handlers().map_err(std::io::Error::other)?;
    }
    let Some(slot) = own_group.then(GroupSlot::reserve).flatten() else {
        let handle = e.start()?;
        drop(e);
        during();
        return handle.into_output();
    };
    let handle = e
        .before_spawn(|c| {
            c.process_group(0);
            #[cfg(target_os = "linux")]
            // SAFETY: prctl(2) is async-signal-safe, as pre_exec requires.
            unsafe {
                c.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            Ok(())
        })
        .start()?;
    drop(e);
    let pid = handle.pids().first().and_then(|p| i32::try_from(*p).ok());
    if let Some(pid) = pid {
        slot.0.store(pid, Ordering::SeqCst);
    }
    during();
    let out = handle.into_output();
    // What the command started and left running (a `Popen` at import time in smoke) goes with
    // it. The group's id cannot be reused while any member lives, so this reaches only them.
    if let Some(pid) = pid.filter(|p| *p > 0) {
        send_signal(-pid, libc::SIGKILL);
    }
    drop(slot);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_lines_come_as_written_and_the_pipe_ends_with_the_command() {
        for own_group in [true, false] {
            let mut cmd = Cmd::new("/bin/sh")
                .args([
                    "-c",
                    "read x; echo \"$x\" >&2; echo out; sleep 0.3; echo two >&2; exit 4",
                ])
                .stdin("one\n");
            if own_group {
                cmd = cmd.own_group();
            }
            let start = Instant::now();
            let mut seen = Vec::new();
            let out = cmd
                .output_stderr_lines(|l| seen.push((l.to_string(), start.elapsed())))
                .unwrap();
            assert_eq!(out.code, Some(4));
            assert_eq!(out.stdout, "out\n");
            assert_eq!(out.stderr, "one\ntwo\n");
            let lines: Vec<&str> = seen.iter().map(|(l, _)| l.as_str()).collect();
            assert_eq!(lines, ["one", "two"]);
            // The first line before the command slept, not when it exited.
            assert!(
                seen[1].1 - seen[0].1 >= Duration::from_millis(250),
                "{seen:?}"
            );
        }
    }

    #[test]
    fn stream_hands_over_both_streams_and_keeps_the_exit_code() {
        let mut seen = Vec::new();
        let out = Cmd::new("/bin/sh")
            .args(["-c", "echo one; echo two >&2; printf 'three'; exit 3"])
            .stream(|e| {
                seen.push(match e {
                    Event::Stdout(l) => format!("out:{l}"),
                    Event::Stderr(l) => format!("err:{l}"),
                    Event::Notice(l) => format!("note:{l}"),
                })
            })
            .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "one\nthree\n");
        assert_eq!(out.tail(5), "two");
        seen.sort();
        assert_eq!(seen, ["err:two", "out:one", "out:three"]);
    }

    #[test]
    fn own_group_runs_as_the_leader_of_a_new_group_and_frees_its_slot() {
        let out = Cmd::new("/bin/sh")
            .args(["-c", "echo $$ $(ps -o pgid= -p $$)"])
            .own_group()
            .output()
            .unwrap();
        let ids: Vec<&str> = out.stdout.split_whitespace().collect();
        assert_eq!(ids.len(), 2, "{}", out.stdout);
        assert_eq!(ids[0], ids[1]);
        // Its own slot, not every slot: other tests (a pip server) hold theirs meanwhile.
        let pgid: i32 = ids[1].parse().unwrap();
        assert!(GROUPS.iter().all(|s| s.load(Ordering::SeqCst) != pgid));
    }

    #[test]
    fn own_group_stops_what_the_command_left_running() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let out = Cmd::new("/bin/sh")
            .args([
                "-c",
                &format!(
                    "sleep 300 >/dev/null 2>&1 & echo $! > '{}'",
                    pid_file.display()
                ),
            ])
            .own_group()
            .output()
            .unwrap();
        assert!(out.success(), "{out:?}");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Reaped by the kernel once killed (its parent, the shell, is gone): no /proc entry,
        // or a zombie while init has not reaped it yet.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| !r.trim().starts_with('Z'))
            })
        };
        let mut gone = false;
        for _ in 0..100 {
            if !alive() {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !gone {
            send_signal(pid, libc::SIGKILL);
        }
        assert!(gone, "sleep {pid} outlived its command");
    }

    #[test]
    fn stream_reports_a_missing_program_by_name() {
        let err = Cmd::new("/nonexistent/tf").stream(|_| {}).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/tf"), "{err:#}");
    }
}
