//! Fault specs: terraform.
