"""Pages and forms for Unity Catalog: metastore → catalogs → schemas → models → versions."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from modelyard.domain import prompts
from modelyard.domain.catalog import VersionStatus
from modelyard.domain.errors import InvalidArgument, ModelyardError
from modelyard.services.context import Actor
from modelyard.services.grants import parse_change
from modelyard.web import snippets
from modelyard.web.activity import model_events
from modelyard.web.governance import alias_request_action, alias_requests
from modelyard.web.handlers import (
    MetadataCalls,
    back_to,
    json_ok,
    metadata_action,
    uc_url,
    url_part,
    web,
    web_json,
)
from modelyard.web.history import model_history, version_history, with_reason
from modelyard.web.render import page
from modelyard.web.runs import missing_notes, run_rows, signature_rows
from modelyard.web.session import form
from modelyard.web.signature import MAX_MLMODEL_BYTES, ModelInfo, parse_mlmodel

PAGE_SIZE = 50
#: What the model pages may offer: comments and aliases need MANAGE (or ownership), tags
#: APPLY_TAG; the forms shown follow the caller's privileges.
_OPS = ("model.manage", "model.tag")
#: Privileges that mean something on a model.
_MODEL_PRIVILEGES = ("EXECUTE", "APPLY_TAG", "MANAGE", "ALL_PRIVILEGES")


def _state(request: Request) -> Any:
    return request.app.state


def _token(request: Request) -> str | None:
    return request.query_params.get("page") or None


def _full_name(request: Request) -> str:
    params = request.path_params
    return f"{params['catalog']}.{params['schema']}.{params['model']}"


@web
async def catalogs_page(request: Request, actor: Actor) -> Response:
    state = _state(request)
    found = state.uc_catalogs.list_catalogs(actor, PAGE_SIZE, _token(request))
    return page(request, "catalogs.html", catalogs=found.items, next_token=found.next_page_token,
                first_page=_token(request) is None, section="uc",
                may=state.uc_catalogs.allowed(actor, "", ["catalog.create"]))


@web
async def catalog_page(request: Request, actor: Actor) -> Response:
    state, name = _state(request), request.path_params["catalog"]
    catalog = state.uc_catalogs.get_catalog(actor, name)
    found = state.uc_catalogs.list_schemas(actor, name, PAGE_SIZE, _token(request))
    return page(request, "catalog.html", catalog=catalog, schemas=found.items,
                next_token=found.next_page_token, first_page=_token(request) is None,
                section="uc",
                may=state.uc_catalogs.allowed(actor, name, ["catalog.manage", "schema.create"]))


@web
async def schema_page(request: Request, actor: Actor) -> Response:
    state = _state(request)
    catalog_name, schema_name = request.path_params["catalog"], request.path_params["schema"]
    full_name = f"{catalog_name}.{schema_name}"
    schema = state.uc_catalogs.get_schema(actor, full_name)
    found = state.uc_models.list_models(actor, catalog_name, schema_name, PAGE_SIZE,
                                        _token(request))
    return page(request, "schema.html", schema=schema, models=found.items,
                next_token=found.next_page_token, first_page=_token(request) is None,
                section="uc",
                may=state.uc_catalogs.allowed(actor, full_name, ["schema.manage", "model.create"]))


# ---- creating and deleting catalogs, schemas and models --------------------------------------

def _force(data: dict[str, str]) -> bool:
    return data.get("force") == "on"


@web
async def metastore_action(request: Request, actor: Actor) -> Response:
    data = await form(request)
    if data.get("action") != "create-catalog":
        raise InvalidArgument(f"Unknown action {data.get('action', '')!r}.")
    catalog = _state(request).uc_catalogs.create_catalog(
        actor, data.get("name", "").strip(), comment=data.get("comment", "").strip() or None)
    return back_to(f"/catalogs/{url_part(catalog.name)}", f"Catalog {catalog.name} created.")


@web
async def catalog_action(request: Request, actor: Actor) -> Response:
    state, name = _state(request), request.path_params["catalog"]
    data = await form(request)
    action = data.get("action", "")
    if action == "create-schema":
        schema = state.uc_catalogs.create_schema(
            actor, name, data.get("name", "").strip(),
            comment=data.get("comment", "").strip() or None)
        return back_to(uc_url(schema.full_name), f"Schema {schema.full_name} created.")
    if action == "delete":
        # Off the event loop: the files go too, and a store may be slow to delete them.
        await run_in_threadpool(state.uc_catalogs.delete_catalog, actor, name, _force(data))
        return back_to("/catalogs", f"Catalog {name} deleted.")
    raise InvalidArgument(f"Unknown action {action!r}.")


@web
async def schema_action(request: Request, actor: Actor) -> Response:
    state = _state(request)
    catalog_name, schema_name = request.path_params["catalog"], request.path_params["schema"]
    full_name = f"{catalog_name}.{schema_name}"
    data = await form(request)
    action = data.get("action", "")
    if action == "create-model":
        model = state.uc_models.create_model(
            actor, catalog_name, schema_name, data.get("name", "").strip(),
            comment=data.get("comment", "").strip() or None)
        return back_to(uc_url(model.full_name), f"Model {model.full_name} created.")
    if action == "delete":
        await run_in_threadpool(state.uc_catalogs.delete_schema, actor, full_name, _force(data))
        return back_to(uc_url(catalog_name), f"Schema {full_name} deleted.")
    raise InvalidArgument(f"Unknown action {action!r}.")


@web
async def uc_model_page(request: Request, actor: Actor) -> Response:
    state, full_name = _state(request), _full_name(request)
    model = state.uc_models.get_model(actor, full_name)
    versions = state.uc_models.list_versions(actor, full_name, 100, _token(request),
                                             newest_first=True)
    tab = request.query_params.get("tab", "overview")
    grants, events = None, None
    history: dict[str, Any] = {}
    if tab == "permissions":
        try:
            grants = state.grants.get(actor, "function", full_name)
        except ModelyardError as error:
            grants = str(error)
    elif tab == "activity":
        events = model_events(state, actor, full_name)
    elif tab == "history":
        history = model_history(state, actor, full_name, "uc")
    else:
        tab = "overview"
    may = state.uc_models.allowed(actor, full_name, _OPS)
    return page(request, "uc_model.html", model=model, versions=versions.items, may=may,
                **(history if tab == "history" else {}),
                privileges=_MODEL_PRIVILEGES,
                alias_map={a.alias: a.version for a in model.aliases},
                next_token=versions.next_page_token, first_page=_token(request) is None,
                tab=tab, grants=grants, events=events, run_url=state.tracking.run_url,
                section="uc",
                alias_requests=alias_requests(state, actor, full_name) if tab == "overview"
                else [])


@web_json
async def uc_alias_check(request: Request, actor: Actor) -> Response:
    """Whether the version can carry an alias, before the page asks to confirm a move."""
    query = request.query_params
    _state(request).uc_models.check_alias_target(actor, _full_name(request),
                                                 query.get("alias", "").strip(),
                                                 query.get("version", "").strip())
    return json_ok()


def _model_info(state: Any, actor: Actor, full_name: str, version: Any,
                files: list[Any]) -> ModelInfo | None:
    """The signature from the version's MLmodel file, when it has one we can read."""
    if version.status is not VersionStatus.READY:
        return None
    mlmodel = next((f for f in files if f.path == "MLmodel"), None)
    if mlmodel is None:
        return None
    if mlmodel.size > MAX_MLMODEL_BYTES:
        return ModelInfo(error="The MLmodel file is too large to show.")
    try:
        _, chunks = state.uc_models.open_file(actor, full_name, version.version, "MLmodel")
        return parse_mlmodel(b"".join(chunks))
    except (ModelyardError, OSError) as error:
        return ModelInfo(error=f"The MLmodel file could not be read: {error}")


