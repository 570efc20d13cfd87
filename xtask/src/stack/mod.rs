//! Reading the stack: what exists on disk (`discover`), the parsed `.tf` files (`hcl`) and what
//! Terraform deploys (`terraform`). Only this module parses `.tf` files (see architecture.md).

pub mod discover;
pub mod hcl;
pub mod modules;
pub mod terraform;
