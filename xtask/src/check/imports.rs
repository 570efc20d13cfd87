//! F18: every import resolves to something the function or layer ships or is given.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::zips::Code;
use super::{dists, python, Checker, Severity};
use crate::build;
use crate::config::Config;
use crate::install;
use crate::stack::discover::{self, Artifact, Kind};

/// Importable in every Python Lambda runtime without packaging: the AWS SDK and its own deps.
const RUNTIME_PROVIDED: [&str; 5] = ["boto3", "botocore", "jmespath", "s3transfer", "urllib3"];
/// Distributions whose import name is not their normalized name (used only when nothing is
/// installed yet and requirements.txt is all there is).
const IMPORT_NAMES: [(&str, &str); 12] = [
    ("attrs", "attr"),
    ("beautifulsoup4", "bs4"),
    ("opencv_python", "cv2"),
    ("opensearch_py", "opensearchpy"),
    ("pillow", "PIL"),
    ("protobuf", "google"),
    ("psycopg2_binary", "psycopg2"),
    ("pycryptodome", "Crypto"),
    ("pyjwt", "jwt"),
    ("python_dateutil", "dateutil"),
    ("python_dotenv", "dotenv"),
    ("pyyaml", "yaml"),
];

impl Checker<'_> {
    /// F18 for every function and layer.
    pub(super) fn sources(&mut self, found: &discover::Stack, code: &Code) {
        let cfg = self.cfg;
        let mut deps: HashMap<PathBuf, Provided> = HashMap::new();
        let mut provided = |a: &Artifact| -> Provided {
            let own = match a.kind {
                Kind::Function => a.src.clone(),
                Kind::Layer => a.src.join("python"),
            };
            let mut p = Provided {
                names: top_level_names(&own),
                guessed: BTreeSet::new(),
            };
            if let Some(req) = &a.requirements {
                let d = deps
                    .entry(req.clone())
                    .or_insert_with(|| requirement_names(cfg, req));
                p.names.extend(d.names.iter().cloned());
                p.guessed.extend(d.guessed.iter().cloned());
            }
            p
        };
        let layers: BTreeMap<String, Provided> = found
            .artifacts
            .iter()
            .filter(|a| a.kind == Kind::Layer)
            .map(|a| (a.id(), provided(a)))
            .collect();
        let mut all_layers = Provided::default();
        for p in layers.values() {
            all_layers.names.extend(p.names.iter().cloned());
            all_layers.guessed.extend(p.guessed.iter().cloned());
        }
        for a in &found.artifacts {
            let own = provided(a);
            match a.kind {
                Kind::Layer => {
                    let mut allowed = own;
                    allowed.names.extend(all_layers.names.iter().cloned());
                    allowed.guessed.extend(all_layers.guessed.iter().cloned());
                    self.imports(a, &allowed, Whose::Layer, &layers);
                }
                Kind::Function => {
                    // When the layers cannot be traced, any layer of the stack may provide an
                    // import: only what none provides is certain to fail.
                    let attached = build::declared_layers(&self.model, a);
                    let mut allowed = own;
                    let whose = match &attached {
                        Some(ids) => {
                            for id in ids {
                                if let Some(p) = layers.get(id) {
                                    allowed.names.extend(p.names.iter().cloned());
                                    allowed.guessed.extend(p.guessed.iter().cloned());
                                }
                            }
                            let resource = code.resource_of.get(&a.id()).cloned();
                            Whose::Function(
                                resource.unwrap_or_else(|| format!("function {}", a.id())),
                            )
                        }
                        None => {
                            allowed.names.extend(all_layers.names.iter().cloned());
                            allowed.guessed.extend(all_layers.guessed.iter().cloned());
                            Whose::UntracedFunction
                        }
                    };
                    self.imports(a, &allowed, whose, &layers);
                }
            }
        }
    }

    /// F18 for the `.py` files `a` ships (as the build selects them: tests and ignored or
    /// excluded files do not run), which `allowed` names may be imported from.
    fn imports(
        &mut self,
        a: &Artifact,
        allowed: &Provided,
        whose: Whose,
        layers: &BTreeMap<String, Provided>,
    ) {
        // A tree the selection cannot walk fails the build, which names it.
        let Ok(selected) = self.select.source(a) else {
            return;
        };
        let files = selected
            .entries
            .into_iter()
            .filter(|e| e.name.ends_with(".py"))
            .map(|e| e.source);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let mut seen = BTreeSet::new();
            for imp in python::imports(&text) {
                let m = imp.module.as_str();
                if python::is_stdlib(m)
                    || RUNTIME_PROVIDED.contains(&m)
                    || allowed.names.contains(m)
                {
                    continue;
                }
                if !seen.insert((imp.line, imp.module.clone())) {
                    continue;
                }
                let guarded = if imp.optional {
                    " (guarded by except ImportError)"
                } else {
                    ""
                };
                let nor = "(nor the standard library, the Lambda runtime, the function's files or \
                           its requirements)";
                let mut message = match &whose {
                    Whose::Function(resource) => {
                        format!(
                            "imports {m}{guarded}, which no layer attached to {resource} \
                             provides {nor}"
                        )
                    }
                    Whose::UntracedFunction => {
                        format!("imports {m}{guarded}, which no layer of the stack provides {nor}")
                    }
                    Whose::Layer => format!(
                        "imports {m}{guarded}, which neither the layer's python/ code, its \
                         requirements, another layer, the standard library nor the Lambda \
                         runtime provides"
                    ),
                };
                let requirements = self.rel(&a.src.join("requirements.txt"));
                let provider = layers
                    .iter()
                    .find(|(_, p)| p.names.contains(m))
                    .map(|(id, _)| id);
                let mut fix = match (&whose, provider) {
                    (Whose::Function(resource), Some(layer)) => {
                        format!(
                            "attach layer {layer} (it provides {m}) to {resource}, in its \
                             layers list"
                        )
                    }
                    _ => format!(
                        "add the package that provides {m} to {requirements}, or fix the import \
                         (helper modules go next to lambda_function.py)"
                    ),
                };
                let (code, severity) = if !allowed.guessed.is_empty() {
                    // The import names of some requirements are guesses: nothing is certain.
                    let dists: Vec<&str> = allowed.guessed.iter().map(String::as_str).collect();
                    message.push_str(&format!(
                        "; uncertain: nothing is installed for the requirements (the build failed \
                         or has not run) and the import names of {} are not known",
                        dists.join(", ")
                    ));
                    fix = format!(
                        "run cargo xtask build, then check again; if the finding stays: {fix}"
                    );
                    ("F18-uncertain-import", Severity::Warning)
                } else if imp.optional {
                    ("F18-optional-import", Severity::Warning)
                } else {
                    ("F18-unresolved-import", Severity::Error)
                };
                self.add(severity, code, &file, imp.line, message, fix);
            }
        }
    }
}

