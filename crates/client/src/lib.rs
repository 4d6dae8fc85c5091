//! A small blocking client for privlink's AWS Query APIs.
//!
//! [`Client::call`] sends one action of EC2 or ELBv2 as a SigV4-signed form POST (signed by
//! [`query::sigv4::sign`], the verifier's own canonicalization) over plain HTTP/1.1 and
//! returns the answer as an [`Element`] tree; an AWS error envelope becomes
//! [`ClientError::Aws`] with its code and message. It is made for `privlink demo` and tools
//! on the daemon's host: `http://` endpoints only, one connection per call, no retries.

mod http;
mod xml;

use std::time::{Duration, SystemTime};

pub use http::Endpoint;
pub use xml::{Element, XmlError};

/// The API an action belongs to: its signing name and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ec2,
    Elbv2,
}

impl Service {
    /// The SigV4 signing name (credential scope service).
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::Elbv2 => "elasticloadbalancing",
        }
    }

    /// The API version sent with every action.
    pub fn version(self) -> &'static str {
        match self {
            Service::Ec2 => "2016-11-15",
            Service::Elbv2 => "2015-12-01",
        }
    }
}

/// An access key and its secret.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// An error answer of the API, as AWS sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// HTTP status.
    pub status: u16,
    /// AWS's error code, e.g. `InvalidVpcID.NotFound`.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint URL is not `http://host[:port][/]`.
    #[error("endpoint URL {url:?}: {reason}")]
    Endpoint { url: String, reason: &'static str },
    /// Connecting, sending or receiving failed.
    #[error("{action} to {endpoint}: {source}")]
    Io {
        action: String,
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    /// The answer is not the HTTP this client reads.
    #[error("{action}: malformed HTTP answer: {reason}")]
    Http { action: String, reason: String },
    /// The API refused the call.
    #[error("{action} failed: {} (HTTP {}): {}", .error.code, .error.status, .error.message)]
    Aws { action: String, error: AwsError },
    /// The answer's body is not XML, or an error without a code.
    #[error("{action}: unreadable answer (HTTP {status}): {reason}")]
    Answer {
        action: String,
        status: u16,
        reason: String,
    },
    /// Signing failed (only on malformed credentials).
    #[error("signing {action}: {reason}")]
    Sign { action: String, reason: String },
}

impl ClientError {
    /// The AWS error code, when the API answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Aws { error, .. } => Some(&error.code),
            _ => None,
        }
    }
}

/// A client for one endpoint, region and account.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    region: String,
    credentials: Credentials,
    timeout: Duration,
}

impl Client {
    /// A client of `endpoint_url` (`http://host:port`) signing for `region`.
    pub fn new(
        endpoint_url: &str,
        region: &str,
        credentials: Credentials,
    ) -> Result<Client, ClientError> {
        Ok(Client {
            endpoint: Endpoint::parse(endpoint_url)?,
            region: region.to_owned(),
            credentials,
            timeout: Duration::from_secs(30),
        })
    }

    /// How long connecting and each read or write may take (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The endpoint, as given.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Calls `action` of `service` with `params` (already flattened the Query way:
    /// `SubnetId.1`, `Subnets.member.1`, …) and returns the answer's root element.
    pub fn call<K: AsRef<str>, V: AsRef<str>>(
        &self,
        service: Service,
        action: &str,
        params: &[(K, V)],
    ) -> Result<Element, ClientError> {
        let body = form_body(service, action, params);
        let host = self.endpoint.host_header();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let headers = vec![
            ("Host".to_owned(), host.clone()),
            ("Content-Type".to_owned(), content_type.to_owned()),
        ];
        let parts = query::sigv4::RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        let credential = query::sigv4::Credential {
            access_key_id: self.credentials.access_key_id.clone(),
            date: String::new(),
            region: self.region.clone(),
            service: service.signing_name().to_owned(),
        };
        let signed = query::sigv4::sign(
            &parts,
            &["content-type", "host"],
            credential,
            &self.credentials.secret_access_key,
            SystemTime::now(),
        )
        .map_err(|e| ClientError::Sign {
            action: action.to_owned(),
            reason: e.to_string(),
        })?;
        let request = http::Request {
            host: &host,
            content_type,
            amz_date: &signed.amz_date,
            authorization: &signed.authorization,
            body: body.as_bytes(),
        };
        let response = http::post(&self.endpoint, &request, self.timeout).map_err(|e| match e {
            http::HttpError::Io(source) => ClientError::Io {
                action: action.to_owned(),
                endpoint: self.endpoint.to_string(),
                source,
            },
            http::HttpError::Malformed(reason) => ClientError::Http {
                action: action.to_owned(),
                reason,
            },
        })?;
        read_answer(action, response.status, &response.body)
    }
}

