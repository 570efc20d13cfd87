//! AWS Signature Version 4 as presigned URLs (query-string authentication), for S3 and for the
//! GET calls of other services verify makes: the URL alone authorises one request, so the
//! transfer tool needs no credentials and no extra headers, and the secret key never leaves this
//! process. HMAC-SHA256 is written here over `sha2`, which the
//! xtask already compiles, rather than adding a crate for twenty lines.

use sha2::{Digest, Sha256};

use crate::fsutil::hex;

pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // Never the secret or the token, even in a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({})", self.access_key)
    }
}

/// What one presigned request is for.
pub struct Request<'a> {
    pub method: &'a str,
    /// The signing name: `s3`, `sts`, `lambda`, `apigateway`.
    pub service: &'a str,
    /// `https`, `http`.
    pub scheme: &'a str,
    /// As sent in the Host header: `bucket.s3.eu-west-1.amazonaws.com`, `127.0.0.1:5000`.
    pub host: &'a str,
    /// The decoded path, `/bucket/prefix/key` or `/prefix/key`.
    pub path: &'a str,
    /// Query parameters besides the signature's, decoded (`Action`, `nextToken`).
    pub query: &'a [(&'a str, &'a str)],
    pub region: &'a str,
    /// Seconds since the Unix epoch.
    pub now: u64,
    pub expires_secs: u64,
}

/// SHA-256 of an empty payload: what a GET to a service other than S3 signs.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The URL that performs `req` with `creds` until it expires. S3's payload is unsigned
/// (`UNSIGNED-PAYLOAD`: the zips are verified against their own SHA-256 on the way back); other
/// services only take GETs here, whose payload is empty.
pub fn presign(req: &Request, creds: &Credentials) -> String {
    let s3 = req.service == "s3";
    let stamp = amz_date(req.now);
    let day = &stamp[..8];
    let scope = format!("{day}/{}/{}/aws4_request", req.region, req.service);
    let path = encode(req.path, false);
    // Every service but S3 signs each path segment encoded twice (botocore, the AWS SDKs).
    let signed_path = match s3 {
        true => path.clone(),
        false => encode(&path, false),
    };
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (encode(k, true), encode(v, true)))
        .collect();
    query.extend(
        [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_string()),
            (
                "X-Amz-Credential",
                encode(&format!("{}/{scope}", creds.access_key), true),
            ),
            ("X-Amz-Date", stamp.clone()),
            ("X-Amz-Expires", req.expires_secs.to_string()),
            ("X-Amz-SignedHeaders", "host".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    if let Some(token) = &creds.session_token {
        query.push(("X-Amz-Security-Token".into(), encode(token, true)));
    }
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let query = query.join("&");
    let payload = if s3 { "UNSIGNED-PAYLOAD" } else { EMPTY_SHA256 };
    let canonical = format!(
        "{}\n{signed_path}\n{query}\nhost:{}\n\nhost\n{payload}",
        req.method, req.host
    );
    let signature = sign(req, creds, &stamp, &scope, &canonical);
    format!(
        "{}://{}{path}?{query}&X-Amz-Signature={signature}",
        req.scheme, req.host
    )
}

/// Header authentication for a GET to a service other than S3: the URL and the headers
/// (`X-Amz-Date`, `X-Amz-Security-Token`, `Authorization`) that authorise it. Services are told
/// apart by the credential scope of the `Authorization` header on endpoints that serve several
/// (moto), which a presigned URL's query does not do; `expires_secs` is not used.
pub fn sign_headers(req: &Request, creds: &Credentials) -> (String, Vec<(String, String)>) {
    let stamp = amz_date(req.now);
    let day = &stamp[..8];
    let scope = format!("{day}/{}/{}/aws4_request", req.region, req.service);
    let path = encode(req.path, false);
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (encode(k, true), encode(v, true)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let query = query.join("&");
    let mut headers = vec![
        ("host".to_string(), req.host.to_string()),
        ("x-amz-date".to_string(), stamp.clone()),
    ];
    if let Some(token) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), token.clone()));
    }
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let signed = signed.join(";");
    let canonical = format!(
        "{}\n{}\n{query}\n{canonical_headers}\n{signed}\n{EMPTY_SHA256}",
        req.method,
        encode(&path, false)
    );
    let signature = sign(req, creds, &stamp, &scope, &canonical);
    let mut out: Vec<(String, String)> = vec![("X-Amz-Date".into(), stamp)];
    if let Some(token) = &creds.session_token {
        out.push(("X-Amz-Security-Token".into(), token.clone()));
    }
    out.push((
        "Authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            creds.access_key
        ),
    ));
    let url = match query.is_empty() {
        true => format!("{}://{}{path}", req.scheme, req.host),
        false => format!("{}://{}{path}?{query}", req.scheme, req.host),
    };
    (url, out)
}

