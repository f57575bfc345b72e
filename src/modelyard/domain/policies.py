"""Promotion policies: what may carry an alias or enter a stage, in pure Python.

A policy names a scope (which models), a guard (an alias name or glob, or a target stage) and a
condition on the version, written in the registry's own filter grammar (filter_grammar.lark)
and evaluated here over the version's facts (`VersionFacts`). Its `approvals` (aliases only)
turn a direct move into a request that other users must approve (services/alias_requests.py).

Scopes: `*` (everything), `workspace` (the workspace registry), `workspace:<model>`, or a Unity
Catalog `catalog`, `catalog.schema` or `catalog.schema.model`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from modelyard.domain.errors import FailedPrecondition, InvalidArgument
from modelyard.domain.filters import (
    _STRING_LIST_OPS,
    _STRING_OPS,
    Clause,
    FilterSpec,
    Op,
    parse_filter,
)
from modelyard.domain.stages import Stage, parse_stage

WORKSPACE = "workspace"
UC = "uc"
MAX_APPROVALS = 20
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_GUARD = re.compile(r"^[A-Za-z0-9_\-*?\[\]]{1,255}$")

#: What a condition may name: version tags and these attributes of the version.
CONDITION = FilterSpec(
    attributes={key: _STRING_LIST_OPS for key in
                ("status", "has_signature", "scan", "signed", "run_id", "source")},
    tag_ops=_STRING_OPS)


class PolicyViolation(FailedPrecondition):
    """A move that a policy refuses. FailedPrecondition: a 400 in every dialect, so clients
    (mlflow's retrying session among them) fail at once instead of retrying."""

    def __init__(self, message: str, policy: str, condition: str) -> None:
        super().__init__(message)
        self.policy = policy
        self.condition = condition


class ApprovalRequired(PolicyViolation):
    """A direct move of an alias whose policy asks for approvals: a request is the way."""


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    scope: str
    require: str
    alias: str | None = None
    stage: str | None = None
    approvals: int = 0
    created_by: str = ""
    created_at: int = 0

    @property
    def guards(self) -> str:
        return f"alias '{self.alias}'" if self.alias else f"stage {self.stage}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scope": self.scope, "alias": self.alias,
                "stage": self.stage, "require": self.require, "approvals": self.approvals,
                "created_by": self.created_by, "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What a condition can see of a version. `scan` and `signed` come from the supply-chain
    checks (services/policies.supply_chain_facts)."""

    status: str
    run_id: str
    source: str
    tags: Mapping[str, str] = field(default_factory=dict)
    has_signature: bool = False
    scan: str = "NOT_SCANNED"
    signed: bool = False

    def attribute(self, key: str) -> str:
        if key == "has_signature":
            return "true" if self.has_signature else "false"
        if key == "signed":
            return "true" if self.signed else "false"
        return str(getattr(self, key) or "")


@dataclass(frozen=True, slots=True)
class Review:
    user: str
    decision: str
    comment: str
    created_at: int


@dataclass(frozen=True, slots=True)
class AliasRequest:
    id: int
    registry: str
    model_name: str
    alias: str
    version: int
    reason: str
    requested_by: str
    state: str
    policy: str
    approvals_needed: int
    created_at: int
    updated_at: int
    reviews: tuple[Review, ...] = ()

    @property
    def approvers(self) -> list[str]:
        return [r.user for r in self.reviews if r.decision == "APPROVE"]

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "name": self.model_name, "alias": self.alias,
                "version": str(self.version), "reason": self.reason,
                "requested_by": self.requested_by, "state": self.state, "policy": self.policy,
                "approvals_needed": self.approvals_needed, "approved_by": self.approvers,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "reviews": [{"user": r.user, "decision": r.decision, "comment": r.comment,
                             "created_at": r.created_at} for r in self.reviews]}


# ---- validation ------------------------------------------------------------------------------

def validate(name: str, scope: str, alias: str | None, stage: str | None, require: str,
             approvals: int | None) -> Policy:
    """A policy from its user-given fields, or InvalidArgument saying what is wrong."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(f"Invalid policy name {name!r}: use 1-128 letters, digits, '_', "
                              "'-' or '.'.")
    scope = validate_scope(scope)
    if bool(alias) == bool(stage):
        raise InvalidArgument("A policy guards exactly one of 'alias' (a name or glob such as "
                              "'champion' or 'prod-*') or 'stage' (such as 'Production').")
    if alias is not None and (not isinstance(alias, str) or not _GUARD.match(alias)):
        raise InvalidArgument(f"Invalid alias pattern {alias!r}: use letters, digits, '_', '-' "
                              "and the glob characters '*', '?', '[...]'.")
    if stage:
        target = parse_stage(stage) if isinstance(stage, str) else None
        if target is None or target is Stage.NONE:
            raise InvalidArgument(f"Invalid stage {stage!r}: use Staging, Production or "
                                  "Archived.")
        stage = target.value
        if not (scope in ("*", WORKSPACE) or scope.startswith(WORKSPACE + ":")):
            raise InvalidArgument(f"Stages exist only in the workspace registry: a stage "
                                  f"policy's scope must be '*', 'workspace' or "
                                  f"'workspace:<model>', not {scope!r}.")
    if not isinstance(require, str) or not require.strip():
        raise InvalidArgument("Missing 'require': the condition a version must meet, in the "
                              "filter grammar, e.g. \"tags.validation = 'passed'\".")
    parse_condition(require)
    approvals = 0 if approvals is None else approvals
    if not isinstance(approvals, int) or isinstance(approvals, bool) or \
            not 0 <= approvals <= MAX_APPROVALS:
        raise InvalidArgument(f"Invalid 'approvals' {approvals!r}: a whole number from 0 to "
                              f"{MAX_APPROVALS}.")
    if approvals and stage:
        raise InvalidArgument("'approvals' applies to alias policies; stages already have "
                              "transition requests (transition-requests/create).")
    return Policy(name=name, scope=scope, require=require.strip(), alias=alias or None,
                  stage=stage or None, approvals=approvals)


