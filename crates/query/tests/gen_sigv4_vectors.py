#!/usr/bin/env python3
"""Regenerates the botocore-signed vectors embedded in tests/sigv4_vectors.rs.

Run with `python3 crates/query/tests/gen_sigv4_vectors.py`; the Rust tests do
not need Python, the output is pasted into the test file by hand.
"""
import datetime
import hashlib
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FROZEN = datetime.datetime(2026, 5, 4, 12, 34, 56)
CREDS = Credentials('111111111111', 'secret')


def show(name, req):
    print(f'== {name}')
    print(f'method: {req.method}')
    print(f'url: {req.url}')
    for k, v in req.headers.items():
        print(f'header: {k}: {v}')
    body = req.body or b''
    if isinstance(body, str):
        body = body.encode()
    print(f'body: {body!r}')
    print(f'body sha256: {hashlib.sha256(body).hexdigest()}')


def signed_post(service, data):
    req = AWSRequest(
        method='POST',
        url='http://127.0.0.1:4566/',
        data=data,
        headers={'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8'},
    )
    botocore.auth.SigV4Auth(CREDS, service, 'us-east-1').add_auth(req)
    return req.prepare()


def presigned_get(service, query):
    req = AWSRequest(method='GET', url='http://127.0.0.1:4566/?' + query)
    botocore.auth.SigV4QueryAuth(CREDS, service, 'us-east-1', expires=300).add_auth(req)
    return req.prepare()


with mock.patch.object(botocore.auth, 'get_current_datetime', return_value=FROZEN):
    show('ec2', signed_post('ec2', 'Action=DescribeVpcs&Version=2016-11-15'))
    show('elb', signed_post(
        'elasticloadbalancing',
        'Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=my%20lb',
    ))
    show('ec2 presigned', presigned_get('ec2', 'Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1'))