@web
async def uc_version_page(request: Request, actor: Actor) -> Response:
    state, full_name = _state(request), _full_name(request)
    number = request.path_params["version"]
    version, files = state.uc_models.version_files(actor, full_name, number)
    model = state.uc_models.get_model(actor, full_name)
    info = _model_info(state, actor, full_name, version, files)
    alias = version.aliases[0] if version.aliases else ""
    load_uri = f"models:/{full_name}@{alias}" if alias else f"models:/{full_name}/{number}"
    may = state.uc_models.allowed(actor, full_name, _OPS)
    lineage = version.lineage
    run_id = lineage.run_id
    if not run_id and state.tracking.configured:
        # A `uc:` or databricks-uc client registering from models:/m-… records no run id:
        # the tracking server knows the logged model's run (the answer is cached).
        found = await state.tracking.run(None, lineage.model_id, lineage.source)
        run_id = found.run.run_id if found.run else None
    requests = [r for r in alias_requests(state, actor, model.full_name)
                if r.version == version.version]
    scan = state.scans.get(actor, full_name, number)  # the model scan (services/scanning.py)
    # Model signing (issue 20 item 4): the verdict on the version's model.sig.
    _, signing = state.model_signing.get(actor, full_name, number)
    return page(request, "uc_version.html", model=model, version=version, files=files, may=may,
                alias_requests=requests, signing=signing, scan=scan,
                history=version_history(state, actor, full_name, "uc", version.version),
                info=info, total_size=sum(f.size for f in files), run_id=run_id,
                snippet=snippets.unity_catalog(load_uri,
                                               snippets.server_url(str(request.base_url)),
                                               request.app.state.settings.auth),
                run_url=state.tracking.run_url(run_id), section="uc")


