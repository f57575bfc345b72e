"""Delivering webhooks of both dialects (Databricks' registry webhooks, MLflow 3's): an outbox
in the database, signed POSTs, retries, a delivery log.

`WebhookDispatcher.before_commit` runs inside the transaction of every change: it matches the
change's events against the ACTIVE webhooks and writes one outbox row (`webhook_deliveries`)
per delivery, with the exact body. The rows commit with the change or not at all, so an event
is neither lost when the process stops or crashes nor sent for a change that rolled back.
After the commit, `after_commit` wakes a worker thread; workers also look for due rows every
`poll` seconds, which delivers what another replica or a previous process left behind.

A worker claims due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never take the
same row; only the oldest pending row of each webhook, so each webhook's deliveries go in
order) for `timeout` + a margin (a crashed worker's claim lapses), POSTs each, logs the attempt
(`webhook_delivery_attempts`) and marks the row delivered, failed (refused for good, or out of
attempts), or due again after an exponential backoff with jitter. Finished rows are the
delivery log, pruned after `retention` seconds. Delivery is at least once: a crash between a
receiver's 2xx and the row's update sends that delivery again (MLflow receivers see the same
X-MLflow-Delivery-Id). A slow or dead receiver never slows or fails the API call that caused
the event. Every connection's peer address is checked against the allow-list after connecting
(events/targets.py); redirects are not followed.

The ACTIVE webhooks are cached per process and reloaded at most every `refresh` seconds (1 s):
looking them up per event cost 0.2-0.3 ms of CPU per write (bench populate, 0.52 -> 0.73-0.84
ms/request). Changes committed through this process apply at once (`invalidate`, from the
recorded events); a webhook created or changed through another replica applies within
`refresh`. Events no cached webhook wants write nothing.

Nothing here logs a URL (receiver URLs often carry tokens), a secret or an Authorization
value: log lines name the webhook by id.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import random
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Connection

from modelyard.domain import mlflow_webhooks, webhooks
from modelyard.domain.actor import Actor
from modelyard.domain.changes import Event
from modelyard.domain.clock import now_ms
from modelyard.domain.errors import Unavailable
from modelyard.domain.mlflow_webhooks import MlflowEvent
from modelyard.domain.webhook_targets import AllowList
from modelyard.domain.webhooks import Dialect, Occurrence, Webhook, WebhookStatus
from modelyard.events.targets import TargetRefused, check_url, connector
from modelyard.observability import metrics
from modelyard.store.database import Database
from modelyard.store.secret_box import SecretBox
from modelyard.store.webhooks import (
    DELIVERED,
    FAILED,
    AttemptRecord,
    PendingDelivery,
    WebhookRepository,
)

log = logging.getLogger("modelyard.webhooks")

SIGNATURE_HEADER = "X-Databricks-Signature"
MAX_RESPONSE_BODY = 64 * 1024
#: How much of an answer the delivery log keeps.
LOGGED_RESPONSE = 1024
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: Committed changes after which the cached webhooks are out of date (services.webhooks).
_CHANGES_WEBHOOKS = frozenset({"registry_webhook.create", "registry_webhook.update",
                               "registry_webhook.delete", "mlflow_webhook.create",
                               "mlflow_webhook.update", "mlflow_webhook.delete",
                               "registered_model.rename", "registered_model.delete"})
_TRIGGERING = webhooks.TRIGGERING_ACTIONS | mlflow_webhooks.TRIGGERING_ACTIONS
#: Seconds between two prunings of the delivery log.
_PRUNE_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the receiver answered; `status_code` is None when no answer came."""

    status_code: int | None
    body: str = ""
    error: str | None = None
    latency_ms: int = 0
    refused: bool = False  # the target is not allowed: never retried

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def sign(body: bytes, secret: str) -> str:
    """The X-Databricks-Signature value: hex HMAC-SHA256 of the exact body bytes."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers_for(hook: Webhook, body: bytes, delivery_uuid: str) -> dict[str, str]:
    """The dialect's headers: Databricks' signature and Authorization, or MLflow's delivery id,
    timestamp and `v1,` signature (mlflow/webhooks/delivery.py)."""
    headers = {"Content-Type": "application/json", "User-Agent": "Modelyard-Webhooks/1"}
    target = hook.target
    if hook.dialect is Dialect.MLFLOW:
        timestamp = str(int(time.time()))
        headers[mlflow_webhooks.DELIVERY_ID_HEADER] = delivery_uuid
        headers[mlflow_webhooks.TIMESTAMP_HEADER] = timestamp
        if target.secret:
            headers[mlflow_webhooks.SIGNATURE_HEADER] = mlflow_webhooks.sign(
                target.secret, delivery_uuid, timestamp, body)
        return headers
    if target.secret:
        headers[SIGNATURE_HEADER] = sign(body, target.secret)
    if target.authorization:
        headers["Authorization"] = target.authorization
    return headers


def _connection(url: str, timeout: float, allow: AllowList, verify: bool
                ) -> tuple[http.client.HTTPConnection, str]:
    """A connection to the URL's host whose peer address is checked right after connecting
    (events/targets.py), and the request target (path and query)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context() if verify else ssl._create_unverified_context()
        connection = http.client.HTTPSConnection(host, parts.port, timeout=timeout,
                                                 context=context)
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    # The socket is made by this function (http.client's own hook): the check runs before
    # TLS or a byte of the request.
    connection._create_connection = connector(allow, host)  # type: ignore[attr-defined]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return connection, target


