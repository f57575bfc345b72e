"""Workspace-registry stage transitions, transition requests, comments and the activity list.

Who may do what follows the permission levels: anyone with CAN READ may request a transition
and comment; approving or rejecting a request needs the level the transition itself needs
(CAN MANAGE STAGING VERSIONS, or CAN MANAGE PRODUCTION VERSIONS when Production is on either
side); the requester or a CAN MANAGE holder may cancel it; only its author edits a comment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from modelyard.domain import names
from modelyard.domain.access import Level, level_for_transition
from modelyard.domain.activities import MAX_COMMENT, Activity, ActivityType, RequestState
from modelyard.domain.clock import now_ms
from modelyard.domain.entities import ModelVersion, RegisteredModel
from modelyard.domain.errors import InvalidArgument, NotFound
from modelyard.domain.numbers import INT32_MAX, ascii_int
from modelyard.domain.stages import Stage, check_archive_existing, parse_stage
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.policies import PolicyGate
from modelyard.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from modelyard.store.registry import AnyVersionRow, RegistryRepository


@dataclass(frozen=True, slots=True)
class Viewed:
    """An activity together with what the viewer may do with it."""

    activity: Activity
    available_actions: tuple[str, ...] = ()


def validate_comment(comment: str | None, required: bool = False) -> str:
    comment = comment or ""
    if required and not comment:
        raise InvalidArgument("Missing value for required parameter 'comment'.")
    if len(comment) > MAX_COMMENT:
        raise InvalidArgument(f"Comment is {len(comment)} characters long; the limit is "
                              f"{MAX_COMMENT}.")
    return comment


def apply_transition(uow: UnitOfWork, repo: RegistryRepository, actor: Actor, model_id: int,
                     row: AnyVersionRow, target: Stage, archive_existing: bool, comment: str,
                     activity_type: ActivityType = ActivityType.APPLIED_TRANSITION,
                     *, gate: PolicyGate) -> Activity:
    """Move a version to `target` and write the activities: one for the move itself and a
    SYSTEM_TRANSITION for each version archived as a side effect. Each archived version is also
    a recorded change of its own (audit trail, MODEL_VERSION_TRANSITIONED_TO_ARCHIVED webhooks);
    the caller records the move itself. Every stage change passes `gate`'s stage policies."""
    gate.check_stage(uow, row.name, target.value, row)
    now = now_ms()
    activities = uow.activities
    if archive_existing:
        for other in activities.versions_in_stage(model_id, target.value, row.version):
            reason = f"Archived because version {row.version} moved to {target.value}."
            activities.add(other.id, ActivityType.SYSTEM_TRANSITION, actor.name, now,
                           from_stage=target.value, to_stage=Stage.ARCHIVED.value,
                           system_comment=reason)
            uow.record("model_version.transition_stage", "model_version",
                       f"{row.name}/{other.version}", before={"stage": target.value},
                       after={"stage": Stage.ARCHIVED.value, "system_comment": reason})
        repo.archive_stage(model_id, target, row.version, now)
    repo.update_version(row.id, now, stage=target.value)
    repo.update_model(model_id, now)
    return activities.add(row.id, activity_type, actor.name, now, from_stage=row.stage,
                          to_stage=target.value, comment=comment)


