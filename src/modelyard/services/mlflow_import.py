"""`modelyard import-mlflow`: copy an MLflow server's registry into a Modelyard server.

Both ends are spoken to over HTTP, as any client would: the MLflow server's registry REST API
(any 2.x or 3.x) and its artifact proxy; Modelyard's MLflow dialect, its `databricks-uc`
dialect and Files API for `--into-catalog`, and its import endpoint (services/version_import.py)
to create each version under its source number. Modelyard's permissions and audit trail apply to
every change; the import endpoint needs a metastore admin.

The rules that make it safe to run again and again:

- What the target already has is never changed: a model, a tag, a version or an alias that is
  there stays as it is (a different value is reported as skipped, with both values). What is
  missing is added. A second run over an unchanged source therefore adds nothing.
- A version is one request (number, source, run id, tags, description, stage together): an
  interruption leaves it wholly there or wholly absent. A Unity Catalog version goes through
  PENDING_REGISTRATION while its files are copied; an interrupted one is found pending by the
  next run, which copies its files again and finalizes it.
- Whatever cannot be imported is listed with the reason (a name Unity Catalog refuses, a number
  the target already used differently, a model without a signature, files the importer cannot
  reach): nothing is dropped silently.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlparse

import httpx

from modelyard.domain.filters import PROMPT_TAG
from modelyard.domain.mlmodel import signature_problem

MLFLOW = "/api/2.0/mlflow"
UC_MLFLOW = "/api/2.0/mlflow/unity-catalog"
IMPORT = "/api/modelyard/v1/import/model-versions"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
CHUNK = 1024 * 1024
_PROMPT_FILTER = f"tags.`{PROMPT_TAG}` = 'true'"

IMPORTED, UNCHANGED, SKIPPED, REFUSED = "imported", "unchanged", "skipped", "refused"


class RemoteError(Exception):
    """A server answered with an error (or could not be reached: status 0)."""

    def __init__(self, server: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{server}: {code or f'HTTP {status}'}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Rest:
    """JSON over HTTP to one server; errors in MLflow's envelope become RemoteError. The token
    is sent as a bearer token and never shown."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def call(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, params=params, json=body)
        except httpx.HTTPError as error:
            raise RemoteError(self.url, 0, "UNREACHABLE",
                              f"cannot reach the server ({type(error).__name__})") from None
        if response.status_code >= 400:
            raise self._error(response)
        try:
            result: dict[str, Any] = response.json() if response.content.strip() else {}
        except ValueError:
            raise RemoteError(self.url, response.status_code, "NOT_JSON",
                              f"{path} answered with something other than JSON; is this "
                              "the right address?") from None
        return result

    def _error(self, response: httpx.Response) -> RemoteError:
        try:
            payload = response.json()
            return RemoteError(self.url, response.status_code, payload.get("error_code", ""),
                               payload.get("message", ""))
        except (ValueError, AttributeError):
            return RemoteError(self.url, response.status_code, "", response.text[:200])

    def stream(self, path: str) -> Iterator[bytes]:
        try:
            with self.http.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._error(response)
                yield from response.iter_bytes(CHUNK)
        except httpx.HTTPError as error:
            raise RemoteError(self.url, 0, "UNREACHABLE",
                              f"download of {path} failed ({type(error).__name__})") from None

    def close(self) -> None:
        self.http.close()


@dataclass(frozen=True)
class Entry:
    kind: str  # model | version | alias | tag | stage
    name: str  # e.g. "fraud", "fraud/3", "fraud@champion", "fraud#team"
    outcome: str  # imported | unchanged | skipped | refused
    reason: str = ""


@dataclass
class ImportReport:
    entries: list[Entry] = field(default_factory=list)
    bytes_copied: int = 0

    def add(self, kind: str, name: str, outcome: str, reason: str = "") -> None:
        self.entries.append(Entry(kind, name, outcome, reason))

    def count(self, kind: str, outcome: str) -> int:
        return sum(1 for e in self.entries if e.kind == kind and e.outcome == outcome)

    def listed(self) -> list[Entry]:
        """The entries a person must read: everything skipped or refused."""
        return [e for e in self.entries if e.outcome in (SKIPPED, REFUSED)]


class Progress(Protocol):
    def models(self, total: int) -> None: ...

    def model_done(self, name: str) -> None: ...

    def copied(self, size: int) -> None: ...


class NoProgress:
    def models(self, total: int) -> None:
        pass

    def model_done(self, name: str) -> None:
        pass

    def copied(self, size: int) -> None:
        pass


@dataclass(frozen=True)
class ImportOptions:
    models: str = "*"  # a glob over the source's model names
    into_catalog: str | None = None  # CATALOG.SCHEMA: promote versions into Unity Catalog


def _tags(entity: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in entity.get("tags") or []}


