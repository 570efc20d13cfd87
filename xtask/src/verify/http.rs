//! `--http`: every route requested without credentials. A private route must answer 401/403,
//! a public one anything but 404 (API Gateway's answer for a route it does not have).
//!
//! http:// goes through a small HTTP/1.1 client on `TcpStream` (enough for a status line);
//! https:// (every real API Gateway URL) goes through `curl`, which is everywhere and brings TLS
//! and proxies, rather than a TLS stack compiled into the xtask.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

use super::state::{Deployed, Route};
use super::Check;
use crate::proc::Cmd;

/// Requests at once: a gateway throttles bursts, and the routes are few.
const BOUND: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(15);
/// What `{param}` segments become: a value no real id has.
const PLACEHOLDER: &str = "xtask-verify";

enum Client {
    Plain,
    Curl(std::path::PathBuf),
}

pub(super) fn checks(d: &Deployed, outputs: &Value, url: Option<&str>) -> Vec<Check> {
    let fail = |message: String, fix: &str| {
        vec![Check::fail(
            "http",
            "",
            "API URL".into(),
            message,
            fix.into(),
        )]
    };
    let base = match url {
        Some(u) => u.to_string(),
        None => match &outputs["api_gateway_url"] {
            o if o.is_null() => {
                return fail(
                    "the root module has no `api_gateway_url` output".into(),
                    "pass --url URL, or add `output \"api_gateway_url\"` to the env",
                )
            }
            o if o["sensitive"] == true => {
                return fail(
                    "output `api_gateway_url` is sensitive, so verify does not use it".into(),
                    "pass --url URL",
                )
            }
            o => o["value"].as_str().unwrap_or_default().to_string(),
        },
    };
    let client =
        if base.starts_with("http://") {
            Client::Plain
        } else if base.starts_with("https://") {
            match which::which("curl") {
                Ok(curl) => Client::Curl(curl),
                Err(_) => return fail(
                    format!("{base} is https and curl is not on PATH"),
                    "install curl, or pass --url with an http:// URL (a proxy or local stand-in)",
                ),
            }
        } else {
            return fail(
                format!("{base} is not an http:// or https:// URL"),
                "pass --url http(s)://host[/stage]",
            );
        };
    // Only the routes of the API the URL belongs to, when the env says which one that is.
    let api_id = match &outputs["api_gateway_id"] {
        o if o["sensitive"] == false => o["value"].as_str(),
        _ => None,
    };
    let routes: Vec<&Route> = d
        .routes
        .iter()
        .filter(|r| api_id.is_none_or(|id| r.api_id == id))
        .collect();
    let answers = crate::pool::parallel(&routes, BOUND, |r| request_route(r, &base, &client));
    // An unreachable URL fails every request the same way: say it once.
    let requested = || answers.iter().filter(|(method, _, _)| !method.is_empty());
    if let Some((_, _, Err(e))) = requested().next() {
        if requested().all(|(_, _, a)| a.is_err()) {
            return fail(
                format!("cannot reach {base}: {e}"),
                "check that the URL is reachable from here, or pass --url",
            );
        }
    }
    routes
        .iter()
        .zip(answers)
        .map(|(r, (method, url, answer))| {
            let module = d.route_module(r);
            let subject = super::route_subject(&r.key);
            match answer {
                Ok(status) => classify(r, module, subject, &method, &url, status),
                Err(e) if method.is_empty() => Check::skip("http", module, subject, e),
                Err(e) => Check::fail(
                    "http",
                    module,
                    subject,
                    format!("{method} {url}: {e}"),
                    "check that the URL is reachable from here (--url to override it)".into(),
                ),
            }
        })
        .collect()
}

/// The method and URL requested for a route, and its status code. No method: not requestable.
fn request_route(r: &Route, base: &str, client: &Client) -> (String, String, Result<u16, String>) {
    let Some((method, path)) = r.key.split_once(' ') else {
        return (
            String::new(),
            String::new(),
            Err("not a `METHOD /path` route".into()),
        );
    };
    let method = if method == "ANY" { "GET" } else { method };
    let url = format!("{}{}", base.trim_end_matches('/'), fill_placeholders(path));
    let answer = match client {
        Client::Plain => request(&url, method),
        Client::Curl(curl) => curl_request(curl, &url, method),
    };
    (method.to_string(), url, answer)
}

fn classify(
    r: &Route,
    module: &str,
    subject: String,
    method: &str,
    url: &str,
    status: u16,
) -> Check {
    let private = r.authorization_type != "NONE";
    let kind = if private { "private" } else { "public" };
    if status == 404 {
        let hint = if r.key.contains('{') {
            format!(" (path parameters were filled with `{PLACEHOLDER}`: a handler that answers 404 for unknown ids needs a real one)")
        } else {
            String::new()
        };
        return Check::fail(
            "http",
            module,
            subject,
            format!("route `{}` answered 404 to {method} {url}: the API does not serve it{hint}", r.key),
            "check the route is deployed (verify without --offline) and that the URL is this API's stage".into(),
        );
    }
    match (private, status) {
        (true, 401 | 403) | (false, _) => Check::pass(
            "http",
            module,
            subject,
            format!("{kind}, answered {status} without credentials"),
        ),
        (true, 200..=299) => Check::fail(
            "http",
            module,
            subject,
            format!("private route `{}` answered {status} without credentials: it is not protected", r.key),
            format!("give {} an authorizer (public = false in the module's api_routes), then apply", r.address),
        ),
        (true, _) => Check::fail(
            "http",
            module,
            subject,
            format!("private route `{}` answered {status} without credentials instead of 401/403", r.key),
            "check the authorizer Lambda's logs: it must deny requests without an Authorization header".into(),
        ),
    }
}

