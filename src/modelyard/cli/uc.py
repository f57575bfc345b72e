"""`modelyard catalogs|schemas|models|versions …`: Unity Catalog objects on a running server.

Every command talks HTTP to `--url` (default http://127.0.0.1:8080, or MODELYARD_URL) and prints
tables; errors print UC's error code and message and exit with status 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from modelyard.cli.common import (
    confirm,
    connection_options,
    fail,
    group,
    print_details,
    print_table,
    yes_option,
)
from modelyard.cli.uc_client import Client, ClientError

catalogs = group("catalogs", help="Unity Catalog catalogs.")
schemas = group("schemas", help="Schemas inside a catalog.")
models = group("models", help="Unity Catalog registered models (catalog.schema.model).")
versions = group("versions", help="Versions of a registered model.")


def _bold(text: str) -> str:
    return click.style(text, bold=True)


def _when(ms: int | None) -> str:
    from datetime import UTC, datetime

    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(title: str, columns: list[str], rows: Iterable[list[Any]]) -> None:
    rows = list(rows)
    if rows:
        print_table(columns, rows, title=title)
    else:
        click.echo(click.style(f"{title}: none", dim=True))


def _tags(tags: list[dict[str, str]] | None) -> str:
    return ", ".join(f"{t['key']}={t.get('value', '')}" for t in tags or [])


def _run(action: Callable[[], None], model: str | None = None, url: str = "") -> None:
    """Run `action`, printing a refusal as UC's code and message (exit 1). Given the `model`
    name the user typed, a name the server refuses for not having three levels gets a hint:
    it is likely a workspace-registry model, which these commands do not read."""
    try:
        action()
    except ClientError as error:
        message = str(error)
        if model is not None and error.code == "INVALID_ARGUMENT" and model.count(".") != 2:
            message += (f" Workspace-registry models (such as '{model}') are read with the "
                        f"mlflow client (registry URI {url}) or in the web UI ({url}/).")
        raise fail(message) from None


# ---- catalogs -------------------------------------------------------------------------------

@catalogs.command("list")
@connection_options
def catalogs_list(url: str, token: str | None) -> None:
    """List catalogs."""
    client = Client(url, token)
    _run(lambda: _table("Catalogs", ["name", "comment", "owner", "storage root", "created"], (
        [c["name"], c.get("comment"), c.get("owner"), c.get("storage_root"),
         _when(c.get("created_at"))] for c in client.paged("/catalogs", "catalogs"))))


@catalogs.command("show")
@click.argument("name")
@connection_options
def catalogs_show(name: str, url: str, token: str | None) -> None:
    """Show one catalog."""
    def show() -> None:
        c = Client(url, token).uc("GET", f"/catalogs/{name}")
        print_details(f"Catalog {c['name']}", {
            "comment": c.get("comment"), "owner": c.get("owner"), "id": c.get("id"),
            "properties": c.get("properties"), "storage root": c.get("storage_root"),
            "storage location": c.get("storage_location"), "tags": _tags(c.get("tags")),
            "created": f"{_when(c.get('created_at'))} by {c.get('created_by')}",
            "updated": f"{_when(c.get('updated_at'))} by {c.get('updated_by')}"})
    _run(show)


@catalogs.command("create")
@click.argument("name")
@click.option("--comment", help="Description.")
@click.option("--storage-root", help="Managed storage root.")
@connection_options
def catalogs_create(name: str, comment: str | None, storage_root: str | None, url: str,
                    token: str | None) -> None:
    """Create a catalog."""
    def create() -> None:
        c = Client(url, token).uc("POST", "/catalogs", body={
            "name": name, "comment": comment, "storage_root": storage_root})
        click.echo(f"Created catalog {_bold(c['name'])}")
    _run(create)


@catalogs.command("delete")
@click.argument("name")
@click.option("--force/--no-force", default=False, show_default=True,
              help="Delete its schemas and models too.")
@yes_option
@connection_options
def catalogs_delete(name: str, force: bool, yes: bool, url: str, token: str | None) -> None:
    """Delete a catalog (asks first, unless --yes)."""
    confirm(f"Delete catalog {name}" + (" with every schema, model, version and file in it"
                                        if force else "") + "?", yes)

    def delete() -> None:
        Client(url, token).uc("DELETE", f"/catalogs/{name}", {"force": force})
        click.echo(f"Deleted catalog {_bold(name)}")
    _run(delete)


# ---- schemas --------------------------------------------------------------------------------

@schemas.command("list")
@click.argument("catalog")
@connection_options
def schemas_list(catalog: str, url: str, token: str | None) -> None:
    """List the schemas of a catalog."""
    client = Client(url, token)
    _run(lambda: _table(f"Schemas in {catalog}", ["name", "comment", "owner", "created"], (
        [s["full_name"], s.get("comment"), s.get("owner"), _when(s.get("created_at"))]
        for s in client.paged("/schemas", "schemas", {"catalog_name": catalog}))))


@schemas.command("show")
@click.argument("full_name")
@connection_options
def schemas_show(full_name: str, url: str, token: str | None) -> None:
    """Show one schema (catalog.schema)."""
    def show() -> None:
        s = Client(url, token).uc("GET", f"/schemas/{full_name}")
        print_details(f"Schema {s['full_name']}", {
            "comment": s.get("comment"), "owner": s.get("owner"), "id": s.get("schema_id"),
            "properties": s.get("properties"), "storage root": s.get("storage_root"),
            "storage location": s.get("storage_location"), "tags": _tags(s.get("tags")),
            "created": f"{_when(s.get('created_at'))} by {s.get('created_by')}",
            "updated": f"{_when(s.get('updated_at'))} by {s.get('updated_by')}"})
    _run(show)


@schemas.command("create")
@click.argument("full_name")
@click.option("--comment", help="Description.")
@click.option("--storage-root", help="Managed storage root.")
@connection_options
def schemas_create(full_name: str, comment: str | None, storage_root: str | None, url: str,
                   token: str | None) -> None:
    """Create a schema (catalog.schema)."""
    catalog, _, name = full_name.partition(".")
    def create() -> None:
        s = Client(url, token).uc("POST", "/schemas", body={
            "catalog_name": catalog, "name": name, "comment": comment,
            "storage_root": storage_root})
        click.echo(f"Created schema {_bold(s['full_name'])}")
    _run(create)


@schemas.command("delete")
@click.argument("full_name")
@click.option("--force/--no-force", default=False, show_default=True,
              help="Delete its models too.")
@yes_option
@connection_options
def schemas_delete(full_name: str, force: bool, yes: bool, url: str, token: str | None) -> None:
    """Delete a schema (catalog.schema; asks first, unless --yes)."""
    confirm(f"Delete schema {full_name}" + (" with every model, version and file in it"
                                            if force else "") + "?", yes)

    def delete() -> None:
        Client(url, token).uc("DELETE", f"/schemas/{full_name}", {"force": force})
        click.echo(f"Deleted schema {_bold(full_name)}")
    _run(delete)


# ---- models ---------------------------------------------------------------------------------

@models.command("list")
@click.argument("schema", required=False, help="catalog.schema; default: all")
@connection_options
def models_list(schema: str | None, url: str, token: str | None) -> None:
    """List Unity Catalog models, in one schema or everywhere."""
    query: dict[str, Any] = {}
    if schema:
        query["catalog_name"], _, query["schema_name"] = schema.partition(".")
    client = Client(url, token)
    _run(lambda: _table(f"Unity Catalog models in {schema or 'all schemas'}",
                        ["name", "comment", "owner", "aliases", "updated"], (
        [m["full_name"], m.get("comment"), m.get("owner"),
         ", ".join(f"@{a['alias_name']}→{a['version_num']}" for a in m.get("aliases", [])),
         _when(m.get("updated_at"))]
        for m in client.paged("/models", "registered_models", query))))


@models.command("show")
@click.argument("full_name")
@connection_options
def models_show(full_name: str, url: str, token: str | None) -> None:
    """Show a Unity Catalog model (catalog.schema.model) and its versions."""
    def show() -> None:
        client = Client(url, token)
        m = client.uc("GET", f"/models/{full_name}")
        print_details(f"Model {m['full_name']}", {
            "comment": m.get("comment"), "owner": m.get("owner"), "id": m.get("id"),
            "aliases": ", ".join(f"@{a['alias_name']} → {a['version_num']}"
                                 for a in m.get("aliases", [])),
            "tags": _tags(m.get("tags")), "storage location": m.get("storage_location"),
            "created": f"{_when(m.get('created_at'))} by {m.get('created_by')}",
            "updated": f"{_when(m.get('updated_at'))} by {m.get('updated_by')}"})
        _versions_table(client, m["full_name"])
    _run(show, model=full_name, url=url)


@models.command("create")
@click.argument("full_name")
@click.option("--comment", help="Description.")
@connection_options
def models_create(full_name: str, comment: str | None, url: str, token: str | None) -> None:
    """Create a registered model (catalog.schema.model)."""
    parts = full_name.split(".")
    if len(parts) != 3:
        raise fail(f"'{full_name}' is not a three-level name catalog.schema.model")
    def create() -> None:
        m = Client(url, token).uc("POST", "/models", body={
            "catalog_name": parts[0], "schema_name": parts[1], "name": parts[2],
            "comment": comment})
        click.echo(f"Created model {_bold(m['full_name'])}")
    _run(create)


@models.command("delete")
@click.argument("full_name")
@yes_option
@connection_options
def models_delete(full_name: str, yes: bool, url: str, token: str | None) -> None:
    """Delete a registered model with all its versions and their files (asks first, unless
    --yes)."""
    confirm(f"Delete model {full_name} with all its versions and their files?", yes)

    def delete() -> None:
        Client(url, token).uc("DELETE", f"/models/{full_name}")
        click.echo(f"Deleted model {_bold(full_name)}")
    _run(delete)


@models.command("download")
@click.argument("ref", help="NAME@ALIAS or NAME/VERSION")
@click.argument("directory", type=click.Path(path_type=Path), help="Where to put the files.")
@connection_options
def models_download(ref: str, directory: Path, url: str, token: str | None) -> None:
    """Download a READY version's files, checking every SHA-256 and the root digest."""
    import hashlib

    client = Client(url, token)
    try:
        name, version = _resolve(client, ref)
        listing = client.files(name, version)
    except ClientError as error:
        raise fail(str(error)) from None
    if listing["status"] != "READY":
        raise fail(f"{name} version {version} is {listing['status']}, not READY")
    files = listing["files"]
    directory.mkdir(parents=True, exist_ok=True)
    total = sum(f["size"] for f in files)
    with click.progressbar(length=total, label=f"{name} v{version}") as progress:
        for file in files:
            target = directory.joinpath(*Path(file["path"]).parts)
            if not target.resolve().is_relative_to(directory.resolve()):
                raise fail(f"refusing unsafe path {file['path']!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            digest = hashlib.sha256()
            try:
                with partial.open("wb") as out:
                    for chunk in client.download(name, version, file["path"]):
                        out.write(chunk)
                        digest.update(chunk)
                        progress.update(len(chunk))
            except ClientError as error:
                partial.unlink(missing_ok=True)
                raise fail(str(error)) from None
            if digest.hexdigest() != file["sha256"]:
                partial.unlink(missing_ok=True)
                raise fail(f"digest mismatch on {file['path']}: got {digest.hexdigest()}, "
                            f"the registry recorded {file['sha256']}")
            partial.replace(target)
    if _root_digest(files) != listing["root_digest"]:
        raise fail("the file list does not match the version's root digest")
    click.echo(f"Downloaded {len(files)} files ({total:,} bytes) of {_bold(name)} "
               f"version {version} to {directory}; digests verified "
               f"(root {listing['root_digest'][:16]}…)")


def _resolve(client: Client, ref: str) -> tuple[str, int]:
    if "@" in ref:
        name, _, alias = ref.partition("@")
        found = client.uc("GET", f"/models/{name}/aliases/{alias}")
        return _full_name(found), int(found["version"])
    name, _, version = ref.rpartition("/")
    if not name or not version.isdigit():
        raise ClientError(0, "INVALID_ARGUMENT", f"'{ref}' is neither NAME@ALIAS nor NAME/VERSION")
    return name.lower(), int(version)


def _full_name(version: dict[str, Any]) -> str:
    return f"{version['catalog_name']}.{version['schema_name']}.{version['model_name']}"


def _root_digest(files: list[dict[str, Any]]) -> str:
    from modelyard.storage.base import StoredFile, root_digest

    return root_digest([StoredFile(f["path"], f["size"], f["sha256"]) for f in files])


# ---- versions -------------------------------------------------------------------------------

def _versions_table(client: Client, full_name: str) -> None:
    _table(f"Versions of {full_name}",
           ["version", "status", "aliases", "source", "run", "digest", "created"], (
               [v["version"], v["status"],
                ", ".join(f"@{a['alias_name']}" for a in v.get("aliases", [])),
                v.get("source"), v.get("run_id"), (v.get("root_digest") or "")[:12],
                _when(v.get("created_at"))]
               for v in client.paged(f"/models/{full_name}/versions", "model_versions")))


@versions.command("list")
@click.argument("full_name")
@connection_options
def versions_list(full_name: str, url: str, token: str | None) -> None:
    """List the versions of a model."""
    _run(lambda: _versions_table(Client(url, token), full_name))


@versions.command("show")
@click.argument("full_name")
@click.argument("version", type=int)
@connection_options
def versions_show(full_name: str, version: int, url: str, token: str | None) -> None:
    """Show one version: status, lineage, digest and files."""
    def show() -> None:
        client = Client(url, token)
        v = client.uc("GET", f"/models/{full_name}/versions/{version}")
        print_details(f"{_full_name(v)} version {v['version']}", {
            "status": v["status"], "status message": v.get("status_message"),
            "comment": v.get("comment"),
            "aliases": ", ".join(f"@{a['alias_name']}" for a in v.get("aliases", [])),
            "source": v.get("source"), "run id": v.get("run_id"),
            "logged model id": v.get("model_id"),
            "tracking server": v.get("run_tracking_server_id"),
            "dependencies": v.get("model_version_dependencies"),
            "datasets": v.get("datasets"), "copied from": v.get("copied_from"),
            "root digest": v.get("root_digest"), "storage location": v.get("storage_location"),
            "tags": _tags(v.get("tags")),
            "created": f"{_when(v.get('created_at'))} by {v.get('created_by')}"})
        if v["status"] == "READY":
            listing = client.files(_full_name(v), v["version"])
            _table("Files", ["path", "size", "sha256"], (
                [f["path"], f"{f['size']:,}", f["sha256"]] for f in listing["files"]))
    _run(show)


@versions.command("signing")
@click.argument("full_name")
@click.argument("version", type=int)
@click.option("--verify", is_flag=True,
              help="Verify again against the signers the server trusts now (needs MANAGE).")
@connection_options
def versions_signing(full_name: str, version: int, verify: bool, url: str,
                     token: str | None) -> None:
    """Show whether a version's model.sig (OpenSSF model_signing) was verified, by whom, and
    why not. Not the MLmodel's schema signature."""
    def show() -> None:
        answer = Client(url, token).signing(full_name, version, verify=verify)
        print_details(f"{answer['name']} version {answer['version']}: model signing", {
            "signed": "yes" if answer["signed"] else "no", "status": answer["status"],
            "signer": answer.get("signer"), "detail": answer.get("detail"),
            "verified": _when(answer.get("verified_at"))})
    _run(show)


@versions.command("create")
@click.argument("full_name")
@click.argument("source", type=click.Path(path_type=Path),
                help="Local directory with the model's files.")
@click.option("--comment", help="Description.")
@connection_options
def versions_create(full_name: str, source: Path, comment: str | None, url: str,
                    token: str | None) -> None:
    """Register a local directory as a new version (server on this host, file:// storage)."""
    import shutil
    from urllib.parse import unquote, urlparse

    parts = full_name.split(".")
    if len(parts) != 3 or not source.is_dir():
        raise fail("usage: versions create catalog.schema.model DIRECTORY")
    def create() -> None:
        client = Client(url, token)
        v = client.uc("POST", "/models/versions", body={
            "catalog_name": parts[0], "schema_name": parts[1], "model_name": parts[2],
            "source": source.resolve().as_uri(), "comment": comment})
        location = urlparse(v["storage_location"])
        if location.scheme != "file":
            client.uc("DELETE", f"/models/{full_name}/versions/{v['version']}")
            raise fail("this server stores files remotely; register with the mlflow client")
        shutil.copytree(source, Path(unquote(location.path)), dirs_exist_ok=True)
        done = client.uc("PATCH", f"/models/{full_name}/versions/{v['version']}/finalize",
                         body={"full_name": full_name, "version": v["version"]})
        notes = _verdicts(client, full_name, done["version"]) if done["status"] == "READY" \
            else []
        click.echo("; ".join([
            f"Registered {_bold(full_name)} version {done['version']} "
            f"({done['status']}, root digest {done.get('root_digest', '')[:16]}…)", *notes]))
    _run(create)


def _verdicts(client: Client, full_name: str, version: int) -> list[str]:
    """What registering a version must not keep quiet about, each with the command that shows
    it in full: a model scan that is not CLEAN, and a model signature that is not VERIFIED when
    the server trusts signers (without any, every version would be reported unsigned). Read
    with the calls `versions scan --stored` and `versions signing` make; a verdict that cannot
    be read is left out: the version is registered all the same."""
    notes = []
    try:
        scan = client.scan(full_name, version)["scan"]
    except ClientError:
        scan = {}
    status = scan.get("status")
    if status and status != "CLEAN":
        counts = Counter(f.get("severity") for f in scan.get("findings") or [])
        grave = ", ".join(f"{counts[s]} {s}" for s in ("CRITICAL", "HIGH") if counts[s])
        verdict = click.style(f"scan {status}", fg="red" if status == "UNSAFE" else "yellow",
                              bold=True)
        notes.append(f"{verdict}{f' ({grave})' if grave else ''}: "
                     f"modelyard versions scan {full_name} {version} --stored")
    try:
        signing = client.signing(full_name, version)
    except ClientError:
        signing = {}
    status = signing.get("status")
    if signing.get("trusted_signers") and status not in (None, "VERIFIED", "NOT_VERIFIED"):
        notes.append(f"{click.style(f'signing {status}', fg='yellow', bold=True)}: "
                     f"modelyard versions signing {full_name} {version}")
    return notes


@versions.command("delete")
@click.argument("full_name")
@click.argument("version", type=int)
@yes_option
@connection_options
def versions_delete(full_name: str, version: int, yes: bool, url: str,
                    token: str | None) -> None:
    """Delete a version and its files (asks first, unless --yes)."""
    confirm(f"Delete version {version} of {full_name} and its files?", yes)

    def delete() -> None:
        Client(url, token).uc("DELETE", f"/models/{full_name}/versions/{version}")
        click.echo(f"Deleted {_bold(full_name)} version {version}")
    _run(delete)


def register(app: click.Group) -> None:
    app.add_command(catalogs, "catalogs")
    app.add_command(schemas, "schemas")
    app.add_command(models, "models")
    app.add_command(versions, "versions")
