#!/usr/bin/env python3
"""kmsauth_client.py - the official Python clients' side of a bundle fetch, against cofferd.

Written for coffer from API.md 2.2 and 6 (not copied from the clients): a token made the way
python-kmsauth's KMSTokenGenerator makes it (boto3 KMS Encrypt of json.dumps of the window,
backdated 3 minutes, base64), and GET /v1/services/<id> sent the way python-confidant-client's
get_service sends it (requests, Basic auth with the kmsauth username, metadata_only=False,
no redirects, a 5-second timeout), with the client's handling of 200, 403 and 404.

test_official_clients.c starts cofferd and moto, then runs this with COFFER_TEST_PYTHON and:
  COFFER_URL                     cofferd's base URL
  AWS_ENDPOINT_URL_KMS, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   the moto
  KMSAUTH_KEY, KMSAUTH_KEY_ARN   the service auth key (alias) and its ARN
  KMSAUTH_TO                     the server's name (the "to" of the context)
  KMSAUTH_SERVICE                the service that fetches its bundle (the "from")
  KMSAUTH_OTHER_SERVICE          another service it may not read
  KMSAUTH_MISSING                a service id that does not exist
  EXPECT_PAIRS                   JSON {credential name: credential_pairs} of KMSAUTH_SERVICE
  C_TOKEN                        a token of KMSAUTH_SERVICE made by coffer's C generator
Prints one JSON line on stdout: the window and payload of its own v2 token, for the C side to
compare with its generator, and how many checks ran. Exits 0 when every check passes, else 1 (each failure on stderr).
"""
import base64
import calendar
import datetime
import json
import os
import re
import sys

import boto3
import botocore.exceptions
import requests

TOKEN_SKEW = 3  # minutes of backdating
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
PAYLOAD_RE = re.compile(r'\{"not_before": "\d{8}T\d{6}Z", "not_after": "\d{8}T\d{6}Z"\}')
BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")

failures = []
checks = [0]


def check(cond, what):
    checks[0] += 1
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return bool(cond)


def epoch(stamp):
    return calendar.timegm(datetime.datetime.strptime(stamp, TIME_FORMAT).timetuple())


def make_token(kms, key, context, lifetime):
    """A token as the generator makes it: (token, payload, not_before, not_after)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = (now - datetime.timedelta(minutes=TOKEN_SKEW)).strftime(TIME_FORMAT)
    not_after = (now + datetime.timedelta(minutes=lifetime - TOKEN_SKEW)).strftime(TIME_FORMAT)
    payload = json.dumps({"not_before": not_before, "not_after": not_after})
    blob = kms.encrypt(KeyId=key, Plaintext=payload, EncryptionContext=context)["CiphertextBlob"]
    return base64.b64encode(blob).decode("ascii"), payload, not_before, not_after


def username(version, context):
    if version == 1:
        return context["from"]
    return "2/%s/%s" % (context["user_type"], context["from"])


def get_service(url, user, token, service, metadata_only=False, headers=None):
    """GET /v1/services/<service> as the client sends it."""
    auth = (user, token) if headers is None else None
    return requests.get(
        "%s/v1/services/%s" % (url, service),
        auth=auth,
        headers=headers,
        params={"metadata_only": metadata_only},  # requests sends str(bool): False, True
        allow_redirects=False,
        timeout=5,
    )


def client_result(resp):
    """What get_service returns to its caller for this answer (API.md 6)."""
    ret = {"result": False}
    if resp.status_code == 404:
        ret["result"] = True
        return ret
    if resp.status_code == 403:
        ret.update(resp.json())  # merged into the result, no try block
        return ret
    if resp.status_code != 200:
        return ret
    ret["service"] = resp.json()
    ret["result"] = True
    return ret


def env_export(service):
    """The variables the client's env formatter exports for a bundle."""
    out = {}
    for cred in service["credentials"]:
        prefix = cred["metadata"].get("env_var_prefix", "CREDENTIALS_")
        for key, value in cred["credential_pairs"].items():
            out[(prefix + key).upper()] = value
    return out


def check_token_bytes(kms, token, payload, not_before, not_after, context, key_arn, lifetime):
    """The bytes cofferd will decrypt are exactly API.md 2.2's format."""
    check(BASE64_RE.fullmatch(token) is not None, "the token is standard padded base64")
    blob = base64.b64decode(token, validate=True)
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    check(out["Plaintext"] == payload.encode("ascii"), "the token decrypts to its payload")
    check(out["KeyId"] == key_arn, "KMS reports the auth key's ARN: %s" % out["KeyId"])
    check(PAYLOAD_RE.fullmatch(payload) is not None, "payload format: %s" % payload)
    check(
        epoch(not_after) - epoch(not_before) == lifetime * 60,
        "the window spans the lifetime: %s .. %s" % (not_before, not_after),
    )
    wrong = dict(context, to="another-server")
    try:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        check(False, "a token decrypts only with its exact context")
    except botocore.exceptions.ClientError as e:
        check(
            e.response["Error"]["Code"] == "InvalidCiphertextException",
            "another context is InvalidCiphertextException: %s" % e.response["Error"]["Code"],
        )


