"""The Depicted HTTP API client the CI tools share: timeouts, retries with backoff on 5xx and
connection errors, and errors that say which call failed and why."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 120


class ApiError(RuntimeError):
    """A call that failed for good; the message names the endpoint and the server's reason."""


class Client:
    def __init__(
        self, prefix: str, key_id: str, secret: str, *, retries: int = 5, backoff: float = 0.5
    ):
        if not prefix:
            raise ApiError(
                "no server: give --release_server_prefix (or DPXDT_RELEASE_SERVER_PREFIX)"
            )
        if not key_id or not secret:
            raise ApiError(
                "no API key: give --release_client_id and --release_client_secret "
                "(or DPXDT_RELEASE_CLIENT_ID / DPXDT_RELEASE_CLIENT_SECRET)"
            )
        self.prefix = prefix.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (key_id, secret)
        # POSTs are retried too: every call of this API is safe to repeat except
        # create_release, whose repeat makes one more (empty) attempt, an acceptable cost.
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def call(self, endpoint: str, *, files=None, method="POST", **params) -> dict:
        url = f"{self.prefix}/{endpoint}"
        params = {k: v for k, v in params.items() if v is not None}
        try:
            if method == "GET":
                response = self.session.get(
                    url, params=params, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
                )
            else:
                response = self.session.post(
                    url, data=params, files=files, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
                )
        except requests.RequestException as exc:
            raise ApiError(f"{endpoint}: could not reach {url}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not body.get("success"):
            reason = body.get("error") or response.text[:200] or response.reason
            raise ApiError(f"{endpoint}: HTTP {response.status_code}: {reason}")
        return body

    def upload(self, build_id, path) -> str:
        with open(path, "rb") as handle:
            return self.call(
                "upload", build_id=build_id, files={"file": (str(path).rsplit("/", 1)[-1], handle)}
            )["sha1sum"]
