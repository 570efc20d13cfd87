//! A `requirements.lock` older than its requirements, or made for another target: `build`
//! would still install the old pins (and `build --locked` refuses), so the edit never ships.

use super::Checker;
use crate::discover;
use crate::install::{lock, requirements};

pub(super) fn check(c: &mut Checker, found: &discover::Stack) {
    for a in &found.artifacts {
        let Some(req) = &a.requirements else {
            continue;
        };
        // An unreadable requirements file or lock fails the build, which names it.
        let (Ok(reqs), Ok(Some(l))) = (requirements::read(req), lock::read(&lock::path_for(req)))
        else {
            continue;
        };
        if let Some(why) = l.stale(c.cfg, req, &reqs) {
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