/// `/orgs/{orgId}/members` → `/orgs/xtask-verify/members`; `{proxy+}` too.
fn fill_placeholders(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                PLACEHOLDER
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A bodyless HTTP/1.1 request over plain TCP; returns the status code.
fn request(url: &str, method: &str) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or("not an http:// URL")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addrs = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?;
    let mut last = format!("cannot resolve {authority}");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect to {a}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let io = |e: std::io::Error| format!("{e}");
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    // One write: the request head in a single segment.
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: cargo-xtask-verify\r\n\
         Accept: */*\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).map_err(io)?;
    // The status line is all that is needed; read until it is complete.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.contains(&b'\n') && head.len() < 8192 {
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_status(&String::from_utf8_lossy(&head))
}

fn parse_status(head: &str) -> Result<u16, String> {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().and_then(|c| c.parse().ok())) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => Ok(code),
        _ => Err(format!(
            "not an HTTP response: {:?}",
            line.chars().take(80).collect::<String>()
        )),
    }
}

fn curl_request(curl: &std::path::Path, url: &str, method: &str) -> Result<u16, String> {
    let cmd = Cmd::new(curl)
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "15",
        ])
        .args(["-X", method, "-H", "Content-Length: 0", url]);
    let out = cmd.output().map_err(|e| format!("{e:#}"))?;
    if !out.success() {
        return Err(out.tail(2));
    }
    out.stdout.trim().parse().map_err(|_| {
        format!(
            "curl printed {:?} instead of a status code",
            out.stdout.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Status;

    #[test]
    fn placeholders_fill_every_parameter_segment() {
        assert_eq!(
            fill_placeholders("/orgs/{orgId}/members/{proxy+}"),
            "/orgs/xtask-verify/members/xtask-verify"
        );
        assert_eq!(fill_placeholders("/profiles/me"), "/profiles/me");
    }

    #[test]
    fn private_routes_must_refuse_and_no_route_may_404() {
        let route = |key: &str, auth: &str| Route {
            address: format!("module.gw.aws_apigatewayv2_route.this[\"{key}\"]"),
            module: "module.gw".into(),
            api_id: "api1".into(),
            key: key.into(),
            target: None,
            authorization_type: auth.into(),
        };
        let status =
            |r: &Route, code| classify(r, "m", "s".into(), "GET", "http://h/x", code).status;
        let private = route("GET /orgs/{orgId}", "CUSTOM");
        let public = route("GET /ai/providers", "NONE");
        assert_eq!(status(&private, 401), Status::Pass);
        assert_eq!(status(&private, 403), Status::Pass);
        assert_eq!(status(&private, 200), Status::Fail);
        assert_eq!(status(&private, 500), Status::Fail);
        assert_eq!(status(&public, 200), Status::Pass);
        assert_eq!(status(&public, 500), Status::Pass);
        let missing = classify(
            &private,
            "m",
            "s".into(),
            "GET",
            "http://h/orgs/xtask-verify",
            404,
        );
        assert_eq!(missing.status, Status::Fail);
        assert!(
            missing
                .message
                .starts_with("route `GET /orgs/{orgId}` answered 404"),
            "{missing:?}"
        );
        assert!(
            missing.message.contains("filled with `xtask-verify`"),
            "{missing:?}"
        );
    }

    #[test]
    fn a_sensitive_url_output_is_neither_used_nor_printed() {
        let d = crate::verify::tests::fixture().deployed();
        let outputs = serde_json::json!({
            "api_gateway_url": { "sensitive": true, "value": "http://secret.example" },
        });
        let c = checks(&d, &outputs, None);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].status, Status::Fail);
        assert!(c[0].message.contains("sensitive"), "{c:?}");
        assert!(!format!("{c:?}").contains("secret.example"), "{c:?}");
    }

    #[test]
    fn status_lines_parse_and_garbage_is_named() {
        assert_eq!(parse_status("HTTP/1.1 401 Unauthorized\r\n"), Ok(401));
        assert_eq!(parse_status("HTTP/1.0 200\r\n"), Ok(200));
        assert!(parse_status("SSH-2.0-OpenSSH\r\n")
            .unwrap_err()
            .contains("SSH"));
    }

    #[test]
    fn the_client_reads_the_status_from_a_local_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "request ended early: {req:?}");
                req.extend_from_slice(&buf[..n]);
            }
            let req = String::from_utf8(req).unwrap();
            s.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            req
        });
        let code = request(&format!("http://127.0.0.1:{port}/stage/x"), "PUT").unwrap();
        assert_eq!(code, 403);
        let req = server.join().unwrap();
        assert!(req.starts_with("PUT /stage/x HTTP/1.1\r\n"), "{req}");
        assert!(
            req.contains(&format!("Host: 127.0.0.1:{port}\r\n")),
            "{req}"
        );
        assert!(!req.to_ascii_lowercase().contains("authorization"), "{req}");
    }
}
