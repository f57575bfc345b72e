"""Checking a webhook's URL against the allow-list (domain/webhook_targets.py), at creation and
again at delivery: the host is resolved and every address it resolves to must be permitted,
and at delivery the address actually connected to is checked after `connect()` (before a byte
is sent), so a name that later resolves to a private address (DNS rebinding) is refused."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from modelyard.domain.errors import InvalidArgument
from modelyard.domain.webhook_targets import AllowList, refusal


class TargetRefused(OSError):
    """The connected peer is not an allowed address (never retried as a network error is)."""


def check_url(url: str, allow: AllowList) -> None:
    """Raise InvalidArgument when the URL's host is not permitted: an address literal, or a
    name that resolves (now) to an address that is not."""
    host = urlsplit(url).hostname or ""
    if allow.permits_name(host):
        return
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if not allow.permits_address(literal):
            raise InvalidArgument(refusal(host, literal))
        return
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        # Not resolvable now (a receiver set up after its webhook, split DNS): accepted, unlike
        # MLflow's server; every delivery checks the address it connects to anyway.
        return
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not allow.permits_address(ip):
            raise InvalidArgument(refusal(host, ip))


def connector(allow: AllowList, host: str) -> Callable[..., socket.socket]:
    """A `socket.create_connection` that refuses a peer the allow-list does not permit."""

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        sock = socket.create_connection(address, *args, **kwargs)
        if allow.permits_name(host):
            return sock
        try:
            peer = ipaddress.ip_address(str(sock.getpeername()[0]).split("%")[0])
        except (OSError, ValueError) as error:
            sock.close()
            raise TargetRefused(f"could not check the webhook peer address: {error}") from None
        if not allow.permits_address(peer):
            sock.close()
            raise TargetRefused(refusal(host, peer))
        return sock

    return create_connection
