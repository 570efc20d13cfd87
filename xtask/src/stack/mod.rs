//! Reading the stack: what exists on disk (`discover`), the parsed `.tf` files (`hcl`) and what
//! Terraform deploys (`eval`, `model`). Only this module parses `.tf` files (see architecture.md).

pub mod discover;
// Read by `model` and the `stack` command; until then some of the API is unused.
#[allow(dead_code)]
pub mod eval;
#[allow(dead_code)]
pub mod funcs;
pub mod hcl;
#[allow(dead_code)]
mod refs;
pub mod terraform;
#[allow(dead_code)]
pub mod tree;
#[allow(dead_code)]
pub mod value;

#[cfg(test)]
mod eval_tests;
