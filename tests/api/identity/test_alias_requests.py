"""Alias requests over HTTP on a `--auth` server (issue 20 item 2): a policy with 2 approvals
turns @champion moves into requests; the requester cannot approve; two other users can and the
alias moves; a rejection leaves it; every step is in the audit trail. (Here rather than under
tests/api/policies so that it reuses this package's session `--auth` server.)"""

from __future__ import annotations

import uuid

import httpx
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from modelyard.cli.main import app
from tests.api.identity.conftest import AuthServer

REQUESTS = "/api/modelyard/v1/models/{name}/aliases/champion/requests"


def _ok(response: httpx.Response) -> dict:  # type: ignore[type-arg]
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_two_approvals_move_champion(auth_server: AuthServer,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"appr-{uuid.uuid4().hex[:8]}"
    requester, first, second = (auth_server.new_user(p) for p in ("req", "one", "two"))
    with auth_server.admin() as admin:
        _ok(admin.post("/api/2.0/mlflow/registered-models/create", json={"name": name}))
        for source in ("s3://b/1", "s3://b/2"):
            _ok(admin.post("/api/2.0/mlflow/model-versions/create",
                           json={"name": name, "source": source}))
        for user in (requester, first, second):
            auth_server.set_level(name, user.name, "CAN_EDIT")
        policy = f"two-{uuid.uuid4().hex[:6]}"
        _ok(admin.post("/api/modelyard/v1/policies", json={
            "name": policy, "scope": f"workspace:{name}", "alias": "champion",
            "require": "status = 'READY'", "approvals": 2}))
    path = REQUESTS.format(name=name)
    try:
        # A direct move is refused at once, saying how to request it.
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", requester.token)
        client = MlflowClient(tracking_uri=auth_server.url, registry_uri=auth_server.url)
        with pytest.raises(MlflowException) as refused:
            client.set_registered_model_alias(name, "champion", "2")
        assert f"Policy '{policy}' requires 2 approval(s)" in refused.value.message
        assert path in refused.value.message

        with auth_server.client(requester.token) as req, \
                auth_server.client(first.token) as one, \
                auth_server.client(second.token) as two:
            created = _ok(req.post(path, json={"version": "2", "reason": "AUC +2%"}))["request"]
            step = f"{path}/{created['id']}"
            assert created["state"] == "OPEN" and created["approvals_needed"] == 2
            own = req.post(f"{step}/approve", json={})
            assert own.status_code == 403 and "cannot approve" in own.json()["message"]
            assert _ok(one.post(f"{step}/approve", json={"comment": "ok"}))["request"][
                "state"] == "OPEN"
            assert one.post(f"{step}/approve", json={}).status_code == 400  # not twice
            _ok(two.post(f"{step}/comment", json={"comment": "checked the eval"}))
            # The second approval through the CLI, as that user.
            approved = CliRunner().invoke(app, [
                "aliases", "approve", f"{name}@champion", created["id"], "--url",
                auth_server.url, "--token", second.token])
            assert approved.exit_code == 0, approved.output
            assert "APPROVED, 2/2 approval(s)" in approved.output
            [done] = [r for r in _ok(req.get(path))["requests"] if r["id"] == created["id"]]
            assert done["state"] == "APPROVED"
            assert done["approved_by"] == [first.name, second.name]
            alias = _ok(req.get("/api/2.0/mlflow/registered-models/alias",
                                params={"name": name, "alias": "champion"}))
            assert alias["model_version"]["version"] == "2"

            rejected = _ok(req.post(path, json={"version": "1", "reason": "roll back"}))[
                "request"]
            _ok(one.post(f"{path}/{rejected['id']}/reject", json={"comment": "no"}))
            late = two.post(f"{path}/{rejected['id']}/approve", json={})
            assert late.status_code == 400 and "REJECTED" in late.json()["message"]
            alias = _ok(req.get("/api/2.0/mlflow/registered-models/alias",
                                params={"name": name, "alias": "champion"}))
            assert alias["model_version"]["version"] == "2"
            listed = _ok(req.get(path))["requests"]
            assert [(r["id"], r["state"]) for r in listed] == [
                (rejected["id"], "REJECTED"), (created["id"], "APPROVED")]

        with auth_server.admin() as admin:
            trail = []
            for version in ("1", "2"):
                trail += _ok(admin.get("/api/modelyard/v1/audit", params={
                    "object": f"{name}/{version}", "max_results": 100}))["events"]
            steps = sorted((e["seq"], e["action"], e["actor"]) for e in trail
                           if e["action"].startswith("alias_request."))
            assert [(a, who) for _, a, who in steps] == [
                ("alias_request.create", requester.name),
                ("alias_request.approve", first.name),
                ("alias_request.comment", second.name),
                ("alias_request.approve", second.name),
                ("alias_request.create", requester.name),
                ("alias_request.reject", first.name)]
            moves = _ok(admin.get("/api/modelyard/v1/audit", params={
                "object": name, "action": "registered_model.set_alias"}))["events"]
            assert [(e["actor"], e["after"]) for e in moves] == [
                (second.name, {"alias": "champion", "version": 2})]
    finally:
        with auth_server.admin() as admin:
            admin.delete(f"/api/modelyard/v1/policies/{policy}")
