"""Loaded with ``-p`` before Django: the environment every test (and every process a test
starts) runs in. Real services only: Redis is started here if it is not running."""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import uuid

_data_dir = tempfile.mkdtemp(prefix="dpxdt-test-")
_key_prefix = f"dpxdt-test-{uuid.uuid4().hex[:12]}:"

os.environ.update(
    {
        "DPXDT_DEBUG": "1",
        "DPXDT_SECRET_KEY": "test-secret-key-not-for-production",
        "DPXDT_FAST_PASSWORD_HASHER": "1",
        "DPXDT_DATA_DIR": _data_dir,
        "DPXDT_BROKER_KEY_PREFIX": _key_prefix,
        "DPXDT_LOG_LEVEL": "WARNING",
        # The live server answers each request on a new thread: kept connections would outlive
        # them and stop the test database from being dropped.
        "DPXDT_DB_CONN_MAX_AGE": "0",
    }
)
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
# Failing captures are retried; keep that quick in tests (the count is what is tested).
os.environ.setdefault("DPXDT_CAPTURE_ATTEMPTS", "2")
os.environ.setdefault("DPXDT_CAPTURE_RETRY_DELAY_SECONDS", "0.2")
# Webhook retries too (0.2 s, 0.4 s, ...; the number of deliveries is what is tested).
os.environ.setdefault("DPXDT_WEBHOOK_RETRY_SECONDS", "0.2")


def _port_open(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ensure_redis():
    if not _port_open(6379):  # scripts/services.sh knows how to start it (and waits for it)
        subprocess.run(
            [os.path.join(os.path.dirname(__file__), "..", "scripts", "services.sh"), "redis"],
            check=True,
        )


def _cleanup():
    shutil.rmtree(_data_dir, ignore_errors=True)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2)
        keys = list(client.scan_iter(f"{_key_prefix}*"))
        if keys:
            client.delete(*keys)
    except Exception as exc:  # cleanup must not hide the test results
        print(f"note: could not remove test keys from Redis: {exc}")


if os.environ["CELERY_BROKER_URL"].startswith("redis://"):
    _ensure_redis()
atexit.register(_cleanup)