def post(hook: Webhook, body: bytes, timeout: float, allow: AllowList,
         delivery_uuid: str) -> Outcome:
    """One POST of `body` to the webhook's URL, with its dialect's headers (spelled as the
    dialect spells them); the peer address must be allowed. A redirect is an answer, not
    followed (it could lead past the allow-list, and a redirected POST loses its body); no
    proxy from the environment is used (the checked peer would be the proxy)."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        connection, target = _connection(hook.target.url, timeout, allow,
                                         hook.target.enable_ssl_verification)
        try:
            connection.request("POST", target, body=body,
                               headers=headers_for(hook, body, delivery_uuid))
            response = connection.getresponse()
            text = response.read(MAX_RESPONSE_BODY).decode(errors="replace")
        finally:
            connection.close()
    except TargetRefused as error:
        return Outcome(None, "", f"refused: {error}"[:500], took(), refused=True)
    except (OSError, ValueError, http.client.HTTPException) as error:
        # refused, unreachable, timeout, TLS, a bad URL or answer
        return Outcome(None, "", f"{type(error).__name__}: {error}"[:500], took())
    if 200 <= response.status < 300:
        return Outcome(response.status, text, latency_ms=took())
    return Outcome(response.status, text, f"HTTP {response.status}", took())


def _record_outcome(repo: WebhookRepository, webhook_id: str, outcome: Outcome) -> None:
    """The last delivery's outcome, shown on the webhook (`list`)."""
    repo.record_delivery(webhook_id, now_ms(), outcome.status_code,
                         None if outcome.ok else outcome.error)


def _occurrences(events: list[Event], user: str) -> list[Occurrence]:
    return [o for e in events
            for o in webhooks.occurrences(e.action, e.object_name, e.before, e.after, user)]


def _model_of(event: Event) -> str:
    if event.object_type == "model_version":
        return event.object_name.rsplit("/", 1)[0]
    return event.object_name


def _mlflow_deliveries(conn: Connection, events: list[Event], hooks: list[Webhook],
                       now: int) -> list[tuple[str, str, bytes]]:
    """(webhook id, event, body) for the MLflow webhooks that want these changes."""
    wanted: set[Any] = {e for h in hooks for e in h.events}
    prompts: dict[str, bool] = {}
    found: list[tuple[str, str, bytes]] = []
    for event in events:
        if not wanted & mlflow_webhooks.candidates(event.action):
            continue
        model = _model_of(event)
        prompt = False
        if event.action in mlflow_webhooks.NEEDS_MODEL_TAGS:
            if model not in prompts:
                prompts[model] = WebhookRepository(conn).model_is_prompt(model)
            prompt = prompts[model]
        raised = mlflow_webhooks.occurrence(event.action, event.object_name, event.before,
                                            event.after, prompt)
        if raised is None:
            continue
        kind, data = raised
        body = mlflow_webhooks.body(kind, data, now)
        found.extend((h.id, kind.value, body) for h in hooks if kind in h.events)
    return found


