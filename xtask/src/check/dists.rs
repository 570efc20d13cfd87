//! A distribution's import names when the build has not installed its requirements (it failed
//! or has not run): read from its wheel's `RECORD` (or `top_level.txt`) in a local find-links
//! directory, or from another build's installed tree (`.xtask/deps/*`): its `top_level.txt`, or a
//! package named like the distribution.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use crate::build;
use crate::build::size::normalize;
use crate::config::Config;

/// The top-level import names `dist` provides, when its metadata is at hand.
pub(super) fn import_names(cfg: &Config, dist: &str) -> Option<BTreeSet<String>> {
    let dist = normalize(dist);
    let named = |file: &str, ext: &str| {
        file.ends_with(ext) && file.split('-').next().map(normalize).as_deref() == Some(&dist)
    };
    for link in &cfg.installer_options.find_links {
        let dir = Path::new(link.strip_prefix("file://").unwrap_or(link));
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut wheels: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| named(&p.file_name().unwrap_or_default().to_string_lossy(), ".whl"))
            .collect();
        wheels.sort();
        if let Some(names) = wheels.iter().rev().find_map(|w| from_wheel(w)) {
            return Some(names);
        }
    }
    let deps = std::fs::read_dir(build::cache_dir(cfg).join("deps")).ok()?;
    for tree in deps.flatten() {
        let Ok(entries) = std::fs::read_dir(tree.path()) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !named(&name, ".dist-info") {
                continue;
            }
            let text = std::fs::read_to_string(e.path().join("top_level.txt")).ok();
            if let Some(names) = text.map(|t| top_level(&t)).filter(|n| !n.is_empty()) {
                return Some(names);
            }
            // Not every build backend writes top_level.txt, and the build drops RECORD: a
            // package named like the distribution (`PyPDF2`) is still certain.
            let same = std::fs::read_dir(tree.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| !n.contains('.') && normalize(n) == dist);
            if let Some(n) = same {
                return Some(BTreeSet::from([n]));
            }
        }
    }
    None
}

/// The names a wheel installs at the top level: from `RECORD`, else `top_level.txt`.
fn from_wheel(path: &Path) -> Option<BTreeSet<String>> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).ok()?).ok()?;
    let mut read = |suffix: &str| -> Option<String> {
        let name = zip
            .file_names()
            .find(|n| n.ends_with(suffix) && n.split('/').count() == 2)?
            .to_string();
        let mut text = String::new();
        zip.by_name(&name).ok()?.read_to_string(&mut text).ok()?;
        Some(text)
    };
    if let Some(record) = read(".dist-info/RECORD") {
        let names: BTreeSet<String> = record
            .lines()
            .filter_map(|l| l.split(',').next())
            .filter_map(|p| {
                let (top, rest) = p.split_once('/').map_or((p, None), |(t, r)| (t, Some(r)));
                if top.ends_with(".dist-info") || top.ends_with(".data") || top == ".." {
                    return None;
                }
                Some(match rest {
                    Some(_) => top.to_string(),
                    None if top.ends_with(".py") => top.trim_end_matches(".py").to_string(),
                    None if top.ends_with(".so") || top.ends_with(".pyd") => {
                        top.split('.').next()?.to_string()
                    }
                    None => return None,
                })
            })
            .collect();
        if !names.is_empty() {
            return Some(names);
        }
    }
    read(".dist-info/top_level.txt")
        .map(|t| top_level(&t))
        .filter(|n| !n.is_empty())
}

fn top_level(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.trim().split('/').next().unwrap_or_default().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
