"""What the cloud fakes check before they answer: Azure's api-version and key, Bedrock's SigV4
signature (recomputed with botocore's own signer), Vertex's OAuth token (issued by the fake's own
token endpoint against a service-account JWT it verifies), and the OpenAI bearer key.

Each check returns None when the request passes, else the (status, headers, body) the real
service would send, and appends the reason to ``server.auth_failures``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import itertools
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.llm_servers import FakeLLMServer

Answer = tuple[int, dict[str, str], Any]
DATED = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
_tokens = itertools.count(1)


@dataclass
class AwsKeys:
    access_key: str = "AKIAFAKETEST00000001"
    secret_key: str = "fake/SECRET/aws+key/0123456789abcdefSECRET"
    token: str | None = "FAKE-SESSION-TOKEN-0123456789-SECRET"
    region: str = "us-east-1"


def _deny(server: FakeLLMServer, reason: str, answer: Answer) -> Answer:
    server.auth_failures.append(reason)
    return answer


def check_azure(server: FakeLLMServer, request: web.Request) -> Answer | None:
    query = parse_qs(request.query_string)
    version = query.get("api-version", [None])[0]
    not_found = (404, {}, {"error": {"code": "404", "message": "Resource not found"}})
    if request.path.startswith("/openai/deployments/"):
        if version is None or not DATED.match(version):
            return _deny(server, f"api-version {version!r} on a deployments path", not_found)
    elif request.path == "/openai/v1/chat/completions":
        if version not in (None, "preview", "latest"):
            return _deny(server, f"api-version {version!r} on the v1 path", (
                400, {}, {"error": {"code": "BadRequest",
                                    "message": f"API version {version} is not supported"}}))
    else:
        return _deny(server, f"unknown path {request.path}", not_found)
    key = request.headers.get("api-key")
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if (server.api_key and key == server.api_key) or (
            server.entra_tokens and bearer in server.entra_tokens):
        return None
    return _deny(server, "neither a valid api-key nor a valid Entra ID token", (
        401, {}, {"error": {"code": "401", "message": "Access denied due to invalid subscription "
                            "key or wrong API endpoint. Make sure to provide a valid key for an "
                            "active subscription and use a correct regional API endpoint for "
                            "your resource."}}))


def check_bearer(server: FakeLLMServer, request: web.Request) -> Answer | None:
    if server.api_key is None:
        return None
    if request.headers.get("Authorization") == f"Bearer {server.api_key}":
        return None
    return _deny(server, "wrong bearer key", (401, {}, {"error": {
        "message": "Incorrect API key provided.", "type": "invalid_request_error",
        "param": None, "code": "invalid_api_key"}}))


def _aws_error(code: str, status: int, message: str) -> Answer:
    return status, {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/"
                    "com.amazon.bedrock/"}, {"message": message}


def check_sigv4(server: FakeLLMServer, request: web.Request, raw: bytes) -> Answer | None:
    """Recompute the request's signature with botocore's SigV4 signer and compare."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    keys = server.aws
    m = _AUTH.match(request.headers.get("Authorization", ""))
    if m is None:
        return _deny(server, "no SigV4 Authorization header", _aws_error(
            "MissingAuthenticationTokenException", 403, "Missing Authentication Token"))
    access, day, region, service, signed, signature = m.groups()
    if access != keys.access_key:
        return _deny(server, "unknown access key", _aws_error(
            "UnrecognizedClientException", 403,
            "The security token included in the request is invalid."))
    if (region, service) != (keys.region, "bedrock"):
        return _deny(server, f"scope {region}/{service}", _aws_error(
            "InvalidSignatureException", 403, f"Credential should be scoped to a valid region "
            f"and service: {region}/{service}"))
    if keys.token and request.headers.get("X-Amz-Security-Token") != keys.token:
        return _deny(server, "session token missing or wrong", _aws_error(
            "UnrecognizedClientException", 403,
            "The security token included in the request is invalid."))
    amz_date = request.headers.get("X-Amz-Date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return _deny(server, "no X-Amz-Date", _aws_error(
            "IncompleteSignatureException", 400, "X-Amz-Date is missing"))
    if abs((dt.datetime.now(dt.UTC) - when).total_seconds()) > 300 or day != amz_date[:8]:
        return _deny(server, "request time too skewed", _aws_error(
            "InvalidSignatureException", 403, "Signature expired"))
    names = signed.split(";")
    headers = {n: request.headers.get(n, "") for n in names if n != "host"}
    url = f"http://{request.headers.get('Host', request.host)}{request.raw_path}"
    aws_request = AWSRequest(method=request.method, url=url, data=raw, headers=headers)
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(keys.access_key, keys.secret_key, keys.token), "bedrock",
                       keys.region)
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    if "host" not in names or not hmac.compare_digest(expected, signature):
        return _deny(server, "signature mismatch", _aws_error(
            "InvalidSignatureException", 403, "The request signature we calculated does not "
            "match the signature you provided. Check your AWS Secret Access Key and signing "
            f"method.\n\nThe Canonical String for this request should have been\n'{canonical}'"))
    server.signatures.append(signature)
    return None


def check_google_token(server: FakeLLMServer, request: web.Request) -> Answer | None:
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
    if bearer in server.google_tokens:
        return None
    return _deny(server, "no valid OAuth token", (401, {}, {"error": {
        "code": 401, "message": "Request had invalid authentication credentials. Expected OAuth 2 "
        "access token, login cookie or other valid authentication credential.",
        "status": "UNAUTHENTICATED"}}))


def google_token_endpoint(server: FakeLLMServer, raw: bytes) -> Answer:
    """OAuth 2 JWT-bearer grant: verify the service account's assertion, issue a token."""
    from google.auth import jwt

    form = parse_qs(raw.decode())
    assertion = form.get("assertion", [""])[0]
    if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
        return 400, {}, {"error": "unsupported_grant_type"}
    try:
        # google-auth addresses the assertion to Google's token endpoint, wherever it posts it
        claims = jwt.decode(assertion, certs=server.google_public_keys,
                            audience=[server.token_url, "https://oauth2.googleapis.com/token"])
    except Exception as exc:  # google-auth raises ValueError and its own errors
        server.auth_failures.append(f"bad assertion: {exc}")
        return 400, {}, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    if "cloud-platform" not in str(claims.get("scope", "")):
        return 400, {}, {"error": "invalid_scope"}
    token = f"ya29.fake-{next(_tokens)}-SECRET-token"
    server.google_tokens.append(token)
    return 200, {}, {"access_token": token, "expires_in": server.token_ttl_s,
                     "token_type": "Bearer"}


def json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
