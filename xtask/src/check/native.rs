//! Native code for the wrong architecture. Each native library (`.so`) in a built zip must be
//! compiled for its artifact's architecture (`build::arch`: a function's `architectures`, a
//! layer's `compatible_architectures` or its users', else `arch` in xtask.toml), read from its
//! ELF header; and a function must not attach a layer built for the other architecture that
//! ships native code. Either deploys fine and fails at the first import. Zips not built yet are
//! not judged (F14 reports them).

use super::Checker;
use crate::build::arch::{self, Targets};
use crate::build::native::{self, Machine};
use crate::stack::discover::{self, Kind};

pub(super) fn check(c: &mut Checker, found: &discover::Stack, targets: &Targets) {
    for a in found.artifacts.iter().filter(|a| a.out.is_file()) {
        let want = targets.arch(c.cfg, &a.id());
        let natives = match native::scan(&a.out) {
            Ok(n) => n,
            // Not a zip at all: F14 and the build's own hash check see it.
            Err(_) => continue,
        };
        for n in natives
            .iter()
            .filter(|n| n.machine != Machine::Lambda(want))
        {
            let fix = match &n.dist {
                Some(_) => format!(
                    "run `cargo xtask build` (it installs {}'s dependencies for {want}); if \
                     the zip came from elsewhere, rebuild it here",
                    a.id()
                ),
                None => format!(
                    "the file comes from {}: remove it, or replace it with a build for {want} \
                     (manylinux {})",
                    a.src.display(),
                    match want {
                        crate::config::Arch::X86_64 => "x86_64",
                        crate::config::Arch::Arm64 => "aarch64",
                    }
                ),
            };
            let zip = c.rel(&a.out);
            c.error(
                "ARCH-native-mismatch",
                &a.out,
                0,
                format!(
                    "{zip}: {} is {}, but {} runs on {want} ({}): it cannot be loaded there",
                    n.describe(),
                    n.machine.describe(),
                    a.id(),
                    targets.why(&a.id())
                ),
                fix,
            );
        }
    }
    for f in found.artifacts.iter().filter(|a| a.kind == Kind::Function) {
        let zip_of = |id: &str| {
            found
                .artifacts
                .iter()
                .find(|l| l.id() == id)
                .map(|l| l.out.clone())
        };
        for (why, fix) in arch::layer_conflicts(c.cfg, targets, &f.id(), zip_of) {
            c.error("ARCH-layer-mismatch", &f.src, 0, why, fix);
        }
    }
}
