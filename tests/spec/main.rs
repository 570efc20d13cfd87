//! Specs for `cargo xtask`, one module per subcommand. Each test runs the real binary on a
//! fresh copy of the bundled demo (see `common`).

mod common;

mod build;
mod check;
mod faults;
mod install;
mod local_aws;
mod plan;
mod smoke;
mod verify;
