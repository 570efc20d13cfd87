//! Reading the stack. Only this module parses `.tf` files (see architecture.md).
//!
//! - `discover`: what exists on disk (modules, functions, layers → `Artifact`s and their zips).
//! - `hcl`: the parsed `.tf` files (hcl-edit, spans kept).
//! - `model`: what Terraform deploys, built once per run; every pass reads it.
//! - `arch`: each artifact's architecture as the model declares it (`architectures`,
//!   `compatible_architectures`) and which layers each function attaches.
//! - `graph`, `lookups`: what an env's plan cannot know before its first apply, with the
//!   chain as source lines and the `check --fix` splices (check's F19, F20; deploy's bootstrap
//!   stages; the model's `unknown_expansions`, `data_lookups`), and the addresses it declares
//!   (stage address checks). Module and data blocks and sets of ARNs are followed; names built
//!   from root variables only tfvars set compare equal.
//!
//! ```ignore
//! let artifacts = discover::discover(cfg, infra, &[])?.artifacts;
//! let m = model::Model::load(&cfg.stack, infra, env, &artifacts);
//! for f in &m.functions {            // every aws_lambda_function instance
//!     f.code;                        // Code::Zip { path, artifact: Some("module-ai/chat") } | S3 | Image | Unknown
//!     f.runtime; f.handler;          // Option<Field<String>>: None = not set
//!     f.architectures;               // Option<Field<Vec<String>>>: None = Lambda's x86_64
//!     f.layers;                      // in order: Deployed { address } | External { arn } | Unknown,
//!                                    // each with `conditional: Option<Unknown>`
//!     m.layer_artifacts(f);          // the layer artifact ids this stack builds, in order
//!     f.routes; f.permissions; f.environment /* names only */;
//! }
//! for l in &m.layers { l.zip; l.artifact; l.compatible_runtimes; l.compatible_architectures; l.users; }
//! for u in &m.unknowns { model::not_checked(u, base) } // "not checked: <why> at file:line (via …)"
//! m.unknown_expansions;  // count/for_each only a first apply decides (F19): address, meta, Unknown, chain
//! m.data_lookups;        // data sources finding what this config deploys (F20): key, value, deployed
//! ```
//!
//! A `Field` is `Known(T)` or `Unknown { unknown }`. An `Unknown` (`value.rs`) has `why` (an
//! enum: NoDefault, Sensitive, DataSource, ResourceAttr { address, attr }, Function,
//! RemoteModule, Cycle, Missing, Unsupported), `at` (file:line where the unknowable thing is
//! written) and `via` (the spans it travelled through, from the use back towards `at`: e.g. a
//! child's `count = var.role …` line, then the env's `role = aws_iam_role.r.arn` argument).
//! A function whose count/for_each is unknown is kept once with `instances: Some(unknown)`.
//!
//! Lower level, for a pass that needs an expression the model does not hold:
//! `eval::Evaluator::load(&[root_dir])` builds the module tree (`tree.rs`: local module calls
//! followed, depth cap 10), `ev.eval(Ctx { inst, file, scope }, &expr)` returns a
//! `value::Value` (Known scalars, List, Map, Attr { address, attr } for a resource's computed
//! attribute, FileHash, Unknown, Conditional { cond, then, else_ }), and
//! `ev.expansion(inst, file, block)` a resource's count/for_each.

pub mod arch;
pub mod discover;
pub mod env;
pub mod eval;
pub mod funcs;
pub mod graph;
pub mod hcl;
mod links;
pub mod lookups;
pub mod model;
mod read;
mod refs;
pub mod show;
pub mod tree;
pub mod value;

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod model_tests;
