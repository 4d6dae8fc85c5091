//! Verification of AWS Signature Version 4 (and signing, for clients, on the same
//! canonicalization: [`sign`]).
//!
//! Two forms are accepted:
//!
//! - the `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
//!   Signature=…` header, dated by `X-Amz-Date` (or `Date`);
//! - the presigned query form with `X-Amz-Algorithm`, `X-Amz-Credential`,
//!   `X-Amz-Date`, `X-Amz-SignedHeaders`, `X-Amz-Signature` and optionally
//!   `X-Amz-Expires`.
//!
//! Verification is re-signing: the canonical request is rebuilt from the
//! request as received, signed with the caller's secret and compared in
//! constant time with the signature the client sent.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};
use sha2::{Digest, Sha256};

/// The only algorithm SigV4 defines.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Permitted distance between the request date and the server clock.
const MAX_SKEW_SECONDS: i128 = 15 * 60;

/// Upper bound AWS puts on `X-Amz-Expires` (seven days).
const MAX_PRESIGN_EXPIRES: u32 = 7 * 24 * 60 * 60;

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// SigV4 URI encoding: everything but the RFC 3986 unreserved characters.
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

type HmacSha256 = Hmac<Sha256>;

/// The `Credential=` value: `AKID/yyyymmdd/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Access key id the client signed with.
    pub access_key_id: String,
    /// Scope date, `yyyymmdd`.
    pub date: String,
    /// Scope region, e.g. `us-east-1`.
    pub region: String,
    /// Scope service (signing name), e.g. `ec2` or `elasticloadbalancing`.
    pub service: String,
}

impl Credential {
    /// `yyyymmdd/region/service/aws4_request`, as used in the string to sign.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Everything a signed request claims about its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    /// Who signed, and for which day/region/service.
    pub credential: Credential,
    /// Names of the signed headers, as listed by the client.
    pub signed_headers: Vec<String>,
    /// The hex signature the client sent.
    pub signature: String,
    /// Request time, `yyyymmddThhmmssZ` (converted from `Date` if needed).
    pub amz_date: String,
    /// Whether this came from the query string rather than `Authorization`.
    pub presigned: bool,
}

impl SignatureInfo {
    /// The `Authorization` header value describing this signature (header
    /// form), e.g. for building signed requests in tests.
    pub fn authorization_header(&self) -> String {
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={}",
            self.credential.access_key_id,
            self.credential.scope(),
            self.signed_headers.join(";"),
            self.signature
        )
    }
}

/// A request as received. `headers`: names in any case, values raw; `query`:
/// raw query string without '?'; `path`: raw path.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// Raw (still percent-encoded) path without the query, e.g. `/`.
    pub path: &'a str,
    /// Raw query string without the leading `?` (empty when none).
    pub query: &'a str,
    /// All headers in arrival order; for HTTP/2 include the authority as `host`.
    pub headers: &'a [(String, String)],
    /// The complete body.
    pub body: &'a [u8],
}

/// Why a request's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No Authorization header and no presigned query parameters.
    #[error("Request is missing Authentication Token")]
    Missing,
    /// Authorization present but cannot be parsed (wrong algorithm, missing
    /// Credential/SignedHeaders/Signature, bad scope...)
    #[error("{0}")]
    Incomplete(String),
    /// No X-Amz-Date / Date header or unparsable.
    #[error("{0}")]
    BadDate(String),
    /// Timestamp more than 15 minutes from now (or presigned URL past its expiry).
    #[error("Request has expired.")]
    Expired,
    /// The recomputed signature differs from the one sent.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    Mismatch,
}

/// Extract the signature info (from header or query). Does not check the signature.
pub fn parse(req: &RequestParts<'_>) -> Result<SignatureInfo, SigV4Error> {
    let authorization = header(req.headers, "authorization");
    let presigned = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"]
        .iter()
        .any(|name| query_param(req.query, name).is_some());
    match (authorization, presigned) {
        (Some(_), true) => Err(SigV4Error::Incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter \
             or the Authorization header should be specified"
                .into(),
        )),
        (Some(value), false) => parse_header_form(req, value),
        (None, true) => parse_query_form(req.query),
        (None, false) => Err(SigV4Error::Missing),
    }
}

