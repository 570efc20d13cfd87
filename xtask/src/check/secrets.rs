//! Secret-looking files (`.env*`, a `.pem` holding a private key, `id_rsa*`, `credentials`) in a
//! function's or layer's source tree. Whether one ships is the build's own answer
//! (`build::select`), so check and build never disagree.

use super::Checker;
use crate::stack::discover;

pub(super) fn check(c: &mut Checker, found: &discover::Stack) {
    for a in &found.artifacts {
        // A tree the selection cannot walk (a non-UTF-8 name, a link out of the repository)
        // fails the build, which names it.
        let Ok(selected) = c.select.source(a) else {
            continue;
        };
        for s in selected.secrets {
            match s.shipped_by {
                Some(glob) => c.error(
                    "SEC-secret-shipped",
                    &s.path,
                    0,
                    format!(
                        "{}: {} looks like a secret and ships in the zip: include {glob:?} in \
                         xtask.toml matches it",
                        a.id(),
                        s.name
                    ),
                    "narrow the include glob, or add the file to [files] exclude; keep secrets \
                     in Secrets Manager or SSM and read them at runtime"
                        .into(),
                ),
                None => c.warn(
                    "SEC-secret-in-source",
                    &s.path,
                    0,
                    format!(
                        "{}: {} looks like a secret; the build leaves it out of the zip",
                        a.id(),
                        s.name
                    ),
                    "keep it out of the repository (.gitignore) and out of the source tree if \
                     you can; do not add it to include"
                        .into(),
                ),
            }
        }
    }
}
