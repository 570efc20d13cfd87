//! The test harness: the real xtask binary, run on copies of the bundled demo that tests then
//! break on purpose, with Python wheels the tests write themselves (no network, no index).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the xtask binary once per test run and returns its path.
pub fn xtask_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--package", "xtask"])
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p xtask failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"));
        target.join("debug").join("xtask")
    })
}

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(self) -> Out {
        assert_ne!(
            self.code, 0,
            "expected failure\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A wheelhouse of hand-made wheels: a wheel is a zip with METADATA, WHEEL and RECORD.
pub struct Wheelhouse {
    pub dir: PathBuf,
}

impl Wheelhouse {
    pub fn new(dir: &Path) -> Wheelhouse {
        std::fs::create_dir_all(dir).unwrap();
        Wheelhouse {
            dir: dir.to_path_buf(),
        }
    }

    /// Writes `name-version-tag.whl` holding `files` (path, content) and `requires` as Requires-Dist.
    pub fn wheel(
        &self,
        name: &str,
        version: &str,
        tag: &str,
        files: &[(&str, &str)],
        requires: &[&str],
    ) -> &Self {
        let files: Vec<(&str, Vec<u8>)> = files
            .iter()
            .map(|(p, c)| (*p, c.as_bytes().to_vec()))
            .collect();
        self.wheel_bytes(name, version, tag, &files, requires)
    }

    /// `name`'s wheel for Linux on `arch` (`x86_64` or `aarch64`): `name/__init__.py` and a
    /// native library `name/_speed.so` whose ELF header says `arch`.
    pub fn native(&self, name: &str, version: &str, arch: &str) -> &Self {
        let init = format!("{name}/__init__.py");
        let so = format!("{name}/_speed.so");
        self.wheel_bytes(
            name,
            version,
            &format!("cp313-cp313-manylinux2014_{arch}"),
            &[(&init, b"C = 3\n".to_vec()), (&so, elf(arch))],
            &[],
        )
    }

    pub fn wheel_bytes(
        &self,
        name: &str,
        version: &str,
        tag: &str,
        files: &[(&str, Vec<u8>)],
        requires: &[&str],
    ) -> &Self {
        let dist = format!("{name}-{version}.dist-info");
        let mut entries: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.clone()))
            .collect();
        let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        for r in requires {
            meta.push_str(&format!("Requires-Dist: {r}\n"));
        }
        let purelib = tag.ends_with("-any");
        entries.push((format!("{dist}/METADATA"), meta.into_bytes()));
        entries.push((
            format!("{dist}/WHEEL"),
            format!(
                "Wheel-Version: 1.0\nGenerator: spec\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n"
            )
            .into_bytes(),
        ));
        entries.push((
            format!("{dist}/top_level.txt"),
            format!("{name}\n").into_bytes(),
        ));
        let mut record = String::new();
        for (p, _) in &entries {
            // Installers accept RECORD lines without hashes for files they do not verify.
            record.push_str(&format!("{p},,\n"));
        }
        record.push_str(&format!("{dist}/RECORD,,\n"));
        entries.push((format!("{dist}/RECORD"), record.into_bytes()));
        let path = self.dir.join(format!("{name}-{version}-{tag}.whl"));
        let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        for (p, c) in entries {
            z.start_file(p, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(&c).unwrap();
        }
        z.finish().unwrap();
        self
    }

    /// A small, realistic set: a pure-Python package with a dependency, and a platform wheel.
    pub fn standard(dir: &Path) -> Wheelhouse {
        let w = Wheelhouse::new(dir);
        w.wheel(
            "alpha",
            "1.0",
            "py3-none-any",
            &[("alpha/__init__.py", "from beta import B\nA = 1\n")],
            &["beta>=1"],
        )
        .wheel(
            "beta",
            "1.2",
            "py3-none-any",
            &[("beta/__init__.py", "B = 2\n")],
            &[],
        )
        .wheel(
            "beta",
            "1.3",
            "py3-none-any",
            &[("beta/__init__.py", "B = 3\n")],
            &[],
        )
        .native("fastc", "0.1", "x86_64");
        w
    }
}

/// The start of a little-endian 64-bit ELF shared object for `arch` (`x86_64` or `aarch64`):
/// what the xtask reads (`e_machine`, at byte 18), then padding.
pub fn elf(arch: &str) -> Vec<u8> {
    let machine: u16 = match arch {
        "x86_64" => 0x3E,
        "aarch64" => 0xB7,
        other => panic!("no ELF machine for {other}"),
    };
    let mut h = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0".to_vec();
    h.extend(machine.to_le_bytes());
    h.extend([1, 0, 0, 0]);
    h.resize(64, 0);
    h
}

/// A copy of the demo (stack + infra as siblings) in a temporary directory.
pub struct Demo {
    pub tmp: tempfile::TempDir,
    pub stack: PathBuf,
    pub infra: PathBuf,
}

impl Demo {
    pub fn new() -> Demo {
        let tmp = tempfile::tempdir().unwrap();
        let stack = tmp.path().join("demo-stack");
        let infra = tmp.path().join("demo-infra");
        copy_dir(&workspace().join("demo/demo-stack"), &stack);
        copy_dir(&workspace().join("demo/demo-infra"), &infra);
        copy_dir(
            &workspace().join("demo/wheelhouse"),
            &tmp.path().join("wheelhouse"),
        );
        Wheelhouse::standard(&tmp.path().join("wheelhouse"));
        let d = Demo { tmp, stack, infra };
        d.config("");
        d
    }

    /// Rewrites the stack's xtask.toml: `extra` lines first, then the local wheelhouse with no index.
    pub fn config(&self, extra: &str) {
        self.write(
            "xtask.toml",
            &format!(
                "{extra}\n[installer_options]\nfind_links = [\"../wheelhouse\"]\nno_index = true\n"
            ),
        );
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.stack.join(rel)
    }

    /// Writes a file under the stack root, creating directories.
    pub fn write(&self, rel: &str, content: &str) {
        write(&self.stack.join(rel), content);
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.stack.join(rel)).unwrap()
    }

    /// Sets `attr = value` in `resource "<kind>" "<name>"` of `module`'s `main.tf`, replacing
    /// the line that sets it (which must exist).
    pub fn set_attr(&self, module: &str, kind: &str, name: &str, attr: &str, value: &str) {
        let rel = format!("packages/{module}/infrastructure/main.tf");
        let text = self.read(&rel);
        let start = text
            .find(&format!("resource \"{kind}\" \"{name}\""))
            .unwrap_or_else(|| panic!("no {kind}.{name} in {rel}"));
        let end = start + text[start..].find("\n}\n").unwrap();
        let line = text[start..end]
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{attr} ")))
            .unwrap_or_else(|| panic!("{kind}.{name} sets no {attr}"));
        let at = start + text[start..end].find(line).unwrap();
        let new = format!("  {attr} = {value}");
        self.write(
            &rel,
            &format!("{}{new}{}", &text[..at], &text[at + line.len()..]),
        );
    }

    /// Runs `cargo xtask <args> --stack <this stack>` with plain output.
    pub fn xtask(&self, args: &[&str]) -> Out {
        self.xtask_env(args, &[])
    }

    pub fn xtask_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd)
    }

    /// Runs the xtask with a stdout its reader has already closed, as `cargo xtask … | true`.
    pub fn xtask_closed_stdout(&self, args: &[&str]) -> Out {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the xtask binary runs");
        // Closed before the xtask has done any work, so its first write meets a broken pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        // `--stack` goes before a `--`: what follows it is terraform's.
        let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        let mut cmd = Command::new(xtask_bin());
        cmd.args(&args[..split])
            .arg("--stack")
            .arg(&self.stack)
            .args(&args[split..])
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE");
        cmd
    }
}

