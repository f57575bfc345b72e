"""Principals (users, groups, service principals) and access tokens as plain records."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from modelyard.domain.errors import InvalidArgument

#: Every user and service principal belongs to this group implicitly, as on Databricks.
ALL_USERS = "users"

#: Shorter passwords are refused: a user's password signs in on every surface.
MIN_PASSWORD_LENGTH = 12


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidArgument(
            f"The password is too short ({len(password)} characters): a password must have at "
            f"least {MIN_PASSWORD_LENGTH} characters. A passphrase of several words is easy to "
            "remember and hard to guess.")
    return password


class Kind(StrEnum):
    USER = "user"
    GROUP = "group"
    SERVICE_PRINCIPAL = "service_principal"


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    name: str
    kind: Kind


@dataclass(frozen=True, slots=True)
class Principal:
    id: int
    kind: Kind
    name: str
    display_name: str
    email: str
    external_id: str
    active: bool
    is_admin: bool
    created_at: int
    groups: tuple[Member, ...] = ()  # direct parents
    members: tuple[Member, ...] = ()  # direct members (groups only)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    owner: str
    comment: str
    creation_time: int
    expiry_time: int  # -1: never expires
    created_by: str
    owner_id: int = 0
