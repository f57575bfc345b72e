"""Registry webhooks as Databricks' workspace Model Registry defines them: the events a webhook
can listen for, its statuses, the rules for creating one, and the payload each event sends.

Pure: the service validates with these rules, the dispatcher builds payloads with them.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from modelyard.domain.errors import InvalidArgument
from modelyard.domain.stages import Stage

MAX_DESCRIPTION = 1024
MAX_URL = 2048
MAX_HEADER = 4096


class WebhookEvent(StrEnum):
    MODEL_VERSION_CREATED = "MODEL_VERSION_CREATED"
    MODEL_VERSION_TRANSITIONED_STAGE = "MODEL_VERSION_TRANSITIONED_STAGE"
    TRANSITION_REQUEST_CREATED = "TRANSITION_REQUEST_CREATED"
    COMMENT_CREATED = "COMMENT_CREATED"
    REGISTERED_MODEL_CREATED = "REGISTERED_MODEL_CREATED"
    MODEL_VERSION_TAG_SET = "MODEL_VERSION_TAG_SET"
    MODEL_VERSION_TRANSITIONED_TO_STAGING = "MODEL_VERSION_TRANSITIONED_TO_STAGING"
    MODEL_VERSION_TRANSITIONED_TO_PRODUCTION = "MODEL_VERSION_TRANSITIONED_TO_PRODUCTION"
    MODEL_VERSION_TRANSITIONED_TO_ARCHIVED = "MODEL_VERSION_TRANSITIONED_TO_ARCHIVED"
    TRANSITION_REQUEST_TO_STAGING_CREATED = "TRANSITION_REQUEST_TO_STAGING_CREATED"
    TRANSITION_REQUEST_TO_PRODUCTION_CREATED = "TRANSITION_REQUEST_TO_PRODUCTION_CREATED"
    TRANSITION_REQUEST_TO_ARCHIVED_CREATED = "TRANSITION_REQUEST_TO_ARCHIVED_CREATED"


class Dialect(StrEnum):
    """The API a webhook was created through: it decides its events, payloads and headers."""

    DATABRICKS = "databricks"  # /api/2.0/mlflow/registry-webhooks (X-Databricks-Signature)
    MLFLOW = "mlflow"  # /api/2.0/mlflow/webhooks (X-MLflow-Signature)


class WebhookStatus(StrEnum):
    ACTIVE = "ACTIVE"  # fires on real events
    TEST_MODE = "TEST_MODE"  # fires only through the test call
    DISABLED = "DISABLED"


#: The stage-specific events, by the stage a version moves (or is requested to move) to.
_TRANSITIONED_TO = {Stage.STAGING: WebhookEvent.MODEL_VERSION_TRANSITIONED_TO_STAGING,
                    Stage.PRODUCTION: WebhookEvent.MODEL_VERSION_TRANSITIONED_TO_PRODUCTION,
                    Stage.ARCHIVED: WebhookEvent.MODEL_VERSION_TRANSITIONED_TO_ARCHIVED}
_REQUESTED_TO = {Stage.STAGING: WebhookEvent.TRANSITION_REQUEST_TO_STAGING_CREATED,
                 Stage.PRODUCTION: WebhookEvent.TRANSITION_REQUEST_TO_PRODUCTION_CREATED,
                 Stage.ARCHIVED: WebhookEvent.TRANSITION_REQUEST_TO_ARCHIVED_CREATED}


@dataclass(frozen=True, slots=True)
class HttpTarget:
    """Where and how to POST. `secret` and `authorization` are write-only: never rendered."""

    url: str
    secret: str | None = None
    authorization: str | None = None
    enable_ssl_verification: bool = True


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    model_name: str | None  # None: registry-wide
    #: WebhookEvent for Databricks' webhooks, mlflow_webhooks.MlflowEvent for MLflow's.
    events: tuple[StrEnum, ...]
    status: WebhookStatus
    description: str
    target: HttpTarget
    creation_timestamp: int
    last_updated_timestamp: int
    #: The outcome of the last delivery attempt, so users can see failures.
    last_delivery_timestamp: int | None = None
    last_delivery_status_code: int | None = None
    last_delivery_error: str | None = None
    dialect: Dialect = Dialect.DATABRICKS
    name: str | None = None  # MLflow's webhook name


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One webhook event happening to one model: what `matches` and `payload` need."""

    event: WebhookEvent
    model_name: str
    fields: dict[str, Any]  # the payload's event-specific fields (version, stages, text …)