class TransitionService:
    def __init__(self, units: UnitOfWorkFactory, gate: PolicyGate | None = None) -> None:
        self.units = units
        self.gate = gate or PolicyGate()

    # ---- models as Databricks shows them -----------------------------------------------------

    def get_model_with_level(self, actor: Actor, name: str) -> tuple[RegisteredModel, int, Level]:
        """The model, its permission-object id and the caller's level on it."""
        with self.units.read(actor) as uow:
            level = authorization.require_workspace_model(
                uow.conn, actor, name, Level.CAN_READ, "registered_model.get")
            repo = uow.registry("workspace")
            return repo.get_model(name), repo.model_id(name), level

    def version_with_level(self, actor: Actor, name: str,
                           version: str | int) -> tuple[ModelVersion, Level, int]:
        """A version, the caller's level and the number of open requests on it."""
        number = names.parse_version(version)
        with self.units.read(actor) as uow:
            level = authorization.require_workspace_model(
                uow.conn, actor, name, Level.CAN_READ, "model_version.get")
            repo = uow.registry("workspace")
            row = repo.version_row(name, number)
            open_requests = len(uow.activities.for_version(
                row.id, ActivityType.REQUESTED_TRANSITION, RequestState.OPEN))
            return repo.get_version(name, number), level, open_requests

    # ---- transition requests ------------------------------------------------------------------

    def create_request(self, actor: Actor, name: str, version: str | int, stage: str,
                       comment: str | None) -> Viewed:
        number = names.parse_version(version)
        target = parse_stage(stage)
        comment = validate_comment(comment)
        with self.units.write(actor) as uow:
            level = authorization.require_workspace_model(
                uow.conn, actor, name, Level.CAN_READ, "transition_request.create")
            row = uow.registry("workspace").version_row(name, number)
            activity = uow.activities.add(
                row.id, ActivityType.REQUESTED_TRANSITION, actor.name, now_ms(),
                from_stage=row.stage, to_stage=target.value, comment=comment,
                state=RequestState.OPEN.value)
            uow.record("transition_request.create", "model_version", f"{name}/{number}",
                       after={"to_stage": target.value, "from_stage": row.stage,
                              "comment": comment, "id": activity.id})
            return self._view(actor, level, activity, Stage(row.stage))

    def approve(self, actor: Actor, name: str, version: str | int, stage: str,
                archive_existing_versions: bool, comment: str | None) -> Activity:
        number = names.parse_version(version)
        target = parse_stage(stage)
        check_archive_existing(target, archive_existing_versions)
        comment = validate_comment(comment)
        with self.units.write(actor) as uow:
            repo, row, request, level = self._open_request(uow, actor, name, number, target,
                                                           "transition_request.approve")
            self._require_transition_level(actor, level, Stage(row.stage), target, name,
                                           "transition_request.approve")
            activities = uow.activities
            activities.set_state(request.id, RequestState.APPROVED.value, now_ms())
            model_id = repo.model_id(name, for_update=True)
            activity = apply_transition(uow, repo, actor, model_id, row, target,
                                        archive_existing_versions, comment,
                                        ActivityType.APPROVED_REQUEST, gate=self.gate)
            uow.record("transition_request.approve", "model_version", f"{name}/{number}",
                       before={"stage": row.stage, "request_id": request.id,
                               "requested_by": request.user_id},
                       after={"stage": target.value, "comment": comment,
                              "archive_existing_versions": archive_existing_versions})
            return activity

    def reject(self, actor: Actor, name: str, version: str | int, stage: str,
               comment: str | None) -> Activity:
        """Refuse an open request: it needs the level the transition itself would need."""
        def may_reject(row: AnyVersionRow, request: Activity, level: Level, target: Stage) -> None:
            self._require_transition_level(actor, level, Stage(row.stage), target, name,
                                           "transition_request.reject")

        return self._close(actor, name, version, stage, comment, "transition_request.reject",
                           RequestState.REJECTED, ActivityType.REJECTED_REQUEST, may_reject)

    def cancel(self, actor: Actor, name: str, version: str | int, stage: str, creator: str,
               comment: str | None) -> Activity:
        """Withdraw `creator`'s open request: the requester or a manager may."""
        def may_cancel(row: AnyVersionRow, request: Activity, level: Level, target: Stage) -> None:
            if request.user_id != actor.name and level < Level.CAN_MANAGE:
                raise authorization.deny(
                    "Only the requester or a user with CAN_MANAGE may cancel a transition "
                    "request.", "transition_request.delete", "registered_model", name)

        return self._close(actor, name, version, stage, comment, "transition_request.delete",
                           RequestState.CANCELLED, ActivityType.CANCELLED_REQUEST, may_cancel,
                           creator=creator)

    def _close(self, actor: Actor, name: str, version: str | int, stage: str,
               comment: str | None, action: str, state: RequestState, kind: ActivityType,
               check: Callable[[AnyVersionRow, Activity, Level, Stage], None],
               creator: str | None = None) -> Activity:
        """End an open request in `state` once `check(version row, request, caller's level,
        target stage)` allows it, and add the `kind` activity to the version."""
        number = names.parse_version(version)
        target = parse_stage(stage)
        comment = validate_comment(comment)
        with self.units.write(actor) as uow:
            _, row, request, level = self._open_request(uow, actor, name, number, target,
                                                        action, creator=creator)
            check(row, request, level, target)
            activities = uow.activities
            now = now_ms()
            activities.set_state(request.id, state.value, now)
            activity = activities.add(row.id, kind, actor.name, now, from_stage=row.stage,
                                      to_stage=target.value, comment=comment)
            uow.record(action, "model_version", f"{name}/{number}",
                       before={"request_id": request.id, "requested_by": request.user_id},
                       after={"to_stage": target.value, "comment": comment})
            return activity

    def list_requests(self, actor: Actor, name: str, version: str | int) -> list[Viewed]:
        number = names.parse_version(version)
        with self.units.read(actor) as uow:
            level = authorization.require_workspace_model(
                uow.conn, actor, name, Level.CAN_READ, "transition_request.list")
            row = uow.registry("workspace").version_row(name, number)
            requests = uow.activities.for_version(
                row.id, ActivityType.REQUESTED_TRANSITION, RequestState.OPEN)
            return [self._view(actor, level, r, Stage(row.stage)) for r in requests]

    # ---- comments and the activity list ----------------------------------------------------

    def create_comment(self, actor: Actor, name: str, version: str | int,
                       comment: str | None) -> Viewed:
        number = names.parse_version(version)
        comment = validate_comment(comment, required=True)
        with self.units.write(actor) as uow:
            level = authorization.require_workspace_model(
                uow.conn, actor, name, Level.CAN_READ, "comment.create")
            row = uow.registry("workspace").version_row(name, number)
            activity = uow.activities.add(
                row.id, ActivityType.NEW_COMMENT, actor.name, now_ms(), comment=comment)
            uow.record("comment.create", "model_version", f"{name}/{number}",
                       after={"id": activity.id, "comment": comment})
            return self._view(actor, level, activity, Stage(row.stage))

    def update_comment(self, actor: Actor, comment_id: str, comment: str | None) -> Viewed:
        comment = validate_comment(comment, required=True)
        with self.units.write(actor) as uow:
            activities = uow.activities
            existing, level = self._own_comment(uow, actor, comment_id, "comment.update")
            activities.set_comment(existing.id, comment, now_ms())
            uow.record("comment.update", "model_version",
                       f"{existing.model_name}/{existing.version}",
                       before={"id": existing.id, "comment": existing.comment},
                       after={"id": existing.id, "comment": comment})
            return self._view(actor, level, activities.get(existing.id), Stage.NONE)

    def delete_comment(self, actor: Actor, comment_id: str) -> None:
        with self.units.write(actor) as uow:
            existing, _ = self._own_comment(uow, actor, comment_id, "comment.delete",
                                            manager_may=True)
            uow.activities.delete(existing.id)
            uow.record("comment.delete", "model_version",
                       f"{existing.model_name}/{existing.version}",
                       before={"id": existing.id, "comment": existing.comment})

    def list_activities(self, actor: Actor, name: str, version: str | int) -> list[Viewed]:
        number = names.parse_version(version)
        with self.units.read(actor) as uow:
            level = authorization.require_workspace_model(
                uow.conn, actor, name, Level.CAN_READ, "activity.list")
            row = uow.registry("workspace").version_row(name, number)
            return [self._view(actor, level, a, Stage(row.stage))
                    for a in uow.activities.for_version(row.id)]

    # ---- helpers ------------------------------------------------------------------------------

    def _open_request(self, uow: UnitOfWork, actor: Actor, name: str, number: int,
                      target: Stage, action: str, creator: str | None = None,
                      ) -> tuple[RegistryRepository, AnyVersionRow, Activity, Level]:
        level = authorization.require_workspace_model(uow.conn, actor, name, Level.CAN_READ,
                                                      action)
        repo = uow.registry("workspace")
        row = repo.version_row(name, number)
        for request in uow.activities.for_version(
                row.id, ActivityType.REQUESTED_TRANSITION, RequestState.OPEN):
            if request.to_stage == target.value and creator in (None, request.user_id):
                return repo, row, request, level
        who = f" by {creator}" if creator else ""
        raise NotFound(f"No open transition request{who} to {target.value} for model "
                       f"{name} version {number}.")

    @staticmethod
    def _require_transition_level(actor: Actor, level: Level, from_stage: Stage, target: Stage,
                                  name: str, action: str) -> None:
        needed = level_for_transition(from_stage, target)
        if level < needed:
            raise authorization.deny(
                f"User '{actor.name}' does not have permission '{needed.name}' on registered "
                f"model '{name}', which moving a version from {from_stage.value} to "
                f"{target.value} requires.", action, "registered_model", name)

    def _own_comment(self, uow: UnitOfWork, actor: Actor, comment_id: str, action: str,
                     manager_may: bool = False) -> tuple[Activity, Level]:
        key = ascii_int(comment_id) if isinstance(comment_id, str) else None
        if key is None or not 0 <= key <= INT32_MAX:  # what the id column holds
            raise InvalidArgument(f"Invalid comment id {comment_id!r}.")
        found = uow.activities.find(key)
        if found is None or found[0].activity_type is not ActivityType.NEW_COMMENT:
            raise NotFound(f"Comment {comment_id} not found.")
        existing = found[0]
        level = authorization.require_workspace_model(uow.conn, actor, existing.model_name,
                                                      Level.CAN_READ, action)
        if existing.user_id != actor.name and not (manager_may and level >= Level.CAN_MANAGE):
            raise authorization.deny("Only the author of a comment may change it.", action,
                                     "registered_model", existing.model_name)
        return existing, level

    @staticmethod
    def _view(actor: Actor, level: Level, activity: Activity, current: Stage) -> Viewed:
        actions: list[str] = []
        if activity.activity_type is ActivityType.REQUESTED_TRANSITION and \
                activity.state == RequestState.OPEN.value:
            target = Stage(activity.to_stage)
            if level >= level_for_transition(current, target):
                actions += ["APPROVE_TRANSITION_REQUEST", "REJECT_TRANSITION_REQUEST"]
            if activity.user_id == actor.name or level >= Level.CAN_MANAGE:
                actions.append("CANCEL_TRANSITION_REQUEST")
        elif activity.activity_type is ActivityType.NEW_COMMENT:
            if activity.user_id == actor.name:
                actions.append("EDIT_COMMENT")
            if activity.user_id == actor.name or level >= Level.CAN_MANAGE:
                actions.append("DELETE_COMMENT")
        return Viewed(activity, tuple(actions))
