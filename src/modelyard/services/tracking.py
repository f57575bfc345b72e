"""Run details and model files, read from the MLflow tracking server the versions come from.

Modelyard is a registry only: a workspace version's `run_id` and `source` (`runs:/…`,
`models:/m-…`, `mlflow-artifacts:/…`, or a path under the run's artifact root) point into a
tracking server it does not run. With `--tracking-uri` the web pages ask that server for a run's
params and metrics and for the model's MLmodel and file list; nothing else calls this, so the API
surfaces never wait for it. Answers are cached briefly; a failure is cached for less time, so that
a tracking server that is down costs one timeout every few seconds, not one per page view. Every
lookup answers with a value or a sentence saying why there is none: never an exception.
"""

from __future__ import annotations

import asyncio
import posixpath
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from modelyard.config import Settings

if TYPE_CHECKING:  # imported when a tracking server is configured: httpx costs ~5 MiB RSS
    from modelyard.services.tracking_client import TrackingClient

NOT_CONFIGURED = ("No tracking server is configured (start Modelyard with --tracking-uri), so "
                  "the run's params and metrics, the model's signature and its files cannot be "
                  "shown.")
#: Seconds an answer is reused; a failure is retried sooner.
CACHE_SECONDS = 30.0
FAILURE_CACHE_SECONDS = 5.0
CACHE_ENTRIES = 512
#: Bounds on walking a model's folders: a model is a handful of files.
MAX_FILES = 500
MAX_LISTINGS = 25
MAX_MLMODEL_BYTES = 1 << 20


class TrackingUnavailable(Exception):
    """The tracking server could not answer what was asked; `str()` says why, for the page."""


class TrackingNotFound(TrackingUnavailable):
    """The tracking server answered, but has no such run, logged model or artifact."""


@dataclass(frozen=True)
class RunDetails:
    run_id: str
    name: str
    status: str
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    #: The latest value of each metric, as runs/get reports them.
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunLookup:
    run: RunDetails | None = None
    reason: str = ""


@dataclass(frozen=True)
class ArtifactFile:
    path: str
    size: int


@dataclass(frozen=True)
class ModelFiles:
    files: tuple[ArtifactFile, ...] = ()
    #: The MLmodel file's bytes (at most MAX_MLMODEL_BYTES + 1), None when there is none.
    mlmodel: bytes | None = None
    reason: str = ""
    #: More files than MAX_FILES, or more folders than MAX_LISTINGS: the list is cut short.
    truncated: bool = False

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class _Location:
    """Where the tracking server serves a model's files from, and the calls that read them."""

    kind: str  # "run", "logged_model" or "proxy"
    key: str  # the run id, the logged model id, or the proxied path
    base: str = ""

    def listing(self, relative: str) -> tuple[str, dict[str, str]]:
        path = posixpath.join(self.base, relative).strip("/")
        if self.kind == "run":
            return "/api/2.0/mlflow/artifacts/list", {"run_id": self.key, **_only(path=path)}
        if self.kind == "logged_model":
            return (f"/api/2.0/mlflow/logged-models/{quote(self.key, safe='')}/artifacts/"
                    f"directories", _only(artifact_directory_path=path))
        return "/api/2.0/mlflow-artifacts/artifacts", {"path": posixpath.join(self.key, path)}

    def reading(self, relative: str) -> tuple[str, dict[str, str]]:
        path = posixpath.join(self.base, relative).strip("/")
        if self.kind == "run":
            return "/get-artifact", {"run_id": self.key, "path": path}
        if self.kind == "logged_model":
            return (f"/ajax-api/2.0/mlflow/logged-models/{quote(self.key, safe='')}/artifacts/"
                    f"files", {"artifact_file_path": path})
        return ("/api/2.0/mlflow-artifacts/artifacts/"
                + quoted_path(posixpath.join(self.key, path)), {})


def quoted_path(path: str) -> str:
    """A relative artifact path for a URL path: each part escaped, slashes kept."""
    return "/".join(quote(part, safe="") for part in path.split("/") if part)


def _only(**values: str) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


T = TypeVar("T")


