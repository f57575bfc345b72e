"""What the `modelyard` commands share: the command group class, the --url/--token options,
error output and plain-text tables.

Only click and the standard library: importing the CLI has to stay cheap, since the server's
cold start goes through it.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from modelyard.store.database import Database

DEFAULT_URL = "http://127.0.0.1:8080"
F = TypeVar("F", bound=Callable[..., Any])
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
    """A sub-command group that shows its help when called without a sub-command; it takes
    --url and --token for its commands."""
    return Group(name, help=help, no_args_is_help=True, context_settings=HELP_SETTINGS,
                 params=connection_params())


# --url and --token are accepted anywhere on the line: `modelyard --url U models list`,
# `modelyard models --url U list` and `modelyard models list --url U` all work. Each level's
# option only records what was typed (in ctx.meta, shared by the whole command line); the
# command then takes the last one typed, else the variable, else the default.
_TYPED = "modelyard.typed"
_CONNECTION = {
    "url": ("MODELYARD_URL", DEFAULT_URL, "Server base URL."),
    "token": ("MODELYARD_TOKEN", None, "Bearer token, if the server requires one (or the "
                                       "contents of <data-dir>/admin-token for the admin)."),
}


def _record(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name:
        ctx.meta.setdefault(_TYPED, {})[param.name] = value


def _typed_option(name: str) -> click.Option:
    envvar, default, text = _CONNECTION[name]
    shown = f" [env var: {envvar}" + (f"; default: {default}]" if default else "]")
    return click.Option([f"--{name}"], default=None, expose_value=False, callback=_record,
                        help=text + shown)


def connection_params() -> list[click.Parameter]:
    """--url and --token for a group: recorded for the commands below it."""
    return [_typed_option(name) for name in _CONNECTION]


def connection_options(command: F) -> F:
    """Adds --url and --token to a command, which gets them as its `url` and `token`
    arguments, resolved over the whole command line."""
    @functools.wraps(command)
    def resolved(*args: Any, **kwargs: Any) -> Any:
        typed = click.get_current_context().meta.get(_TYPED, {})
        for name, (envvar, default, _) in _CONNECTION.items():
            kwargs[name] = typed.get(name) or os.environ.get(envvar) or default
        return command(*args, **kwargs)

    params = resolved.__dict__.setdefault("__click_params__", [])
    params.extend(_typed_option(name) for name in reversed(_CONNECTION))
    return resolved  # type: ignore[return-value]


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

    from modelyard.domain.errors import Unavailable
    from modelyard.store.database import Database, describe_failure

    database = None
    try:
        database = Database(url)
        if prepare is not None:
            prepare(database)
    except (SQLAlchemyError, OSError, ImportError, Unavailable) as problem:
        if database is not None:
            database.dispose()
        # A unit of work reports an unreachable database as Unavailable; what failed is in
        # the error it was raised from.
        cause = problem.__cause__ if isinstance(problem, Unavailable) else None
        raise fail(describe_failure(url, cause or problem)) from None
    return database


def url_option(command: F) -> F:
    """Kept for commands written with the former pair `@url_option @token_option`: both
    options, as `connection_options` gives them."""
    return connection_options(command)


def token_option(command: F) -> F:
    """See `url_option`, which already adds --token."""
    return command


def yes_option(command: Any) -> Any:
    """`--yes`/`-y` for a destructive command: do it without asking."""
    return click.option("--yes", "-y", is_flag=True,
                        help="Do not ask for confirmation (for scripts).")(command)


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive change, unless --yes. Without a terminal to ask on (stdin at
    its end), the answer is no, and the message says how to go ahead."""
    if yes:
        return
    try:
        agreed = click.confirm(question, default=False, err=True)
    except click.Abort:
        agreed = False
    if not agreed:
        raise fail("nothing was changed (add --yes to do this without the question)")
