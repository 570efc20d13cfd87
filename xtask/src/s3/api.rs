//! Signed GETs to AWS services other than S3 (verify's live calls when the aws CLI is not on
//! PATH): one curl process a call, the URL and the SigV4 `Authorization` header on its standard
//! input as the S3 client passes its presigned URLs, so no signature or token is on a command
//! line. Credentials, region and endpoints come
//! from the same chain as the S3 client's.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::{chain, quote, redact, sigv4};
use crate::proc::Cmd;

/// An AWS service as the chain, the endpoint and the signature name it.
pub struct Service {
    /// As `AWS_ENDPOINT_URL_<ID>` names it.
    pub id: &'static str,
    /// The SigV4 signing name, also the first label of its AWS host name.
    pub signing: &'static str,
}

pub const STS: Service = Service {
    id: "STS",
    signing: "sts",
};
pub const LAMBDA: Service = Service {
    id: "LAMBDA",
    signing: "lambda",
};
/// API Gateway v2 (HTTP APIs) signs, and is addressed, as `apigateway`.
pub const APIGATEWAYV2: Service = Service {
    id: "APIGATEWAYV2",
    signing: "apigateway",
};

/// A call that did not succeed: the HTTP status (none when no answer came) and why, as AWS or
/// curl said it, never with a URL's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: Option<u16>,
    pub message: String,
}

pub struct Client {
    chain: chain::Resolved,
    curl: PathBuf,
    timeout_secs: u64,
}

impl Client {
    /// The client for `inputs`' chain; `timeout_secs` bounds the connect, and any wait for a
    /// byte of an answer.
    pub fn new(inputs: &chain::Inputs, timeout_secs: u64) -> Result<Client> {
        let curl = which::which("curl").context(
            "neither the aws CLI nor curl is on PATH: verify calls AWS through one of them; \
             install either",
        )?;
        Ok(Client {
            chain: chain::resolve(inputs)?,
            curl,
            timeout_secs: timeout_secs.max(1),
        })
    }

    /// GET `path?query` of `service` in `region` (else the chain's), tried `1 + retries` times
    /// on timeouts, throttling and 5xx answers: the body of a 2xx answer.
    pub fn get(
        &self,
        service: &Service,
        region: Option<&str>,
        path: &str,
        query: &[(&str, &str)],
        retries: u32,
    ) -> Result<String, Failure> {
        let no_answer = |message: String| Failure {
            status: None,
            message,
        };
        let region = region.unwrap_or(&self.chain.region);
        let (scheme, host, prefix) = base_url(self.chain.endpoint_of(service.id), service, region)
            .map_err(|e| no_answer(format!("{e:#}")))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let (url, headers) = sigv4::sign_headers(
            &sigv4::Request {
                method: "GET",
                service: service.signing,
                scheme: &scheme,
                host: &host,
                path: &format!("{prefix}{path}"),
                query,
                region,
                now,
                expires_secs: 0,
            },
            &self.chain.creds,
        );
        let body = tempfile::NamedTempFile::new()
            .map_err(|e| no_answer(format!("cannot create a temporary file: {e}")))?;
        let out = Cmd::new(&self.curl)
            .args(["--disable", "--config", "-"])
            .stdin(config(
                &url,
                &headers,
                &body.path().to_string_lossy(),
                self.timeout_secs,
                retries,
            ))
            .own_group()
            .output()
            .map_err(|e| no_answer(format!("{e:#}")))?;
        let text = std::fs::read(body.path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text).into_owned();
        match parse_write_out(&out.stdout) {
            None => Err(no_answer(format!("curl failed: {}", redact(&out.tail(2))))),
            Some(w) if !w.curl_error.is_empty() => Err(no_answer(w.curl_error)),
            Some(w) if w.status == 0 => {
                Err(no_answer("no answer (cannot connect, or timed out)".into()))
            }
            Some(w) if (200..300).contains(&w.status) => Ok(text),
            Some(w) => Err(Failure {
                status: Some(w.status),
                message: error_message(w.status, &w.error_type, &text),
            }),
        }
    }
}