class WebhookDispatcher:
    """Writes each change's deliveries into the outbox and delivers them from worker
    threads."""

    def __init__(self, database: Database, box: SecretBox, *, workers: int = 2,
                 timeout: float = 5.0, attempts: int = 8, backoff: float = 1.0,
                 backoff_max: float = 300.0, retention: float = 7 * 86400.0,
                 allow: AllowList | None = None,
                 refresh: float = 1.0, poll: float = 1.0, batch: int = 10) -> None:
        self.database = database
        self.box = box
        self.workers = workers
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.retention = retention
        self.allow = allow or AllowList()
        self.refresh = refresh
        self.poll = poll
        self.batch = batch
        self._wake = threading.Event()
        #: Per request thread: whether its current transaction wrote outbox rows.
        self._local = threading.local()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        #: (monotonic time the load began, the ACTIVE webhooks); replaced whole.
        self._cache: tuple[float, tuple[Webhook, ...]] = (float("-inf"), ())
        self._invalidated_at = float("-inf")
        self._pruned_at = float("-inf")

    def invalidate(self) -> None:
        """Reload the webhooks before the next event (called when this process changed one)."""
        self._invalidated_at = time.monotonic()

    def check_target(self, url: str) -> None:
        """Refuse (InvalidArgument) a URL whose host the allow-list does not permit."""
        check_url(url, self.allow)

    def _fresh(self, loaded_at: float) -> bool:
        # A load that began before the last invalidation may have read the old rows.
        return (time.monotonic() - loaded_at <= self.refresh
                and loaded_at > self._invalidated_at)

    def _active(self, conn: Connection) -> tuple[Webhook, ...]:
        loaded_at, hooks = self._cache
        if not self._fresh(loaded_at):
            loaded_at = time.monotonic()
            hooks = tuple(WebhookRepository(conn, self.box).active())
            self._cache = (loaded_at, hooks)
        return hooks

    # ---- the unit-of-work hooks ---------------------------------------------------------------

    def before_commit(self, conn: Connection, actor: Actor, events: list[Event]) -> None:
        """In the change's transaction: one outbox row per (event, webhook that wants it)."""
        relevant = [e for e in events if e.registry == "workspace" and e.action in _TRIGGERING]
        if not relevant:
            return
        hooks = self._active(conn)
        if not hooks:
            return
        now = now_ms()
        deliveries: list[tuple[str, str, bytes]] = []
        databricks = [h for h in hooks if h.dialect is Dialect.DATABRICKS]
        if databricks:
            ours = [e for e in relevant if e.action in webhooks.TRIGGERING_ACTIONS]
            deliveries += [(hook.id, occurrence.event.value,
                            orjson.dumps(webhooks.payload(hook.id, occurrence, now)))
                           for occurrence in _occurrences(ours, actor.name)
                           for hook in databricks if webhooks.matches(hook, occurrence)]
        mlflow = [h for h in hooks if h.dialect is Dialect.MLFLOW]
        if mlflow:
            deliveries += _mlflow_deliveries(conn, relevant, mlflow, now)
        if deliveries:
            WebhookRepository(conn).enqueue(deliveries, now)
            self._local.enqueued = True

    def after_commit(self, actor: Actor, events: list[Event]) -> None:
        if any(e.action in _CHANGES_WEBHOOKS for e in events):
            self.invalidate()
        # Only when this transaction wrote deliveries (the same thread ran before_commit):
        # waking the workers after every write cost each write two outbox polls (populate:
        # 0.37 -> 0.89 ms CPU per request).
        if getattr(self._local, "enqueued", False):
            self._local.enqueued = False
            self._wake.set()

    def wake(self) -> None:
        """Deliver now what is due (after a manual redelivery)."""
        self._wake.set()

    # ---- the workers ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads (once per process: forked or spawned workers each start
        their own)."""
        if self._threads:
            return
        with self._start_lock:
            if self._threads:
                return
            for number in range(self.workers):
                thread = threading.Thread(target=self._run, name=f"webhooks-{number}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        while True:
            try:
                busy = self.deliver_due()
                self._prune_now_and_then()
            except Unavailable as error:  # an outage: one line, the next round retries
                log.warning("webhook delivery paused: %s", error.message)
                busy = False
            except Exception as error:
                # One line (the next round retries); the traceback only at DEBUG.
                log.error("webhook delivery failed: %s: %s", type(error).__name__, error)
                log.debug("webhook delivery failed", exc_info=True)
                busy = False
            if not busy:
                self._wake.wait(self.poll)
                self._wake.clear()

    def _prune_now_and_then(self) -> None:
        if time.monotonic() - self._pruned_at < _PRUNE_EVERY:
            return
        self._pruned_at = time.monotonic()
        with self.database.write() as conn:
            removed = WebhookRepository(conn).prune(now_ms() - int(self.retention * 1000))
        if removed:
            log.info("webhook delivery log: %d deliveries past the retention removed", removed)

    def deliver_due(self) -> bool:
        """Claim and deliver the due outbox rows (at most `batch`); whether there were any."""
        now = now_ms()
        with self.database.read() as conn:
            if not WebhookRepository(conn).any_due(now):
                return False
        lease = now + int((self.timeout + 10) * 1000)
        with self.database.write() as conn:
            repo = WebhookRepository(conn, self.box)
            claimed = repo.claim(now, lease, self.batch)
            hooks = repo.by_ids({d.webhook_id for d in claimed})
        for delivery in claimed:
            self._deliver_claimed(delivery, hooks.get(delivery.webhook_id))
        return bool(claimed)

    def _delay(self, attempts: int) -> float:
        """Exponential backoff, capped, with jitter (half to all of it) so that receivers
        coming back are not hit by every replica's retries at once."""
        delay = min(self.backoff_max, self.backoff * 2 ** (attempts - 1))
        return delay * (0.5 + random.random() / 2)

    def _deliver_claimed(self, delivery: PendingDelivery, hook: Webhook | None) -> None:
        if hook is None or hook.status is not WebhookStatus.ACTIVE:
            # Deleted, disabled or put in test mode since: its pending deliveries lapse.
            with self.database.write() as conn:
                WebhookRepository(conn).finish(delivery.id, FAILED, now_ms(),
                                               "not sent: the webhook is no longer ACTIVE")
            return
        outcome = post(hook, delivery.body, self.timeout, self.allow, delivery.delivery_uuid)
        attempts = delivery.attempts + 1
        retry = (not outcome.ok and not outcome.refused and attempts < self.attempts
                 and (outcome.status_code is None or outcome.status_code in _RETRY_STATUSES))
        with self.database.write() as conn:
            repo = WebhookRepository(conn)
            # The webhook's row first, then the delivery's: the order in which deleting a
            # webhook locks them (its deliveries go by ON DELETE CASCADE), so the two cannot
            # deadlock on PostgreSQL.
            _record_outcome(repo, hook.id, outcome)
            at = now_ms()
            repo.log_attempt(delivery.id, AttemptRecord(
                attempts, at, outcome.status_code, outcome.latency_ms,
                None if outcome.ok else outcome.error, outcome.body[:LOGGED_RESPONSE] or None))
            if retry:
                repo.retry_later(delivery.id, at + int(self._delay(attempts) * 1000))
            else:
                repo.finish(delivery.id, DELIVERED if outcome.ok else FAILED, at)
        metrics.WEBHOOK_DELIVERIES.labels(
            "delivered" if outcome.ok else "retry" if retry else "failed").inc()
        if outcome.ok:
            metrics.WEBHOOK_DELIVERY_LAG.observe(max(0, now_ms() - delivery.created_at) / 1000)
            log.debug("webhook %s: %s delivered (HTTP %s)", hook.id, delivery.event,
                      outcome.status_code)
        elif retry:
            log.info("webhook %s: %s attempt %d failed (%s); retrying", hook.id, delivery.event,
                     attempts, outcome.error)
        else:
            log.warning("webhook %s: %s not delivered after %d attempt(s): %s", hook.id,
                        delivery.event, attempts, outcome.error)

    # ---- the test call ------------------------------------------------------------------------

    def deliver(self, hook: Webhook, occurrence: Occurrence, timestamp: int) -> Outcome:
        """POST one (test) Databricks event to the webhook now, once, and record the
        outcome."""
        body = orjson.dumps(webhooks.payload(hook.id, occurrence, timestamp))
        return self.send_now(hook, occurrence.event.value, body)

    def deliver_mlflow_test(self, hook: Webhook, event: MlflowEvent) -> Outcome:
        """POST MLflow's example payload for `event` to the webhook now, once."""
        body = mlflow_webhooks.body(event, mlflow_webhooks.example(event), now_ms())
        return self.send_now(hook, event.value, body)

    def send_now(self, hook: Webhook, event: str, body: bytes) -> Outcome:
        outcome = post(hook, body, self.timeout, self.allow, str(uuid.uuid4()))
        if not outcome.ok:
            log.warning("webhook %s: test %s not delivered: %s", hook.id, event, outcome.error)
        self._record(hook.id, outcome)
        return outcome

    def _record(self, webhook_id: str, outcome: Outcome) -> None:
        try:
            with self.database.write() as conn:
                _record_outcome(WebhookRepository(conn), webhook_id, outcome)
        except Exception:  # the outcome is informative only; a deleted webhook is fine too
            log.exception("webhook %s: could not record the delivery outcome", webhook_id)
