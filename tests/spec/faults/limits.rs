//! Fault specs: limits.
