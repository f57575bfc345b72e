"""storage/roots.py: which storage roots the operator's prefixes allow (no server needed: the
check is pure but for resolving local paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.domain.errors import FailedPrecondition, InvalidArgument
from modelyard.storage.roots import AllowedRoots, StorageRootNotAllowed


def test_local_prefixes(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    (allowed / "sub").mkdir(parents=True)
    (allowed / "out").symlink_to(tmp_path)
    roots = AllowedRoots.parse(str(tmp_path / "managed"), f" {allowed} ,s3://b/p")
    assert roots.normalize(str(allowed)) == allowed.as_uri()
    assert roots.normalize(f"{allowed}/sub/") == (allowed / "sub").as_uri()
    assert roots.normalize((allowed / "new" / "x").as_uri()) == (allowed / "new/x").as_uri()
    assert roots.normalize(None) is None and roots.normalize("") is None
    for refused in (str(tmp_path), f"{allowed}-2", f"{allowed}/../x", f"{allowed}/out/x",
                    f"{allowed}/__unitystorage", "rel", "s3://b/p/x", f"{allowed}/a\x00b",
                    "file://host/x", "ftp://x/y", str(tmp_path / "managed" / "x")):
        with pytest.raises(StorageRootNotAllowed):
            roots.normalize(refused)
    assert not (allowed / "new").exists()  # normalizing creates nothing
    roots.check_location((tmp_path / "managed" / "__unitystorage" / "m").as_uri())
    roots.check_location((allowed / "x" / "__unitystorage" / "m").as_uri())
    with pytest.raises(FailedPrecondition):
        roots.check_location((tmp_path / "elsewhere").as_uri())


def test_s3_prefixes() -> None:
    roots = AllowedRoots.parse("s3://bucket/managed", "s3://bucket/teams,s3://whole")
    assert roots.normalize("s3://bucket/teams/a/") == "s3://bucket/teams/a"
    assert roots.normalize("s3://whole/any/prefix") == "s3://whole/any/prefix"
    for refused in ("s3://bucket/teamsX/a", "s3://bucket/teams/../x", "s3://bucket/teams//x",
                    "s3://bucket/managed/x", "s3://other/teams", "/tmp/x"):
        with pytest.raises(StorageRootNotAllowed):
            roots.normalize(refused)
    with pytest.raises(InvalidArgument, match="needs a bucket and a key prefix"):
        roots.normalize("s3://whole")  # allowed bucket, but a root needs a prefix
    roots.check_location("s3://bucket/managed/__unitystorage/models/1")
    with pytest.raises(FailedPrecondition):
        roots.check_location("s3://bucket/other/__unitystorage/models/1")


def test_a_bad_prefix_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="Invalid allowed storage root 'relative'"):
        AllowedRoots.parse("/data", "/ok,relative")
