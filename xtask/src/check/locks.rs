//! A `requirements.lock` older than its requirements, or made for another target: `build`
//! would still install the old pins (and `build --locked` refuses), so the edit never ships.
//! A requirements file or lock that cannot be read at all fails the build: check says so first.

use super::Checker;
use crate::build::arch::Targets;
use crate::install::{lock, requirements};
use crate::stack::discover;

pub(super) fn check(c: &mut Checker, found: &discover::Stack, targets: &Targets) {
    for a in &found.artifacts {
        let Some(req) = &a.requirements else {
            continue;
        };
        let lock_path = lock::path_for(req);
        let reqs = match requirements::read(req) {
            Ok(r) => r,
            Err(e) => {
                c.error(
                    "DEP-unreadable",
                    req,
                    0,
                    format!("{}: {e:#}", a.id()),
                    "fix or remove the file: build fails on it".into(),
                );
                continue;
            }
        };
        let l = match lock::read(&lock_path) {
            Ok(Some(l)) => l,
            Ok(None) => continue,
            // Build reads no lock for requirements that list nothing.
            Err(_) if reqs.is_empty() => continue,
            Err(e) => {
                c.error(
                    "DEP-unreadable",
                    &lock_path,
                    0,
                    format!("{}: {e:#}", a.id()),
                    format!(
                        "delete it and run `cargo xtask lock --module {}` to write it again, \
                         then commit it: build fails on it",
                        a.module
                    ),
                );
                continue;
            }
        };
        // The artifact's own target: an arm64 function's lock is made for aarch64.
        if let Some(why) = l.stale(&targets.cfg(c.cfg, &a.id()), req, &reqs) {
            c.error(
                "DEP-stale-lock",
                &l.path,
                0,
                format!("{}: {why}", a.id()),
                format!(
                    "run `cargo xtask lock --module {}` and commit {}; pins the requirements \
                     still allow are kept",
                    a.module,
                    lock::FILE
                ),
            );
        }
    }
}
