"""`modelyard` command line: `modelyard serve` and friends.

Imports of the server stack happen inside the commands, so that `--help` stays instant.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from modelyard.cli import aliases as alias_commands
from modelyard.cli import governance as governance_commands
from modelyard.cli import identity as identity_commands
from modelyard.cli import operations as operations_commands
from modelyard.cli import scan as scan_commands
from modelyard.cli import trash as trash_commands
from modelyard.cli import uc as uc_commands
from modelyard.cli import webhooks as webhook_commands
from modelyard.cli.common import HELP_SETTINGS, Group, connection_params, fail, open_database

if TYPE_CHECKING:
    import socket

    from uvicorn.config import Config
    from uvicorn.supervisors import Multiprocess

F = TypeVar("F", bound=Callable[..., Any])


class ByteSize(click.ParamType):
    """A size in bytes: `1048576`, `512KiB`, `1MiB`, `10MB`; at least 1 KiB."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        from modelyard.config import parse_size

        if isinstance(value, int):
            return value
        try:
            size = parse_size(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)
        if size < 1024:
            self.fail(f"{value!r} is less than 1 KiB: no request would fit", param, ctx)
        return size


@click.group(cls=Group, no_args_is_help=True, context_settings=HELP_SETTINGS,
             params=connection_params(), help="Modelyard: a self-hosted model registry.")
def app() -> None:
    """Modelyard: a self-hosted model registry."""


def _option(*decls: str, **attrs: Any) -> Callable[[F], F]:
    """A `serve` option: it also reads its MODELYARD_* variable, and its help shows both the
    variable and the default."""
    attrs.setdefault("show_envvar", True)
    attrs.setdefault("show_default", True)
    return click.option(*decls, **attrs)


@app.command()
@_option("--host", envvar="MODELYARD_HOST", default="127.0.0.1", help="Address to bind.")
@_option("--port", envvar="MODELYARD_PORT", type=int, default=8080, help="Port to listen on.")
@_option("--data-dir", envvar="MODELYARD_DATA_DIR", type=click.Path(path_type=Path),
         default=Path("modelyard-data"), help="Folder for the SQLite file and artifacts.")
@_option("--database-url", envvar="MODELYARD_DATABASE_URL",
         help="SQLAlchemy URL; default: SQLite in the data dir. "
              "PostgreSQL: postgresql+psycopg://user@host/db")
@_option("--storage-root", envvar="MODELYARD_STORAGE_ROOT",
         help="Where model files live; default: artifacts/ in the data dir.")
@_option("--allowed-storage-roots", envvar="MODELYARD_ALLOWED_STORAGE_ROOTS",
         help="Comma-separated locations under which catalogs and schemas may have their own "
              "storage_root (absolute paths, file:///… or s3://bucket/prefix); default: none, "
              "all files live under --storage-root.")
@_option("--workers", envvar="MODELYARD_WORKERS", type=click.IntRange(min=1), default=1,
         help="Worker processes.")
@_option("--log-level", envvar="MODELYARD_LOG_LEVEL", default="info")
@_option("--pending-timeout", envvar="MODELYARD_PENDING_TIMEOUT",
         type=click.FloatRange(min=0.1), default=3600.0,
         help="Seconds a Unity Catalog version may stay PENDING_REGISTRATION before it is "
              "failed and its files removed.")
@_option("--graceful-timeout", envvar="MODELYARD_GRACEFUL_TIMEOUT",
         type=click.FloatRange(min=0), default=30.0,
         help="Seconds requests in flight (uploads, say) get to finish when the server is "
              "stopped (SIGTERM); then they are cut off and their uploads discarded.")
@_option("--upload-orphan-age", envvar="MODELYARD_UPLOAD_ORPHAN_AGE",
         type=click.FloatRange(min=0.1), default=3600.0,
         help="Seconds after which an upload nothing writes to any more (cut off by a crash "
              "or an outage) is removed: temporary files, S3 multipart uploads.")
@_option("--upload-sweep-interval", envvar="MODELYARD_UPLOAD_SWEEP_INTERVAL",
         type=click.FloatRange(min=0.1), default=600.0,
         help="Seconds between two looks for such uploads.")
