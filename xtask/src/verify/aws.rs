//! How verify calls AWS: through the aws CLI when it is on PATH, so profiles, SSO, regions and
//! `AWS_ENDPOINT_URL` work exactly as they do for the user; else through the xtask's own SigV4
//! client over curl (`crate::s3::api`: the credentials chain of the S3 cache, a machine that
//! deploys a release needs no Python). Its REST answers are mapped to the aws CLI's JSON shape,
//! so the comparisons read one shape whichever way the answer came.

use std::sync::mpsc;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Map, Value};

use crate::proc::Cmd;
use crate::s3::{api, chain};
use crate::terraform;
use crate::ui;

/// How long a call runs before the xtask says which one it is waiting for.
const NAMED_AFTER: Duration = Duration::from_secs(3);
/// Pages of one listing at most: an endpoint that keeps answering a next token stops here.
const MAX_PAGES: usize = 100;

#[derive(Debug, Clone)]
pub(super) struct AwsError {
    pub(super) not_found: bool,
    pub(super) message: String,
}

pub(super) type Answer = Result<Value, AwsError>;

/// The calls verify makes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Op<'a> {
    /// sts GetCallerIdentity: are there credentials and an endpoint that answers.
    Identity,
    Routes(&'a str),
    Integrations(&'a str),
    /// Singular on purpose: some endpoints (moto) fail on the plural GetAuthorizers.
    Authorizer {
        api: &'a str,
        id: &'a str,
    },
    Function(&'a str),
    /// A layer version by its ARN.
    Layer(&'a str),
}

impl Op<'_> {
    fn cli_args(&self) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match *self {
            Op::Identity => v(&["sts", "get-caller-identity"]),
            Op::Routes(api) => v(&["apigatewayv2", "get-routes", "--api-id", api]),
            Op::Integrations(api) => v(&["apigatewayv2", "get-integrations", "--api-id", api]),
            Op::Authorizer { api, id } => v(&[
                "apigatewayv2",
                "get-authorizer",
                "--api-id",
                api,
                "--authorizer-id",
                id,
            ]),
            Op::Function(name) => v(&["lambda", "get-function", "--function-name", name]),
            Op::Layer(arn) => {
                let (name, version) = layer_version(arn);
                v(&[
                    "lambda",
                    "get-layer-version",
                    "--layer-name",
                    name,
                    "--version-number",
                    version,
                ])
            }
        }
    }

    /// The REST request: service, decoded path, query; and whether it lists `items` by pages.
    fn rest(&self) -> (&'static api::Service, String, Vec<(&str, &str)>, bool) {
        match *self {
            Op::Identity => (
                &api::STS,
                "/".into(),
                vec![("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
                false,
            ),
            Op::Routes(api) => (
                &api::APIGATEWAYV2,
                format!("/v2/apis/{api}/routes"),
                vec![],
                true,
            ),
            Op::Integrations(api) => (
                &api::APIGATEWAYV2,
                format!("/v2/apis/{api}/integrations"),
                vec![],
                true,
            ),
            Op::Authorizer { api, id } => (
                &api::APIGATEWAYV2,
                format!("/v2/apis/{api}/authorizers/{id}"),
                vec![],
                false,
            ),
            Op::Function(name) => (
                &api::LAMBDA,
                format!("/2015-03-31/functions/{name}"),
                vec![],
                false,
            ),
            Op::Layer(arn) => {
                let (name, version) = layer_version(arn);
                (
                    &api::LAMBDA,
                    format!("/2018-10-31/layers/{name}/versions/{version}"),
                    vec![],
                    false,
                )
            }
        }
    }
}

/// `arn:…:layer:deps:3` as (`arn:…:layer:deps`, `3`): the layer's ARN names it in any account.
fn layer_version(arn: &str) -> (&str, &str) {
    arn.rsplit_once(':').unwrap_or((arn, ""))
}

/// The aws CLI if it is on PATH, else the built-in client; each with every call's bounds.
pub(super) struct Client {
    how: How,
    timeout: u64,
}

enum How {
    Cli(Cmd),
    Curl(api::Client),
}

impl Client {
    /// `--profile` and `--region` reach either as they reach terraform.
    pub(super) fn new(settings: &terraform::Aws, timeout: u64) -> Result<Client> {
        let how = match which::which("aws") {
            Ok(bin) => {
                let mut base = Cmd::new(&bin);
                if let Some(p) = &settings.profile {
                    base = base.env("AWS_PROFILE", p);
                }
                if let Some(r) = &settings.region {
                    // aws CLI v1 reads only the second.
                    base = base.env("AWS_REGION", r).env("AWS_DEFAULT_REGION", r);
                }
                How::Cli(base)
            }
            Err(_) => {
                let process = chain::Inputs::of_process();
                let env = |k: &str| match k {
                    "AWS_PROFILE" if settings.profile.is_some() => settings.profile.clone(),
                    "AWS_REGION" if settings.region.is_some() => settings.region.clone(),
                    _ => (process.env)(k),
                };
                How::Curl(api::Client::new(
                    &chain::Inputs {
                        env: &env,
                        home: process.home.clone(),
                    },
                    timeout,
                )?)
            }
        };
        Ok(Client { how, timeout })
    }

    /// Calls at once: aws CLI processes are Python interpreters that spend most of their time
    /// starting up, so one per core; curl processes mostly wait for the network.
    pub(super) fn parallelism(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match self.how {
            How::Cli(_) => cores,
            How::Curl(_) => 8,
        }
    }

    /// The cheap first call, retried little: without credentials or a reachable endpoint every
    /// other call would fail the same way, slowly.
    pub(super) fn probe(&self, region: Option<&str>) -> Answer {
        self.run(Op::Identity, region, true)
    }

    pub(super) fn call(&self, op: Op, region: Option<&str>) -> Answer {
        self.run(op, region, false)
    }

    fn run(&self, op: Op, region: Option<&str>, probe: bool) -> Answer {
        let args = op.cli_args();
        let what = format!("aws {}", args.join(" "));
        named_when_slow(&what, self.timeout, || match &self.how {
            How::Cli(base) => {
                let t = self.timeout.to_string();
                let mut cmd = base.clone();
                if probe {
                    cmd = cmd.env("AWS_MAX_ATTEMPTS", "2");
                }
                let cmd = cmd.args(["--cli-connect-timeout", &t, "--cli-read-timeout", &t]);
                aws_cmd(cmd, region, &args)
            }
            // Two more tries as the SDKs' default three attempts; the probe one.
            How::Curl(client) => rest(client, op, region, if probe { 1 } else { 2 }),
        })
    }
}

/// One operation through the built-in client, every page of a listing, in the CLI's shape.
fn rest(client: &api::Client, op: Op, region: Option<&str>, retries: u32) -> Answer {
    let (service, path, query, paged) = op.rest();
    let json = |body: &str| -> Answer {
        serde_json::from_str(body).map_err(|e| AwsError {
            not_found: false,
            message: format!("{} {path} did not answer JSON: {e}", service.signing),
        })
    };
    if matches!(op, Op::Identity) {
        // An XML answer; that it succeeded is all verify needs.
        return client
            .get(service, region, &path, &query, retries)
            .map(|_| Value::Null)
            .map_err(failed);
    }
    if !paged {
        let body = client
            .get(service, region, &path, &query, retries)
            .map_err(failed)?;
        return Ok(cli_shape(json(&body)?));
    }
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut q = query.clone();
        if let Some(t) = &token {
            q.push(("nextToken", t));
        }
        let body = client
            .get(service, region, &path, &q, retries)
            .map_err(failed)?;
        let page = cli_shape(json(&body)?);
        items.extend(page["Items"].as_array().cloned().unwrap_or_default());
        match page["NextToken"].as_str() {
            Some(next) if !next.is_empty() && token.as_deref() != Some(next) => {
                token = Some(next.to_string())
            }
            _ => break,
        }
    }
    Ok(serde_json::json!({ "Items": items }))
}

/// A failed call as `aws_cmd` reports one: a 404 or a `…NotFoundException` is `not_found`.
fn failed(f: api::Failure) -> AwsError {
    AwsError {
        not_found: f.status == Some(404) || f.message.contains("NotFoundException"),
        message: f.message,
    }
}

/// API Gateway v2 answers in camelCase (`items`, `routeKey`) where the aws CLI prints PascalCase
/// (`Items`, `RouteKey`): the answer's members and each item's are renamed so. Not deeper: maps
/// such as `requestParameters` hold the user's own keys. Lambda's answers are PascalCase
/// already and pass unchanged.
pub(super) fn cli_shape(v: Value) -> Value {
    fn pascal(map: Map<String, Value>, deeper: bool) -> Value {
        Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let k = c
                        .next()
                        .map(|f| f.to_uppercase().chain(c).collect())
                        .unwrap_or_default();
                    let v = match v {
                        Value::Array(items) if deeper => Value::Array(
                            items
                                .into_iter()
                                .map(|i| match i {
                                    Value::Object(m) => pascal(m, false),
                                    other => other,
                                })
                                .collect(),
                        ),
                        other => other,
                    };
                    (k, v)
                })
                .collect(),
        )
    }
    match v {
        Value::Object(m) => pascal(m, true),
        other => other,
    }
}

