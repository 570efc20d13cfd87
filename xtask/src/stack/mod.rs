//! The model every pass reads (see architecture.md); it grows here as passes move onto it.

pub mod terraform;
