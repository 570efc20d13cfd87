//! One import in a Lambda-shaped directory: `task/` (the function's zip), `opt/` (its layers'
//! zips, later ones overwriting earlier ones as Lambda does), run by the driver script with a
//! Lambda-like environment and no way out to the network.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use super::{Job, Record, Status, RUNTIME_MODULES};
use crate::config::Config;
use crate::proc::Cmd;
use crate::stack::discover::{Artifact, Kind};

pub const DRIVER: &str = include_str!("driver.py");

pub struct Runner<'a> {
    python: &'a Path,
    runtime: Option<&'a Path>,
    timeout: u64,
    minor: String,
    cache: &'a Path,
    /// A loopback port nothing listens on: every proxy points there, so an import that calls
    /// out fails at once instead of hanging.
    dead_port: u16,
    /// Top-level packages the stack's layers ship → `layer (module)`, to suggest attaching one.
    layer_packages: BTreeMap<String, String>,
}

/// What the driver writes.
#[derive(Deserialize)]
struct Outcome {
    status: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
    missing: Option<String>,
    #[serde(default)]
    frames: Vec<(String, u32)>,
}

impl<'a> Runner<'a> {
    pub fn new(
        cfg: &Config,
        python: &'a Path,
        runtime: Option<&'a Path>,
        timeout: u64,
        cache: &'a Path,
        artifacts: &[Artifact],
    ) -> Result<Runner<'a>> {
        let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot pick a closed loopback port for the sandbox's proxy")?
            .port();
        let mut layer_packages = BTreeMap::new();
        for a in artifacts.iter().filter(|a| a.kind == Kind::Layer) {
            for e in std::fs::read_dir(a.src.join("python"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                let top = name.strip_suffix(".py").unwrap_or(&name).to_string();
                layer_packages
                    .entry(top)
                    .or_insert_with(|| format!("{} ({})", a.name, a.module));
            }
        }
        Ok(Runner {
            python,
            runtime,
            timeout,
            minor: cfg.python.clone(),
            cache,
            dead_port,
            layer_packages,
        })
    }

    /// The result, and whether it may be cached: an error of the sandbox itself (a full disk)
    /// or a timeout (a loaded machine) says nothing lasting about the code.
    pub fn import(&self, module: &str, job: &Job) -> (Record, bool) {
        let (mut r, lasting) = match self.try_import(job) {
            Ok(r) => r,
            Err(e) => (
                Record {
                    module: String::new(),
                    name: String::new(),
                    status: Status::Failed,
                    error: Some(format!("{e:#}")),
                    file: None,
                    line: None,
                    fix: None,
                    cached: false,
                    layers: Vec::new(),
                },
                false,
            ),
        };
        r.module = module.to_string();
        r.name = job.name.clone();
        r.layers = job.layer_ids.clone();
        let lasting = lasting && r.status != Status::Skipped;
        (r, lasting)
    }

