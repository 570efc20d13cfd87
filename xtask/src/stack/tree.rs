//! The static tree of module instances: a root directory, its `module` calls followed
//! recursively (local sources only, in name order, depth-capped), each directory parsed once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use hcl_edit::expr::Expression;
use hcl_edit::structure::Block;

use crate::stack::eval::{Span, Why, MAX_DEPTH};
use crate::stack::hcl::{self as tf, ParseError, TfFile};

/// One directory's `.tf` files, parsed once however many instances use them.
pub struct Source {
    pub dir: PathBuf,
    pub files: Vec<TfFile>,
    pub errors: Vec<ParseError>,
}

impl Source {
    /// `<ident> "<name>"` (variable, output, module) and the index of the file declaring it.
    pub fn labeled<'a>(&'a self, ident: &'a str, name: &str) -> Option<(usize, &'a Block)> {
        self.files.iter().enumerate().find_map(|(i, f)| {
            f.labeled(ident)
                .find(|(n, _)| *n == name)
                .map(|(_, b)| (i, b))
        })
    }

    pub fn local(&self, name: &str) -> Option<(usize, &Expression)> {
        self.files.iter().enumerate().find_map(|(i, f)| {
            f.body
                .get_blocks("locals")
                .find_map(|b| tf::attr(&b.body, name))
                .map(|e| (i, e))
        })
    }

    pub fn resource<'a>(&'a self, kind: &'a str, name: &str) -> Option<(usize, &'a Block)> {
        self.resources(kind)
            .find(|(_, n, _)| *n == name)
            .map(|(i, _, b)| (i, b))
    }

    /// Every `resource "<kind>"` block: file index, name, block.
    pub fn resources<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (usize, &'a str, &'a Block)> {
        self.files
            .iter()
            .enumerate()
            .flat_map(move |(i, f)| f.resources(kind).map(move |(n, b)| (i, n, b)))
    }

    pub fn data(&self, kind: &str, name: &str) -> Option<(usize, &Block)> {
        self.files.iter().enumerate().find_map(|(i, f)| {
            f.body
                .get_blocks("data")
                .find(|b| {
                    b.labels.first().map(|l| l.as_str()) == Some(kind)
                        && b.labels.get(1).map(|l| l.as_str()) == Some(name)
                })
                .map(|b| (i, b))
        })
    }
}

/// The `module "<name>"` block that instantiates a child, in its parent's file.
pub struct Call {
    pub name: String,
    pub file: usize,
    pub block: Block,
}

/// What a `module` call leads to.
pub enum Child {
    Local(usize),
    Remote {
        source: String,
        at: Span,
    },
    /// A local source that does not exist, a non-literal source, or past the depth cap.
    Unloadable {
        why: Why,
        at: Span,
    },
}

/// A module as Terraform instantiates it: the root, or a call's child.
pub struct Instance {
    /// `["module_ai", "lambdas"]` for `module.module_ai.module.lambdas`.
    pub path: Vec<String>,
    pub src: Rc<Source>,
    /// Index of the root instance of this tree (`path.root`).
    pub root: usize,
    pub parent: Option<usize>,
    pub call: Option<Call>,
    pub children: BTreeMap<String, Child>,
}

impl Instance {
    /// `module.a.module.b.` (empty for a root): what resource addresses start with.
    pub fn prefix(&self) -> String {
        self.path.iter().map(|p| format!("module.{p}.")).collect()
    }
}

/// Canonical when it exists, else lexically normalized: one directory, however it is spelled.
pub fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| tf::normalize(p))
}

/// The instances of every root's tree, roots first in their order.
pub fn build(roots: &[PathBuf]) -> Vec<Instance> {
    let mut sources: HashMap<PathBuf, Rc<Source>> = HashMap::new();
    let mut out: Vec<Instance> = Vec::new();
    for root in roots {
        let idx = out.len();
        let src = source(&mut sources, &canonical(root));
        out.push(Instance {
            path: Vec::new(),
            src,
            root: idx,
            parent: None,
            call: None,
            children: BTreeMap::new(),
        });
        expand(&mut out, &mut sources, idx, 0);
    }
    out
}

fn source(cache: &mut HashMap<PathBuf, Rc<Source>>, dir: &Path) -> Rc<Source> {
    cache
        .entry(dir.to_path_buf())
        .or_insert_with(|| {
            let (files, errors) = tf::parse_dir(dir);
            Rc::new(Source {
                dir: dir.to_path_buf(),
                files,
                errors,
            })
        })
        .clone()
}

fn expand(
    out: &mut Vec<Instance>,
    cache: &mut HashMap<PathBuf, Rc<Source>>,
    idx: usize,
    depth: usize,
) {
    let src = out[idx].src.clone();
    let mut calls: Vec<(usize, &str, &Block)> = src
        .files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.labeled("module").map(move |(n, b)| (i, n, b)))
        .collect();
    calls.sort_by_key(|(_, n, _)| *n);
    for (file, name, block) in calls {
        let at = Span {
            file: src.files[file].path.clone(),
            line: src.files[file].line_of(block),
        };
        let source_text = tf::attr(&block.body, "source")
            .and_then(|e| e.as_str())
            .map(str::to_string);
        let child = match source_text {
            None => Child::Unloadable {
                why: Why::Unsupported {
                    what: format!("module \"{name}\"'s non-literal source"),
                },
                at,
            },
            Some(s) if !(s.starts_with("./") || s.starts_with("../")) => {
                Child::Remote { source: s, at }
            }
            Some(_) if depth + 1 > MAX_DEPTH => Child::Unloadable {
                why: Why::Unsupported {
                    what: format!("module \"{name}\" nested deeper than {MAX_DEPTH} calls"),
                },
                at,
            },
            Some(s) => {
                let dir = canonical(&src.dir.join(&s));
                if !tf::has_tf_files(&dir) {
                    Child::Unloadable {
                        why: Why::Missing {
                            what: format!("module source {} (no .tf files)", dir.display()),
                        },
                        at,
                    }
                } else {
                    let child_idx = out.len();
                    let child_src = source(cache, &dir);
                    let mut path = out[idx].path.clone();
                    path.push(name.to_string());
                    out.push(Instance {
                        path,
                        src: child_src,
                        root: out[idx].root,
                        parent: Some(idx),
                        call: Some(Call {
                            name: name.to_string(),
                            file,
                            block: block.clone(),
                        }),
                        children: BTreeMap::new(),
                    });
                    expand(out, cache, child_idx, depth + 1);
                    Child::Local(child_idx)
                }
            }
        };
        out[idx].children.insert(name.to_string(), child);
    }
}
