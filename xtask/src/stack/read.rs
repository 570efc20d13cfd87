//! Reading one resource block's arguments into the model's fields.

use std::path::{Path, PathBuf};

use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::Block;

use crate::stack::eval::as_unknown;
use crate::stack::eval::{Ctx, Evaluator};
use crate::stack::hcl as tf;
use crate::stack::model::{Code, Field, LayerTarget, LayerUse};
use crate::stack::value::{Span, Unknown, Value, Why};

/// A resource block (one instance of it) and where to evaluate its arguments.
pub struct Reader<'a> {
    pub ev: &'a Evaluator,
    pub ctx: Ctx<'a>,
    pub block: &'a Block,
}

impl Reader<'_> {
    fn span(&self, e: &Expression) -> Span {
        self.ev.span(self.ctx.inst, self.ctx.file, e)
    }

    pub fn value(&self, key: &str) -> Option<(Value, Span)> {
        let e = tf::attr(&self.block.body, key)?;
        Some((self.ev.eval(self.ctx, e), self.span(e)))
    }

    /// A string (or number, or bool) argument.
    pub fn text(&self, key: &str) -> Option<Field<String>> {
        let (v, at) = self.value(key)?;
        Some(match v {
            Value::Str(_) | Value::Number(_) | Value::Bool(_) => Field::Known(v.to_text()),
            v => Field::Unknown {
                unknown: as_unknown(v, at, key),
            },
        })
    }

    /// A path argument, resolved and normalized.
    pub fn path(&self, key: &str) -> Option<Field<PathBuf>> {
        Some(match self.text(key)? {
            Field::Known(p) => Field::Known(self.resolve(&p)),
            Field::Unknown { unknown } => Field::Unknown { unknown },
        })
    }

    /// Terraform resolves a relative path from the directory it runs in, the root module.
    fn resolve(&self, p: &str) -> PathBuf {
        let root = &self.ev.instances[self.ev.instances[self.ctx.inst].root]
            .src
            .dir;
        tf::normalize(&root.join(p))
    }

    /// A list of strings (`architectures`, `compatible_runtimes`).
    pub fn list(&self, key: &str) -> Option<Field<Vec<String>>> {
        let (v, at) = self.value(key)?;
        Some(match v {
            Value::List(items) => {
                let mut out = Vec::new();
                for i in items {
                    match i {
                        Value::Str(s) => out.push(s),
                        other => {
                            return Some(Field::Unknown {
                                unknown: as_unknown(other, at, key),
                            })
                        }
                    }
                }
                Field::Known(out)
            }
            v => Field::Unknown {
                unknown: as_unknown(v, at, key),
            },
        })
    }

    pub fn code(&self, artifact_of: &dyn Fn(&Path) -> Option<String>) -> Code {
        if let Some(f) = self.path("filename") {
            return match f {
                Field::Known(path) => Code::Zip {
                    artifact: artifact_of(&path),
                    path,
                },
                Field::Unknown { unknown } => Code::Unknown { unknown },
            };
        }
        if let Some(key) = self.text("s3_key") {
            return Code::S3 {
                bucket: self.text("s3_bucket"),
                key,
            };
        }
        if let Some(uri) = self.text("image_uri") {
            return Code::Image { uri };
        }
        Code::Missing
    }

    pub fn hash(&self) -> Option<Field<PathBuf>> {
        let (v, at) = self.value("source_code_hash")?;
        Some(match v {
            Value::FileHash(p) => Field::Known(self.resolve(&p)),
            v => Field::Unknown {
                unknown: as_unknown(v, at, "source_code_hash"),
            },
        })
    }

    /// `environment { variables = {…} }`: the names only. An object literal's keys are read
    /// without evaluating a single value; anything else is evaluated for its keys.
    pub fn env_names(&self) -> Field<Vec<String>> {
        let Some(vars) = self
            .block
            .body
            .get_blocks("environment")
            .find_map(|b| tf::attr(&b.body, "variables"))
        else {
            let dynamic = self
                .block
                .body
                .get_blocks("dynamic")
                .find(|b| b.labels.first().map(|l| l.as_str()) == Some("environment"));
            return match dynamic {
                Some(b) => Field::Unknown {
                    unknown: Unknown::new(
                        Why::Unsupported {
                            what: "a dynamic \"environment\" block".into(),
                        },
                        self.ev.span(self.ctx.inst, self.ctx.file, b),
                    ),
                },
                None => Field::Known(Vec::new()),
            };
        };
        if let Expression::Object(o) = vars {
            let mut names = Vec::new();
            for (k, _) in o.iter() {
                match k {
                    ObjectKey::Ident(i) => names.push(i.as_str().to_string()),
                    ObjectKey::Expression(e) => match self.ev.eval(self.ctx, e) {
                        Value::Str(s) => names.push(s),
                        v => {
                            return Field::Unknown {
                                unknown: as_unknown(v, self.span(e), "a variable name"),
                            }
                        }
                    },
                }
            }
            return Field::Known(names);
        }
        match self.ev.eval(self.ctx, vars) {
            Value::Map(m) => Field::Known(m.into_keys().collect()),
            v => Field::Unknown {
                unknown: as_unknown(v, self.span(vars), "environment variables"),
            },
        }
    }

    /// The environment's values the configuration decides (a sensitive variable's never is):
    /// what smoke imports with. Not printed by `stack`.
    pub fn env_values(&self) -> std::collections::BTreeMap<String, String> {
        let vars = self
            .block
            .body
            .get_blocks("environment")
            .find_map(|b| tf::attr(&b.body, "variables"));
        match vars.map(|v| self.ev.eval(self.ctx, v)) {
            Some(Value::Map(m)) => m
                .into_iter()
                .filter(|(_, v)| matches!(v, Value::Str(_) | Value::Number(_) | Value::Bool(_)))
                .map(|(k, v)| (k, v.to_text()))
                .collect(),
            _ => Default::default(),
        }
    }

    /// `layers`, in order: each entry a layer this configuration deploys, an ARN, or unknown.
    pub fn layers(&self) -> Vec<LayerUse> {
        let Some((v, at)) = self.value("layers") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        layer_items(v, None, &at, &mut out);
        out
    }
}