def parse_events(raw: Any, registry_wide: bool) -> tuple[WebhookEvent, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidArgument("Missing value for required parameter 'events': a webhook needs "
                              "at least one event.")
    parsed: list[WebhookEvent] = []
    for item in raw:
        try:
            event = WebhookEvent(item)
        except ValueError:
            raise InvalidArgument(f"Invalid webhook event {item!r}; valid events are "
                                  f"{', '.join(e.value for e in WebhookEvent)}.") from None
        if event not in parsed:
            parsed.append(event)
    if not registry_wide and WebhookEvent.REGISTERED_MODEL_CREATED in parsed:
        raise InvalidArgument("REGISTERED_MODEL_CREATED can only be used by a registry-wide "
                              "webhook (one created without 'model_name').")
    return tuple(parsed)


def parse_status(raw: Any) -> WebhookStatus:
    try:
        return WebhookStatus(raw)
    except ValueError:
        raise InvalidArgument(f"Invalid webhook status {raw!r}; valid statuses are ACTIVE, "
                              f"TEST_MODE and DISABLED.") from None


def validate_description(description: str | None) -> str:
    description = description or ""
    if len(description) > MAX_DESCRIPTION:
        raise InvalidArgument(f"Webhook description is longer than {MAX_DESCRIPTION} "
                              f"characters.")
    return description


def parse_http_spec(raw: Any) -> HttpTarget:
    if not isinstance(raw, dict):
        raise InvalidArgument("'http_url_spec' must be an object with a 'url'.")
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        raise InvalidArgument("Missing value for required parameter 'http_url_spec.url'.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        raise InvalidArgument("'http_url_spec.url' must be an http:// or https:// URL.")
    secret, authorization = raw.get("secret"), raw.get("authorization")
    for name, value in (("secret", secret), ("authorization", authorization)):
        if value is not None and (not isinstance(value, str) or len(value) > MAX_HEADER):
            raise InvalidArgument(f"'http_url_spec.{name}' must be a string of at most "
                                  f"{MAX_HEADER} characters.")
    if authorization is not None and any(c in authorization for c in "\r\n"):
        raise InvalidArgument("'http_url_spec.authorization' must be a single header line.")
    verify = raw.get("enable_ssl_verification", True)
    if not isinstance(verify, bool):
        raise InvalidArgument("'http_url_spec.enable_ssl_verification' must be a boolean.")
    # An empty string means "send no Authorization header" (as databricks-sdk documents).
    return HttpTarget(url, secret or None, authorization or None, verify)


def matches(webhook: Webhook, occurrence: Occurrence) -> bool:
    return (webhook.dialect is Dialect.DATABRICKS and occurrence.event in webhook.events
            and (webhook.model_name is None or webhook.model_name == occurrence.model_name))


def payload(webhook_id: str, occurrence: Occurrence, timestamp: int) -> dict[str, Any]:
    """The JSON body Databricks posts: event, webhook_id, event_timestamp, model_name and the
    event's own fields (version, to_stage, from_stage, comment, tags, text)."""
    return {"event": occurrence.event.value, "webhook_id": webhook_id,
            "event_timestamp": timestamp, "model_name": occurrence.model_name,
            **occurrence.fields}


def _general_and_specific(general: WebhookEvent, by_stage: dict[Stage, WebhookEvent],
                          name: str, fields: dict[str, Any]) -> list[Occurrence]:
    """A stage event fires its general form and, for Staging/Production/Archived, the form
    naming the stage (…_TO_PRODUCTION), with the same payload fields."""
    found = [Occurrence(general, name, fields)]
    with suppress(KeyError, ValueError):  # to None, or a stage we do not know
        found.append(Occurrence(by_stage[Stage(fields["to_stage"])], name, fields))
    return found


def occurrences(action: str, object_name: str, before: dict[str, Any] | None,
                after: dict[str, Any] | None, user: str) -> list[Occurrence]:
    """The webhook events one recorded workspace-registry change raises (none for most)."""
    before, after = before or {}, after or {}
    if action == "registered_model.create":
        return [Occurrence(WebhookEvent.REGISTERED_MODEL_CREATED, object_name,
                           {"text": f"Registered model '{object_name}' was created by "
                                    f"{user}."})]
    if "/" not in object_name:
        return []
    name, version = object_name.rsplit("/", 1)
    if action == "model_version.create":
        return [Occurrence(WebhookEvent.MODEL_VERSION_CREATED, name, {
            "version": version,
            "text": f"A new version {version} of registered model '{name}' was created by "
                    f"{user}."})]
    if action in ("model_version.transition_stage", "transition_request.approve"):
        from_stage, to_stage = before.get("stage"), after.get("stage")
        fields = {"version": version, "to_stage": to_stage, "from_stage": from_stage,
                  "text": f"Registered model '{name}' version {version} transitioned from "
                          f"{from_stage} to {to_stage}."}
        return _general_and_specific(WebhookEvent.MODEL_VERSION_TRANSITIONED_STAGE,
                                     _TRANSITIONED_TO, name, fields)
    if action == "transition_request.create":
        to_stage = after.get("to_stage")
        fields = {"version": version, "to_stage": to_stage,
                  **({"from_stage": after["from_stage"]} if "from_stage" in after else {}),
                  "text": f"{user} requested a transition of registered model '{name}' "
                          f"version {version} to {to_stage}."}
        return _general_and_specific(WebhookEvent.TRANSITION_REQUEST_CREATED, _REQUESTED_TO,
                                     name, fields)
    if action == "comment.create":
        return [Occurrence(WebhookEvent.COMMENT_CREATED, name, {
            "version": version, "comment": after.get("comment", ""),
            "text": f"{user} commented on registered model '{name}' version {version}."})]
    if action == "alias_request.comment":
        # Databricks' registry webhooks have no alias events (Unity Catalog, where aliases
        # live there, has no webhooks); a comment on an alias request is a comment on the
        # version, so it fires what a version comment fires.
        return [Occurrence(WebhookEvent.COMMENT_CREATED, name, {
            "version": version, "comment": after.get("comment", ""),
            "text": f"{user} commented on the request {after.get('id')} to move alias "
                    f"'{after.get('alias')}' of registered model '{name}' to version "
                    f"{version}."})]
    if action == "model_version.set_tag":
        key, value = after.get("key"), after.get("value")
        return [Occurrence(WebhookEvent.MODEL_VERSION_TAG_SET, name, {
            "version": version, "tags": [{"key": key, "value": value}],
            "text": f"{user} set version tag '{key}' => '{value}' for registered model "
                    f"'{name}' version {version}."})]
    return []


#: The recorded actions that can raise a webhook event: anything else skips the dispatcher.
TRIGGERING_ACTIONS = frozenset({
    "registered_model.create", "model_version.create", "model_version.transition_stage",
    "transition_request.approve", "transition_request.create", "comment.create",
    "model_version.set_tag", "alias_request.comment"})


def test_occurrence(webhook: Webhook, event: WebhookEvent) -> Occurrence:
    """The mock event the test call sends."""
    name = webhook.model_name or "modelyard-test-model"
    fields: dict[str, Any] = {"version": "1"}
    if "TRANSITION" in event.value:
        fields.update(to_stage="Production", from_stage="Staging")
    if event is WebhookEvent.COMMENT_CREATED:
        fields["comment"] = "This is a test comment."
    if event is WebhookEvent.MODEL_VERSION_TAG_SET:
        fields["tags"] = [{"key": "test-key", "value": "test-value"}]
    if event is WebhookEvent.REGISTERED_MODEL_CREATED:
        fields.pop("version")
    fields["text"] = f"This is a test {event.value} event from Modelyard for webhook " \
                     f"{webhook.id}."
    return Occurrence(event, name, fields)