/// `Action=…&Version=…&` then the parameters, form-encoded.
fn form_body<K: AsRef<str>, V: AsRef<str>>(
    service: Service,
    action: &str,
    params: &[(K, V)],
) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action);
    form.append_pair("Version", service.version());
    for (key, value) in params {
        form.append_pair(key.as_ref(), value.as_ref());
    }
    form.finish()
}

/// The answer's root element, or the AWS error it carries. Both APIs' error envelopes
/// (EC2's `<Response><Errors><Error>`, ELBv2's `<ErrorResponse><Error>`) hold an `Error`
/// with `Code` and `Message`.
fn read_answer(action: &str, status: u16, body: &[u8]) -> Result<Element, ClientError> {
    let unreadable = |reason: String| ClientError::Answer {
        action: action.to_owned(),
        status,
        reason,
    };
    let text = std::str::from_utf8(body).map_err(|e| unreadable(e.to_string()))?;
    let root = match Element::parse(text) {
        Ok(root) => root,
        Err(e) if (200..300).contains(&status) => return Err(unreadable(e.to_string())),
        Err(_) => {
            let snippet: String = text.chars().take(200).collect();
            return Err(unreadable(format!("not XML: {snippet:?}")));
        }
    };
    let is_error_envelope =
        matches!(root.name.as_str(), "Response" | "ErrorResponse") && root.find("Error").is_some();
    if (200..300).contains(&status) && !is_error_envelope {
        return Ok(root);
    }
    let Some(error) = root.find("Error") else {
        return Err(unreadable(format!(
            "an error without <Error> ({})",
            root.name
        )));
    };
    let code = error.text_of("Code").unwrap_or_default();
    if code.is_empty() {
        return Err(unreadable("an error without a code".into()));
    }
    let request_id = root
        .find("RequestID")
        .or_else(|| root.find("RequestId"))
        .map(|e| e.text.clone());
    Err(ClientError::Aws {
        action: action.to_owned(),
        error: AwsError {
            status,
            code: code.to_owned(),
            message: error.text_of("Message").unwrap_or_default().to_owned(),
            request_id,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn form_body_carries_action_version_and_encoded_params() {
        let body = form_body(
            Service::Elbv2,
            "CreateListener",
            &[
                ("DefaultActions.member.1.Type", "forward"),
                ("Name", "a b&c"),
            ],
        );
        assert_eq!(
            body,
            "Action=CreateListener&Version=2015-12-01&DefaultActions.member.1.Type=forward\
             &Name=a+b%26c"
        );
    }

    #[test]
    fn ec2_error_envelope_becomes_an_aws_error() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code><Message>The vpc ID 'vpc-1' does not exist</Message></Error></Errors><RequestID>r-1</RequestID></Response>"#;
        let err = read_answer("DeleteVpc", 400, body).unwrap_err();
        assert_eq!(err.code(), Some("InvalidVpcID.NotFound"));
        assert_eq!(
            err.to_string(),
            "DeleteVpc failed: InvalidVpcID.NotFound (HTTP 400): The vpc ID 'vpc-1' does not exist"
        );
        let ClientError::Aws { error, .. } = err else {
            panic!("not an AWS error")
        };
        assert_eq!(error.request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn elb_error_envelope_becomes_an_aws_error() {
        let body = br#"<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>ResourceInUse</Code><Message>Target group &apos;tg&apos; is in use</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"#;
        let err = read_answer("DeleteTargetGroup", 400, body).unwrap_err();
        let ClientError::Aws { error, .. } = err else {
            panic!("not an AWS error")
        };
        assert_eq!(error.code, "ResourceInUse");
        assert_eq!(error.message, "Target group 'tg' is in use");
        assert_eq!(error.request_id.as_deref(), Some("r-2"));
    }

    #[test]
    fn a_success_answer_is_its_root() {
        let body = br#"<CreateVpcResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x</requestId><vpc><vpcId>vpc-0123</vpcId></vpc></CreateVpcResponse>"#;
        let root = read_answer("CreateVpc", 200, body).unwrap();
        assert_eq!(root.text_at(&["vpc", "vpcId"]), Some("vpc-0123"));
    }

    #[test]
    fn unreadable_answers_are_errors_not_panics() {
        for (status, body) in [
            (200, &b"not xml"[..]),
            (500, b"Internal Server Error"),
            (
                400,
                b"<Response><Errors><Error><Message>no code</Message></Error></Errors></Response>",
            ),
            (503, b"<Other/>"),
            (200, b"\xff\xfe"),
        ] {
            let err = read_answer("X", status, body).unwrap_err();
            assert!(matches!(err, ClientError::Answer { .. }), "{err:?}");
        }
    }
}
