//! Dependency installs that failed for a reason the same inputs reproduce (no wheel for the
//! target, no such version: `install::failure::Deterministic`), remembered next to the cache
//! entry they would have made (`.xtask/deps/<key>.failed`), so a build does not run the
//! installer again, for seconds, on every run. The entry's key covers the requirements, the
//! target and the installer options; the memo adds the installer binary and the file names of
//! local find_links folders (a wheel added to the wheelhouse is tried). Network, credential and
//! disk failures are never remembered. `--force` tries again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::install::Installer;

pub struct Memo {
    path: PathBuf,
    inputs: String,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    inputs: String,
    message: String,
}

impl Memo {
    pub fn new(deps_dir: &Path, key: &str, cfg: &Config, installer: &Installer) -> Memo {
        let program = installer.program();
        let stamp = std::fs::metadata(program.canonicalize().unwrap_or(program.to_path_buf()))
            .ok()
            .map(|m| {
                let mtime = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                format!("{}:{mtime}", m.len())
            })
            .unwrap_or_default();
        let mut inputs = format!("{}\0{}\0{stamp}", installer.name(), program.display());
        for link in cfg
            .installer_options
            .find_links
            .iter()
            .filter(|l| !l.contains("://"))
        {
            let mut names: Vec<String> = std::fs::read_dir(link)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            inputs.push_str(&format!("\0{link}\0{}", names.join("\n")));
        }
        Memo {
            path: deps_dir.join(format!("{key}.failed")),
            inputs,
        }
    }

    /// The remembered error, said to be remembered, when the inputs are the same.
    pub fn recall(&self) -> Option<String> {
        let stored: Stored = serde_json::from_slice(&std::fs::read(&self.path).ok()?).ok()?;
        (stored.inputs == self.inputs).then(|| {
            format!(
                "{}\nnote: remembered from an earlier build with the same requirements, \
                 installer and target (the installer was not run again); \
                 `cargo xtask build --force` tries again",
                stored.message
            )
        })
    }

    pub fn remember(&self, message: &str) {
        let stored = Stored {
            inputs: self.inputs.clone(),
            message: message.to_string(),
        };
        // Not remembering only costs the next build the installer's time.
        if let Ok(bytes) = serde_json::to_vec(&stored) {
            let _ = crate::fsutil::write_atomic(&self.path, &bytes);
        }
    }

    pub fn forget(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
