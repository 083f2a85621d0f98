"""Where the server's outbound requests may go: the operator's allow and deny rules. No Django.

One policy, two rule sets: captures (``DPXDT_CAPTURE_ALLOW`` / ``_DENY``) and the requests the
server sends itself, webhooks (``DPXDT_WEBHOOK_ALLOW`` / ``_DENY``, capture.outbound).

Capturing internal staging hosts is what Depicted is for, so private networks are allowed by
default. Always denied: link-local addresses (169.254.0.0/16 and fe80::/10: cloud metadata
services answer there) and the Depicted server's own address (``self``). An operator adds rules
with ``DPXDT_CAPTURE_DENY`` (always wins) and ``DPXDT_CAPTURE_ALLOW`` (when set, nothing else
is allowed). A rule is a host glob (``*.staging.example.com``), an address or CIDR
(``10.0.0.0/8``, ``fd00::/8``), or a keyword (``link-local``, ``private``, ``loopback``,
``self``), optionally with ``:PORT`` (IPv6 in brackets: ``[fd00::1]:8080``).

Rules are checked after DNS resolution, on every address a name resolves to, by the proxy the
capture browser sends every request through (capture.proxy), so redirects, subresources,
workers and WebSockets are all checked, and the address checked is the one connected to; a
webhook is sent to the address checked as well (capture.outbound). An IPv6 address that
carries an IPv4 one (``::ffff:169.254.169.254``, ``::169.254.169.254``, 6to4 ``2002:a9fe:a9fe::``,
NAT64 ``64:ff9b::a9fe:a9fe``, Teredo) is checked as both.
"""

from __future__ import annotations

import contextlib
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


