"""`modelyard` command line: `modelyard serve` and friends.

Imports of the server stack happen inside the commands, so that `--help` stays instant.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli import identity as identity_commands
from modelyard.cli import uc as uc_commands

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Modelyard: a self-hosted model registry.")


@app.callback()
def _root() -> None:
    """Modelyard: a self-hosted model registry."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="MODELYARD_HOST", help="Address to bind.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="MODELYARD_PORT", help="Port to listen on.")] = 8080,
    data_dir: Annotated[Path, typer.Option(envvar="MODELYARD_DATA_DIR",
                                           help="Folder for the SQLite file and artifacts.")]
    = Path("modelyard-data"),
    database_url: Annotated[str | None, typer.Option(
        envvar="MODELYARD_DATABASE_URL",
        help="SQLAlchemy URL; default: SQLite in the data dir. "
             "PostgreSQL: postgresql+psycopg://user@host/db")] = None,
    storage_root: Annotated[str | None, typer.Option(
        envvar="MODELYARD_STORAGE_ROOT",
        help="Where model files live; default: artifacts/ in the data dir.")] = None,
    workers: Annotated[int, typer.Option(envvar="MODELYARD_WORKERS",
                                         help="Worker processes.", min=1)] = 1,
    log_level: Annotated[str, typer.Option(envvar="MODELYARD_LOG_LEVEL")] = "info",
    pending_timeout: Annotated[float, typer.Option(
        envvar="MODELYARD_PENDING_TIMEOUT", min=0.1,
        help="Seconds a Unity Catalog version may stay PENDING_REGISTRATION before it is "
             "failed and its files removed.")] = 3600.0,
    auth: Annotated[bool, typer.Option(
        "--auth", envvar="MODELYARD_AUTH",
        help="Require a token or password on every request. The first start creates the "
             "metastore admin `admin` and writes its token to <data-dir>/admin-token.")]
    = False,
    insecure_no_auth: Annotated[bool, typer.Option(
        "--insecure-no-auth",
        help="Allow binding to a non-loopback address without --auth (everyone is admin).")]
    = False,
) -> None:
    """Start the registry server."""
    import uvicorn

    from modelyard.config import Settings
    from modelyard.store import migrate
    from modelyard.store.database import Database

    if not auth and not insecure_no_auth and not identity_commands.is_loopback(host):
        typer.echo(f"Refusing to listen on {host} without --auth: anyone who can reach it "
                   f"would act as the admin. Add --auth, or --insecure-no-auth to accept that.",
                   err=True)
        raise typer.Exit(2)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(host=host, port=port, data_dir=data_dir, database_url=database_url,
                        storage_root=storage_root, workers=workers,
                        pending_timeout=pending_timeout, auth=auth)
    database = Database(settings.resolved_database_url)
    migrate.upgrade(database)
    if auth:
        identity_commands.bootstrap_admin(database, data_dir)
    common = {"host": host, "port": port, "log_level": log_level, "access_log": False,
              "http": "httptools", "loop": "asyncio", "lifespan": "off",
              "timeout_graceful_shutdown": 5}
    if workers == 1:
        from modelyard.app import create_app

        uvicorn.run(create_app(settings, database), **common)  # type: ignore[arg-type]
    else:
        database.dispose()
        os.environ.update(settings.to_env())
        _run_workers(workers, common)


def _run_workers(workers: int, options: dict[str, Any]) -> None:
    """What `uvicorn.run(..., workers=N)` does, with TCP_NODELAY on the shared socket.

    uvicorn binds that socket without naming the protocol, so asyncio does not recognise it as
    TCP and never sets TCP_NODELAY on the connections it accepts: every response (headers and
    body are two writes) then waited for the client's delayed ACK, 40 ms (p50 of a point read
    with --workers 2: 44 ms). On Linux accepted sockets inherit the option from the listener.
    """
    from uvicorn.config import Config
    from uvicorn.supervisors import Multiprocess

    config = Config("modelyard.app:app_from_env", factory=True, workers=workers, **options)
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


uc_commands.register(app)
identity_commands.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
