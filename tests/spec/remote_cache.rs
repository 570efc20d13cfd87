//! The build cache shared through S3 (issue 12 §2): against moto_server on loopback, with the
//! client the xtask has (presigned requests through curl), as CI runners would share a bucket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{artifacts, workspace, write, Demo, Out};
use crate::local_aws::LocalAws;

const BUCKET: &str = "xtask-cache";
const URL: &str = "s3://xtask-cache/acme/stack";

/// A moto with an empty cache bucket.
fn cache_server() -> Option<LocalAws> {
    let aws = LocalAws::start()?;
    aws.aws(&["s3api", "create-bucket", "--bucket", BUCKET]);
    Some(aws)
}

/// A demo copy that asks for uv by name, as a CI stack would, so a runner without it keys the same.
fn stack() -> Demo {
    let d = Demo::new();
    d.config("installer = \"uv\"");
    d
}

fn build(d: &Demo, aws: &LocalAws, extra_env: &[(&str, &str)], args: &[&str]) -> Out {
    let mut env = aws.env_refs();
    env.push(("XTASK_CACHE", URL));
    env.extend_from_slice(extra_env);
    let mut all = vec!["build", "--json"];
    all.extend_from_slice(args);
    d.xtask_env(&all, &env)
}

/// Object keys in the cache bucket.
fn objects(aws: &LocalAws) -> Vec<String> {
    let v = aws.aws(&["s3api", "list-objects-v2", "--bucket", BUCKET]);
    let mut keys: Vec<String> = v["Contents"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|o| o["Key"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

/// status and zip bytes of every artifact of a `build --json` report, by `module/name`.
fn outcome(out: &Out) -> BTreeMap<String, (String, Vec<u8>)> {
    artifacts(&out.json())
        .into_iter()
        .map(|(id, a)| {
            let status = a["status"].as_str().unwrap().to_string();
            let zip = std::fs::read(a["path"].as_str().unwrap()).unwrap_or_default();
            (id, (status, zip))
        })
        .collect()
}

fn statuses(o: &BTreeMap<String, (String, Vec<u8>)>) -> BTreeMap<String, String> {
    o.iter()
        .map(|(id, (s, _))| (id.clone(), s.clone()))
        .collect()
}

fn all(o: &BTreeMap<String, (String, Vec<u8>)>, status: &str) -> bool {
    !o.is_empty() && o.values().all(|(s, _)| s == status)
}

/// curl, which the xtask talks to S3 through.
fn curl() -> PathBuf {
    find_curl().expect("curl is on PATH (CI installs it)")
}

fn find_curl() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("curl"))
            .find(|p| p.is_file())
    })
}

/// Whether the specs that need no moto but curl can run: a failure under CI, a skip elsewhere.
fn have_curl() -> bool {
    if find_curl().is_some() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must install curl");
    eprintln!("SKIPPED: curl is not on PATH");
    false
}

/// A PATH holding only curl: no uv, no python3, no pip, no aws CLI.
fn path_with_only_curl(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::os::unix::fs::symlink(curl(), dir.join("curl")).unwrap();
    dir.display().to_string()
}

