"""The composition root: everything the server runs, built in one visible order.

    storage (database, the key for its secrets, artifact store, allowed storage roots)
      -> the unit-of-work factory and what runs on every commit (`commit_hooks`)
      -> the services, each given its collaborators in its constructor
      -> background workers (webhook delivery, the pending-version sweep, the sweep of
         interrupted uploads, table upkeep)

`app.py` puts the result on the ASGI app's state for the HTTP adapters; the CLI builds the unit
of work with the same hooks (`units_for`), so a change made from the command line is audited
like one made over HTTP. Nothing is wired later by setting attributes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from modelyard.config import Settings
from modelyard.domain.actor import SYSTEM
from modelyard.domain.scans import parse_mode
from modelyard.domain.webhook_targets import AllowList
from modelyard.events.webhooks import WebhookDispatcher
from modelyard.services import audit, grants, history, webhooks
from modelyard.services.alias_requests import AliasRequestService
from modelyard.services.catalogs import CatalogService
from modelyard.services.event_stream import EventHub
from modelyard.services.identity import IdentityService
from modelyard.services.maintenance import start_table_upkeep
from modelyard.services.mlflow_webhooks import MlflowWebhookService
from modelyard.services.model_files import ModelFileService, UrlSigner
from modelyard.services.model_signing import ModelSigningService, TrustedSigners
from modelyard.services.operations import OperationsService
from modelyard.services.permissions import WorkspacePermissionService
from modelyard.services.policies import PolicyGate, PolicyService
from modelyard.services.promotion import Promotion
from modelyard.services.registry import RegistryService
from modelyard.services.scanning import ScanService
from modelyard.services.signin_throttle import ThrottlePolicy
from modelyard.services.storage_gc import start_upload_sweeper
from modelyard.services.tracking import TrackingService
from modelyard.services.transitions import TransitionService
from modelyard.services.trash import TrashBin, TrashService, follow_renames, start_trash_sweeper
from modelyard.services.uc_models import UcModelService, start_sweeper
from modelyard.services.uc_prompts import UcPromptService
from modelyard.services.unit_of_work import UnitOfWorkFactory
from modelyard.services.version_import import VersionImportService
from modelyard.storage.base import ArtifactStore
from modelyard.storage.factory import open_store
from modelyard.storage.roots import AllowedRoots
from modelyard.store import secrets
from modelyard.store.cooperative import run_cooperatively
from modelyard.store.database import Database
from modelyard.store.secret_box import SecretBox, open_box

#: How a request's handler runs: in a greenlet that may wait without blocking the loop
#: (store/cooperative.py): on PostgreSQL for its point reads' answers, on SQLite for the COMMIT
#: its write shares with the requests served with it (store/group_commit.py).
HandlerRunner = Callable[..., Awaitable[Any]]


def commit_hooks(units: UnitOfWorkFactory, dispatcher: WebhookDispatcher) -> None:
    """What runs on every commit that recorded events, in this order.

    In the change's own transaction (a failure rolls the change back):
      1. the audit trail appends one hash-chained row per event (services/audit.py);
         then the model history (services/history.py): alias, stage, tag and description
         changes, the live event stream's source; after the audit row, whose chain-head lock
         makes history ids grow in commit order;
      2. Unity Catalog grants follow a renamed or deleted securable (services/grants.py);
      3. registry webhooks follow a renamed or deleted model (services/webhooks.py), and
         legal holds a renamed model, schema or catalog (services/trash.py);
      4. each matching webhook's delivery is written to the outbox (events/webhooks.py), after
         3 so that a renamed model's webhooks already carry the new name.
    After the commit: the webhook workers are woken to deliver (failures are logged only).
    For a refused request (rolled back): the audit trail records the refusal, in a
    transaction of its own.
    """
    units.before_commit.extend([audit.append, history.record, grants.follow_changes,
                                webhooks.follow_models, follow_renames,
                                dispatcher.before_commit])
    units.after_commit.append(dispatcher.after_commit)
    units.on_denied.append(audit.append)


def units_for(database: Database, secret_box: SecretBox, settings: Settings | None = None
              ) -> tuple[UnitOfWorkFactory, WebhookDispatcher]:
    """The unit-of-work factory with every commit hook; the dispatcher is not started (the
    server's `bootstrap` starts it; a CLI command leaves its deliveries in the outbox).
    `secret_box` seals and opens the webhooks' secrets (store/secret_box.py); `settings`: how
    refusals are summarized in the audit trail (services/denied_log.py), and the webhook
    delivery's retries and allowed targets."""
    settings = settings or Settings()
    units = UnitOfWorkFactory(database, secret_box, settings.audit_refusals_per_minute,
                              settings.audit_refusal_window)
    dispatcher = webhook_dispatcher(database, secret_box, settings)
    commit_hooks(units, dispatcher)
    return units, dispatcher


def webhook_dispatcher(database: Database, secret_box: SecretBox, settings: Settings
                       ) -> WebhookDispatcher:
    """The webhook delivery of both dialects, with the operator's retry and target
    settings."""
    return WebhookDispatcher(
        database, secret_box, timeout=settings.webhook_timeout,
        attempts=settings.webhook_max_attempts, backoff=settings.webhook_backoff,
        backoff_max=settings.webhook_backoff_max,
        retention=settings.webhook_retention,
        allow=AllowList.parse(settings.webhook_allow_hosts))


@dataclass
class Modelyard:
    """Every service the adapters call, and what they share. The HTTP handlers read each as
    `request.app.state.<field>`."""

    settings: Settings
    database: Database
    units: UnitOfWorkFactory
    artifacts: ArtifactStore  # where model files are kept (storage/)
    registry: RegistryService
    uc_catalogs: CatalogService
    uc_models: UcModelService
    policies: PolicyService
    trash: TrashService  # the trash (list, restore, purge, its sweep) and legal holds
    scans: ScanService  # the model scan: on demand (finalize calls it through uc_models)
    alias_requests: AliasRequestService
    model_files: ModelFileService
    model_signing: ModelSigningService  # model.sig verdicts (issue 20 item 4)
    uc_prompts: UcPromptService
    transitions: TransitionService
    workspace_permissions: WorkspacePermissionService
    grants: grants.GrantService
    identity: IdentityService
    audit: audit.AuditService
    history: history.HistoryService  # alias/stage/tag history, compare-and-set, rollback
    events: EventHub  # the live event stream's follower of the history table
    webhooks: webhooks.WebhookService
    mlflow_webhooks: MlflowWebhookService
    tracking: TrackingService  # read by the web pages only
    operations: OperationsService  # /ready and the database's side of /metrics
    version_import: VersionImportService  # import-mlflow's versions under given numbers
    cooperative: HandlerRunner | None
    #: Whether reads (GET) run in it too: on PostgreSQL for their point reads' waits; on
    #: SQLite a read waits for nothing, and a greenlet would only cost it CPU (~7 us).
    cooperative_reads: bool
    #: Set one of these to stop its background worker.
    stops: dict[str, threading.Event] = field(default_factory=dict)


def bootstrap(settings: Settings, database: Database | None = None) -> Modelyard:
    """Build every part of the server and start its background workers."""
    built = build(settings, database)
    start_background(built)
    return built


def build(settings: Settings, database: Database | None = None) -> Modelyard:
    """Every part of the server, nothing started (the services' tests use this too)."""
    # Storage, and the key for the secrets kept in the database (`serve` made the key file).
    database = database or Database(settings.resolved_database_url)
    secret_box = open_box(settings.secret_key, settings.secret_key_file)
    artifacts = open_store(settings.resolved_storage_root)
    roots = AllowedRoots.parse(artifacts.root, settings.allowed_storage_roots)
    units, dispatcher = units_for(database, secret_box, settings)
    events = EventHub(database, keepalive=settings.stream_keepalive)
    # A commit in this process wakes the stream's follower at once (other processes' commits
    # reach it by polling).
    units.after_commit.append(events.wake)

    # Services: collaborators first.
    metastore_id = str(uuid.UUID(bytes=secrets.get_or_create(database, "metastore-id",
                                                               secret_box)[:16]))
    uc_catalogs = CatalogService(units, artifacts, roots, metastore_id)
    # Promotion policies: every alias move and stage change of every registry passes this gate.
    gate = PolicyGate(artifacts)
    # The model scan every UC version's files get at finalize (services/scanning.py).
    scans = ScanService(units, artifacts, parse_mode(settings.scan_mode))
    # Model signing: model.sig verified at finalize against --trusted-signers.
    model_signing = ModelSigningService(units, artifacts,
                                        TrustedSigners.load(settings.trusted_signers))
    # Deleting a model or a version moves it to the trash for the retention period.
    trash_bin = TrashBin(settings.retention_days)
    uc_models = UcModelService(units, artifacts, roots, settings.pending_timeout, gate=gate,
                               require_signature=settings.uc_require_signature,
                               signing=model_signing, scanner=scans, trash=trash_bin)
    registry = RegistryService(units, promotion=Promotion(uc_catalogs, uc_models), gate=gate,
                               trash=trash_bin)
    signer = UrlSigner(secrets.get_or_create(database, "file-url-signing", secret_box))
    throttle = ThrottlePolicy(settings.signin_max_failures, settings.signin_window,
                              settings.signin_lockout)
    built = Modelyard(
        settings=settings, database=database, units=units, artifacts=artifacts,
        registry=registry, uc_catalogs=uc_catalogs, uc_models=uc_models,
        model_files=ModelFileService(uc_models, signer),
        model_signing=model_signing,
        uc_prompts=UcPromptService(uc_models),
        transitions=TransitionService(units, gate),
        policies=PolicyService(units),
        trash=TrashService(units, artifacts, trash_bin),
        scans=scans,
        alias_requests=AliasRequestService(units, gate),
        workspace_permissions=WorkspacePermissionService(units),
        grants=grants.GrantService(units),
        identity=IdentityService(units, throttle),
        audit=audit.AuditService(units),
        history=history.HistoryService(units, registry, uc_models),
        events=events,
        webhooks=webhooks.WebhookService(units, dispatcher),
        mlflow_webhooks=MlflowWebhookService(units, dispatcher),
        tracking=TrackingService.from_settings(settings),
        operations=OperationsService(database, artifacts),
        version_import=VersionImportService(units, uc_models),
        cooperative=run_cooperatively,
        cooperative_reads=database.dialect == "postgresql",
    )
    return built


def start_background(built: Modelyard) -> None:
    """The background workers. Every replica may run each: their steps are idempotent."""
    # At start, not on the first event: deliveries left by a stopped process go out too.
    built.webhooks.dispatcher.start()
    interval = max(0.2, min(60.0, built.settings.pending_timeout / 4))
    built.stops["uc_sweeper"] = start_sweeper(built.uc_models, SYSTEM, interval)
    built.stops["upload_sweeper"] = start_upload_sweeper(
        built.database, built.artifacts, built.settings.upload_sweep_interval,
        built.settings.upload_orphan_age)
    built.stops["trash_sweeper"] = start_trash_sweeper(built.trash,
                                                       built.settings.trash_sweep_interval)
    if built.database.dialect == "postgresql":
        built.stops["table_upkeep"] = start_table_upkeep(built.database)
