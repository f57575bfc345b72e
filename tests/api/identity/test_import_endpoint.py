"""POST /api/modelyard/v1/import/model-versions: metastore admins only, bad input answered 4xx in
MLflow's envelope, numbers never reused (server with --auth, both engines)."""

from __future__ import annotations

import uuid

from tests.api.identity.conftest import AuthServer

IMPORT = "/api/modelyard/v1/import/model-versions"
API = "/api/2.0/mlflow"


def test_only_a_metastore_admin_may_import_and_bad_input_is_a_4xx(
        auth_server: AuthServer) -> None:
    name = f"imported-{uuid.uuid4().hex[:8]}"
    owner = auth_server.new_user("owner")
    with auth_server.client(owner.token) as user:
        assert user.post(f"{API}/registered-models/create", json={"name": name}
                         ).status_code == 200
        refused = user.post(IMPORT, json={"name": name, "version": "5", "source": "s3://b/m"})
        # Even the model's creator (CAN MANAGE): choosing numbers is an admin's import.
        assert refused.status_code == 403, refused.text
        assert refused.json()["error_code"] == "PERMISSION_DENIED"
    with auth_server.admin() as admin:
        denied = admin.get("/api/modelyard/v1/audit", params={
            "action": "denied.model_version.import", "actor": owner.name}).json()["events"]
        assert [e["object_name"] for e in denied] == [f"{name}/5"]
        for body, code in [
            ({"name": name, "version": "2", "source": "s3://b/m", "current_stage": "Live"},
             "INVALID_PARAMETER_VALUE"),
            ({"name": name, "version": "0", "source": "s3://b/m"}, "INVALID_PARAMETER_VALUE"),
            ({"name": name, "version": "x", "source": "s3://b/m"}, "INVALID_PARAMETER_VALUE"),
            ({"name": name, "version": "2"}, "INVALID_PARAMETER_VALUE"),
            ({"name": name, "version": "2", "source": "s3://b/m", "registry": "other"},
             "INVALID_PARAMETER_VALUE"),
            ({"name": f"{name}-missing", "version": "2", "source": "s3://b/m"},
             "RESOURCE_DOES_NOT_EXIST"),
        ]:
            response = admin.post(IMPORT, json=body)
            assert 400 <= response.status_code < 500, response.text
            assert response.json()["error_code"] == code, (body, response.text)
        made = admin.post(IMPORT, json={"name": name, "version": "3", "source": "s3://b/m",
                                        "current_stage": "staging", "user_id": owner.name})
        assert made.status_code == 200, made.text
        version = made.json()["model_version"]
        assert (version["version"], version["current_stage"], version["user_id"]) == (
            "3", "Staging", owner.name)
        again = admin.post(IMPORT, json={"name": name, "version": "3", "source": "s3://b/m"})
        assert again.status_code == 400 and again.json()["error_code"] == \
            "RESOURCE_ALREADY_EXISTS"
        gap = admin.post(IMPORT, json={"name": name, "version": "1", "source": "s3://b/m"})
        assert gap.status_code == 409 and "never reused" in gap.json()["message"]
        imported = admin.get("/api/modelyard/v1/audit", params={
            "action": "model_version.import", "object_name": f"{name}/3"}).json()["events"]
        assert len(imported) == 1 and imported[0]["actor"] == "admin"