def validate_scope(scope: str) -> str:
    if not isinstance(scope, str) or not scope:
        raise InvalidArgument("Missing 'scope': '*', 'workspace', 'workspace:<model>', "
                              "'<catalog>', '<catalog>.<schema>' or '<catalog>.<schema>.<model>'.")
    if scope in ("*", WORKSPACE):
        return scope
    if scope.startswith(WORKSPACE + ":"):
        if not scope[len(WORKSPACE) + 1:]:
            raise InvalidArgument("Invalid scope 'workspace:': name the workspace model after "
                                  "the colon.")
        return scope
    parts = scope.split(".")
    if len(parts) > 3 or not all(parts) or any(c.isspace() or c in "*:/" for c in scope):
        raise InvalidArgument(f"Invalid scope {scope!r}: use '*', 'workspace', "
                              "'workspace:<model>', '<catalog>', '<catalog>.<schema>' or "
                              "'<catalog>.<schema>.<model>'.")
    return scope


def parse_condition(text: str) -> list[Clause]:
    """The condition's comparisons (the filter grammar, checked against CONDITION)."""
    return parse_filter(text, CONDITION)


# ---- matching ---------------------------------------------------------------------------------

def in_scope(scope: str, namespace: str, model_name: str) -> bool:
    """Does a policy with `scope` cover model `model_name` of registry `namespace`?"""
    if scope == "*":
        return True
    if namespace == WORKSPACE:
        return scope == WORKSPACE or scope == f"{WORKSPACE}:{model_name}"
    if scope == WORKSPACE or scope.startswith(WORKSPACE + ":"):
        return False
    return model_name == scope or model_name.startswith(scope + ".")


def applying(policies: Iterable[Policy], namespace: str, model_name: str,
             alias: str | None = None, stage: str | None = None) -> list[Policy]:
    """The policies that guard moving `alias` (or entering `stage`) on this model."""
    found = []
    for policy in policies:
        if not in_scope(policy.scope, namespace, model_name):
            continue
        by_alias = alias is not None and policy.alias and fnmatchcase(alias, policy.alias)
        if by_alias or (stage is not None and policy.stage == stage):
            found.append(policy)
    return found


def failed_comparison(condition: str, facts: VersionFacts) -> str | None:
    """The first comparison of `condition` the version fails, as text, or None if it holds."""
    for clause in parse_condition(condition):
        if not holds(clause, facts):
            return describe(clause, facts)
    return None


def holds(clause: Clause, facts: VersionFacts) -> bool:
    if clause.kind == "tag":
        actual = facts.tags.get(clause.key)
        if actual is None:
            return False  # as in a search: a version without the tag matches no comparison
    else:
        actual = facts.attribute(clause.key)
    value = clause.value
    match clause.op:
        case Op.EQ:
            return actual == str(value)
        case Op.NE:
            return actual != str(value)
        case Op.IN:
            return actual in {str(v) for v in _values(value)}
        case Op.NOT_IN:
            return actual not in {str(v) for v in _values(value)}
        case Op.LIKE:
            return _like(str(value), re.DOTALL).fullmatch(actual) is not None
        case Op.ILIKE:
            return _like(str(value), re.DOTALL | re.IGNORECASE).fullmatch(actual) is not None
    return False


def _values(value: object) -> tuple[object, ...]:
    return value if isinstance(value, tuple) else (value,)


def _like(pattern: str, flags: int) -> re.Pattern[str]:
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), flags)


def describe(clause: Clause, facts: VersionFacts) -> str:
    key = f"tags.{clause.key}" if clause.kind == "tag" else clause.key
    value = clause.value
    shown = ("(" + ", ".join(repr(str(v)) for v in value) + ")" if isinstance(value, tuple)
             else repr(str(value)))
    if clause.kind == "tag":
        actual = facts.tags.get(clause.key)
        now = "is not set" if actual is None else f"is {actual!r}"
    else:
        now = f"is {facts.attribute(clause.key)!r}"
    return f"{key} {clause.op.value} {shown} ({key} {now})"


def violation(policy: Policy, what: str, failed: str) -> PolicyViolation:
    return PolicyViolation(
        f"Policy '{policy.name}' refuses {what}: the condition {failed} does not hold. "
        f"The policy requires {policy.require}.", policy.name, failed)
