//! SigV4 verification against known-good signatures: the AWS SigV4 test suite
//! (`AKIDEXAMPLE`, service `service`), the presigned IAM example from the AWS
//! documentation, and requests signed by botocore (see
//! `gen_sigv4_vectors.py`, which regenerates the botocore ones).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use query::sigv4::{self, Credential, RequestParts, SigV4Error, SignatureInfo};

const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 20150830T123600Z
const SUITE_TIME: u64 = 1_440_938_160;

const BOTO_SECRET: &str = "secret";
/// 20260504T123456Z, the frozen clock of gen_sigv4_vectors.py.
const BOTO_TIME: u64 = 1_777_898_096;

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A request in owned form, so tests can mutate it before borrowing.
#[derive(Clone)]
struct Req {
    method: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn parts(&self) -> RequestParts<'_> {
        RequestParts {
            method: self.method,
            path: &self.path,
            query: &self.query,
            headers: &self.headers,
            body: &self.body,
        }
    }

    fn check(&self, secret: &str, now: SystemTime) -> Result<SignatureInfo, SigV4Error> {
        let parts = self.parts();
        let info = sigv4::parse(&parts)?;
        sigv4::verify(&parts, &info, secret, now)?;
        Ok(info)
    }

    fn set_header(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.headers {
            if n.eq_ignore_ascii_case(name) {
                *v = value.to_owned();
            }
        }
    }
}

/// A test-suite request: host `example.amazonaws.com`, dated by X-Amz-Date.
fn suite(
    method: &'static str,
    target: &str,
    extra: &[(&str, &str)],
    body: &[u8],
    signed_headers: &str,
    signature: &str,
) -> Req {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut hs = headers(&[("Host", "example.amazonaws.com")]);
    hs.extend(headers(extra));
    hs.push(("X-Amz-Date".into(), "20150830T123600Z".into()));
    hs.push((
        "Authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders={signed_headers}, Signature={signature}"
        ),
    ));
    Req {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        headers: hs,
        body: body.to_vec(),
    }
}

const VANILLA: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

