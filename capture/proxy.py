"""The capture browser's HTTP proxy: every request a page makes passes the network policy.

Chromium is started with ``--proxy-server`` pointing here (loopback included), so this sees
each connection the page opens: plain HTTP requests (absolute URLs) and CONNECT tunnels for
HTTPS and WebSockets, redirects included, since each hop is a new request. The proxy resolves
the name itself, checks every address against the policy, and connects to the address it
checked, so a name cannot resolve to one address for the check and another for the connection.
Runs on the capture engine's asyncio loop. No Django here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from urllib.parse import urlsplit

from .netpolicy import NetworkPolicy

logger = logging.getLogger(__name__)

HEADER_LIMIT = 64 * 1024
CONNECT_TIMEOUT = 10


class PolicyProxy:
    def __init__(self, policy: NetworkPolicy):
        self.policy = policy
        self.server = None
        self.port = None
        # Called with (kind, url, reason) for each request not let through ("denied" by the
        # policy, "unresolved" or "unreachable"): the capture running logs it.
        self.on_event = None
        # The connections being served (a tunnel lasts as long as the page or the site keeps
        # it open): held here, and ended by stop().
        self.serving: set[asyncio.Task] = set()

    async def start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=HEADER_LIMIT)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        """Stop listening and end every connection still served (a tunnel the site keeps
        open would otherwise outlive the proxy, and its task the event loop)."""
        if self.server is not None:
            self.server.close()
            self.server = None
        serving, self.serving = list(self.serving), set()
        for task in serving:
            task.cancel()
        await asyncio.gather(*serving, return_exceptions=True)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader, writer):
        task = asyncio.current_task()
        if task is not None:
            self.serving.add(task)
        upstream = None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            request_line, _, rest = head.partition(b"\r\n")
            method, target, version = request_line.decode("latin-1").split(" ", 2)
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                url = f"https://{target}/"
                port = int(port)
            else:
                parts = urlsplit(target)
                host = parts.hostname or ""
                port = parts.port or 80
                url = target
            host = host.strip("[]")
            address = await self._check(host, port, url)
            if address is None:
                writer.write(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                await writer.drain()
                return
            try:
                upstream = await asyncio.wait_for(
                    asyncio.open_connection(address, port), CONNECT_TIMEOUT
                )
            except (TimeoutError, OSError) as exc:
                errno = getattr(exc, "errno", None)
                reason = os.strerror(errno) if errno else str(exc) or "timed out"
                self._event("unreachable", url, f"could not connect to {address}:{port}: {reason}")
                writer.write(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                await writer.drain()
                return
            up_reader, up_writer = upstream
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                # One request per connection: the next request (perhaps to another host)
                # comes on a new connection and is checked again.
                path = urlsplit(target)._replace(scheme="", netloc="").geturl() or "/"
                headers = [
                    line
                    for line in rest.split(b"\r\n")
                    if line
                    and not line.lower().startswith(
                        (b"proxy-connection:", b"connection:", b"keep-alive:")
                    )
                ]
                up_writer.write(
                    b"\r\n".join(
                        [
                            f"{method} {path} {version}".encode("latin-1"),
                            *headers,
                            b"Connection: close",
                            b"",
                            b"",
                        ]
                    )
                )
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (
            TimeoutError,
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ) as exc:
            logger.debug("capture proxy connection ended: %s", exc)
        finally:
            for stream in (writer, upstream[1] if upstream else None):
                if stream is not None:
                    stream.close()
            self.serving.discard(task)

    async def _check(self, host: str, port: int, url: str) -> str | None:
        """The address to connect to, or None if the policy denies the request."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as exc:
            self._event("unresolved", url, f"could not resolve {host}: {exc.strerror}")
            return None
        addresses = [info[4][0] for info in infos]
        reason = self.policy.check(host, port, addresses)
        if reason is None:
            return addresses[0]
        self._event("denied", url, reason)
        return None

    def _event(self, kind, url, reason):
        if self.on_event is not None:
            self.on_event(kind, url, reason)


async def _pipe(reader, writer):
    try:
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
    finally:
        if writer.can_write_eof():
            with contextlib.suppress(OSError):  # the other side is gone: nothing to tell it
                writer.write_eof()
