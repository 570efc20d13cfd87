//! The fault and bad-input matrix: one spec per case a fault run found, grouped by where the
//! fault lands. It grows with the tool: a new failure mode found by hand gets a spec here.

mod build;
mod check;
mod cli;
mod limits;
mod lock;
mod select;
mod smoke;
mod terraform;
