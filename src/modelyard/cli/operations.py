"""`modelyard import-mlflow`, `backup` and `restore`: moving in, and getting it all back.

Thin: the work is in services/mlflow_import.py and services/backup.py; these commands parse
options, draw the progress bar and print the summary.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from modelyard.cli.common import connection_options, fail, print_table
from modelyard.cli.data_dir import PRIVATE_UMASK
from modelyard.cli.data_dir import prepare as prepare_data_dir


class _Bar:
    """A click progress bar over the models, with the bytes copied so far beside it."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.bytes = 0
        self.current = ""

    def models(self, total: int) -> None:
        bar: Any = click.progressbar(length=max(total, 1), label="models", show_pos=True,
                                     item_show_func=self._show, file=sys.stderr)
        self.bar = bar
        self.bar.__enter__()

    def _show(self, _item: Any) -> str:
        return f"{self.bytes / 1048576:,.1f} MiB copied  {self.current}"

    def model_done(self, name: str) -> None:
        self.current = name
        if self.bar is not None:
            self.bar.update(1, name)

    def copied(self, size: int) -> None:
        self.bytes += size
        if self.bar is not None:
            self.bar.update(0, self.current)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _summary(report: Any) -> None:
    kinds = [("model", "models"), ("version", "versions"), ("alias", "aliases"),
             ("tag", "model tags")]
    for outcome in ("imported", "unchanged"):
        counts = [f"{report.count(kind, outcome)} {label}" for kind, label in kinds]
        click.echo(f"{outcome + ':':11} " + ", ".join(counts))
    if report.bytes_copied:
        click.echo(f"copied:     {report.bytes_copied:,} bytes into governed storage")
    listed = report.listed()
    if listed:
        print_table(["outcome", "what", "name", "why"],
                    ([e.outcome, e.kind, e.name, e.reason] for e in listed),
                    title="Skipped and refused")
    else:
        click.echo("nothing skipped or refused")


@click.command("import-mlflow")
@click.option("--from", "source_url", required=True, metavar="URL",
              help="The MLflow tracking server, e.g. http://mlflow:5000.")
@click.option("--from-token", envvar="MLFLOW_TRACKING_TOKEN", show_envvar=True,
              help="Bearer token for the MLflow server.")
@click.option("--models", "pattern", default="*", show_default=True,
              help="Only models whose name matches this glob.")
@click.option("--into-catalog", metavar="CATALOG.SCHEMA",
              help="Promote the versions into this Unity Catalog schema (files copied into "
                   "governed storage with digests; a signature is required) instead of the "
                   "workspace registry.")
@connection_options
def import_mlflow(source_url: str, from_token: str | None, pattern: str,
                  into_catalog: str | None, url: str, token: str | None) -> None:
    """Copy an MLflow server's registered models, versions and prompts into Modelyard.

    Versions keep their numbers, sources, run ids, tags, descriptions and stages; models their
    tags, descriptions and aliases. Running it again adds only what is new and changes nothing
    that is there. Needs a metastore admin's token on the Modelyard side.
    """
    from modelyard.services.mlflow_import import ImportOptions, MlflowImport, RemoteError, Rest

    source, target = Rest(source_url, from_token), Rest(url, token)
    bar = _Bar()
    try:
        job = MlflowImport(source, target, ImportOptions(pattern, into_catalog), bar)
    except ValueError as error:
        raise fail(str(error), 2) from None
    try:
        job.run()
    except ValueError as error:
        bar.close()
        raise fail(str(error), 2) from None
    except RemoteError as error:
        bar.close()
        _summary(job.report)
        raise fail(f"{error}\nThe import stopped here; run the same command again to finish "
                   "it (nothing is imported twice).") from None
    finally:
        bar.close()
        source.close()
        target.close()
    _summary(job.report)


def _server_options(data_dir: Path, database_url: str | None,
                    storage_root: str | None) -> tuple[str, str]:
    from modelyard.config import Settings

    settings = Settings(data_dir=data_dir, database_url=database_url, storage_root=storage_root)
    return settings.resolved_database_url, settings.resolved_storage_root


_data_dir = click.option("--data-dir", type=click.Path(path_type=Path),
                         default=Path("modelyard-data"), envvar="MODELYARD_DATA_DIR",
                         show_envvar=True, show_default=True,
                         help="The server's data directory (SQLite file, key files).")
_database_url = click.option("--database-url", envvar="MODELYARD_DATABASE_URL", show_envvar=True,
                             help="The server's database, if not SQLite in the data dir.")
