"""Principals, group membership, personal access tokens, and checking credentials.

Tokens are 256 random bits, shown once; only their SHA-256 is stored (a hash of a high-entropy
secret needs no salt or stretching). Passwords are stored as argon2id hashes.

Checking a credential is cached in process for AUTH_CACHE_SECONDS, so a request costs one dict
lookup and one SHA-256 rather than a query (or an argon2 verification). A revoked or expired
token, a deactivated user or a changed membership therefore takes effect within that many
seconds on other server processes; on the process that made the change it takes effect at once.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from modelyard.domain.clock import now_ms
from modelyard.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from modelyard.domain.numbers import INT32_MAX, ascii_int
from modelyard.domain.principals import ALL_USERS, Kind, Principal, TokenInfo, validate_password
from modelyard.services import authorization
from modelyard.services.context import Actor
from modelyard.services.signin_throttle import SigninThrottle, ThrottlePolicy
from modelyard.services.unit_of_work import UnitOfWorkFactory
from modelyard.store.identity import IdentityRepository

AUTH_CACHE_SECONDS = 5.0
_CACHE_LIMIT = 50_000
TOKEN_PREFIX = "dapi"
MAX_NAME = 256
_hasher = PasswordHasher()
#: One argon2 computation (check or new hash) at a time per process. Each takes the hasher's
#: memory cost (64 MiB) and its parallelism (4 threads) for tens of milliseconds: a burst of
#: sign-ins, unbounded, took 64 MiB and a few cores per request in the thread pool (12 at once:
#: +769 MiB). One at a time keeps a process within its 150 MiB budget (DESIGN.md) and already
#: uses the cores; a credential costs one check per process (cached, and not re-hashed while
#: its stored hash is unchanged), so the queue is short.
_ARGON2_AT_ONCE = threading.BoundedSemaphore(1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_hex(32)


def _validate_name(kind: str, name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidArgument(f"A {kind} needs a name.")
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise InvalidArgument(f"Invalid {kind} name {name[:40]!r}.")
    return name


@dataclass(frozen=True, slots=True)
class NewToken:
    value: str  # shown once
    info: TokenInfo


def _password_key(name: str, password: str) -> str:
    return hashlib.sha256(f"basic\0{name}\0{password}".encode()).hexdigest()


def _verified(password_hash: str, password: str) -> bool:
    try:
        with _ARGON2_AT_ONCE:
            return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _hashed(password: str) -> str:
    validate_password(password)
    with _ARGON2_AT_ONCE:
        return _hasher.hash(password)


class IdentityService:
    def __init__(self, units: UnitOfWorkFactory,
                 throttle: ThrottlePolicy | None = None) -> None:
        self.units = units
        self.throttle = SigninThrottle(units, throttle or ThrottlePolicy())
        #: Credential key -> (actor, deadline, for a password: the stored hash it matched).
        self._cache: dict[str, tuple[Actor, float, str | None]] = {}
        #: User name → its keys in `_cache` from password sign-ins, to forget them on a failure.
        self._password_keys: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        #: A password check holds its credential's stripe, so that the requests bringing the
        #: same credential meanwhile (a client's other connections, when the cached check has
        #: just expired) wait for that one check and find it cached, rather than repeat it.
        self._password_stripes = [threading.Lock() for _ in range(64)]

    # ---- authentication -------------------------------------------------------------------

    def _cached(self, key: str) -> Actor | None:
        cached = self._cache.get(key)
        return cached[0] if cached is not None and cached[1] > time.monotonic() else None

    def cached_token(self, token: str) -> Actor | None:
        """The actor of a bearer token checked in the last few seconds, without any I/O (None:
        ask `authenticate_token`)."""
        return self._cached(token_hash(token))

    def cached_password(self, name: str, password: str) -> Actor | None:
        """Likewise for a user name and password (None: ask `authenticate_password`)."""
        return self._cached(_password_key(name, password))

    def authenticate_token(self, token: str) -> Actor | None:
        """The actor a bearer token stands for; None for an unknown, revoked or expired one."""
        key = token_hash(token)
        cached = self._cached(key)
        if cached is not None:
            return cached
        now = time.monotonic()
        with self.units.read(Actor("system", is_admin=True)) as uow:
            repo = uow.identity
            found = repo.token_owner(key)
            if found is None:
                return None
            row, expires_at = found
            wall = now_ms()
            if (0 <= expires_at <= wall) or not row.active:
                return None
            actor = self._actor(repo, row.id, row.name, bool(row.is_admin), row.kind)
        ttl = AUTH_CACHE_SECONDS if expires_at < 0 else min(AUTH_CACHE_SECONDS,
                                                              (expires_at - wall) / 1000)
        self._remember(key, actor, now + ttl)
        return actor

    def authenticate_password(self, name: str, password: str) -> Actor | None:
        """The actor a user name and password stand for; None when they do not match. Raises
        TooManyAttempts while password sign-in for `name` is locked (services/signin_throttle):
        the password is then not checked at all."""
        key = _password_key(name, password)
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._password_stripes[hash(key) % len(self._password_stripes)]:
            cached = self._cached(key)
            if cached is not None:
                return cached
            return self._check_password(key, name, password)

    def _check_password(self, key: str, name: str, password: str) -> Actor | None:
        now = time.monotonic()
        actor = None
        stored = candidate = None
        with self.units.read(Actor("system", is_admin=True)) as uow:
            had_failures = self.throttle.refuse_if_locked(uow.conn, name)
            repo = uow.identity
            found = repo.password_hash(name)
            if found is not None and found[1] and found[2]:
                stored = found[1]
                principal = repo.principal_by_id(found[0])
                candidate = self._actor(repo, principal.id, principal.name, principal.is_admin,
                                        principal.kind.value)
        # The stored hash this very password matched last time (its cached check has expired):
        # while the hash is unchanged the password still matches, and the user's row, groups
        # and the throttle have just been read afresh. A client signing in with its password
        # then costs one argon2 check, not one every AUTH_CACHE_SECONDS.
        # Else argon2, after the transaction: it may wait for its turn (_ARGON2_AT_ONCE).
        previous = self._cache.get(key)
        if stored is not None and ((previous is not None and previous[2] == stored)
                                   or _verified(stored, password)):
            actor = candidate
        if actor is None:
            # Unknown names count too: a lock must not tell which names exist. The name's
            # cached passwords go, so that its next sign-in meets the throttle's checks.
            self.throttle.failed(name)
            self._forget_passwords(name)
            return None
        if had_failures:
            self.throttle.succeeded(name)
        self._remember(key, actor, now + AUTH_CACHE_SECONDS, password_of=name, matched=stored)
        return actor

    def _actor(self, repo: IdentityRepository, principal_id: int, name: str, is_admin: bool,
               kind: str) -> Actor:
        groups = repo.ancestor_groups(principal_id)
        if kind != Kind.GROUP.value:
            groups.add(ALL_USERS)
        return Actor(name=name, is_admin=is_admin, groups=frozenset(groups))

    def _remember(self, key: str, actor: Actor, deadline: float,
                  password_of: str | None = None, matched: str | None = None) -> None:
        with self._lock:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
                self._password_keys.clear()
            self._cache[key] = (actor, deadline, matched)
            if password_of is not None:
                self._password_keys.setdefault(password_of, set()).add(key)

    def _forget_passwords(self, name: str) -> None:
        """Drop the cached password sign-ins of one user name."""
        with self._lock:
            for key in self._password_keys.pop(name, ()):
                self._cache.pop(key, None)

    def forget_all(self) -> None:
        """Drop cached credentials: this process sees a change at once."""
        with self._lock:
            self._cache.clear()
            self._password_keys.clear()

    # ---- bootstrap ---------------------------------------------------------------------------

    def bootstrap_admin(self, data_dir: Path) -> bool:
        """On the first start with auth: create `admin` (a metastore admin) and write a token
        for it to <data-dir>/admin-token, readable by the owner only. False if it existed."""
        system = Actor("system", is_admin=True)
        with self.units.write(system) as uow:
            repo = uow.identity
            if repo.principal_by_name("admin") is not None:
                return False
            now = now_ms()
            principal_id = repo.insert_principal(Kind.USER, "admin", now, is_admin=True,
                                                 display_name="Metastore admin")
            value = _new_token()
            repo.insert_token(secrets.token_hex(16), principal_id, token_hash(value),
                              "created at first start", "system", now, -1)
            uow.record("principal.create", "user", "admin", after={"is_admin": True})
            uow.record("token.create", "user", "admin", after={"comment": "first start"})
            data_dir.mkdir(parents=True, exist_ok=True)
            path = data_dir / "admin-token"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(value + "\n")
            os.chmod(path, 0o600)
        return True

    # ---- principals ----------------------------------------------------------------------------

    def create_principal(self, actor: Actor, kind: Kind, name: str | None, *,
                         display_name: str | None = None, email: str | None = None,
                         external_id: str | None = None, active: bool = True,
                         password: str | None = None, members: list[int] | None = None,
                         parents: list[int] | None = None) -> Principal:
        name = _validate_name(kind.value.replace("_", " "), name)
        values: dict[str, Any] = {"display_name": display_name or name, "email": email or "",
                                  "external_id": external_id or "", "active": active}
        if password:
            values["password_hash"] = _hashed(password)
        with self.units.write(actor) as uow:
            # Inside the unit of work, so that a refusal is recorded in the audit trail.
            authorization.require_admin(actor, f"{kind.value}.create", kind.value, name)
            repo = uow.identity
            principal_id = repo.insert_principal(kind, name, now_ms(), **values)
            for member_id in members or ():
                self._add(repo, principal_id, member_id)
            for group_id in parents or ():
                self._add(repo, group_id, principal_id)
            uow.record(f"{kind.value}.create", kind.value, name,
                       after={"display_name": values["display_name"], "email": values["email"],
                              "active": active, "password_set": bool(password)})
            return repo.principal_by_id(principal_id)

    def get(self, actor: Actor, kind: Kind, principal_id: str) -> Principal:
        # Principals are directory data: any authenticated caller may look them up.
        with self.units.read(actor) as uow:
            return uow.identity.principal_by_id(_id(principal_id), kind)

    def by_name(self, actor: Actor, name: str) -> Principal:
        with self.units.read(actor) as uow:
            principal = uow.identity.principal_by_name(name)
        if principal is None:
            raise NotFound(f"Principal {name!r} not found.")
        return principal

    def me(self, actor: Actor) -> Principal:
        with self.units.read(actor) as uow:
            principal = uow.identity.principal_by_name(actor.name)
        if principal is None:
            # The local admin without auth has no row; describe it anyway.
            return Principal(0, Kind.USER, actor.name, actor.name, "", "", True,
                             actor.is_admin, 0)
        return principal

    def list_principals(self, actor: Actor, kind: Kind, name_eq: str | None, start_index: int,
             count: int) -> tuple[list[Principal], int]:
        if count < 0 or start_index < 1:
            raise InvalidArgument("startIndex starts at 1; count must not be negative.")
        with self.units.read(actor) as uow:
            return uow.identity.list_principals(
                kind, name_eq, start_index - 1, min(count, 10_000))

    def delete(self, actor: Actor, kind: Kind, principal_id: str) -> None:
        with self.units.write(actor) as uow:
            repo = uow.identity
            principal = repo.principal_by_id(_id(principal_id), kind)
            authorization.require_admin(actor, f"{kind.value}.delete", kind.value,
                                        principal.name)
            if principal.name == actor.name:
                raise FailedPrecondition("You cannot delete yourself.")
            repo.delete_principal(principal.id)
            uow.record(f"{kind.value}.delete", kind.value, principal.name)
        self.forget_all()

    def update(self, actor: Actor, kind: Kind, principal_id: str, *,
               display_name: str | None = None, active: bool | None = None,
               password: str | None = None, add_members: list[int] | None = None,
               remove_members: list[int] | None = None, set_members: list[int] | None = None,
               add_parents: list[int] | None = None, remove_parents: list[int] | None = None,
               is_admin: bool | None = None) -> Principal:
        # argon2 is slow on purpose: hash before taking the write lock.
        password_hash = _hashed(password) if password else None
        with self.units.write(actor) as uow:
            repo = uow.identity
            principal = repo.principal_by_id(_id(principal_id), kind)
            authorization.require_admin(actor, f"{kind.value}.update", kind.value,
                                        principal.name)
            values: dict[str, Any] = {}
            if display_name is not None:
                values["display_name"] = display_name
            if active is not None:
                values["active"] = active
            if is_admin is not None:
                values["is_admin"] = is_admin
            if password_hash:
                values["password_hash"] = password_hash
            if values:
                repo.update_principal(principal.id, **values)
            if set_members is not None:
                for member_id in set_members:
                    repo.principal_by_id(member_id)
                    if repo.would_cycle(principal.id, member_id):
                        raise InvalidArgument("A group cannot contain itself.")
                repo.set_members(principal.id, set_members)
            for member_id in add_members or ():
                self._add(repo, principal.id, member_id)
            for member_id in remove_members or ():
                repo.remove_member(principal.id, member_id)
            for group_id in add_parents or ():
                self._add(repo, group_id, principal.id)
            for group_id in remove_parents or ():
                repo.remove_member(group_id, principal.id)
            after = {k: v for k, v in values.items() if k != "password_hash"}
            if password:
                after["password_set"] = True
            changes = {"add_members": add_members, "remove_members": remove_members,
                       "set_members": set_members, "add_groups": add_parents,
                       "remove_groups": remove_parents}
            after.update({k: v for k, v in changes.items() if v})
            uow.record(f"{kind.value}.update", kind.value, principal.name, after=after)
            result = repo.principal_by_id(principal.id)
        self.forget_all()
        return result

    def add_member(self, actor: Actor, group: str, member: str) -> Principal:
        with self.units.read(actor) as uow:
            repo = uow.identity
            found_group = repo.principal_by_name(group)
            found_member = repo.principal_by_name(member)
        if found_group is None or found_group.kind is not Kind.GROUP:
            raise NotFound(f"Group {group!r} not found.")
        if found_member is None:
            raise NotFound(f"Principal {member!r} not found.")
        return self.update(actor, Kind.GROUP, str(found_group.id),
                           add_members=[found_member.id])

    @staticmethod
    def _add(repo: IdentityRepository, group_id: int, member_id: int) -> None:
        repo.principal_by_id(group_id, Kind.GROUP)
        repo.principal_by_id(member_id)
        if repo.would_cycle(group_id, member_id):
            raise InvalidArgument("A group cannot contain itself, directly or through others.")
        repo.add_member(group_id, member_id)

    # ---- tokens ----------------------------------------------------------------------------

    def create_token(self, actor: Actor, lifetime_seconds: int | None = None,
                     comment: str | None = None, for_user: str | None = None) -> NewToken:
        """A new token for the caller, or (metastore admins) for another user."""
        if lifetime_seconds is not None and lifetime_seconds <= 0:
            lifetime_seconds = None  # Databricks: zero or negative means no expiry
        owner = for_user or actor.name
        value = _new_token()
        token_id = secrets.token_hex(16)
        now = now_ms()
        expires = now + lifetime_seconds * 1000 if lifetime_seconds else -1
        with self.units.write(actor) as uow:
            if owner != actor.name:
                authorization.require_admin(actor, "token.create", "user", owner)
            repo = uow.identity
            principal = repo.principal_by_name(owner)
            if principal is None or principal.kind is Kind.GROUP:
                raise NotFound(f"User {owner!r} not found.")
            repo.insert_token(token_id, principal.id, token_hash(value), comment or "",
                              actor.name, now, expires)
            uow.record("token.create", principal.kind.value, owner,
                       after={"token_id": token_id, "comment": comment or "",
                              "expiry_time": expires})
        return NewToken(value, TokenInfo(token_id, owner, comment or "", now, expires,
                                         actor.name, principal.id))

    def list_tokens(self, actor: Actor, all_users: bool = False) -> list[TokenInfo]:
        with self.units.read(actor) as uow:
            repo = uow.identity
            if all_users and actor.is_admin:
                return repo.list_tokens(None)
            principal = repo.principal_by_name(actor.name)
            return repo.list_tokens(principal.id) if principal else []

    def get_token(self, actor: Actor, token_id: str) -> TokenInfo:
        """One token's info: the caller's own, or any token for a metastore admin."""
        with self.units.read(actor) as uow:
            found = IdentityRepository(uow.conn).token(token_id or "")
        if found is None or (found[0].owner != actor.name and not actor.is_admin):
            raise NotFound(f"Token {token_id} not found.")
        return found[0]

    def update_token(self, actor: Actor, token_id: str, comment: str | None,
                     fields: list[str]) -> TokenInfo:
        """Change a token's comment (the only field of a token that may change here: its
        scopes are not modelled). `fields` is the request's update mask."""
        unknown = [f for f in fields if f not in ("comment", "*")]
        if unknown or not fields:
            raise InvalidArgument(
                f"Only a token's comment can be updated; update_mask was "
                f"{','.join(fields) or 'empty'}. Send update_mask 'comment'.")
        comment = comment or ""
        if len(comment) > 1000:
            raise InvalidArgument("A token's comment has at most 1000 characters.")
        with self.units.write(actor) as uow:
            repo = IdentityRepository(uow.conn)
            found = repo.token(token_id or "")
            if found is None or (found[0].owner != actor.name and not actor.is_admin):
                raise NotFound(f"Token {token_id} not found.")
            repo.set_token_comment(token_id, comment)
            uow.record("token.update", "user", found[0].owner,
                       before={"token_id": token_id, "comment": found[0].comment},
                       after={"token_id": token_id, "comment": comment})
            updated = repo.token(token_id)
        assert updated is not None
        return updated[0]

    def delete_token(self, actor: Actor, token_id: str) -> None:
        """Revoke a token: the caller's own, or any token for a metastore admin."""
        with self.units.write(actor) as uow:
            repo = uow.identity
            found = repo.token(token_id or "")
            if found is None or (found[0].owner != actor.name and not actor.is_admin):
                raise NotFound(f"Token {token_id} not found.")
            repo.delete_token(token_id)
            uow.record("token.delete", "user", found[0].owner, before={"token_id": token_id})
        with self._lock:
            self._cache.pop(found[2], None)


def _id(value: str) -> int:
    number = ascii_int(value) if isinstance(value, str) else None
    if number is None or not 0 <= number <= INT32_MAX:  # what the id column holds
        raise NotFound(f"Principal {value!r} not found.")
    return number