#[test]
fn a_fresh_clone_without_an_installer_gets_every_zip_from_the_cache_byte_identical() {
    let Some(aws) = cache_server() else { return };
    let a = stack();
    let first = outcome(&build(&a, &aws, &[], &[]).ok());
    assert!(all(&first, "built"), "{:?}", statuses(&first));
    let stored = objects(&aws);
    assert!(
        stored
            .iter()
            .filter(|k| k.starts_with("acme/stack/v2/artifacts/"))
            .count()
            == first.len()
            && stored.iter().all(|k| k.starts_with("acme/stack/")),
        "{stored:?}"
    );

    // Another machine: another path, an empty .xtask/, nothing to install with.
    let b = stack();
    let bin = b.tmp.path().join("only-curl");
    let path = path_with_only_curl(&bin);
    let out = build(&b, &aws, &[("PATH", &path)], &[]).ok();
    assert!(out.json()["installer"].is_null(), "{}", out.stdout);
    let second = outcome(&out);
    assert!(
        all(&second, "remote"),
        "{:?}\n{}",
        statuses(&second),
        out.stderr
    );
    assert_eq!(first.len(), second.len());
    for (id, (_, zip)) in &first {
        assert!(
            second[id].1 == *zip,
            "{id}: the downloaded zip differs from A's"
        );
    }
    assert!(
        !b.path(".xtask/deps").read_dir().unwrap().any(|e| {
            let name = e.unwrap().file_name();
            !name.to_string_lossy().starts_with('.')
        }),
        "nothing was installed"
    );
    // The state knows them: the next build is a no-op without the cache.
    let again = outcome(&b.xtask_env(&["build", "--json"], &[("PATH", &path)]).ok());
    assert!(all(&again, "cached"), "{:?}", statuses(&again));
}

#[test]
fn a_read_only_run_downloads_hits_and_uploads_nothing() {
    let Some(aws) = cache_server() else { return };
    let a = stack();
    build(&a, &aws, &[], &[]).ok();
    let before = objects(&aws);

    let b = stack();
    let handler = "packages/module-access/backend/lambdas/profiles/lambda_function.py";
    let text = b.read(handler);
    b.write(handler, &format!("{text}\n# edited on a branch\n"));
    let out = build(&b, &aws, &[], &["--cache-read-only"]).ok();
    let o = statuses(&outcome(&out));
    assert_eq!(o["module-access/profiles"], "built", "{o:?}");
    let remote = o.values().filter(|s| *s == "remote").count();
    assert_eq!(remote, o.len() - 1, "{o:?}");
    assert_eq!(objects(&aws), before, "a read-only run uploaded");

    // read_only in xtask.toml does the same.
    let c = stack();
    c.config("installer = \"uv\"\n[cache]\nread_only = true");
    c.write(handler, &format!("{text}\n# another edit\n"));
    let o = statuses(&outcome(&build(&c, &aws, &[], &[]).ok()));
    assert_eq!(o["module-access/profiles"], "built", "{o:?}");
    assert_eq!(objects(&aws), before, "read_only = true uploaded");
}

#[test]
fn a_corrupted_object_is_caught_by_its_hash_rebuilt_locally_and_not_trusted() {
    let Some(aws) = cache_server() else { return };
    let a = stack();
    let first = outcome(&build(&a, &aws, &[], &[]).ok());
    let stored = objects(&aws);
    let mut victims = stored
        .iter()
        .filter(|k| k.starts_with("acme/stack/v2/artifacts/"));
    let (flipped, headless) = (victims.next().unwrap(), victims.next().unwrap());
    let local = a.tmp.path().join("obj");
    let file = local.to_str().unwrap();
    let replace = |key: &str, damage: &dyn Fn(&mut Vec<u8>)| {
        aws.aws(&[
            "s3api",
            "get-object",
            "--bucket",
            BUCKET,
            "--key",
            key,
            file,
        ]);
        let mut bytes = std::fs::read(&local).unwrap();
        damage(&mut bytes);
        std::fs::write(&local, bytes).unwrap();
        aws.aws(&[
            "s3api",
            "put-object",
            "--bucket",
            BUCKET,
            "--key",
            key,
            "--body",
            file,
        ]);
    };
    // One byte of one object's zip flipped in the bucket (bit rot, a bad proxy, a tamperer);
    // another object cut before the line that says where its zip ends (a truncated upload).
    replace(flipped, &|b| b[30] ^= 0x55);
    replace(headless, &|b| {
        let end = b[..b.len() - 1].iter().rposition(|c| *c == b'\n').unwrap();
        b.truncate(end + 1);
    });

    let b = stack();
    let out = build(&b, &aws, &[], &[]).ok();
    let second = outcome(&out);
    let built: Vec<&String> = second
        .iter()
        .filter(|(_, (s, _))| s == "built")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(built.len(), 2, "{:?}\n{}", statuses(&second), out.stderr);
    assert_eq!(
        second.values().filter(|(s, _)| s == "remote").count(),
        second.len() - 2
    );
    let warned = |key: &str, why: &str| {
        out.stderr.lines().any(|l| {
            l.contains("is not trusted")
                && l.contains(&format!("{BUCKET}/{key}"))
                && l.contains(why)
        })
    };
    assert!(warned(flipped, "does not match"), "{}", out.stderr);
    assert!(warned(headless, "does not end with"), "{}", out.stderr);
    for (id, (_, zip)) in &first {
        assert!(second[id].1 == *zip, "{id}: differs from A's");
    }
    // Nothing half-checked is left beside the zips.
    for (_, a) in artifacts(&out.json()) {
        let dir = Path::new(a["path"].as_str().unwrap()).parent().unwrap();
        for e in dir.read_dir().unwrap() {
            let name = e.unwrap().file_name();
            assert!(
                name.to_string_lossy().ends_with(".zip"),
                "{name:?} left in {dir:?}"
            );
        }
    }
}

