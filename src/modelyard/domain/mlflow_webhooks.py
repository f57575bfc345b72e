"""MLflow 3 webhooks as the pinned mlflow (3.17.2) defines them: the events (`entity.action`),
the statuses, the rules for a name and a URL, the payload MLflow's server builds for each
recorded change, and the signature a receiver verifies (mlflow/webhooks/delivery.py).

Pure: the service validates with these rules, the dispatcher builds payloads with them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from modelyard.domain.errors import InvalidArgument
from modelyard.domain.filters import PROMPT_TAG

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
#: MLflow's tags that mark a prompt; its prompt payloads leave them out.
_PROMPT_TYPE_TAG = "_mlflow_prompt_type"
_PROMPT_TEXT_TAG = "mlflow.prompt.text"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,61}[a-zA-Z0-9]$|^[a-zA-Z0-9]$")
MAX_DESCRIPTION = 1024


class MlflowEvent(StrEnum):
    """Every event mlflow/entities/webhook.py defines for the registry and prompts
    (`budget_policy.exceeded` belongs to MLflow's AI gateway, which Modelyard has not)."""

    REGISTERED_MODEL_CREATED = "registered_model.created"
    MODEL_VERSION_CREATED = "model_version.created"
    MODEL_VERSION_TAG_SET = "model_version_tag.set"
    MODEL_VERSION_TAG_DELETED = "model_version_tag.deleted"
    MODEL_VERSION_ALIAS_CREATED = "model_version_alias.created"
    MODEL_VERSION_ALIAS_DELETED = "model_version_alias.deleted"
    PROMPT_CREATED = "prompt.created"
    PROMPT_VERSION_CREATED = "prompt_version.created"
    PROMPT_TAG_SET = "prompt_tag.set"
    PROMPT_TAG_DELETED = "prompt_tag.deleted"
    PROMPT_VERSION_TAG_SET = "prompt_version_tag.set"
    PROMPT_VERSION_TAG_DELETED = "prompt_version_tag.deleted"
    PROMPT_ALIAS_CREATED = "prompt_alias.created"
    PROMPT_ALIAS_DELETED = "prompt_alias.deleted"

    @property
    def entity(self) -> str:
        return self.value.split(".")[0]

    @property
    def action(self) -> str:
        return self.value.split(".")[1]

    def wire(self) -> dict[str, str]:
        """As MLflow's JSON carries it: `{"entity": "MODEL_VERSION", "action": "CREATED"}`."""
        return {"entity": self.entity.upper(), "action": self.action.upper()}


def parse_event(raw: Any) -> MlflowEvent:
    """One event as the client sends it: `{"entity": "...", "action": "..."}` (proto enum
    names; lower case and `entity.action` strings are accepted too)."""
    if isinstance(raw, dict):
        entity, action = raw.get("entity"), raw.get("action")
        text = f"{str(entity).lower()}.{str(action).lower()}"
    else:
        text = str(raw).lower()
    if text.startswith("budget_policy."):
        raise InvalidArgument("Event 'budget_policy.exceeded' is not supported: Modelyard has "
                              "no AI gateway budget policies.")
    try:
        return MlflowEvent(text)
    except ValueError:
        raise InvalidArgument(
            f"Invalid webhook event {raw!r}; valid events are "
            f"{', '.join(e.value for e in MlflowEvent)}.") from None


def parse_events(raw: Any) -> tuple[MlflowEvent, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidArgument("Webhook events cannot be empty: give at least one event, e.g. "
                              "{'entity': 'MODEL_VERSION_ALIAS', 'action': 'CREATED'}.")
    parsed: list[MlflowEvent] = []
    for item in raw:
        event = parse_event(item)
        if event not in parsed:
            parsed.append(event)
    return tuple(parsed)


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"Webhook name {name!r} is invalid. It must start and end with a letter or digit, "
            "be less than 63 characters long, and contain only letters, digits, dots (.), "
            "underscores (_), and hyphens (-).")
    return name


def validate_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise InvalidArgument(f"Webhook description must be a string of at most "
                              f"{MAX_DESCRIPTION} characters.")
    return description


def _tags(raw: Any) -> dict[str, str]:
    return dict(raw) if isinstance(raw, dict) else {}


#: The recorded actions that can raise an MLflow webhook event.
TRIGGERING_ACTIONS = frozenset({
    "registered_model.create", "model_version.create", "model_version.set_tag",
    "model_version.delete_tag", "registered_model.set_alias", "registered_model.delete_alias",
    "registered_model.set_tag", "registered_model.delete_tag"})

#: Events whose prompt-ness is read from the model's tags (the change itself does not say).
NEEDS_MODEL_TAGS = frozenset({
    "model_version.set_tag", "model_version.delete_tag", "registered_model.set_alias",
    "registered_model.delete_alias", "registered_model.set_tag",
    "registered_model.delete_tag", "model_version.create"})


def candidates(action: str) -> frozenset[MlflowEvent]:
    """The events one recorded action may raise (the model's prompt tag picks one)."""
    return _CANDIDATES.get(action, frozenset())


E = MlflowEvent
_CANDIDATES = {
    "registered_model.create": frozenset({E.REGISTERED_MODEL_CREATED, E.PROMPT_CREATED}),
    "model_version.create": frozenset({E.MODEL_VERSION_CREATED, E.PROMPT_VERSION_CREATED}),
    "model_version.set_tag": frozenset({E.MODEL_VERSION_TAG_SET, E.PROMPT_VERSION_TAG_SET}),
    "model_version.delete_tag": frozenset({E.MODEL_VERSION_TAG_DELETED,
                                           E.PROMPT_VERSION_TAG_DELETED}),
    "registered_model.set_alias": frozenset({E.MODEL_VERSION_ALIAS_CREATED,
                                             E.PROMPT_ALIAS_CREATED}),
    "registered_model.delete_alias": frozenset({E.MODEL_VERSION_ALIAS_DELETED,
                                                E.PROMPT_ALIAS_DELETED}),
    "registered_model.set_tag": frozenset({E.PROMPT_TAG_SET}),
    "registered_model.delete_tag": frozenset({E.PROMPT_TAG_DELETED}),
}


def is_prompt_tags(tags: dict[str, Any]) -> bool:
    return str(tags.get(PROMPT_TAG, "false")).lower() == "true"


def occurrence(action: str, object_name: str, before: dict[str, Any] | None,
               after: dict[str, Any] | None, prompt: bool
               ) -> tuple[MlflowEvent, dict[str, Any]] | None:
    """The event and payload `data` MLflow's server sends for one recorded change (None: the
    change raises no MLflow event). `prompt`: whether the model is a prompt."""
    before, after = before or {}, after or {}
    if action == "registered_model.create":
        tags = _tags(after.get("tags"))
        if is_prompt_tags(tags):
            clean = {k: v for k, v in tags.items() if k not in (PROMPT_TAG, _PROMPT_TYPE_TAG)}
            return E.PROMPT_CREATED, {"name": object_name, "tags": clean,
                                      "description": after.get("description") or ""}
        return E.REGISTERED_MODEL_CREATED, {"name": object_name, "tags": tags,
                                            "description": after.get("description") or ""}
    if action in ("registered_model.set_alias", "registered_model.delete_alias"):
        alias = (after or before).get("alias")
        if action == "registered_model.set_alias":
            event = E.PROMPT_ALIAS_CREATED if prompt else E.MODEL_VERSION_ALIAS_CREATED
            return event, {"name": object_name, "alias": alias,
                           "version": str(after.get("version"))}
        event = E.PROMPT_ALIAS_DELETED if prompt else E.MODEL_VERSION_ALIAS_DELETED
        return event, {"name": object_name, "alias": alias}
    if action in ("registered_model.set_tag", "registered_model.delete_tag"):
        if not prompt:
            return None  # MLflow's server raises no event for a model's own tags
        if action == "registered_model.set_tag":
            return E.PROMPT_TAG_SET, {"name": object_name, "key": after.get("key"),
                                      "value": after.get("value")}
        return E.PROMPT_TAG_DELETED, {"name": object_name, "key": before.get("key")}
    if "/" not in object_name:
        return None
    name, version = object_name.rsplit("/", 1)
    if action == "model_version.create":
        tags = _tags(after.get("tags"))
        if prompt or is_prompt_tags(tags):
            template = tags.pop(_PROMPT_TEXT_TAG, None)
            tags.pop(PROMPT_TAG, None)
            tags.pop(_PROMPT_TYPE_TAG, None)
            return E.PROMPT_VERSION_CREATED, {
                "name": name, "version": version, "template": template, "tags": tags,
                "description": after.get("description") or None}
        return E.MODEL_VERSION_CREATED, {
            "name": name, "version": version, "source": after.get("source"),
            "run_id": after.get("run_id") or None, "tags": tags,
            "description": after.get("description") or None}
    if action == "model_version.set_tag":
        event = E.PROMPT_VERSION_TAG_SET if prompt else E.MODEL_VERSION_TAG_SET
        return event, {"name": name, "version": version, "key": after.get("key"),
                       "value": after.get("value")}
    if action == "model_version.delete_tag":
        event = E.PROMPT_VERSION_TAG_DELETED if prompt else E.MODEL_VERSION_TAG_DELETED
        return event, {"name": name, "version": version, "key": before.get("key")}
    return None


def body(event: MlflowEvent, data: dict[str, Any], at_ms: int) -> bytes:
    """The exact bytes MLflow posts: `json.dumps` of entity, action, an ISO time and the
    data (its default separators: a receiver verifying the signature hashes these bytes)."""
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC).isoformat()
    return json.dumps({"entity": event.entity, "action": event.action, "timestamp": stamp,
                       "data": data}).encode()


