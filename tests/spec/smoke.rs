//! `cargo xtask smoke`: handlers imported in a Lambda-shaped sandbox, on a generated stack
//! shaped like a real CORA repo (layers passed between modules through variables,
//! `runtime = local.lambda_runtime`) with hand-made wheels.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The target interpreter, or `None` (the spec is skipped, except under CI).
pub fn python313() -> Option<PathBuf> {
    let home = std::env::var("HOME").unwrap_or_default();
    let found = std::fs::read_dir(Path::new(&home).join(".pyenv/versions"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/python3.13"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs CPython 3.13 (uv python install 3.13)"
        );
        eprintln!("SKIPPED smoke spec: no CPython 3.13 under ~/.pyenv");
    }
    found
}

/// A wheel for each package the runtime emulation pins, so `import boto3` resolves offline.
pub fn runtime_wheels(w: &Wheelhouse) {
    for name in ["boto3", "botocore"] {
        w.wheel(
            name,
            "1.38.36",
            "py3-none-any",
            &[(&format!("{name}/__init__.py"), "__version__ = '1.38.36'\n")],
            &[],
        );
    }
}

struct Stack {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    stack: PathBuf,
}

impl Stack {
    fn xtask(&self, args: &[&str]) -> Out {
        let mut cmd = std::process::Command::new(xtask_bin());
        cmd.args(args)
            .arg("--stack")
            .arg(&self.stack)
            .env("NO_COLOR", "1");
        run(cmd)
    }

    /// `[smoke]` lines (after the wheelhouse settings).
    fn config(&self, smoke: &str) {
        write(
            &self.stack.join("xtask.toml"),
            &format!(
                "[installer_options]\nfind_links = [\"../wheelhouse\"]\nno_index = true\n\n[smoke]\n{smoke}\n"
            ),
        );
    }

    fn function(&self, module: &str, name: &str, code: &str, requirements: Option<&str>) {
        let dir = self
            .stack
            .join(format!("packages/{module}/backend/lambdas/{name}"));
        write(&dir.join("lambda_function.py"), code);
        if let Some(r) = requirements {
            write(&dir.join("requirements.txt"), r);
        }
    }

    /// An interpreter wrapper that counts its starts in `starts`.
    fn counting_python(&self, python: &Path) -> PathBuf {
        let bin = self.root.join("python3.13");
        write(
            &bin,
            &format!(
                "#!/bin/sh\necho start >> '{}'\nexec '{}' \"$@\"\n",
                self.root.join("starts").display(),
                python.display()
            ),
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    fn starts(&self) -> usize {
        std::fs::read_to_string(self.root.join("starts"))
            .unwrap_or_default()
            .lines()
            .count()
    }
}

fn function_tf(name: &str, layers: &str) -> String {
    let res = name.replace('-', "_");
    format!(
        r#"
resource "aws_lambda_function" "{res}" {{
  function_name    = "acme-dev-{name}"
  filename         = "${{local.build_dir}}/{name}.zip"
  source_code_hash = filebase64sha256("${{local.build_dir}}/{name}.zip")
  handler          = "lambda_function.lambda_handler"
  runtime          = local.lambda_runtime
  role             = "arn:aws:iam::123456789012:role/acme"
  layers           = [{layers}]
  environment {{
    variables = {{
      LOG_LEVEL  = var.log_level
      TABLE_NAME = "acme-dev-chats"
    }}
  }}
}}
"#
    )
}

/// acme-stack (module-common publishes org-common; module-chat has its own layers and the
/// functions under test) and acme-infra/envs/dev passing org-common between them.
fn stack(functions: &[(&str, &str)]) -> Stack {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let stack = root.join("acme-stack");
    let w = Wheelhouse::new(&root.join("wheelhouse"));
    w.wheel(
        "acmeclient",
        "2.0",
        "py3-none-any",
        &[("acmeclient/__init__.py", "VERSION = 2\n")],
        &[],
    )
    .wheel(
        "cext",
        "1.0",
        "cp313-cp313-manylinux2014_x86_64",
        &[
            ("cext/__init__.py", "from cext._speed import go\n"),
            (
                "cext/_speed.cpython-313-x86_64-linux-gnu.so",
                "\x7fELF not really a shared object",
            ),
        ],
        &[],
    );
    let common = stack.join("packages/module-common");
    write(
        &common.join("backend/layers/org-common/python/org_common/__init__.py"),
        "ORG = 1\n",
    );
    write(
        &common.join("infrastructure/main.tf"),
        r#"locals { build_dir = "${path.module}/../backend/.build" }
resource "aws_lambda_layer_version" "org_common" {
  layer_name          = "acme-dev-org-common"
  filename            = "${local.build_dir}/org-common-layer.zip"
  compatible_runtimes = ["python3.13"]
}
output "org_common_layer_arn" { value = aws_lambda_layer_version.org_common.arn }
"#,
    );
    let chat = stack.join("packages/module-chat");
    write(
        &chat.join("backend/layers/chat-common/python/chat_common/__init__.py"),
        "CHAT = 1\n",
    );
    write(
        &chat.join("backend/layers/acme/requirements.txt"),
        "acmeclient==2.0\n",
    );
    let mut tf = String::from(
        r#"locals {
  build_dir      = "${path.module}/../backend/.build"
  lambda_runtime = "python3.13"
}
variable "org_common_layer_arn" { type = string }
variable "unset_layer_arn" { type = string }
variable "log_level" { type = string }
resource "aws_lambda_layer_version" "chat_common" {
  layer_name = "acme-dev-chat-common"
  filename   = "${local.build_dir}/chat-common-layer.zip"
}
resource "aws_lambda_layer_version" "acme" {
  layer_name = "acme-dev-acme"
  filename   = "${local.build_dir}/acme-layer.zip"
}
"#,
    );
    for (name, layers) in functions {
        tf += &function_tf(name, layers);
    }
    write(&chat.join("infrastructure/main.tf"), &tf);
    write(
        &root.join("acme-infra/envs/dev/main.tf"),
        r#"module "module_common" {
  source = "../../../acme-stack/packages/module-common/infrastructure"
}
module "module_chat" {
  source               = "../../../acme-stack/packages/module-chat/infrastructure"
  org_common_layer_arn = module.module_common.org_common_layer_arn
  log_level            = var.log_level
}
variable "log_level" { default = "INFO" }
"#,
    );
    let s = Stack {
        _tmp: tmp,
        root,
        stack,
    };
    s.config("");
    s
}