#[test]
fn the_cache_stopped_mid_build_falls_back_to_local_builds() {
    let Some(aws) = cache_server() else { return };
    let a = stack();
    let first = outcome(&build(&a, &aws, &[], &[]).ok());

    // The first curl call (the layers' lookup) reaches the cache; before the second (the
    // functions') the server is stopped.
    let b = stack();
    let bin = b.tmp.path().join("wrap");
    write(
        &bin.join("curl"),
        &format!(
            "#!/bin/sh\nif [ -e \"$0.called\" ]; then {} stop {} >/dev/null 2>&1; fi\n\
             : > \"$0.called\"\nexec {} \"$@\"\n",
            workspace().join("scripts/local-aws.sh").display(),
            aws.dir.path().display(),
            curl().display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("curl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = build(&b, &aws, &[("PATH", &path)], &[]).ok();
    let second = outcome(&out);
    for (id, (status, zip)) in &second {
        let layer = out.json()["artifacts"].as_array().unwrap().iter().any(|x| {
            format!(
                "{}/{}",
                x["module"].as_str().unwrap(),
                x["name"].as_str().unwrap()
            ) == *id
                && x["kind"] == "layer"
        });
        let want = if layer { "remote" } else { "built" };
        assert_eq!(
            status,
            want,
            "{id}: {:?}\n{}",
            statuses(&second),
            out.stderr
        );
        assert!(first[id].1 == *zip, "{id}: differs from A's");
    }
    assert!(
        out.stderr
            .contains("shared cache s3://xtask-cache/acme/stack: cannot read"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_cache_that_never_answers_is_a_warning_after_its_timeout() {
    if !have_curl() {
        return;
    }
    // Accepts connections (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let d = stack();
    d.config("installer = \"uv\"\n[cache]\nurl = \"s3://xtask-cache/p\"\ntimeout = 1");
    let started = std::time::Instant::now();
    let out = d
        .xtask_env(
            &["build", "--json"],
            &[
                ("AWS_ENDPOINT_URL", &endpoint),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "key-that-is-secret"),
                ("AWS_SESSION_TOKEN", "token-that-is-secret"),
                ("AWS_REGION", "us-east-1"),
            ],
        )
        .ok();
    let o = outcome(&out);
    assert!(all(&o, "built"), "{:?}", statuses(&o));
    assert!(
        out.stderr
            .contains("shared cache s3://xtask-cache/p: cannot read")
            && out.stderr.contains("building locally"),
        "{}",
        out.stderr
    );
    // One timeout, then the cache is off: not one per artifact.
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    for secret in ["key-that-is-secret", "token-that-is-secret", "X-Amz-"] {
        assert!(
            !out.stderr.contains(secret),
            "{secret} printed:\n{}",
            out.stderr
        );
        assert!(!out.stdout.contains(secret), "{secret} printed");
    }
    drop(silent);
}

#[test]
fn a_runner_without_an_installer_builds_an_edited_layer_from_the_shared_dependency_set() {
    let Some(aws) = cache_server() else { return };
    let a = stack();
    build(&a, &aws, &[], &[]).ok();
    let deps: Vec<String> = objects(&aws)
        .into_iter()
        .filter(|k| k.starts_with("acme/stack/v2/deps/"))
        .collect();
    assert_eq!(deps.len(), 1, "org-common's python-dateutil set: {deps:?}");

    // The layer's own code changed: its zip is not in the cache, its dependencies are.
    let b = stack();
    let file = "packages/module-access/backend/layers/org-common/python/org_common/errors.py";
    let text = b.read(file);
    b.write(file, &format!("{text}\n# edited\n"));
    let path = path_with_only_curl(&b.tmp.path().join("only-curl"));
    let out = build(&b, &aws, &[("PATH", &path)], &[]).ok();
    let o = statuses(&outcome(&out));
    assert_eq!(
        o["module-access/org-common"], "built",
        "{o:?}\n{}",
        out.stderr
    );
    assert_eq!(
        o.values().filter(|s| *s == "remote").count(),
        o.len() - 1,
        "{o:?}"
    );
    let zip = b.path("packages/module-access/backend/.build/org-common-layer.zip");
    let names = crate::common::zip_names(&zip);
    assert!(
        names.iter().any(|n| n.starts_with("python/dateutil/")),
        "{names:?}"
    );
}

#[test]
fn an_object_another_runner_stored_meanwhile_is_not_overwritten() {
    let Some(aws) = cache_server() else { return };
    // Runner A looks every key up and misses; just before its upload, another runner stores
    // an object under each of those keys. A's conditional writes must leave them as they are.
    let a = stack();
    let bin = a.tmp.path().join("wrap");
    let marker = a.tmp.path().join("marker");
    write(&marker, "stored by another runner\n");
    write(
        &bin.join("curl"),
        &format!(
            "#!/bin/sh\ncfg=$(cat)\nif printf '%s\\n' \"$cfg\" | grep -q '^upload-file'; then\n\
             printf '%s\\n' \"$cfg\" | sed -n 's|^url = \"http://[^/]*/\\([^?]*\\)?.*|\\1|p' |\n\
             while read -r key; do aws s3 cp --only-show-errors {} \"s3://$key\"; done\nfi\n\
             printf '%s\\n' \"$cfg\" | exec {} \"$@\"\n",
            marker.display(),
            curl().display()
        ),
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("curl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = build(&a, &aws, &[("PATH", &path)], &[]).ok();
    assert!(all(&outcome(&out), "built"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("shared cache"),
        "a refused conditional write is not a failure:\n{}",
        out.stderr
    );
    let v = aws.aws(&["s3api", "list-objects-v2", "--bucket", BUCKET]);
    let sizes: Vec<(String, u64)> = v["Contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["Key"].as_str().unwrap().into(),
                o["Size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(sizes.len() >= 11, "{sizes:?}");
    for (key, size) in &sizes {
        assert_eq!(*size, 25, "{key} was overwritten");
    }
}

/// The local API's variables without its keys: credentials must come from elsewhere.
fn env_without_keys(aws: &LocalAws) -> Vec<(&str, &str)> {
    let mut env: Vec<(&str, &str)> = aws
        .env_refs()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .collect();
    env.push(("XTASK_CACHE", URL));
    env
}

#[test]
fn credentials_come_from_the_profile_in_the_shared_files() {
    let Some(aws) = cache_server() else { return };
    let a = stack();
    build(&a, &aws, &[], &[]).ok();

    // Machine B has no keys in its environment, only a named profile in its AWS files (with
    // its own region), as a developer's laptop does.
    let b = stack();
    let home = b.tmp.path().join("home");
    write(
        &home.join(".aws/credentials"),
        "[default]\naws_access_key_id = WRONG\n\n[cache]\naws_access_key_id = AKIDPROFILE\n\
         aws_secret_access_key = profile-secret\n",
    );
    write(
        &home.join(".aws/config"),
        "[profile cache]\nregion = us-east-1\n",
    );
    let mut env = env_without_keys(&aws);
    let home_s = home.display().to_string();
    env.extend([("HOME", home_s.as_str()), ("AWS_PROFILE", "cache")]);
    let out = b.xtask_env(&["build", "--json"], &env).ok();
    let o = outcome(&out);
    assert!(all(&o, "remote"), "{:?}\n{}", statuses(&o), out.stderr);
    assert!(!out.stderr.contains("profile-secret"));
    // The requests were signed with the profile's key (moto logs each request line).
    let log = std::fs::read_to_string(aws.dir.path().join("moto.log")).unwrap();
    assert!(
        log.contains("X-Amz-Credential=AKIDPROFILE/")
            || log.contains("X-Amz-Credential=AKIDPROFILE%2F"),
        "{log}"
    );
    assert!(!log.contains("X-Amz-Credential=WRONG"));
}

#[test]
fn no_credentials_at_all_is_one_warning_saying_what_to_set_and_a_local_build() {
    let Some(aws) = cache_server() else { return };
    let d = stack();
    // No keys in the environment, no AWS files; the aws CLI here (v1) cannot help either.
    let none = d.tmp.path().join("no-such-file");
    let none = none.display().to_string();
    let mut env = env_without_keys(&aws);
    env.extend([
        ("AWS_SHARED_CREDENTIALS_FILE", none.as_str()),
        ("AWS_CONFIG_FILE", none.as_str()),
    ]);
    let out = d.xtask_env(&["build", "--json"], &env).ok();
    let o = outcome(&out);
    assert!(all(&o, "built"), "{:?}\n{}", statuses(&o), out.stderr);
    assert_eq!(
        out.stderr.matches("is off for this build").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("no AWS credentials found for profile default")
            && out.stderr.contains("AWS_ACCESS_KEY_ID"),
        "{}",
        out.stderr
    );
    assert!(
        objects(&aws).is_empty(),
        "nothing uploaded without credentials"
    );
}

#[test]
fn a_cache_that_refuses_the_credentials_is_one_warning_naming_the_policy() {
    if !have_curl() {
        return;
    }
    // An S3 that answers every request 403 AccessDenied, as a bucket policy without the
    // xtask's actions does.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", server.local_addr().unwrap());
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = requests.clone();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for conn in server.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied\
                        </Code><Message>Access Denied</Message></Error>";
            let _ = write!(
                conn,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: \
                 {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let d = stack();
    d.config("installer = \"uv\"\n[cache]\nurl = \"s3://xtask-cache/p\"");
    let out = d
        .xtask_env(
            &["build", "--json"],
            &[
                ("AWS_ENDPOINT_URL", &endpoint),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_REGION", "us-east-1"),
            ],
        )
        .ok();
    let o = outcome(&out);
    assert!(all(&o, "built"), "{:?}", statuses(&o));
    assert_eq!(
        out.stderr.matches("shared cache").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "shared cache s3://xtask-cache/p: cannot read (HTTP 403 AccessDenied: Access Denied)"
        ) && out.stderr.contains("s3:ListBucket"),
        "{}",
        out.stderr
    );
    // The layers' batch only: once refused, the cache is not called again.
    let report = out.json();
    let layers = report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "layer")
        .count();
    assert!(
        requests.load(std::sync::atomic::Ordering::SeqCst) <= layers,
        "{} requests",
        requests.load(std::sync::atomic::Ordering::SeqCst)
    );
}
