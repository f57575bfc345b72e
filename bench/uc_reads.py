"""Unity Catalog point reads through Modelyard's two UC surfaces, driven by wrk.

    python bench/uc_reads.py [--engine sqlite|postgres|both] [--models 200] [--duration 15]
                             [--auth]

The MLflow server has no Unity Catalog API, so this measures Modelyard alone, on the same
harness as run.py (wrk at concurrency 8, server CPU from /proc, PostgreSQL backends' CPU). It
creates a schema of N models through the UC REST API, each with one READY version (files
written into its local governed storage, then finalized), a model tag, a version tag and the
alias `champion`, then reads them by:

- `uc_get_version`: GET /api/2.1/unity-catalog/models/{full_name}/versions/1 (unitycatalog-client)
- `uc_get_model`: GET /api/2.1/unity-catalog/models/{full_name}
- `uc_get_by_alias`: GET /api/2.1/unity-catalog/models/{full_name}/aliases/champion
- `dbuc_get_version`: GET /api/2.0/mlflow/unity-catalog/model-versions/get (`databricks-uc`)
- `dbuc_get_by_alias`: GET /api/2.0/mlflow/unity-catalog/registered-models/alias (`load_model`
  of `models:/catalog.schema.model@champion`)

With `--auth` the server requires a token (`modelyard serve --auth`), and the reads are made by
an ordinary user, not the metastore admin: a member of a group that holds USE_CATALOG on the
catalog and USE_SCHEMA and EXECUTE on the schema, the way a team is usually given a schema's
models. Each read then checks the caller's privileges along the path first.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlencode, urlparse

import httpx

from artifacts import MLMODEL
from auth import SCIM
from databases import Databases, PgConfig
from httpraw import build_request
from report import markdown_table
from run import ServerMeter
from servers import HOST, server_kinds, start_server
from wrkload import find_wrk, run_wrk

UC = "/api/2.1/unity-catalog"
DBUC = "/api/2.0/mlflow/unity-catalog"
SCHEMA = "main.bench"
CONCURRENCY = 8

Target = Callable[[str], str]
SCENARIOS: dict[str, Target] = {
    "uc_get_version": lambda m: f"{UC}/models/{m}/versions/1",
    "uc_get_model": lambda m: f"{UC}/models/{m}",
    "uc_get_by_alias": lambda m: f"{UC}/models/{m}/aliases/champion",
    "dbuc_get_version": lambda m: f"{DBUC}/model-versions/get?"
    + urlencode({"name": m, "version": "1"}),
    "dbuc_get_by_alias": lambda m: f"{DBUC}/registered-models/alias?"
    + urlencode({"name": m, "alias": "champion"}),
}


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def populate(base: str, models: int, admin_token: str | None) -> list[str]:
    """N models in SCHEMA, each with one READY version, tags and the alias; their full names."""
    names = []
    with httpx.Client(base_url=base, timeout=60, headers=_headers(admin_token)) as http:
        catalog, schema = SCHEMA.split(".")
        http.post(f"{UC}/schemas",
                  json={"catalog_name": catalog, "name": schema}).raise_for_status()
        for i in range(models):
            name = f"m{i:05d}"
            full = f"{SCHEMA}.{name}"
            http.post(f"{UC}/models", json={"catalog_name": catalog, "schema_name": schema,
                                            "name": name}).raise_for_status()
            created = http.post(f"{UC}/models/versions", json={
                "catalog_name": catalog, "schema_name": schema, "model_name": name,
                "source": f"runs:/run-{i}/model", "run_id": f"run-{i}"})
            created.raise_for_status()
            location = urlparse(created.json()["storage_location"])
            # Unity Catalog requires a signature at finalize (the same MLmodel as artifacts.py).
            Path(unquote(location.path), "MLmodel").write_bytes(MLMODEL)
            http.patch(f"{UC}/models/{full}/versions/1/finalize",
                       json={"full_name": full, "version": 1}).raise_for_status()
            for path, body in [
                ("/registered-models/set-tag", {"name": full, "key": "team", "value": "a"}),
                ("/model-versions/set-tag", {"name": full, "version": "1", "key": "validated",
                                             "value": "true"}),
                ("/registered-models/alias", {"name": full, "alias": "champion",
                                              "version": "1"}),
            ]:
                http.post(DBUC + path, json=body).raise_for_status()
            names.append(full)
    return names


def reader_token(base: str, admin_token: str) -> str:
    """A token of an ordinary user whose group may read SCHEMA's models."""
    catalog = SCHEMA.split(".")[0]
    with httpx.Client(base_url=base, timeout=60, headers=_headers(admin_token)) as http:
        group = http.post(f"{SCIM}/Groups", json={"displayName": "readers"})
        group.raise_for_status()
        user = http.post(f"{SCIM}/Users", json={"userName": "reader@example.com"})
        user.raise_for_status()
        http.patch(f"{SCIM}/Groups/{group.json()['id']}", json={"Operations": [
            {"op": "add", "path": "members", "value": [{"value": user.json()["id"]}]}]},
        ).raise_for_status()
        for securable, name, privileges in [("catalog", catalog, ["USE_CATALOG"]),
                                            ("schema", SCHEMA, ["USE_SCHEMA", "EXECUTE"])]:
            http.patch(f"{UC}/permissions/{securable}/{name}", json={"changes": [
                {"principal": "readers", "add": privileges}]}).raise_for_status()
        token = http.post("/api/2.0/token-management/on-behalf-of/tokens",
                          json={"application_id": "reader@example.com", "comment": "bench"})
        token.raise_for_status()
        return str(token.json()["token_value"])


