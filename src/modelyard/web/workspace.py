"""Pages and forms for the workspace registry: explorer, model, version, compare."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modelyard.domain import prompts
from modelyard.domain.access import Level, level_for_transition
from modelyard.domain.entities import ModelVersion
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.stages import Stage
from modelyard.services.context import Actor
from modelyard.services.tracking import NOT_CONFIGURED
from modelyard.web import snippets
from modelyard.web.activity import model_events
from modelyard.web.governance import alias_request_action, alias_requests
from modelyard.web.handlers import (
    MetadataCalls,
    back_to,
    json_ok,
    metadata_action,
    model_url,
    version_url,
    web,
    web_json,
)
from modelyard.web.history import model_history, version_history, with_reason
from modelyard.web.render import page
from modelyard.web.runs import missing_notes, model_info, run_rows, signature_rows
from modelyard.web.session import form

PAGE_SIZE = 50
UC_MATCHES = 20
VERSIONS_PAGE = 100
#: The explorer's sort choices, as the registry's own order_by strings.
SORTS = {
    "name": ("Name A to Z", ["name ASC"]),
    "-name": ("Name Z to A", ["name DESC"]),
    "-updated": ("Recently updated", ["last_updated_timestamp DESC"]),
    "updated": ("Least recently updated", ["last_updated_timestamp ASC"]),
}
STAGES = [stage.value for stage in Stage]


def _services(request: Request) -> Any:
    return request.app.state


@web
async def explorer(request: Request, actor: Actor) -> Response:
    query = request.query_params.get("q", "").strip()
    sort = request.query_params.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    # The MLflow filter language, for what one search box cannot say (tags.team = 'risk').
    where = request.query_params.get("filter", "").strip()
    token = request.query_params.get("page") or None
    # Prompts have a list of their own (/prompts), as in MLflow's UI.
    found = _services(request).registry.search_registered_models(
        actor, filter_string=prompts.models_only(where), max_results=PAGE_SIZE,
        order_by=SORTS[sort][1], page_token=token, text=query)
    # Unity Catalog models matching the same words, on the first page only (their own
    # paging lives in the catalog explorer).
    uc_models = []
    if query and token is None and not where:
        uc_models = _services(request).uc_models.search_models(actor, query, UC_MATCHES).items
    return page(request, "explorer.html", models=found.items, next_token=found.next_page_token,
                uc_models=uc_models, query=query, where=where, sort=sort, sorts=SORTS,
                first_page=token is None, section="workspace")


@web
async def prompts_page(request: Request, actor: Actor) -> Response:
    """MLflow prompts (`mlflow.genai.register_prompt`), apart from the models."""
    query = request.query_params.get("q", "").strip()
    token = request.query_params.get("page") or None
    found = _services(request).registry.search_registered_models(
        actor, filter_string=prompts.prompts_only(), max_results=PAGE_SIZE,
        order_by=SORTS["name"][1], page_token=token, text=query)
    return page(request, "prompts.html", prompts=found.items, next_token=found.next_page_token,
                query=query, first_page=token is None, section="prompts")


def _model_context(request: Request, actor: Actor, name: str) -> dict[str, Any]:
    state = _services(request)
    model, object_id, level = state.transitions.get_model_with_level(actor, name)
    token = request.query_params.get("page") or None
    is_prompt = prompts.is_prompt(model.tags)
    by_name = f"name = '{_quoted(name)}'"
    versions = state.registry.search_model_versions(
        actor, filter_string=prompts.prompts_only(by_name) if is_prompt else by_name,
        max_results=VERSIONS_PAGE, order_by=["version_number DESC"], page_token=token)
    return {"model": model, "object_id": object_id, "level": level, "Level": Level,
            "alias_map": {a.alias: a.version for a in model.aliases},
            "versions": versions.items, "next_token": versions.next_page_token,
            "first_page": token is None, "is_prompt": is_prompt,
            "section": "prompts" if is_prompt else "workspace",
            "run_url": state.tracking.run_url}


def _quoted(value: str) -> str:
    return value.replace("'", "''")


@web
async def model_page(request: Request, actor: Actor) -> Response:
    name = request.path_params["name"]
    context = _model_context(request, actor, name)
    tab = request.query_params.get("tab", "overview")
    state = _services(request)
    if tab == "permissions":
        context["permissions"] = state.workspace_permissions.get(actor, str(context["object_id"]))
        context["levels"] = [lv.name for lv in Level if lv is not Level.NONE]
    elif tab == "activity":
        context["events"] = model_events(state, actor, name)
    elif tab == "history":
        context.update(model_history(state, actor, name, "workspace"))
    else:
        tab = "overview"
        context["alias_requests"] = alias_requests(state, actor, name)
    return page(request, "model.html", tab=tab, **context)


@web_json
async def alias_check(request: Request, actor: Actor) -> Response:
    """Whether the version can carry the alias, before the page asks to confirm a move."""
    query = request.query_params
    _services(request).registry.check_alias_target(actor, request.path_params["name"],
                                                   query.get("alias", "").strip(),
                                                   query.get("version", "").strip())
    return json_ok()


@web
async def version_page(request: Request, actor: Actor) -> Response:
    state = _services(request)
    name, number = request.path_params["name"], request.path_params["version"]
    version, level, _ = state.transitions.version_with_level(actor, name, number)
    model = state.registry.get_registered_model(actor, name)
    tracking = state.tracking
    server = snippets.server_url(str(request.base_url))
    auth = request.app.state.settings.auth
    if prompts.is_prompt(model.tags):
        uri = _load_uri("prompts", name, version)
        return page(request, "prompt_version.html", model=model, version=version, level=level,
                    Level=Level, load_uri=uri, section="prompts",
                    template_text=version.tags.get(prompts.TEXT_TAG, ""),
                    snippet=snippets.prompt(uri, server, auth))
    activities = state.transitions.list_activities(actor, name, number)
    current = Stage(version.current_stage)
    allowed = [stage for stage in STAGES if stage != current.value
               and level >= level_for_transition(current, Stage(stage))]
    lookup, found = await asyncio.gather(tracking.run(version.run_id, version.logged_model_id,
                                                      version.source),
                                         tracking.model_files(version.source, version.run_id))
    uri = _load_uri("models", name, version)
    requests = [r for r in alias_requests(state, actor, name)
                if str(r.version) == str(version.version)]
    return page(request, "version.html", model=model, version=version, level=level,
                Level=Level, activities=activities, allowed=allowed, stages=STAGES,
                history=version_history(state, actor, name, "workspace", version.version),
                alias_requests=requests,
                load_uri=uri, lookup=lookup, found=found, info=model_info(found),
                tracking_missing="" if tracking.configured else NOT_CONFIGURED,
                run_url=tracking.run_url(version.run_id or (lookup.run.run_id if lookup.run
                                                            else None)),
                snippet=snippets.workspace(uri, server, version.source, tracking.url, auth),
                section="workspace")


def _load_uri(scheme: str, name: str, version: ModelVersion) -> str:
    if version.aliases:
        return f"{scheme}:/{name}@{version.aliases[0]}"
    return f"{scheme}:/{name}/{version.version}"


@web
async def compare_page(request: Request, actor: Actor) -> Response:
    state = _services(request)
    name = request.path_params["name"]
    wanted = [v for v in request.query_params.getlist("v") if v.strip()]
    if len(wanted) < 2:
        raise InvalidArgument("Pick two or more versions to compare.")
    model = state.registry.get_registered_model(actor, name)
    versions = sorted((state.registry.get_model_version(actor, name, v)
                       for v in dict.fromkeys(wanted)), key=lambda v: v.version)
    tag_keys = sorted({key for v in versions for key in prompts.shown_tags(v.tags)})
    lookups, found = await asyncio.gather(
        state.tracking.runs((v.run_id, v.logged_model_id, v.source) for v in versions),
        asyncio.gather(*(state.tracking.model_files(v.source, v.run_id) for v in versions)))
    numbers = [str(v.version) for v in versions]
    notes = [*missing_notes(numbers, [lookup.reason for lookup in lookups]),
             *missing_notes(numbers, [files.reason for files in found])]
    rows = [
        ("Status", [v.status for v in versions]),
        ("Stage", [v.current_stage for v in versions]),
        ("Aliases", [", ".join(v.aliases) for v in versions]),
        ("Source", [v.source for v in versions]),
        ("Run id", [v.run_id for v in versions]),
        ("Model id", [v.logged_model_id for v in versions]),
        ("Created by", [v.user_id for v in versions]),
        ("Description", [v.description for v in versions]),
        *signature_rows([model_info(files) for files in found]),
        *run_rows(lookups),
        *((f"tag: {key}", [v.tags.get(key, "") for v in versions]) for key in tag_keys),
    ]
    return page(request, "compare.html", model=model, versions=versions,
                rows=[(label, values, len(set(values)) > 1) for label, values in rows],
                notes=list(dict.fromkeys(notes)), section="workspace")


# ---- forms ----------------------------------------------------------------------------------

@web
async def model_action(request: Request, actor: Actor) -> Response:
    state = _services(request)
    name, action = request.path_params["name"], request.path_params["action"]
    data = await form(request)
    actor = with_reason(actor, data)
    registry = state.registry
    done = metadata_action(action, data, MetadataCalls(
        describe=lambda text: registry.update_registered_model(actor, name, text),
        set_tag=lambda key, value: registry.set_registered_model_tag(actor, name, key, value),
        delete_tag=lambda key: registry.delete_registered_model_tag(actor, name, key),
        set_alias=lambda alias, version: registry.set_registered_model_alias(
            actor, name, alias, version),
        delete_alias=lambda alias: registry.delete_registered_model_alias(actor, name, alias),
    ), model_url(name))
    if done is not None:
        return done
    if action == "rollback":
        alias = data.get("alias", "")
        target = state.history.rollback(actor, name, alias, data.get("reason", "").strip()
                                        or None, "workspace")
        return back_to(model_url(name) + "?tab=history",
                       f"@{alias} rolled back to version {target}.")
    done = alias_request_action(state, actor, name, action, data, model_url(name))
    if done is not None:
        return done
    if action == "delete":
        registry.delete_registered_model(actor, name)
        kind = "Prompt" if data.get("prompt") == "on" else "Model"
        return back_to("/prompts" if kind == "Prompt" else "/", f"{kind} {name} deleted.")
    if action == "permission":
        level = data.get("level", "")
        if level not in Level.__members__ or level == "NONE":
            raise InvalidArgument(f"Unknown permission level {level!r}.")
        _, object_id, _ = state.transitions.get_model_with_level(actor, name)
        state.workspace_permissions.change(
            actor, str(object_id), [(data.get("principal", "").strip(), Level[level])],
            replace=False)
        return back_to(model_url(name) + "?tab=permissions", "Permission granted.")
    raise InvalidArgument(f"Unknown action {action!r}.")


@web
async def version_action(request: Request, actor: Actor) -> Response:
    state = _services(request)
    name, number = request.path_params["name"], request.path_params["version"]
    action = request.path_params["action"]
    data = await form(request)
    actor = with_reason(actor, data)
    here = version_url(name, number)
    registry, transitions = state.registry, state.transitions
    comment = data.get("comment", "").strip() or None
    done = metadata_action(action, data, MetadataCalls(
        describe=lambda text: registry.update_model_version(actor, name, number, text),
        set_tag=lambda key, value: registry.set_model_version_tag(actor, name, number, key,
                                                                  value),
        delete_tag=lambda key: registry.delete_model_version_tag(actor, name, number, key),
    ), here)
    if done is not None:
        return done
    stage = data.get("stage", "")
    archive = data.get("archive_existing") == "on"
    if action == "stage":
        registry.transition_model_version_stage(actor, name, number, stage, archive, comment)
        return back_to(here, f"Moved to {stage}.")
    if action == "request":
        transitions.create_request(actor, name, number, stage, comment)
        return back_to(here, f"Requested a transition to {stage}.")
    if action == "approve":
        transitions.approve(actor, name, number, stage, archive, comment)
        return back_to(here, f"Approved: moved to {stage}.")
    if action == "reject":
        transitions.reject(actor, name, number, stage, comment)
        return back_to(here, "Request rejected.")
    if action == "cancel":
        transitions.cancel(actor, name, number, stage, data.get("creator", actor.name), comment)
        return back_to(here, "Request cancelled.")
    if action == "comment":
        transitions.create_comment(actor, name, number, comment)
        return back_to(here, "Comment added.")
    if action == "delete-comment":
        transitions.delete_comment(actor, data.get("comment_id", ""))
        return back_to(here, "Comment deleted.")
    raise InvalidArgument(f"Unknown action {action!r}.")
