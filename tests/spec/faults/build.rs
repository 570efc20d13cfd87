//! Fault specs: build.
