//! Per-function architecture: a function's Terraform `architectures` (a layer's
//! `compatible_architectures`, else its functions') decides the platform its dependencies are
//! installed and locked for; xtask.toml's `arch` is only the default. Native code for the other
//! architecture, in a zip or in an attached layer, is an error.

use std::io::{Read, Write};
use std::path::Path;

use crate::common::*;

const AI_BUILD: &str = "packages/module-ai/backend/.build";

/// The ELF machine (`e_machine`) of `member` in the zip at `zip`.
fn machine(zip: &Path, member: &str) -> u16 {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut header = Vec::new();
    z.by_name(member)
        .unwrap_or_else(|_| panic!("{member} is not in {}", zip.display()))
        .take(20)
        .read_to_end(&mut header)
        .unwrap();
    u16::from_le_bytes([header[18], header[19]])
}

/// A demo whose wheelhouse has `fastc` for both architectures, `module-ai/provider` on arm64
/// and `module-ai/ai-config` on x86_64, both requiring `fastc`.
fn two_architectures() -> Demo {
    let d = Demo::new();
    Wheelhouse::new(&d.tmp.path().join("wheelhouse")).native("fastc", "0.1", "aarch64");
    d.set_attr(
        "module-ai",
        "aws_lambda_function",
        "provider",
        "architectures",
        "[\"arm64\"]",
    );
    for f in ["provider", "ai-config"] {
        d.write(
            &format!("packages/module-ai/backend/lambdas/{f}/requirements.txt"),
            "fastc==0.1\n",
        );
    }
    d
}