    fn try_import(&self, job: &Job) -> Result<(Record, bool)> {
        let root = sandbox_root(self.cache);
        let tmp = tempfile::Builder::new()
            .prefix(SANDBOX_PREFIX)
            .tempdir_in(&root)
            .with_context(|| format!("cannot create a sandbox in {}", root.display()))?;
        let task = tmp.path().join("task");
        extract(&job.zip, &task)?;
        let opt = self.opt(job, tmp.path())?;
        let result = tmp.path().join("result.json");
        let out = self.command(job, &task, &opt, &result).output()?;
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let mut record = Record {
            module: String::new(),
            name: String::new(),
            status: Status::Passed,
            error: None,
            file: None,
            line: None,
            fix: None,
            cached: false,
            layers: Vec::new(),
        };
        let sandbox = Sandbox {
            task: &task,
            opt: &opt,
            runtime: self.runtime,
        };
        let outcome: Option<Outcome> = serde_json::from_str(&read(result.clone())).ok();
        let mut lasting = true;
        match outcome {
            Some(o) if o.status == "passed" => {}
            Some(o) => {
                let kind = o.kind.unwrap_or_default();
                let message = sandbox.show(&o.message.unwrap_or_default());
                if let Some((file, line)) =
                    sandbox.frame(o.frames.iter().rev().map(|(f, l)| (f.as_str(), *l)))
                {
                    record.file = Some(file);
                    record.line = (line > 0).then_some(line);
                }
                let missing = o
                    .missing
                    .map(|m| m.split('.').next().unwrap_or_default().to_string());
                if kind == "ModuleNotFoundError" && self.runtime.is_none() {
                    if let Some(m) = missing.as_deref().filter(|m| RUNTIME_MODULES.contains(m)) {
                        record.status = Status::Skipped;
                        record.error = Some(format!(
                            "imports {m}, which the Lambda runtime provides, and its emulation is not installed"
                        ));
                        return Ok((record, true));
                    }
                }
                record.status = Status::Failed;
                record.fix = self.fix(&kind, &message, missing.as_deref(), job);
                record.error = Some(if kind == "HandlerNotFound" {
                    format!("handler `{}` not found: {message}", job.handler)
                } else {
                    format!("{kind}: {message}")
                });
            }
            None => {
                record.status = Status::Failed;
                let dump = read(tmp.path().join("result.json.timeout"));
                if dump.contains("Timeout (") {
                    if let Some((file, line)) = sandbox.frame(dumped_frames(&dump)) {
                        record.file = Some(file);
                        record.line = Some(line);
                    }
                    record.error = Some(format!(
                        "timeout: the import did not finish within {} s",
                        self.timeout
                    ));
                    lasting = false;
                    record.fix = Some(
                        "move network calls and heavy work out of module scope into the handler, \
                         or raise `timeout` under [smoke] in xtask.toml"
                            .into(),
                    );
                } else {
                    let log = read(tmp.path().join("result.json.log"));
                    let tail: Vec<&str> = log.lines().rev().take(5).collect();
                    record.error = Some(format!(
                        "the interpreter exited with {} before reporting: {}",
                        out.code.map_or("a signal".into(), |c| c.to_string()),
                        sandbox.show(&tail.into_iter().rev().collect::<Vec<_>>().join(" | "))
                    ));
                }
            }
        }
        Ok((record, lasting))
    }

