"""SCIM 2.0 Users, Groups, ServicePrincipals and Me, and the token API, as databricks-sdk calls
them (`users`, `groups`, `service_principals`, `current_user`, `tokens`)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from modelyard.api.identity.endpoint import endpoint
from modelyard.api.mlflow.params import Params
from modelyard.domain.errors import InvalidArgument
from modelyard.domain.numbers import INT32_MAX, ascii_int
from modelyard.domain.principals import Kind, Member, Principal, TokenInfo
from modelyard.services.context import Actor
from modelyard.services.identity import IdentityService

SCIM = "/api/2.0/preview/scim/v2"
_SCHEMAS = {
    Kind.USER: "urn:ietf:params:scim:schemas:core:2.0:User",
    Kind.GROUP: "urn:ietf:params:scim:schemas:core:2.0:Group",
    Kind.SERVICE_PRINCIPAL: "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal",
}
_REF = {Kind.USER: "Users", Kind.GROUP: "Groups", Kind.SERVICE_PRINCIPAL: "ServicePrincipals"}
_NAME_ATTRIBUTE = {Kind.USER: "username", Kind.GROUP: "displayname",
                   Kind.SERVICE_PRINCIPAL: "applicationid"}
_FILTER = re.compile(r'^\s*(\w+)\s+eq\s+"([^"]*)"\s*$', re.IGNORECASE)
_MEMBER_PATH = re.compile(r'^\s*(members|groups)\s*\[\s*value\s+eq\s+"?([^"\]]*)"?\s*\]\s*$',
                          re.IGNORECASE)


def _identity(request: Request) -> IdentityService:
    return request.app.state.identity


def _ref(member: Member) -> dict[str, Any]:
    return {"value": str(member.id), "display": member.name,
            "$ref": f"{_REF[member.kind]}/{member.id}", "type": "direct"}


def render(principal: Principal) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(principal.id), "schemas": [_SCHEMAS[principal.kind]],
                            "groups": [_ref(g) for g in principal.groups]}
    if principal.kind is Kind.GROUP:
        body["displayName"] = principal.name
        body["members"] = [_ref(m) for m in principal.members]
    else:
        body["active"] = principal.active
        body["displayName"] = principal.display_name
        if principal.is_admin:
            body["roles"] = [{"value": "metastore_admin"}]
    if principal.kind is Kind.USER:
        body["userName"] = principal.name
        if principal.email:
            body["emails"] = [{"value": principal.email, "primary": True, "type": "work"}]
    if principal.kind is Kind.SERVICE_PRINCIPAL:
        body["applicationId"] = principal.name
    if principal.external_id:
        body["externalId"] = principal.external_id
    return body


def _ids(value: Any, field: str) -> list[int]:
    """`[{"value": "12"}, …]` → [12, …]."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise InvalidArgument(f"'{field}' must be a list of {{\"value\": id}} objects.")
    ids = []
    for item in value:
        raw = item.get("value") if isinstance(item, dict) else item
        number = ascii_int(str(raw))
        if number is None or not 0 <= number <= INT32_MAX:  # what the id column holds
            raise InvalidArgument(f"Unknown principal id {raw!r} in '{field}'.")
        ids.append(number)
    return ids


def _email(p: Params) -> str | None:
    emails = p.raw("emails")
    if isinstance(emails, list) and emails and isinstance(emails[0], dict):
        return str(emails[0].get("value") or "")
    return None


def _bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidArgument(f"'{field}' must be true or false.")


# ---- create, get, list, delete, patch, put ---------------------------------------------------

def _create(kind: Kind) -> Any:
    def create(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
        if kind is Kind.USER:
            name = p.optional_str("userName")
            display = p.optional_str("displayName")
        elif kind is Kind.GROUP:
            name = p.optional_str("displayName")
            display = name
        else:
            name = p.optional_str("applicationId") or str(uuid.uuid4())
            display = p.optional_str("displayName")
        active = p.raw("active")
        principal = _identity(request).create_principal(
            actor, kind, name, display_name=display, email=_email(p),
            external_id=p.optional_str("externalId"),
            active=True if active is None else _bool(active, "active"),
            password=p.optional_str("password"),
            members=_ids(p.raw("members"), "members") if kind is Kind.GROUP else None,
            parents=_ids(p.raw("groups"), "groups"))
        return render(principal)
    create.__name__ = f"create_{kind.value}"
    return create


def _get(kind: Kind) -> Any:
    def get(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
        return render(_identity(request).get(actor, kind, request.path_params["id"]))
    get.__name__ = f"get_{kind.value}"
    return get


def _list(kind: Kind) -> Any:
    def list_(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
        name_eq = None
        text = p.optional_str("filter")
        if text:
            match = _FILTER.match(text)
            if not match or match.group(1).lower() not in (_NAME_ATTRIBUTE[kind], "displayname"):
                raise InvalidArgument(f"Unsupported filter {text!r}: use "
                                      f"'{_NAME_ATTRIBUTE[kind]} eq \"name\"'.")
            name_eq = match.group(2)
        start = p.optional_int("startIndex") or 1
        count = p.optional_int("count")
        principals, total = _identity(request).list_principals(actor, kind, name_eq, start,
                                                    10_000 if count is None else count)
        return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": total, "startIndex": start, "itemsPerPage": len(principals),
                "Resources": [render(x) for x in principals]}
    list_.__name__ = f"list_{kind.value}"
    return list_


def _delete(kind: Kind) -> Any:
    def delete(request: Request, actor: Actor, p: Params) -> None:
        _identity(request).delete(actor, kind, request.path_params["id"])
    delete.__name__ = f"delete_{kind.value}"
    return delete


def _patch(kind: Kind) -> Any:
    def patch(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
        operations = p.raw("Operations") or p.raw("operations") or []
        if not isinstance(operations, list):
            raise InvalidArgument("'Operations' must be a list.")
        changes: dict[str, Any] = {"add_members": [], "remove_members": [], "add_parents": [],
                                   "remove_parents": []}
        for operation in operations:
            if not isinstance(operation, dict):
                raise InvalidArgument("Each operation must be an object.")
            op = str(operation.get("op", "")).lower()
            path = str(operation.get("path") or "")
            value = operation.get("value")
            if not path and isinstance(value, dict):  # {"op": "replace", "value": {...}}
                for key, item in value.items():
                    _apply(changes, op, key, item)
                continue
            match = _MEMBER_PATH.match(path)
            if match and op == "remove":
                key = "remove_members" if match.group(1).lower() == "members" \
                    else "remove_parents"
                changes[key] += _ids([{"value": match.group(2)}], path)
                continue
            _apply(changes, op, path, value)
        principal = _identity(request).update(actor, kind, request.path_params["id"],
                                              **changes)
        return render(principal)
    patch.__name__ = f"patch_{kind.value}"
    return patch


def _apply(changes: dict[str, Any], op: str, path: str, value: Any) -> None:
    key = path.lower()
    if op not in ("add", "remove", "replace"):
        raise InvalidArgument(f"Unsupported patch operation {op!r}.")
    if key == "members":
        if op == "replace":
            changes["set_members"] = _ids(value, path)
        else:
            changes["add_members" if op == "add" else "remove_members"] += _ids(value, path)
    elif key == "groups":
        changes["add_parents" if op == "add" else "remove_parents"] += _ids(value, path)
    elif key == "active":
        changes["active"] = _bool(value, path)
    elif key == "displayname":
        changes["display_name"] = str(value)
    elif key == "password":
        changes["password"] = str(value)
    elif key in ("entitlements", "roles"):
        # Role "metastore_admin" makes (or unmakes) a metastore admin.
        names = [str(v.get("value")) if isinstance(v, dict) else str(v)
                 for v in (value if isinstance(value, list) else [value])]
        if "metastore_admin" in names or (op == "replace" and key == "roles"):
            changes["is_admin"] = op != "remove" and "metastore_admin" in names
    else:
        raise InvalidArgument(f"Unsupported patch path {path!r}.")


def _put(kind: Kind) -> Any:
    def put(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
        active = p.raw("active")
        changes: dict[str, Any] = {}
        if kind is not Kind.GROUP:
            changes["display_name"] = p.optional_str("displayName")
            changes["active"] = None if active is None else _bool(active, "active")
        if kind is Kind.GROUP and p.raw("members") is not None:
            changes["set_members"] = _ids(p.raw("members"), "members")
        principal = _identity(request).update(actor, kind, request.path_params["id"], **changes)
        return render(principal)
    put.__name__ = f"put_{kind.value}"
    return put


def me(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    return render(_identity(request).me(actor))


# ---- tokens ------------------------------------------------------------------------------------

def _token_info(info: TokenInfo, owner: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"token_id": info.token_id, "creation_time": info.creation_time,
                            "expiry_time": info.expiry_time, "comment": info.comment}
    if owner:
        body.update({"owner_id": info.owner_id, "created_by_username": info.created_by})
    return body


def create_token(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    new = _identity(request).create_token(actor, p.optional_int("lifetime_seconds"),
                                          p.optional_str("comment"))
    return {"token_value": new.value, "token_info": _token_info(new.info)}


def create_token_on_behalf(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    """token-management/on-behalf-of/tokens: a metastore admin makes a token for a user or a
    service principal (`application_id` is its name)."""
    new = _identity(request).create_token(actor, p.optional_int("lifetime_seconds"),
                                          p.optional_str("comment"),
                                          for_user=p.required_str("application_id"))
    return {"token_value": new.value, "token_info": _token_info(new.info, owner=True)}


def list_tokens(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    return {"token_infos": [_token_info(t) for t in _identity(request).list_tokens(actor)]}


def list_all_tokens(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    tokens = _identity(request).list_tokens(actor, all_users=True)
    return {"token_infos": [_token_info(t, owner=True) for t in tokens]}


def update_token(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    """databricks-sdk `tokens.update`: PATCH /token/{id} with `token` and `update_mask`."""
    token = p.raw("token")
    if token is not None and not isinstance(token, dict):
        raise InvalidArgument("'token' must be an object with the fields to change.")
    mask = p.raw("update_mask")
    if isinstance(mask, dict):  # a FieldMask as an object: {"paths": [...]}
        mask = ",".join(str(path) for path in mask.get("paths") or [])
    fields = [f.strip() for f in str(mask or "").split(",") if f.strip()]
    comment = (token or {}).get("comment")
    if comment is not None and not isinstance(comment, str):
        raise InvalidArgument("'token.comment' must be a string.")
    _identity(request).update_token(actor, request.path_params["token_id"], comment, fields)
    return {}


def get_managed_token(request: Request, actor: Actor, p: Params) -> dict[str, Any]:
    """databricks-sdk `token_management.get`."""
    info = _identity(request).get_token(actor, request.path_params["token_id"])
    return {"token_info": _token_info(info, owner=True)}


def delete_token(request: Request, actor: Actor, p: Params) -> None:
    _identity(request).delete_token(actor, p.required_str("token_id"))


def delete_managed_token(request: Request, actor: Actor, p: Params) -> None:
    _identity(request).delete_token(actor, request.path_params["token_id"])


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = [Route(f"{SCIM}/Me", endpoint(me), methods=["GET"])]
    for kind, path in _REF.items():
        table += [
            Route(f"{SCIM}/{path}", endpoint(_list(kind)), methods=["GET"]),
            Route(f"{SCIM}/{path}", endpoint(_create(kind), status=201), methods=["POST"]),
            Route(f"{SCIM}/{path}/{{id}}", endpoint(_get(kind)), methods=["GET"]),
            Route(f"{SCIM}/{path}/{{id}}", endpoint(_delete(kind)),
                  methods=["DELETE"]),
            Route(f"{SCIM}/{path}/{{id}}", endpoint(_patch(kind)), methods=["PATCH"]),
            Route(f"{SCIM}/{path}/{{id}}", endpoint(_put(kind)), methods=["PUT"]),
        ]
    table += [
        Route("/api/2.0/token/create", endpoint(create_token), methods=["POST"]),
        Route("/api/2.0/token/list", endpoint(list_tokens), methods=["GET"]),
        Route("/api/2.0/token/delete", endpoint(delete_token), methods=["POST"]),
        Route("/api/2.0/token-management/on-behalf-of/tokens",
              endpoint(create_token_on_behalf), methods=["POST"]),
        Route("/api/2.0/token-management/tokens", endpoint(list_all_tokens), methods=["GET"]),
        Route("/api/2.0/token-management/tokens/{token_id}", endpoint(delete_managed_token),
              methods=["DELETE"]),
        Route("/api/2.0/token-management/tokens/{token_id}", endpoint(get_managed_token),
              methods=["GET"]),
        Route("/api/2.0/token/{token_id}", endpoint(update_token), methods=["PATCH"]),
    ]
    return table
