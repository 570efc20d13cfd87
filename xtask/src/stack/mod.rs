//! Reading the stack: what exists on disk (`discover`), the parsed `.tf` files (`hcl`) and what
//! Terraform deploys (`terraform`); an env's module tree and what its plan cannot know before
//! the first apply (`graph`, `lookups`). Only this module parses `.tf` files (see
//! architecture.md).

pub mod discover;
pub mod graph;
pub mod hcl;
pub mod lookups;
pub mod terraform;
