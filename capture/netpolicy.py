"""Where a capture may send requests: the operator's allow and deny rules. No Django here.

Capturing internal staging hosts is what Depicted is for, so private networks are allowed by
default. Always denied: link-local addresses (169.254.0.0/16 and fe80::/10: cloud metadata
services answer there) and the Depicted server's own address (``self``). An operator adds rules
with ``DPXDT_CAPTURE_DENY`` (always wins) and ``DPXDT_CAPTURE_ALLOW`` (when set, nothing else
is allowed). A rule is a host glob (``*.staging.example.com``), an address or CIDR
(``10.0.0.0/8``, ``fd00::/8``), or a keyword (``link-local``, ``private``, ``loopback``,
``self``), optionally with ``:PORT`` (IPv6 in brackets: ``[fd00::1]:8080``).

Rules are checked after DNS resolution, on every address a name resolves to, by the proxy the
capture browser sends every request through (capture.proxy), so redirects, subresources,
workers and WebSockets are all checked, and the address checked is the one connected to.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LINK_LOCAL = [ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10")]
KEYWORD_NETWORKS = {
    "link-local": LINK_LOCAL,
    "loopback": [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")],
    "private": [
        ipaddress.ip_network(n)
        for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
    ],
}


class PolicyError(ValueError):
    """A rule that cannot be read; the message names it."""


@dataclass(frozen=True)
class Rule:
    text: str
    host_glob: str | None = None
    networks: tuple = ()
    port: int | None = None

    def matches(self, host: str, port: int, addresses) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host_glob is not None:
            return fnmatch.fnmatchcase(host.lower().rstrip("."), self.host_glob)
        return any(
            address in network
            for address in addresses
            for network in self.networks
            if address.version == network.version
        )


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [v6]:port or [v6/len]:port
        inner, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise PolicyError(f"capture network rule {text!r}: expected [address]:port")
        return inner, int(rest[1:]) if rest else None
    if text.count(":") == 1:  # host:port or v4:port (a bare IPv6 has several colons)
        host, _, port = text.partition(":")
        if not port.isdigit():
            raise PolicyError(f"capture network rule {text!r}: the port must be a number")
        return host, int(port)
    return text, None


def parse_rule(text: str) -> Rule:
    text = text.strip()
    target, port = _split_port(text)
    if port is not None and not 0 < port < 65536:
        raise PolicyError(f"capture network rule {text!r}: no such port")
    if target in KEYWORD_NETWORKS:
        return Rule(text, networks=tuple(KEYWORD_NETWORKS[target]), port=port)
    try:
        return Rule(text, networks=(ipaddress.ip_network(target, strict=False),), port=port)
    except ValueError:
        pass
    if not target or any(c in target for c in "/ \\@"):
        raise PolicyError(f"capture network rule {text!r} is neither a host glob nor a CIDR")
    return Rule(text, host_glob=target.lower().rstrip("."), port=port)


def parse_rules(text: str) -> list[Rule]:
    return [parse_rule(item) for item in text.replace("\n", ",").split(",") if item.strip()]


@dataclass(frozen=True)
class NetworkPolicy:
    allow: tuple = ()
    deny: tuple = ()
    own: tuple = ()  # the server's own address: rules for ``self``
    always_denied: tuple = field(default=(Rule("link-local", networks=tuple(LINK_LOCAL)),))

    @classmethod
    def from_settings(
        cls, allow: str = "", deny: str = "", public_url: str = "", own_addresses=()
    ) -> NetworkPolicy:
        """``own_addresses``: what the server's public host resolves to (the caller resolves,
        so this module does no I/O of its own)."""
        own = []
        if public_url:
            parts = urlsplit(public_url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            own.append(Rule("self", host_glob=(parts.hostname or "").lower(), port=port))
            networks = [ipaddress.ip_network(a) for a in own_addresses]
            networks += [ipaddress.ip_network("0.0.0.0/32"), ipaddress.ip_network("::/128")]
            own.append(Rule("self", networks=tuple(networks), port=port))
        deny_rules, allow_rules = parse_rules(deny), parse_rules(allow)
        for rule in (*deny_rules, *allow_rules):
            if rule.text.split(":")[0] == "self" and not own:
                raise PolicyError("capture network rule 'self' needs DPXDT_PUBLIC_URL")

        def expand(rules):
            return tuple(
                r for rule in rules for r in (own if rule.text.split(":")[0] == "self" else [rule])
            )

        return cls(allow=expand(allow_rules), deny=expand(deny_rules), own=tuple(own))

    def check(self, host: str, port: int, addresses) -> str | None:
        """Why a request to ``host:port``, resolved to ``addresses``, is denied; None if it is
        allowed. Every address must pass (a name that also resolves to a denied address is
        denied)."""
        addresses = [ipaddress.ip_address(a) for a in addresses]
        # ::ffff:169.254.169.254 is 169.254.169.254.
        addresses = [getattr(a, "ipv4_mapped", None) or a for a in addresses]
        for rule in self.always_denied:
            if rule.matches(host, port, addresses):
                return f"{host} resolves to a link-local address (cloud metadata)"
        for rule in self.own:
            if rule.matches(host, port, addresses):
                return f"{host}:{port} is the Depicted server itself"
        for rule in self.deny:
            if rule.matches(host, port, addresses):
                return f"{host}:{port} matches DPXDT_CAPTURE_DENY rule {rule.text!r}"
        if self.allow and not any(rule.matches(host, port, addresses) for rule in self.allow):
            return f"{host}:{port} matches no DPXDT_CAPTURE_ALLOW rule"
        return None
