//! What is deployed, read from `terraform show -json`, and the local zips its `filename`s name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde_json::Value;

use crate::stack::hcl as tf;

#[derive(Debug, Clone)]
pub(super) struct Function {
    pub(super) address: String,
    pub(super) module: String,
    pub(super) name: String,
    pub(super) arn: String,
    /// Every string an integration or trigger may use to name it: ARNs and invoke ARNs.
    pub(super) refs: Vec<String>,
    pub(super) runtime: Option<String>,
    pub(super) image: bool,
    pub(super) layers: Vec<String>,
    /// `architectures` as Terraform recorded it (empty from a state that has none).
    pub(super) architectures: Vec<String>,
    pub(super) code: Code,
}

/// Where a function's or layer's code comes from, and the hashes Terraform recorded.
#[derive(Debug, Clone, Default)]
pub(super) struct Code {
    pub(super) filename: Option<String>,
    pub(super) s3: Option<String>,
    pub(super) source_code_hash: Option<String>,
    /// What AWS reported at the last refresh (provider ≥ 5).
    pub(super) code_sha256: Option<String>,
}

#[derive(Debug, Clone)]
struct Alias {
    pub(super) function: String,
    pub(super) refs: Vec<String>,
}

#[derive(Debug, Clone)]
pub(super) struct Layer {
    pub(super) address: String,
    pub(super) module: String,
    /// The versioned ARN functions attach.
    pub(super) arn: String,
    pub(super) compatible_runtimes: Vec<String>,
    pub(super) code: Code,
}

