"""What the `modelyard` commands share: the command group class, the --url/--token options,
error output and plain-text tables.

Only click and the standard library: importing the CLI has to stay cheap, since the server's
cold start goes through it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from modelyard.store.database import Database

DEFAULT_URL = "http://127.0.0.1:8080"
# Help uses the terminal's width up to 120 columns (click's default stops at 80).
HELP_SETTINGS: dict[str, Any] = {"max_content_width": 120}


class Command(click.Command):
    """A click command listed in its group's help with its whole first paragraph, rather than
    click's first sentence cut at 45 characters (which cut "e.g." in two)."""

    def get_short_help_str(self, limit: int = 45) -> str:
        if self.short_help or not self.help or self.deprecated:
            return super().get_short_help_str(limit)
        return " ".join(inspect.cleandoc(self.help).split("\n\n")[0].split())


class Group(click.Group):
    """A click group that lists its commands in the order they were added (click sorts them)
    and, called without arguments, prints its help on stdout and exits with status 2 (click
    prints it on stderr)."""

    command_class = Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            click.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(2)
        return super().parse_args(ctx, args)


def group(name: str, help: str) -> Group:
    """A sub-command group that shows its help when called without a sub-command."""
    return Group(name, help=help, no_args_is_help=True, context_settings=HELP_SETTINGS)


url_option = click.option("--url", envvar="MODELYARD_URL", default=DEFAULT_URL,
                          show_default=True, show_envvar=True, help="Server base URL.")
token_option = click.option("--token", envvar="MODELYARD_TOKEN", default=None,
                            show_envvar=True, help="Bearer token, if the server requires one.")


def error(message: str) -> None:
    """Print `error: message` on stderr (the `error:` in red on a terminal)."""
    click.echo(f"{click.style('error:', fg='red')} {message}", err=True)


def fail(message: str, code: int = 1) -> click.exceptions.Exit:
    """Print the error; the caller raises what this returns to exit with `code`."""
    error(message)
    return click.exceptions.Exit(code)


def _cell(value: Any) -> str:
    return "" if value is None else " ".join(str(value).splitlines())


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]],
                title: str | None = None) -> int:
    """Print rows as aligned columns under a header; returns how many rows there were."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(column), *(len(row[i]) for row in cells)])
              for i, column in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths,
                                                                       strict=True)).rstrip()

    if title:
        click.echo(click.style(title, italic=True))
    click.echo(click.style(line(columns), bold=True))
    click.echo(line(["-" * width for width in widths]))
    for row in cells:
        click.echo(line(row))
    return len(cells)


def print_details(title: str, fields: dict[str, Any]) -> None:
    """Print `title`, then one `field  value` line for every field that has a value."""
    shown = [(key, _cell(value)) for key, value in fields.items()
             if value not in (None, "", [], {})]
    width = max((len(key) for key, _ in shown), default=0)
    click.echo(click.style(title, italic=True))
    for key, value in shown:
        click.echo(f"{click.style(key.ljust(width), bold=True)}  {value}")


def open_database(url: str, prepare: Callable[[Database], Any] | None = None) -> Database:
    """Open the database at `url` and run `prepare` on it (migrations, a check); a database
    that cannot be reached or used ends the command with one line saying which database and
    what failed (exit status 1), not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from modelyard.store.database import Database, describe_failure

    database = None
    try:
        database = Database(url)
        if prepare is not None:
            prepare(database)
    except (SQLAlchemyError, OSError, ImportError) as problem:
        if database is not None:
            database.dispose()
        raise fail(describe_failure(url, problem)) from None
    return database
