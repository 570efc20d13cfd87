//! What every subcommand shares: `--help` with examples and exit codes, `--quiet`, `--color`,
//! shell completions, and the build table fitted to the terminal.

use std::process::Command;

use crate::common::{run, xtask_bin, Demo, Out};

const SUBCOMMANDS: [&str; 12] = [
    "build",
    "check",
    "clean",
    "completions",
    "lock",
    "size",
    "plan",
    "apply",
    "deploy",
    "release",
    "smoke",
    "verify",
];

/// The xtask outside any stack, with the given env: help and completions need none.
fn anywhere(args: &[&str], env: &[(&str, &str)]) -> Out {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(xtask_bin());
    cmd.args(args).current_dir(tmp.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd)
}

/// The subcommands `--help` lists (clap's own `help` aside): a new one is held to the same bar.
fn listed_subcommands() -> Vec<String> {
    let root = anywhere(&["--help"], &[]).ok().stdout;
    let list: Vec<String> = root
        .split("Commands:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{root}"))
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect();
    for sub in SUBCOMMANDS {
        assert!(list.iter().any(|l| l == sub), "{sub} not in:\n{root}");
    }
    list
}

#[test]
fn every_subcommand_help_has_examples_and_exit_codes() {
    for sub in listed_subcommands() {
        let sub = sub.as_str();
        for flag in ["-h", "--help"] {
            let out = anywhere(&[sub, flag], &[]).ok();
            assert!(
                out.stdout
                    .contains(&format!("Examples:\n  cargo xtask {sub}"))
                    || (sub == "completions" && out.stdout.contains("Examples:\n")),
                "{sub} {flag}:\n{}",
                out.stdout
            );
            assert!(
                out.stdout.contains("Exit codes: 0 ") && out.stdout.contains("64 bad command line"),
                "{sub} {flag}:\n{}",
                out.stdout
            );
        }
    }
    let root = anywhere(&["--help"], &[]).ok();
    assert!(root.stdout.contains("Examples:") && root.stdout.contains("Exit codes:"));
}

#[test]
fn completions_for_bash_zsh_and_fish_name_every_subcommand_and_need_no_stack() {
    for shell in ["bash", "zsh", "fish"] {
        let out = anywhere(&["completions", shell], &[]).ok();
        for word in SUBCOMMANDS.iter().chain(&["--cache-read-only", "--quiet"]) {
            let word = word.trim_start_matches('-');
            assert!(out.stdout.contains(word), "{shell}: no {word}");
        }
    }
    let bash = anywhere(&["completions", "bash"], &[]).ok();
    assert!(
        bash.stdout.contains("complete -F _xtask"),
        "{}",
        bash.stdout
    );
    let out = anywhere(&["completions", "tcsh"], &[]);
    assert_eq!(out.code, 64, "{out:?}");
}

fn build(d: &Demo, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(xtask_bin());
    cmd.arg("build")
        .args(args)
        .arg("--stack")
        .arg(&d.stack)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("COLUMNS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd).ok()
}

#[test]
fn quiet_prints_the_table_and_no_progress() {
    let d = Demo::new();
    let loud = build(&d, &[], &[]);
    assert!(loud.stderr.contains("[1/"), "{}", loud.stderr);
    let quiet = build(&d, &["-q"], &[]);
    assert_eq!(quiet.stderr, "", "progress under --quiet");
    assert!(quiet.stdout.contains("cached"), "{}", quiet.stdout);
    // Errors still reach stderr.
    d.write(
        "packages/module-access/backend/lambdas/orgs/requirements.txt",
        "no-such-dist==1\n",
    );
    let mut cmd = Command::new(xtask_bin());
    cmd.args(["build", "--quiet", "--stack"]).arg(&d.stack);
    let failed = run(cmd).fails();
    assert!(failed.stderr.contains("error:"), "{}", failed.stderr);
    assert!(!failed.stderr.contains("[1/"), "{}", failed.stderr);
}

#[test]
fn color_follows_the_flag_then_no_color_then_clicolor_force() {
    let d = Demo::new();
    let esc = |o: &Out| o.stdout.contains('\u{1b}');
    // Off a terminal: plain by default, coloured when forced.
    assert!(!esc(&build(&d, &[], &[])));
    assert!(esc(&build(&d, &[], &[("CLICOLOR_FORCE", "1")])));
    assert!(!esc(&build(&d, &[], &[("CLICOLOR_FORCE", "0")])));
    assert!(!esc(&build(
        &d,
        &[],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    )));
    assert!(esc(&build(
        &d,
        &["--color", "always"],
        &[("NO_COLOR", "1")]
    )));
    assert!(!esc(&build(
        &d,
        &["--color=never"],
        &[("CLICOLOR_FORCE", "1")]
    )));
    let mut cmd = Command::new(xtask_bin());
    cmd.args(["build", "--color", "sometimes", "--stack"])
        .arg(&d.stack);
    assert_eq!(run(cmd).code, 64);
}

#[test]
fn the_build_table_has_a_kind_column_and_fits_columns_with_the_full_hash_in_json() {
    let d = Demo::new();
    let json = build(&d, &["--json"], &[("COLUMNS", "100")]).json();
    let hashes: Vec<String> = json["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sha256_base64"].as_str().unwrap().to_string())
        .collect();
    assert!(hashes.iter().all(|h| h.len() == 44), "{hashes:?}");

    let narrow = build(&d, &[], &[("COLUMNS", "100")]);
    let table: Vec<&str> = narrow.stdout.lines().take(hashes.len() + 1).collect();
    assert!(table[0].contains("kind"), "{}", narrow.stdout);
    assert!(
        table.iter().any(|l| l.contains(" function "))
            && table.iter().any(|l| l.contains(" layer ")),
        "{}",
        narrow.stdout
    );
    for line in &table {
        assert!(line.chars().count() <= 100, "{} wide: {line}", line.len());
    }
    assert!(hashes.iter().all(|h| !narrow.stdout.contains(h.as_str())));
    assert!(
        table[1..].iter().all(|l| l.ends_with('…')),
        "{}",
        narrow.stdout
    );

    // A pipe with no COLUMNS (logs, scripts) gets every hash in full.
    let full = build(&d, &[], &[]);
    assert!(hashes.iter().all(|h| full.stdout.contains(h.as_str())));
}
