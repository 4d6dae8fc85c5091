//! The client against a one-shot server on loopback: the request it sends verifies with
//! query's SigV4 verifier under the right secret only, and answers and errors read back.

#![allow(clippy::unwrap_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::thread;
use std::time::SystemTime;

use client::{Client, ClientError, Credentials, Service};
use query::sigv4::{self, RequestParts};

const SECRET: &str = "provider-secret";

/// Serves one request: verifies its signature with `secret`, answers `answer` (status,
/// body); returns what it saw (form body, credential scope service, verdict).
fn serve_once(
    secret: &'static str,
    answer: (u16, &'static str),
) -> (String, thread::JoinHandle<(String, String, bool)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the head, then as many body bytes as Content-Length says.
        let (head, mut body) = loop {
            let n = conn.read(&mut buf).unwrap();
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break (
                    String::from_utf8(raw[..end].to_vec()).unwrap(),
                    raw[end + 4..].to_vec(),
                );
            }
        };
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_owned(), v.trim().to_owned())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap();
        while body.len() < len {
            let n = conn.read(&mut buf).unwrap();
            body.extend_from_slice(&buf[..n]);
        }
        assert_eq!(request_line, "POST / HTTP/1.1");
        let req = RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &body,
        };
        let info = sigv4::parse(&req).unwrap();
        let ok = sigv4::verify(&req, &info, secret, SystemTime::now()).is_ok();
        let (status, text) = answer;
        write!(
            conn,
            "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        )
        .unwrap();
        (
            String::from_utf8(body).unwrap(),
            info.credential.service,
            ok,
        )
    });
    (url, handle)
}

fn client(url: &str, secret: &str) -> Client {
    Client::new(
        url,
        "us-east-1",
        Credentials {
            access_key_id: "AKIAPROVIDER0000001".into(),
            secret_access_key: secret.into(),
        },
    )
    .unwrap()
}

#[test]
fn a_signed_call_verifies_and_its_answer_reads_back() {
    let (url, server) = serve_once(
        SECRET,
        (
            200,
            "<CreateVpcResponse><vpc><vpcId>vpc-0123</vpcId></vpc></CreateVpcResponse>",
        ),
    );
    let root = client(&url, SECRET)
        .call(Service::Ec2, "CreateVpc", &[("CidrBlock", "10.0.0.0/16")])
        .unwrap();
    assert_eq!(root.text_at(&["vpc", "vpcId"]), Some("vpc-0123"));
    let (body, service, verified) = server.join().unwrap();
    assert_eq!(
        body,
        "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16"
    );
    assert_eq!(service, "ec2");
    assert!(verified, "the verifier rejected the client's signature");
}

#[test]
fn a_wrong_secret_does_not_verify_and_elb_errors_read_back() {
    let (url, server) = serve_once(
        SECRET,
        (
            403,
            "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>\
             <Message>no</Message></Error><RequestId>r</RequestId></ErrorResponse>",
        ),
    );
    let err = client(&url, "another-secret")
        .call(
            Service::Elbv2,
            "DescribeLoadBalancers",
            &[("Names.member.1", "app")],
        )
        .unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    let (_, service, verified) = server.join().unwrap();
    assert_eq!(service, "elasticloadbalancing");
    assert!(!verified, "a wrong secret verified");
}

#[test]
fn nothing_listening_is_an_io_error() {
    // Bind then drop: the port is (almost certainly) closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client(&format!("http://127.0.0.1:{port}"), SECRET)
        .call(Service::Ec2, "DescribeVpcs", &[] as &[(&str, &str)])
        .unwrap_err();
    assert!(matches!(err, ClientError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("DescribeVpcs"), "{err}");
}
