"""Moving and removing an alias: one use case for both registries.

Each registry's service authorizes the caller and finds the model (its row locked) and the
version, with its own dialect's not-found errors; then it calls here, in its unit of work. Here
the rule is applied (domain/aliases.py), the alias changed, the model touched, and the change
recorded with the version the alias pointed at before and after it (the audit trail, webhooks
and alias history read those).
"""

from __future__ import annotations

from collections.abc import Callable

from modelyard.domain import aliases
from modelyard.domain.aliases import ANY_TARGET, AliasRules, Expected
from modelyard.domain.clock import now_ms
from modelyard.domain.entities import Alias
from modelyard.services.policies import PolicyGate
from modelyard.services.unit_of_work import UnitOfWork
from modelyard.store.registry import AnyVersionRow


def move(uow: UnitOfWork, rules: AliasRules, gate: PolicyGate, model_id: int, model_name: str,
         alias: str, row: AnyVersionRow, approved: bool = False,
         expected: Expected = ANY_TARGET,
         before_ahead: Callable[[], int | None] | None = None) -> Alias:
    """Point `alias` of the model at the version `row`, if the registry's rule and the
    promotion policies that guard the alias allow it (`approved`: the move an approved alias
    request makes, services/alias_requests.py); with `expected`, only if the alias still
    points there (compare-and-set). The caller holds the model's row lock (SQLite: the write
    lock), so no other move can land between the read and the write. `before_ahead`: where the
    alias points, read ahead with the lock (RegistryRepository.alias_version_ahead), with the
    policies (`uow.policies.read_ahead()`)."""
    version = int(row.version)
    aliases.check_target(rules, model_name, alias, version, row.status)
    repo = uow.registry(rules.registry)
    if before_ahead is not None:
        before = before_ahead()
    else:
        uow.policies.read_ahead()  # the gate's read, answered with the alias's (one round trip)
        before = repo.alias_version(model_id, alias)
    aliases.check_expected(model_name, alias, before, expected)
    if before == version:
        # Already there: nothing moves, so nothing is recorded (no history row, event or
        # webhook; a rollback's "previous target" is never the current one).
        return Alias(alias, version)
    gate.check_alias(uow, rules.registry, model_name, alias, row, approved=approved)
    now = now_ms()
    repo.set_alias(model_id, alias, version, now=None if rules.records_updater else now)
    _touch(uow, rules, model_id, now)
    uow.record("registered_model.set_alias", "registered_model", model_name,
               before=aliases.image(alias, before), after=aliases.image(alias, version))
    return Alias(alias, version)


def remove(uow: UnitOfWork, rules: AliasRules, model_id: int, model_name: str,
           alias: str) -> None:
    """Remove `alias` from the model."""
    repo = uow.registry(rules.registry)
    before = repo.alias_version(model_id, alias)
    aliases.check_removable(rules, model_name, alias, before)
    now = now_ms()
    repo.delete_alias(model_id, alias, now=None if rules.records_updater else now)
    _touch(uow, rules, model_id, now)
    uow.record("registered_model.delete_alias", "registered_model", model_name,
               before=aliases.image(alias, before) or {"alias": alias})


def _touch(uow: UnitOfWork, rules: AliasRules, model_id: int, now: int) -> None:
    """Record who changed the model, where the registry keeps that (the alias change itself
    already set the update time otherwise)."""
    if rules.records_updater:
        uow.registry(rules.registry).update_model(model_id, now, updated_by=uow.actor.name)
