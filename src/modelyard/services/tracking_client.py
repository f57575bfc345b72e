"""The few read-only calls Modelyard makes to an MLflow tracking server's REST API.

Routes as served by `mlflow server` 3.x (mlflow/server/handlers.py): runs/get, artifacts/list and
/get-artifact for run artifacts, logged-models/{id} and its artifacts/directories and
artifacts/files for logged models, and the mlflow-artifacts proxy for `mlflow-artifacts:` URIs.
Every failure becomes `TrackingUnavailable` with a sentence a page can show as it is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from modelyard.services.tracking import TrackingNotFound, TrackingUnavailable

#: Short: a page waits for these calls, and a slow tracking server must not hold it for long.
TIMEOUT_SECONDS = 3.0


def display_url(url: str) -> str:
    """The address without any user:password part, for pages and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class TrackingClient:
    """An async HTTP client for one tracking server; the token is sent, never shown or logged."""

    def __init__(self, base_url: str, token: str | None = None,
                 timeout: float = TIMEOUT_SECONDS) -> None:
        self.url = display_url(base_url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers,
                                       timeout=timeout, follow_redirects=False)

    async def get_json(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self._get(path, params)
        try:
            body = response.json()
        except ValueError as error:
            raise TrackingUnavailable(
                f"The tracking server at {self.url} answered {path} with something other "
                f"than JSON.") from error
        if not isinstance(body, dict):
            raise TrackingUnavailable(f"The tracking server at {self.url} answered {path} "
                                      f"with unexpected JSON.")
        return body

    async def get_bytes(self, path: str, params: dict[str, str] | None = None,
                        limit: int = 1 << 20) -> bytes:
        """The body, cut after `limit` + 1 bytes so that the caller can tell it was too big."""
        try:
            async with self._http.stream("GET", path, params=params) as response:
                if response.status_code != 200:
                    await response.aread()
                self._check(response, path)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        break
                return bytes(data[:limit + 1])
        except httpx.HTTPError as error:
            raise self._unreachable(error) from error

    async def _get(self, path: str, params: dict[str, str] | None) -> httpx.Response:
        try:
            response = await self._http.get(path, params=params)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from error
        if response.status_code != 200:
            await response.aread()
        self._check(response, path)
        return response

    def _unreachable(self, error: httpx.HTTPError) -> TrackingUnavailable:
        kind = "timed out" if isinstance(error, httpx.TimeoutException) else "is unreachable"
        return TrackingUnavailable(f"The tracking server at {self.url} {kind} "
                                   f"({type(error).__name__}).")

    def _check(self, response: httpx.Response, path: str) -> None:
        status = response.status_code
        if status == 200:
            return
        if status == 404:
            raise TrackingNotFound(_message(response) or f"{path}: not found")
        if status in (401, 403):
            raise TrackingUnavailable(
                f"The tracking server at {self.url} refused access (HTTP {status}); "
                f"check the tracking token.")
        raise TrackingUnavailable(f"The tracking server at {self.url} answered HTTP {status} "
                                  f"to {path}.")

    async def aclose(self) -> None:
        await self._http.aclose()


def _message(response: httpx.Response) -> str:
    """MLflow's own error message (`{"error_code": …, "message": …}`), when there is one."""
    try:
        body = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""