class _TtlCache:
    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries = entries
        self._values: OrderedDict[tuple[str, ...], tuple[float, Any]] = OrderedDict()

    async def get(self, key: tuple[str, ...], compute: Callable[[], Awaitable[T]],
                  ok: Callable[[T], bool]) -> T:
        now = time.monotonic()
        cached = self._values.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        value = await compute()
        ttl = CACHE_SECONDS if ok(value) else FAILURE_CACHE_SECONDS
        self._values[key] = (time.monotonic() + ttl, value)
        self._values.move_to_end(key)
        while len(self._values) > self._entries:
            self._values.popitem(last=False)
        return value


class TrackingService:
    """Read-only lookups in one tracking server; without one, every lookup says so."""

    def __init__(self, client: TrackingClient | None) -> None:
        self._client = client
        self._cache = _TtlCache()

    @classmethod
    def from_settings(cls, settings: Settings) -> TrackingService:
        if not settings.tracking_uri:
            return cls(None)
        from modelyard.services.tracking_client import TrackingClient

        return cls(TrackingClient(settings.tracking_uri, settings.tracking_token))

    @property
    def url(self) -> str:
        return self._client.url if self._client else ""

    @property
    def configured(self) -> bool:
        return self._client is not None

    def run_url(self, run_id: str | None) -> str:
        """The run's page in the tracking server's own UI ("" without one): MLflow's UI finds
        the experiment from `#/runs/<id>` itself, so no lookup is needed."""
        if self._client is None or not run_id:
            return ""
        return f"{self._client.url.rstrip('/')}/#/runs/{quote(run_id, safe='')}"

    async def runs(self, versions: Iterable[tuple[str | None, str | None, str | None]]
                   ) -> list[RunLookup]:
        """`run()` for each (run id, logged model id, source), at the same time."""
        return list(await asyncio.gather(*(self.run(*version) for version in versions)))

    async def run(self, run_id: str | None, model_id: str | None = None,
                  source: str | None = None) -> RunLookup:
        """The run, found by its id or else through the logged model's source run.

        A version registered from `models:/m-…` often carries no run id (the mlflow client
        sends none), and through `uc:` not even the model id: the source still names it.
        """
        model_id = model_id or logged_model_of(source)
        if not run_id and not model_id:
            return RunLookup(reason="The version records no run id.")
        if self._client is None:
            return RunLookup(reason=NOT_CONFIGURED)
        if not run_id:
            run_id, reason = await self._source_run(model_id)
            if not run_id:
                return RunLookup(reason=reason)
        return await self._cache.get(("run", run_id), lambda: self._fetch_run(run_id),
                                     lambda found: found.run is not None)

    async def _source_run(self, model_id: str) -> tuple[str, str]:
        """The id of the run that logged the model, or "" and why it is not known."""
        return await self._cache.get(("model", model_id), lambda: self._fetch_source_run(model_id),
                                     lambda found: bool(found[0]))

    async def _fetch_source_run(self, model_id: str) -> tuple[str, str]:
        assert self._client is not None
        try:
            body = await self._client.get_json(
                f"/api/2.0/mlflow/logged-models/{quote(model_id, safe='')}")
        except TrackingNotFound:
            return "", (f"Logged model {model_id} is not in the tracking server at "
                        f"{self._client.url}.")
        except TrackingUnavailable as error:
            return "", str(error)
        info = (body.get("model") or {}).get("info") or {}
        run_id = str(info.get("source_run_id") or "")
        return run_id, "" if run_id else f"Logged model {model_id} names no source run."

    async def model_files(self, source: str | None, run_id: str | None) -> ModelFiles:
        if not source:
            return ModelFiles(reason="The version records no source.")
        if self._client is None:
            return ModelFiles(reason=NOT_CONFIGURED)
        return await self._cache.get(("files", source, run_id or ""),
                                     lambda: self._fetch_files(source, run_id),
                                     lambda found: not found.reason)

    async def _fetch_run(self, run_id: str) -> RunLookup:
        assert self._client is not None
        try:
            body = await self._client.get_json("/api/2.0/mlflow/runs/get", {"run_id": run_id})
        except TrackingNotFound:
            return RunLookup(reason=f"Run {run_id} is not in the tracking server at "
                                    f"{self._client.url}.")
        except TrackingUnavailable as error:
            return RunLookup(reason=str(error))
        return RunLookup(run=_run_details(run_id, body))

    async def _fetch_files(self, source: str, run_id: str | None) -> ModelFiles:
        assert self._client is not None
        location = await self._locate(source, run_id)
        if isinstance(location, str):
            return ModelFiles(reason=location)
        try:
            files, truncated = await self._walk(location)
            mlmodel = None
            if any(f.path == "MLmodel" for f in files):
                path, params = location.reading("MLmodel")
                mlmodel = await self._client.get_bytes(path, params, MAX_MLMODEL_BYTES)
        except TrackingNotFound:
            return ModelFiles(reason=f"The tracking server at {self._client.url} has no files "
                                     f"at {source}.")
        except TrackingUnavailable as error:
            return ModelFiles(reason=str(error))
        if not files:
            return ModelFiles(reason=f"The tracking server at {self._client.url} lists no files "
                                     f"at {source}.")
        return ModelFiles(files=tuple(files), mlmodel=mlmodel, truncated=truncated)

    async def _locate(self, source: str, run_id: str | None) -> _Location | str:
        """Where the files of `source` are served, or why they cannot be read."""
        assert self._client is not None
        parts = urlsplit(source)
        path = parts.path.strip("/")
        if ".." in path.split("/"):
            # Each path becomes a URL on the tracking server: never one outside the model.
            return f"The source {source} climbs out of its folder ('..'); it is not read."
        if parts.scheme == "runs" and path:
            found_run, _, base = path.partition("/")
            return _Location("run", found_run, base)
        if logged_model_of(source):
            model_id, _, base = path.partition("/")
            return _Location("logged_model", model_id, base)
        if parts.scheme == "models":
            return (f"The source {source} names a registered model version, not the files of "
                    f"a run or logged model.")
        if parts.scheme == "mlflow-artifacts":
            ours = urlsplit(self._client.url).netloc
            if parts.netloc and parts.netloc != ours:
                return (f"The source {source} is served by another tracking server than "
                        f"{self._client.url}.")
            return _Location("proxy", path)
        if run_id:
            # A path or bucket URI: readable through the run when it lies under its artifacts.
            lookup = await self.run(run_id)
            if lookup.run is None:
                return lookup.reason
            root = lookup.run.artifact_uri.rstrip("/")
            if root and (source == root or source.startswith(root + "/")):
                return _Location("run", run_id, source[len(root):].strip("/"))
        return (f"The source {source} is not one the tracking server serves "
                f"(runs:/…, models:/m-…, mlflow-artifacts:/…, or a path under the run's "
                f"artifacts).")

    async def _walk(self, location: _Location) -> tuple[list[ArtifactFile], bool]:
        """Every file under the location, breadth first, with paths relative to it."""
        assert self._client is not None
        files: list[ArtifactFile] = []
        folders, listings = [""], 0
        while folders:
            if listings >= MAX_LISTINGS or len(files) >= MAX_FILES:
                return files, True
            folder = folders.pop(0)
            path, params = location.listing(folder)
            body = await self._client.get_json(path, params)
            listings += 1
            for entry in body.get("files") or []:
                if not isinstance(entry, dict) or not entry.get("path"):
                    continue
                # Run listings name paths from the run's root, the others from the folder.
                name = posixpath.join(folder, posixpath.basename(str(entry["path"])))
                if entry.get("is_dir"):
                    folders.append(name)
                else:
                    files.append(ArtifactFile(name, _int(entry.get("file_size"))))
        files.sort(key=lambda f: f.path)
        return files[:MAX_FILES], len(files) > MAX_FILES

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def logged_model_of(source: str | None) -> str:
    """The logged model id in a `models:/m-…` source, else ""."""
    parts = urlsplit(source or "")
    path = parts.path.strip("/")
    if parts.scheme == "models" and not parts.netloc and path.startswith("m-"):
        return path.partition("/")[0]
    return ""


def _run_details(run_id: str, body: dict[str, Any]) -> RunDetails:
    run = body.get("run") or {}
    info, data = run.get("info") or {}, run.get("data") or {}
    params = {str(p.get("key")): str(p.get("value", "")) for p in data.get("params") or []}
    metrics = {}
    for metric in data.get("metrics") or []:
        try:
            metrics[str(metric.get("key"))] = float(metric.get("value"))
        except (TypeError, ValueError):
            continue
    return RunDetails(run_id=run_id, name=str(info.get("run_name") or ""),
                      status=str(info.get("status") or ""),
                      artifact_uri=str(info.get("artifact_uri") or ""),
                      params=dict(sorted(params.items())), metrics=dict(sorted(metrics.items())))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