/// Recompute the signature with `secret_access_key` and compare in constant
/// time; also check the date is within 15 minutes of `now` (and that the
/// credential scope date matches the x-amz-date day).
///
/// The canonical request is built exactly as AWS defines it for non-S3
/// services: the raw path normalised (dot segments and empty segments removed)
/// and each segment URI-encoded once more; the query string decoded and
/// re-encoded, sorted by key then value (without `X-Amz-Signature` in the
/// presigned form); the signed headers lowercased with trimmed,
/// space-collapsed values (repeated headers joined by `,`) in the order the
/// client listed them; the signed header list; and the payload hash.
///
/// The payload hash is the hex SHA-256 of the body, or the
/// `x-amz-content-sha256` header value when present; that header must then
/// match the body (`UNSIGNED-PAYLOAD` only with an empty body), because the
/// body carries the API parameters and must not be replaceable. Presigned
/// requests hash the body like header-signed ones, as botocore and the AWS
/// documentation do for non-S3 services; with an empty body the S3 convention
/// `UNSIGNED-PAYLOAD` is accepted too.
///
/// The region and service of the scope are not checked here; callers compare
/// `info.credential` with what they serve.
pub fn verify(
    req: &RequestParts<'_>,
    info: &SignatureInfo,
    secret_access_key: &str,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    let request_time = parse_amz_date(&info.amz_date).ok_or_else(|| {
        SigV4Error::BadDate(format!(
            "Invalid date format '{}'; expected yyyyMMdd'T'HHmmss'Z'",
            info.amz_date
        ))
    })?;
    let day = info.amz_date.get(..8).unwrap_or_default();
    if info.credential.date != day {
        return Err(SigV4Error::Incomplete(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '{}' != '{}', from '{}'.",
            info.credential.date, day, info.amz_date
        )));
    }
    check_time(req, info, request_time, now)?;

    let provided = hex::decode(&info.signature).map_err(|_| SigV4Error::Mismatch)?;
    let body_hash = hex::encode(Sha256::digest(req.body));
    let mut payload_hashes = Vec::with_capacity(2);
    if info.presigned {
        payload_hashes.push(body_hash.as_str());
        if req.body.is_empty() {
            payload_hashes.push(UNSIGNED_PAYLOAD);
        }
    } else {
        match header(req.headers, "x-amz-content-sha256") {
            Some(declared) => {
                let covers_body = declared.eq_ignore_ascii_case(&body_hash)
                    || (declared == UNSIGNED_PAYLOAD && req.body.is_empty());
                if !covers_body {
                    return Err(SigV4Error::Mismatch);
                }
                payload_hashes.push(declared);
            }
            None => payload_hashes.push(body_hash.as_str()),
        }
    }

    let key = signing_key(secret_access_key, &info.credential)?;
    for payload_hash in payload_hashes {
        let canonical = canonical_request(req, info, payload_hash);
        let mut mac = new_mac(&key)?;
        mac.update(string_to_sign(info, &canonical).as_bytes());
        // `verify_slice` compares in constant time and rejects other lengths.
        if mac.verify_slice(&provided).is_ok() {
            return Ok(());
        }
    }
    Err(SigV4Error::Mismatch)
}

