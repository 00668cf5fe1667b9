"""Gemini on Vertex AI ``generateContent``.

Wire format: ``POST {base}/projects/{project}/locations/{location}/publishers/google/models/
{model}:generateContent`` (base ``https://{location}-aiplatform.googleapis.com/v1``, or
``https://aiplatform.googleapis.com/v1`` for ``location: global``; ``location`` defaults to
``us-central1``). A ``model`` that starts with
``projects/`` is used as the whole resource name (a tuned model's
``projects/P/locations/L/endpoints/ID``); one that starts with ``publishers/`` gets the project
and location in front. Body and answer are the Gemini API's (see ``providers._gemini_wire``):
``modelVersion`` is recorded as the model string.

Auth: ``Authorization: Bearer`` with an OAuth token from application default credentials
(``google.auth.default``, the ``vertex`` extra: ``GOOGLE_APPLICATION_CREDENTIALS``, the gcloud
ADC file, workload identity, the metadata server), refreshed in a thread when it expires.
``x-goog-user-project`` carries the credentials' quota project when they name one. The
credentials are found once per process and shared by every round; the token endpoint is the
credentials' own (``token_uri``), which ``base_url`` does not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.providers._gemini_wire import GeminiWireProvider
from drift_monitor.providers.base import missing_extra, raise_problems

if TYPE_CHECKING:
    from drift_monitor.config import TargetConfig

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_LOCATION = re.compile(r"^(global|[a-z]+-[a-z]+\d+)$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z0-9.:-]+$")


_ADC_ENV = ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "GOOGLE_CLOUD_PROJECT")
_resolved: dict[tuple[str | None, ...], Any] = {}


def _default_credentials() -> Any:
    """Application default credentials for the cloud-platform scope (may ask the metadata
    server: run it in a thread).

    Found once per process and environment and shared by every round, so a token lives its
    hour instead of being fetched again each round.
    """
    import google.auth

    key = tuple(os.environ.get(name) for name in _ADC_ENV)
    if key not in _resolved:
        _resolved.clear()
        _resolved[key] = google.auth.default(scopes=[SCOPE])[0]
    return _resolved[key]


def _refresh(credentials: Any) -> None:
    import google.auth.transport.requests

    credentials.refresh(google.auth.transport.requests.Request())


class VertexProvider(GeminiWireProvider):
    name = "vertex"
    default_base_url: ClassVar[str] = ""

    def __init__(self, target: TargetConfig, *, api_key: str | None, base_dir: Path,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        raise_problems(target, self.config_problems(target))
        location = target.location or "us-central1"
        self.location = location
        host = "aiplatform.googleapis.com" if location == "global" \
            else f"{location}-aiplatform.googleapis.com"
        super().__init__(target, api_key=None, base_dir=base_dir, transport=transport)
        if target.base_url is None:
            self.base_url = f"https://{host}/v1/"
        self._credentials: Any = None
        self._tokens: list[str] = []
        self._lock: asyncio.Lock | None = None

    @classmethod
    def config_problems(cls, target: TargetConfig) -> list[str]:
        problems = []
        advice = missing_extra("google.auth", "vertex", cls.name)
        if advice:
            problems.append(advice)
        if target.project is None and not target.model.startswith("projects/"):
            problems.append("vertex needs project (the Google Cloud project id)")
        elif target.project is not None and not _PROJECT.match(target.project):
            problems.append(f"project '{target.project}' is not a Google Cloud project id")
        if target.location is not None and not _LOCATION.match(target.location):
            problems.append(f"location '{target.location}' is not a Vertex AI location "
                            "(us-central1, europe-west4, global)")
        if target.api_key_env is not None:
            problems.append("vertex uses application default credentials; remove api_key_env")
        return problems

    @classmethod
    def credential_problems(cls, target: TargetConfig) -> list[str]:
        """Whether application default credentials can be found without the network."""
        explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        if explicit:
            try:
                info = json.loads(Path(explicit).read_text())
            except (OSError, ValueError) as exc:
                return [f"GOOGLE_APPLICATION_CREDENTIALS={explicit} cannot be read as JSON "
                        f"({type(exc).__name__})"]
            if not isinstance(info, dict) or "type" not in info:
                return [f"GOOGLE_APPLICATION_CREDENTIALS={explicit} is not a credentials file"]
            return []
        from google.auth import _cloud_sdk

        if Path(_cloud_sdk.get_application_default_credentials_path()).exists():
            return []
        return ["no application default credentials (GOOGLE_APPLICATION_CREDENTIALS or "
                "'gcloud auth application-default login'; fine on Google Cloud, where the "
                "metadata server is asked at run time)"]

    def generate_path(self) -> str:
        model = self.target.model
        if model.startswith("projects/"):
            return f"{model}:generateContent"
        where = f"projects/{self.target.project}/locations/{self.location}"
        if model.startswith("publishers/"):
            return f"{where}/{model}:generateContent"
        return f"{where}/publishers/google/models/{model}:generateContent"

    async def open(self) -> None:
        await super().open()
        # fetch the token before the first call's clock starts; a failure is not raised here
        # but by each call, so it is stored with the call instead of breaking the round
        with contextlib.suppress(ProviderCallError):
            await self._token()

    async def _token(self) -> str:
        creds = self._credentials
        if creds is not None and creds.valid and creds.token:
            token = str(creds.token)
            if token not in self._tokens:  # refreshed by another target sharing them
                self._tokens.append(token)
            return token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                if self._credentials is None:
                    self._credentials = await asyncio.to_thread(_default_credentials)
                creds = self._credentials
                if not (creds.valid and creds.token):
                    await asyncio.to_thread(_refresh, creds)
            except Exception as exc:  # google-auth raises its own tree
                # a token endpoint that could not be reached, or that says a retry can help
                # (RefreshError.retryable: a 5xx), is worth another attempt; the rest is auth
                transient = type(exc).__name__ == "TransportError" \
                    or getattr(exc, "retryable", False) is True
                raise self.error(ErrorKind.CONNECTION if transient else ErrorKind.AUTH,
                                 "no Google Cloud access token: "
                                 f"{type(exc).__name__}: {str(exc)[:300]}",
                                 retryable=transient) from None
            token = str(creds.token)
            if token not in self._tokens:
                self._tokens.append(token)
            return token

    async def request_headers(self, url: httpx.URL, content: bytes) -> dict[str, str]:
        token = await self._token()
        headers = {**self._headers, "Authorization": f"Bearer {token}"}
        quota_project = getattr(self._credentials, "quota_project_id", None)
        if quota_project:
            headers["x-goog-user-project"] = str(quota_project)
        return headers

    def scrub(self, text: str) -> str:
        for token in self._tokens:
            if len(token) >= 4:
                text = text.replace(token, "***")
        return text
