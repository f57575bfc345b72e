"""Server settings: command-line flags, each also readable from `MODELYARD_<NAME>`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from modelyard.store.database import sqlite_url_for

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


def parse_size(text: str) -> int:
    """Bytes from `1048576`, `512KiB`, `1MiB`, `10MB` (ValueError otherwise)."""
    cleaned = text.strip().lower().replace(" ", "")
    digits = cleaned.rstrip("bkmgi")
    unit = cleaned[len(digits):]
    if not digits.isascii() or not digits.isdigit() or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size: write bytes, or a number with KiB, MiB, "
                         f"GiB (or kB, MB, GB)")
    return int(digits) * _UNITS[unit]


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("modelyard-data")
    database_url: str | None = None
    storage_root: str | None = None
    #: Where catalogs and schemas may keep their files besides the managed storage: prefixes
    #: separated by commas (local paths, `s3://bucket/prefix`); none by default
    #: (storage/roots.py).
    allowed_storage_roots: str | None = None
    workers: int = 1
    #: Seconds a UC version may stay PENDING_REGISTRATION before it is failed and its files
    #: removed.
    pending_timeout: float = 3600.0
    #: Seconds in-flight requests (an upload, say) get to finish when the server stops.
    graceful_timeout: float = 30.0
    #: What interrupted uploads leave (temporary files, multipart uploads) is removed once
    #: nothing was written to it for `upload_orphan_age` seconds, looked for every
    #: `upload_sweep_interval` seconds (services/storage_gc.py).
    upload_orphan_age: float = 3600.0
    upload_sweep_interval: float = 600.0
    #: Authenticate every request (`serve --auth`); off: every call is the local admin.
    auth: bool = False
    #: Password sign-in throttle (services/signin_throttle.py): this many failed attempts for
    #: one user name (0: no throttle) within `signin_window` seconds lock password sign-in for
    #: it during `signin_lockout` seconds.
    signin_max_failures: int = 5
    signin_window: float = 900.0
    signin_lockout: float = 300.0
    #: Refused requests per minute from one client address before its further bad credentials
    #: are refused with 429 unchecked (services/address_limit.py); 0: no limit.
    refusal_limit: int = 120
    #: Refusals per minute from one source (actor, address, reason) written to the audit trail
    #: one by one; the rest of that minute become one summary row (services/denied_log.py).
    audit_refusals_per_minute: int = 10
    #: The length of that "minute", in seconds.
    audit_refusal_window: float = 60.0
    #: The http(s) address of the MLflow tracking server the workspace versions' runs live in;
    #: the web pages read params, metrics, signatures and file lists from it.
    tracking_uri: str | None = None
    #: Bearer token for that server; kept out of repr() so that it never reaches a log.
    tracking_token: str | None = field(default=None, repr=False)
    #: Databricks' rule: a Unity Catalog version must have a signature with inputs and outputs
    #: to be finalized, whichever client registers it. Off: for the whole metastore.
    uc_require_signature: bool = True
    #: The model scan at finalize (services/scanning.py): "flag" (an UNSAFE version becomes
    #: READY, marked) or "reject" (it ends FAILED_REGISTRATION).
    scan_mode: str = "flag"
    #: Model signing (issue 20 item 4): the PEM public keys and CA certificates (files or
    #: directories, comma-separated) whose `model.sig` signatures make a UC version `signed`
    #: (services/model_signing.py). Not the MLmodel's schema signature above.
    trusted_signers: str = ""
    #: The key that encrypts the secrets kept in the database (store/secret_box.py); only from
    #: MODELYARD_SECRET_KEY (a flag would show in `ps`). None: `<data-dir>/secret-key`.
    secret_key: str | None = field(default=None, repr=False)
    #: Serve Prometheus metrics at /metrics (observability/metrics.py).
    metrics: bool = True
    #: When set, /metrics answers only `Authorization: Bearer <this>`; kept out of repr().
    metrics_token: str | None = field(default=None, repr=False)
    #: "text" (uvicorn's lines, no request log) or "json" (every record one JSON object, and
    #: one record per request).
    log_format: str = "text"
    #: Bytes a JSON or form request body may have (uploads through signed URLs are streamed
    #: and not bounded by it): a bigger one is answered 413 before more of it is read.
    max_body_size: int = 1024 * 1024
    #: Seconds a client has to send a request's line and headers (also: to start one on a new
    #: connection), that a request or response body may make no progress, and that a
    #: keep-alive connection may stay idle; connections each worker keeps open at most.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000
    #: Seconds between two keep-alive comments on an idle event stream
    #: (/api/modelyard/v1/events/stream).
    stream_keepalive: float = 15.0
    #: Webhook targets allowed although not public (comma-separated host names, addresses,
    #: CIDRs); see domain/webhook_targets.py.
    webhook_allow_hosts: str = ""
    #: Attempts per webhook delivery before it is marked failed; the first retry waits
    #: `webhook_backoff` seconds, each next one twice as long (with jitter), at most
    #: `webhook_backoff_max`. Finished deliveries stay in the log `webhook_retention` seconds.
    webhook_max_attempts: int = 8
    webhook_backoff: float = 1.0
    webhook_backoff_max: float = 300.0
    webhook_timeout: float = 5.0
    webhook_retention: float = 7 * 86400.0
    #: Deleted models and versions stay in the trash this many days (fractions allowed), then
    #: the trash sweep, every `trash_sweep_interval` seconds, purges them (services/trash.py).
    retention_days: float = 30.0
    trash_sweep_interval: float = 3600.0

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or sqlite_url_for(self.data_dir)

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret-key"

    @property
    def resolved_storage_root(self) -> str:
        return self.storage_root or str((self.data_dir / "artifacts").resolve())

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables, for worker processes to read back."""
        env = {"MODELYARD_HOST": self.host, "MODELYARD_PORT": str(self.port),
               "MODELYARD_DATA_DIR": str(self.data_dir.resolve()),
               "MODELYARD_DATABASE_URL": self.resolved_database_url,
               "MODELYARD_STORAGE_ROOT": self.resolved_storage_root,
               "MODELYARD_ALLOWED_STORAGE_ROOTS": self.allowed_storage_roots or "",
               "MODELYARD_WORKERS": str(self.workers),
               "MODELYARD_PENDING_TIMEOUT": str(self.pending_timeout),
               "MODELYARD_GRACEFUL_TIMEOUT": str(self.graceful_timeout),
               "MODELYARD_UPLOAD_ORPHAN_AGE": str(self.upload_orphan_age),
               "MODELYARD_UPLOAD_SWEEP_INTERVAL": str(self.upload_sweep_interval),
               "MODELYARD_AUTH": "1" if self.auth else "0",
               "MODELYARD_SIGNIN_MAX_FAILURES": str(self.signin_max_failures),
               "MODELYARD_SIGNIN_WINDOW": str(self.signin_window),
               "MODELYARD_SIGNIN_LOCKOUT": str(self.signin_lockout),
               "MODELYARD_REFUSAL_LIMIT": str(self.refusal_limit),
               "MODELYARD_AUDIT_REFUSALS_PER_MINUTE": str(self.audit_refusals_per_minute),
               "MODELYARD_AUDIT_REFUSAL_WINDOW": str(self.audit_refusal_window),
               "MODELYARD_MAX_BODY_SIZE": str(self.max_body_size),
               "MODELYARD_HEADER_TIMEOUT": str(self.header_timeout),
               "MODELYARD_BODY_TIMEOUT": str(self.body_timeout),
               "MODELYARD_KEEP_ALIVE_TIMEOUT": str(self.keep_alive_timeout),
               "MODELYARD_MAX_CONNECTIONS": str(self.max_connections),
               "MODELYARD_STREAM_KEEPALIVE": str(self.stream_keepalive),
               "MODELYARD_WEBHOOK_ALLOW_HOSTS": self.webhook_allow_hosts,
               "MODELYARD_WEBHOOK_MAX_ATTEMPTS": str(self.webhook_max_attempts),
               "MODELYARD_WEBHOOK_BACKOFF": str(self.webhook_backoff),
               "MODELYARD_WEBHOOK_BACKOFF_MAX": str(self.webhook_backoff_max),
               "MODELYARD_WEBHOOK_TIMEOUT": str(self.webhook_timeout),
               "MODELYARD_WEBHOOK_RETENTION": str(self.webhook_retention),
               "MODELYARD_RETENTION_DAYS": str(self.retention_days),
               "MODELYARD_TRASH_SWEEP_INTERVAL": str(self.trash_sweep_interval),
               "MODELYARD_UC_REQUIRE_SIGNATURE": "1" if self.uc_require_signature else "0",
               "MODELYARD_SCAN_MODE": self.scan_mode,
               "MODELYARD_TRUSTED_SIGNERS": self.trusted_signers}
        if self.tracking_uri:
            env["MODELYARD_TRACKING_URI"] = self.tracking_uri
        if self.tracking_token:
            env["MODELYARD_TRACKING_TOKEN"] = self.tracking_token
        if self.secret_key:
            env["MODELYARD_SECRET_KEY"] = self.secret_key
        env["MODELYARD_METRICS"] = "1" if self.metrics else "0"
        if self.metrics_token:
            env["MODELYARD_METRICS_TOKEN"] = self.metrics_token
        env["MODELYARD_LOG_FORMAT"] = self.log_format
        return env

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            host=env.get("MODELYARD_HOST", cls.host),
            port=int(env.get("MODELYARD_PORT", cls.port)),
            data_dir=Path(env.get("MODELYARD_DATA_DIR", str(cls.data_dir))),
            database_url=env.get("MODELYARD_DATABASE_URL") or None,
            storage_root=env.get("MODELYARD_STORAGE_ROOT") or None,
            allowed_storage_roots=env.get("MODELYARD_ALLOWED_STORAGE_ROOTS") or None,
            workers=int(env.get("MODELYARD_WORKERS", cls.workers)),
            pending_timeout=float(env.get("MODELYARD_PENDING_TIMEOUT", cls.pending_timeout)),
            graceful_timeout=float(env.get("MODELYARD_GRACEFUL_TIMEOUT", cls.graceful_timeout)),
            upload_orphan_age=float(env.get("MODELYARD_UPLOAD_ORPHAN_AGE",
                                            cls.upload_orphan_age)),
            upload_sweep_interval=float(env.get("MODELYARD_UPLOAD_SWEEP_INTERVAL",
                                                cls.upload_sweep_interval)),
            auth=env.get("MODELYARD_AUTH", "0").lower() in ("1", "true", "yes"),
            signin_max_failures=int(env.get("MODELYARD_SIGNIN_MAX_FAILURES",
                                            cls.signin_max_failures)),
            signin_window=float(env.get("MODELYARD_SIGNIN_WINDOW", cls.signin_window)),
            signin_lockout=float(env.get("MODELYARD_SIGNIN_LOCKOUT", cls.signin_lockout)),
            refusal_limit=int(env.get("MODELYARD_REFUSAL_LIMIT", cls.refusal_limit)),
            audit_refusals_per_minute=int(env.get("MODELYARD_AUDIT_REFUSALS_PER_MINUTE",
                                                  cls.audit_refusals_per_minute)),
            audit_refusal_window=float(env.get("MODELYARD_AUDIT_REFUSAL_WINDOW",
                                               cls.audit_refusal_window)),
            tracking_uri=env.get("MODELYARD_TRACKING_URI") or None,
            tracking_token=env.get("MODELYARD_TRACKING_TOKEN") or None,
            uc_require_signature=env.get("MODELYARD_UC_REQUIRE_SIGNATURE", "1").lower()
            not in ("0", "false", "no"),
            scan_mode=env.get("MODELYARD_SCAN_MODE", cls.scan_mode),
            trusted_signers=env.get("MODELYARD_TRUSTED_SIGNERS", ""),
            secret_key=env.get("MODELYARD_SECRET_KEY") or None,
            metrics=env.get("MODELYARD_METRICS", "1").lower() not in ("0", "false", "no"),
            metrics_token=env.get("MODELYARD_METRICS_TOKEN") or None,
            log_format=env.get("MODELYARD_LOG_FORMAT", cls.log_format),
            max_body_size=parse_size(env.get("MODELYARD_MAX_BODY_SIZE", str(cls.max_body_size))),
            header_timeout=float(env.get("MODELYARD_HEADER_TIMEOUT", cls.header_timeout)),
            body_timeout=float(env.get("MODELYARD_BODY_TIMEOUT", cls.body_timeout)),
            keep_alive_timeout=float(env.get("MODELYARD_KEEP_ALIVE_TIMEOUT",
                                             cls.keep_alive_timeout)),
            max_connections=int(env.get("MODELYARD_MAX_CONNECTIONS", cls.max_connections)),
            stream_keepalive=float(env.get("MODELYARD_STREAM_KEEPALIVE",
                                           cls.stream_keepalive)),
            webhook_allow_hosts=env.get("MODELYARD_WEBHOOK_ALLOW_HOSTS", ""),
            webhook_max_attempts=int(env.get("MODELYARD_WEBHOOK_MAX_ATTEMPTS",
                                             cls.webhook_max_attempts)),
            webhook_backoff=float(env.get("MODELYARD_WEBHOOK_BACKOFF", cls.webhook_backoff)),
            webhook_backoff_max=float(env.get("MODELYARD_WEBHOOK_BACKOFF_MAX",
                                              cls.webhook_backoff_max)),
            webhook_timeout=float(env.get("MODELYARD_WEBHOOK_TIMEOUT", cls.webhook_timeout)),
            webhook_retention=float(env.get("MODELYARD_WEBHOOK_RETENTION",
                                            cls.webhook_retention)),
            retention_days=float(env.get("MODELYARD_RETENTION_DAYS", cls.retention_days)),
            trash_sweep_interval=float(env.get("MODELYARD_TRASH_SWEEP_INTERVAL",
                                               cls.trash_sweep_interval)),
        )