/// The hex signature `req` should carry for `info` (whose `signature` field
/// is ignored) under `secret_access_key`: the counterpart of [`verify`], for
/// building signed requests. The payload is the body's hash (or the
/// `x-amz-content-sha256` header in the header form); for the presigned form
/// `req.query` must already hold the other `X-Amz-*` parameters.
pub fn compute_signature(
    req: &RequestParts<'_>,
    info: &SignatureInfo,
    secret_access_key: &str,
) -> Result<String, SigV4Error> {
    let payload_hash = match header(req.headers, "x-amz-content-sha256") {
        Some(declared) if !info.presigned => declared.to_owned(),
        _ => hex::encode(Sha256::digest(req.body)),
    };
    let canonical = canonical_request(req, info, &payload_hash);
    let key = signing_key(secret_access_key, &info.credential)?;
    let mut mac = new_mac(&key)?;
    mac.update(string_to_sign(info, &canonical).as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// Signs a request in the header form: returns the `X-Amz-Date` and `Authorization` header
/// values to add to `req` (whose `headers` must already hold every header in
/// `signed_headers`, e.g. `host` and `content-type`; `x-amz-date` is signed implicitly).
/// The client side of [`verify`], on the same canonicalization.
pub fn sign(
    req: &RequestParts<'_>,
    signed_headers: &[&str],
    credential: Credential,
    secret_access_key: &str,
    now: SystemTime,
) -> Result<SignedHeaders, SigV4Error> {
    let amz_date = amz_date(now);
    let mut names: Vec<String> = signed_headers
        .iter()
        .map(|name| name.to_ascii_lowercase())
        .chain(std::iter::once("x-amz-date".to_owned()))
        .collect();
    names.sort();
    names.dedup();
    let mut headers = req.headers.to_vec();
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("x-amz-date"));
    headers.push(("X-Amz-Date".to_owned(), amz_date.clone()));
    let mut info = SignatureInfo {
        credential: Credential {
            date: amz_date.get(..8).unwrap_or_default().to_owned(),
            ..credential
        },
        signed_headers: names,
        signature: String::new(),
        amz_date,
        presigned: false,
    };
    let with_date = RequestParts {
        headers: &headers,
        ..*req
    };
    info.signature = compute_signature(&with_date, &info, secret_access_key)?;
    Ok(SignedHeaders {
        authorization: info.authorization_header(),
        amz_date: info.amz_date,
    })
}

/// The headers [`sign`] adds to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The `X-Amz-Date` value, `yyyymmddThhmmssZ`.
    pub amz_date: String,
    /// The `Authorization` value.
    pub authorization: String,
}

/// `now` as SigV4's `yyyymmddThhmmssZ` (UTC).
pub fn amz_date(now: SystemTime) -> String {
    let seconds = match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    };
    let t = time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format_amz_date(t)
}

// === parsing ===

fn parse_header_form(req: &RequestParts<'_>, value: &str) -> Result<SignatureInfo, SigV4Error> {
    let value = value.trim();
    let (algorithm, components) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::Incomplete(format!(
            "Unsupported Authorization algorithm '{algorithm}'; expected {ALGORITHM}"
        )));
    }

    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for component in components.split(',').map(str::trim) {
        if component.is_empty() {
            continue;
        }
        let Some((key, val)) = component.split_once('=') else {
            return Err(SigV4Error::Incomplete(format!(
                "Authorization header component '{component}' is not of the form key=value"
            )));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            // Unknown components are tolerated, as AWS does.
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(val.trim());
        }
    }
    let missing: Vec<String> = [
        ("Credential", credential),
        ("SignedHeaders", signed_headers),
        ("Signature", signature),
    ]
    .iter()
    .filter(|(_, v)| v.is_none_or(str::is_empty))
    .map(|(name, _)| format!("Authorization header requires '{name}' parameter."))
    .collect();
    if !missing.is_empty() {
        return Err(SigV4Error::Incomplete(missing.join(" ")));
    }

    let credential = parse_credential(credential.unwrap_or_default())?;
    let signed_headers = parse_signed_headers(signed_headers.unwrap_or_default())?;
    let amz_date = match (
        header(req.headers, "x-amz-date"),
        header(req.headers, "date"),
    ) {
        (Some(amz), _) => {
            let amz = amz.trim();
            parse_amz_date(amz).ok_or_else(|| bad_date_format("X-Amz-Date", amz))?;
            amz.to_owned()
        }
        (None, Some(date)) => parse_http_date(date)
            .map(format_amz_date)
            .ok_or_else(|| bad_date_format("Date", date))?,
        (None, None) => {
            return Err(SigV4Error::BadDate(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header."
                    .into(),
            ));
        }
    };
    Ok(SignatureInfo {
        credential,
        signed_headers,
        signature: signature.unwrap_or_default().to_owned(),
        amz_date,
        presigned: false,
    })
}

