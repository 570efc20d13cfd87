//! `cargo xtask build`: discovery, layouts, reproducibility, caching, failures.

use crate::common::*;

#[test]
fn demo_builds_every_function_and_layer_with_contract_names() {
    let d = Demo::new();
    let out = d.xtask(&["build", "--json"]).ok();
    let arts = artifacts(&out.json());
    let names: Vec<&str> = arts.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "infra/api-gateway-authorizer",
            "module-access/members",
            "module-access/org-common",
            "module-access/org-email-domains",
            "module-access/orgs",
            "module-access/profiles",
            "module-ai/ai-common",
            "module-ai/ai-config",
            "module-ai/provider",
            "module-mgmt/lambda-mgmt",
            "module-mgmt/mgmt_common",
        ]
    );
    for a in arts.values() {
        assert_eq!(a["status"], "built");
        assert!(std::path::Path::new(a["path"].as_str().unwrap()).is_file());
    }
    let access = d.path("packages/module-access/backend/.build");
    assert!(access.join("org-email-domains.zip").is_file());
    assert!(access.join("org-common-layer.zip").is_file());
    assert!(d
        .path("packages/module-mgmt/backend/.build/mgmt_common-layer.zip")
        .is_file());
    assert!(d.infra.join("build/authorizer.zip").is_file());
}

#[test]
fn function_zip_ships_the_whole_directory_at_the_root() {
    let d = Demo::new();
    d.xtask(&["build"]).ok();
    let names = zip_names(&d.path("packages/module-ai/backend/.build/ai-config.zip"));
    assert_eq!(
        names,
        [
            "lambda_function.py",
            "providers/__init__.py",
            "providers/bedrock.py",
            "providers/openai.py",
            "validation.py"
        ]
    );
}