def host_port(url: str) -> tuple[str, int]:
    """The host and port a URL connects to (the scheme's own port when it names none)."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def addresses_to_check(address) -> list:
    """The address and every IPv4 address embedded in it (mapped, compatible, 6to4, NAT64,
    Teredo): a connection to any of these forms may reach the IPv4 host."""
    address = ipaddress.ip_address(address)
    if address.version == 4:
        return [address]
    found = [address]
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    found += [a for a in embedded if a is not None]
    return found


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


def _split_port(text: str, what: str) -> tuple[str, int | None]:
    if text.startswith("["):  # [v6]:port or [v6/len]:port
        inner, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise PolicyError(f"{what} network rule {text!r}: expected [address]:port")
        return inner, int(rest[1:]) if rest else None
    if text.count(":") == 1:  # host:port or v4:port (a bare IPv6 has several colons)
        host, _, port = text.partition(":")
        if not port.isdigit():
            raise PolicyError(f"{what} network rule {text!r}: the port must be a number")
        return host, int(port)
    return text, None


def parse_rule(text: str, what: str = "capture") -> Rule:
    """``what``: whose rule it is, for the error message (capture, webhook)."""
    text = text.strip()
    target, port = _split_port(text, what)
    if port is not None and not 0 < port < 65536:
        raise PolicyError(f"{what} network rule {text!r}: no such port")
    if target in KEYWORD_NETWORKS:
        return Rule(text, networks=tuple(KEYWORD_NETWORKS[target]), port=port)
    with contextlib.suppress(ValueError):  # not a network: a host glob
        return Rule(text, networks=(ipaddress.ip_network(target, strict=False),), port=port)
    if not target or any(c in target for c in "/ \\@"):
        raise PolicyError(f"{what} network rule {text!r} is neither a host glob nor a CIDR")
    return Rule(text, host_glob=target.lower().rstrip("."), port=port)


def parse_rules(text: str, what: str = "capture") -> list[Rule]:
    return [parse_rule(item, what) for item in text.replace("\n", ",").split(",") if item.strip()]


@dataclass(frozen=True)
class NetworkPolicy:
    allow: tuple = ()
    deny: tuple = ()
    own: tuple = ()  # the server's own address: rules for ``self``
    always_denied: tuple = field(default=(Rule("link-local", networks=tuple(LINK_LOCAL)),))

    what: str = "capture"  # whose rules: capture or webhook (DPXDT_CAPTURE_*, DPXDT_WEBHOOK_*)

    @classmethod
    def from_settings(
        cls,
        allow: str = "",
        deny: str = "",
        public_url: str = "",
        own_addresses=(),
        *,
        what: str = "capture",
        hosts=(),
        endpoints=(),
        local_addresses=(),
    ) -> NetworkPolicy:
        """The rules for ``self``, the Depicted server, come from:
        - ``public_url`` (DPXDT_PUBLIC_URL): its host at its port, and ``own_addresses``, what
          that host resolves to;
        - ``endpoints``: (address, port) pairs the web servers listen on; a wildcard address
          (0.0.0.0, ::) stands for the loopback and every one of ``local_addresses``;
        - ``hosts`` (DPXDT_ALLOWED_HOSTS): names of the server, at each of those ports.
        The caller resolves and reads (this module does no I/O of its own)."""
        own = _own_rules(public_url, own_addresses, hosts, endpoints, local_addresses)
        deny_rules, allow_rules = parse_rules(deny, what), parse_rules(allow, what)
        for rule in (*deny_rules, *allow_rules):
            if rule.text.split(":")[0] == "self" and not own:
                raise PolicyError(
                    f"{what} network rule 'self' needs DPXDT_PUBLIC_URL or a web server's "
                    "recorded address"
                )

        def expand(rules):
            return tuple(
                r for rule in rules for r in (own if rule.text.split(":")[0] == "self" else [rule])
            )

        return cls(allow=expand(allow_rules), deny=expand(deny_rules), own=own, what=what)

    def check(self, host: str, port: int, addresses) -> str | None:
        """Why a request to ``host:port``, resolved to ``addresses``, is denied; None if it is
        allowed. Every address must pass (a name that also resolves to a denied address is
        denied), in every form it takes (``::ffff:169.254.169.254`` is 169.254.169.254)."""
        forms = [addresses_to_check(a) for a in addresses]
        flat = [a for each in forms for a in each]
        for rule in self.always_denied:
            if rule.matches(host, port, flat):
                return f"{host} resolves to a link-local address (cloud metadata)"
        for rule in self.own:
            if rule.matches(host, port, flat):
                return f"{host}:{port} is the Depicted server itself"
        setting = f"DPXDT_{self.what.upper()}"
        for rule in self.deny:
            if rule.matches(host, port, flat):
                return f"{host}:{port} matches {setting}_DENY rule {rule.text!r}"
        if self.allow and not all(
            any(rule.matches(host, port, each) for rule in self.allow) for each in forms or [[]]
        ):
            return f"{host}:{port} matches no {setting}_ALLOW rule"
        return None


_WILDCARDS = (ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::"))
_NOWHERE = (ipaddress.ip_network("0.0.0.0/32"), ipaddress.ip_network("::/128"))


def _own_rules(public_url, own_addresses, hosts, endpoints, local_addresses) -> tuple:
    own = []
    ports = set()
    if public_url:
        host, port = host_port(public_url)
        ports.add(port)
        own.append(Rule("self", host_glob=host.lower(), port=port))
        networks = [ipaddress.ip_network(a) for a in own_addresses]
        own.append(Rule("self", networks=(*networks, *_NOWHERE), port=port))
    for address, port in endpoints:
        address = ipaddress.ip_address(address)
        ports.add(port)
        if address in _WILDCARDS:
            networks = [*KEYWORD_NETWORKS["loopback"], *_NOWHERE]
            networks += [ipaddress.ip_network(a) for a in local_addresses]
        else:
            networks = [ipaddress.ip_network(address), *_NOWHERE]
        own.append(Rule("self", networks=tuple(networks), port=port))
    for host in hosts:
        host = host.strip().lower().strip("[]")
        if not host or host == "*":
            continue
        globs = [f"*{host}", host[1:]] if host.startswith(".") else [host]
        own += [Rule("self", host_glob=glob, port=port) for glob in globs for port in ports]
    return tuple(own)