@_option("--auth", envvar="MODELYARD_AUTH", is_flag=True, default=False,
         help="Require a token or password on every request. The first start creates the "
              "metastore admin `admin` and writes its token to <data-dir>/admin-token.")
@_option("--tracking-uri", envvar="MODELYARD_TRACKING_URI",
         help="http(s) address of the MLflow tracking server the versions' runs come from; "
              "the web pages then show run params, metrics, signatures and files.")
@_option("--tracking-token", envvar="MODELYARD_TRACKING_TOKEN", show_default=False,
         help="Bearer token for the tracking server.")
@_option("--signin-max-failures", envvar="MODELYARD_SIGNIN_MAX_FAILURES",
         type=click.IntRange(min=0), default=5,
         help="With --auth: failed password attempts for one user name that lock password "
              "sign-in for it (0: never lock).")
@_option("--signin-window", envvar="MODELYARD_SIGNIN_WINDOW", type=click.FloatRange(min=1.0),
         default=900.0, help="Seconds within which failed password attempts count together.")
@_option("--signin-lockout", envvar="MODELYARD_SIGNIN_LOCKOUT",
         type=click.FloatRange(min=1.0), default=300.0,
         help="Seconds a locked user name must wait (answered with 429 and Retry-After); "
              "tokens keep working.")
@_option("--uc-require-signature/--no-uc-require-signature",
         envvar="MODELYARD_UC_REQUIRE_SIGNATURE", default=True,
         help="Refuse to finalize a Unity Catalog model version whose MLmodel has no signature "
              "with inputs and outputs (Databricks' rule), whichever client registers it. "
              "--no-uc-require-signature turns it off for the whole metastore.")
@_option("--scan-mode", envvar="MODELYARD_SCAN_MODE", type=click.Choice(["flag", "reject"]),
         default="flag", show_default=True,
         help="What finalize does with a Unity Catalog version whose files would run code "
              "when loaded (the model scan finds it UNSAFE): flag = it becomes READY, marked "
              "UNSAFE (policies can require scan = 'CLEAN'); reject = it ends "
              "FAILED_REGISTRATION with the findings as its status message.")
@_option("--trusted-signers", envvar="MODELYARD_TRUSTED_SIGNERS", default="",
         help="Model signing: PEM public keys (EC P-256/384/521) and CA certificates, as files "
              "or directories, comma-separated. A Unity Catalog version whose model.sig "
              "(OpenSSF model_signing) verifies with one of them and covers exactly its files "
              "is `signed` (policy key signed = 'true').")
@_option("--refusal-limit", envvar="MODELYARD_REFUSAL_LIMIT", type=click.IntRange(min=0),
         default=120, help="With --auth: refused requests per minute from one client address; "
                           "past it, its further bad credentials get 429 unchecked (0: no limit).")
@_option("--audit-refusals-per-minute", envvar="MODELYARD_AUDIT_REFUSALS_PER_MINUTE",
         type=click.IntRange(min=0), default=10,
         help="Refused requests per minute from one source (user or address, and reason) "
              "written to the audit trail one by one; the rest become one summary row.")
@_option("--audit-refusal-window", envvar="MODELYARD_AUDIT_REFUSAL_WINDOW",
         type=click.FloatRange(min=1.0), default=60.0,
         help="Seconds over which --audit-refusals-per-minute counts (and each summary row).")
@_option("--max-body-size", envvar="MODELYARD_MAX_BODY_SIZE", type=ByteSize(), default="1MiB",
         help="Bytes a JSON or form request body may have (e.g. 1MiB, 512KiB); a bigger one is "
              "answered 413. Uploads through signed URLs are streamed, not bounded by it.")
@_option("--header-timeout", envvar="MODELYARD_HEADER_TIMEOUT",
         type=click.FloatRange(min=0.1), default=10.0,
         help="Seconds a client has to send a request's line and headers (a new connection: "
              "to send its first request).")
@_option("--body-timeout", envvar="MODELYARD_BODY_TIMEOUT", type=click.FloatRange(min=0.1),
         default=30.0, help="Seconds a request body may go without data arriving, or a "
                            "response without the client reading it.")
