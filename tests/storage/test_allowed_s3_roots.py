"""Catalog storage roots on S3 (SeaweedFS), both engines: accepted only under an allowed
`s3://bucket/prefix`, refused alike elsewhere, and nothing written to the bucket for a catalog
(tests/api/unity_catalog/test_storage_roots.py has the local and the privilege cases)."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.conftest import database_url_for
from tests.support import http_clients, s3
from tests.support.server import ServerProcess

UC = "/api/2.1/unity-catalog"
NOT_ALLOWED = "is not allowed: catalogs and schemas may keep their files only under"


def test_allowed_s3_prefixes(engine: str, pg_available: bool, seaweedfs: s3.S3Process,
                             tmp_path: Path) -> None:
    bucket = seaweedfs.create_bucket(f"roots-{uuid.uuid4().hex[:8]}")
    database = database_url_for(engine, pg_available)
    server = ServerProcess(tmp_path / "data", next(database), env=seaweedfs.env, extra_args=[
        "--storage-root", f"s3://{bucket}/managed",
        "--allowed-storage-roots", f"s3://{bucket}/external,{tmp_path / 'local'}"]).start()
    try:
        with http_clients.Client(base_url=server.url + UC, timeout=30) as uc:
            for root in (f"s3://{bucket}/elsewhere", f"s3://{bucket}/externals",
                         f"s3://other-{bucket}/external/x", f"s3://{bucket}/external/../x",
                         f"s3://{bucket}", str(tmp_path / "local" / "x"),
                         f"s3://{bucket}/external/__unitystorage"):
                refused = uc.post("/catalogs", json={"name": f"c_{uuid.uuid4().hex[:8]}",
                                                     "storage_root": root})
                assert refused.status_code == 400, (root, refused.text)
                assert NOT_ALLOWED in refused.json()["message"]
            catalog = f"s3_{uuid.uuid4().hex[:8]}"
            made = uc.post("/catalogs", json={"name": catalog,
                                              "storage_root": f"s3://{bucket}/external/team/"})
            assert made.status_code == 200, made.text
            assert made.json()["storage_root"] == f"s3://{bucket}/external/team"
            assert seaweedfs.keys(bucket) == []  # nothing written for a catalog
            uc.post("/schemas", json={"catalog_name": catalog, "name": "s"})
            uc.post("/models", json={"catalog_name": catalog, "schema_name": "s", "name": "m"})
            version = uc.post("/models/versions", json={
                "catalog_name": catalog, "schema_name": "s", "model_name": "m",
                "source": "x"}).json()
            assert version["storage_location"].startswith(
                f"s3://{bucket}/external/team/__unitystorage/catalogs/")
            uc.delete(f"/catalogs/{catalog}", params={"force": "true"})
    finally:
        server.stop()
        next(database, None)