/// curl's config for one GET: the body to `output`, then a line `status\texit\ttype\terror`.
fn config(url: &str, headers: &[(String, String)], output: &str, t: u64, retries: u32) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "url = {}", quote(url));
    for (k, v) in headers {
        let _ = writeln!(c, "header = {}", quote(&format!("{k}: {v}")));
    }
    let _ = writeln!(c, "output = {}", quote(output));
    // As the S3 client: nothing for `t` seconds is a timeout, as is a slow connect. curl's
    // --retry covers timeouts, 408, 429 and 5xx, what the SDKs retry too.
    let _ = writeln!(
        c,
        "silent\nconnect-timeout = {t}\nspeed-limit = 1\nspeed-time = {t}\nretry = {retries}\n\
         header = \"Accept: application/json\"\n\
         write-out = \"%{{http_code}}\\t%{{exitcode}}\\t%header{{x-amzn-errortype}}\\t%{{errormsg}}\\n\""
    );
    c
}

#[derive(Debug, PartialEq, Eq)]
struct WriteOut {
    status: u16,
    /// `x-amzn-ErrorType` without its `:namespace` suffix (empty before curl 7.84).
    error_type: String,
    curl_error: String,
}

fn parse_write_out(stdout: &str) -> Option<WriteOut> {
    let line = stdout.lines().rev().find(|l| l.contains('\t'))?;
    let mut f = line.splitn(4, '\t');
    let status = f.next()?.trim().parse().ok()?;
    let exit = f.next().unwrap_or("").trim();
    let error_type = f.next().unwrap_or("");
    // Before curl 7.84 the variable is printed as written.
    let error_type = match error_type.starts_with("%header") {
        true => "",
        false => error_type.split(':').next().unwrap_or(""),
    };
    let curl_error = match exit {
        "0" | "" => String::new(),
        e => format!("curl error {e}: {}", redact(f.next().unwrap_or("").trim())),
    };
    Some(WriteOut {
        status,
        error_type: error_type.trim().to_string(),
        curl_error,
    })
}

/// `HTTP 404 ResourceNotFoundException: Function not found: …`, from the error type header
/// and the JSON (Lambda, API Gateway) or XML (STS) error document.
fn error_message(status: u16, error_type: &str, body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let field = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| json[*k].as_str())
            .map(str::to_string)
    };
    let tag = |t: &str| {
        let start = body.find(&format!("<{t}>"))? + t.len() + 2;
        let len = body[start..].find(&format!("</{t}>"))?;
        Some(body[start..start + len].to_string())
    };
    let code = Some(error_type.to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| field(&["__type", "code", "Code"]))
        .or_else(|| tag("Code"))
        .map(|c| c.rsplit('#').next().unwrap_or_default().to_string());
    // A signature mismatch may quote the canonical request, whose headers hold the session token.
    let message = field(&["message", "Message"])
        .or_else(|| tag("Message"))
        .map(|m| match m.find("The Canonical String") {
            Some(i) => m[..i].trim_end().to_string(),
            None => m,
        });
    match (code, message) {
        (Some(c), Some(m)) => format!("HTTP {status} {c}: {m}"),
        (Some(c), None) => format!("HTTP {status} {c}"),
        (None, Some(m)) => format!("HTTP {status}: {m}"),
        (None, None) => format!("HTTP {status}"),
    }
}

/// Where `service`'s requests go: (scheme, host as signed and sent, path before the call's).
/// A configured endpoint (moto serves every service on one URL) else AWS's regional one.
fn base_url(
    endpoint: Option<&str>,
    service: &Service,
    region: &str,
) -> Result<(String, String, String)> {
    let Some(url) = endpoint else {
        let domain = match region.starts_with("cn-") {
            true => "amazonaws.com.cn",
            false => "amazonaws.com",
        };
        let host = format!("{}.{region}.{domain}", service.signing);
        return Ok(("https".into(), host, String::new()));
    };
    let (scheme, host, path) = split_endpoint(url, service.id)?;
    Ok((scheme, host, path.trim_end_matches('/').to_string()))
}

