"""Promotion policies: managing them, and the gate every alias move and stage change passes.

`PolicyGate` is called from the one alias use case (services/aliases.move) and from the one
stage-transition function (services/transitions.apply_transition), so every surface that moves
an alias or a stage (MLflow REST, databricks-uc, UC OSS, databricks-sdk, the workspace extras'
approved transition requests, the web UI, the CLI) is refused the same way: a PolicyViolation,
a 400 in each dialect's own format naming the policy and the comparison that failed.

Who manages policies: metastore admins, and owners of the scope (the UC catalog, schema or
model's owner; CAN MANAGE on a workspace model for `workspace:<model>`). `*` and `workspace`
are for admins only.
"""

from __future__ import annotations

from sqlalchemy import Connection

from modelyard.domain import policies
from modelyard.domain.access import Level
from modelyard.domain.catalog import VersionStatus
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import ModelyardError, NotFound
from modelyard.domain.mlmodel import signature_problem
from modelyard.domain.policies import ApprovalRequired, Policy, VersionFacts
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.storage.base import ArtifactStore
from modelyard.store.model_signing import is_signed
from modelyard.store.policies import version_tags
from modelyard.store.registry import AnyVersionRow
from modelyard.store.scans import scan_columns

REQUESTS_PATH = "/api/modelyard/v1/models/{name}/aliases/{alias}/requests"


def supply_chain_facts(row: AnyVersionRow, conn: Connection | None = None) -> tuple[str, bool]:
    """(scan, signed) of a version: the one place the scanning and signature checks (issue 20
    items 3 and 4, built in parallel) feed policies. The scan's status is read from the version
    (store/scans.py) when `row` does not carry it; never scanned: NOT_SCANNED."""
    mapping = row._mapping
    scan = mapping.get("scan_status")
    if scan is None and conn is not None and "id" in mapping:
        columns = scan_columns(conn, mapping["id"])
        scan = columns.scan_status if columns is not None else None
    scan = scan or "NOT_SCANNED"
    signed = bool(mapping.get("signed") or False)
    return str(scan), signed


class PolicyGate:
    """Checks a move against the policies that guard it (given to every registry service)."""

    def __init__(self, artifacts: ArtifactStore | None = None) -> None:
        #: Where Unity Catalog versions' files are, for `has_signature` (their MLmodel).
        self.artifacts = artifacts

    def check_alias(self, uow: UnitOfWork, namespace: str, model_name: str, alias: str,
                    row: AnyVersionRow, approved: bool = False, audited: bool = True) -> None:
        """Raise unless version `row` may carry `alias`: every guarding policy's condition
        holds and, unless the move is an approved request's, none asks for approvals.
        `audited=False`: a check before a move (the web form's), whose refusal is no event."""
        found = policies.applying(uow.policies.all(), namespace, model_name, alias=alias)
        if not found:
            return
        what = f"moving alias '{alias}' of {model_name} to version {row.version}"
        self._check_conditions(uow, namespace, model_name, row, found, what,
                               "registered_model.set_alias" if audited else None)
        wanting = [p for p in found if p.approvals]
        if wanting and not approved:
            policy = max(wanting, key=lambda p: p.approvals)
            path = REQUESTS_PATH.format(name=model_name, alias=alias)
            error = ApprovalRequired(
                f"Policy '{policy.name}' requires {policy.approvals} approval(s) to move alias "
                f"'{alias}' of {model_name}: request the move with POST {path} "
                f"{{\"version\": \"{row.version}\", \"reason\": \"...\"}} (CLI: modelyard "
                f"aliases request {model_name}@{alias} {row.version}).", policy.name,
                f"approvals = {policy.approvals}")
            if audited:
                error.denied = ("registered_model.set_alias", "registered_model", model_name)
            raise error

    def check_stage(self, uow: UnitOfWork, model_name: str, stage: str, row: AnyVersionRow) -> None:
        """Raise unless workspace version `row` may enter `stage`."""
        found = policies.applying(uow.policies.all(), policies.WORKSPACE, model_name,
                                  stage=stage)
        if found:
            what = f"moving {model_name} version {row.version} to stage {stage}"
            self._check_conditions(uow, policies.WORKSPACE, model_name, row, found, what,
                                   "model_version.transition_stage")

    def approvals_needed(self, uow: UnitOfWork, namespace: str, model_name: str,
                         alias: str) -> Policy | None:
        """The policy (with the most approvals) that makes moving `alias` a request."""
        found = [p for p in policies.applying(uow.policies.all(), namespace, model_name,
                                              alias=alias) if p.approvals]
        return max(found, key=lambda p: p.approvals) if found else None

    def facts(self, uow: UnitOfWork, namespace: str, row: AnyVersionRow,
              wants_signature: bool = True) -> VersionFacts:
        scan, signed = supply_chain_facts(row, uow.conn)
        if namespace == policies.UC and not signed:  # issue 20 item 4: services/model_signing
            signed = is_signed(uow.conn, row.id)
        return VersionFacts(
            status=row.status, run_id=row.run_id or "", source=row.source or "",
            tags=version_tags(uow.conn, row.id),
            has_signature=wants_signature and self._has_signature(namespace, row),
            scan=scan, signed=signed)

    def _check_conditions(self, uow: UnitOfWork, namespace: str, model_name: str,
                          row: AnyVersionRow, found: list[Policy], what: str,
                          action: str | None) -> None:
        wants_signature = any("has_signature" in p.require for p in found)
        facts = self.facts(uow, namespace, row, wants_signature)
        for policy in found:
            failed = policies.failed_comparison(policy.require, facts)
            if failed is not None:
                error = policies.violation(policy, what, failed)
                if action is not None:  # the refusal is in the audit trail as denied.<action>
                    error.denied = (action, "registered_model", model_name)
                raise error

    def _has_signature(self, namespace: str, row: AnyVersionRow) -> bool:
        """Whether the version's MLmodel carries a signature with inputs and outputs. Only
        Unity Catalog versions have files the registry holds; a workspace version's source is
        elsewhere, so it counts as without one. Read only when a condition names it."""
        location = row._mapping.get("storage_location")
        if namespace != policies.UC or self.artifacts is None or not location or \
                row.status != VersionStatus.READY.value:
            return False
        try:
            raw = b"".join(self.artifacts.read_stream(location, "MLmodel"))
        except ModelyardError:
            return False
        return signature_problem(raw) is None


