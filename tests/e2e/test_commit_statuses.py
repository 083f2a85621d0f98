"""Commit statuses end to end: a real worker on Redis sends each release transition to a
stand-in GitHub and a stand-in GitLab of this test's own on 127.0.0.1, which check each
provider's documented path, authentication header and body; the first answer is a 500, so
the delivery is retried."""

import http.server
import json
import threading

import pytest

from releases import access, services, statuses
from releases.models import Build, WebhookDelivery
from tests.conftest import BLACK, make_png, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN = "ghp_s3cret-token"
SHA_1, SHA_2 = "a" * 40, "b" * 40


class Provider:
    """Records every POST (path, headers, JSON body); answers 500 to the first, then 201."""

    def __init__(self):
        self.received = []
        self.failures_left = 1
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                headers = {k.lower(): v for k, v in self.headers.items()}
                provider.received.append((self.path, headers, body))
                status = 500 if provider.failures_left else 201
                provider.failures_left = max(0, provider.failures_left - 1)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    made = Provider()
    yield made
    made.close()


CASES = {
    "github": {
        "api": "/api/v3",  # GitHub Enterprise's base URL
        "repository": "acme/shop",
        "path": "/api/v3/repos/acme/shop/statuses/{sha}",
        "auth": ("authorization", f"Bearer {TOKEN}"),
        "states": ("pending", "success", "failure"),
        "name_key": "context",
    },
    "gitlab": {
        "api": "/api/v4",
        "repository": "acme/shop",
        "path": "/api/v4/projects/acme%2Fshop/statuses/{sha}",
        "auth": ("private-token", TOKEN),
        "states": ("pending", "success", "failed"),
        "name_key": "name",
    },
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_release_transition_reaches_the_commit(live, provider, kind):
    case = CASES[kind]
    build = Build.objects.get(pk=live.build_id)
    services.update_settings(
        access.Caller(),
        build,
        status_provider=kind,
        status_api_url=provider.url + case["api"],
        status_repository=case["repository"],
        status_token=statuses.seal_token(TOKEN),
    )
    pending, success, failure = case["states"]

    def delivered(count):
        wait_for(
            lambda: WebhookDelivery.objects.filter(status="delivered").count() >= count,
            timeout=60,
            message=f"{count} statuses delivered",
        )

    # A first release: a new page, nothing to compare: success; then marked good.
    live.post("create_release", release_name="r1", commit_sha=SHA_1)
    delivered(1)
    image = live.upload(make_png())
    live.post("report_run", release_name="r1", release_number=1, run_name="/", image=image)
    live.post("runs_done", release_name="r1", release_number=1)
    live.wait_until_reviewing("r1")
    delivered(2)
    live.post("mark_release", release_name="r1", release_number=1, status="good")
    delivered(3)
    # A second: the page changed; then marked bad.
    live.post("create_release", release_name="r2", commit_sha=SHA_2)
    delivered(4)
    changed = live.upload(make_png(squares=[(0, 0, 20, BLACK)]))
    live.post(
        "report_run",
        release_name="r2",
        release_number=1,
        run_name="/",
        image=changed,
        ref_image=image,
    )
    live.post("runs_done", release_name="r2", release_number=1)
    live.wait_until_reviewing("r2")
    delivered(5)
    live.post("mark_release", release_name="r2", release_number=1, status="bad")
    delivered(6)

    assert len(provider.received) == 7  # the first was answered 500 and sent again
    first = WebhookDelivery.objects.order_by("id").first()
    assert first.attempts == 2 and first.response_code == 201
    expected = [
        (SHA_1, pending, "Depicted is comparing the pages", "r1"),
        (SHA_1, pending, "Depicted is comparing the pages", "r1"),  # the retry
        (SHA_1, success, "no changes in 1 runs", "r1"),
        (SHA_1, success, "marked good", "r1"),
        (SHA_2, pending, "Depicted is comparing the pages", "r2"),
        (SHA_2, failure, "1 change needs review", "r2"),
        (SHA_2, failure, "marked bad", "r2"),
    ]
    for (path, headers, body), (sha, state, description, release) in zip(
        provider.received, expected, strict=True
    ):
        assert path == case["path"].format(sha=sha)
        assert headers[case["auth"][0]] == case["auth"][1]
        assert headers["content-type"] == "application/json"
        assert body["state"] == state and body["description"] == description
        assert body[case["name_key"]] == "depicted/E2E"
        assert body["target_url"].endswith(f"/release?id={build.id}&name={release}&number=1")
    # The token is nowhere but sealed in the build: not in a delivery, not in the activity.
    assert not WebhookDelivery.objects.filter(payload__contains=TOKEN).exists()
    assert TOKEN not in "".join(build.audit_log.values_list("message", flat=True))
