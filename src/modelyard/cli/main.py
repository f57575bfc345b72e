"""`modelyard` command line: `modelyard serve` and friends.

Imports of the server stack happen inside the commands, so that `--help` stays instant.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelyard.cli import identity as identity_commands
from modelyard.cli import uc as uc_commands

if TYPE_CHECKING:
    from uvicorn.config import Config
    from uvicorn.supervisors import Multiprocess

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
    tracking_uri: Annotated[str | None, typer.Option(
        envvar="MODELYARD_TRACKING_URI",
        help="http(s) address of the MLflow tracking server the versions' runs come from; "
             "the web pages then show run params, metrics, signatures and files.")] = None,
    tracking_token: Annotated[str | None, typer.Option(
        envvar="MODELYARD_TRACKING_TOKEN", show_default=False,
        help="Bearer token for the tracking server.")] = None,
    signin_max_failures: Annotated[int, typer.Option(
        envvar="MODELYARD_SIGNIN_MAX_FAILURES", min=0,
        help="With --auth: failed password attempts for one user name that lock password "
             "sign-in for it (0: never lock).")] = 5,
    signin_window: Annotated[float, typer.Option(
        envvar="MODELYARD_SIGNIN_WINDOW", min=1.0,
        help="Seconds within which failed password attempts count together.")] = 900.0,
    signin_lockout: Annotated[float, typer.Option(
        envvar="MODELYARD_SIGNIN_LOCKOUT", min=1.0,
        help="Seconds a locked user name must wait (answered with 429 and Retry-After); "
             "tokens keep working.")] = 300.0,
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
    if tracking_uri and not tracking_uri.startswith(("http://", "https://")):
        typer.echo(f"--tracking-uri must be an http:// or https:// address, not {tracking_uri!r}.",
                   err=True)
        raise typer.Exit(2)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(host=host, port=port, data_dir=data_dir, database_url=database_url,
                        storage_root=storage_root, workers=workers,
                        pending_timeout=pending_timeout, auth=auth,
                        signin_max_failures=signin_max_failures, signin_window=signin_window,
                        signin_lockout=signin_lockout,
                        tracking_uri=tracking_uri or None, tracking_token=tracking_token or None)
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
    """What `uvicorn.run(..., workers=N)` does, but each worker listens on a socket of its own.

    uvicorn's workers share one listening socket, and asyncio accepts every connection that is
    waiting when it wakes up: the first worker to wake took all the keep-alive connections of a
    client that opened them together (8 of 8, most of the time), and --workers 2 served as much
    as one worker. With SO_REUSEPORT the kernel deals new connections out over the workers'
    sockets instead.
    """
    from uvicorn.config import Config

    config = Config("modelyard.app:app_from_env", factory=True, workers=workers, **options)
    # Reserves the port (and fails now if it is taken) without listening: only the workers'
    # sockets take connections, so none wait on a socket that no live worker accepts from.
    with _reuse_port_socket(config.host, config.port) as holder:
        config.port = holder.getsockname()[1]
        _reuse_port_supervisor(config).run()


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # uvicorn gives asyncio the socket without naming the protocol, so asyncio does not set
    # TCP_NODELAY on the connections it accepts; without it every response (headers and body
    # are two writes) waited 40 ms for the client's delayed ACK. Accepted sockets inherit it.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _reuse_port_supervisor(config: Config) -> Multiprocess:
    from uvicorn.supervisors import Multiprocess  # here, so that `--help` stays instant

    class ReusePortWorkers(Multiprocess):
        """uvicorn's supervisor, but every worker it starts (at start, after a crash, on SIGHUP
        or SIGTTIN) gets a new listening socket on the port."""

        def __init__(self, config: Config) -> None:
            self._handed: list[socket.socket] = []
            super().__init__(config, sockets=[])

        @property
        def sockets(self) -> list[socket.socket]:
            # uvicorn reads this just before it starts a worker, and starting it duplicates
            # the socket into the worker: the parent's copies of the sockets of the workers
            # started before can go, so that a worker that dies takes its socket with it.
            self._close_handed()
            sock = _reuse_port_socket(self.config.host, self.config.port)
            sock.listen(self.config.backlog)
            self._handed.append(sock)
            return [sock]

        @sockets.setter
        def sockets(self, _value: list[socket.socket]) -> None:
            pass  # Multiprocess.__init__ stores the shared sockets; there are none

        def _close_handed(self) -> None:
            while self._handed:
                self._handed.pop().close()

        def run(self) -> None:
            try:
                super().run()
            finally:
                self._close_handed()

    return ReusePortWorkers(config)


uc_commands.register(app)
identity_commands.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
