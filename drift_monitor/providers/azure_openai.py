"""Azure OpenAI chat completions, on a deployment (whose version policy can move it to a new
model version by itself: the ``model`` each answer names is recorded, so that shows).

Wire format, two paths:

- ``POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version={api_version}``
  (``api_version`` is dated, ``2024-10-21`` or ``2025-04-01-preview``);
- the v1 API, ``POST {endpoint}/openai/v1/chat/completions`` with the deployment as ``model``,
  chosen by ``api_version: v1`` (or ``preview``, sent as ``?api-version=preview``) or by a
  ``base_url`` that already ends in ``/openai/v1``.

``base_url`` is the resource endpoint (``https://RESOURCE.openai.azure.com``); ``deployment``
defaults to ``model``. With ``api_key_env`` the key goes in the ``api-key`` header; without it a
Microsoft Entra ID token (``DefaultAzureCredential`` from the ``azure`` extra, scope
``https://cognitiveservices.azure.com/.default``) goes in ``Authorization: Bearer``, fetched in a
thread and renewed five minutes before it expires.

The answer is read as OpenAI's (``model``, ``system_fingerprint``, usage, ``apim-request-id``).
Azure's content filter is an outcome of its own, stored as the failure kind ``content_filter``
and never as a behaviour sample: an answer whose ``finish_reason`` is ``content_filter`` (the
categories whose ``content_filter_results`` say ``filtered``), and a prompt refused with HTTP 400
and code ``content_filter`` (``innererror.content_filter_result``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.providers._http import Reply
from drift_monitor.providers._openai_chat import OpenAIChatProvider
from drift_monitor.providers.base import (
    CallResult,
    ProbeRequest,
    as_dict,
    as_list,
    as_str,
    error_json,
    missing_extra,
    raise_problems,
)

if TYPE_CHECKING:
    from drift_monitor.config import TargetConfig

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_V1_VERSIONS = frozenset({"v1", "preview", "latest"})
_RENEW_BEFORE_S = 300.0
_ENTRA_ENV = ("AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT",
              "MSI_ENDPOINT")


def _is_v1(target: TargetConfig) -> bool:
    base = (target.base_url or "").rstrip("/")
    return base.endswith("/openai/v1") or (target.api_version or "") in _V1_VERSIONS


def _default_credential() -> Any:
    """Microsoft Entra ID's usual chain (environment, workload identity, managed identity,
    Azure CLI, ...). Tests replace this function with a credential of their own."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class AzureOpenAIProvider(OpenAIChatProvider):
    name = "azure_openai"
    default_base_url: ClassVar[str] = ""
    request_id_header: ClassVar[str] = "apim-request-id"

    def __init__(self, target: TargetConfig, *, api_key: str | None, base_dir: Path,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        raise_problems(target, self.config_problems(target))
        self.deployment = target.deployment or target.model
        self._credential: Any = None
        self._token: tuple[str, float] | None = None  # (token, expires_on)
        self._old_tokens: list[str] = []
        self._token_lock: asyncio.Lock | None = None
        super().__init__(target, api_key=api_key, base_dir=base_dir, transport=transport)
        base = self.base_url.rstrip("/")
        if _is_v1(target):
            self.base_url = (base if base.endswith("/openai/v1") else base + "/openai/v1") + "/"
            self.chat_path = "chat/completions" + (
                "?api-version=preview" if target.api_version == "preview" else "")
        else:
            self.chat_path = (f"openai/deployments/{quote(self.deployment, safe='')}"
                              f"/chat/completions?api-version={target.api_version}")

    @classmethod
    def config_problems(cls, target: TargetConfig) -> list[str]:
        problems = []
        base = target.base_url
        if not base:
            problems.append("azure_openai needs base_url, the resource endpoint "
                            "(https://RESOURCE.openai.azure.com)")
        else:
            url = httpx.URL(base)
            if url.scheme not in ("http", "https") or not url.host:
                problems.append(f"base_url '{base}' is not an http(s) URL")
            elif "/deployments/" in url.path or url.path.rstrip("/").endswith(
                    ("/chat/completions", "/openai")):
                problems.append(f"base_url '{base}' should be the resource endpoint only "
                                "(https://RESOURCE.openai.azure.com); the deployment and "
                                "api-version are keys of their own")
        if not _is_v1(target):
            if target.api_version is None:
                problems.append("azure_openai needs api_version (a dated version such as "
                                "2024-10-21, or v1 for the /openai/v1 API)")
            elif not _DATED.match(target.api_version):
                problems.append(f"api_version '{target.api_version}' is neither YYYY-MM-DD, "
                                "YYYY-MM-DD-preview, v1 nor preview")
        if target.api_key_env is None:
            advice = missing_extra("azure.identity", "azure", cls.name)
            if advice:
                problems.append(advice + " (or set api_key_env to use an API key)")
        return problems

    @classmethod
    def credential_problems(cls, target: TargetConfig) -> list[str]:
        """Without an API key: whether an Entra ID identity is in sight offline (a service
        principal or workload identity in the environment, or the Azure CLI). A managed
        identity on an Azure VM is only found at run time, so this is a warning."""
        if target.api_key_env is not None:
            return []
        if any(os.environ.get(n) for n in _ENTRA_ENV) or shutil.which("az") \
                or shutil.which("azd"):
            return []
        return ["no Microsoft Entra ID identity found offline (AZURE_CLIENT_ID and a secret, "
                "certificate or federated token, or 'az login'; fine on Azure with a managed "
                "identity)"]

    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self._api_key} if self._api_key else {}

    def chat_body(self, request: ProbeRequest) -> dict[str, Any]:
        body = {**request.params, "messages": list(request.messages)}
        if _is_v1(self.target):
            body["model"] = self.deployment
        return body

    async def request_headers(self, url: httpx.URL, content: bytes) -> dict[str, str]:
        if self._api_key:
            return self._headers
        return {**self._headers, "Authorization": f"Bearer {await self._entra_token()}"}

    async def _entra_token(self) -> str:
        if self._token is not None and self._token[1] - time.time() > _RENEW_BEFORE_S:
            return self._token[0]
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            if self._token is not None and self._token[1] - time.time() > _RENEW_BEFORE_S:
                return self._token[0]
            try:
                if self._credential is None:
                    self._credential = await asyncio.to_thread(_default_credential)
                got = await asyncio.to_thread(self._credential.get_token, ENTRA_SCOPE)
            except Exception as exc:  # azure-identity raises its own tree; none is retryable
                raise self.error(ErrorKind.AUTH, "no Microsoft Entra ID token: "
                                 f"{type(exc).__name__}: {str(exc)[:300]}") from None
            if self._token is not None:
                self._old_tokens.append(self._token[0])
            self._token = (str(got.token), float(got.expires_on))
            return self._token[0]

    def scrub(self, text: str) -> str:
        text = super().scrub(text)
        for token in ([self._token[0]] if self._token else []) + self._old_tokens:
            text = text.replace(token, "***")
        return text

    def completion_result(self, reply: Reply) -> CallResult:
        choices = as_list(reply.data.get("choices"))
        choice = as_dict(choices[0]) if choices else {}
        if choice.get("finish_reason") == "content_filter":
            rid = reply.headers.get(self.request_id_header) or as_str(reply.data.get("id"))
            raise self.error(ErrorKind.CONTENT_FILTER, "the content filter withheld the answer"
                             + _categories(choice.get("content_filter_results")),
                             status=reply.status, request_id=rid)
        return super().completion_result(reply)

    def classify_error(self, resp: httpx.Response, raw: bytes | bytearray) -> ProviderCallError:
        err = super().classify_error(resp, raw)
        info = error_json(raw)
        if resp.status_code == 400 and info.get("code") == "content_filter":
            inner = as_dict(info.get("innererror"))
            return self.error(ErrorKind.CONTENT_FILTER, "the content filter refused the prompt"
                              + _categories(inner.get("content_filter_result")),
                              status=400, request_id=err.request_id)
        return err

    async def aclose(self) -> None:
        await super().aclose()
        close = getattr(self._credential, "close", None)
        if callable(close):
            await asyncio.to_thread(close)
        self._credential = None


def _categories(results: Any) -> str:
    """`` (hate, jailbreak)``: the categories a ``content_filter_results`` object filtered."""
    names = sorted(k for k, v in as_dict(results).items()
                   if isinstance(v, dict) and v.get("filtered") is True)
    return f" ({', '.join(names)})" if names else ""