@_option("--keep-alive-timeout", envvar="MODELYARD_KEEP_ALIVE_TIMEOUT",
         type=click.FloatRange(min=0.1), default=5.0,
         help="Seconds an idle keep-alive connection stays open.")
@_option("--max-connections", envvar="MODELYARD_MAX_CONNECTIONS", type=click.IntRange(min=16),
         default=1000, help="Connections each worker keeps open; past it, the one that has "
                            "waited longest on its client is closed.")
@_option("--stream-keepalive", envvar="MODELYARD_STREAM_KEEPALIVE",
         type=click.FloatRange(min=0.1), default=15.0,
         help="Seconds between two keep-alive comments on an idle event stream.")
@_option("--log-format", envvar="MODELYARD_LOG_FORMAT", type=click.Choice(["text", "json"]),
         default="text", help="json: every log line one JSON object, and one line per request "
                              "(request id, route, status, duration, principal).")
@_option("--metrics/--no-metrics", envvar="MODELYARD_METRICS", default=True,
         help="Serve Prometheus metrics at /metrics.")
@_option("--metrics-token", envvar="MODELYARD_METRICS_TOKEN", show_default=False,
         help="When set, /metrics answers only 'Authorization: Bearer <token>' (prefer the "
              "variable: a flag shows in `ps`).")
@_option("--webhook-allow-hosts", envvar="MODELYARD_WEBHOOK_ALLOW_HOSTS", default="",
         help="Comma-separated host names, addresses or CIDRs webhooks may be delivered to "
              "although not public (loopback, private and link-local ones are refused "
              "otherwise), e.g. 'hooks.internal,10.0.0.0/8'.")
@_option("--webhook-max-attempts", envvar="MODELYARD_WEBHOOK_MAX_ATTEMPTS",
         type=click.IntRange(min=1), default=8,
         help="Attempts per webhook delivery before it is marked failed.")
@_option("--webhook-backoff", envvar="MODELYARD_WEBHOOK_BACKOFF",
         type=click.FloatRange(min=0.01), default=1.0,
         help="Seconds before the first retry of a webhook delivery; each next one waits "
              "twice as long (with jitter).")
@_option("--webhook-backoff-max", envvar="MODELYARD_WEBHOOK_BACKOFF_MAX",
         type=click.FloatRange(min=0.01), default=300.0,
         help="The longest wait between two attempts of a webhook delivery, in seconds.")
@_option("--webhook-timeout", envvar="MODELYARD_WEBHOOK_TIMEOUT",
         type=click.FloatRange(min=0.1), default=5.0,
         help="Seconds a webhook receiver has to answer one attempt.")
@_option("--webhook-retention", envvar="MODELYARD_WEBHOOK_RETENTION",
         type=click.FloatRange(min=1.0), default=7 * 86400.0,
         help="Seconds finished webhook deliveries stay in the delivery log.")
@_option("--retention-days", envvar="MODELYARD_RETENTION_DAYS",
         type=click.FloatRange(min=0), default=30.0,
         help="Days a deleted model or version stays in the trash (restorable by its owner or "
              "an admin) before it and its files are purged; fractions allowed.")
@_option("--trash-sweep-interval", envvar="MODELYARD_TRASH_SWEEP_INTERVAL",
         type=click.FloatRange(min=0.1), default=3600.0, hidden=True,
         help="Seconds between two purges of what outlived --retention-days.")
@_option("--insecure-no-auth", is_flag=True, default=False,
         help="Allow binding to a non-loopback address without --auth (everyone is admin).")
