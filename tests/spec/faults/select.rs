//! Fault specs: select.