fn parse_query_form(query: &str) -> Result<SignatureInfo, SigV4Error> {
    let algorithm = query_param(query, "X-Amz-Algorithm");
    let credential = query_param(query, "X-Amz-Credential");
    let signed_headers = query_param(query, "X-Amz-SignedHeaders");
    let signature = query_param(query, "X-Amz-Signature");
    let missing: Vec<String> = [
        ("X-Amz-Algorithm", &algorithm),
        ("X-Amz-Credential", &credential),
        ("X-Amz-SignedHeaders", &signed_headers),
        ("X-Amz-Signature", &signature),
    ]
    .iter()
    .filter(|(_, v)| v.as_deref().is_none_or(str::is_empty))
    .map(|(name, _)| format!("AWS query-string parameters must include '{name}'."))
    .collect();
    if !missing.is_empty() {
        return Err(SigV4Error::Incomplete(missing.join(" ")));
    }
    let algorithm = algorithm.unwrap_or_default();
    if algorithm != ALGORITHM {
        return Err(SigV4Error::Incomplete(format!(
            "Unsupported X-Amz-Algorithm '{algorithm}'; expected {ALGORITHM}"
        )));
    }
    let credential = parse_credential(&credential.unwrap_or_default())?;
    let signed_headers = parse_signed_headers(&signed_headers.unwrap_or_default())?;
    presign_expires(query)?;
    let amz_date = match query_param(query, "X-Amz-Date") {
        Some(date) => {
            parse_amz_date(&date).ok_or_else(|| bad_date_format("X-Amz-Date", &date))?;
            date
        }
        None => {
            return Err(SigV4Error::BadDate(
                "AWS query-string parameters must include 'X-Amz-Date'.".into(),
            ));
        }
    };
    Ok(SignatureInfo {
        credential,
        signed_headers,
        signature: signature.unwrap_or_default(),
        amz_date,
        presigned: true,
    })
}

fn parse_credential(raw: &str) -> Result<Credential, SigV4Error> {
    let parts: Vec<&str> = raw.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be of the form \
             <access key>/<yyyymmdd>/<region>/<service>/aws4_request, not '{raw}'."
        )));
    };
    if access_key_id.is_empty() {
        return Err(SigV4Error::Incomplete(
            "Credential should name an access key id.".into(),
        ));
    }
    if parse_ymd(date).is_none() {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped to a valid date (yyyymmdd), not '{date}'."
        )));
    }
    if region.is_empty() {
        return Err(SigV4Error::Incomplete(
            "Credential should be scoped to a valid region, not ''.".into(),
        ));
    }
    if service.is_empty() {
        return Err(SigV4Error::Incomplete(
            "Credential should be scoped to a valid service, not ''.".into(),
        ));
    }
    if *terminator != "aws4_request" {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not \
             '{terminator}'."
        )));
    }
    Ok(Credential {
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
    })
}

