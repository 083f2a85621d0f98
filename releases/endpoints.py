"""Where the Depicted web server listens, recorded by each web process as it serves, so that the
network policy's ``self`` covers every address and port the server answers on (not only
DPXDT_PUBLIC_URL's): gunicorn on 0.0.0.0:8000 behind an HTTPS proxy is still the server when
a capture asks for http://127.0.0.1:8000/ or http://[::1]:8000/admin/.

A web process learns its endpoint from the request: the port it came in on (gunicorn hands over
the connection's socket; other servers, runserver or a test's live server, report the port
they listen on as SERVER_PORT), and the process's own listening socket on that port, looked
up in /proc (gunicorn's workers inherit it from their master). Each endpoint is written once
per process (and again after REFRESH_SECONDS), so a request costs a set lookup.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import socket
import struct
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.db import DatabaseError
from django.utils import timezone

from .models import ServerEndpoint

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 3600
# Endpoints no web process has reported for this long are forgotten (a port given up).
FORGET_AFTER = timedelta(days=30)
_SIOCGIFADDR = 0x8915  # linux/sockios.h
_recorded: dict[tuple[str, int], float] = {}
_by_port: dict[int, list[tuple[str, int]]] = {}
_lock = threading.Lock()


def machine() -> str:
    """This host's identity: the same for every process on it, another on another host."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text:
            return f"{socket.gethostname()}/{text}"
    return socket.gethostname()


def machine_addresses() -> list[str]:
    """This host's own addresses (every interface's), where a wildcard bind answers."""
    found = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name[:15].encode())
            try:  # the interface's IPv4 address
                packed = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue
            found.add(socket.inet_ntoa(packed[20:24]))
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            hex_address = line.split()[0]
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(hex_address))))
    except (OSError, ValueError, IndexError):
        logger.debug("no IPv6 addresses read from /proc/net/if_inet6")
    return sorted(found)


def listening_on(port: int) -> list[str]:
    """The addresses this process listens on at ``port`` (Linux /proc; none elsewhere)."""
    inodes = set()
    for fd in Path("/proc/self/fd").glob("*"):
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, size in (("tcp", 4), ("tcp6", 16)):
        try:
            lines = Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            hex_address, hex_port = local.split(":")
            if state != "0A" or inode not in inodes or int(hex_port, 16) != port:
                continue  # 0A: LISTEN
            raw = bytes.fromhex(hex_address)
            # /proc writes each 32-bit word in the host's byte order.
            if sys.byteorder == "little":
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
            found.append(str(ipaddress.ip_address(raw)))
    return found


def endpoints_of(environ) -> list[tuple[str, int]]:
    """The (address, port) pairs the process listens on where the request came in: the
    listening socket of the request's port (a wildcard bind is 0.0.0.0 or ::, not the one
    address this connection used), else the connection's own local address."""
    connection, here = environ.get("gunicorn.socket"), None
    if connection is not None:
        try:
            address, port = connection.getsockname()[:2]
            here = (address.split("%")[0], port)
        except (OSError, ValueError):
            return []
    else:
        try:
            port = int(environ.get("SERVER_PORT", ""))
        except ValueError:
            return []
    if port not in _by_port:  # a /proc scan once per port and process
        _by_port[port] = [(address, port) for address in listening_on(port)]
    return _by_port[port] or ([here] if here else [])


def record(endpoints) -> None:
    now = time.monotonic()
    with _lock:
        fresh = [
            e for e in endpoints if now - _recorded.get(e, -REFRESH_SECONDS) >= REFRESH_SECONDS
        ]
        for endpoint in fresh:
            _recorded[endpoint] = now
    if not fresh:
        return
    here, addresses = machine(), ",".join(machine_addresses())
    try:
        for address, port in fresh:
            ServerEndpoint.objects.update_or_create(
                machine=here,
                address=address,
                port=port,
                defaults={"seen": timezone.now(), "machine_addresses": addresses},
            )
        ServerEndpoint.objects.filter(seen__lt=timezone.now() - FORGET_AFTER).delete()
    except DatabaseError as exc:  # the request still gets its answer; the next one tries again
        logger.warning("could not record the server's address %s: %s", fresh, exc)
        with _lock:
            for endpoint in fresh:
                _recorded.pop(endpoint, None)


def known(here: str | None = None) -> tuple[list[tuple[str, int]], list[str]]:
    """What the network policy needs, as seen from the machine ``here`` (default: this one):
    the endpoints that are the server from here, and the addresses a wildcard bind answers on.
    A bind to the loopback or a wildcard is the server from its own machine only; on another
    machine the same port of the loopback is something else; its own addresses count
    everywhere."""
    here = here or machine()
    endpoints, local = [], set()
    for row in ServerEndpoint.objects.order_by("pk"):
        address = ipaddress.ip_address(row.address)
        others = [a for a in row.machine_addresses.split(",") if a]
        if row.machine == here:
            endpoints.append((row.address, row.port))
            if address.is_unspecified:
                local.update(others)
        elif address.is_unspecified:
            endpoints += [(other, row.port) for other in others if not _loopback(other)]
        elif not address.is_loopback:
            endpoints.append((row.address, row.port))
    return endpoints, sorted(local)


def _loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


class RecordEndpointMiddleware:
    """Records the endpoint each request came in on (releases.endpoints)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        endpoints = endpoints_of(request.META)
        if endpoints:
            record(endpoints)
        return self.get_response(request)