def run_engine(engine: str, opts: argparse.Namespace, wrk: str) -> list[list[str]]:
    pg = PgConfig()
    databases = Databases(pg)
    kind = server_kinds(None, opts.modelyard_bin)["modelyard"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="modelyard-uc-bench-") as tmp:
        data_dir = Path(tmp)
        url = databases.create(engine, "modelyard", data_dir)
        server = start_server(kind, data_dir, url, opts.workers, 30,
                              ["--auth"] if opts.auth else [])
        try:
            base = f"http://{HOST}:{server.port}"
            admin = (data_dir / "admin-token").read_text().strip() if opts.auth else None
            names = populate(base, opts.models, admin)
            token = reader_token(base, admin) if admin else None
            caller = "user" if token else "admin"
            authorization = _headers(token).get("Authorization")
            dbname = url.rsplit("/", 1)[1] if engine == "postgres" else None
            backends = (lambda: pg.backend_pids(dbname)) if dbname else None
            rng = random.Random(7)
            for scenario, target in SCENARIOS.items():
                picks = [rng.choice(names) for _ in range(5000)]
                requests = [build_request("GET", target(m), f"{HOST}:{server.port}",
                                          authorization=authorization) for m in picks]
                run_wrk(wrk, base, requests[:200], CONCURRENCY, 2, ServerMeter(server.pid, None))
                outcome = run_wrk(wrk, base, requests, CONCURRENCY, opts.duration,
                                  ServerMeter(server.pid, backends))
                reading = outcome.meter
                per_request = 1000 / outcome.requests if outcome.requests else math.nan
                db_ms = reading.db_cpu_s * per_request
                db = "–" if math.isnan(db_ms) else f"{db_ms:.3f}"
                rows.append([engine, caller, scenario,
                             f"{outcome.requests / outcome.duration_s:,.0f}",
                             f"{outcome.p50_ms:.2f}", f"{outcome.p99_ms:.2f}",
                             f"{reading.server_cpu_s * per_request:.3f}", db,
                             f"{outcome.client_cpu_s * per_request:.3f}", str(outcome.errors)])
                print(" | ".join(rows[-1]), flush=True)
                if outcome.errors:
                    print("errors:", outcome.error_samples, file=sys.stderr)
        finally:
            server.stop()
            databases.drop_all()
    return rows


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--modelyard-bin", default=None)
    parser.add_argument("--auth", action="store_true",
                        help="serve with --auth and read as an ordinary user (module docstring)")
    opts = parser.parse_args(argv)
    wrk = find_wrk()
    if wrk is None:
        raise SystemExit("wrk is not on PATH: apt-get install -y wrk")
    engines = ("sqlite", "postgres") if opts.engine == "both" else (opts.engine,)
    rows = [row for engine in engines for row in run_engine(engine, opts, wrk)]
    print()
    print(markdown_table(["engine", "caller", "scenario", "ops/s", "p50 ms", "p99 ms",
                          "server CPU ms", "PG CPU ms", "wrk CPU ms", "errors"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