fn parse_signed_headers(raw: &str) -> Result<Vec<String>, SigV4Error> {
    let names: Vec<String> = raw.split(';').map(str::to_owned).collect();
    if names.iter().any(String::is_empty) {
        return Err(SigV4Error::Incomplete(format!(
            "SignedHeaders '{raw}' contains an empty header name."
        )));
    }
    // Without the host in the signature a request could be replayed against
    // another endpoint that shares the credentials.
    if !names.iter().any(|n| n.eq_ignore_ascii_case("host")) {
        return Err(SigV4Error::Incomplete(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    Ok(names)
}

/// `X-Amz-Expires` in seconds, if present; malformed values are rejected.
fn presign_expires(query: &str) -> Result<Option<u32>, SigV4Error> {
    let Some(raw) = query_param(query, "X-Amz-Expires") else {
        return Ok(None);
    };
    let valid = !raw.is_empty() && raw.len() <= 10 && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<u32>() {
        Ok(seconds) if valid && (1..=MAX_PRESIGN_EXPIRES).contains(&seconds) => Ok(Some(seconds)),
        _ => Err(SigV4Error::Incomplete(format!(
            "X-Amz-Expires must be a number of seconds between 1 and {MAX_PRESIGN_EXPIRES}, \
             not '{raw}'."
        ))),
    }
}

fn bad_date_format(source: &str, value: &str) -> SigV4Error {
    SigV4Error::BadDate(format!(
        "Invalid date format of '{source}': '{value}'; expected yyyyMMdd'T'HHmmss'Z'"
    ))
}

// === time ===

fn check_time(
    req: &RequestParts<'_>,
    info: &SignatureInfo,
    request_time: time::OffsetDateTime,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::from(after.as_secs()),
        Err(before) => -i128::from(before.duration().as_secs()),
    };
    let signed_at = i128::from(request_time.unix_timestamp());
    if signed_at - now > MAX_SKEW_SECONDS {
        return Err(SigV4Error::Expired);
    }
    let lifetime = match info.presigned {
        true => presign_expires(req.query)?.map_or(MAX_SKEW_SECONDS, i128::from),
        false => MAX_SKEW_SECONDS,
    };
    if now - signed_at > lifetime {
        return Err(SigV4Error::Expired);
    }
    Ok(())
}

/// `yyyymmddThhmmssZ`, strictly.
fn parse_amz_date(s: &str) -> Option<time::OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let date = parse_ymd(s.get(..8)?)?;
    let hour = two_digits(s.get(9..11)?)?;
    let minute = two_digits(s.get(11..13)?)?;
    let second = two_digits(s.get(13..15)?)?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    Some(time::PrimitiveDateTime::new(date, time).assume_utc())
}

fn format_amz_date(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `yyyymmdd` → a valid calendar date.
fn parse_ymd(s: &str) -> Option<time::Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = s.get(..4)?.parse().ok()?;
    let month = time::Month::try_from(two_digits(s.get(4..6)?)?).ok()?;
    let day = two_digits(s.get(6..8)?)?;
    time::Date::from_calendar_date(year, month, day).ok()
}

fn two_digits(s: &str) -> Option<u8> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// An HTTP `Date`: RFC 1123 / RFC 2822 (`Sun, 30 Aug 2015 12:36:00 GMT`, or
/// with a numeric zone such as `-0000` as Python's `formatdate` writes), or
/// the SigV4 basic format some clients put there.
fn parse_http_date(s: &str) -> Option<time::OffsetDateTime> {
    let s = s.trim();
    if let Some(t) = parse_amz_date(s) {
        return Some(t);
    }
    let mut tokens = s.split_ascii_whitespace().peekable();
    // The weekday is optional and carries no information.
    if tokens.peek().is_some_and(|t| t.ends_with(',')) {
        tokens.next();
    }
    let day = tokens.next()?;
    let month = tokens.next()?;
    let year = tokens.next()?;
    let clock = tokens.next()?;
    let zone = tokens.next()?;
    if tokens.next().is_some() {
        return None;
    }

    if day.is_empty() || day.len() > 2 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let day: u8 = day.parse().ok()?;
    let month = month_from_name(month)?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let mut hms = clock.split(':');
    let hour = two_digits(hms.next()?)?;
    let minute = two_digits(hms.next()?)?;
    let second = two_digits(hms.next()?)?;
    if hms.next().is_some() {
        return None;
    }
    let offset_seconds = match zone {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        _ => {
            let (sign, hhmm) = match zone.split_at_checked(1)? {
                ("+", rest) => (1, rest),
                ("-", rest) => (-1, rest),
                _ => return None,
            };
            let hours = i32::from(two_digits(hhmm.get(..2)?)?);
            let minutes = i32::from(two_digits(hhmm.get(2..)?)?);
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    let offset = time::UtcOffset::from_whole_seconds(offset_seconds).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, time)
            .assume_offset(offset)
            .to_offset(time::UtcOffset::UTC),
    )
}

fn month_from_name(name: &str) -> Option<time::Month> {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let index = NAMES.iter().position(|m| name.eq_ignore_ascii_case(m))?;
    time::Month::try_from(u8::try_from(index + 1).ok()?).ok()
}

// === canonical request ===

fn canonical_request(req: &RequestParts<'_>, info: &SignatureInfo, payload_hash: &str) -> String {
    let mut out = String::new();
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.path));
    out.push('\n');
    out.push_str(&canonical_query(req.query, info.presigned));
    out.push('\n');
    for name in &info.signed_headers {
        let name = name.to_ascii_lowercase();
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(&name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&info.signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// Removes `.`/`..` and empty segments (as AWS and botocore do for non-S3
/// services), then URI-encodes each segment of the raw path once more.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut out = String::new();
    if path.starts_with('/') || path.is_empty() {
        out.push('/');
    }
    let encoded: Vec<String> = segments
        .iter()
        .map(|s| percent_encode(s.as_bytes(), URI_ENCODE).to_string())
        .collect();
    out.push_str(&encoded.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Decodes every pair and re-encodes it strictly, so clients that encode
/// differently (`%7e`, `+` for space) still agree with the signer's form.
fn canonical_query(query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(key), reencode(value))
        })
        .filter(|(key, _)| !(presigned && key == "X-Amz-Signature"))
        .collect();
    pairs.sort();
    let joined: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.join("&")
}

