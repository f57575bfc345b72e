"""Which addresses a webhook may be delivered to: public ones, and those the operator lists
(`--webhook-allow-hosts`: host names, addresses or CIDRs). Loopback, link-local, private and
other non-global addresses are refused unless listed, as MLflow refuses them
(mlflow/webhooks/ssrf.py): a registry's outbound calls must not reach its own network's
internals (cloud metadata, admin ports) for whoever may create a webhook.

Pure: resolving names and checking the connected peer are events/targets.py's.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """An IPv4 address wrapped in IPv6 (mapped, 6to4, NAT64) is judged as itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
    return ip


@dataclass(frozen=True, slots=True)
class AllowList:
    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> AllowList:
        """`host, 10.0.0.5, 192.168.0.0/16, ::1` -> an allow-list; raises ValueError naming a
        bad entry."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (text or "").split(","):
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or " " in entry:
                raise ValueError(f"webhook allow-list entry {entry!r} is neither a host name, "
                                 f"an address nor a CIDR")
            names.add(entry.rstrip("."))
        return cls(frozenset(names), tuple(networks))

    def permits_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def permits_address(self, ip: IPAddress) -> bool:
        plain = _embedded_ipv4(ip)
        return plain.is_global or any(ip in n or plain in n for n in self.networks)


def refusal(host: str, ip: IPAddress) -> str:
    return (f"Webhook URL host {host!r} resolves to {ip}, which is not a public address. Ask "
            f"the operator to list it in --webhook-allow-hosts (MODELYARD_WEBHOOK_ALLOW_HOSTS) "
            f"if the receiver is meant to be there.")