#[derive(Debug, Clone)]
pub(super) struct Api {
    pub(super) module: String,
    pub(super) id: String,
    pub(super) region: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct Route {
    pub(super) address: String,
    pub(super) module: String,
    pub(super) api_id: String,
    pub(super) key: String,
    pub(super) target: Option<String>,
    pub(super) authorization_type: String,
}

#[derive(Debug, Clone)]
pub(super) struct Integration {
    pub(super) api_id: String,
    pub(super) id: String,
    pub(super) kind: String,
    subtype: Option<String>,
    pub(super) uri: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct Authorizer {
    pub(super) address: String,
    pub(super) module: String,
    pub(super) api_id: String,
    pub(super) id: String,
    pub(super) uri: Option<String>,
}

/// A resource that can invoke a Lambda without a route: its values are searched for the function.
#[derive(Debug, Clone)]
pub(super) struct Trigger {
    pub(super) address: String,
    pub(super) values: Value,
}

/// Resource types that invoke Lambdas. `aws_lambda_permission` counts unless it is API Gateway's
/// (a route's permission without the route reaches nothing).
const TRIGGER_TYPES: &[&str] = &[
    "aws_apigatewayv2_authorizer",
    "aws_api_gateway_authorizer",
    "aws_api_gateway_integration",
    "aws_lambda_event_source_mapping",
    "aws_lambda_function_url",
    "aws_lambda_permission",
    "aws_cloudwatch_event_target",
    "aws_scheduler_schedule",
    "aws_sns_topic_subscription",
    "aws_s3_bucket_notification",
    "aws_cloudwatch_log_subscription_filter",
    "aws_cognito_user_pool",
    "aws_sfn_state_machine",
    "aws_iot_topic_rule",
    "aws_pipes_pipe",
    "aws_lb_target_group_attachment",
    "aws_cloudfront_distribution",
    "aws_ses_receipt_rule",
    "aws_appsync_datasource",
    "aws_config_config_rule",
];

#[derive(Debug, Default)]
pub(super) struct Deployed {
    pub(super) functions: Vec<Function>,
    aliases: Vec<Alias>,
    pub(super) layers: Vec<Layer>,
    pub(super) apis: Vec<Api>,
    pub(super) routes: Vec<Route>,
    pub(super) integrations: Vec<Integration>,
    pub(super) authorizers: Vec<Authorizer>,
    triggers: Vec<Trigger>,
}

/// A non-empty string attribute.
pub(super) fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn strings_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// `us-east-1` from `arn:aws:lambda:us-east-1:…` or `arn:aws:apigateway:us-east-1::/apis/x`.
pub(super) fn region_of(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

impl Code {
    fn of(v: &Value) -> Code {
        Code {
            filename: str_of(v, "filename"),
            s3: str_of(v, "s3_bucket")
                .map(|b| format!("s3://{b}/{}", str_of(v, "s3_key").unwrap_or_default())),
            source_code_hash: str_of(v, "source_code_hash"),
            code_sha256: str_of(v, "code_sha256"),
        }
    }
}

impl Deployed {
    pub(super) fn from_state(state: &Value) -> Result<Deployed> {
        let Some(root) = state.pointer("/values/root_module") else {
            bail!(
                "Terraform has no state here: deploy first (terraform apply, or `cargo xtask apply`)"
            );
        };
        let mut d = Deployed::default();
        d.walk(root, "");
        if d.functions.is_empty() && d.routes.is_empty() {
            bail!("the Terraform state holds no Lambda function and no API route: deploy first");
        }
        Ok(d)
    }

    fn walk(&mut self, module: &Value, address: &str) {
        for r in module["resources"].as_array().into_iter().flatten() {
            if r["mode"] != "managed" {
                continue;
            }
            let (Some(kind), Some(addr)) = (r["type"].as_str(), r["address"].as_str()) else {
                continue;
            };
            self.add(kind, addr, address, &r["values"]);
        }
        for child in module["child_modules"].as_array().into_iter().flatten() {
            let child_address = child["address"].as_str().unwrap_or_default().to_string();
            self.walk(child, &child_address);
        }
    }

    fn add(&mut self, kind: &str, address: &str, module: &str, v: &Value) {
        let s = |k| str_of(v, k);
        let (address, module) = (address.to_string(), module.to_string());
        let api_gateway_permission = kind == "aws_lambda_permission"
            && s("principal").as_deref() == Some("apigateway.amazonaws.com");
        if TRIGGER_TYPES.contains(&kind) && !api_gateway_permission {
            self.triggers.push(Trigger {
                address: address.clone(),
                values: v.clone(),
            });
        }
        match kind {
            "aws_lambda_function" => self.functions.push(Function {
                name: s("function_name").unwrap_or_else(|| address.clone()),
                arn: s("arn").unwrap_or_default(),
                refs: ["arn", "qualified_arn", "invoke_arn", "qualified_invoke_arn"]
                    .iter()
                    .filter_map(|k| s(k))
                    .collect(),
                runtime: s("runtime"),
                image: s("package_type").as_deref() == Some("Image"),
                layers: strings_of(v, "layers"),
                architectures: strings_of(v, "architectures"),
                code: Code::of(v),
                address,
                module,
            }),
            "aws_lambda_alias" => self.aliases.push(Alias {
                function: s("function_name").unwrap_or_default(),
                refs: ["arn", "invoke_arn"].iter().filter_map(|k| s(k)).collect(),
            }),
            "aws_lambda_layer_version" => self.layers.push(Layer {
                arn: s("arn").unwrap_or_default(),
                compatible_runtimes: strings_of(v, "compatible_runtimes"),
                code: Code::of(v),
                address,
                module,
            }),
            "aws_apigatewayv2_api" => self.apis.push(Api {
                id: s("id").unwrap_or_default(),
                region: s("arn").as_deref().and_then(region_of),
                module,
            }),
            "aws_apigatewayv2_route" => self.routes.push(Route {
                api_id: s("api_id").unwrap_or_default(),
                key: s("route_key").unwrap_or_default(),
                target: s("target"),
                authorization_type: s("authorization_type").unwrap_or_else(|| "NONE".into()),
                address,
                module,
            }),
            "aws_apigatewayv2_integration" => self.integrations.push(Integration {
                api_id: s("api_id").unwrap_or_default(),
                id: s("id").unwrap_or_default(),
                kind: s("integration_type").unwrap_or_default(),
                subtype: s("integration_subtype"),
                uri: s("integration_uri"),
            }),
            "aws_apigatewayv2_authorizer" => self.authorizers.push(Authorizer {
                api_id: s("api_id").unwrap_or_default(),
                id: s("id").unwrap_or_default(),
                uri: s("authorizer_uri"),
                address,
                module,
            }),
            _ => {}
        }
    }

    /// The function an integration URI (or trigger) names: directly, or through an alias.
    pub(super) fn function_for(&self, uri: &str) -> Option<&Function> {
        if let Some(f) = self
            .functions
            .iter()
            .find(|f| f.refs.iter().any(|r| r == uri))
        {
            return Some(f);
        }
        let alias = self
            .aliases
            .iter()
            .find(|a| a.refs.iter().any(|r| r == uri))?;
        self.functions
            .iter()
            .find(|f| f.name == alias.function || f.arn == alias.function)
    }

    pub(super) fn route_target(&self, r: &Route) -> RouteTarget<'_> {
        let Some(id) = r
            .target
            .as_deref()
            .and_then(|t| t.strip_prefix("integrations/"))
        else {
            return RouteTarget::NoTarget;
        };
        let Some(i) = self
            .integrations
            .iter()
            .find(|i| i.id == id && i.api_id == r.api_id)
        else {
            return RouteTarget::MissingIntegration(id.to_string());
        };
        let uri = i.uri.clone().unwrap_or_default();
        if i.kind != "AWS_PROXY" || i.subtype.is_some() {
            return RouteTarget::NotLambda(format!("{} {uri}", i.kind));
        }
        match self.function_for(&uri) {
            Some(f) => RouteTarget::Function(f),
            None => RouteTarget::UnknownFunction(uri),
        }
    }

    /// A route is shown with the module of the function it reaches, else the gateway's.
    pub(super) fn route_module<'a>(&'a self, r: &'a Route) -> &'a str {
        match self.route_target(r) {
            RouteTarget::Function(f) => &f.module,
            _ => &r.module,
        }
    }

    /// The first trigger (not a route) that names the function.
    pub(super) fn trigger_of(&self, f: &Function) -> Option<&Trigger> {
        let mut refs = f.refs.clone();
        for a in &self.aliases {
            if a.function == f.name || a.function == f.arn {
                refs.extend(a.refs.iter().cloned());
            }
        }
        self.triggers
            .iter()
            .find(|t| mentions(&t.values, &f.name, &refs))
    }
}

pub(super) enum RouteTarget<'a> {
    Function(&'a Function),
    NoTarget,
    MissingIntegration(String),
    NotLambda(String),
    UnknownFunction(String),
}

/// True when a string in `v` is the function's name, or holds one of its ARNs as a whole token
/// (a state machine definition, an event pattern…): `…:function:a` does not match `…:function:ab`.
pub(super) fn mentions(v: &Value, name: &str, refs: &[String]) -> bool {
    match v {
        Value::String(s) => {
            s == name
                || refs.iter().any(|r| {
                    s.match_indices(r.as_str()).any(|(i, _)| {
                        let next = s[i + r.len()..].chars().next();
                        !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    })
                })
        }
        Value::Array(items) => items.iter().any(|x| mentions(x, name, refs)),
        Value::Object(map) => map.values().any(|x| mentions(x, name, refs)),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Local zips

#[derive(Debug, Clone)]
pub(super) struct Zip {
    pub(super) path: PathBuf,
    pub(super) sha256: Result<String, String>,
}

/// The local zip of every `filename` in state, keyed by that attribute, hashed once.
#[derive(Debug, Default)]
pub(super) struct Zips(pub(super) BTreeMap<String, Zip>);

impl Zips {
    pub(super) fn hash(d: &Deployed, env_dir: &Path) -> Zips {
        let names = d
            .functions
            .iter()
            .map(|f| &f.code)
            .chain(d.layers.iter().map(|l| &l.code))
            .filter_map(|c| c.filename.clone());
        let mut zips = BTreeMap::new();
        for name in names {
            if zips.contains_key(&name) {
                continue;
            }
            // Terraform records `filename` relative to the env dir (`path.module` is relative).
            let path = tf::normalize(&env_dir.join(&name));
            let sha256 = if path.is_file() {
                crate::archive::sha256_base64(&path).map_err(|e| format!("{e:#}"))
            } else {
                Err(format!("{} does not exist", path.display()))
            };
            zips.insert(name, Zip { path, sha256 });
        }
        Zips(zips)
    }

    pub(super) fn get(&self, code: &Code) -> Option<&Zip> {
        code.filename.as_ref().and_then(|f| self.0.get(f))
    }

    /// The local build's hash of this code, when there is a readable local zip.
    pub(super) fn sha256(&self, code: &Code) -> Option<&str> {
        self.get(code).and_then(|z| z.sha256.as_deref().ok())
    }
}
