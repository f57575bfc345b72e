"""`modelyard import-mlflow`, `backup` and `restore`: moving in, and getting it all back.

Thin: the work is in services/mlflow_import.py and services/backup.py; these commands parse
options, draw the progress bar and print the summary.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from modelyard.cli.common import fail, print_table, token_option, url_option


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
@url_option
@token_option
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


def register(app: click.Group) -> None:
    app.add_command(import_mlflow)