pub fn run(mut cmd: Command) -> Out {
    let out = cmd.output().expect("the xtask binary runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Copies a tree, leaving out build outputs, Terraform's working files and a local deployment's
/// secrets, so a demo deployed by hand in the checkout does not leak into the specs.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let n = name.to_string_lossy();
        if [
            ".build",
            "build",
            ".xtask",
            ".terraform",
            "__pycache__",
            ".terraform.lock.hcl",
            "local-secrets.tfvars",
        ]
        .contains(&n.as_ref())
            || n.ends_with(".tfstate")
            || n.ends_with(".tfplan")
        {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Artifacts of a `build --json` run, by `module/name`.
pub fn artifacts(
    json: &serde_json::Value,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    json["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                format!(
                    "{}/{}",
                    a["module"].as_str().unwrap(),
                    a["name"].as_str().unwrap()
                ),
                a.clone(),
            )
        })
        .collect()
}

/// Names stored in a zip, sorted.
pub fn zip_names(path: &Path) -> Vec<String> {
    let z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut names: Vec<String> = z.file_names().map(|n| n.to_string()).collect();
    names.sort();
    names
}

/// A fake terraform in `dir`: appends each call's arguments and TF_*/AWS_* environment to
/// `dir/record`, runs `$FAKE_INIT` on `init`, makes the saved plan and exits 2 on `plan` (after
/// running `$FAKE_PLAN`), runs `$FAKE_APPLY` on `apply`; `show` gives one resource to create
/// and a state of one unrouted function.
pub fn fake_terraform(dir: &Path) -> PathBuf {
    let bin = dir.join("terraform");
    write(
        &bin,
        r#"#!/bin/sh
rec="$(dirname "$0")/record"
{ echo "args:$*"; env | grep -E '^(TF_|AWS_)' | sort; } >> "$rec"
case "$1" in
  version) echo '{"terraform_version":"1.9.8"}' ;;
  init)
    mkdir -p .terraform
    if [ -n "$FAKE_INIT" ]; then eval "$FAKE_INIT"; fi ;;
  plan)
    for a in "$@"; do case "$a" in -out=*) : > "${a#-out=}" ;; esac; done
    if [ -n "$FAKE_PLAN" ]; then eval "$FAKE_PLAN"; fi
    exit 2 ;;
  show) echo '{"resource_changes":[{"address":"aws_iam_role.r","mode":"managed","type":"aws_iam_role","change":{"actions":["create"],"before":null,"after":{}}}],
    "values":{"root_module":{"resources":[{"address":"aws_lambda_function.f","mode":"managed","type":"aws_lambda_function","values":{"function_name":"demo-dev-f","runtime":"python3.13"}}]}}}' ;;
  apply)
    echo "applied"
    if [ -n "$FAKE_APPLY" ]; then eval "$FAKE_APPLY"; fi ;;
  output) echo '{}' ;;
