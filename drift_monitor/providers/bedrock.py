"""Amazon Bedrock, the Converse API.

Wire format: ``POST {endpoint}/model/{modelId}/converse`` (endpoint
``https://bedrock-runtime.{region}.amazonaws.com``; ``modelId`` percent-encoded, so inference
profile ARNs work) signed with SigV4 (service ``bedrock``) by botocore, the ``bedrock`` extra.
Credentials come from the usual AWS chain (environment, shared files and SSO, web identity,
container and instance roles), never from the config file; ``region`` is the target's, else
``AWS_REGION``/``AWS_DEFAULT_REGION``.

Body: ``messages`` (``[{role, content: [{text}]}]``), ``system`` (``[{text}]``) from the probe's
system messages, ``inferenceConfig`` from ``max_tokens`` -> ``maxTokens``, ``temperature``,
``top_p`` -> ``topP``, ``stop`` -> ``stopSequences``; any other param (``top_k``, ``seed``, ...)
goes to ``additionalModelRequestFields``, where the model's own API reads it.

The answer's ``output.message.content[].text`` is joined; ``stopReason``, ``usage``
(``inputTokens``, ``outputTokens``), ``metrics.latencyMs`` (logged; the stored latency is the
round trip) and ``x-amzn-RequestId`` are kept. The answer names no model version (pin one with
a dated model id or an inference profile), so ``model_returned`` stays empty.
``guardrail_intervened`` and ``content_filtered`` are safety stops. Errors are read from
``x-amzn-ErrorType`` (or the body's ``__type``): throttling, ``ModelNotReadyException``, 5xx
and model timeouts are retried; ``AccessDeniedException`` and the other credential errors are
``auth``; a service quota is ``quota``; validation and unknown models are ``bad_request``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.finishes import is_safety_stop
from drift_monitor.providers._http import USER_AGENT, HttpProvider
from drift_monitor.providers.base import (
    CallResult,
    ProbeRequest,
    as_dict,
    as_int,
    as_str,
    json_head,
    missing_extra,
    raise_problems,
)

if TYPE_CHECKING:
    from drift_monitor.config import TargetConfig

log = logging.getLogger(__name__)

SERVICE = "bedrock"
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:bedrock:([a-z0-9-]+):")
_INFERENCE = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP",
              "stop": "stopSequences"}
_RATE_LIMITED = frozenset({"ThrottlingException", "ModelNotReadyException",
                           "TooManyRequestsException"})
_RETRYABLE = frozenset({"ServiceUnavailableException", "InternalServerException",
                        "InternalFailure", "ModelErrorException", "ModelTimeoutException"})
_AUTH = frozenset({"AccessDeniedException", "UnrecognizedClientException",
                   "InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature",
                   "ExpiredTokenException", "InvalidClientTokenId", "MissingAuthenticationToken"})
_QUOTA = frozenset({"ServiceQuotaExceededException"})
_SIGNATURE = re.compile(r"Signature=[0-9a-f]{64}")


class _NoSecretsInDebug(logging.Filter):
    """botocore.auth logs the canonical request (with the session token) and the signature at
    DEBUG; those records never reach a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def region_of(target: TargetConfig) -> str | None:
    m = _ARN_REGION.match(target.model)
    return (target.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            or (m.group(1) if m else None))


def build_body(request: ProbeRequest) -> dict[str, Any]:
    """The Converse body for ``request`` (see the module docstring for the mapping)."""
    system = [{"text": m["content"]} for m in request.messages if m["role"] == "system"]
    body: dict[str, Any] = {"messages": [
        {"role": m["role"], "content": [{"text": m["content"]}]}
        for m in request.messages if m["role"] in ("user", "assistant")]}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in request.params.items():
        if key in ("inferenceConfig", "additionalModelRequestFields", "guardrailConfig",
                   "performanceConfig") and isinstance(value, dict):
            (inference if key == "inferenceConfig" else
             extra if key == "additionalModelRequestFields" else body.setdefault(key, {})
             ).update(value)
        elif key in _INFERENCE:
            if key == "stop" and isinstance(value, str):
                value = [value]
            inference[_INFERENCE[key]] = value
        else:
            extra[key] = value
    if inference:
        body["inferenceConfig"] = inference
    if extra:
        body["additionalModelRequestFields"] = extra
    return body


