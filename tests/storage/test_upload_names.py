"""A file name the storage cannot hold is refused when the upload URL is asked for (400 in the
Databricks dialect), not by the PUT; on both backends and both engines."""

from __future__ import annotations

import httpx

from tests.storage.conftest import Backend
from tests.support import http_clients
from tests.support.uc_models import create_pending_version, fs_prefix


def _ask(http: httpx.Client, prefix: str, relative: str) -> httpx.Response:
    return http.post("/api/2.0/fs/create-upload-url", json={"path": f"{prefix}/{relative}"})


def test_bad_names_are_refused_before_a_url_is_issued(
        backend: Backend, storage_http: httpx.Client, uc_model_name: str) -> None:
    version = create_pending_version(storage_http, uc_model_name)
    prefix = fs_prefix(uc_model_name, version)
    refused = {
        "a NUL": "data/we\x00ights.bin",
        "a line break": "data/a\nb",
        "a name of 256 bytes": "data/" + "n" * 256,
        "a name of 256 bytes in UTF-8": "é" * 128,
        "a path over 4,096 bytes": "/".join(["d" * 200] * 21),
        "the staging prefix": ".modelyard-upload-x" if backend.s3 is None else "ok/../x",
    }
    if backend.s3 is not None:  # S3 keys hold 1,024 bytes with the location in front
        refused["a key over 1,024 bytes"] = "/".join(["k" * 250] * 4)
    for reason, relative in refused.items():
        answer = _ask(storage_http, prefix, relative)
        assert answer.status_code == 400, (reason, answer.text)
        error = answer.json()
        assert error["error_code"] == "INVALID_PARAMETER_VALUE", (reason, error)
        # A NUL is refused where every JSON body is read, before the name rules.
        expected = "Parameter 'path' contains a NUL" if "\x00" in relative else "Invalid"
        assert error["message"].startswith(expected), (reason, error)
        assert "/" + "__unitystorage" not in error["message"]  # no server path in it

    # The longest names a backend holds are accepted, and the PUT stores them.
    longest = "n" * 255 + "/" + "é" * 127
    answer = _ask(storage_http, prefix, longest)
    assert answer.status_code == 200, answer.text
    put = http_clients.put(answer.json()["url"], content=b"payload", timeout=30)
    assert put.status_code == 200, put.text
    listing = storage_http.get(f"/api/2.0/fs/directories{prefix}/{'n' * 255}")
    assert listing.status_code == 200, listing.text
    assert [e["name"] for e in listing.json()["contents"]] == ["é" * 127]
