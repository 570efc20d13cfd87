//! The text after each subcommand's flags in `--help`: examples, then exit codes. One place, so
//! every subcommand has both and they read alike. (The codes themselves: see main.rs.)

/// `Examples:` and `Exit codes:` blocks, as clap's `after_help`.
macro_rules! after {
    ($examples:expr, $codes:expr) => {
        concat!("Examples:\n", $examples, "\nExit codes: ", $codes)
    };
}

/// Every command that runs at all may also end with these.
macro_rules! common {
    () => {
        ", 64 bad command line, 130 cancelled (SIGINT, Ctrl-C), 143 cancelled (SIGTERM)."
    };
}

pub const ROOT: &str = concat!(
    "Examples:\n",
    "  cargo xtask build                  build every function and layer\n",
    "  cargo xtask plan --env prod        build, check, smoke, terraform plan\n",
    "  cargo xtask build --help           a subcommand's flags, examples and exit codes\n",
    "\nExit codes: 0 ok, 1 failure, 2 plan has changes pending",
    common!(),
    "\nProgress goes to stderr (bars on a terminal, plain lines otherwise; none with --quiet); \
     tables and --json go to stdout."
);

pub const BUILD: &str = after!(
    "  cargo xtask build                                 every artifact, incrementally
  cargo xtask build --module access --force         rebuild one module's artifacts
  cargo xtask build --locked --cache s3://b/p       CI: locks required, shared cache
  cargo xtask build --json | jq '.artifacts[].sha256_base64'
",
    concat!(
        "0 every artifact built or cached, 1 an artifact failed",
        common!()
    )
);

pub const CHECK: &str = after!(
    "  cargo xtask check                     the stack and envs/dev
  cargo xtask check --env prod --json   findings as JSON
  cargo xtask check --fix --dry-run     print the mechanical fixes, write nothing
",
    concat!(
        "0 no error finding (warnings allowed), 1 an error finding",
        common!()
    )
);

pub const CLEAN: &str = after!(
    "  cargo xtask clean                     remove the zips, the build state and the dependency cache
",
    concat!("0 removed (or nothing to remove), 1 a file could not be removed", common!())
);

pub const LOCK: &str = after!(
    "  cargo xtask lock                      lock what is not locked yet, keep the rest
  cargo xtask lock --upgrade requests   move one package to its newest allowed version
",
    concat!("0 ok, 1 a requirements file does not resolve", common!())
);

pub const SIZE: &str = after!(
    "  cargo xtask size                      every artifact
  cargo xtask size access/profiles --top 10
",
    concat!("0 ok, 1 a listed artifact failed to build", common!())
);

pub const PLAN: &str = after!(
    "  cargo xtask plan                                   envs/dev
  cargo xtask plan --env prod --markdown plan.md
  cargo xtask plan -- -target=module.module_access   terraform plan arguments after --
  cargo xtask plan -- -replace=module.module_access.aws_lambda_function.profiles
  cargo xtask plan --env prd --release git-0a1b2c3d4e5f   a release's zips, nothing built
",
    concat!("0 no changes, 2 changes pending, 1 failure", common!())
);

pub const APPLY: &str = after!(
    "  cargo xtask apply                     apply envs/dev's saved plan
  cargo xtask apply --env prod --auto-approve
",
    concat!("0 applied (or nothing to apply), 1 failure", common!())
);

pub const DEPLOY: &str = after!(
    "  cargo xtask deploy --env dev                       a fresh env: bootstrap stage, then the whole env
  cargo xtask deploy --env prod --auto-approve --json
  cargo xtask deploy --env prd --release git-0a1b2c3d4e5f   promote a release: no build
  cargo xtask deploy --env prd --release s3://b/p/releases/v1.4/release.json
  cargo xtask deploy --no-bootstrap                  never derive stages (check's F19/F20 are errors)
",
    concat!("0 deployed (or nothing to change), 1 failure", common!())
);

pub const SMOKE: &str = after!(
    "  cargo xtask smoke                     import every handler
  cargo xtask smoke --module access --require
",
    concat!(
        "0 nothing failed, 1 a function failed (or --require without an interpreter, or nothing \
         imported without --allow-skip)",
        common!()
    )
);

pub const STACK: &str = after!(
    "  cargo xtask stack                     every function: zip, runtime, arch, layers, routes
  cargo xtask stack chat --env prod     one function, read from envs/prod
  cargo xtask stack --json | jq '.functions[].layers'
",
    concat!(
        "0 printed (unknowns included: they are reported, not failures), 1 a .tf file does not \
         parse",
        common!()
    )
);

pub const VERIFY: &str = after!(
    "  cargo xtask verify                    state, local zips and live AWS for envs/dev
  cargo xtask verify --offline          state and local zips only
  cargo xtask verify --http --env prod  also request every route
  cargo xtask verify --env prd --same-as dev          live CodeSha256 per function, side by side
  cargo xtask verify --env prd --release v1.4         live CodeSha256 = the release's zips
",
    concat!("0 every check passed, 1 a check failed", common!())
);

pub const RELEASE: &str = after!(
    "  cargo xtask release --env dev                     the build dev verified, as git-<commit>
  cargo xtask release --env dev --name v1.4 --json  named; the manifest on stdout
",
    concat!(
        "0 stored (or stored already, unchanged), 1 refused (a failed artifact, no passing live \
         verify of --env against these zips, a name stored with other zips) or the store failed",
        common!()
    )
);

pub const COMPLETIONS: &str = after!(
    "  alias xtask='cargo xtask'; source <(cargo xtask completions bash)   in ~/.bashrc
  cargo xtask completions zsh > ~/.zfunc/_xtask    with alias xtask='cargo xtask'
  cargo xtask completions fish > ~/.config/fish/completions/xtask.fish
",
    concat!("0 printed", common!())
);

pub const NEW: &str = after!(
    "  cargo xtask new module billing        packages/module-billing, called from every env
  cargo xtask new env staging --from dev   envs/staging: var files without their secrets
",
    concat!(
        "0 created, 1 it exists or cannot be written (an invalid name is a bad command line)",
        common!()
    )
);

pub const DOCTOR: &str = after!(
    "  cargo xtask doctor                    every prerequisite, its version and the fix
  cargo xtask doctor --json             the same, for a script
",
    concat!(
        "0 nothing the configured features need is missing (warnings allowed), 1 something is",
        common!()
    )
);