class PolicyService:
    def __init__(self, units: UnitOfWorkFactory) -> None:
        self.units = units

    def create(self, actor: Actor, name: str, scope: str, alias: str | None,
               stage: str | None, require: str, approvals: int | None = None) -> Policy:
        policy = policies.validate(name, scope, alias, stage, require, approvals)
        policy = Policy(**{**policy.as_dict(), "created_by": actor.name,
                           "created_at": now_ms()})
        with self.units.write(actor) as uow:
            _require_owner(uow, actor, policy.scope, "policy.create")
            uow.policies.insert(policy)
            uow.record("policy.create", "policy", policy.name, after=policy.as_dict())
        return policy

    def list(self, actor: Actor) -> list[Policy]:
        """Every policy: what is enforced is not secret from the people it refuses."""
        with self.units.read(actor) as uow:
            return uow.policies.all()

    def get(self, actor: Actor, name: str) -> Policy:
        with self.units.read(actor) as uow:
            return uow.policies.get(name)

    def delete(self, actor: Actor, name: str) -> None:
        with self.units.write(actor) as uow:
            policy = uow.policies.get(name)
            _require_owner(uow, actor, policy.scope, "policy.delete")
            uow.policies.delete(name)
            uow.record("policy.delete", "policy", name, before=policy.as_dict())


def _require_owner(uow: UnitOfWork, actor: Actor, scope: str, action: str) -> None:
    """Metastore admins manage every policy; owners of the scope manage its policies."""
    if actor.is_admin:
        return
    if scope in ("*", policies.WORKSPACE):
        raise authorization.deny(f"Only a metastore admin may manage policies with scope "
                                 f"'{scope}'.", action, "policy", scope)
    if scope.startswith(policies.WORKSPACE + ":"):
        authorization.require_workspace_model(uow.conn, actor, scope.split(":", 1)[1],
                                              Level.CAN_MANAGE, action)
        return
    view, exists = authorization.uc_view(uow.conn, actor, scope)
    level = ("catalog", "schema", "model")[scope.count(".")]
    if not exists[level]:
        raise NotFound(f"The scope '{scope}' names no existing {level}.")
    if not view.owns[level]:
        raise authorization.deny(f"User '{actor.name}' does not own {level} '{scope}': only "
                                 "its owner or a metastore admin may manage its policies.",
                                 action, "policy", scope)