/// Whose code F18 reads, for its messages.
enum Whose {
    /// A function whose attached layers are known; its Terraform resource.
    Function(String),
    /// A function whose layers cannot be traced: any layer of the stack counts.
    UntracedFunction,
    Layer,
}

/// Top-level importable names, and the distributions whose import names are guesses (nothing
/// installed, no metadata at hand).
#[derive(Default)]
struct Provided {
    names: BTreeSet<String>,
    guessed: BTreeSet<String>,
}

/// Importable top-level names in a directory: packages (any directory, as namespace packages
/// count), `.py` modules and extension modules; installer metadata and tools excluded.
fn top_level_names(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        if name.starts_with('.') || name == "__pycache__" || name == "bin" {
            continue;
        }
        if path.is_dir() {
            if !name.ends_with(".dist-info")
                && !name.ends_with(".data")
                && !name.ends_with(".egg-info")
            {
                out.insert(name);
            }
        } else if let Some(stem) = name.strip_suffix(".py") {
            out.insert(stem.to_string());
        } else if name.ends_with(".so") || name.ends_with(".pyd") {
            out.insert(name.split('.').next().unwrap_or_default().to_string());
        }
    }
    out
}

/// What a requirements file provides: the installed tree's names when a build cached it, else
/// each distribution's import names from its metadata (`dists`), a well-known rename, or a
/// guess (the normalized distribution name), which leaves what it provides uncertain.
fn requirement_names(cfg: &Config, req: &Path) -> Provided {
    if let Some(dir) = build::installed_deps(cfg, req) {
        return Provided {
            names: top_level_names(&dir),
            guessed: BTreeSet::new(),
        };
    }
    // With the files it includes: a package pinned in a shared `-r` file is provided too. An
    // include that cannot be read is the build's to report; the file's own lines still count.
    let lines: Vec<String> = match install::requirements::read(req) {
        Ok(r) => r.pins.into_iter().map(|p| p.text).collect(),
        Err(_) => install::requirement_lines(&std::fs::read_to_string(req).unwrap_or_default()),
    };
    let mut p = Provided::default();
    for line in lines.iter().filter(|l| !l.starts_with('-')) {
        let written: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        let dist = build::size::normalize(&written);
        if let Some(names) = dists::import_names(cfg, &dist) {
            p.names.extend(names);
        } else if let Some((_, import)) = IMPORT_NAMES.iter().find(|(d, _)| *d == dist) {
            p.names.insert(import.to_string());
        } else {
            p.names.insert(dist);
            p.guessed.insert(written);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn requirement_names_fall_back_to_import_names() {
        let d = tempfile::tempdir().unwrap();
        let req = d.path().join("requirements.txt");
        std::fs::write(
            &req,
            "# c\nPython-Dateutil==2.9\nrequests[socks]>=2 ; \
             python_version>'3'\n-r other.txt\nmy.pkg\n",
        )
        .unwrap();
        let cfg = crate::config::load(Some(d.path())).unwrap();
        let p = requirement_names(&cfg, &req);
        assert_eq!(
            p.guessed.into_iter().collect::<Vec<_>>(),
            ["my.pkg", "requests"]
        );
        assert_eq!(
            p.names.into_iter().collect::<Vec<_>>(),
            ["dateutil", "my_pkg", "requests"]
        );
        std::fs::write(d.path().join("other.txt"), "PyYAML==6.0\n").unwrap();
        let p = requirement_names(&cfg, &req);
        assert!(p.names.contains("yaml"), "{:?}", p.names);
    }

    #[test]
    fn top_level_names_skip_metadata() {
        let d = tempfile::tempdir().unwrap();
        for dir in ["pkg", "six-1.0.dist-info", "bin", "__pycache__", "nsdir"] {
            std::fs::create_dir(d.path().join(dir)).unwrap();
        }
        for file in [
            "six.py",
            "_speed.cpython-313-x86_64-linux-gnu.so",
            "README.md",
            "x.pth",
        ] {
            std::fs::write(d.path().join(file), "").unwrap();
        }
        let names: Vec<String> = top_level_names(d.path()).into_iter().collect();
        assert_eq!(names, ["_speed", "nsdir", "pkg", "six"]);
    }
}
