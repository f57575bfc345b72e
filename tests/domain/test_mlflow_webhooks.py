"""MLflow's webhook events, payloads and signature, against the pinned mlflow's own code."""

from __future__ import annotations

import json

import pytest
from mlflow.entities.webhook import WebhookEvent as MlflowsEvent
from mlflow.webhooks.delivery import _generate_hmac_signature
from mlflow.webhooks.types import get_example_payload_for_event

from modelyard.domain import mlflow_webhooks as mw
from modelyard.domain.errors import InvalidArgument


def test_every_registry_and_prompt_event_of_mlflow_is_known() -> None:
    from mlflow.entities.webhook import VALID_ENTITY_ACTIONS

    theirs = {f"{entity.value}.{action.value}" for entity, actions in VALID_ENTITY_ACTIONS.items()
              for action in actions if entity.value != "budget_policy"}
    assert theirs == {e.value for e in mw.MlflowEvent}
    for event in mw.MlflowEvent:
        assert mw.example(event) == get_example_payload_for_event(
            MlflowsEvent.from_str(event.value))  # type: ignore[arg-type]


def test_signature_is_mlflows() -> None:
    body = mw.body(mw.MlflowEvent.MODEL_VERSION_ALIAS_CREATED,
                   {"name": "m", "alias": "a", "version": "1"}, 1_700_000_000_000)
    assert mw.sign("k", "id-1", "1700000000", body) == _generate_hmac_signature(
        "k", "id-1", "1700000000", body.decode())
    assert json.loads(body)["timestamp"].startswith("2023-11-14T22:13:20")


def test_occurrences() -> None:
    assert mw.occurrence("registered_model.set_alias", "m", None,
                         {"alias": "champion", "version": 3}, prompt=False) == (
        mw.MlflowEvent.MODEL_VERSION_ALIAS_CREATED,
        {"name": "m", "alias": "champion", "version": "3"})
    assert mw.occurrence("registered_model.delete_alias", "p", {"alias": "x", "version": 1},
                         None, prompt=True) == (mw.MlflowEvent.PROMPT_ALIAS_DELETED,
                                                {"name": "p", "alias": "x"})
    assert mw.occurrence("registered_model.set_tag", "m", None, {"key": "k", "value": "v"},
                         prompt=False) is None
    created = mw.occurrence("registered_model.create", "p", None,
                            {"tags": {"mlflow.prompt.is_prompt": "true", "team": "x"},
                             "description": ""}, prompt=False)
    assert created == (mw.MlflowEvent.PROMPT_CREATED,
                       {"name": "p", "tags": {"team": "x"}, "description": ""})
    version = mw.occurrence("model_version.create", "p/2", None,
                            {"tags": {"mlflow.prompt.text": "Hi {{x}}",
                                      "mlflow.prompt.is_prompt": "true"}, "source": "s"},
                            prompt=True)
    assert version == (mw.MlflowEvent.PROMPT_VERSION_CREATED,
                       {"name": "p", "version": "2", "template": "Hi {{x}}", "tags": {},
                        "description": None})


def test_parse_events() -> None:
    assert mw.parse_events([{"entity": "MODEL_VERSION_TAG", "action": "SET"}]) == (
        mw.MlflowEvent.MODEL_VERSION_TAG_SET,)
    for bad in ([], [{"entity": "MODEL_VERSION", "action": "DELETED"}],
                [{"entity": "BUDGET_POLICY", "action": "EXCEEDED"}]):
        with pytest.raises(InvalidArgument):
            mw.parse_events(bad)