/// The signature of a canonical request.
fn sign(req: &Request, creds: &Credentials, stamp: &str, scope: &str, canonical: &str) -> String {
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", creds.secret_key).as_bytes(),
        &stamp.as_bytes()[..8],
    );
    for part in [req.region, req.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    hex(&hmac(&key, to_sign.as_bytes()))
}

/// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept, every other byte
/// `%XX`; `/` kept in a path, encoded in a query value.
fn encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// HMAC-SHA256 (RFC 2104; the key is never longer than a block here, but is hashed if it is).
fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |x: u8| block.iter().map(|b| b ^ x).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// `YYYYMMDDTHHMMSSZ` for Unix seconds (UTC; days to a civil date after H. Hinnant).
pub(crate) fn amz_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Credentials {
        Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    #[test]
    fn the_presigned_get_of_the_aws_documentation_is_reproduced() {
        // "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", S3 API
        // reference: GET /test.txt from examplebucket, 2013-05-24 00:00:00 UTC, for a day.
        let url = presign(
            &Request {
                method: "GET",
                service: "s3",
                scheme: "https",
                host: "examplebucket.s3.amazonaws.com",
                path: "/test.txt",
                query: &[],
                region: "us-east-1",
                now: 1_369_353_600,
                expires_secs: 86_400,
            },
            &example(),
        );
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn a_session_token_is_signed_in_the_query_and_encoded() {
        let creds = Credentials {
            session_token: Some("tok/en+=".into()),
            ..example()
        };
        let req = Request {
            method: "PUT",
            service: "s3",
            scheme: "http",
            host: "127.0.0.1:5000",
            path: "/bucket/a b/key",
            query: &[],
            region: "eu-west-1",
            now: 1_700_000_000,
            expires_secs: 900,
        };
        let url = presign(&req, &creds);
        assert!(
            url.starts_with("http://127.0.0.1:5000/bucket/a%20b/key?"),
            "{url}"
        );
        assert!(
            url.contains("&X-Amz-Security-Token=tok%2Fen%2B%3D&"),
            "{url}"
        );
        let without = presign(&req, &example());
        let sig = |u: &str| u.rsplit_once('=').unwrap().1.to_string();
        assert_ne!(
            sig(&url),
            sig(&without),
            "the token is part of what is signed"
        );
    }

    #[test]
    fn other_services_sign_as_botocore_does() {
        // Expected URLs from botocore's SigV4QueryAuth (aws CLI 1.x) for the same request at
        // 2026-12-06 04:21:59 UTC: query parameters besides the signature's, a path segment
        // that needs encoding (signed encoded twice), the empty payload's hash.
        let url = |service, host, path, query: &[(&str, &str)]| {
            presign(
                &Request {
                    method: "GET",
                    service,
                    scheme: "https",
                    host,
                    path,
                    query,
                    region: "eu-west-1",
                    now: 1_796_530_919,
                    expires_secs: 60,
                },
                &example(),
            )
        };
        let tail = |service: &str, sig: &str| {
            format!(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261206\
                 %2Feu-west-1%2F{service}%2Faws4_request&X-Amz-Date=20261206T042159Z\
                 &X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}"
            )
        };
        assert_eq!(
            url(
                "lambda",
                "lambda.eu-west-1.amazonaws.com",
                "/2018-10-31/layers/arn:aws:lambda:eu-west-1:123456789012:layer:deps/versions/3",
                &[]
            ),
            format!(
                "https://lambda.eu-west-1.amazonaws.com/2018-10-31/layers/arn%3Aaws%3Alambda%3A\
                 eu-west-1%3A123456789012%3Alayer%3Adeps/versions/3?{}",
                tail(
                    "lambda",
                    "2c364e0b4c86e53fe3488a06eab7cefa0689b801fdd788ffb96be56d4073a74d"
                )
            )
        );
        assert_eq!(
            url(
                "sts",
                "sts.eu-west-1.amazonaws.com",
                "/",
                &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]
            ),
            format!(
                "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&{}",
                tail(
                    "sts",
                    "e3e70d3fa9e5d08f62f3663f8f54de18c94adab069acdd6ec64b4991f8bd3d1a"
                )
            )
        );
        // The query in canonical (sorted) order, botocore keeps the caller's: same signature.
        let gw = url(
            "apigateway",
            "apigateway.eu-west-1.amazonaws.com",
            "/v2/apis/a1b2/routes",
            &[("nextToken", "x+y=")],
        );
        assert!(
            gw.contains("&X-Amz-SignedHeaders=host&nextToken=x%2By%3D&"),
            "{gw}"
        );
        assert!(
            gw.ends_with("=9f127b20a31861edc8bbea5b07e11b0afde6770e1cdd4f3edd42f22885b3c4c9"),
            "{gw}"
        );
    }

    #[test]
    fn header_signatures_are_botocores() {
        // botocore's SigV4Auth (aws CLI 1.x) at 2026-12-06 04:29:01 UTC, with a session token.
        let creds = Credentials {
            session_token: Some("tok/en+=".into()),
            ..example()
        };
        let sign = |service, host, path, query: &[(&str, &str)]| {
            sign_headers(
                &Request {
                    method: "GET",
                    service,
                    scheme: "https",
                    host,
                    path,
                    query,
                    region: "eu-west-1",
                    now: 1_796_531_341,
                    expires_secs: 0,
                },
                &creds,
            )
        };
        let auth = |service: &str, sig: &str| {
            vec![
                ("X-Amz-Date".to_string(), "20261206T042901Z".to_string()),
                ("X-Amz-Security-Token".to_string(), "tok/en+=".to_string()),
                (
                    "Authorization".to_string(),
                    format!(
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261206/eu-west-1/\
                         {service}/aws4_request, SignedHeaders=host;x-amz-date;\
                         x-amz-security-token, Signature={sig}"
                    ),
                ),
            ]
        };
        assert_eq!(
            sign(
                "lambda",
                "lambda.eu-west-1.amazonaws.com",
                "/2018-10-31/layers/arn:aws:lambda:eu-west-1:123456789012:layer:deps/versions/3",
                &[]
            ),
            (
                "https://lambda.eu-west-1.amazonaws.com/2018-10-31/layers/arn%3Aaws%3Alambda%3A\
                 eu-west-1%3A123456789012%3Alayer%3Adeps/versions/3"
                    .to_string(),
                auth(
                    "lambda",
                    "702e101f36fdfe1ebdfc7c2ca78d177de9ace8b4c6633b3379a48ffd0f1ee1b9"
                )
            )
        );
        assert_eq!(
            sign(
                "apigateway",
                "apigateway.eu-west-1.amazonaws.com",
                "/v2/apis/a1b2/routes",
                &[("nextToken", "x+y=")]
            ),
            (
                "https://apigateway.eu-west-1.amazonaws.com/v2/apis/a1b2/routes?nextToken=x%2By%3D"
                    .to_string(),
                auth(
                    "apigateway",
                    "6cde4b7b7a475dfa9e98b8749d5efbf1837c6902aee33ed9b73ee14e582b3c09"
                )
            )
        );
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex(&hmac(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than a block.
        assert_eq!(
            hex(&hmac(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
        assert_eq!(amz_date(1_796_495_612), "20261205T183332Z");
    }
}