@web
async def uc_compare_page(request: Request, actor: Actor) -> Response:
    state, full_name = _state(request), _full_name(request)
    wanted = [v for v in request.query_params.getlist("v") if v.strip()]
    if len(wanted) < 2:
        raise InvalidArgument("Pick two or more versions to compare.")
    model = state.uc_models.get_model(actor, full_name)
    columns = []
    for number in sorted(dict.fromkeys(wanted), key=lambda v: (len(v), v)):
        version, files = state.uc_models.version_files(actor, full_name, number)
        columns.append((version, _model_info(state, actor, full_name, version, files)))
    versions = [v for v, _ in columns]
    tag_keys = sorted({key for v in versions for key in prompts.shown_tags(v.tags)})
    lookups = await state.tracking.runs(
        (v.lineage.run_id, v.lineage.model_id, v.lineage.source) for v in versions)
    notes = missing_notes([str(v.version) for v in versions], [x.reason for x in lookups])
    rows = [
        ("Status", [v.status.value for v in versions]),
        ("Aliases", [", ".join(v.aliases) for v in versions]),
        ("Content digest", [v.root_digest for v in versions]),
        ("Source", [v.lineage.source for v in versions]),
        ("Run id", [v.lineage.run_id for v in versions]),
        ("Model id", [v.lineage.model_id for v in versions]),
        *signature_rows([info for _, info in columns]),
        ("Comment", [v.comment for v in versions]),
        *run_rows(lookups),
        *((f"tag: {key}", [v.tags.get(key, "") for v in versions]) for key in tag_keys),
    ]
    return page(request, "compare.html", model=model, versions=versions, uc=True,
                rows=[(label, values, len(set(values)) > 1) for label, values in rows],
                notes=notes, section="uc")


@web
async def uc_model_action(request: Request, actor: Actor) -> Response:
    state, full_name = _state(request), _full_name(request)
    action = request.path_params["action"]
    data = await form(request)
    actor = with_reason(actor, data)
    models = state.uc_models
    here = uc_url(full_name)
    if action == "delete":
        await run_in_threadpool(models.delete_model, actor, full_name)
        schema = full_name.rsplit(".", 1)[0]
        return back_to(uc_url(schema), f"Model {full_name} deleted.")
    done = metadata_action(action, data, MetadataCalls(
        describe=lambda text: models.update_model(actor, full_name, comment=text),
        set_tag=lambda key, value: models.set_model_tag(actor, full_name, key, value),
        delete_tag=lambda key: models.delete_model_tag(actor, full_name, key),
        set_alias=lambda alias, version: models.set_alias(actor, full_name, alias, version),
        delete_alias=lambda alias: models.delete_alias(actor, full_name, alias)), here)
    if done is None:
        done = alias_request_action(state, actor, full_name, action, data, here)
    if done is not None:
        return done
    if action == "rollback":
        alias = data.get("alias", "")
        target = state.history.rollback(actor, full_name, alias,
                                        data.get("reason", "").strip() or None, "uc")
        return back_to(here + "?tab=history", f"@{alias} rolled back to version {target}.")
    if action in ("grant", "revoke"):
        privilege = [data.get("privilege", "")]
        change = parse_change(data.get("principal", "").strip(),
                              privilege if action == "grant" else [],
                              privilege if action == "revoke" else [])
        state.grants.update(actor, "function", full_name, [change])
        verb = "granted" if action == "grant" else "revoked"
        return back_to(here + "?tab=permissions", f"{privilege[0]} {verb}.")
    raise InvalidArgument(f"Unknown action {action!r}.")


@web
async def uc_version_action(request: Request, actor: Actor) -> Response:
    state, full_name = _state(request), _full_name(request)
    number, action = request.path_params["version"], request.path_params["action"]
    data = await form(request)
    actor = with_reason(actor, data)
    models = state.uc_models
    here = uc_url(full_name, number)
    if action == "delete":
        await run_in_threadpool(models.delete_version, actor, full_name, number)
        return back_to(uc_url(full_name), f"Version {number} deleted.")
    if action == "rescan":
        scan = await run_in_threadpool(state.scans.rescan, actor, full_name, number)
        return back_to(here, f"Scanned again: {scan.status.value}.")
    done = metadata_action(action, data, MetadataCalls(
        describe=lambda text: models.update_version(actor, full_name, number, text),
        set_tag=lambda key, value: models.set_version_tag(actor, full_name, number, key, value),
        delete_tag=lambda key: models.delete_version_tag(actor, full_name, number, key)), here)
    if done is not None:
        return done
    raise InvalidArgument(f"Unknown action {action!r}.")
