"""Alias requests: what a policy with `approvals` turns a direct alias move into.

A user who may read the model asks for `alias` → `version` with a reason; N distinct users who
may move the alias (CAN EDIT on a workspace model, MANAGE on a Unity Catalog one), none of them
the requester, approve it; the last approval moves the alias through the one alias use case
(services/aliases.move), which checks the policies' conditions again at that moment. Anyone
who may move the alias can reject it, the requester (or an admin) can cancel it, any reader
can comment. Each step is a recorded change (the audit trail; webhooks where they listen).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from modelyard.domain import names
from modelyard.domain.access import Level
from modelyard.domain.aliases import UNITY_CATALOG, WORKSPACE, AliasRules, check_target
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from modelyard.domain.policies import AliasRequest
from modelyard.services import aliases, authorization
from modelyard.services.context import Actor
from modelyard.services.policies import PolicyGate
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.store.registry import AnyVersionRow

OPEN, APPROVED, REJECTED, CANCELLED = "OPEN", "APPROVED", "REJECTED", "CANCELLED"
MAX_REASON = 65_535


class AliasRequestService:
    def __init__(self, units: UnitOfWorkFactory, gate: PolicyGate) -> None:
        self.units = units
        self.gate = gate

    def create(self, actor: Actor, name: str, alias: str, version: str | int,
               reason: str | None) -> AliasRequest:
        names.validate_alias_name(alias)
        number = names.parse_version(version)
        reason = _text(reason, "reason")
        with self._model(actor, name, "alias_request.create", moving=False) as (uow, rules,
                                                                                 model_id):
            row = self._version(uow, rules, name, number)
            aliases_rule_check(rules, name, alias, row)
            policy = self.gate.approvals_needed(uow, rules.registry, name, alias)
            if policy is None:
                raise InvalidArgument(f"No policy asks for approvals to move alias '{alias}' "
                                      f"of {name}: set the alias directly.")
            # Refuse now what the last approval would refuse: the condition must hold already.
            self.gate.check_alias(uow, rules.registry, name, alias, row, approved=True)
            request_id = uow.policies.insert_request(
                model_id, alias, number, reason, actor.name, policy.name, policy.approvals,
                now_ms())
            uow.record("alias_request.create", "model_version", f"{name}/{number}",
                       after={"id": str(request_id), "alias": alias, "version": number,
                              "reason": reason, "policy": policy.name,
                              "approvals_needed": policy.approvals})
            return uow.policies.request(request_id)

    def list(self, actor: Actor, name: str, alias: str | None = None) -> list[AliasRequest]:
        with self._model(actor, name, "alias_request.list", moving=False) as (uow, _, model_id):
            found = uow.policies.requests_for_model(model_id)
        return [r for r in found if alias is None or r.alias == alias]

    def approve(self, actor: Actor, name: str, alias: str, request_id: str | int,
                comment: str | None = None) -> AliasRequest:
        comment = _text(comment, "comment")
        with self._model(actor, name, "alias_request.approve", moving=True) as (uow, rules,
                                                                                model_id):
            request = self._open(uow, model_id, name, alias, request_id)
            if request.requested_by == actor.name:
                raise authorization.deny(
                    f"User '{actor.name}' requested this move and cannot approve it: "
                    f"{request.approvals_needed} other user(s) must.",
                    "alias_request.approve", "registered_model", name)
            if actor.name in request.approvers:
                raise FailedPrecondition(f"User '{actor.name}' has already approved alias "
                                         f"request {request.id}.")
            now = now_ms()
            uow.policies.add_review(request.id, actor.name, "APPROVE", comment, now)
            approvals = len(request.approvers) + 1
            uow.record("alias_request.approve", "model_version", f"{name}/{request.version}",
                       after={"id": str(request.id), "alias": alias,
                              "approvals": approvals, "approvals_needed":
                              request.approvals_needed, "comment": comment})
            if approvals >= request.approvals_needed:
                row = self._version(uow, rules, name, request.version)
                aliases.move(uow, rules, self.gate, model_id, name, alias, row, approved=True)
                uow.policies.set_state(request.id, APPROVED, now)
            return uow.policies.request(request.id)

    def reject(self, actor: Actor, name: str, alias: str, request_id: str | int,
               comment: str | None = None) -> AliasRequest:
        return self._close(actor, name, alias, request_id, comment, REJECTED, "REJECT",
                           "alias_request.reject")

    def cancel(self, actor: Actor, name: str, alias: str, request_id: str | int,
               comment: str | None = None) -> AliasRequest:
        return self._close(actor, name, alias, request_id, comment, CANCELLED, "CANCEL",
                           "alias_request.cancel")

    def comment(self, actor: Actor, name: str, alias: str, request_id: str | int,
                comment: str | None) -> AliasRequest:
        comment = _text(comment, "comment")
        if not comment:
            raise InvalidArgument("Missing value for required parameter 'comment'.")
        with self._model(actor, name, "alias_request.comment", moving=False) as (uow, _,
                                                                                 model_id):
            request = _find(uow, model_id, name, alias, request_id)
            uow.policies.add_review(request.id, actor.name, "COMMENT", comment, now_ms())
            uow.record("alias_request.comment", "model_version", f"{name}/{request.version}",
                       after={"id": str(request.id), "alias": alias, "comment": comment})
            return uow.policies.request(request.id)

    # ---- helpers ------------------------------------------------------------------------------

    def _close(self, actor: Actor, name: str, alias: str, request_id: str | int,
               comment: str | None, state: str, decision: str, action: str) -> AliasRequest:
        comment = _text(comment, "comment")
        # Rejecting needs the right to move the alias; cancelling is the requester's own.
        with self._model(actor, name, action, moving=state == REJECTED) as (uow, _, model_id):
            request = self._open(uow, model_id, name, alias, request_id)
            if state == CANCELLED and request.requested_by != actor.name and \
                    not actor.is_admin:
                raise authorization.deny("Only the requester (or an admin) may cancel an "
                                         "alias request.", action, "registered_model", name)
            now = now_ms()
            uow.policies.add_review(request.id, actor.name, decision, comment, now)
            uow.policies.set_state(request.id, state, now)
            uow.record(action, "model_version", f"{name}/{request.version}",
                       after={"id": str(request.id), "alias": alias, "state": state,
                              "comment": comment})
            return uow.policies.request(request.id)

    @contextmanager
    def _model(self, actor: Actor, name: str, action: str,
               moving: bool) -> Iterator[tuple[UnitOfWork, AliasRules, int]]:
        """A write unit on the model `name` (either registry), its row locked, once the caller
        may read it (or, with `moving`, move its aliases)."""
        with self.units.write(actor, scope="uc" if _is_uc(name) else "workspace") as uow:
            if _is_uc(name) and not _workspace_model_exists(uow, name):
                uow.scope = "uc"
                authorization.require_uc(uow.conn, actor,
                                         "model.manage" if moving else "model.read", name)
                model_id = int(uow.uc_models.model_row(name, for_update=True).id)
                yield uow, UNITY_CATALOG, model_id
            else:
                uow.scope = "workspace"
                authorization.require_workspace_model(
                    uow.conn, actor, name, Level.CAN_EDIT if moving else Level.CAN_READ, action)
                yield uow, WORKSPACE, uow.registry("workspace").model_id(name, for_update=True)

    @staticmethod
    def _version(uow: UnitOfWork, rules: AliasRules, name: str, number: int) -> AnyVersionRow:
        if rules is UNITY_CATALOG:
            return uow.uc_models.version_row(name, number)
        return uow.registry("workspace").version_row(name, number)

    @staticmethod
    def _open(uow: UnitOfWork, model_id: int, name: str, alias: str,
              request_id: str | int) -> AliasRequest:
        request = _find(uow, model_id, name, alias, request_id)
        if request.state != OPEN:
            raise FailedPrecondition(f"Alias request {request.id} is {request.state}; only an "
                                     "OPEN request can be approved, rejected or cancelled.")
        return request


def aliases_rule_check(rules: AliasRules, name: str, alias: str, row: AnyVersionRow) -> None:
    check_target(rules, name, alias, int(row.version), row.status)


def _is_uc(name: str) -> bool:
    parts = name.split(".")
    return len(parts) == 3 and all(parts)


def _workspace_model_exists(uow: UnitOfWork, name: str) -> bool:
    """A workspace model may have a three-part name too; it wins, as the CLI's --workspace."""
    try:
        uow.registry("workspace").model_id(name)
    except NotFound:
        return False
    return True


def _find(uow: UnitOfWork, model_id: int, name: str, alias: str,
          request_id: str | int) -> AliasRequest:
    try:
        key = int(request_id)
    except (TypeError, ValueError):
        raise InvalidArgument(f"Invalid alias request id {request_id!r}.") from None
    request = uow.policies.request(key, model_id)
    if request.alias != alias:
        raise NotFound(f"Alias request {key} is for alias '{request.alias}' of {name}, not "
                       f"'{alias}'.")
    return request


def _text(value: str | None, what: str) -> str:
    value = value or ""
    if not isinstance(value, str) or len(value) > MAX_REASON:
        raise InvalidArgument(f"Invalid '{what}': a string of at most {MAX_REASON} characters.")
    return value