_storage_root = click.option("--storage-root", envvar="MODELYARD_STORAGE_ROOT",
                             show_envvar=True,
                             help="The server's storage root; default: artifacts/ in the data "
                                  "dir.")


@click.command("backup")
@_data_dir
@_database_url
@_storage_root
@click.option("--to", "target", type=click.Path(path_type=Path),
              help="A new directory to write the backup into.")
@click.option("--verify", "verify", type=click.Path(path_type=Path), metavar="BACKUP",
              help="Check an existing backup against its manifest instead.")
def backup(data_dir: Path, database_url: str | None, storage_root: str | None,
           target: Path | None, verify: Path | None) -> None:
    """Back up a running server: its database, the governed files it references and the data
    directory's key files, with a manifest of counts and digests.

    Safe while the server runs and serves writes. The backup holds every secret the server
    has (token and password hashes, the URL-signing key, webhook secrets, key files): keep it
    where only administrators can read it.
    """
    from modelyard.services.backup import BackupError, create_backup, verify_backup
    from modelyard.store.database import Database

    if verify is not None and target is not None:
        raise fail("give either --to (make a backup) or --verify (check one), not both", 2)
    if verify is not None:
        try:
            problems = verify_backup(verify)
        except BackupError as error:
            raise fail(str(error)) from None
        for problem in problems:
            click.echo(f"DAMAGED: {problem}")
        if problems:
            raise click.exceptions.Exit(1)
        click.echo(f"{verify}: intact (database, tables, audit chain, files and key files "
                   "match the manifest)")
        return
    if target is None:
        raise fail("give --to BACKUP (a new directory), or --verify BACKUP", 2)
    url, root = _server_options(data_dir, database_url, storage_root)
    if not database_url and not (data_dir / "modelyard.db").exists():
        raise fail(f"no database in {data_dir}", 2)
    # The backup holds every secret the server has: readable by its owner only, like the
    # data directory (cli/data_dir.py).
    os.umask(PRIVATE_UMASK)
    database = Database(url)
    copied = [0]

    def progress(_what: str, size: int) -> None:
        copied[0] += size

    try:
        manifest = create_backup(database, root, data_dir, target, progress)
    except BackupError as error:
        raise fail(str(error)) from None
    finally:
        database.dispose()
    rows = sum(t["rows"] for t in manifest["tables"].values())
    click.echo(f"Backed up {len(manifest['tables'])} tables ({rows:,} rows), "
               f"{len(manifest['files'])} governed files ({copied[0]:,} bytes copied) and "
               f"{len(manifest['data_dir_files'])} data directory files to {target}; "
               f"audit head {manifest['audit_head']}")


@click.command("restore")
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False),
                metavar="BACKUP")
@_data_dir
@_database_url
@_storage_root
def restore(source: Path, data_dir: Path, database_url: str | None,
            storage_root: str | None) -> None:
    """Restore a backup into a new data directory (or an empty --database-url) and check it.

    Every table is compared with the backup's, the audit chain verified and every file's
    SHA-256 read back; exits 1 naming any difference. Governed files under the backed-up
    server's storage root go under the new storage root (start the server with it).
    """
    from modelyard.services.backup import BackupError, restore_backup
    from modelyard.store.database import Database

    if not database_url and (data_dir / "modelyard.db").exists():
        raise fail(f"{data_dir} already has a database; restore into a new data directory", 2)
    # Private like every data directory `serve` prepares: the directory 0700, the database,
    # the artifacts and the key files 0600 (the umask covers what the storage writes).
    prepare_data_dir(data_dir)
    url, root = _server_options(data_dir, database_url, storage_root)
    database = Database(url)
    try:
        report = restore_backup(source, database, root, data_dir)
    except BackupError as error:
        raise fail(str(error)) from None
    finally:
        database.dispose()
    for problem in report.problems:
        click.echo(f"MISMATCH: {problem}")
    if report.problems:
        raise click.exceptions.Exit(1)
    print_table(["table", "rows"], sorted(report.tables.items()), title="Restored and checked")
    click.echo(f"{report.files} governed files restored, every SHA-256 checked; audit chain "
               f"verified (head {report.audit_head}); data directory files: "
               f"{', '.join(report.data_dir_files) or 'none'}")


def register(app: click.Group) -> None:
    app.add_command(import_mlflow)
    app.add_command(backup)
    app.add_command(restore)