class BedrockProvider(HttpProvider):
    name = "bedrock"
    default_base_url: ClassVar[str] = ""
    request_id_header: ClassVar[str] = "x-amzn-requestid"

    def __init__(self, target: TargetConfig, *, api_key: str | None, base_dir: Path,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        raise_problems(target, self.config_problems(target))
        region = region_of(target)
        assert region is not None  # config_problems says so otherwise
        self.region = region
        super().__init__(target, api_key=None, base_dir=base_dir, transport=transport)
        if target.base_url is None:
            self.base_url = f"https://bedrock-runtime.{region}.amazonaws.com/"
        self._path = f"model/{quote(target.model, safe='-._~')}/converse"
        self._credentials: Any = None
        self._secrets: set[str] = set()
        self._cred_lock: asyncio.Lock | None = None
        self._signer: _Signer | None = None

    @classmethod
    def config_problems(cls, target: TargetConfig) -> list[str]:
        problems = []
        advice = missing_extra("botocore", "bedrock", cls.name)
        if advice:
            problems.append(advice)
        region = region_of(target)
        if region is None:
            problems.append("bedrock needs region (or AWS_REGION in the environment)")
        elif not _REGION.match(region):
            problems.append(f"region '{region}' does not look like an AWS region (us-east-1)")
        m = _ARN_REGION.match(target.model)
        if m and region and m.group(1) != region:
            problems.append(f"the model ARN is in {m.group(1)} but region is {region}")
        if target.api_key_env is not None:
            problems.append("bedrock reads credentials from the AWS chain (environment, shared "
                            "files, roles); remove api_key_env")
        if target.base_url is not None and not target.base_url.startswith(("http://",
                                                                           "https://")):
            problems.append(f"base_url '{target.base_url}' is not an http(s) URL")
        return problems

    @classmethod
    def credential_problems(cls, target: TargetConfig) -> list[str]:
        """Whether the AWS chain finds credentials without the network (the instance-metadata
        provider is skipped, so on EC2 an empty answer is only a warning)."""
        import botocore.session

        session = botocore.session.get_session()
        resolver = session.get_component("credential_provider")
        for name in ("iam-role", "container-role"):
            with contextlib.suppress(Exception):  # an older botocore without that provider
                resolver.remove(name)
        try:
            creds = resolver.load_credentials()
        except Exception as exc:
            return [f"AWS credentials could not be read: {type(exc).__name__}"]
        if creds is None:
            return ["no AWS credentials in the environment, shared files or SSO cache (fine on "
                    "EC2/ECS/EKS with a role: those are looked up at run time)"]
        return []

    async def open(self) -> None:
        await super().open()
        # resolve the chain before the first call's clock starts; a failure is raised by each
        # call instead, so it is stored with the call rather than breaking the round
        with contextlib.suppress(ProviderCallError):
            await self._load_credentials()

    async def _load_credentials(self) -> Any:
        if self._credentials is not None:
            return self._credentials
        if self._cred_lock is None:
            self._cred_lock = asyncio.Lock()
        async with self._cred_lock:
            if self._credentials is None:
                try:
                    self._credentials = await asyncio.to_thread(_resolve_credentials)
                except Exception as exc:  # botocore's tree: a broken profile, SSO expired, ...
                    raise self.error(ErrorKind.AUTH, "AWS credentials could not be loaded: "
                                     f"{type(exc).__name__}: {str(exc)[:300]}") from None
        return self._credentials

    async def request_headers(self, url: httpx.URL, content: bytes) -> dict[str, str]:
        creds = await self._load_credentials()
        if creds is None:
            raise self.error(ErrorKind.AUTH, "no AWS credentials found (environment, shared "
                             "files, SSO, web identity, container or instance role)")
        refresh = getattr(creds, "refresh_needed", None)
        if callable(refresh) and refresh():
            frozen = await asyncio.to_thread(creds.get_frozen_credentials)
        else:
            frozen = creds.get_frozen_credentials()
        self._secrets.update(s for s in (frozen.secret_key, frozen.token, frozen.access_key) if s)
        if self._signer is None:
            self._signer = _Signer(self.region)
        return self._signer.headers(_as_sent(url, self.transport), content, frozen)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return _SIGNATURE.sub("Signature=***", text)

    async def send(self, request: ProbeRequest) -> CallResult:
        """One Converse call. Raises ProviderCallError (see providers.base)."""
        reply = await self.post_json(self._path, build_body(request))
        data = reply.data
        rid = reply.headers.get(self.request_id_header)
        stop = as_str(data.get("stopReason"))
        message = as_dict(as_dict(data.get("output")).get("message"))
        blocks = message.get("content")
        if not isinstance(blocks, list):
            raise self.error(ErrorKind.MALFORMED, "no output.message.content in the answer: "
                             f"{self.body_excerpt(reply.raw)}", status=reply.status,
                             request_id=rid)
        # reasoningContent and toolUse blocks are not the answer's text
        text = "".join(b["text"] for b in blocks
                       if isinstance(b, dict) and isinstance(b.get("text"), str))
        if not text.strip() and not is_safety_stop(stop):
            raise self.error(ErrorKind.MALFORMED, f"no text in the answer (stopReason={stop!r}, "
                             f"{len(blocks)} content blocks)", status=reply.status,
                             request_id=rid)
        usage = as_dict(data.get("usage"))
        server_ms = as_int(as_dict(data.get("metrics")).get("latencyMs"))
        if server_ms is not None:
            log.debug("bedrock %s: model latency %d ms of %.0f ms", self.target.name, server_ms,
                      reply.latency_ms)
        return CallResult(
            text=text, finish_reason=stop, input_tokens=as_int(usage.get("inputTokens")),
            output_tokens=as_int(usage.get("outputTokens")), latency_ms=reply.latency_ms,
            # Converse names no model or version in its answer: nothing to record
            model_returned=None, fingerprint=None, request_id=rid,
            http_status=reply.status)

    def classify_error(self, resp: httpx.Response, raw: bytes | bytearray) -> ProviderCallError:
        err = super().classify_error(resp, raw)
        head = json_head(raw)
        code = (resp.headers.get("x-amzn-errortype") or as_str(head.get("__type"))
                or as_str(head.get("code")) or "")
        code = code.split(":", 1)[0].rsplit("#", 1)[-1]
        message = as_str(head.get("message")) or as_str(head.get("Message")) or err.detail
        detail = self.scrub(f"{code}: {message}" if code else message)[:300]
        status, rid = resp.status_code, err.request_id
        if code in _RATE_LIMITED:
            return self.error(ErrorKind.RATE_LIMITED, detail, retryable=True, status=status,
                              retry_after=err.retry_after, request_id=rid)
        if code == "ModelTimeoutException":
            return self.error(ErrorKind.TIMEOUT, detail, retryable=True, status=status,
                              retry_after=err.retry_after, request_id=rid)
        if code in _RETRYABLE:
            return self.error(ErrorKind.SERVER_ERROR, detail, retryable=True, status=status,
                              retry_after=err.retry_after, request_id=rid)
        if code in _AUTH:
            return self.error(ErrorKind.AUTH, detail, status=status, request_id=rid)
        if code in _QUOTA:
            return self.error(ErrorKind.QUOTA, detail, status=status, request_id=rid)
        if code:
            return self.error(err.kind, detail, retryable=err.retryable, status=status,
                              retry_after=err.retry_after, request_id=rid)
        return err


class _Signer:
    """SigV4 for Converse calls. Every call has the same shape (POST, no query string, the same
    five signed headers), so the canonical request is written out here; botocore's SigV4Auth
    makes the string to sign and the signature from it. botocore's own ``add_auth`` does the
    same work in general form at several times the CPU per call (see benchmarks/
    probe_throughput.py); the Bedrock fake checks every request with ``add_auth``'s canonical
    request, so the two cannot drift apart unnoticed."""

    def __init__(self, region: str) -> None:
        from botocore.auth import SigV4Auth

        self._auth = SigV4Auth(None, SERVICE, region)
        self._urls: dict[str, tuple[str, str]] = {}  # url -> (host, canonical path)

    def _parts(self, url: str) -> tuple[str, str]:
        parts = self._urls.get(url)
        if parts is None:
            from botocore.utils import normalize_url_path

            split = urlsplit(url)
            if split.query:
                raise ValueError("Converse URLs have no query string")
            host = split.hostname or ""
            if split.port is not None \
                    and split.port != {"http": 80, "https": 443}.get(split.scheme):
                host = f"{host}:{split.port}"
            parts = self._urls[url] = (host, quote(normalize_url_path(split.path), safe="/~"))
        return parts

    def headers(self, url: str, body: bytes, credentials: Any) -> dict[str, str]:
        host, path = self._parts(url)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        signed = {"accept": "application/json", "content-type": "application/json",
                  "host": host, "x-amz-date": stamp}
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        canonical = "\n".join([
            "POST", path, "", "".join(f"{n}:{signed[n]}\n" for n in names), ";".join(names),
            hashlib.sha256(body).hexdigest()])
        context = _Context({"timestamp": stamp})
        self._auth.credentials = credentials
        signature = self._auth.signature(self._auth.string_to_sign(context, canonical), context)
        headers = {"User-Agent": USER_AGENT, "Accept": signed["accept"],
                   "Content-Type": signed["content-type"], "X-Amz-Date": stamp,
                   "Authorization": f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/"
                                    f"{self._auth.credential_scope(context)}, SignedHeaders="
                                    f"{';'.join(names)}, Signature={signature}"}
        if credentials.token:
            headers["X-Amz-Security-Token"] = credentials.token
        return headers


@dataclass(frozen=True)
class _Context:
    """The part of a botocore AWSRequest that SigV4Auth's string_to_sign and signature read."""

    context: dict[str, str]


def _as_sent(url: httpx.URL, transport: httpx.AsyncBaseTransport | None) -> str:
    """``url`` as the transport writes it on the wire, which is what the signature must cover
    (AWS re-encodes the path it receives). The aiohttp transport hands the URL to yarl, which
    decodes the escapes a path may hold as they are (``%3A`` in a model id becomes ``:``)."""
    if type(transport).__module__.split(".")[0] == "httpx_aiohttp":
        import yarl

        return str(yarl.URL(str(url)))
    return str(url)


# What the AWS chain reads from the environment: the chain is resolved again when one changes.
_CHAIN_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
              "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
              "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_EC2_METADATA_DISABLED")
_resolved: dict[tuple[str | None, ...], Any] = {}


def _resolve_credentials() -> Any:
    """The AWS chain's credentials (refreshable ones refresh themselves), or None.

    Resolved once per process and environment, not once per round: a session reads the shared
    files and may ask SSO or instance metadata, which costs tens of milliseconds or more.
    """
    import botocore.session

    logging.getLogger("botocore.auth").addFilter(_SECRET_FILTER)
    key = tuple(os.environ.get(name) for name in _CHAIN_ENV)
    if key not in _resolved:
        _resolved.clear()
        _resolved[key] = botocore.session.get_session().get_credentials()
    return _resolved[key]


_SECRET_FILTER = _NoSecretsInDebug()