fn reencode(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(spaced.as_bytes()).collect();
    percent_encode(&bytes, URI_ENCODE).to_string()
}

fn string_to_sign(info: &SignatureInfo, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        info.amz_date,
        info.credential.scope(),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

fn signing_key(secret: &str, credential: &Credential) -> Result<Vec<u8>, SigV4Error> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [
        credential.date.as_str(),
        credential.region.as_str(),
        credential.service.as_str(),
        "aws4_request",
    ] {
        let mut mac = new_mac(&key)?;
        mac.update(part.as_bytes());
        key = mac.finalize().into_bytes().to_vec();
    }
    Ok(key)
}

fn new_mac(key: &[u8]) -> Result<HmacSha256, SigV4Error> {
    // HMAC accepts keys of any length, so this cannot fail in practice.
    HmacSha256::new_from_slice(key).map_err(|_| SigV4Error::Mismatch)
}

// === request access ===

/// First value of a header, by case-insensitive name.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// First decoded value of a query parameter, by exact name.
fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uri_normalises_and_encodes() {
        let cases = [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("//example//", "/example/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./", "/"),
            ("/./example", "/example"),
            ("/..", "/"),
            ("/a/b/../c/", "/a/c/"),
            ("/example space/", "/example%20space/"),
            ("/ሴ", "/%E1%88%B4"),
            // Already-encoded paths are encoded again (non-S3 double encoding).
            ("/a%20b", "/a%2520b"),
            ("/-_.~!*", "/-_.~%21%2A"),
        ];
        for (raw, expected) in cases {
            assert_eq!(canonical_uri(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        assert_eq!(canonical_query("", false), "");
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1", false),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(canonical_query("b&a=&c=1", false), "a=&b=&c=1");
        assert_eq!(canonical_query("k=b&k=a", false), "k=a&k=b");
        assert_eq!(
            canonical_query("%7e=%2a&%41=x&sp=a+b&s2=a%20b", false),
            "A=x&s2=a%20b&sp=a%20b&~=%2A"
        );
        assert_eq!(canonical_query("ሴ=bar", false), "%E1%88%B4=bar");
        assert_eq!(canonical_query("a=1&X-Amz-Signature=ff", true), "a=1");
        assert_eq!(
            canonical_query("a=1&X-Amz-Signature=ff", false),
            "X-Amz-Signature=ff&a=1"
        );
        // Sorting is by encoded bytes: uppercase before lowercase.
        assert_eq!(canonical_query("a=1&B=2", false), "B=2&a=1");
    }

    #[test]
    fn amz_date_parsing() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_440_938_160);
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        for bad in [
            "",
            "20150830T123600",
            "20150830 123600Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T246000Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "20150830T12360ሴZ",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn http_date_parsing() {
        let expected = parse_amz_date("20150830T123600Z").unwrap();
        for ok in [
            "Sun, 30 Aug 2015 12:36:00 GMT",
            "Sun, 30 Aug 2015 12:36:00 -0000",
            "30 Aug 2015 12:36:00 +0000",
            "Sun, 30 aug 2015 14:36:00 +0200",
            "Sun, 30 Aug 2015 07:06:00 -0530",
            "20150830T123600Z",
        ] {
            assert_eq!(parse_http_date(ok), Some(expected), "{ok:?}");
        }
        assert_eq!(
            parse_http_date("Mon, 1 Jan 2024 00:00:00 UTC").map(format_amz_date),
            Some("20240101T000000Z".to_owned())
        );
        for bad in [
            "",
            "Sun, 30 Foo 2015 12:36:00 GMT",
            "Sun, 31 Sep 2015 12:36:00 GMT",
            "Sun, 30 Aug 2015 12:36 GMT",
            "Sun, 30 Aug 2015 12:36:00 EST",
            "Sun, 30 Aug 2015 12:36:00 +5",
            "Sun, 30 Aug 2015 12:36:00 GMT extra",
            "Sun, 30 Aug 15 12:36:00 GMT",
        ] {
            assert!(parse_http_date(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn credential_parsing() {
        let c = parse_credential("AKID/20150830/us-east-1/ec2/aws4_request").unwrap();
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(c.scope(), "20150830/us-east-1/ec2/aws4_request");
        for bad in [
            "AKID/20150830/us-east-1/ec2",
            "AKID/20150830/us-east-1/ec2/aws4_request/x",
            "/20150830/us-east-1/ec2/aws4_request",
            "AKID/2015083/us-east-1/ec2/aws4_request",
            "AKID/20151330/us-east-1/ec2/aws4_request",
            "AKID/20150830//ec2/aws4_request",
            "AKID/20150830/us-east-1//aws4_request",
            "AKID/20150830/us-east-1/ec2/aws4_requesx",
        ] {
            assert!(
                matches!(parse_credential(bad), Err(SigV4Error::Incomplete(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn expires_parsing() {
        assert_eq!(presign_expires("a=1"), Ok(None));
        assert_eq!(presign_expires("X-Amz-Expires=300"), Ok(Some(300)));
        assert_eq!(presign_expires("X-Amz-Expires=604800"), Ok(Some(604_800)));
        for bad in ["0", "604801", "-1", "+5", "", "abc", "99999999999"] {
            let q = format!("X-Amz-Expires={bad}");
            assert!(
                matches!(presign_expires(&q), Err(SigV4Error::Incomplete(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sign_reproduces_the_aws_form_post_vector() {
        // AWS SigV4 test suite, post-x-www-form-urlencoded.
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        let headers = vec![
            (
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("Host".to_owned(), "example.amazonaws.com".to_owned()),
        ];
        let req = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"Param1=value1",
        };
        let credential = Credential {
            access_key_id: "AKIDEXAMPLE".into(),
            date: String::new(),
            region: "us-east-1".into(),
            service: "service".into(),
        };
        let signed = sign(
            &req,
            &["host", "Content-Type"],
            credential,
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            now,
        )
        .unwrap();
        assert_eq!(signed.amz_date, "20150830T123600Z");
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );

        // And the verifier accepts what was signed.
        let mut all = headers.clone();
        all.push(("X-Amz-Date".into(), signed.amz_date.clone()));
        all.push(("Authorization".into(), signed.authorization.clone()));
        let req = RequestParts {
            headers: &all,
            ..req
        };
        let info = parse(&req).unwrap();
        assert_eq!(
            verify(&req, &info, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now),
            Ok(())
        );
        assert_eq!(
            verify(&req, &info, "another-secret", now),
            Err(SigV4Error::Mismatch)
        );
    }

    #[test]
    fn amz_date_formats_utc() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
        assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
    }

    #[test]
    fn authorization_header_round_trip() {
        let info = SignatureInfo {
            credential: parse_credential("AKID/20150830/us-east-1/ec2/aws4_request").unwrap(),
            signed_headers: vec!["host".into(), "x-amz-date".into()],
            signature: "abc".into(),
            amz_date: "20150830T123600Z".into(),
            presigned: false,
        };
        let headers = vec![
            ("Authorization".to_owned(), info.authorization_header()),
            ("X-Amz-Date".to_owned(), info.amz_date.clone()),
        ];
        let req = RequestParts {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        assert_eq!(parse(&req), Ok(info));
    }
}
