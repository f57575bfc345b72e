"""Prompts in Unity Catalog, as mlflow's `databricks-uc` registry calls them
(`/api/2.0/mlflow/unity-catalog/prompts…`).

A UC prompt is a UC registered model tagged `mlflow.prompt.is_prompt` (as MLflow's own server
keeps workspace prompts), and a prompt version a version of it that is READY at once and holds
its template in the tag `mlflow.prompt.text`: catalogs, schemas, privileges, aliases, tags,
version numbers and the audit trail are those of models, through UcModelService. Model lists
leave prompts out; prompt calls refuse a name that is a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.domain.catalog import UcModel, UcVersion, full_model_name, validate_name
from modelyard.domain.entities import Alias, Page
from modelyard.domain.errors import AlreadyExists, InvalidArgument, NotFound
from modelyard.domain.filters import PROMPT_TAG
from modelyard.services.context import Actor
from modelyard.services.uc_models import UcModelService

#: Where a prompt version keeps its template (the key MLflow's workspace prompts use).
TEMPLATE_TAG = "mlflow.prompt.text"
#: Tags that are Modelyard's bookkeeping, not the user's.
INTERNAL_TAGS = frozenset({PROMPT_TAG, TEMPLATE_TAG})


class PromptNotFound(NotFound):
    pass


class PromptAlreadyExists(AlreadyExists):
    pass


@dataclass(frozen=True, slots=True)
class Prompt:
    full_name: str
    description: str
    created_at: int
    updated_at: int
    tags: dict[str, str]
    aliases: tuple[Alias, ...]


@dataclass(frozen=True, slots=True)
class PromptVersion:
    full_name: str
    version: int
    template: str
    description: str
    created_at: int
    updated_at: int
    tags: dict[str, str]
    aliases: tuple[str, ...]


def _prompt(model: UcModel) -> Prompt:
    return Prompt(model.full_name, model.comment, model.audit.created_at,
                  model.audit.updated_at,
                  {k: v for k, v in model.tags.items() if k not in INTERNAL_TAGS},
                  model.aliases)


def _prompt_version(version: UcVersion) -> PromptVersion:
    return PromptVersion(version.full_name, version.version,
                         version.tags.get(TEMPLATE_TAG, ""), version.comment,
                         version.audit.created_at, version.audit.updated_at,
                         {k: v for k, v in version.tags.items() if k not in INTERNAL_TAGS},
                         version.aliases)


def _user_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    tags = dict(tags or {})
    if INTERNAL_TAGS & tags.keys():
        raise InvalidArgument(f"Tags {', '.join(sorted(INTERNAL_TAGS))} are reserved.")
    return tags


class UcPromptService:
    def __init__(self, models: UcModelService) -> None:
        self.models = models

    # ---- prompts --------------------------------------------------------------------------

    def _model(self, actor: Actor, name: str) -> UcModel:
        """The prompt's model; a model that is not a prompt answers as a missing prompt."""
        model = self.models.get_model(actor, name)
        if model.tags.get(PROMPT_TAG) != "true":
            raise PromptNotFound(f"Prompt not found: {model.full_name} (it is a model).")
        return model

    def create(self, actor: Actor, name: str, description: str | None,
               tags: Mapping[str, str] | None) -> Prompt:
        catalog, schema, leaf = full_model_name(name).split(".")
        try:
            model = self.models.create_model(actor, catalog, schema, leaf, description,
                                             {**_user_tags(tags), PROMPT_TAG: "true"})
        except AlreadyExists as error:
            raise PromptAlreadyExists(error.message.replace("Registered model", "Prompt")
                                      ) from None
        return _prompt(model)

    def get(self, actor: Actor, name: str) -> Prompt:
        return _prompt(self._model(actor, name))

    def update(self, actor: Actor, name: str, description: str | None) -> Prompt:
        self._model(actor, name)
        return _prompt(self.models.update_model(actor, name, comment=description))

    def delete(self, actor: Actor, name: str) -> None:
        self._model(actor, name)
        self.models.delete_model(actor, name)

    def search(self, actor: Actor, catalog_name: str, schema_name: str,
               max_results: int | None = None, page_token: str | None = None) -> Page[Prompt]:
        page = self.models.list_models(actor, validate_name(catalog_name, "catalog_name"),
                                       validate_name(schema_name, "schema_name"), max_results,
                                       page_token, prompts=True)
        return Page([_prompt(m) for m in page.items], page.next_page_token)

    def set_tag(self, actor: Actor, name: str, key: str, value: str) -> None:
        self._model(actor, name)
        self.models.set_model_tag(actor, name, *_user_tags({key: value}).popitem())

    def delete_tag(self, actor: Actor, name: str, key: str) -> None:
        self._model(actor, name)
        _user_tags({key: ""})
        self.models.delete_model_tag(actor, name, key)

    # ---- versions -------------------------------------------------------------------------

    def _version(self, actor: Actor, name: str, version: int | str) -> UcVersion:
        found = self.models.get_version(actor, name, version)
        if found.tags.get(PROMPT_TAG) != "true":
            raise PromptNotFound(f"Prompt version not found: {found.full_name}/{found.version}")
        return found

    def create_version(self, actor: Actor, name: str, template: str,
                       description: str | None, tags: Mapping[str, str] | None
                       ) -> PromptVersion:
        if not template:
            raise InvalidArgument("A prompt version needs a template.")
        if self.models.get_model(actor, name).tags.get(PROMPT_TAG) != "true":
            raise InvalidArgument(
                f"A model named {full_model_name(name)} exists: a prompt cannot have the name "
                "of a model. Choose another name for the prompt.")
        created = self.models.create_ready_version(
            actor, name, description,
            {**_user_tags(tags), PROMPT_TAG: "true", TEMPLATE_TAG: template}, "prompts")
        return _prompt_version(created)

    def get_version(self, actor: Actor, name: str, version: int | str) -> PromptVersion:
        return _prompt_version(self._version(actor, name, version))

    def get_version_by_alias(self, actor: Actor, name: str, alias: str) -> PromptVersion:
        found = self.models.get_version_by_alias(actor, name, alias)
        if found.tags.get(PROMPT_TAG) != "true":
            raise PromptNotFound(f"Prompt not found: {found.full_name}")
        return _prompt_version(found)

    def search_versions(self, actor: Actor, name: str, max_results: int | None = None,
                        page_token: str | None = None) -> Page[PromptVersion]:
        self._model(actor, name)
        page = self.models.list_versions(actor, name, max_results, page_token)
        return Page([_prompt_version(v) for v in page.items], page.next_page_token)

    def update_version(self, actor: Actor, name: str, version: int | str,
                       description: str | None) -> PromptVersion:
        self._version(actor, name, version)
        return _prompt_version(self.models.update_version(actor, name, version, description))

    def delete_version(self, actor: Actor, name: str, version: int | str) -> None:
        self._version(actor, name, version)
        self.models.delete_version(actor, name, version)

    def set_version_tag(self, actor: Actor, name: str, version: int | str, key: str,
                        value: str) -> None:
        self._version(actor, name, version)
        self.models.set_version_tag(actor, name, version, *_user_tags({key: value}).popitem())

    def delete_version_tag(self, actor: Actor, name: str, version: int | str,
                           key: str) -> None:
        self._version(actor, name, version)
        _user_tags({key: ""})
        self.models.delete_version_tag(actor, name, version, key)

    # ---- aliases and links ----------------------------------------------------------------

    def set_alias(self, actor: Actor, name: str, alias: str, version: int | str) -> None:
        self._version(actor, name, version)
        self.models.set_alias(actor, name, alias, version)

    def delete_alias(self, actor: Actor, name: str, alias: str) -> None:
        self._model(actor, name)
        self.models.delete_alias(actor, name, alias)

    def link(self, actor: Actor, versions: list[tuple[str, str]], kind: str,
             ids: list[str]) -> None:
        """Record that prompt versions were used by logged models, runs or traces (`kind`):
        kept with each version's lineage (UcModelService.emit_lineage), as the reports of
        what used it."""
        if kind not in ("model", "run", "trace"):
            raise InvalidArgument(f"Unknown link kind {kind!r}.")
        if not ids or not all(isinstance(i, str) and i for i in ids):
            raise InvalidArgument(f"Give at least one {kind} id to link to.")
        for name, version in versions:
            self._version(actor, name, version)
            report: dict[str, Any] = {"direction": "DOWNSTREAM",
                                      "entities": [{kind: {"id": i}} for i in sorted(ids)]}
            self.models.emit_lineage(actor, name, version, report)
