"""Requests the server sends itself (webhooks) through the network policy, against real sockets
on 127.0.0.1; the rebinding attack runs in a private network namespace, where 169.254.169.254
is on its loopback."""

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading

import pytest

from capture import outbound
from capture.netpolicy import NetworkPolicy
from releases import access, services, webhooks
from releases.models import Release, WebhookDelivery
from tests.conftest import ROOT

OPEN = NetworkPolicy.from_settings(what="webhook")


class Listener:
    """A TCP server on 127.0.0.1 that answers each connection with ``answer`` (None: reads and
    never answers) and records what it received."""

    def __init__(self, answer: bytes | None):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.answer = answer
        self.open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.open.append(conn)
            conn.settimeout(5)
            try:
                self.received.append(conn.recv(65536))
                if self.answer is not None:
                    conn.sendall(self.answer)
                    conn.close()
            except OSError:
                conn.close()

    def close(self):
        self.sock.close()
        for conn in self.open:
            conn.close()


@pytest.fixture
def listener():
    made = []

    def factory(answer):
        made.append(Listener(answer))
        return made[-1]

    yield factory
    for each in made:
        each.close()


HTTP_OK = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
BANNER = b"SSH-2.0-OpenSSH_9.6 internal-secret-banner\r\n"


def test_a_post_goes_to_the_checked_address_with_the_name_as_host(listener, monkeypatch):
    target = listener(HTTP_OK)
    calls = []
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        calls.append(host)
        return real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    status = outbound.post(
        OPEN, f"http://hooks.example.test:{target.port}/x?y=1", b"{}", {"X-A": "1"}, 5
    )
    # The name resolved once; the connection is made to the address checked.
    assert status == 204 and calls[0] == "hooks.example.test"
    assert set(calls[1:]) <= {"127.0.0.1"}
    request = target.received[0].decode()
    assert request.startswith("POST /x?y=1 HTTP/1.1\r\n")
    assert f"Host: hooks.example.test:{target.port}\r\n" in request


@pytest.mark.parametrize(
    "address",
    ["::ffff:169.254.169.254", "::169.254.169.254", "2002:a9fe:a9fe::1", "64:ff9b::a9fe:a9fe"],
)
def test_link_local_in_any_ipv6_spelling_is_denied(address):
    with pytest.raises(outbound.OutboundError) as denied:
        outbound.post(OPEN, f"http://[{address}]/", b"{}", {}, 5)
    assert denied.value.kind == outbound.DENIED and "link-local" in denied.value.reason


def test_the_failure_classes_never_carry_the_targets_words(listener):
    banner = listener(BANNER)
    silent = listener(None)
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    cases = [
        (banner.port, outbound.NOT_HTTP),
        (closed_port, outbound.REFUSED),
        (silent.port, outbound.TIMED_OUT),
    ]
    for port, kind in cases:
        with pytest.raises(outbound.OutboundError) as failed:
            outbound.post(OPEN, f"http://127.0.0.1:{port}/", b"{}", {}, 1)
        assert failed.value.kind == kind and str(failed.value) == kind
    assert banner.received  # it was reached, and what it said is nowhere


@pytest.mark.django_db
def test_the_delivery_log_keeps_the_class_not_the_banner(keyed, listener):
    from capture.tasks import send_webhook

    target = listener(BANNER)
    services.update_settings(
        access.Caller(), keyed.build, webhook_urls=f"http://127.0.0.1:{target.port}/hook"
    )
    release = Release.objects.create(build=keyed.build, name="r1", number=1, status="reviewing")
    [delivery_id] = webhooks.release_event(release)
    with pytest.raises(webhooks.DeliveryError, match="not an HTTP answer"):
        webhooks.deliver(delivery_id, send_webhook)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.error == "not an HTTP answer" and delivery.response_code is None
    assert "SSH" not in delivery.error and "banner" not in delivery.error


