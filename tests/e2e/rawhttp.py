"""Raw HTTP access to a daemon, below boto3: hand-built bodies, SigV4 signing with a chosen clock,
and parsing of both services' XML envelopes. For protocol and authentication tests that need
requests no AWS client would send."""

import datetime
import http.client
import urllib.parse
import xml.etree.ElementTree as ET
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials

EC2_VERSION = "2016-11-15"
ELB_VERSION = "2015-12-01"
ELB_NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def xml(self):
        return ET.fromstring(self.body)

    def __repr__(self):
        return f"Reply({self.status}, {self.body[:600]!r})"


def send(url, body=b"", headers=None, method="POST", path="/", timeout=15):
    """One request on a fresh connection; returns a Reply (no exception on 4xx/5xx)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return Reply(r.status, dict(r.getheaders()), r.read())
    finally:
        conn.close()


def form(params):
    return urllib.parse.urlencode(params).encode()


def signed_headers(url, body, service, access_key, secret, region="us-east-1",
                   skew=datetime.timedelta(0), method="POST", path="/"):
    """The headers of a SigV4-signed request, signed by botocore as if the clock read now+skew."""
    req = botocore.awsrequest.AWSRequest(method=method, url=url.rstrip("/") + path, data=body,
                                         headers={"Content-Type": FORM})
    creds = botocore.credentials.Credentials(access_key, secret)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + skew
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=now):
        botocore.auth.SigV4Auth(creds, service, region).add_auth(req)
    return dict(req.headers.items())


def signed(url, params, service="ec2", access_key="111111111111", secret="dev-secret",
           region="us-east-1", skew=datetime.timedelta(0)):
    """POSTs `params` (a dict or raw bytes) signed for `service`."""
    body = params if isinstance(params, bytes) else form(params)
    headers = signed_headers(url, body, service, access_key, secret, region, skew)
    return send(url, body, headers)


def unsigned(url, params, content_type=FORM, method="POST"):
    body = params if isinstance(params, bytes) else form(params)
    headers = {"Content-Type": content_type} if content_type else {}
    return send(url, body, headers, method=method)


def ec2_error(reply):
    """(code, message, request id) of an EC2 error, checking the exact envelope:
    <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>."""
    root = reply.xml()
    assert root.tag == "Response", reply
    errors = root.find("Errors")
    assert errors is not None, reply
    error = errors.find("Error")
    assert error is not None, reply
    code = error.findtext("Code")
    message = error.findtext("Message")
    rid = root.findtext("RequestID")
    assert code and message and rid, reply
    return code, message, rid


def elb_error(reply):
    """(code, message, request id) of an ELBv2 error, checking the exact envelope:
    <ErrorResponse xmlns=…><Error><Type>Sender</Type><Code/><Message/></Error><RequestId/>."""
    root = reply.xml()
    assert root.tag == f"{{{ELB_NS}}}ErrorResponse", reply
    error = root.find(f"{{{ELB_NS}}}Error")
    assert error is not None, reply
    assert error.findtext(f"{{{ELB_NS}}}Type") == "Sender", reply
    code = error.findtext(f"{{{ELB_NS}}}Code")
    message = error.findtext(f"{{{ELB_NS}}}Message")
    rid = root.findtext(f"{{{ELB_NS}}}RequestId")
    assert code and message and rid, reply
    return code, message, rid


def expect_ec2_error(reply, code, status=400):
    got = ec2_error(reply)
    assert got[0] == code, reply
    assert reply.status == status, reply
    return got


def expect_elb_error(reply, code, status=400):
    got = elb_error(reply)
    assert got[0] == code, reply
    assert reply.status == status, reply
    return got