def serve(host: str, port: int, data_dir: Path, database_url: str | None,
          storage_root: str | None, allowed_storage_roots: str | None, workers: int,
          log_level: str, pending_timeout: float, graceful_timeout: float,
          upload_orphan_age: float, upload_sweep_interval: float,
          auth: bool, tracking_uri: str | None, tracking_token: str | None,
          signin_max_failures: int, signin_window: float, signin_lockout: float,
          refusal_limit: int, audit_refusals_per_minute: int, audit_refusal_window: float,
          max_body_size: int, header_timeout: float, body_timeout: float,
          keep_alive_timeout: float, max_connections: int, stream_keepalive: float,
          log_format: str, metrics: bool,
          metrics_token: str | None, webhook_allow_hosts: str, webhook_max_attempts: int,
          webhook_backoff: float, webhook_backoff_max: float, webhook_timeout: float,
          webhook_retention: float, uc_require_signature: bool, scan_mode: str,
          trusted_signers: str, retention_days: float, trash_sweep_interval: float,
          insecure_no_auth: bool) -> None:
    """Start the registry server."""
    from modelyard.domain.webhook_targets import AllowList

    try:
        AllowList.parse(webhook_allow_hosts)
    except ValueError as error:
        click.echo(f"--webhook-allow-hosts: {error}.", err=True)
        raise click.exceptions.Exit(2) from None
    if not auth and not insecure_no_auth and not identity_commands.is_loopback(host):
        click.echo(f"Refusing to listen on {host} without --auth: anyone who can reach it "
                   f"would act as the admin. Add --auth, or --insecure-no-auth to accept that.",
                   err=True)
        raise click.exceptions.Exit(2)
    if tracking_uri and not tracking_uri.startswith(("http://", "https://")):
        click.echo(f"--tracking-uri must be an http:// or https:// address, not {tracking_uri!r}.",
                   err=True)
        raise click.exceptions.Exit(2)
    from modelyard.services.model_signing import TrustedSigners

    try:
        TrustedSigners.load(trusted_signers)
    except ValueError as error:
        click.echo(f"--trusted-signers: {error}", err=True)
        raise click.exceptions.Exit(2) from None
    from modelyard.storage.roots import AllowedRoots

    try:  # the managed root's scheme does not matter here: only the syntax is checked
        AllowedRoots.parse("/", allowed_storage_roots)
    except ValueError as error:
        click.echo(f"--allowed-storage-roots: {error}", err=True)
        raise click.exceptions.Exit(2) from None

    from modelyard.observability import tracing

    problem = tracing.configuration_problem()
    if problem:
        click.echo(problem, err=True)
        raise click.exceptions.Exit(2)
    if _port_in_use(host, port):  # before the data directory or the database is touched
        raise fail(f"port {port} on {host} is in use; choose another with --port or "
                   "MODELYARD_PORT (and point the modelyard commands at it with --url or "
                   "MODELYARD_URL)", code=2)

    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from modelyard.cli import data_dir as private
    from modelyard.config import Settings
    from modelyard.domain.errors import Unavailable
    from modelyard.store import migrate, secrets
    from modelyard.store.database import describe_failure
    from modelyard.store.secret_box import SecretKeyError, open_box

    for note in private.prepare(data_dir):  # before anything is created in it
        click.echo(note, err=True)
    settings = Settings(host=host, port=port, data_dir=data_dir, database_url=database_url,
                        storage_root=storage_root,
                        allowed_storage_roots=allowed_storage_roots or None, workers=workers,
                        pending_timeout=pending_timeout, graceful_timeout=graceful_timeout,
                        upload_orphan_age=upload_orphan_age,
                        upload_sweep_interval=upload_sweep_interval, auth=auth,
                        signin_max_failures=signin_max_failures, signin_window=signin_window,
                        signin_lockout=signin_lockout, refusal_limit=refusal_limit,
                        audit_refusals_per_minute=audit_refusals_per_minute,
                        audit_refusal_window=audit_refusal_window,
                        tracking_uri=tracking_uri or None, tracking_token=tracking_token or None,
                        max_body_size=max_body_size, header_timeout=header_timeout,
                        body_timeout=body_timeout, keep_alive_timeout=keep_alive_timeout,
                        max_connections=max_connections, stream_keepalive=stream_keepalive,
                        metrics=metrics,
                        metrics_token=metrics_token or None, log_format=log_format,
                        webhook_allow_hosts=webhook_allow_hosts,
                        webhook_max_attempts=webhook_max_attempts,
                        webhook_backoff=webhook_backoff,
                        webhook_backoff_max=webhook_backoff_max,
                        webhook_timeout=webhook_timeout, webhook_retention=webhook_retention,
                        secret_key=os.environ.get("MODELYARD_SECRET_KEY") or None,
                        uc_require_signature=uc_require_signature, scan_mode=scan_mode,
                        trusted_signers=trusted_signers,
                        retention_days=retention_days,
                        trash_sweep_interval=trash_sweep_interval)
    database = open_database(settings.resolved_database_url)
    try:
        secret_box = open_box(settings.secret_key, settings.secret_key_file)
        migrate.upgrade(database, secret_box)
        secrets.check_key(database, secret_box)
        secrets.seal_plaintext(database, secret_box)
    except SecretKeyError as error:
        click.echo(f"Secret key: {error}", err=True)
        raise click.exceptions.Exit(2) from None
    except (SQLAlchemyError, Unavailable) as failure:
        database.dispose()
        cause = failure.__cause__ if isinstance(failure, Unavailable) else None
        raise fail(describe_failure(settings.resolved_database_url, cause or failure)) from None
    if auth:
        identity_commands.bootstrap_admin(database, data_dir, secret_box)
    from modelyard.api.http_protocol import ConnectionLimits, protocol_factory
    from modelyard.observability.logs import uvicorn_log_config

    limits = ConnectionLimits(header_timeout=header_timeout, body_timeout=body_timeout,
                              keep_alive_timeout=keep_alive_timeout,
                              max_connections=max_connections)
    # "auto": uvloop where it is installed (every platform but Windows): less CPU per request.
    # The lifespan's shutdown lets uploads cut off by a stop clean up (api/in_flight.py).
    common = {"host": host, "port": port, "log_level": log_level, "access_log": False,
              "http": protocol_factory(limits), "ws": "none", "loop": "auto",
              "lifespan": "on", "timeout_graceful_shutdown": graceful_timeout,
              "log_config": uvicorn_log_config(log_format, log_level) or _log_config(log_level)}
    if workers == 1:
        if metrics and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # The operator asked for files even with one process: start them empty too.
            _share_metrics_between_workers()
        from modelyard.app import create_app

        uvicorn.run(create_app(settings, database), **common)
    else:
        database.dispose()
        os.environ.update(settings.to_env())
        created = _share_metrics_between_workers() if metrics else None
        try:
            _run_workers(workers, common)
        finally:
            if created:
                import shutil

                shutil.rmtree(created, ignore_errors=True)


