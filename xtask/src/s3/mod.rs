//! A small S3 client: presigned GETs and PUTs (SigV4, signed here) carried out by curl, every
//! object of a batch in one curl process with parallel transfers. curl starts in milliseconds
//! where the aws CLI takes half a second, speaks HTTPS with the system's certificates, and adds
//! nothing to the xtask's compile (BENCHMARKS.md compares it with a Rust S3 client and the SDK).
//! The presigned URLs reach curl on its standard input, never on a command line others can read.

pub(crate) mod api;
pub(crate) mod chain;
pub(crate) mod sigv4;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::proc::Cmd;

/// Presigned URLs live this long: enough for the longest batch to start every transfer.
const URL_LIFETIME_SECS: u64 = 3_600;
/// Transfers at once within a batch.
const PARALLEL: &str = "8";

pub struct Client {
    creds: sigv4::Credentials,
    region: String,
    scheme: String,
    host: String,
    /// Prepended to every key: `/bucket` (path style) or `` (virtual-hosted), after any path
    /// the endpoint itself has.
    base: String,
    curl: PathBuf,
    timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Put,
}

/// What the server answered one transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: downloaded to, or uploaded from, the item's path.
    Ok,
    /// 404 to a GET.
    Missing,
    /// 412 to a conditional PUT: an object is already stored under the key.
    Exists,
    /// Anything else, or a batch that could not run: the reason, as S3 or curl gave it (never
    /// a URL).
    Failed(String),
}

impl Answer {
    pub fn failure(&self) -> Option<&str> {
        match self {
            Answer::Failed(why) => Some(why),
            _ => None,
        }
    }
}

impl Client {
    /// The client for `bucket` as the AWS chain of this process resolves it; `timeout_secs` is
    /// how long to wait to connect, and for any byte of an answer.
    pub fn new(bucket: &str, timeout_secs: u64) -> Result<Client> {
        let curl = which::which("curl").context(
            "curl is not on PATH (the shared cache talks to S3 through it); install curl",
        )?;
        let r = chain::resolve(&chain::Inputs::of_process())?;
        let (scheme, host, base) = locate(r.endpoint.as_deref(), &r.region, bucket)?;
        Ok(Client {
            creds: r.creds,
            region: r.region,
            scheme,
            host,
            base,
            curl,
            timeout_secs: timeout_secs.max(1),
        })
    }

    /// Downloads each `(key, path)` to its path, all in one curl process: an answer each.
    pub fn get(&self, items: &[(String, PathBuf)]) -> Vec<Answer> {
        self.get_each(items, |_| {})
    }

    /// As `get`, calling `done(i)` as soon as item `i` is downloaded whole (2xx), while the
    /// others still transfer.
    pub fn get_each(&self, items: &[(String, PathBuf)], done: impl FnMut(usize)) -> Vec<Answer> {
        self.batch(Method::Get, items, done)
    }

    /// Uploads each `(key, path)` unless an object is already stored under the key
    /// (`If-None-Match: *`, so two runners racing on a key leave the first one's object).
    pub fn put(&self, items: &[(String, PathBuf)]) -> Vec<Answer> {
        self.batch(Method::Put, items, |_| {})
    }

    fn url(&self, method: Method, key: &str, now: u64) -> String {
        sigv4::presign(
            &sigv4::Request {
                method: match method {
                    Method::Get => "GET",
                    Method::Put => "PUT",
                },
                service: "s3",
                scheme: &self.scheme,
                host: &self.host,
                path: &format!("{}/{key}", self.base),
                query: &[],
                region: &self.region,
                now,
                expires_secs: URL_LIFETIME_SECS,
            },
            &self.creds,
        )
    }

    /// One answer an item; a batch curl could not run fails every item with the reason.
    fn batch(
        &self,
        method: Method,
        items: &[(String, PathBuf)],
        done: impl FnMut(usize),
    ) -> Vec<Answer> {
        self.run(method, items, done).unwrap_or_else(|e| {
            let why = Answer::Failed(format!("{e:#}"));
            vec![why; items.len()]
        })
    }