/// Results of `smoke --json` by function name.
fn results(out: &Out) -> std::collections::BTreeMap<String, serde_json::Value> {
    out.json()["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f.clone()))
        .collect()
}

const HANDLER: &str = "\n\ndef lambda_handler(event, context):\n    return {}\n";
const ORG: &str = "var.org_common_layer_arn";

#[test]
fn imports_fail_where_lambda_would_and_pass_where_it_would() {
    let Some(python) = python313() else { return };
    let s = stack(&[
        ("missing", ORG),
        (
            "layered",
            &format!("{ORG}, aws_lambda_layer_version.acme.arn"),
        ),
        ("unattached", ORG),
        ("native", ORG),
        ("nohandler", ORG),
        ("aws", ORG),
        ("orphan", "var.unset_layer_arn"),
    ]);
    runtime_wheels(&Wheelhouse::new(&s.root.join("wheelhouse")));
    let level = "import logging, os\nlogging.getLogger().setLevel(os.environ['LOG_LEVEL'])\nTABLE = os.environ['TABLE_NAME']\n";
    let acme = format!("import org_common\nimport acmeclient\n{level}{HANDLER}");
    s.function("module-chat", "missing", &acme, None);
    s.function("module-chat", "layered", &acme, None);
    s.function(
        "module-chat",
        "unattached",
        &format!("import chat_common{HANDLER}"),
        None,
    );
    s.function(
        "module-chat",
        "native",
        &format!("import cext{HANDLER}"),
        Some("cext==1.0\n"),
    );
    s.function(
        "module-chat",
        "nohandler",
        "def handler(event, context):\n    return {}\n",
        None,
    );
    s.function(
        "module-chat",
        "aws",
        &format!("import boto3\nV = boto3.__version__{HANDLER}"),
        None,
    );
    s.function(
        "module-chat",
        "orphan",
        &format!("import json{HANDLER}"),
        None,
    );
    let python = s.counting_python(&python);
    s.config(&format!("python = {:?}", python.display().to_string()));
    s.xtask(&["build"]).ok();

    let out = s.xtask(&["smoke", "--json"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let r = results(&out);
    let status = |n: &str| r[n]["status"].as_str().unwrap().to_string();

    // A package in no requirements and no attached layer: named, with where and the fix.
    assert_eq!(status("missing"), "failed", "{:#}", r["missing"]);
    assert_eq!(
        r["missing"]["error"],
        "ModuleNotFoundError: No module named 'acmeclient'"
    );
    assert_eq!(r["missing"]["file"], "lambda_function.py");
    assert_eq!(r["missing"]["line"], 2);
    assert!(r["missing"]["fix"]
        .as_str()
        .unwrap()
        .contains("requirements.txt"));
    // The same package from an attached layer, org-common followed through the env's module
    // call into module-common; LOG_LEVEL from the variable's default.
    assert_eq!(status("layered"), "passed", "{:#}", r["layered"]);
    // A layer of the module the function is not attached to: fails, and says which to attach.
    assert_eq!(status("unattached"), "failed");
    assert!(
        r["unattached"]["fix"]
            .as_str()
            .unwrap()
            .contains("chat-common (module-chat)"),
        "{:#}",
        r["unattached"]
    );
    // A compiled module Python cannot load: the loader's message, and rebuild for the target.
    assert_eq!(status("native"), "failed");
    let err = r["native"]["error"].as_str().unwrap();
    assert!(
        err.starts_with("ImportError: ") && err.contains("/var/task/cext/_speed.cpython-313"),
        "{err}"
    );
    assert_eq!(r["native"]["file"], "cext/__init__.py");
    assert!(r["native"]["fix"]
        .as_str()
        .unwrap()
        .contains("rebuild for the target"));
    // A handler that does not exist.
    assert_eq!(status("nohandler"), "failed");
    assert!(
        r["nohandler"]["error"]
            .as_str()
            .unwrap()
            .contains("lambda_handler"),
        "{:#}",
        r["nohandler"]
    );
    // boto3 from the runtime emulation (the wheelhouse's stand-in).
    assert_eq!(status("aws"), "passed", "{:#}", r["aws"]);
    // A layer that cannot be followed: skipped with the reason, never failed.
    assert_eq!(status("orphan"), "skipped");
    assert!(
        r["orphan"]["error"]
            .as_str()
            .unwrap()
            .contains("layer 1: not checked: var.unset_layer_arn has no value here"),
        "{:#}",
        r["orphan"]
    );

    // The human report points at the line.
    let starts = s.starts();
    let human = s.xtask(&["smoke"]).fails();
    assert!(
        human.stdout.contains("failed module-chat/missing: ModuleNotFoundError: No module named 'acmeclient'\n  --> lambda_function.py:2"),
        "{}",
        human.stdout
    );
    // Nothing changed: every result from the cache, no interpreter started.
    assert_eq!(s.starts(), starts, "{}", human.stderr);
    assert!(human.stderr.contains("(6 cached)"), "{}", human.stderr);
    // An edited handler is imported again, alone.
    s.function(
        "module-chat",
        "missing",
        &format!("import org_common{HANDLER}"),
        None,
    );
    s.xtask(&["build"]).ok();
    let out = s.xtask(&["smoke", "--json"]);
    assert_eq!(results(&out)["missing"]["status"], "passed");
    assert_eq!(s.starts(), starts + 1);
}

#[test]
fn an_import_that_hangs_fails_as_a_timeout_where_it_hangs() {
    let Some(python) = python313() else { return };
    let s = stack(&[("slow", ORG)]);
    s.function(
        "module-chat",
        "slow",
        &format!("import time\ntime.sleep(60){HANDLER}"),
        None,
    );
    s.config(&format!(
        "python = {:?}\ntimeout = 1",
        python.display().to_string()
    ));
    s.xtask(&["build"]).ok();
    let out = s.xtask(&["smoke", "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let r = &results(&out)["slow"];
    assert_eq!(r["status"], "failed");
    assert!(r["error"].as_str().unwrap().contains("timeout"), "{r:#}");
    assert_eq!(r["file"], "lambda_function.py");
    assert_eq!(r["line"], 2);
    // A timeout may be the machine's load: it is not cached, the next run imports again.
    let again = s.xtask(&["smoke"]).fails();
    assert!(
        again.stderr.contains("1 failed, 0 skipped (0 cached)"),
        "{}",
        again.stderr
    );
}

#[test]
fn without_an_interpreter_every_function_is_skipped_unless_required() {
    let s = stack(&[("plain", ORG)]);
    s.function(
        "module-chat",
        "plain",
        &format!("import json{HANDLER}"),
        None,
    );
    s.config("");
    s.xtask(&["build"]).ok();
    // Nothing to discover: no uv or python3.13 on PATH, no pyenv. (A `[smoke] python` that does
    // not exist is an error, not this: faults::smoke.)
    let empty = s.root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let bare = |args: &[&str]| {
        let mut cmd = std::process::Command::new(xtask_bin());
        cmd.args(args)
            .arg("--stack")
            .arg(&s.stack)
            .env("NO_COLOR", "1")
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &empty)
            .env("PYENV_ROOT", &empty);
        run(cmd)
    };
    let out = bare(&["smoke", "--no-build", "--json"]).ok();
    assert_eq!(results(&out)["plain"]["status"], "skipped");
    assert!(
        out.stderr.contains("no Python 3.13 interpreter"),
        "{}",
        out.stderr
    );
    let out = bare(&["smoke", "--no-build", "--require"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("uv python install 3.13"),
        "{}",
        out.stderr
    );
}

#[test]
fn without_the_runtime_packages_it_says_so_once_and_skips_what_needs_them() {
    let Some(python) = python313() else { return };
    let s = stack(&[("aws", ORG), ("plain", ORG)]);
    s.function(
        "module-chat",
        "aws",
        &format!("import boto3{HANDLER}"),
        None,
    );
    s.function(
        "module-chat",
        "plain",
        &format!("import json{HANDLER}"),
        None,
    );
    s.config(&format!("python = {:?}", python.display().to_string()));
    s.xtask(&["build"]).ok();
    let out = s.xtask(&["smoke", "--json"]).ok();
    let r = results(&out);
    assert_eq!(r["aws"]["status"], "skipped", "{:#}", r["aws"]);
    assert!(r["aws"]["error"].as_str().unwrap().contains("boto3"));
    assert_eq!(r["plain"]["status"], "passed");
    assert_eq!(
        out.stderr.matches("runtime's packages").count(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn plan_refuses_to_run_terraform_when_a_handler_fails_to_import() {
    let Some(python) = python313() else { return };
    let d = Demo::new();
    runtime_wheels(&Wheelhouse::new(&d.tmp.path().join("wheelhouse")));
    d.config(&format!(
        "[smoke]\npython = {:?}",
        python.display().to_string()
    ));
    d.write(
        "packages/module-access/backend/lambdas/orgs/lambda_function.py",
        // An import-time crash: invisible to check, which reads source statically.
        &format!("import json\nCONFIG = json.loads('{{')\n{HANDLER}"),
    );
    let bin = fake_terraform(d.tmp.path());
    let tf = bin.display().to_string();
    let out = d.xtask(&["plan", "--tf-bin", &tf]).fails();
    assert!(
        out.stderr.contains("JSONDecodeError") && out.stderr.contains("--> lambda_function.py:2"),
        "{}",
        out.stderr
    );
    assert!(!record(&bin).contains("args:plan"), "{}", record(&bin));
    let out = d.xtask(&["plan", "--tf-bin", &tf, "--no-smoke"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn later_layers_overwrite_earlier_ones_and_the_function_shadows_them_as_in_lambda() {
    let Some(python) = python313() else { return };
    let dup = "aws_lambda_layer_version.dup_a.arn, aws_lambda_layer_version.dup_b.arn";
    let s = stack(&[("later", dup), ("own", dup)]);
    let chat = s.stack.join("packages/module-chat");
    for (layer, v) in [("dup-a", 1), ("dup-b", 2)] {
        write(
            &chat.join(format!("backend/layers/{layer}/python/shared/__init__.py")),
            &format!("V = {v}\n"),
        );
        let tf = chat.join("infrastructure/main.tf");
        let text = std::fs::read_to_string(&tf).unwrap();
        let res = layer.replace('-', "_");
        write(
            &tf,
            &format!(
                "{text}\nresource \"aws_lambda_layer_version\" \"{res}\" {{\n  filename = \"${{local.build_dir}}/{layer}-layer.zip\"\n}}\n"
            ),
        );
    }
    let check = |v: u32| {
        format!("import shared\nif shared.V != {v}:\n    raise RuntimeError(f'V={{shared.V}}'){HANDLER}")
    };
    s.function("module-chat", "later", &check(2), None);
    s.function("module-chat", "own", &check(0), None);
    write(
        &s.stack
            .join("packages/module-chat/backend/lambdas/own/shared.py"),
        "V = 0\n",
    );
    s.config(&format!("python = {:?}", python.display().to_string()));
    let out = s.xtask(&["smoke", "--json"]);
    let r = results(&out);
    assert_eq!(r["later"]["status"], "passed", "{:#}", r["later"]);
    assert_eq!(r["own"]["status"], "passed", "{:#}", r["own"]);
}

#[test]
fn an_import_that_calls_out_fails_at_once_on_the_dead_proxy() {
    let Some(python) = python313() else { return };
    let s = stack(&[("online", ORG)]);
    // Through the proxy smoke sets (a closed loopback port): no DNS, no packet leaves the host.
    s.function(
        "module-chat",
        "online",
        &format!(
            "import urllib.request\nCONFIG = urllib.request.urlopen('http://config.example.com/', timeout=30).read(){HANDLER}"
        ),
        None,
    );
    s.config(&format!(
        "python = {:?}\ntimeout = 20",
        python.display().to_string()
    ));
    let out = s.xtask(&["smoke", "--json"]);
    let r = &results(&out)["online"];
    assert_eq!(r["status"], "failed", "{r:#}");
    let err = r["error"].as_str().unwrap();
    assert!(
        err.contains("Connection refused") && !err.contains("timeout"),
        "{err}"
    );
    assert_eq!(r["line"], 2);
    assert!(r["fix"].as_str().unwrap().contains("network"), "{r:#}");
}
