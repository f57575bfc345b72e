"""Authentication for every surface: who is calling, from the Authorization header.

`Authorization: Bearer <token>` (what DATABRICKS_TOKEN, MLFLOW_TRACKING_TOKEN and
MLFLOW_UC_OSS_TOKEN send) or HTTP Basic (MLFLOW_TRACKING_USERNAME/PASSWORD). Without `--auth`
every call acts as the local admin. A refused request is recorded in the audit trail; the
credential itself is never logged or echoed. Repeated wrong passwords for one user name lock
password sign-in for it a while (services/signin_throttle.py): 429 with Retry-After.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from modelyard.domain.errors import TooManyAttempts, Unauthenticated
from modelyard.observability.requests import PRINCIPAL, REQUEST_ID
from modelyard.services.address_limit import AddressLimit
from modelyard.services.context import ANONYMOUS, LOCAL_ADMIN, Actor
from modelyard.services.identity import IdentityService
from modelyard.services.unit_of_work import UnitOfWorkFactory


def request_facts(request: Request) -> tuple[str, str]:
    """The request id (the X-Request-Id header, else a new one) and the client address."""
    # Read off the ASGI scope (header names arrive lowercased): Starlette's Headers and
    # Address objects cost more than the rest of this function.
    scope = request.scope
    request_id = scope.get(REQUEST_ID, b"").decode()  # observability.requests set it
    if not request_id:
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")[:64]
                break
    client = scope.get("client")
    return request_id or os.urandom(8).hex(), client[0] if client else ""


#: The header a caller states why it makes a change in (history, audit trail); UTF-8.
REASON_HEADER = b"x-modelyard-reason"
MAX_REASON = 1000


def request_reason(request: Request) -> str | None:
    """The request's `X-Modelyard-Reason`, if any (at most MAX_REASON characters)."""
    for name, value in request.scope["headers"]:
        if name == REASON_HEADER:
            text = value.decode("utf-8", "replace").strip()[:MAX_REASON]
            return text or None
    return None


def _stamped(actor: Actor, request: Request, request_id: str, client: str) -> Actor:
    return dataclasses.replace(actor, request_id=request_id, client_address=client,
                               reason=request_reason(request))


class Authenticator:
    """`app.state.authenticate`: a callable from request to Actor, raising Unauthenticated."""

    def __init__(self, identity: IdentityService, units: UnitOfWorkFactory,
                 enabled: bool, limit: AddressLimit) -> None:
        self.identity = identity
        self.units = units
        self.enabled = enabled
        self.limit = limit

    def __call__(self, request: Request) -> Actor:
        request_id, client = request_facts(request)
        if not self.enabled:
            return Actor(LOCAL_ADMIN.name, True, request_id=request_id, client_address=client,
                         reason=request_reason(request))
        target = f"{request.method} {request.url.path}"
        header = request.headers.get("authorization", "")
        wait = self.limit.take(client)
        if wait is not None:
            # Too many refusals from this address: only a valid token is still looked at.
            credential = _credential(header)
            actor = (self.identity.authenticate_token(credential)
                     if isinstance(credential, str) else None)
            if actor is None:
                record_refusal(self.units, request, "authenticate.limited", target)
                raise address_limited(wait)
            return _stamped(actor, request, request_id, client)
        try:
            actor = self._credential_actor(header)
        except TooManyAttempts:
            record_refusal(self.units, request, "authenticate.throttled", target)
            raise
        except BaseException:
            self.limit.release(client)  # not a refusal: the database is down, say
            raise
        if actor is None:
            record_refusal(self.units, request, "authenticate", target)
            raise Unauthenticated("Missing, invalid, expired or revoked credentials: send "
                                  "'Authorization: Bearer <token>' or HTTP basic auth.")
        self.limit.release(client)
        return _stamped(actor, request, request_id, client)

    def cached(self, request: Request) -> Actor | None:
        """The request's actor when it is known without I/O: authentication off, or a
        credential checked in the last few seconds. None: call the authenticator."""
        if not self.enabled:
            return self(request)
        credential = _credential(request.headers.get("authorization", ""))
        if isinstance(credential, str):
            actor = self.identity.cached_token(credential)
        elif credential is not None:
            actor = self.identity.cached_password(*credential)
        else:
            return None
        if actor is None:
            return None
        request_id, client = request_facts(request)
        return _stamped(actor, request, request_id, client)

    def _credential_actor(self, header: str) -> Actor | None:
        credential = _credential(header)
        if isinstance(credential, str):
            return self.identity.authenticate_token(credential)
        if credential is not None:
            return self.identity.authenticate_password(*credential)
        return None


def record_refusal(units: UnitOfWorkFactory, request: Request, action: str,
                   target: str) -> None:
    """A refused authentication into the audit trail, as the anonymous caller; never the
    credential."""
    request_id, client = request_facts(request)
    units.record_denied(Actor(ANONYMOUS, request_id=request_id, client_address=client),
                        action, "request", target)


def address_limited(wait: int) -> TooManyAttempts:
    return TooManyAttempts(f"Too many refused requests from your address: only a valid token is "
                           f"accepted from it for {wait} more seconds. Check the credentials "
                           f"your client sends.", wait)


def _credential(header: str) -> str | tuple[str, str] | None:
    """A bearer token, a basic (user name, password), or None for anything else."""
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if not credential:
        return None
    if scheme.lower() == "bearer":
        return credential
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        return (user, password) if sep and user else None
    return None


async def authenticate(request: Request) -> Actor:
    """The request's actor, raising Unauthenticated. A credential not seen in the last few
    seconds is checked in a worker thread: a password check (argon2, tens of milliseconds), a
    token lookup and a refusal's audit record must not stall the event loop, which serves
    every other request meanwhile."""
    authenticator: Authenticator = request.app.state.authenticate
    actor = authenticator.cached(request)
    if actor is None:
        actor = await run_in_threadpool(authenticator, request)
    request.scope[PRINCIPAL] = actor.name  # for the request's log line
    return actor
