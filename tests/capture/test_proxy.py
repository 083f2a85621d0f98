"""The policy proxy's own life: what it serves ends when it stops."""

import asyncio
import gc
import socket

from capture.netpolicy import NetworkPolicy
from capture.proxy import PolicyProxy


def test_stopping_the_proxy_ends_its_tunnels_and_leaves_no_task_pending(caplog):
    """A tunnel the site keeps open (a keep-alive HTTPS connection, a slow resource) is ended by
    stop(): no task is left pending when its event loop closes (the capture worker's log used
    to show "Task was destroyed but it is pending! ... PolicyProxy._handle()")."""
    site = socket.create_server(("127.0.0.1", 0))  # accepts, never answers, never closes
    port = site.getsockname()[1]
    loop = asyncio.new_event_loop()
    proxy = loop.run_until_complete(PolicyProxy(NetworkPolicy.from_settings()).start())

    async def open_tunnel(proxy_port):
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
        writer.write(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        return writer, await reader.readline()

    with caplog.at_level("ERROR", logger="asyncio"):
        writer, answer = loop.run_until_complete(open_tunnel(proxy.port))
        held, _ = site.accept()
        assert answer.startswith(b"HTTP/1.1 200") and len(proxy.serving) == 1
        loop.run_until_complete(proxy.stop())
        assert not proxy.serving
        assert held.recv(1) == b""  # the proxy closed its side towards the site
        writer.close()
        loop.run_until_complete(asyncio.sleep(0.05))
        loop.close()
        del proxy, writer, loop
        gc.collect()
    held.close()
    site.close()
    assert "Task was destroyed" not in caplog.text