/// `code` findings of `check --json`, each as `file: message`.
fn findings(d: &Demo, code: &str) -> (i32, Vec<String>) {
    let out = d.xtask(&["check", "--json"]);
    let found = out.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .map(|f| {
            format!(
                "{}: {}",
                f["file"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect();
    (out.code, found)
}

#[test]
fn an_arm64_function_gets_aarch64_wheels_and_an_x86_64_library_planted_in_its_zip_is_a_check_error()
{
    let d = two_architectures();
    let out = d.xtask(&["build", "--json", "--module", "ai"]).ok();
    let arts = artifacts(&out.json());
    assert_eq!(arts["module-ai/provider"]["status"], "built");
    assert_eq!(arts["module-ai/ai-config"]["status"], "built");
    // Same requirements, two architectures: two installs, never one shared tree.
    let provider = d.path(&format!("{AI_BUILD}/provider.zip"));
    assert_eq!(machine(&provider, "fastc/_speed.so"), 0xB7, "aarch64");
    let config = d.path(&format!("{AI_BUILD}/ai-config.zip"));
    assert_eq!(machine(&config, "fastc/_speed.so"), 0x3E, "x86_64");
    assert_eq!(
        std::fs::read_dir(d.path(".xtask/deps"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .count(),
        2,
        "one install per architecture of the same requirements"
    );
    let (_, none) = findings(&d, "ARCH-native-mismatch");
    assert_eq!(none, Vec::<String>::new());

    // An x86_64 library slipped into the arm64 function's zip (a host build, a copied file).
    let mut z = zip::ZipWriter::new_append(
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&provider)
            .unwrap(),
    )
    .unwrap();
    z.start_file(
        "fastc/_planted.so",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    z.write_all(&elf("x86_64")).unwrap();
    z.finish().unwrap();
    let (code, found) = findings(&d, "ARCH-native-mismatch");
    assert_eq!(code, 1, "an error fails check");
    assert_eq!(found.len(), 1, "{found:?}");
    for part in [
        "demo-stack/packages/module-ai/backend/.build/provider.zip: ",
        "fastc/_planted.so (distribution fastc) is x86_64",
        "module-ai/provider runs on arm64 (its Terraform at demo-stack/packages/module-ai/infrastructure/main.tf:",
    ] {
        assert!(found[0].contains(part), "{part:?} missing from {}", found[0]);
    }
}

#[test]
fn an_arm64_function_locks_for_aarch64_and_its_lock_is_not_stale() {
    let d = two_architectures();
    d.xtask(&["lock", "--module", "ai"]).ok();
    let lock = |f: &str| {
        d.read(&format!(
            "packages/module-ai/backend/lambdas/{f}/requirements.lock"
        ))
    };
    assert!(
        lock("provider").contains("# target: python3.13 aarch64-manylinux_2_34"),
        "{}",
        lock("provider")
    );
    assert!(lock("ai-config").contains("# target: python3.13 x86_64-manylinux_2_34"));
    d.xtask(&["build", "--locked", "--module", "ai"]).ok();
    let (_, stale) = findings(&d, "DEP-stale-lock");
    assert_eq!(stale, Vec::<String>::new());
}

#[test]
fn a_layer_with_native_code_for_another_architecture_fails_the_function_attaching_it() {
    let d = two_architectures();
    for f in ["provider", "ai-config"] {
        d.write(
            &format!("packages/module-ai/backend/lambdas/{f}/requirements.txt"),
            "",
        );
    }
    // ai-common says x86_64 and ships fastc's x86_64 library; provider (arm64) attaches it,
    // as it attaches the pure-Python org-common layer (x86_64 too), which serves both.
    d.write(
        "packages/module-ai/backend/layers/ai-common/requirements.txt",
        "fastc==0.1\n",
    );
    let out = d.xtask(&["build", "--json"]).fails();
    let arts = artifacts(&out.json());
    assert_eq!(arts["module-ai/ai-config"]["status"], "built");
    assert_eq!(arts["module-ai/ai-common"]["status"], "built");
    let err = arts["module-ai/provider"]["error"].as_str().unwrap();
    for part in [
        "function module-ai/provider runs on arm64",
        "attaches layer module-ai/ai-common, built for x86_64",
        "python/fastc/_speed.so (distribution fastc)",
        "compatible_architectures = [\"arm64\"]",
    ] {
        assert!(err.contains(part), "{part:?} missing from {err}");
    }
    assert!(!err.contains("org-common"), "{err}");
    let (code, found) = findings(&d, "ARCH-layer-mismatch");
    assert_eq!(code, 1);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("module-ai/ai-common"), "{}", found[0]);

    // Without compatible_architectures the layer takes its functions' architecture when they
    // agree: both on arm64, it is built for arm64 and everything builds.
    let tf = d.path("packages/module-ai/infrastructure/main.tf");
    let text = std::fs::read_to_string(&tf).unwrap();
    write(
        &tf,
        &text.replace("  compatible_architectures = [\"x86_64\"]\n", ""),
    );
    d.set_attr(
        "module-ai",
        "aws_lambda_function",
        "ai_config",
        "architectures",
        "[\"arm64\"]",
    );
    d.xtask(&["build"]).ok();
    let layer = d.path(&format!("{AI_BUILD}/ai-common-layer.zip"));
    assert_eq!(machine(&layer, "python/fastc/_speed.so"), 0xB7, "aarch64");
    let (_, found) = findings(&d, "ARCH-layer-mismatch");
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn smoke_skips_a_function_whose_native_code_its_interpreter_cannot_load_and_says_why() {
    let Some(python) = crate::smoke::python313() else {
        return;
    };
    let d = two_architectures();
    // ai-config on arm64 too, but pure Python: it imports the same on this host.
    d.set_attr(
        "module-ai",
        "aws_lambda_function",
        "ai_config",
        "architectures",
        "[\"arm64\"]",
    );
    d.write(
        "packages/module-ai/backend/lambdas/ai-config/requirements.txt",
        "",
    );
    d.config(&format!(
        "[smoke]\npython = {:?}",
        python.display().to_string()
    ));
    let out = d.xtask(&["smoke", "--json", "--module", "ai"]);
    let by_name = |n: &str| {
        out.json()["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == n)
            .unwrap_or_else(|| panic!("no {n} in {}", out.stdout))
            .clone()
    };
    let provider = by_name("provider");
    assert_eq!(provider["status"], "skipped", "{provider}");
    let why = provider["error"].as_str().unwrap();
    for part in [
        "runs on arm64",
        "ships native code: provider.zip: fastc/_speed.so (distribution fastc) is arm64",
        "a x86_64 interpreter",
    ] {
        assert!(why.contains(part), "{part:?} missing from {why}");
    }
    assert_eq!(by_name("ai-config")["status"], "passed", "{}", out.stdout);
}

#[test]
fn an_architecture_the_env_passes_through_a_module_variable_decides_the_wheels() {
    let d = two_architectures();
    d.set_attr(
        "module-ai",
        "aws_lambda_function",
        "provider",
        "architectures",
        "[var.provider_arch]",
    );
    let vars = d.path("packages/module-ai/infrastructure/variables.tf");
    let text = std::fs::read_to_string(&vars).unwrap();
    write(
        &vars,
        &format!("{text}\nvariable \"provider_arch\" {{\n  type = string\n}}\n"),
    );
    let env = d.infra.join("envs/dev/main.tf");
    let text = std::fs::read_to_string(&env).unwrap();
    let call = "  module_name          = \"ai\"\n";
    assert!(text.contains(call));
    write(
        &env,
        &text.replacen(
            call,
            &format!("{call}  provider_arch        = \"arm64\"\n"),
            1,
        ),
    );
    let out = d.xtask(&["build", "--module", "ai"]).ok();
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let provider = d.path(&format!("{AI_BUILD}/provider.zip"));
    assert_eq!(machine(&provider, "fastc/_speed.so"), 0xB7, "aarch64");
    let (_, found) = findings(&d, "ARCH-native-mismatch");
    assert_eq!(found, Vec::<String>::new());
}
