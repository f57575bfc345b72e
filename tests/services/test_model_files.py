"""Signed file URLs: what makes one valid, without a server (the HTTP behaviour is covered in
tests/api/databricks_uc and tests/storage)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.domain.errors import InvalidArgument
from modelyard.services.model_files import (
    DOWNLOAD,
    UPLOAD,
    ModelFileService,
    UrlRejected,
    UrlSigner,
    parse_fs_path,
)

SIGNER = UrlSigner(b"k" * 32)
FILES = ModelFileService(uc_models=None, signer=SIGNER)  # type: ignore[arg-type]


def _query(operation: str, path: str, expires: int, signer: UrlSigner = SIGNER) -> dict[str, str]:
    fields = (operation, "main.default.m", "1", "vid-1", path, "alice", str(expires))
    return {"op": operation, "vid": "vid-1", "actor": "alice", "expires": str(expires),
            "signature": signer.sign(*fields)}


def test_a_valid_url_acts_as_the_actor_who_asked() -> None:
    actor = FILES._check(UPLOAD, "main.default.m", "1", "MLmodel",
                         _query(UPLOAD, "MLmodel", int(time.time()) + 60))
    assert actor.name == "alice"


def test_an_expired_url_is_refused() -> None:
    with pytest.raises(UrlRejected, match="expired"):
        FILES._check(UPLOAD, "main.default.m", "1", "MLmodel",
                     _query(UPLOAD, "MLmodel", int(time.time()) - 1))


def test_another_key_operation_or_file_is_refused() -> None:
    later = int(time.time()) + 60
    with pytest.raises(UrlRejected):
        FILES._check(UPLOAD, "main.default.m", "1", "MLmodel",
                     _query(UPLOAD, "MLmodel", later, UrlSigner(b"x" * 32)))
    with pytest.raises(UrlRejected):  # a download URL cannot upload
        FILES._check(UPLOAD, "main.default.m", "1", "MLmodel",
                     _query(DOWNLOAD, "MLmodel", later))
    with pytest.raises(UrlRejected):
        FILES._check(UPLOAD, "main.default.m", "1", "other.bin",
                     _query(UPLOAD, "MLmodel", later))
    with pytest.raises(UrlRejected):
        FILES._check(UPLOAD, "main.default.m", "2", "MLmodel",
                     _query(UPLOAD, "MLmodel", later))


def test_fs_paths() -> None:
    parsed = parse_fs_path("/Models/main/default/m/3/data/model.pkl")
    assert (parsed.full_name, parsed.version, parsed.path) == ("main.default.m", 3,
                                                              "data/model.pkl")
    assert parse_fs_path("/Models/main/default/m/3/").path == ""
    for bad in ("/Models/main/default/m", "/Volumes/a/b/c/1/x", "/Models/a/b/c/x/y",
                "/Models/a/b/c/1/../../etc"):
        with pytest.raises(InvalidArgument):
            parse_fs_path(bad)


@given(st.lists(st.text(max_size=12), min_size=2, max_size=4),
       st.lists(st.text(max_size=12), min_size=2, max_size=4))
def test_different_fields_never_share_a_signature(a: list[str], b: list[str]) -> None:
    # Also when the joined text is the same: ("a\nb", "c") vs ("a", "b\nc").
    if a != b:
        assert SIGNER.sign(*a) != SIGNER.sign(*b)
