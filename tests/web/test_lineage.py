"""The Unity Catalog version page shows what clients reported through `emit-lineage`."""

from __future__ import annotations

import uuid

from tests.support import http_clients
from tests.support.server import ServerProcess
from tests.support.uc_models import create_pending_version

EMIT = "/api/2.0/mlflow/unity-catalog/model-versions/emit-lineage"


def test_reported_lineage_is_on_the_version_page(server: ServerProcess) -> None:
    schema = f"lin{uuid.uuid4().hex[:8]}"
    name = f"main.{schema}.m"
    with http_clients.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/api/2.1/unity-catalog/schemas",
                         json={"name": schema, "catalog_name": "main"}).is_success
        version = create_pending_version(http, name)
        page = f"/catalogs/main/{schema}/m/versions/{version}"
        assert "lineage-reports" not in http.get(page).text
        for direction, entity in (("DOWNSTREAM", {"job": {"id": "77", "job_run_id": "9"}}),
                                  ("UPSTREAM", {"notebook": {"id": "1234"}})):
            answer = http.post(EMIT, json={"name": name, "version": version,
                                           "model_version_lineage_info": {
                                               "entities": [entity], "direction": direction}})
            assert answer.status_code == 200, answer.text
        html = http.get(page).text
    table = html[html.index('id="lineage-reports"'):html.index("</table>",
                                                               html.index("lineage-reports"))]
    assert "reads this version" in table and "job 77 (job run id 9)" in table
    assert "feeds this version" in table and "notebook 1234" in table
