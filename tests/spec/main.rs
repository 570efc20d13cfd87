//! Specs for `cargo xtask`, one module per subcommand. Each test runs the real binary on a
//! fresh copy of the bundled demo (see `common`).

mod common;

mod arch;
mod bootstrap;
mod build;
mod check;
mod cli;
mod deploy;
mod doctor;
mod faults;
mod install;
mod keys;
mod local_aws;
mod lock;
mod pip_server;
mod plan;
mod release;
mod remote_cache;
mod scaffold;
mod ships;
mod size;
mod smoke;
mod stack;
mod truth;
mod verify;
mod zip_layout;