@pytest.mark.django_db
def test_webhook_deny_rules_give_up_at_once_and_say_which_rule(keyed, listener, settings):
    from capture.tasks import send_webhook

    target = listener(HTTP_OK)
    settings.WEBHOOK_DENY = "loopback"
    services.update_settings(
        access.Caller(), keyed.build, webhook_urls=f"http://127.0.0.1:{target.port}/hook"
    )
    release = Release.objects.create(build=keyed.build, name="r1", number=1, status="reviewing")
    [delivery_id] = webhooks.release_event(release)
    assert webhooks.deliver(delivery_id, send_webhook) == "denied"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.status == "failed" and not target.received
    assert delivery.error == (
        f"denied by policy: 127.0.0.1:{target.port} matches DPXDT_WEBHOOK_DENY rule 'loopback'"
    )
    settings.WEBHOOK_DENY = ""
    settings.WEBHOOK_ALLOW = "*.example.com"
    with pytest.raises(webhooks.SendFailed) as denied:
        send_webhook(f"http://127.0.0.1:{target.port}/hook", b"{}", {})
    assert "matches no DPXDT_WEBHOOK_ALLOW rule" in denied.value.reason


REBINDING = textwrap.dedent("""
    import socket, subprocess, sys, threading
    import requests
    from capture import outbound
    from capture.netpolicy import NetworkPolicy

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"], check=True)
    hits = {"127.0.0.1": [], "169.254.169.254": []}

    def serve(address):
        server = socket.create_server((address, 8080))
        while True:
            conn, _ = server.accept()
            hits[address].append(conn.recv(65536))
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
            conn.close()

    for address in hits:
        threading.Thread(target=serve, args=(address,), daemon=True).start()
    import time; time.sleep(0.3)

    # A resolver under the attacker's control: an allowed address for the first lookup, the
    # metadata service's for every later one.
    real, answers = socket.getaddrinfo, ["127.0.0.1"]
    def rebinding(host, *args, **kwargs):
        if host == "hooks.rebind.test":
            address = answers.pop(0) if answers else "169.254.169.254"
            return real(address, *args, **kwargs)
        return real(host, *args, **kwargs)
    socket.getaddrinfo = rebinding

    status = outbound.post(NetworkPolicy.from_settings(what="webhook"),
                           "http://hooks.rebind.test:8080/hook", b"{}", {}, 5)
    pinned = (status, len(hits["127.0.0.1"]), len(hits["169.254.169.254"]))
    # What a check followed by a request that resolves again (the old delivery) would do.
    answers[:] = ["127.0.0.1"]
    outbound.checked_address(NetworkPolicy.from_settings(what="webhook"), "hooks.rebind.test", 8080)
    requests.post("http://hooks.rebind.test:8080/hook", data=b"{}", timeout=5)
    print(pinned, len(hits["169.254.169.254"]))
""")


@pytest.mark.netns
def test_a_name_rebound_to_the_metadata_address_is_never_posted_to():
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        pytest.fail("this test needs root, unshare and ip to make a private network namespace")
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", REBINDING],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    # Pinned: delivered to the address checked, the metadata service untouched; resolving
    # again, as before, reaches it.
    assert result.stdout.split() == ["(200,", "1,", "0)", "1"]


def test_https_checks_the_certificate_against_the_name(tmp_path, monkeypatch):
    """HTTPS to the pinned address still verifies the certificate for the URL's name: a
    self-signed one is refused, as "TLS handshake or certificate failed"."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example.test")]), False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *args, **kwargs: real(
            "127.0.0.1" if host == "hooks.example.test" else host, *args, **kwargs
        ),
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    handshakes = []

    def serve(times):
        for _ in range(times):
            conn, _ = server.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    handshakes.append(
                        tls.server_hostname if hasattr(tls, "server_hostname") else ""
                    )
                    tls.recv(65536)
                    tls.sendall(HTTP_OK)
            except (ssl.SSLError, OSError) as exc:
                handshakes.append(type(exc).__name__)

    thread = threading.Thread(target=serve, args=(2,), daemon=True)
    thread.start()
    try:
        with pytest.raises(outbound.OutboundError) as refused:
            outbound.post(OPEN, f"https://hooks.example.test:{port}/hook", b"{}", {}, 5)
        assert refused.value.kind == outbound.TLS
        # Trusting that certificate: the name is checked, though the connection goes to the
        # address the policy checked.
        monkeypatch.setattr(outbound.certifi, "where", lambda: str(tmp_path / "cert.pem"))
        url = f"https://hooks.example.test:{port}/hook"
        assert outbound.post(OPEN, url, b"{}", {}, 5) == 204
        thread.join(5)
        assert len(handshakes) == 2
    finally:
        server.close()