    /// The driver's command line, with Lambda's environment and nothing else.
    fn command(&self, job: &Job, task: &Path, opt: &[PathBuf], result: &Path) -> Cmd {
        let proxy = format!("http://127.0.0.1:{}", self.dead_port);
        let runtime = self.runtime.map(Path::to_path_buf).unwrap_or_default();
        let mut cmd = Cmd::new(self.python)
            .args(["-I", "-S", "-c", DRIVER])
            .arg(task)
            .arg(
                opt.iter()
                    .map(|o| o.display().to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .arg(&runtime)
            .arg(&job.handler)
            .arg(self.timeout.to_string())
            .arg(result)
            .arg(&self.minor)
            .dir(task)
            .clear_env()
            .own_group();
        let lambda_env = [
            ("PATH", "/usr/local/bin:/usr/bin:/bin".to_string()),
            ("LANG", "en_US.UTF-8".into()),
            ("TZ", ":UTC".into()),
            ("LAMBDA_TASK_ROOT", task.display().to_string()),
            ("LAMBDA_RUNTIME_DIR", runtime.display().to_string()),
            ("_HANDLER", job.handler.clone()),
            (
                "AWS_EXECUTION_ENV",
                format!("AWS_Lambda_python{}", self.minor),
            ),
            ("AWS_LAMBDA_FUNCTION_NAME", job.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", job.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "xtask-smoke".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "AKIAXTASKSMOKE000000".into()),
            ("AWS_SECRET_ACCESS_KEY", "xtask-smoke".into()),
            ("AWS_SESSION_TOKEN", "xtask-smoke".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            // A call at import time meets the dead proxy: fail it at once, not after retries.
            ("AWS_MAX_ATTEMPTS", "1".into()),
            ("AWS_RETRY_MODE", "standard".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ];
        for (k, v) in lambda_env {
            cmd = cmd.env(k, v);
        }
        for k in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd = cmd.env(k, &proxy);
        }
        for (k, v) in &job.environment {
            cmd = cmd.env(k, v);
        }
        cmd
    }

    /// What `/opt` holds: each layer extracted once into `<cache>/layers/<sha>` and shared by
    /// every function attaching it, unless two of the function's layers ship the same
    /// top-level name — then they are merged, later over earlier, into the sandbox, as Lambda
    /// does.
    fn opt(&self, job: &Job, sandbox: &Path) -> Result<Vec<PathBuf>> {
        let mut trees = Vec::new();
        for (zip, sha) in &job.layers {
            let tree = self.cache.join("layers").join(sha);
            if !tree.is_dir() {
                let parent = self.cache.join("layers");
                std::fs::create_dir_all(&parent)?;
                let tmp = tempfile::Builder::new()
                    .prefix(".tmp-")
                    .tempdir_in(&parent)?;
                extract(zip, tmp.path())?;
                // Another import may have extracted the same layer meanwhile: same bytes.
                if std::fs::rename(tmp.path(), &tree).is_ok() {
                    let _ = tmp.keep();
                }
            }
            trees.push(tree);
        }
        let mut seen = std::collections::BTreeSet::new();
        let site = format!("python/lib/python{}/site-packages", self.minor);
        let overlap = trees.iter().any(|t| {
            let names: std::collections::BTreeSet<_> = [t.join("python"), t.join(&site)]
                .iter()
                .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
                .map(|e| e.file_name())
                .filter(|n| n != "lib")
                .collect();
            names.into_iter().any(|n| !seen.insert(n))
        });
        if !overlap {
            return Ok(trees);
        }
        let merged = sandbox.join("opt");
        for (zip, _) in &job.layers {
            extract(zip, &merged)?;
        }
        Ok(vec![merged])
    }

    fn fix(&self, kind: &str, message: &str, missing: Option<&str>, job: &Job) -> Option<String> {
        let so_error = [
            "invalid ELF header",
            "wrong ELF class",
            "file too short",
            "undefined symbol",
            "GLIBC_",
            "cannot open shared object",
        ];
        match kind {
            "ModuleNotFoundError" => {
                let m = missing?;
                Some(match self.layer_packages.get(m) {
                    Some(layer) => format!(
                        "attach the layer {layer}, which ships {m}, to this function's `layers` in Terraform"
                    ),
                    None => format!(
                        "add the distribution that provides `{m}` to the function's requirements.txt, \
                         or attach a layer that ships it"
                    ),
                })
            }
            _ if kind.contains("ConnectionError")
                || message.contains("Connection refused")
                || message.contains(&self.dead_port.to_string()) =>
            {
                Some(
                    "the import calls out over the network (smoke gives it none): create clients \
                     at module scope if you like, but make calls inside the handler"
                        .into(),
                )
            }
            "HandlerNotFound" => {
                let (module, func) = job.handler.rsplit_once('.')?;
                Some(format!(
                    "define `def {func}(event, context)` in {module}.py, or fix `handler` in the function's Terraform"
                ))
            }
            "ImportError" | "OSError" if so_error.iter().any(|s| message.contains(s)) => Some(format!(
                "rebuild for the target: a compiled module is not built for python{} on Lambda's \
                 Linux; `cargo xtask build` installs manylinux wheels for the target — pin a version \
                 that publishes a cp{} manylinux wheel",
                self.minor,
                self.minor.replace('.', "")
            )),
            _ => None,
        }
    }
}

/// The sandbox's directories, to show paths as Lambda would (`/var/task`, `/opt`).
struct Sandbox<'a> {
    task: &'a Path,
    opt: &'a [PathBuf],
    runtime: Option<&'a Path>,
}

impl Sandbox<'_> {
    fn show(&self, text: &str) -> String {
        let mut s = text.replace(&self.task.display().to_string(), "/var/task");
        for o in self.opt {
            s = s.replace(&o.display().to_string(), "/opt");
        }
        if let Some(r) = self.runtime {
            s = s.replace(&r.display().to_string(), "/var/runtime");
        }
        s
    }

    /// The first frame (innermost first) in the function's or a layer's code, as a path a
    /// reader finds in their tree: relative to the task root, or `/opt/…`.
    fn frame<'f>(&self, frames: impl Iterator<Item = (&'f str, u32)>) -> Option<(String, u32)> {
        frames.into_iter().find_map(|(file, line)| {
            let p = Path::new(file);
            if let Ok(rel) = p.strip_prefix(self.task) {
                Some((rel.display().to_string(), line))
            } else {
                self.opt.iter().find_map(|o| {
                    let rel = p.strip_prefix(o).ok()?;
                    Some((format!("/opt/{}", rel.display()), line))
                })
            }
        })
    }
}

