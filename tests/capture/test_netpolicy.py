"""The capture network policy's rules (capture/netpolicy.py), without a browser."""

import pytest

from capture.netpolicy import NetworkPolicy, PolicyError, parse_rule

DEFAULT = NetworkPolicy.from_settings(
    public_url="http://depicted.example.com:8000", own_addresses=["10.0.0.5"]
)


@pytest.mark.parametrize(
    "host, port, addresses",
    [
        ("169.254.169.254", 80, ["169.254.169.254"]),
        ("metadata.google.internal", 80, ["169.254.169.254"]),
        ("[::ffff:169.254.169.254]", 80, ["::ffff:169.254.169.254"]),
        ("fe80-host", 443, ["fe80::1"]),
    ],
)
def test_link_local_is_always_denied(host, port, addresses):
    assert "link-local" in DEFAULT.check(host, port, addresses)
    allowing = NetworkPolicy.from_settings(allow="169.254.0.0/16,*")
    assert "link-local" in allowing.check(host, port, addresses)


def test_the_server_itself_is_denied_by_name_and_by_address():
    assert "Depicted server itself" in DEFAULT.check("depicted.example.com", 8000, ["10.0.0.5"])
    assert "Depicted server itself" in DEFAULT.check("other-name", 8000, ["10.0.0.5"])
    assert "Depicted server itself" in DEFAULT.check("0.0.0.0", 8000, ["0.0.0.0"])
    # Another port of the same host is another service (a staging site on the same box).
    assert DEFAULT.check("depicted.example.com", 8080, ["10.0.0.5"]) is None


def test_private_networks_and_loopback_are_allowed_by_default():
    assert DEFAULT.check("staging.internal", 80, ["10.1.2.3"]) is None
    assert DEFAULT.check("localhost", 3000, ["127.0.0.1"]) is None


def test_deny_rules_by_cidr_glob_keyword_and_port():
    policy = NetworkPolicy.from_settings(
        deny="10.0.0.0/8, *.db.internal, loopback:6379, [fd00::1]:5432"
    )
    assert "10.0.0.0/8" in policy.check("x", 80, ["10.9.8.7"])
    assert "*.db.internal" in policy.check("pg.db.internal", 5432, ["192.168.1.1"])
    assert "loopback:6379" in policy.check("localhost", 6379, ["127.0.0.1"])
    assert policy.check("localhost", 8000, ["127.0.0.1"]) is None
    assert "fd00::1" in policy.check("v6", 5432, ["fd00::1"])
    # A name that resolves to any denied address is denied.
    assert policy.check("mixed", 80, ["192.168.1.1", "10.0.0.1"]) is not None


def test_allow_rules_make_an_allowlist():
    policy = NetworkPolicy.from_settings(allow="*.staging.example.com,192.168.0.0/16")
    assert policy.check("www.staging.example.com", 443, ["203.0.113.9"]) is None
    assert policy.check("intranet", 80, ["192.168.4.4"]) is None
    assert "no DPXDT_CAPTURE_ALLOW rule" in policy.check("example.org", 443, ["93.184.216.34"])


def test_deny_wins_over_allow():
    policy = NetworkPolicy.from_settings(allow="private", deny="10.0.0.0/24")
    assert policy.check("a", 80, ["10.0.0.9"]) is not None
    assert policy.check("b", 80, ["10.0.1.9"]) is None


@pytest.mark.parametrize("text", ["10.0.0.0/33", "host/path", "a b", "x:port", "host:70000"])
def test_unreadable_rules_are_named(text):
    with pytest.raises(PolicyError, match="capture network rule"):
        parse_rule(text)


def test_self_needs_a_public_url():
    with pytest.raises(PolicyError, match="DPXDT_PUBLIC_URL"):
        NetworkPolicy.from_settings(deny="self")


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:169.254.169.254",  # IPv4-mapped
        "::169.254.169.254",  # IPv4-compatible
        "2002:a9fe:a9fe::",  # 6to4
        "64:ff9b::a9fe:a9fe",  # NAT64
        "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, client 169.254.169.254 (obfuscated)
    ],
)
def test_embedded_ipv4_is_checked_in_every_spelling(address):
    assert "link-local" in DEFAULT.check("x", 80, [address])


def test_an_allowlist_needs_every_address_of_a_name():
    policy = NetworkPolicy.from_settings(allow="192.168.0.0/16")
    assert policy.check("split", 80, ["192.168.1.1", "10.0.0.1"]) is not None
    assert policy.check("mapped", 80, ["::ffff:192.168.1.1"]) is None


def test_webhook_rules_are_named_as_such():
    policy = NetworkPolicy.from_settings(deny="10.0.0.0/8", what="webhook")
    assert "DPXDT_WEBHOOK_DENY rule '10.0.0.0/8'" in policy.check("x", 80, ["10.1.1.1"])
    with pytest.raises(PolicyError, match="webhook network rule 'a b'"):
        NetworkPolicy.from_settings(deny="a b", what="webhook")


def test_self_covers_every_recorded_endpoint_and_the_servers_names():
    policy = NetworkPolicy.from_settings(
        public_url="https://depicted.example.com",
        hosts=["depicted.example.com", ".corp.example", "*"],
        endpoints=[("0.0.0.0", 8000), ("10.1.1.1", 9000)],
        local_addresses=["192.0.2.2", "fd00::2"],
    )
    own = "Depicted server itself"
    for host, port, addresses in [
        ("127.0.0.1", 8000, ["127.0.0.1"]),
        ("ip6-localhost", 8000, ["::1"]),
        ("lan", 8000, ["192.0.2.2"]),
        ("lan6", 8000, ["fd00::2"]),
        ("other", 9000, ["10.1.1.1"]),
        ("intranet.corp.example", 8000, ["203.0.113.7"]),  # by name, at a server port
        ("depicted.example.com", 9000, ["203.0.113.8"]),
    ]:
        assert own in policy.check(host, port, addresses), (host, port)
    assert policy.check("127.0.0.1", 8001, ["127.0.0.1"]) is None
    assert policy.check("other", 8000, ["10.1.1.1"]) is None  # bound to one address only


@pytest.mark.django_db
def test_a_loopback_or_wildcard_bind_is_the_server_only_on_its_own_machine():
    from releases import endpoints
    from releases.models import ServerEndpoint

    seen = "2026-01-01T00:00:00Z"
    ServerEndpoint.objects.create(
        machine="web-1",
        address="0.0.0.0",
        port=8000,
        machine_addresses="127.0.0.1,10.0.0.5",
        seen=seen,
    )
    ServerEndpoint.objects.create(machine="web-1", address="127.0.0.1", port=8001, seen=seen)
    ServerEndpoint.objects.create(machine="web-2", address="10.0.0.6", port=8000, seen=seen)
    assert endpoints.known("web-1") == (
        [("0.0.0.0", 8000), ("127.0.0.1", 8001), ("10.0.0.6", 8000)],
        ["10.0.0.5", "127.0.0.1"],
    )
    assert endpoints.known("capture-1") == ([("10.0.0.5", 8000), ("10.0.0.6", 8000)], [])