def _aliases(model: dict[str, Any]) -> dict[str, int]:
    return {a["alias"]: int(a["version"]) for a in model.get("aliases") or []}


def _name_filter(name: str, prompt: bool) -> str:
    if "'" in name and '"' in name:
        raise ValueError("the name holds both kinds of quote, which a search filter cannot hold")
    quoted = f'"{name}"' if "'" in name else f"'{name}'"
    return f"name = {quoted}" + (f" AND {_PROMPT_FILTER}" if prompt else "")


def _is_prompt(model: dict[str, Any]) -> bool:
    return _tags(model).get(PROMPT_TAG, "").lower() == "true"


class MlflowImport:
    def __init__(self, source: Rest, target: Rest, options: ImportOptions | None = None,
                 progress: Progress | None = None) -> None:
        self.source = source
        self.target = target
        self.options = options or ImportOptions()
        self.progress = progress or NoProgress()
        self.report = ImportReport()
        if self.options.into_catalog is not None:
            parts = self.options.into_catalog.split(".")
            if len(parts) != 2 or not all(parts):
                raise ValueError(f"--into-catalog takes CATALOG.SCHEMA, not "
                                 f"'{self.options.into_catalog}'")

    # ---- the source ------------------------------------------------------------------------

    def _paged(self, server: Rest, path: str, key: str,
               params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        params = dict(params)
        while True:
            page = server.call("GET", path, params)
            yield from page.get(key) or []
            if not page.get("next_page_token"):
                return
            params["page_token"] = page["next_page_token"]

    def source_models(self) -> list[dict[str, Any]]:
        """Every registered model and prompt of the source whose name matches the glob. (MLflow
        3 leaves prompts out of a search unless the filter asks for them.)"""
        found: dict[str, dict[str, Any]] = {}
        path = f"{MLFLOW}/registered-models/search"
        for params in ({"max_results": 1000}, {"max_results": 1000, "filter": _PROMPT_FILTER}):
            for model in self._paged(self.source, path, "registered_models", params):
                found.setdefault(model["name"], model)
        return [m for name, m in sorted(found.items())
                if fnmatch.fnmatchcase(name, self.options.models)]

    def versions(self, server: Rest, prefix: str, name: str,
                  prompt: bool) -> dict[int, dict[str, Any]]:
        found = self._paged(server, f"{prefix}/model-versions/search", "model_versions",
                            {"filter": _name_filter(name, prompt), "max_results": 1000})
        return {int(v["version"]): v for v in found}

    # ---- the run ---------------------------------------------------------------------------

    def run(self) -> ImportReport:
        if self.options.into_catalog:
            # Refused once here rather than once per model below.
            schema = self.options.into_catalog
            try:
                self.target.call("GET", f"/api/2.1/unity-catalog/schemas/{schema}")
            except RemoteError as error:
                if error.status != 404:
                    raise
                raise ValueError(f"--into-catalog {schema}: {error.message} Create it first: "
                                 f"modelyard schemas create {schema}") from None
        models = self.source_models()
        self.progress.models(len(models))
        for model in models:
            self._import_model(model)
            self.progress.model_done(model["name"])
        return self.report

    def _import_model(self, model: dict[str, Any]) -> None:
        name = model["name"]
        prompt = _is_prompt(model)
        try:
            versions = self.versions(self.source, MLFLOW, name, prompt)
        except ValueError as error:
            self.report.add("model", name, REFUSED, str(error))
            return
        if self.options.into_catalog and not prompt:
            catalog, schema = self.options.into_catalog.split(".")
            _UcTarget(self, f"{catalog}.{schema}.{name.lower()}").run(model, versions)
        else:
            _WorkspaceTarget(self, name).run(model, versions)


class _Target:
    """One model's import into one registry of the target; the subclasses differ in where
    versions go and how."""

    prefix = MLFLOW

    def _refused_unless(self, label: str, path: str, body: dict[str, Any]) -> bool:
        """POST `body` to the target; True when it refused this version (a 4xx, reported as
        refused). What stops the whole run (no answer, credentials, the server failing) is
        raised."""
        try:
            self.target.call("POST", path, body=body)
        except RemoteError as error:
            if error.status in (0, 401, 403) or error.status >= 500:
                raise
            self.report.add("version", label, REFUSED, error.message)
            return True
        return False

    def __init__(self, job: MlflowImport, name: str) -> None:
        self.job = job
        self.target = job.target
        self.report = job.report
        self.name = name

    def run(self, model: dict[str, Any], versions: dict[int, dict[str, Any]]) -> None:
        existing = self._model(model)
        if existing is None:
            return
        prompt = _is_prompt(model)
        present = self.job.versions(self.target, self.prefix, self.name, prompt)
        for number in sorted(versions):
            self._version(versions[number], present.get(number))
        self._aliases(_aliases(model), _aliases(existing), present)

    def _model(self, model: dict[str, Any]) -> dict[str, Any] | None:
        """The target's model, created with the source's description and tags if missing; its
        missing tags added. None: the model cannot be imported (reported)."""
        try:
            found = self.target.call("GET", f"{self.prefix}/registered-models/get",
                                     {"name": self.name})["registered_model"]
        except RemoteError as error:
            if error.code not in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                raise
        else:
            self.report.add("model", self.name, UNCHANGED)
            self._missing_tags(_tags(model), _tags(found))
            return dict(found)
        body = {"name": self.name, "description": model.get("description") or "",
                "tags": [{"key": k, "value": v} for k, v in _tags(model).items()]}
        try:
            created = self.target.call("POST", f"{self.prefix}/registered-models/create",
                                       body=body)["registered_model"]
        except RemoteError as error:
            if error.status in (0, 401) or error.status >= 500:
                raise
            self.report.add("model", model["name"], REFUSED, error.message)
            return None
        self.report.add("model", self.name, IMPORTED)
        for key in _tags(model):
            self.report.add("tag", f"{self.name}#{key}", IMPORTED)
        return dict(created)

    def _missing_tags(self, wanted: dict[str, str], present: dict[str, str]) -> None:
        for key, value in wanted.items():
            label = f"{self.name}#{key}"
            if key not in present:
                self.target.call("POST", f"{self.prefix}/registered-models/set-tag",
                                 body={"name": self.name, "key": key, "value": value})
                self.report.add("tag", label, IMPORTED)
            elif present[key] == value:
                self.report.add("tag", label, UNCHANGED)
            else:
                self.report.add("tag", label, SKIPPED,
                                f"the target has {present[key]!r}, the source {value!r}; "
                                "left as the target has it")

    def _version(self, version: dict[str, Any], present: dict[str, Any] | None) -> None:
        raise NotImplementedError

    def _compare(self, label: str, version: dict[str, Any], present: dict[str, Any]) -> bool:
        """True when the target's version is this one (same source and run); else reported."""
        if (present.get("source"), present.get("run_id") or "") == (
                version.get("source"), version.get("run_id") or ""):
            return True
        self.report.add("version", label, REFUSED,
                        f"the target's version {present['version']} is another one (source "
                        f"{present.get('source')!r}, not {version.get('source')!r}); a number "
                        "is never reused, so this version cannot be imported under it")
        return False

    def _aliases(self, wanted: dict[str, int], present: dict[str, int],
                 versions: dict[int, dict[str, Any]]) -> None:
        # Versions imported by this run are there now; read them once more only if needed.
        for alias, number in sorted(wanted.items()):
            label = f"{self.name}@{alias}"
            if alias in present:
                if present[alias] == number:
                    self.report.add("alias", label, UNCHANGED)
                else:
                    self.report.add("alias", label, SKIPPED,
                                    f"points to version {present[alias]} in the target, to "
                                    f"{number} in the source; left as the target has it")
                continue
            try:
                self.target.call("POST", f"{self.prefix}/registered-models/alias",
                                 body={"name": self.name, "alias": alias,
                                       "version": str(number)})
            except RemoteError as error:
                if error.status in (0, 401) or error.status >= 500:
                    raise
                self.report.add("alias", label, REFUSED,
                                f"version {number} is not in the target ({error.message})")
                continue
            self.report.add("alias", label, IMPORTED)


class _WorkspaceTarget(_Target):
    """Into the workspace registry: each version keeps its source (no files are copied)."""

    def _version(self, version: dict[str, Any], present: dict[str, Any] | None) -> None:
        label = f"{self.name}/{version['version']}"
        if version.get("status", "READY") != "READY":
            self.report.add("version", label, REFUSED,
                            f"it is {version.get('status')} in the source")
            return
        if present is not None:
            if self._compare(label, version, present):
                self.report.add("version", label, UNCHANGED)
            return
        body = {"registry": "workspace", "name": self.name, "version": str(version["version"]),
                "source": version.get("source") or "", "run_id": version.get("run_id") or "",
                "run_link": version.get("run_link") or "",
                "description": version.get("description") or "",
                "current_stage": version.get("current_stage") or "None",
                "tags": version.get("tags") or [], "model_id": version.get("model_id") or "",
                "user_id": version.get("user_id") or "",
                "creation_timestamp": version.get("creation_timestamp"),
                "last_updated_timestamp": version.get("last_updated_timestamp")}
        if self._refused_unless(label, IMPORT, body):
            return
        self.report.add("version", label, IMPORTED)


class _UcTarget(_Target):
    """Into Unity Catalog: each version's files are copied from the MLflow server into
    governed storage through Modelyard's upload URLs, then finalized (digests, signature)."""

    prefix = UC_MLFLOW

    def _version(self, version: dict[str, Any], present: dict[str, Any] | None) -> None:
        number = int(version["version"])
        label = f"{self.name}/{number}"
        if version.get("status", "READY") != "READY":
            self.report.add("version", label, REFUSED,
                            f"it is {version.get('status')} in the source")
            return
        if present is not None:
            if not self._compare(label, version, present):
                return
            if present.get("status") == "READY":
                self.report.add("version", label, UNCHANGED)
                return
            if present.get("status") != "PENDING_REGISTRATION":
                self.report.add("version", label, REFUSED,
                                f"it is {present.get('status')} in the target: "
                                f"{present.get('status_message') or 'no message'}")
                return
        try:
            files = _SourceFiles.of(self.job.source, self.name, version)
        except _Unreachable as error:
            self.report.add("version", label, REFUSED, str(error))
            return
        problem = signature_problem(files.read("MLmodel") if files.has("MLmodel") else None)
        if problem is not None:
            self.report.add("version", label, REFUSED, problem)
            return
        if present is None:
            body = {"registry": "uc", "name": self.name, "version": str(number),
                    "source": version.get("source") or "", "run_id": version.get("run_id") or "",
                    "description": version.get("description") or "",
                    "tags": version.get("tags") or [], "model_id": version.get("model_id") or ""}
            if self._refused_unless(label, IMPORT, body):
                return
        self._upload(number, files)
        if self._refused_unless(label, f"{UC_MLFLOW}/model-versions/finalize",
                                {"name": self.name, "version": str(number)}):
            return
        self.report.add("version", label, IMPORTED)
        stage = version.get("current_stage") or "None"
        if stage != "None":
            self.report.add("stage", label, SKIPPED,
                            f"stage {stage} not carried: Unity Catalog has no stages "
                            "(use an alias)")

    def _upload(self, number: int, files: _SourceFiles) -> None:
        base = "/Models/" + "/".join(self.name.split(".")) + f"/{number}/"
        for path in files.paths:
            signed = self.target.call("POST", "/api/2.0/fs/create-upload-url",
                                      body={"path": base + path})
            try:
                response = self.target.http.put(signed["url"], content=self._counted(files, path))
            except httpx.HTTPError as error:
                raise RemoteError(self.target.url, 0, "UNREACHABLE",
                                  f"upload of {path} failed ({type(error).__name__})") from None
            if response.status_code >= 400:
                raise self.target._error(response)

    def _counted(self, files: _SourceFiles, path: str) -> Iterator[bytes]:
        for chunk in files.chunks(path):
            self.report.bytes_copied += len(chunk)
            self.job.progress.copied(len(chunk))
            yield chunk


class _Unreachable(Exception):
    """The version's files are where the importer cannot read them."""


@dataclass
class _SourceFiles:
    """A version's files at the source: behind the MLflow server's artifact proxy
    (`mlflow-artifacts:`), or on this machine (a path or `file://`)."""

    source: Rest
    root: str  # the proxy path, or a local directory
    local: bool
    paths: list[str]

    @classmethod
    def of(cls, source: Rest, name: str, version: dict[str, Any]) -> _SourceFiles:
        uri = source.call("GET", f"{MLFLOW}/model-versions/get-download-uri",
                          {"name": version.get("name", name),
                           "version": str(version["version"])})["artifact_uri"]
        parsed = urlparse(uri)
        if parsed.scheme == "mlflow-artifacts":
            root = unquote(parsed.path).strip("/")
            return cls(source, root, False, sorted(cls._listed(source, root, "")))
        if parsed.scheme in ("", "file") and Path(unquote(parsed.path)).is_dir():
            root = unquote(parsed.path)
            paths = [str(Path(d, f).relative_to(root)).replace(os.sep, "/")
                     for d, _, names in os.walk(root) for f in names]
            return cls(source, root, True, sorted(paths))
        raise _Unreachable(
            f"its files are at {uri}, which the MLflow server does not serve (start it with "
            "--serve-artifacts) and which is not a directory on this machine")

    @staticmethod
    def _listed(source: Rest, root: str, below: str) -> Iterator[str]:
        listing = source.call("GET", ARTIFACTS, {"path": f"{root}/{below}".rstrip("/")})
        for entry in listing.get("files") or []:
            relative = f"{below}/{entry['path']}".lstrip("/") if below else entry["path"]
            if entry.get("is_dir"):
                yield from _SourceFiles._listed(source, root, relative)
            else:
                yield relative

    def has(self, path: str) -> bool:
        return path in self.paths

    def read(self, path: str) -> bytes:
        return b"".join(self.chunks(path))

    def chunks(self, path: str) -> Iterator[bytes]:
        if self.local:
            with open(Path(self.root, path), "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
            return
        yield from self.source.stream(f"{ARTIFACTS}/{quote(self.root)}/{quote(path)}")
