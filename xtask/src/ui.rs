//! How progress reaches the user: indicatif bars on a terminal, one plain line per event
//! elsewhere (CI, pipes, colours off, `TERM=dumb`), none with `--quiet`. Progress goes to stderr so stdout stays
//! clean for tables and `--json`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `--quiet`: no progress at all; warnings, errors and results only.
static QUIET: AtomicBool = AtomicBool::new(false);

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// True when stderr is a terminal that may be drawn on: not with --quiet, TERM=dumb, or
/// colours off (NO_COLOR, --color never), which ask for plain lines.
pub fn interactive() -> bool {
    !quiet()
        && std::io::stderr().is_terminal()
        && console::colors_enabled_stderr()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// The width tables fit: the terminal's when stdout is one, else `COLUMNS` when set; `None`
/// (full cells, for logs and scripts) otherwise.
pub fn width() -> Option<usize> {
    let term = console::Term::stdout();
    if term.is_term() {
        return Some(term.size().1 as usize);
    }
    std::env::var("COLUMNS").ok()?.trim().parse().ok()
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Sets colours and quietness once, from the flags. `--color` wins over the environment;
/// under `auto`, `NO_COLOR` (any non-empty value) turns colours off, else `CLICOLOR_FORCE`
/// (non-empty, not `0`) turns them on even off a terminal, else each stream is coloured when
/// it is a terminal.
pub fn init(color: Color, quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty() && s != "0");
    let (out, err) = match color {
        Color::Always => (true, true),
        Color::Never => (false, false),
        Color::Auto if set("NO_COLOR") => (false, false),
        Color::Auto if set("CLICOLOR_FORCE") => (true, true),
        Color::Auto => (
            std::io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb"),
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb"),
        ),
    };
    console::set_colors_enabled(out);
    console::set_colors_enabled_stderr(err);
}

/// Writes a line to stderr, ignoring errors: a closed pipe (`| tee` ended by the same Ctrl-C)
/// must not stop the xtask while terraform is still releasing its state lock.
pub fn eprint_line(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Writes to stdout (tables, `--json`). A reader that stopped early (`| head`, `| true`) is not
/// an error: the work is done and the exit code must still say how it went. Any other failure,
/// e.g. a full disk under `> report.json`, is, so a truncated report never exits 0.
pub fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to stdout"),
    }
}

/// A command line the xtask refuses after clap accepted it (e.g. terraform arguments after
/// `--`): exit 64 like clap's own usage errors, not 1.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn warn(msg: &str) {
    eprint_line(&format!(
        "{} {msg}",
        console::style("warning:").yellow().bold()
    ));
}

pub fn error(msg: &str) {
    eprint_line(&format!("{} {msg}", console::style("error:").red().bold()));
}

/// A stage of a longer command (`plan`, `apply`, `deploy`), on stderr; none with --quiet.
pub fn step(msg: &str) {
    if quiet() {
        return;
    }
    eprint_line(&format!("{} {msg}", console::style("==>").cyan().bold()));
}

/// One long external command: on a terminal a spinner, or a bar when its number of steps is
/// known, showing its latest line; elsewhere each of its lines, as they come.
pub struct Activity {
    what: String,
    bar: Option<ProgressBar>,
    /// Off a terminal, when the last status line was printed: one every `STATUS_EVERY`.
    last_status: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How often a long command's status is printed off a terminal (CI logs).
const STATUS_EVERY: Duration = Duration::from_secs(10);

impl Activity {
    pub fn new(what: &str, steps: Option<u64>) -> Activity {
        let bar = interactive().then(|| {
            let (bar, template) = match steps {
                Some(n) => (
                    ProgressBar::new(n),
                    "{prefix:>10.bold} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{prefix:>10.bold} {spinner} {elapsed} {wide_msg}",
                ),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("static template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Activity {
            what: what.to_string(),
            bar,
            last_status: std::sync::Mutex::new(None),
        }
    }

    /// Where a long command stands: the bar's message on a terminal, else a plain line at most
    /// every ten seconds.
    pub fn status(&self, msg: &str) {
        if let Some(b) = &self.bar {
            return b.set_message(msg.to_string());
        }
        if quiet() {
            return;
        }
        let mut last = self.last_status.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= STATUS_EVERY) {
            *last = Some(std::time::Instant::now());
            let prefix = self.what.as_str();
            eprint_line(&format!("{prefix}: {msg}"));
        }
    }

    /// A line of the command's output: the bar's message, or printed as is.
    pub fn line(&self, line: &str) {
        match &self.bar {
            Some(b) if !line.trim().is_empty() => b.set_message(line.trim().to_string()),
            Some(_) => {}
            None => eprint_line(line),
        }
    }

    /// Where a command ended up (totals), kept on screen; none with --quiet.
    pub fn summary(&self, line: &str) {
        if !quiet() {
            self.note(&format!("{}: {line}", self.what));
        }
    }

    /// A line that must stay visible on a terminal too.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprint_line(line),
        }
    }

    pub fn step(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar)>,
    total: usize,
    done: AtomicUsize,
}

pub struct Task<'a> {
    progress: &'a Progress,
    id: String,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(total: usize, what: &str) -> Progress {
        let bars = interactive().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let overall = multi.add(ProgressBar::new(total as u64));
            overall.set_style(
                ProgressStyle::with_template("{prefix:>10.bold} [{bar:30}] {pos}/{len} {elapsed}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            overall.set_prefix(what.to_string());
            (multi, overall)
        });
        Progress {
            bars,
            total,
            done: AtomicUsize::new(0),
        }
    }

    pub fn task(&self, id: &str) -> Task<'_> {
        let bar = self.bars.as_ref().map(|(multi, _)| {
            let b = multi.insert_from_back(1, ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("  {spinner} {prefix:.cyan} {wide_msg}")
                    .expect("static template"),
            );
            b.set_prefix(id.to_string());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Task {
            progress: self,
            id: id.to_string(),
            bar,
        }
    }

    /// Prints a line above the bars (or plainly), e.g. a warning.
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some((multi, _)) => {
                let _ = multi.println(line);
            }
            None => eprint_line(line),
        }
    }

    pub fn finish(&self) {
        if let Some((multi, overall)) = &self.bars {
            overall.finish_and_clear();
            let _ = multi.clear();
        }
    }
}

impl Task<'_> {
    pub fn phase(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None if quiet() => {}
            None => eprint_line(&format!("{}: {msg}", self.id)),
        }
    }

    pub fn done(self, status: &str) {
        let n = self.progress.done.fetch_add(1, Ordering::SeqCst) + 1;
        match (&self.bar, &self.progress.bars) {
            (Some(b), Some((_, overall))) => {
                b.finish_and_clear();
                overall.inc(1);
            }
            _ if quiet() => {}
            _ => eprint_line(&format!(
                "[{n}/{}] {}: {status}",
                self.progress.total, self.id
            )),
        }
    }
}