    fn run(
        &self,
        method: Method,
        items: &[(String, PathBuf)],
        mut done: impl FnMut(usize),
    ) -> Result<Vec<Answer>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let t = self.timeout_secs;
        let mut config = String::new();
        for (i, (key, path)) in items.iter().enumerate() {
            if i > 0 {
                config.push_str("next\n");
            }
            let _ = writeln!(config, "url = {}", quote(&self.url(method, key, now)));
            match method {
                Method::Put => {
                    let _ = writeln!(config, "upload-file = {}", quote_path(path));
                    let _ = writeln!(config, "output = {}", quote_path(&answer_file(path)));
                    config.push_str("header = \"If-None-Match: *\"\nheader = \"Expect:\"\n");
                }
                Method::Get => {
                    let _ = writeln!(config, "output = {}", quote_path(path));
                }
            }
            // A stalled server: nothing for `t` seconds is a timeout, as is a slow connect.
            // Each answer goes to stderr, which is not buffered: it comes as the transfer ends
            // (its file closed), not when curl exits. Its own line, after any progress meter.
            let _ = writeln!(
                config,
                "silent\nconnect-timeout = {t}\nspeed-limit = 1\nspeed-time = {t}\n\
                 write-out = \"%{{stderr}}\\n{ANSWER} {i} %{{http_code}} %{{exitcode}} \
                 %{{errormsg}}\\n\""
            );
        }
        let out = Cmd::new(&self.curl)
            .args(["--disable", "--parallel", "--parallel-max", PARALLEL])
            .args(["--config", "-"])
            .stdin(config)
            .own_group()
            .output_stderr_lines(|line| {
                if let Some((i, (200..=299, why))) = parse_answer(line) {
                    if why.is_empty() && i < items.len() {
                        done(i);
                    }
                }
            })?;
        let mut lines = parse_write_out(&out.stderr);
        if lines.is_empty() && !out.success() {
            bail!(
                "curl failed (the shared cache needs curl 7.66 or newer): {}",
                out.tail(2)
            );
        }
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, (_, path))| {
                let body = match method {
                    Method::Put => answer_file(path),
                    Method::Get => path.clone(),
                };
                let answer = match lines.remove(&i) {
                    None => Answer::Failed("curl gave no answer for it".into()),
                    Some((_, why)) if !why.is_empty() => Answer::Failed(why),
                    Some((0, _)) => {
                        Answer::Failed("no answer (cannot connect, or timed out)".into())
                    }
                    Some((200..=299, _)) => Answer::Ok,
                    Some((404, _)) if method == Method::Get => Answer::Missing,
                    Some((412, _)) if method == Method::Put => Answer::Exists,
                    Some((code, _)) => Answer::Failed(s3_error(code, &body)),
                };
                if method == Method::Put || answer != Answer::Ok {
                    let _ = std::fs::remove_file(&body);
                }
                answer
            })
            .collect())
    }
}

/// What starts each transfer's `--write-out` line, told apart from curl's progress meter.
const ANSWER: &str = "xtask-answer";

/// Each transfer's `--write-out` line, `<ANSWER> <index> <status> <exit code> <error>`, by index.
fn parse_write_out(stderr: &str) -> HashMap<usize, (u16, String)> {
    stderr.lines().filter_map(parse_answer).collect()
}

fn parse_answer(line: &str) -> Option<(usize, (u16, String))> {
    let mut f = line.strip_prefix(ANSWER)?.strip_prefix(' ')?.splitn(4, ' ');
    let (i, code, exit) = (f.next()?, f.next()?, f.next()?);
    let (i, code) = (i.parse::<usize>().ok()?, code.parse::<u16>().ok()?);
    // `%{exitcode}` and `%{errormsg}` are empty before curl 7.75: then only the status.
    let why = match exit {
        "0" | "" => String::new(),
        e => format!("curl error {e}: {}", redact(f.next().unwrap_or("").trim())),
    };
    Some((i, (code, why)))
}

/// Where requests for `bucket` go: (scheme, host as signed and sent, path before the key). A
/// configured endpoint (moto, MinIO, LocalStack) is addressed path-style; AWS virtual-hosted,
/// but for dotted bucket names, which do not match the wildcard certificate.
fn locate(endpoint: Option<&str>, region: &str, bucket: &str) -> Result<(String, String, String)> {
    let Some(url) = endpoint else {
        let domain = match region.starts_with("cn-") {
            true => "amazonaws.com.cn",
            false => "amazonaws.com",
        };
        let regional = format!("s3.{region}.{domain}");
        return Ok(match bucket.contains('.') {
            true => ("https".into(), regional, format!("/{bucket}")),
            false => (
                "https".into(),
                format!("{bucket}.{regional}"),
                String::new(),
            ),
        });
    };
    let (scheme, host, path) = api::split_endpoint(url, "S3")?;
    let base = match path.as_str() {
        "" => format!("/{bucket}"),
        p => format!("{p}/{bucket}"),
    };
    Ok((scheme, host, base))
}