/// The frames of faulthandler's dump, innermost first: `  File "/x/y.py", line 3 in <module>`.
fn dumped_frames(dump: &str) -> impl Iterator<Item = (&str, u32)> {
    dump.lines().filter_map(|l| {
        let l = l.trim().strip_prefix("File \"")?;
        let (file, rest) = l.split_once("\", line ")?;
        Some((file, rest.split_whitespace().next()?.parse().ok()?))
    })
}

/// Sandboxes are named so, wherever they are, for a later run to sweep what a killed one left.
pub const SANDBOX_PREFIX: &str = ".tmp-xtask-smoke-";

/// Where sandboxes go: `/dev/shm` when it is a tmpfs that may hold loadable code (a function's
/// zip is thousands of small files, and creating them on a disk file system costs more than
/// the import), else the cache directory.
pub fn sandbox_root(cache: &Path) -> PathBuf {
    let shm = Path::new("/dev/shm");
    // SAFETY: statvfs is plain data, for which all zeroes is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs only writes the struct it is given; the path is NUL-terminated.
    let found = unsafe { libc::statvfs(c"/dev/shm".as_ptr(), &mut st) } == 0;
    let usable = found && st.f_flag & (libc::ST_NOEXEC | libc::ST_RDONLY) == 0;
    if usable && shm.is_dir() {
        shm.to_path_buf()
    } else {
        cache.to_path_buf()
    }
}

/// Unpacks `zip` into `dir`, overwriting what is there; entries that would land outside are
/// refused.
fn extract(zip: &Path, dir: &Path) -> Result<()> {
    let file =
        std::fs::File::open(zip).with_context(|| format!("cannot open {}", zip.display()))?;
    let mut z =
        zip::ZipArchive::new(file).with_context(|| format!("{} is not a zip", zip.display()))?;
    let mut made = std::collections::HashSet::new();
    for i in 0..z.len() {
        let mut entry = z.by_index(i)?;
        let Some(rel) = entry.enclosed_name() else {
            anyhow::bail!(
                "{} has an entry outside its root: {}",
                zip.display(),
                entry.name()
            );
        };
        let path = dir.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            if made.insert(parent.to_path_buf()) {
                std::fs::create_dir_all(parent)?;
            }
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes)?;
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_paths_read_as_lambdas() {
        let (task, opt) = (
            PathBuf::from("/s/task"),
            vec![PathBuf::from("/c/layers/ab")],
        );
        let sandbox = Sandbox {
            task: &task,
            opt: &opt,
            runtime: Some(Path::new("/c/runtime/k")),
        };
        let dump = "Timeout (0:00:01)!\nThread 0x7f (most recent call first):\n  \
                    File \"/c/runtime/k/botocore/x.py\", line 9 in f\n  \
                    File \"/c/layers/ab/python/org/db.py\", line 4 in g\n  \
                    File \"/s/task/lambda_function.py\", line 2 in <module>\n  \
                    File \"<frozen importlib._bootstrap>\", line 488 in _call\n";
        // The innermost frame of the stack's own code, shown where Lambda would put it.
        assert_eq!(
            sandbox.frame(dumped_frames(dump)),
            Some(("/opt/python/org/db.py".to_string(), 4))
        );
        assert_eq!(
            sandbox.frame([("/s/task/pkg/m.py", 7)].into_iter()),
            Some(("pkg/m.py".to_string(), 7))
        );
        assert_eq!(
            sandbox.show("No module named 'x' (/s/task/a.py, /c/runtime/k/b.py)"),
            "No module named 'x' (/var/task/a.py, /var/runtime/b.py)"
        );
    }
}