esac
"#,
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

pub fn record(bin: &Path) -> String {
    std::fs::read_to_string(bin.with_file_name("record")).unwrap_or_default()
}

/// Function artifact id (`module-ai/chat`) → the layer artifacts it attaches, in order, as
/// `stack --json` resolves them (a layer with no artifact here: left out).
pub fn model_layers(model: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    let artifact_of = |address: &str| {
        model["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["address"] == address)?["artifact"]
            .as_str()
            .map(str::to_string)
    };
    model["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| {
            let id = f["code"]["zip"]["artifact"].as_str()?.to_string();
            let layers = f["layers"].as_array().unwrap().iter();
            let layers = layers.filter_map(|l| artifact_of(l["address"].as_str()?));
            Some((id, layers.collect()))
        })
        .collect()
}

/// Function artifact id → its `layers`, of the rows of `doc[list]` that are functions: `build
/// --json`'s and `size --json`'s `artifacts` (`kind` function, layers as ids or `{"id"}`),
/// `smoke --json`'s `functions`.
pub fn layers_by_function(doc: &serde_json::Value, list: &str) -> BTreeMap<String, Vec<String>> {
    doc[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {doc:#}"))
        .iter()
        .filter(|r| r["kind"].is_null() || r["kind"] == "function")
        .map(|r| {
            let id = format!(
                "{}/{}",
                r["module"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            );
            let layers: Vec<String> = r["layers"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|x| x.as_str().or(x["id"].as_str()).unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (id, layers)
        })
        .collect()
}

/// `verify --json`'s V5 `layers` of every function, `deployed` or `expected`, keyed by the
/// function's artifact id (through `stack --json`'s `function_name`).
pub fn verify_layers(
    verify: &serde_json::Value,
    model: &serde_json::Value,
    which: &str,
) -> BTreeMap<String, Vec<String>> {
    let id_of = |name: &str| {
        model["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["function_name"] == name)
            .and_then(|f| f["code"]["zip"]["artifact"].as_str())
            .unwrap_or_else(|| panic!("no function {name} in stack --json"))
            .to_string()
    };
    verify["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == "V5")
        .map(|c| {
            let name = c["subject"].as_str().unwrap();
            let name = name.strip_prefix("function ").unwrap();
            let layers = c["layers"][which]
                .as_array()
                .unwrap_or_else(|| panic!("no layers.{which} on {c:#}"));
            let layers = layers.iter().map(|l| l.as_str().unwrap().to_string());
            (id_of(name), layers.collect())
        })
        .collect()
}
