"""store/snapshot.py's location moves: only what lies under the old root moves."""

from __future__ import annotations

from modelyard.store.snapshot import moved


def test_only_locations_under_the_old_root_move() -> None:
    old, new = "file:///srv/a/artifacts", "s3://bucket/restored"
    assert moved(f"{old}/__unitystorage/models/1", old, new) == \
        "s3://bucket/restored/__unitystorage/models/1"
    assert moved(old, old, new) == new
    assert moved("file:///srv/a/artifacts-other/x", old, new) == "file:///srv/a/artifacts-other/x"
    assert moved("s3://elsewhere/x", old, new) == "s3://elsewhere/x"
    assert moved(None, old, new) is None
    assert moved(f"{old}/x", old, old) == f"{old}/x"