fn suite_cases() -> Vec<(&'static str, Req)> {
    let plain = "host;x-amz-date";
    vec![
        ("get-vanilla", suite("GET", "/", &[], b"", plain, VANILLA)),
        (
            "get-vanilla-query-order-key-case",
            suite(
                "GET",
                "/?Param2=value2&Param1=value1",
                &[],
                b"",
                plain,
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ),
        (
            "get-vanilla-empty-query-key",
            suite(
                "GET",
                "/?Param1=value1",
                &[],
                b"",
                plain,
                "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
            ),
        ),
        (
            "get-vanilla-query-unreserved",
            suite(
                "GET",
                "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=\
                 -._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                &[],
                b"",
                plain,
                "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
            ),
        ),
        (
            "get-vanilla-utf8-query",
            suite(
                "GET",
                "/?ሴ=bar",
                &[],
                b"",
                plain,
                "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
            ),
        ),
        (
            "get-vanilla-utf8-query (percent-encoded on the wire)",
            suite(
                "GET",
                "/?%E1%88%B4=bar",
                &[],
                b"",
                plain,
                "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
            ),
        ),
        (
            "get-space",
            suite(
                "GET",
                "/example space/",
                &[],
                b"",
                plain,
                "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
            ),
        ),
        (
            "get-utf8",
            suite(
                "GET",
                "/ሴ",
                &[],
                b"",
                plain,
                "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ),
        ),
        ("get-slash", suite("GET", "//", &[], b"", plain, VANILLA)),
        (
            "get-slashes",
            suite(
                "GET",
                "//example//",
                &[],
                b"",
                plain,
                "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
            ),
        ),
        (
            "get-relative",
            suite("GET", "/example/..", &[], b"", plain, VANILLA),
        ),
        (
            "get-relative-relative",
            suite("GET", "/example1/example2/../..", &[], b"", plain, VANILLA),
        ),
        (
            "get-slash-dot-slash",
            suite("GET", "/./", &[], b"", plain, VANILLA),
        ),
        (
            "get-slash-pointless-dot",
            suite(
                "GET",
                "/./example",
                &[],
                b"",
                plain,
                "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
            ),
        ),
        (
            "get-header-value-trim",
            suite(
                "GET",
                "/",
                &[
                    ("My-Header1", " value1"),
                    ("My-Header2", "  \"a   b   c\"  "),
                ],
                b"",
                "host;my-header1;my-header2;x-amz-date",
                "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            ),
        ),
        (
            "get-header-key-duplicate",
            suite(
                "GET",
                "/",
                &[
                    ("My-Header1", "value2"),
                    ("my-header1", "value2"),
                    ("MY-HEADER1", "value1"),
                ],
                b"",
                "host;my-header1;x-amz-date",
                "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
            ),
        ),
        (
            "post-vanilla",
            suite(
                "POST",
                "/",
                &[],
                b"",
                plain,
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
        ),
        (
            "post-vanilla-query",
            suite(
                "POST",
                "/?Param1=value1",
                &[],
                b"",
                plain,
                "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
            ),
        ),
        (
            "post-header-key-sort",
            suite(
                "POST",
                "/",
                &[("My-Header1", "value1")],
                b"",
                "host;my-header1;x-amz-date",
                "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
            ),
        ),
        (
            "post-header-value-case",
            suite(
                "POST",
                "/",
                &[("My-Header1", "VALUE1")],
                b"",
                "host;my-header1;x-amz-date",
                "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
            ),
        ),
        (
            "post-x-www-form-urlencoded",
            suite(
                "POST",
                "/",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                b"Param1=value1",
                "content-type;host;x-amz-date",
                "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            ),
        ),
        (
            "post-x-www-form-urlencoded-parameters",
            suite(
                "POST",
                "/",
                &[(
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=utf8",
                )],
                b"Param1=value1",
                "content-type;host;x-amz-date",
                "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
            ),
        ),
    ]
}

#[test]
fn aws_test_suite_vectors_verify() {
    for (name, req) in suite_cases() {
        let info = req
            .check(SUITE_SECRET, at(SUITE_TIME))
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(info.credential.access_key_id, "AKIDEXAMPLE", "{name}");
        assert!(!info.presigned, "{name}");
    }
}

#[test]
fn aws_test_suite_vectors_reject_wrong_secret() {
    for (name, req) in suite_cases() {
        assert_eq!(
            req.check("wrong", at(SUITE_TIME)).map(|_| ()),
            Err(SigV4Error::Mismatch),
            "{name}"
        );
    }
}

#[test]
fn compute_signature_reproduces_vectors() {
    for (name, req) in suite_cases() {
        let parts = req.parts();
        let info = sigv4::parse(&parts).unwrap();
        assert_eq!(
            sigv4::compute_signature(&parts, &info, SUITE_SECRET).unwrap(),
            info.signature,
            "{name}"
        );
    }
}

#[test]
fn get_vanilla_parsed_fields() {
    let req = suite("GET", "/", &[], b"", "host;x-amz-date", VANILLA);
    let info = sigv4::parse(&req.parts()).unwrap();
    assert_eq!(
        info,
        SignatureInfo {
            credential: Credential {
                access_key_id: "AKIDEXAMPLE".into(),
                date: "20150830".into(),
                region: "us-east-1".into(),
                service: "service".into(),
            },
            signed_headers: vec!["host".into(), "x-amz-date".into()],
            signature: VANILLA.into(),
            amz_date: "20150830T123600Z".into(),
            presigned: false,
        }
    );
}

#[test]
fn date_header_instead_of_x_amz_date() {
    // botocore output when the request carries a `Date` header.
    let req = Req {
        method: "GET",
        path: "/".into(),
        query: String::new(),
        headers: headers(&[
            ("Host", "example.amazonaws.com"),
            ("Date", "Sun, 30 Aug 2015 12:36:00 -0000"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=date;host, \
                 Signature=7680771e48fa28c7db272da980f990fa8ee39dee61905c4203f5da9d3d48ac86",
            ),
        ]),
        body: Vec::new(),
    };
    let info = req.check(SUITE_SECRET, at(SUITE_TIME)).unwrap();
    assert_eq!(info.amz_date, "20150830T123600Z");

    let mut gmt = req.clone();
    gmt.set_header("Date", "Sun, 30 Aug 2015 12:36:00 GMT");
    assert_eq!(
        gmt.check(SUITE_SECRET, at(SUITE_TIME)).map(|_| ()),
        Err(SigV4Error::Mismatch),
        "the raw Date value is signed"
    );
}

#[test]
fn content_sha256_header() {
    let body_hash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
    let req = suite(
        "POST",
        "/",
        &[("X-Amz-Content-SHA256", body_hash)],
        b"Param1=value1",
        "host;x-amz-content-sha256;x-amz-date",
        "29ad954417b30cf1d248d8068d3387c6b1fa0057764dd9ff44c287c3aedbaaba",
    );
    req.check(SUITE_SECRET, at(SUITE_TIME)).unwrap();

    // The declared hash must describe the body actually sent.
    let mut tampered = req.clone();
    tampered.body = b"Param1=value2".to_vec();
    assert_eq!(
        tampered.check(SUITE_SECRET, at(SUITE_TIME)).map(|_| ()),
        Err(SigV4Error::Mismatch)
    );

    let unsigned = suite(
        "GET",
        "/",
        &[("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")],
        b"",
        "host;x-amz-content-sha256;x-amz-date",
        "9b02fb7b5d0076fa47a0adda28c71e74ba4588334bc0139b8cd6bb87f16afe16",
    );
    unsigned.check(SUITE_SECRET, at(SUITE_TIME)).unwrap();
    // An unsigned payload would let anyone swap the parameters in the body.
    let mut with_body = unsigned.clone();
    with_body.body = b"Action=DeleteVpc".to_vec();
    assert_eq!(
        with_body.check(SUITE_SECRET, at(SUITE_TIME)).map(|_| ()),
        Err(SigV4Error::Mismatch)
    );
}

// === botocore-signed requests (gen_sigv4_vectors.py) ===

fn boto_post(service: &str, body: &str, signature: &str) -> Req {
    Req {
        method: "POST",
        path: "/".into(),
        query: String::new(),
        headers: headers(&[
            ("Host", "127.0.0.1:4566"),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("X-Amz-Date", "20260504T123456Z"),
            (
                "Authorization",
                &format!(
                    "AWS4-HMAC-SHA256 Credential=111111111111/20260504/us-east-1/{service}/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
                ),
            ),
            ("Content-Length", &body.len().to_string()),
        ]),
        body: body.as_bytes().to_vec(),
    }
}

fn boto_ec2() -> Req {
    boto_post(
        "ec2",
        "Action=DescribeVpcs&Version=2016-11-15",
        "31d4e27c3862e0246709c0fd14cfca2961ddfdc3f2cffba6044adbe5cba57dce",
    )
}

fn boto_elb() -> Req {
    boto_post(
        "elasticloadbalancing",
        "Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=my%20lb",
        "b2530ceb7eb3c8cd14c210d625684d07395f0ee2e0cb971abbf8b54099d04b2c",
    )
}

fn boto_presigned() -> Req {
    Req {
        method: "GET",
        path: "/".into(),
        query:
            "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                &X-Amz-Credential=111111111111%2F20260504%2Fus-east-1%2Fec2%2Faws4_request\
                &X-Amz-Date=20260504T123456Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host\
                &X-Amz-Signature=b5b9f0102ceab45b361694948216a16b75a0d87e7f66448816144a224cbc7b10"
                .into(),
        headers: headers(&[("Host", "127.0.0.1:4566")]),
        body: Vec::new(),
    }
}

#[test]
fn botocore_ec2_verifies() {
    let info = boto_ec2().check(BOTO_SECRET, at(BOTO_TIME)).unwrap();
    assert_eq!(info.credential.access_key_id, "111111111111");
    assert_eq!(info.credential.service, "ec2");
    assert_eq!(info.credential.region, "us-east-1");
}

#[test]
fn botocore_elb_verifies() {
    let info = boto_elb().check(BOTO_SECRET, at(BOTO_TIME)).unwrap();
    assert_eq!(info.credential.service, "elasticloadbalancing");
}

#[test]
fn botocore_requests_reject_a_flipped_body_byte() {
    for req in [boto_ec2(), boto_elb()] {
        for i in 0..req.body.len() {
            let mut tampered = req.clone();
            tampered.body[i] ^= 0x01;
            assert_eq!(
                tampered.check(BOTO_SECRET, at(BOTO_TIME)).map(|_| ()),
                Err(SigV4Error::Mismatch),
                "byte {i}"
            );
        }
    }
}

#[test]
fn botocore_requests_reject_wrong_secret() {
    for req in [boto_ec2(), boto_elb(), boto_presigned()] {
        for secret in ["secreT", "", "secret "] {
            assert_eq!(
                req.check(secret, at(BOTO_TIME)).map(|_| ()),
                Err(SigV4Error::Mismatch)
            );
        }
    }
}

#[test]
fn botocore_requests_reject_other_tampering() {
    let base = boto_ec2();

    let mut host = base.clone();
    host.set_header("Host", "127.0.0.1:4567");
    let mut content_type = base.clone();
    content_type.set_header("Content-Type", "text/plain");
    let mut method = base.clone();
    method.method = "PUT";
    let mut path = base.clone();
    path.path = "/x".into();
    let mut query = base.clone();
    query.query = "Action=DeleteVpc".into();
    let mut signature = base.clone();
    let auth = header_value(&base, "Authorization").replace("dce", "dcf");
    signature.set_header("Authorization", &auth);
    let mut short_signature = base.clone();
    let auth = header_value(&base, "Authorization").replace("dce", "");
    short_signature.set_header("Authorization", &auth);
    let mut non_hex = base.clone();
    let auth = header_value(&base, "Authorization").replace("dce", "dcz");
    non_hex.set_header("Authorization", &auth);

    for (name, req) in [
        ("host", host),
        ("content-type", content_type),
        ("method", method),
        ("path", path),
        ("query", query),
        ("signature", signature),
        ("short signature", short_signature),
        ("non-hex signature", non_hex),
    ] {
        assert_eq!(
            req.check(BOTO_SECRET, at(BOTO_TIME)).map(|_| ()),
            Err(SigV4Error::Mismatch),
            "{name}"
        );
    }

    // Unsigned headers may change freely.
    let mut extra = base.clone();
    extra.headers.push(("User-Agent".into(), "curl".into()));
    extra.check(BOTO_SECRET, at(BOTO_TIME)).unwrap();
}

fn header_value(req: &Req, name: &str) -> String {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap()
}

#[test]
fn botocore_requests_expire_after_15_minutes() {
    for req in [boto_ec2(), boto_elb()] {
        for secs in [0, 1, 15 * 60] {
            req.check(BOTO_SECRET, at(BOTO_TIME + secs)).unwrap();
            req.check(BOTO_SECRET, at(BOTO_TIME - secs)).unwrap();
        }
        for now in [
            BOTO_TIME + 16 * 60,
            BOTO_TIME - 16 * 60,
            BOTO_TIME + 15 * 60 + 1,
            BOTO_TIME - 15 * 60 - 1,
            0,
        ] {
            assert_eq!(
                req.check(BOTO_SECRET, at(now)).map(|_| ()),
                Err(SigV4Error::Expired),
                "now={now}"
            );
        }
        // A clock before the epoch must not confuse the arithmetic.
        let before_epoch = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(
            req.check(BOTO_SECRET, before_epoch).map(|_| ()),
            Err(SigV4Error::Expired)
        );
    }
}

#[test]
fn botocore_presigned_verifies() {
    let req = boto_presigned();
    let info = req.check(BOTO_SECRET, at(BOTO_TIME)).unwrap();
    assert!(info.presigned);
    assert_eq!(info.signed_headers, ["host"]);
    assert_eq!(info.amz_date, "20260504T123456Z");
    assert_eq!(info.credential.service, "ec2");
    assert_eq!(
        info.signature,
        "b5b9f0102ceab45b361694948216a16b75a0d87e7f66448816144a224cbc7b10"
    );
    // Parameter order on the wire is irrelevant.
    let mut shuffled = req.clone();
    let mut pairs: Vec<&str> = req.query.split('&').collect();
    pairs.reverse();
    shuffled.query = pairs.join("&");
    shuffled.check(BOTO_SECRET, at(BOTO_TIME)).unwrap();
}

#[test]
fn botocore_presigned_honours_expires() {
    let req = boto_presigned();
    // X-Amz-Expires=300.
    req.check(BOTO_SECRET, at(BOTO_TIME + 300)).unwrap();
    assert_eq!(
        req.check(BOTO_SECRET, at(BOTO_TIME + 301)).map(|_| ()),
        Err(SigV4Error::Expired)
    );
    assert_eq!(
        req.check(BOTO_SECRET, at(BOTO_TIME + 16 * 60)).map(|_| ()),
        Err(SigV4Error::Expired)
    );
    // Not yet valid: signed more than 15 minutes in the future.
    req.check(BOTO_SECRET, at(BOTO_TIME - 15 * 60)).unwrap();
    assert_eq!(
        req.check(BOTO_SECRET, at(BOTO_TIME - 16 * 60)).map(|_| ()),
        Err(SigV4Error::Expired)
    );
}

#[test]
fn botocore_presigned_rejects_tampering() {
    let base = boto_presigned();
    let mut changed_param = base.clone();
    changed_param.query = base.query.replace("vpc-1", "vpc-2");
    let mut added_param = base.clone();
    added_param.query = format!("{}&VpcId.2=vpc-2", base.query);
    let mut longer = base.clone();
    longer.query = base
        .query
        .replace("X-Amz-Expires=300", "X-Amz-Expires=3600");
    let mut body = base.clone();
    body.body = b"Action=DeleteVpc&VpcId=vpc-1".to_vec();
    for (name, req) in [
        ("changed", changed_param),
        ("added", added_param),
        ("expires", longer),
        ("body", body),
    ] {
        assert_eq!(
            req.check(BOTO_SECRET, at(BOTO_TIME)).map(|_| ()),
            Err(SigV4Error::Mismatch),
            "{name}"
        );
    }
}

#[test]
fn aws_docs_presigned_example() {
    // The IAM ListUsers presigned URL from the AWS SigV4 documentation, which
    // hashes the (empty) body rather than using UNSIGNED-PAYLOAD.
    let req = Req {
        method: "GET",
        path: "/".into(),
        query: "Action=ListUsers&Version=2010-05-08&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                &X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fiam%2Faws4_request\
                &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60\
                &X-Amz-SignedHeaders=content-type%3Bhost\
                &X-Amz-Signature=37ac2f4fde00b0ac9bd9eadeb459b1bbee224158d66e7ae5fcadb70b2d181d02"
            .into(),
        headers: headers(&[
            ("Host", "iam.amazonaws.com"),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ]),
        body: Vec::new(),
    };
    let info = req.check(SUITE_SECRET, at(SUITE_TIME + 60)).unwrap();
    assert_eq!(info.signed_headers, ["content-type", "host"]);
    assert_eq!(
        req.check(SUITE_SECRET, at(SUITE_TIME + 61)).map(|_| ()),
        Err(SigV4Error::Expired)
    );
}

#[test]
fn s3_style_presigned_unsigned_payload() {
    // botocore's S3 presigner signs UNSIGNED-PAYLOAD; accepted with no body.
    let req = Req {
        method: "GET",
        path: "/".into(),
        query: "Action=ListUsers&Version=2010-05-08&X-Amz-Algorithm=AWS4-HMAC-SHA256\
                &X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request\
                &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                &X-Amz-Signature=0975a69181c94ec1462969c534c0c14c2e126f499140045e1115835c7eeb5052"
            .into(),
        headers: headers(&[("Host", "example.amazonaws.com")]),
        body: Vec::new(),
    };
    req.check(SUITE_SECRET, at(SUITE_TIME)).unwrap();
    let mut with_body = req.clone();
    with_body.body = b"x".to_vec();
    assert_eq!(
        with_body.check(SUITE_SECRET, at(SUITE_TIME)).map(|_| ()),
        Err(SigV4Error::Mismatch)
    );
}

// === parse errors ===

fn parse_with(hs: &[(&str, &str)], query: &str) -> Result<SignatureInfo, SigV4Error> {
    let hs = headers(hs);
    sigv4::parse(&RequestParts {
        method: "POST",
        path: "/",
        query,
        headers: &hs,
        body: b"",
    })
}

const GOOD_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, \
                         SignedHeaders=host;x-amz-date, Signature=abcd";

#[test]
fn parse_missing() {
    assert_eq!(parse_with(&[], ""), Err(SigV4Error::Missing));
    assert_eq!(
        parse_with(&[("Host", "h")], "Action=DescribeVpcs"),
        Err(SigV4Error::Missing)
    );
    assert_eq!(
        SigV4Error::Missing.to_string(),
        "Request is missing Authentication Token"
    );
}

#[test]
fn parse_incomplete_header() {
    let date = ("X-Amz-Date", "20150830T123600Z");
    for auth in [
        "",
        "AWS4-HMAC-SHA256",
        "AWS AKID:signature",
        "AWS4-HMAC-SHA1 Credential=AKID/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, Signature=ab",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/2015-08-30/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws5_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, SignedHeaders=x-amz-date, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, SignedHeaders=host;;x-amz-date, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request, garbage, SignedHeaders=host, Signature=ab",
    ] {
        let result = parse_with(&[("Authorization", auth), date], "");
        assert!(
            matches!(result, Err(SigV4Error::Incomplete(_))),
            "{auth:?}: {result:?}"
        );
    }
    let Err(SigV4Error::Incomplete(message)) = parse_with(
        &[
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/ec2/aws4_request",
            ),
            date,
        ],
        "",
    ) else {
        panic!("expected Incomplete");
    };
    assert_eq!(
        message,
        "Authorization header requires 'SignedHeaders' parameter. \
         Authorization header requires 'Signature' parameter."
    );
}

#[test]
fn parse_header_tolerates_layout() {
    let date = ("x-amz-date", "20150830T123600Z");
    for auth in [
        GOOD_AUTH,
        "AWS4-HMAC-SHA256 Signature=abcd,SignedHeaders=host;x-amz-date,Credential=AKID/20150830/us-east-1/ec2/aws4_request",
        "  AWS4-HMAC-SHA256   Credential = AKID/20150830/us-east-1/ec2/aws4_request ,SignedHeaders=host;x-amz-date, Signature=abcd, Extra=1 ",
    ] {
        let info = parse_with(&[("AUTHORIZATION", auth), date], "").unwrap();
        assert_eq!(info.signature, "abcd", "{auth:?}");
        assert_eq!(info.credential.service, "ec2");
        assert_eq!(info.signed_headers, ["host", "x-amz-date"]);
    }
}

#[test]
fn parse_bad_date() {
    let auth = ("Authorization", GOOD_AUTH);
    for hs in [
        vec![auth],
        vec![auth, ("X-Amz-Date", "2015-08-30T12:36:00Z")],
        vec![auth, ("X-Amz-Date", "")],
        vec![auth, ("Date", "yesterday")],
        // X-Amz-Date wins over Date, even when Date is fine.
        vec![
            auth,
            ("X-Amz-Date", "nonsense"),
            ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
        ],
    ] {
        let result = parse_with(&hs, "");
        assert!(
            matches!(result, Err(SigV4Error::BadDate(_))),
            "{hs:?}: {result:?}"
        );
    }
}

#[test]
fn parse_presigned_errors() {
    let full = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
                &X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fec2%2Faws4_request\
                &X-Amz-Date=20150830T123600Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host\
                &X-Amz-Signature=abcd";
    let info = parse_with(&[], full).unwrap();
    assert!(info.presigned);

    for (drop, expect_date) in [
        ("X-Amz-Algorithm=AWS4-HMAC-SHA256", false),
        (
            "&X-Amz-Credential=AKID%2F20150830%2Fus-east-1%2Fec2%2Faws4_request",
            false,
        ),
        ("&X-Amz-SignedHeaders=host", false),
        ("&X-Amz-Signature=abcd", false),
        ("&X-Amz-Date=20150830T123600Z", true),
    ] {
        let result = parse_with(&[], &full.replace(drop, ""));
        if expect_date {
            assert!(matches!(result, Err(SigV4Error::BadDate(_))), "{drop}");
        } else {
            assert!(matches!(result, Err(SigV4Error::Incomplete(_))), "{drop}");
        }
    }
    for (from, to) in [
        ("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
        ("X-Amz-Expires=60", "X-Amz-Expires=0"),
        ("X-Amz-Expires=60", "X-Amz-Expires=604801"),
        ("X-Amz-Expires=60", "X-Amz-Expires=soon"),
        ("%2Faws4_request", "%2Fother"),
        ("SignedHeaders=host", "SignedHeaders=x-amz-date"),
    ] {
        let result = parse_with(&[], &full.replace(from, to));
        assert!(
            matches!(result, Err(SigV4Error::Incomplete(_))),
            "{to}: {result:?}"
        );
    }
    let result = parse_with(&[], &full.replace("20150830T123600Z", "20150830"));
    assert!(matches!(result, Err(SigV4Error::BadDate(_))));
    // Without X-Amz-Expires the ordinary 15-minute window applies.
    let info = parse_with(&[], &full.replace("&X-Amz-Expires=60", "")).unwrap();
    assert!(info.presigned);

    // Both mechanisms at once is ambiguous.
    let result = parse_with(&[("Authorization", GOOD_AUTH)], full);
    assert!(matches!(result, Err(SigV4Error::Incomplete(_))));
}

#[test]
fn verify_rejects_scope_date_mismatch() {
    let mut req = suite("GET", "/", &[], b"", "host;x-amz-date", VANILLA);
    req.set_header("X-Amz-Date", "20150831T000100Z");
    let parts = req.parts();
    let info = sigv4::parse(&parts).unwrap();
    let result = sigv4::verify(&parts, &info, SUITE_SECRET, at(SUITE_TIME + 12 * 3600));
    assert_eq!(
        result,
        Err(SigV4Error::Incomplete(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
             from HTTP: '20150830' != '20150831', from '20150831T000100Z'."
                .into()
        ))
    );
}

#[test]
fn verify_rejects_inconsistent_info() {
    let req = suite("GET", "/", &[], b"", "host;x-amz-date", VANILLA);
    let parts = req.parts();
    let mut info = sigv4::parse(&parts).unwrap();
    info.amz_date = "garbage".into();
    assert!(matches!(
        sigv4::verify(&parts, &info, SUITE_SECRET, at(SUITE_TIME)),
        Err(SigV4Error::BadDate(_))
    ));
}

#[test]
fn error_messages() {
    assert_eq!(SigV4Error::Expired.to_string(), "Request has expired.");
    assert_eq!(
        SigV4Error::Mismatch.to_string(),
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service \
         documentation for details."
    );
    assert_eq!(SigV4Error::Incomplete("x".into()).to_string(), "x");
    assert_eq!(SigV4Error::BadDate("y".into()).to_string(), "y");
}