#[test]
fn layer_zip_holds_code_and_dependencies_under_python() {
    let d = Demo::new();
    d.xtask(&["build"]).ok();
    let names = zip_names(&d.path("packages/module-access/backend/.build/org-common-layer.zip"));
    assert!(names.iter().all(|n| n.starts_with("python/")), "{names:?}");
    for want in [
        "python/org_common/__init__.py",
        "python/dateutil/__init__.py",
        "python/six.py",
        "python/python_dateutil-2.9.0.post0.dist-info/METADATA",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // Installer bookkeeping with host paths or installer names never ships.
    assert!(!names
        .iter()
        .any(|n| n.ends_with("/RECORD") || n.ends_with("/INSTALLER") || n.contains("/bin/")));
}

#[test]
fn function_requirements_are_installed_at_the_zip_root_and_comments_install_nothing() {
    let d = Demo::new();
    d.write(
        "packages/module-ai/backend/lambdas/provider/requirements.txt",
        "# http client\nalpha==1.0  # pulls beta\n",
    );
    let out = d.xtask(&["build", "--json"]).ok();
    let names = zip_names(&d.path("packages/module-ai/backend/.build/provider.zip"));
    for want in [
        "alpha/__init__.py",
        "beta/__init__.py",
        "alpha-1.0.dist-info/METADATA",
        "lambda_function.py",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // profiles has a comment-only requirements.txt: its zip is its own code only (the
    // requirements file is not code, so it does not ship).
    let profiles = zip_names(&d.path("packages/module-access/backend/.build/profiles.zip"));
    assert_eq!(profiles, ["lambda_function.py"]);
    assert_eq!(
        artifacts(&out.json())["module-access/profiles"]["status"],
        "built"
    );
}

/// Copies the demo twice into different directories, disturbs the second copy's mtimes, modes
/// and bytecode, and expects byte-identical zips.
#[test]
fn same_inputs_give_byte_identical_zips_whatever_the_directory_mtimes_or_modes() {
    use std::os::unix::fs::PermissionsExt;
    let a = Demo::new();
    let b = Demo::new();
    for d in [&a, &b] {
        d.write(
            "packages/module-ai/backend/lambdas/provider/requirements.txt",
            "alpha==1.0\n",
        );
    }
    let fn_dir = b.path("packages/module-access/backend/lambdas/profiles");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let handler = fn_dir.join("lambda_function.py");
    std::fs::write(&handler, std::fs::read(&handler).unwrap()).unwrap();
    std::fs::set_permissions(&handler, std::fs::Permissions::from_mode(0o600)).unwrap();
    write(
        &fn_dir.join("__pycache__/lambda_function.cpython-311.pyc"),
        "host bytecode",
    );
    write(
        &b.path("packages/module-ai/backend/lambdas/ai-config/validation.cpython-311.pyc"),
        "x",
    );

    let ha = artifacts(&a.xtask(&["build", "--json"]).ok().json());
    let hb = artifacts(&b.xtask(&["build", "--json"]).ok().json());
    assert_eq!(ha.len(), 11);
    for (id, art) in &ha {
        assert_eq!(
            art["sha256_base64"], hb[id]["sha256_base64"],
            "{id} differs between builds"
        );
    }
}

#[test]
fn second_build_is_all_cached_and_touching_files_changes_nothing() {
    let d = Demo::new();
    let first = artifacts(&d.xtask(&["build", "--json"]).ok().json());
    let second = artifacts(&d.xtask(&["build", "--json"]).ok().json());
    for (id, a) in &second {
        assert_eq!(a["status"], "cached", "{id}");
        assert_eq!(a["sha256_base64"], first[id]["sha256_base64"], "{id}");
    }
    let handler = d.path("packages/module-access/backend/lambdas/orgs/lambda_function.py");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&handler, std::fs::read(&handler).unwrap()).unwrap();
    let third = artifacts(&d.xtask(&["build", "--json"]).ok().json());
    assert!(third.values().all(|a| a["status"] == "cached"));
}

#[test]
fn editing_one_handler_rebuilds_only_that_artifact_without_reinstalling_dependencies() {
    let d = Demo::new();
    d.xtask(&["build"]).ok();
    // With the wheelhouse gone, any reinstall would fail: the dependency cache must serve.
    std::fs::remove_dir_all(d.tmp.path().join("wheelhouse")).unwrap();
    let layer_code =
        d.path("packages/module-access/backend/layers/org-common/python/org_common/responses.py");
    let mut text = std::fs::read_to_string(&layer_code).unwrap();
    text.push_str("\n# edited\n");
    std::fs::write(&layer_code, text).unwrap();
    let handler = d.path("packages/module-ai/backend/lambdas/provider/lambda_function.py");
    let mut text = std::fs::read_to_string(&handler).unwrap();
    text.push_str("\n# edited\n");
    std::fs::write(&handler, text).unwrap();

    let arts = artifacts(&d.xtask(&["build", "--json"]).ok().json());
    let built: Vec<&str> = arts
        .iter()
        .filter(|(_, a)| a["status"] == "built")
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(built, ["module-access/org-common", "module-ai/provider"]);

    // --force reinstalls dependencies too: with no wheelhouse, that now fails.
    let out = d.xtask(&["build", "--force", "--json"]).fails();
    assert_eq!(
        artifacts(&out.json())["module-access/org-common"]["status"],
        "failed"
    );
}

#[test]
fn dependencies_are_compressed_once_per_key_and_copied_into_every_later_zip() {
    let d = Demo::new();
    d.xtask(&["build"]).ok();
    let deps = d.path(".xtask/deps");
    let trees: Vec<std::path::PathBuf> = std::fs::read_dir(&deps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(trees.len(), 1, "{trees:?}");
    let tree = &trees[0];
    let pack = format!(
        "{}.packed-2.zip",
        tree.file_name().unwrap().to_str().unwrap()
    );
    assert!(
        deps.join(&pack).is_file(),
        "no {pack} beside {}",
        tree.display()
    );
    // An installed file changed behind the cache's back, same size: the manifest still holds,
    // and the pack's bytes, compressed when the tree was installed, are what ships.
    let rel = "six.py";
    let original = std::fs::read(tree.join(rel)).unwrap();
    std::fs::write(tree.join(rel), vec![b'#'; original.len()]).unwrap();
    let code = "packages/module-access/backend/layers/org-common/python/org_common/responses.py";
    let mut text = d.read(code);
    text.push_str("\n# edited\n");
    d.write(code, &text);
    d.xtask(&["build"]).ok();
    let zip = d.path("packages/module-access/backend/.build/org-common-layer.zip");
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut shipped = Vec::new();
    std::io::Read::read_to_end(
        &mut z.by_name(&format!("python/{rel}")).unwrap(),
        &mut shipped,
    )
    .unwrap();
    assert!(
        shipped == original,
        "python/{rel} was deflated again from the tree"
    );
}

#[test]
fn changing_a_requirement_reinstalls_and_force_rebuilds_everything() {
    let d = Demo::new();
    let req = "packages/module-ai/backend/lambdas/provider/requirements.txt";
    d.write(req, "beta==1.2\n");
    d.xtask(&["build"]).ok();
    d.write(req, "beta==1.3\n");
    let arts = artifacts(&d.xtask(&["build", "--json"]).ok().json());
    assert_eq!(arts["module-ai/provider"]["status"], "built");
    let zip = d.path("packages/module-ai/backend/.build/provider.zip");
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut z.by_name("beta/__init__.py").unwrap(), &mut body).unwrap();
    assert_eq!(body, "B = 3\n");

    let forced = artifacts(&d.xtask(&["build", "--force", "--json"]).ok().json());
    assert!(forced.values().all(|a| a["status"] == "built"));
}

#[test]
fn an_unresolvable_requirement_fails_that_artifact_names_the_package_and_keeps_the_previous_zip() {
    let d = Demo::new();
    d.xtask(&["build"]).ok();
    let zip = d.path("packages/module-access/backend/.build/org-common-layer.zip");
    let before = std::fs::read(&zip).unwrap();
    d.write(
        "packages/module-access/backend/layers/org-common/requirements.txt",
        "python-dateutil==2.9.0.post0\nnosuchpkg==9.9\n",
    );
    d.write(
        "packages/module-ai/backend/lambdas/provider/lambda_function.py",
        "def lambda_handler(e, c):\n    return 1\n",
    );
    let out = d.xtask(&["build", "--json"]).fails();
    assert_eq!(out.code, 1);
    let arts = artifacts(&out.json());
    let layer = &arts["module-access/org-common"];
    assert_eq!(layer["status"], "failed");
    let err = layer["error"].as_str().unwrap();
    assert!(
        err.contains("package `nosuchpkg` cannot be installed for python3.13 on x86_64"),
        "{err}"
    );
    assert!(err.contains("layers/org-common/requirements.txt"), "{err}");
    // Independent artifacts still build; the failed one keeps its previous good zip.
    assert_eq!(arts["module-ai/provider"]["status"], "built");
    assert_eq!(std::fs::read(&zip).unwrap(), before);
}

#[test]
fn a_platform_wheel_installs_for_x86_64_and_is_refused_for_arm64() {
    let d = Demo::new();
    let req = "packages/module-ai/backend/lambdas/provider/requirements.txt";
    d.write(req, "fastc==0.1\n");
    d.xtask(&["build"]).ok();
    let names = zip_names(&d.path("packages/module-ai/backend/.build/provider.zip"));
    assert!(names.contains(&"fastc/_speed.so".to_string()), "{names:?}");

    // The function's Terraform decides its platform (xtask.toml's `arch` is only the default).
    d.set_attr(
        "module-ai",
        "aws_lambda_function",
        "provider",
        "architectures",
        "[\"arm64\"]",
    );
    let out = d.xtask(&["build", "--json", "--module", "ai"]).fails();
    let err = artifacts(&out.json())["module-ai/provider"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("package `fastc` cannot be installed for python3.13 on arm64"),
        "{err}"
    );
}

#[test]
fn uv_and_pip_produce_the_same_zips() {
    let d = Demo::new();
    d.write(
        "packages/module-ai/backend/lambdas/provider/requirements.txt",
        "alpha==1.0\nfastc==0.1\n",
    );
    let mut hashes = Vec::new();
    for installer in ["uv", "pip"] {
        d.config(&format!("installer = \"{installer}\""));
        let out = d.xtask(&["build", "--json"]).ok();
        assert_eq!(out.json()["installer"], installer);
        let arts = artifacts(&out.json());
        assert_eq!(
            arts["module-ai/provider"]["status"], "built",
            "{installer} did not install"
        );
        hashes.push(
            arts.iter()
                .map(|(k, a)| (k.clone(), a["sha256_base64"].clone()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(hashes[0], hashes[1]);
}

#[test]
fn pip_mode_unpacks_the_wheels_itself_checking_record_and_mapping_data_dirs() {
    use std::io::Write;
    let d = Demo::new();
    // A wheel with a platlib .data directory, a script, and a member whose RECORD hash is wrong.
    let wheel = |good: bool| {
        let body = if good { "G = 1\n" } else { "G = 2\n" };
        let path = d.tmp.path().join("wheelhouse/gamma-1.0-py3-none-any.whl");
        let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        let files = [
            ("gamma/__init__.py", "G = 1\n"),
            ("gamma-1.0.data/platlib/gamma_ext.py", "E = 1\n"),
            ("gamma-1.0.data/scripts/gamma-cli", "#!python\n"),
            (
                "gamma-1.0.dist-info/METADATA",
                "Metadata-Version: 2.1\nName: gamma\nVersion: 1.0\n",
            ),
            (
                "gamma-1.0.dist-info/WHEEL",
                "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            ),
        ];
        let mut record = String::new();
        for (name, text) in files {
            use sha2::Digest;
            let h = base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                sha2::Sha256::digest(text.as_bytes()),
            );
            record.push_str(&format!("{name},sha256={h},{}\n", text.len()));
            z.start_file(name, o).unwrap();
            let text = if name == "gamma/__init__.py" {
                body
            } else {
                text
            };
            z.write_all(text.as_bytes()).unwrap();
        }
        record.push_str("gamma-1.0.dist-info/RECORD,,\n");
        z.start_file("gamma-1.0.dist-info/RECORD", o).unwrap();
        z.write_all(record.as_bytes()).unwrap();
        z.finish().unwrap();
    };
    let req = "packages/module-ai/backend/lambdas/provider/requirements.txt";
    d.write(req, "gamma==1.0\n");
    d.config("installer = \"pip\"");
    wheel(false);
    let out = d.xtask(&["build", "--json", "--module", "ai"]).fails();
    let err = artifacts(&out.json())["module-ai/provider"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains(
            "wheel gamma-1.0-py3-none-any.whl: gamma/__init__.py does not match its RECORD hash"
        ),
        "{err}"
    );
    wheel(true);
    d.xtask(&["build", "--module", "ai"]).ok();
    let names = zip_names(&d.path("packages/module-ai/backend/.build/provider.zip"));
    assert!(
        names.contains(&"gamma/__init__.py".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"gamma_ext.py".to_string()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("gamma-cli") || n.contains(".data/")),
        "{names:?}"
    );
    // uv installs itself (it has no download command): the same zip all the same.
    let zip = d.path("packages/module-ai/backend/.build/provider.zip");
    let by_pip = std::fs::read(&zip).unwrap();
    d.config("installer = \"uv\"");
    d.xtask(&["build", "--module", "ai"]).ok();
    assert!(
        std::fs::read(&zip).unwrap() == by_pip,
        "uv and pip zips differ"
    );
}

#[test]
fn a_directory_without_a_handler_is_an_error_naming_it_unless_excluded() {
    let d = Demo::new();
    d.write(
        "packages/module-access/backend/lambdas/notes/README.md",
        "stray\n",
    );
    let out = d.xtask(&["build", "--json"]).fails();
    let arts = artifacts(&out.json());
    let err = arts["module-access/notes"]["error"].as_str().unwrap();
    assert!(
        err.contains("lambdas/notes has no lambda_function.py"),
        "{err}"
    );
    assert_eq!(arts["module-access/profiles"]["status"], "built");

    d.config("exclude = [\"packages/module-access/backend/lambdas/notes\"]");
    d.xtask(&["build"]).ok();
}

#[test]
fn an_empty_layer_fails_with_the_fix() {
    let d = Demo::new();
    let dir = d.path("packages/module-mgmt/backend/layers/empty-layer/python");
    std::fs::create_dir_all(&dir).unwrap();
    let out = d.xtask(&["build", "--json"]).fails();
    let err = artifacts(&out.json())["module-mgmt/empty-layer"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("layer empty-layer has nothing to ship"),
        "{err}"
    );
    assert!(
        err.contains("put the layer's package under python/<package>/"),
        "{err}"
    );
}

#[test]
fn a_symlink_pointing_outside_the_stack_is_refused() {
    let d = Demo::new();
    let outside = d.tmp.path().join("secret.py");
    write(&outside, "TOKEN = 1\n");
    std::os::unix::fs::symlink(
        &outside,
        d.path("packages/module-access/backend/lambdas/orgs/secret.py"),
    )
    .unwrap();
    let out = d.xtask(&["build", "--json"]).fails();
    let err = artifacts(&out.json())["module-access/orgs"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("lambdas/orgs/secret.py is a symlink to"),
        "{err}"
    );
    assert!(err.contains("outside"), "{err}");
}

#[test]
fn concurrent_builds_of_one_stack_wait_for_each_other() {
    let d = Demo::new();
    let spawn = || {
        std::process::Command::new(xtask_bin())
            .args(["build", "--json", "--stack"])
            .arg(&d.stack)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (spawn(), spawn());
    let outs: Vec<_> = [one, two]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut hashes = Vec::new();
    for o in &outs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let arts = artifacts(&serde_json::from_slice(&o.stdout).unwrap());
        hashes.push(
            arts.into_iter()
                .map(|(k, a)| (k, a["sha256_base64"].clone()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(hashes[0], hashes[1]);
    for (_, a) in artifacts(&d.xtask(&["build", "--json"]).ok().json()) {
        assert_eq!(a["status"], "cached");
    }
}

#[test]
fn a_zip_over_50_mib_fails_and_the_previous_zip_is_kept() {
    let d = Demo::new();
    d.xtask(&["build"]).ok();
    let zip = d.path("packages/module-access/backend/.build/orgs.zip");
    let before = std::fs::read(&zip).unwrap();
    // Incompressible bytes (xorshift), a little over the limit.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let data: Vec<u8> = (0..52_500_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(
        d.path("packages/module-access/backend/lambdas/orgs/model.bin"),
        data,
    )
    .unwrap();
    let out = d.xtask(&["build", "--json", "--module", "access"]).fails();
    let err = artifacts(&out.json())["module-access/orgs"]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("over Lambda's 50 MiB direct-upload limit"),
        "{err}"
    );
    assert_eq!(std::fs::read(&zip).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(zip.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_function_over_250_mib_unzipped_with_its_layers_fails() {
    let d = Demo::new();
    // Zeros compress to almost nothing: the zipped limit holds, the unzipped one does not.
    let f = std::fs::File::create(
        d.path("packages/module-ai/backend/layers/ai-common/python/ai_common/blob.bin"),
    )
    .unwrap();
    f.set_len(263_000_000).unwrap();
    let out = d.xtask(&["build", "--json", "--module", "ai"]).fails();
    let arts = artifacts(&out.json());
    for f in ["module-ai/ai-config", "module-ai/provider"] {
        let err = arts[f]["error"].as_str().unwrap();
        assert!(err.contains("over Lambda's 250 MiB limit"), "{err}");
        assert!(err.contains("module-ai/ai-common"), "{err}");
    }
    assert_eq!(arts["module-ai/ai-common"]["status"], "built");
}

#[test]
fn module_filter_and_unknown_module() {
    let d = Demo::new();
    let arts = artifacts(
        &d.xtask(&["build", "--json", "--module", "mgmt"])
            .ok()
            .json(),
    );
    let names: Vec<&str> = arts.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["module-mgmt/lambda-mgmt", "module-mgmt/mgmt_common"]
    );
    let out = d.xtask(&["build", "--module", "billing"]).fails();
    assert!(
        out.stderr.contains("--module billing: no such module"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("module-access, module-ai, module-mgmt"),
        "{}",
        out.stderr
    );
}

#[test]
fn human_output_is_a_table_with_plain_progress_lines_off_a_terminal() {
    let d = Demo::new();
    let out = d.xtask(&["build"]).ok();
    let header = out.stdout.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["module", "artifact", "kind", "status", "zipped", "unzipped", "sha256", "(base64)"]
    );
    assert!(
        out.stdout.contains("11 built, 0 cached, 0 failed"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("[11/11]"), "{}", out.stderr);
    assert!(
        !out.stderr.contains('\x1b'),
        "no escape codes with NO_COLOR"
    );
}

#[test]
fn clean_removes_outputs_and_caches() {
    let d = Demo::new();
    d.xtask(&["build"]).ok();
    d.xtask(&["clean"]).ok();
    assert!(!d
        .path("packages/module-access/backend/.build/profiles.zip")
        .exists());
    assert!(!d.path(".xtask/deps").exists());
    let arts = artifacts(&d.xtask(&["build", "--json"]).ok().json());
    assert!(arts.values().all(|a| a["status"] == "built"));
}

#[test]
fn a_reader_closing_stdout_early_is_not_a_crash() {
    let d = Demo::new();
    // build, then cached, then clean: each has output to print into the closed pipe.
    for args in [&["build"][..], &["build", "--json"], &["clean"]] {
        let out = d.xtask_closed_stdout(args);
        assert_eq!(out.code, 0, "{args:?}:\n{}", out.stderr);
        assert!(
            !out.stderr.contains("panicked"),
            "{args:?}:\n{}",
            out.stderr
        );
    }
    assert!(!d.path(".xtask/deps").exists(), "clean ran to the end");
}

#[test]
fn config_errors_name_the_file_and_key() {
    let d = Demo::new();
    d.config("arch = \"sparc\"");
    let out = d.xtask(&["build"]).fails();
    assert!(out.stderr.contains("xtask.toml"), "{}", out.stderr);
    assert!(out.stderr.contains("sparc"), "{}", out.stderr);
}

#[test]
fn install_script_drops_the_xtask_into_a_stack_repo() {
    let d = Demo::new();
    let run_install = || {
        let mut cmd = std::process::Command::new(workspace().join("scripts/install.sh"));
        cmd.arg(&d.stack);
        run(cmd)
    };
    let out = run_install().ok();
    assert!(out.stdout.contains("created"), "{}", out.stdout);
    assert!(d.path("xtask/src/main.rs").is_file());
    assert!(d
        .read(".cargo/config.toml")
        .contains("xtask = \"run --package xtask --\""));
    assert!(d.read(".gitignore").lines().any(|l| l == ".xtask/"));
    // The result is a valid workspace with the xtask package in it.
    let mut meta =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    meta.args([
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
        "--offline",
    ])
    .current_dir(&d.stack);
    let meta = run(meta).ok().json();
    assert_eq!(meta["packages"][0]["name"], "xtask");
    // Running it again updates in place and keeps the user's files.
    d.write("Cargo.toml", &(d.read("Cargo.toml") + "\n# mine\n"));
    run_install().ok();
    assert!(d.read("Cargo.toml").ends_with("# mine\n"));
    assert_eq!(
        d.read(".gitignore")
            .lines()
            .filter(|l| *l == ".xtask/")
            .count(),
        1
    );
}

/// Issue 18: behind a wrapper script or a version manager's shim (pyenv), uv cannot cache its
/// query of the interpreter and ran Python again for every dependency set (~60 ms each); the
/// build now names the interpreter by its real path, found once.
#[test]
fn uv_queries_the_python_behind_a_shim_once_per_build_not_once_per_install() {
    use std::os::unix::fs::PermissionsExt;
    let d = Demo::new();
    d.config("installer = \"uv\"");
    d.write(
        "packages/module-ai/backend/lambdas/provider/requirements.txt",
        "alpha==1.0\n",
    );
    d.write(
        "packages/module-access/backend/lambdas/orgs/requirements.txt",
        "fastc==0.1\n",
    );
    // The real binaries (pyenv's shims would put their own directory first on uv's PATH).
    let real = |tool: &str| {
        let out = std::process::Command::new("sh")
            .args([
                "-c",
                &format!("pyenv which {tool} 2>/dev/null || command -v {tool}"),
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let bin = d.tmp.path().join("bin");
    let calls = d.tmp.path().join("python-calls");
    let shim = |tool: &str, count: bool| {
        let log = match count {
            true => format!("echo run >> '{}'\n", calls.display()),
            false => String::new(),
        };
        let body = format!("#!/bin/sh\n{log}exec '{}' \"$@\"\n", real(tool));
        write(&bin.join(tool), &body);
        std::fs::set_permissions(bin.join(tool), std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    shim("python3", true);
    shim("uv", false);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = d.xtask_env(&["build", "--json"], &[("PATH", &path)]).ok();
    let built = artifacts(&out.json())
        .values()
        .filter(|a| a["status"] == "built")
        .count();
    assert_eq!(built, 11);
    let ran = std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(
        ran.lines().count(),
        1,
        "python3 through the shim ran {ran:?}"
    );
}
