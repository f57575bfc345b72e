"""A small HTTP client for the CLI: Unity Catalog REST 2.1 and Modelyard's file API.

Standard library only, so the CLI needs nothing the server does not already install.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import urllib.request

UC = "/api/2.1/unity-catalog"
FILES = "/api/modelyard/v1/uc/models/{name}/versions/{version}/files"
SCAN = "/api/modelyard/v1/models/{name}/versions/{version}/scan"
SIGNING = "/api/modelyard/v1/models/{name}/versions/{version}/signing"
CHUNK = 1024 * 1024


class ClientError(Exception):
    """The server refused a request; `code` is UC's error_code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.status = status
        self.code = code


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, query: dict[str, Any] | None = None,
                 body: dict[str, Any] | None = None) -> urllib.request.Request:
        import urllib.request  # here: it imports http.client, which `--help` does not need

        url = self.url + urllib.parse.quote(path, safe="/@:")
        if query:
            url += "?" + urllib.parse.urlencode(
                {k: str(v).lower() if isinstance(v, bool) else v
                 for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        return request

    def _open(self, request: urllib.request.Request) -> Any:
        import urllib.error
        import urllib.request

        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                payload = json.loads(raw)
                code = payload.get("error_code", "")
                message = payload.get("message", raw.decode(errors="replace"))
            except (ValueError, AttributeError):
                code, message = "", raw.decode(errors="replace")
            if error.code == 401:
                message = f"{message.rstrip('.')}. {self._token_hint()}"
            raise ClientError(error.code, code, message) from None
        except urllib.error.URLError as error:
            raise ClientError(0, "UNREACHABLE",
                              f"cannot reach {self.url}: {error.reason}") from None

    def _token_hint(self) -> str:
        if self.token:
            return ("The token given (--token or MODELYARD_TOKEN) was refused: it may be "
                    "mistyped, expired or revoked; create a new one with "
                    "`modelyard tokens create`.")
        return ("This server requires a token: pass it with --token TOKEN or the "
                "MODELYARD_TOKEN variable. The server's first start with --auth wrote the "
                "admin's token to <data-dir>/admin-token, e.g. "
                "MODELYARD_TOKEN=$(cat modelyard-data/admin-token).")

    def call(self, method: str, path: str, query: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._open(self._request(method, path, query, body)) as response:
            raw = response.read()
        result: dict[str, Any] = json.loads(raw) if raw.strip() else {}
        return result

    def uc(self, method: str, path: str, query: dict[str, Any] | None = None,
           body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(method, UC + path, query, body)

    def paged(self, path: str, key: str, query: dict[str, Any] | None = None
              ) -> Iterator[dict[str, Any]]:
        query = dict(query or {})
        while True:
            page = self.uc("GET", path, query)
            yield from page.get(key, [])
            if not page.get("next_page_token"):
                return
            query["page_token"] = page["next_page_token"]

    def files(self, name: str, version: int) -> dict[str, Any]:
        return self.call("GET", FILES.format(name=name, version=version))

    def scan(self, name: str, version: int, again: bool = False) -> dict[str, Any]:
        """The version's model scan: the stored result, or (`again`) a new scan."""
        return self.call("POST" if again else "GET", SCAN.format(name=name, version=version))

    def signing(self, name: str, version: int, verify: bool = False) -> dict[str, Any]:
        """The verdict on the version's model.sig: the stored one, or (`verify`) a new one."""
        return self.call("POST" if verify else "GET",
                         SIGNING.format(name=name, version=version))

    def download(self, name: str, version: int, path: str) -> Iterator[bytes]:
        request = self._request("GET", FILES.format(name=name, version=version) + "/" + path)
        with self._open(request) as response:
            while chunk := response.read(CHUNK):
                yield chunk