def check_bundle(resp, service, expect, metadata_only):
    check(resp.status_code == 200, "get_service: 200, got %d %s" % (resp.status_code, resp.text))
    if resp.status_code != 200:
        return
    check(resp.headers.get("Content-Type") == "application/json", "Content-Type application/json")
    ret = client_result(resp)
    data = ret["service"]
    check(ret["result"] is True, "the client's result is True")
    check(data["id"] == service, "the bundle's id")
    check(isinstance(data["revision"], int), "the service revision is an integer")
    check(data["blind_credentials"] == [], "blind_credentials is []")
    check(
        sorted(c["name"] for c in data["credentials"]) == sorted(expect),
        "the bundle lists the mapped credentials",
    )
    for cred in data["credentials"]:
        for member in ("id", "name", "revision", "metadata", "credential_pairs"):
            check(member in cred, "credential member %s" % member)
        check(isinstance(cred["metadata"], dict), "metadata is an object")
        want = {} if metadata_only else expect.get(cred["name"])
        check(cred["credential_pairs"] == want, "pairs of %s: %r" % (cred["name"], want))
    if not metadata_only:
        exported = env_export(data)
        for cred in data["credentials"]:
            prefix = cred["metadata"].get("env_var_prefix", "CREDENTIALS_")
            for key, value in expect[cred["name"]].items():
                check(exported.get((prefix + key).upper()) == value, "env export of " + key)


def main():
    url = os.environ["COFFER_URL"]
    key = os.environ["KMSAUTH_KEY"]
    key_arn = os.environ["KMSAUTH_KEY_ARN"]
    to = os.environ["KMSAUTH_TO"]
    service = os.environ["KMSAUTH_SERVICE"]
    other = os.environ["KMSAUTH_OTHER_SERVICE"]
    missing = os.environ["KMSAUTH_MISSING"]
    expect = json.loads(os.environ["EXPECT_PAIRS"])
    # boto3 finds moto through AWS_ENDPOINT_URL_KMS, as the clients do unchanged
    kms = boto3.client("kms", region_name=os.environ["AWS_REGION"])

    # version 2, the default of kmsauth and the client
    ctx2 = {"from": service, "to": to, "user_type": "service"}
    token, payload, not_before, not_after = make_token(kms, key, ctx2, 10)
    check_token_bytes(kms, token, payload, not_before, not_after, ctx2, key_arn, 10)
    user2 = username(2, ctx2)
    check_bundle(get_service(url, user2, token, service), service, expect, False)
    check_bundle(get_service(url, user2, token, service, True), service, expect, True)
    check_bundle(
        get_service(url, None, None, service, headers={"X-Auth-From": user2, "X-Auth-Token": token}),
        service,
        expect,
        False,
    )

    # version 1: the username is the service, the context has no user_type
    ctx1 = {"from": service, "to": to}
    token1, payload1, nb1, na1 = make_token(kms, key, ctx1, 7)
    check_token_bytes(kms, token1, payload1, nb1, na1, ctx1, key_arn, 7)
    check_bundle(get_service(url, username(1, ctx1), token1, service), service, expect, False)

    # another service: a 403 whose JSON body merges into the result without a "result" member
    resp = get_service(url, user2, token, other)
    check(resp.status_code == 403, "another service: 403, got %d" % resp.status_code)
    if resp.status_code == 403:
        ret = client_result(resp)
        check(ret["result"] is False, "a 403 body never overrides the client's result")
        check(ret.get("code") == "forbidden", "403 code forbidden")
        check(not any(v in resp.text for p in expect.values() for v in p.values()), "no secret")

    # its own id, missing: 404, which the client reports as result True without a service
    ctxm = {"from": missing, "to": to, "user_type": "service"}
    tokm = make_token(kms, key, ctxm, 10)[0]
    resp = get_service(url, username(2, ctxm), tokm, missing)
    check(resp.status_code == 404, "own missing service: 404, got %d" % resp.status_code)
    ret = client_result(resp)
    check(ret == {"result": True}, "404 gives {'result': True}: %r" % ret)

    # a token over the maximum lifetime: a JSON 401 the client turns into result False
    token61 = make_token(kms, key, ctx2, 61)[0]
    resp = get_service(url, user2, token61, service)
    check(resp.status_code == 401, "a 61-minute token: 401, got %d" % resp.status_code)
    check(isinstance(resp.json(), dict), "the 401 body is a JSON object")
    check(client_result(resp) == {"result": False}, "401 gives {'result': False}")

    # the token coffer's C generator made: exactly what json.dumps writes
    c_token = os.environ["C_TOKEN"]
    plain = kms.decrypt(CiphertextBlob=base64.b64decode(c_token, validate=True),
                        EncryptionContext=ctx2)["Plaintext"].decode("ascii")
    window = json.loads(plain)
    check(
        plain == json.dumps({"not_before": window["not_before"], "not_after": window["not_after"]}),
        "the C generator's payload is json.dumps's: %s" % plain,
    )
    check(BASE64_RE.fullmatch(c_token) is not None, "the C token is standard padded base64")

    print(json.dumps({"not_before": epoch(not_before), "not_after": epoch(not_after),
                      "payload": payload, "checks": checks[0]}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