def sign(secret: str, delivery_id: str, timestamp: str, payload: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 of `delivery_id.timestamp.payload` (MLflow's scheme)."""
    signed = f"{delivery_id}.{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


#: The example each event's test call sends (mlflow/webhooks/types.py's examples).
_EXAMPLES: dict[MlflowEvent, dict[str, Any]] = {
    E.REGISTERED_MODEL_CREATED: {"name": "example_model",
                                 "tags": {"example_key": "example_value"},
                                 "description": "An example registered model"},
    E.MODEL_VERSION_CREATED: {"name": "example_model", "version": "1",
                              "source": "models:/123", "run_id": "abcd1234abcd5678",
                              "tags": {"example_key": "example_value"},
                              "description": "An example model version"},
    E.MODEL_VERSION_TAG_SET: {"name": "example_model", "version": "1", "key": "example_key",
                              "value": "example_value"},
    E.MODEL_VERSION_TAG_DELETED: {"name": "example_model", "version": "1",
                                  "key": "example_key"},
    E.MODEL_VERSION_ALIAS_CREATED: {"name": "example_model", "alias": "example_alias",
                                    "version": "1"},
    E.MODEL_VERSION_ALIAS_DELETED: {"name": "example_model", "alias": "example_alias"},
    E.PROMPT_CREATED: {"name": "example_prompt", "tags": {"example_key": "example_value"},
                       "description": "An example prompt"},
    E.PROMPT_VERSION_CREATED: {"name": "example_prompt", "version": "1",
                               "template": "Hello {{name}}!",
                               "tags": {"example_key": "example_value"},
                               "description": "An example prompt version"},
    E.PROMPT_TAG_SET: {"name": "example_prompt", "key": "example_key",
                       "value": "example_value"},
    E.PROMPT_TAG_DELETED: {"name": "example_prompt", "key": "example_key"},
    E.PROMPT_VERSION_TAG_SET: {"name": "example_prompt", "version": "1",
                               "key": "example_key", "value": "example_value"},
    E.PROMPT_VERSION_TAG_DELETED: {"name": "example_prompt", "version": "1",
                                   "key": "example_key"},
    E.PROMPT_ALIAS_CREATED: {"name": "example_prompt", "alias": "example_alias",
                             "version": "1"},
    E.PROMPT_ALIAS_DELETED: {"name": "example_prompt", "alias": "example_alias"},
}


def example(event: MlflowEvent) -> dict[str, Any]:
    return dict(_EXAMPLES[event])
