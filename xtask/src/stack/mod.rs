//! Reading the stack: what exists on disk (`discover`), the parsed `.tf` files (`hcl`), what
//! Terraform deploys (`terraform`) and on which architecture (`arch`). Only this module parses `.tf` files (see architecture.md).

pub mod arch;
pub mod discover;
pub mod hcl;
pub mod terraform;