/// Runs `f`, saying after `NAMED_AFTER` which call is still waiting.
fn named_when_slow<R>(what: &str, timeout: u64, f: impl FnOnce() -> R) -> R {
    let (done, wait) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            if wait.recv_timeout(NAMED_AFTER) == Err(mpsc::RecvTimeoutError::Timeout) {
                ui::warn(&format!(
                    "verify: still waiting for `{what}` after {} s (each attempt gives up after \
                     {timeout} s without an answer; --aws-timeout)",
                    NAMED_AFTER.as_secs()
                ));
            }
        });
        let r = f();
        drop(done);
        r
    })
}

fn aws_cmd(cmd: Cmd, region: Option<&str>, args: &[String]) -> Answer {
    let mut cmd = cmd
        .args(args)
        .args(["--output", "json"])
        .env("AWS_PAGER", "");
    if let Some(r) = region {
        cmd = cmd.args(["--region", r]);
    }
    let out = cmd.output().map_err(|e| AwsError {
        not_found: false,
        message: format!("{e:#}"),
    })?;
    if !out.success() {
        let message = out.tail(2);
        return Err(AwsError {
            not_found: message.contains("NotFoundException"),
            message,
        });
    }
    if out.stdout.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&out.stdout).map_err(|e| AwsError {
        not_found: false,
        message: format!("`{}` did not print JSON: {e}", cmd.display()),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn api_gateway_answers_take_the_cli_shape_and_lambda_answers_keep_theirs() {
        let rest = json!({
            "items": [{
                "routeKey": "GET /x",
                "target": "integrations/i1",
                "authorizationType": "CUSTOM",
                "requestParameters": { "route.request.header.x-id": { "required": true } }
            }],
            "nextToken": "t"
        });
        assert_eq!(
            cli_shape(rest),
            json!({
                "Items": [{
                    "RouteKey": "GET /x",
                    "Target": "integrations/i1",
                    "AuthorizationType": "CUSTOM",
                    "RequestParameters": { "route.request.header.x-id": { "required": true } }
                }],
                "NextToken": "t"
            })
        );
        assert_eq!(
            cli_shape(json!({ "authorizerUri": "arn:u", "authorizerId": "a1" })),
            json!({ "AuthorizerUri": "arn:u", "AuthorizerId": "a1" })
        );
        let lambda = json!({ "Configuration": { "CodeSha256": "x=", "Layers": [{ "Arn": "a" }] } });
        assert_eq!(cli_shape(lambda.clone()), lambda);
    }

    #[test]
    fn not_found_is_a_404_or_a_not_found_exception_as_with_the_cli() {
        let f = |status, message: &str| {
            failed(api::Failure {
                status,
                message: message.into(),
            })
            .not_found
        };
        assert!(f(Some(404), "HTTP 404: Invalid API identifier specified"));
        assert!(f(Some(400), "HTTP 400 ResourceNotFoundException: gone"));
        assert!(!f(Some(403), "HTTP 403 AccessDeniedException: no"));
        assert!(!f(None, "curl error 7: Couldn't connect to server"));
    }

    #[test]
    fn each_operation_is_the_documented_rest_request() {
        let req = |op: Op| {
            let (s, path, query, paged) = op.rest();
            let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} GET {path}?{} {paged}", s.signing, q.join("&"))
        };
        assert_eq!(
            req(Op::Identity),
            "sts GET /?Action=GetCallerIdentity&Version=2011-06-15 false"
        );
        assert_eq!(
            req(Op::Function("demo-dev-orgs")),
            "lambda GET /2015-03-31/functions/demo-dev-orgs? false"
        );
        assert_eq!(
            req(Op::Layer("arn:aws:lambda:eu-west-1:1:layer:deps:3")),
            "lambda GET /2018-10-31/layers/arn:aws:lambda:eu-west-1:1:layer:deps/versions/3? false"
        );
        assert_eq!(
            req(Op::Routes("a1")),
            "apigateway GET /v2/apis/a1/routes? true"
        );
        assert_eq!(
            req(Op::Integrations("a1")),
            "apigateway GET /v2/apis/a1/integrations? true"
        );
        assert_eq!(
            req(Op::Authorizer {
                api: "a1",
                id: "z9"
            }),
            "apigateway GET /v2/apis/a1/authorizers/z9? false"
        );
        assert_eq!(
            Op::Layer("arn:aws:lambda:eu-west-1:1:layer:deps:3")
                .cli_args()
                .join(" "),
            "lambda get-layer-version --layer-name arn:aws:lambda:eu-west-1:1:layer:deps \
             --version-number 3"
        );
    }
}