def _port_in_use(host: str, port: int) -> bool:
    """Whether another socket listens on host:port: a socket bound there with SO_REUSEADDR, as
    uvicorn and the workers' sockets bind, is refused only by a listener (a connection of an
    earlier run left in TIME_WAIT does not count). The socket is closed at once: with
    --workers, the supervisor binds the port afresh. Any other failure (an address this host
    does not have, a port below 1024) is left for the server's own start to report."""
    import errno
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                       socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def _share_metrics_between_workers() -> str | None:
    """Point the workers' metrics at one folder (prometheus-client's multiprocess mode), made
    empty first: the operator's PROMETHEUS_MULTIPROC_DIR, else a new temporary folder, which
    is returned (to be removed when the server stops)."""
    import tempfile

    from modelyard.observability.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

    path = os.environ.get(MULTIPROC_ENV)
    created = None
    if not path:
        path = created = tempfile.mkdtemp(prefix="modelyard-metrics-")
    prepare_multiprocess_dir(path)
    os.environ[MULTIPROC_ENV] = path
    return created


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with Modelyard's own loggers on the same handler at the same level
    (without a handler of their own, their INFO lines went nowhere)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["modelyard"] = {"handlers": ["default"], "level": level.upper(),
                                      "propagate": False}
    return config


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
    import socket

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

        def keep_subprocess_alive(self) -> None:
            before = {process.pid for process in self.processes}
            super().keep_subprocess_alive()
            from modelyard.observability.metrics import worker_exited

            for pid in before - {process.pid for process in self.processes}:
                if pid is not None:
                    worker_exited(pid)  # its in-flight gauge no longer counts

        def run(self) -> None:
            try:
                super().run()
            finally:
                self._close_handed()

    return ReusePortWorkers(config)


uc_commands.register(app)
webhook_commands.register(app)
alias_commands.register(app)
identity_commands.register(app)
operations_commands.register(app)
governance_commands.register(app)
trash_commands.register(app)
scan_commands.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
