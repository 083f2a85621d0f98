"""Requests the server sends on its own behalf (webhook deliveries): through the network policy,
to the address that was checked. No Django here.

The name is resolved once, every address it resolves to is checked (capture.netpolicy), and the
connection goes to the first checked address, with the name kept for the Host header and for
TLS (SNI and the certificate check), so a name cannot resolve to an allowed address for the
check and to another (DNS rebinding) for the connection. Redirects are not followed.

What went wrong is told by a fixed class (``OutboundError.kind``), never by text from the
target: the delivery log must not become a way to read an internal service's banner, or to
tell its ports apart beyond "refused", "not HTTP" and "timed out".
"""

from __future__ import annotations

import errno
import http.client
import socket
from urllib.parse import urlsplit

import certifi
import urllib3
from urllib3 import exceptions as urllib3_errors

from .netpolicy import NetworkPolicy, host_port

DENIED = "denied by policy"
UNRESOLVED = "could not resolve the host"
REFUSED = "connection refused"
TIMED_OUT = "timed out"
NOT_HTTP = "not an HTTP answer"
TLS = "TLS handshake or certificate failed"
FAILED = "connection failed"
KINDS = (DENIED, UNRESOLVED, REFUSED, TIMED_OUT, NOT_HTTP, TLS, FAILED)


class OutboundError(RuntimeError):
    """A request that got no HTTP answer; ``kind`` is one of KINDS, ``reason`` the policy's
    own words when it was denied (they name the rule, not anything the target said)."""

    def __init__(self, kind: str, reason: str = ""):
        super().__init__(f"{kind}: {reason}" if reason else kind)
        self.kind = kind
        self.reason = reason


def checked_address(policy: NetworkPolicy, host: str, port: int) -> str:
    """The address to connect to: ``host`` resolved once, every address checked."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OutboundError(UNRESOLVED) from None
    addresses = [info[4][0].split("%")[0] for info in infos]
    reason = policy.check(host, port, addresses)
    if reason is not None:
        raise OutboundError(DENIED, reason)
    return addresses[0]


def post(policy: NetworkPolicy, url: str, body: bytes, headers: dict, timeout: float) -> int:
    """POST ``body`` to ``url``; the HTTP status code, or OutboundError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError(FAILED, f"{url!r} is not an http:// or https:// URL")
    host, port = host_port(url)
    address = checked_address(policy, host, port)
    options = {"timeout": urllib3.Timeout(connect=timeout, read=timeout), "retries": False}
    if parts.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            address,
            port,
            server_hostname=host,
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, **options)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers={**headers, "Host": parts.netloc.rpartition("@")[2]},
                redirect=False,
                preload_content=False,
            )
            response.drain_conn()
            return response.status
    except (urllib3_errors.HTTPError, OSError) as exc:
        raise OutboundError(_kind(exc)) from None


def _kind(exc: BaseException) -> str:
    """The fixed class of a failure; what the target sent is never part of it."""
    if isinstance(exc, urllib3_errors.SSLError):
        return TLS
    # Before the timeouts: urllib3 makes NewConnectionError a ConnectTimeoutError.
    if isinstance(exc, urllib3_errors.NewConnectionError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(exc).lower():
            return REFUSED
        if isinstance(cause, TimeoutError | socket.timeout):
            return TIMED_OUT
        return FAILED
    if isinstance(exc, (urllib3_errors.TimeoutError, TimeoutError, socket.timeout)):
        return TIMED_OUT
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return REFUSED
    if isinstance(exc, urllib3_errors.ProtocolError):
        # http.client's BadStatusLine (RemoteDisconnected too): the other end is no HTTP
        # server; a reset or a broken pipe is the connection failing.
        cause = exc.args[1] if len(exc.args) > 1 else None
        return NOT_HTTP if isinstance(cause, http.client.BadStatusLine) else FAILED
    return FAILED