fn layer_items(v: Value, cond: Option<&Unknown>, at: &Span, out: &mut Vec<LayerUse>) {
    let mut push = |target| {
        out.push(LayerUse {
            target,
            conditional: cond.cloned(),
        })
    };
    match v {
        Value::Null => {}
        Value::Str(s) if s.is_empty() => {}
        Value::Str(arn) => push(LayerTarget::External { arn }),
        Value::Attr { ref address, .. } if address.contains("aws_lambda_layer_version.") => {
            push(LayerTarget::Deployed {
                address: address.clone(),
            })
        }
        Value::List(items) => items
            .into_iter()
            .for_each(|i| layer_items(i, cond, at, out)),
        Value::Conditional {
            cond: c,
            then,
            else_,
        } => {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            layer_items(*then, Some(&c), at, &mut a);
            layer_items(*else_, Some(&c), at, &mut b);
            // A layer on both arms is attached whatever the condition.
            for mut u in a {
                if let Some(i) = b.iter().position(|x| x.target == u.target) {
                    b.remove(i);
                    u.conditional = cond.cloned();
                }
                out.push(u);
            }
            out.extend(b);
        }
        Value::Unknown(u) => push(LayerTarget::Unknown { unknown: u }),
        other => push(LayerTarget::Unknown {
            unknown: match other {
                Value::Attr { .. } => as_unknown(other, at.clone(), "a layer"),
                _ => Unknown::new(
                    Why::Unsupported {
                        what: "a layer entry of this type".into(),
                    },
                    at.clone(),
                ),
            },
        }),
    }
}