/// A message with any presigned query cut off: the signature and a session token stay here.
fn redact(msg: &str) -> String {
    msg.split_whitespace()
        .map(|w| match w.find("?X-Amz-") {
            Some(i) => format!("{}?…", &w[..i]),
            None => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where a PUT's response body goes (an error document, if any).
fn answer_file(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".answer");
    PathBuf::from(s)
}

/// `HTTP 403 AccessDenied: Access Denied`, from S3's XML error document when there is one.
fn s3_error(code: u16, body: &Path) -> String {
    let text = std::fs::read(body).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[..text.len().min(4096)]);
    let tag = |t: &str| {
        let start = text.find(&format!("<{t}>"))? + t.len() + 2;
        let len = text[start..].find(&format!("</{t}>"))?;
        Some(text[start..start + len].to_string())
    };
    let mut why = match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("HTTP {code} {c}: {m}"),
        (Some(c), None) => format!("HTTP {code} {c}"),
        _ => format!("HTTP {code}"),
    };
    // A bucket in another region than the one resolved: S3 names the right one.
    if let Some(region) = tag("Region").or_else(|| {
        let endpoint = tag("Endpoint")?;
        Some(
            endpoint
                .split(".s3.")
                .nth(1)?
                .split('.')
                .next()?
                .to_string(),
        )
    }) {
        why.push_str(&format!(
            "; the bucket is in {region}: set AWS_REGION={region}"
        ));
    }
    why
}

/// A curl config string: double quotes, with `\` and `"` escaped.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn quote_path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_errors_are_read_from_the_xml_document() {
        let dir = tempfile::tempdir().unwrap();
        let body = dir.path().join("b");
        std::fs::write(
            &body,
            "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access \
             Denied</Message><RequestId>1</RequestId></Error>",
        )
        .unwrap();
        assert_eq!(s3_error(403, &body), "HTTP 403 AccessDenied: Access Denied");
        std::fs::write(&body, "<html>bad gateway</html>").unwrap();
        assert_eq!(s3_error(502, &body), "HTTP 502");
        assert_eq!(s3_error(500, &dir.path().join("absent")), "HTTP 500");
        std::fs::write(
            &body,
            "<Error><Code>AuthorizationQueryParametersError</Code><Message>X-Amz-Credential \
             is wrong</Message><Region>eu-west-1</Region></Error>",
        )
        .unwrap();
        assert!(s3_error(400, &body).ends_with("set AWS_REGION=eu-west-1"));
        std::fs::write(
            &body,
            "<Error><Code>PermanentRedirect</Code><Message>Use the endpoint</Message>\
             <Endpoint>cache.s3.ap-south-1.amazonaws.com</Endpoint></Error>",
        )
        .unwrap();
        assert!(s3_error(301, &body)
            .ends_with("the bucket is in ap-south-1: set AWS_REGION=ap-south-1"));
    }

    #[test]
    fn endpoints_and_buckets_are_addressed_as_s3_expects() {
        let at = |e, r, b| {
            let (s, h, p) = locate(e, r, b).unwrap();
            format!("{s}://{h}{p}/KEY")
        };
        assert_eq!(
            at(None, "eu-west-1", "ci-cache"),
            "https://ci-cache.s3.eu-west-1.amazonaws.com/KEY"
        );
        assert_eq!(
            at(None, "us-east-1", "ci.cache"),
            "https://s3.us-east-1.amazonaws.com/ci.cache/KEY"
        );
        assert_eq!(
            at(None, "cn-north-1", "c-c"),
            "https://c-c.s3.cn-north-1.amazonaws.com.cn/KEY"
        );
        assert_eq!(
            at(Some("http://127.0.0.1:5000/"), "us-east-1", "b-b"),
            "http://127.0.0.1:5000/b-b/KEY"
        );
        assert_eq!(
            at(Some("https://minio.corp:443/s3/"), "us-east-1", "b-b"),
            "https://minio.corp/s3/b-b/KEY"
        );
        for bad in ["127.0.0.1:5000", "ftp://h", "http://"] {
            assert!(locate(Some(bad), "us-east-1", "b-b").is_err(), "{bad}");
        }
    }

    #[test]
    fn write_out_lines_are_read_with_and_without_curl_7_75_variables() {
        let new = parse_write_out(
            "DL% UL%\n\r--  --  0  0  9  8\nxtask-answer 1 404 0 \n\r100 100  0  0  9  0\n1 200 0 \n\
             xtask-answer 0 200 0 \nxtask-answer 2 000 28 Operation timed out after 1001 \
             milliseconds\nnoise\n",
        );
        assert_eq!(new[&0], (200, String::new()));
        assert_eq!(new[&1], (404, String::new()));
        assert_eq!(
            new[&2],
            (
                0,
                "curl error 28: Operation timed out after 1001 milliseconds".into()
            )
        );
        assert_eq!(new.len(), 3);
        // curl 7.66-7.74 prints unknown variables as nothing.
        let old = parse_write_out("xtask-answer 0 200  \nxtask-answer 1 000  \n");
        assert_eq!(old[&0], (200, String::new()));
        assert_eq!(old[&1], (0, String::new()));
    }

    #[test]
    fn presigned_queries_are_cut_from_messages() {
        assert_eq!(
            redact("Failed to open http://h/b/k?X-Amz-Algorithm=A&X-Amz-Security-Token=t now"),
            "Failed to open http://h/b/k?… now"
        );
        assert_eq!(redact("Connection refused"), "Connection refused");
    }

    #[test]
    fn config_strings_escape_quotes_and_backslashes() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }
}
