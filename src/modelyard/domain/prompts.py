"""MLflow prompts: registered models marked by a tag, and the tags MLflow keeps for itself.

A prompt is a workspace-registry model whose `mlflow.prompt.is_prompt` tag is 'true' (its
versions carry the tag too, and the template in `mlflow.prompt.text`). MLflow's own pages list
prompts apart from models and never show its bookkeeping tags; so do Modelyard's.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelyard.domain.filters import PROMPT_TAG

TEXT_TAG = "mlflow.prompt.text"
#: Tags mlflow writes for itself (`_mlflow_prompt_type`, `_mlflow_experiment_ids`, …).
INTERNAL_PREFIX = "_mlflow_"
_IS_PROMPT_CLAUSE = f"tags.`{PROMPT_TAG}` = 'true'"
_NOT_PROMPT_CLAUSE = f"tags.`{PROMPT_TAG}` != 'true'"


def is_prompt(tags: Mapping[str, str]) -> bool:
    return str(tags.get(PROMPT_TAG, "false")).lower() == "true"


def shown_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a person set: without the prompt marker, the template (shown on its own) and
    mlflow's `_mlflow_*` bookkeeping."""
    return {key: value for key, value in tags.items()
            if key not in (PROMPT_TAG, TEXT_TAG) and not key.startswith(INTERNAL_PREFIX)}


def _and(clause: str, filter_string: str | None) -> str:
    return f"{clause} AND {filter_string}" if filter_string and filter_string.strip() else clause


def prompts_only(filter_string: str | None = None) -> str:
    """A registry filter for prompts (models or versions) that also satisfy `filter_string`."""
    return _and(_IS_PROMPT_CLAUSE, filter_string)


def models_only(filter_string: str | None = None) -> str:
    """A registry filter for models that are not prompts and satisfy `filter_string`."""
    return _and(_NOT_PROMPT_CLAUSE, filter_string)