/// An endpoint URL as (scheme, host without the scheme's default port, path after the host).
pub(super) fn split_endpoint(url: &str, what: &str) -> Result<(String, String, String)> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| matches!(*s, "http" | "https"))
        .with_context(|| {
            format!("the {what} endpoint {url:?} is not an http:// or https:// URL")
        })?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    // curl leaves a scheme's default port out of the Host header, so the signature must too.
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let host = host.strip_suffix(default_port).unwrap_or(host);
    if host.is_empty() {
        bail!("the {what} endpoint {url:?} has no host");
    }
    let path = match path.trim_matches('/') {
        "" => String::new(),
        p => format!("/{p}"),
    };
    Ok((scheme.to_string(), host.to_string(), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_addressed_at_their_endpoint_or_aws_regional_host() {
        let at = |e, s: &Service, r| {
            let (scheme, host, path) = base_url(e, s, r).unwrap();
            format!("{scheme}://{host}{path}/CALL")
        };
        assert_eq!(
            at(None, &STS, "eu-west-1"),
            "https://sts.eu-west-1.amazonaws.com/CALL"
        );
        assert_eq!(
            at(None, &APIGATEWAYV2, "us-east-1"),
            "https://apigateway.us-east-1.amazonaws.com/CALL"
        );
        assert_eq!(
            at(None, &LAMBDA, "cn-north-1"),
            "https://lambda.cn-north-1.amazonaws.com.cn/CALL"
        );
        assert_eq!(
            at(Some("http://127.0.0.1:5000/"), &LAMBDA, "eu-west-1"),
            "http://127.0.0.1:5000/CALL"
        );
        assert_eq!(
            at(Some("https://gw.corp:443/aws/"), &STS, "eu-west-1"),
            "https://gw.corp/aws/CALL"
        );
        let e = base_url(Some("127.0.0.1:5000"), &LAMBDA, "eu-west-1").unwrap_err();
        assert!(format!("{e}").contains("LAMBDA endpoint"), "{e}");
    }

    #[test]
    fn the_url_and_the_body_path_reach_curl_quoted_with_the_bounds() {
        let auth = [(
            "Authorization".to_string(),
            "AWS4-HMAC-SHA256 Signature=s".to_string(),
        )];
        let c = config("http://h/p?X-Amz-Signature=s", &auth, "/tmp/a \"b\"", 7, 2);
        assert!(
            c.contains("header = \"Authorization: AWS4-HMAC-SHA256 Signature=s\"\n"),
            "{c}"
        );
        assert!(
            c.starts_with("url = \"http://h/p?X-Amz-Signature=s\"\n"),
            "{c}"
        );
        assert!(c.contains("output = \"/tmp/a \\\"b\\\"\"\n"), "{c}");
        for bound in ["connect-timeout = 7", "speed-time = 7", "retry = 2"] {
            assert!(c.contains(bound), "{c}");
        }
    }

    #[test]
    fn write_out_lines_are_read_with_and_without_the_header_variable() {
        let w = parse_write_out(
            "404\t0\tResourceNotFoundException:http://internal.amazon.com/coral/\t\n",
        )
        .unwrap();
        assert_eq!(w.status, 404);
        assert_eq!(w.error_type, "ResourceNotFoundException");
        assert_eq!(w.curl_error, "");
        let w =
            parse_write_out("000\t28\t\tOperation timed out after 15001 milliseconds\n").unwrap();
        assert_eq!(
            w.curl_error,
            "curl error 28: Operation timed out after 15001 milliseconds"
        );
        let old = parse_write_out("200\t\t%header{x-amzn-errortype}\t\n").unwrap();
        assert_eq!((old.status, old.error_type.as_str()), (200, ""));
        assert_eq!(parse_write_out("curl: option --disable: is unknown"), None);
    }

    #[test]
    fn errors_are_read_from_the_header_and_the_json_or_xml_document() {
        assert_eq!(
            error_message(
                404,
                "ResourceNotFoundException",
                r#"{"Type":"User","message":"Function not found: arn:aws:lambda:x"}"#
            ),
            "HTTP 404 ResourceNotFoundException: Function not found: arn:aws:lambda:x"
        );
        assert_eq!(
            error_message(404, "", r#"{"message":"Invalid API identifier"}"#),
            "HTTP 404: Invalid API identifier"
        );
        assert_eq!(
            error_message(
                403,
                "",
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>\
                 <Message>The security token included in the request is invalid.</Message>\
                 </Error></ErrorResponse>"
            ),
            "HTTP 403 InvalidClientTokenId: The security token included in the request is invalid."
        );
        assert_eq!(
            error_message(400, "", r#"{"__type":"com.amazon#ThrottlingException"}"#),
            "HTTP 400 ThrottlingException"
        );
        assert_eq!(error_message(502, "", "<html>"), "HTTP 502");
        assert_eq!(
            error_message(
                403,
                "InvalidSignatureException",
                r#"{"message":"The request signature we calculated does not match.\n\nThe Canonical String for this request should have been\n'GET\n/\n\nx-amz-security-token:tok\n'"}"#
            ),
            "HTTP 403 InvalidSignatureException: The request signature we calculated does not match."
        );
    }
}
