"""The review UI per page: owner, other user, anonymous, public build; CSRF; cross-build ids."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.template.defaultfilters import filesizeformat
from django.test import Client, RequestFactory
from django.utils import timezone

from artifacts import storage
from artifacts.models import Artifact
from releases import access, services
from releases.models import ApiKey, AuditLog, Build, Invitation, Release, Run
from tests.conftest import BLACK, ROOT, make_png


@pytest.fixture
def users(db):
    User = get_user_model()
    return {
        "owner": User.objects.create_user("owner", "owner@example.com", "pw-owner-1"),
        "other": User.objects.create_user("other", "other@example.com", "pw-other-1"),
    }


def client_for(user=None, csrf=False):
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def world(users):
    """A private and a public build of "owner", each with a release holding a changed run."""
    result = {}
    for name, public in (("private", False), ("public", True)):
        build = services.create_build(name=f"{name} site", owner=users["owner"], public=public)
        release = Release.objects.create(build=build, name="r1", number=1, status="reviewing")
        images = {}
        for field, data in (
            ("ref_image", make_png()),
            ("image", make_png(squares=[(0, 0, 9, BLACK)])),
        ):
            artifact = storage.store_bytes(data, "image/png").artifact
            build.artifacts.add(artifact)
            images[field] = artifact
        run = Run.objects.create(
            release=release,
            name="/home",
            status="diff_found",
            changed_pixels=81,
            distortion=0.002,
            **images,
        )
        result[name] = (build, release, run)
    return result


def page_urls(build, release, run):
    q = f"id={build.id}&name={release.name}&number={release.number}"
    return {
        "build": f"/build?id={build.id}",
        "release": f"/release?{q}",
        "run": f"/run?{q}&test={run.name}",
        "settings": f"/settings?build_id={build.id}",
        "api_keys": f"/api_keys?build_id={build.id}",
        "owners": f"/admins?build_id={build.id}",
        "activity": f"/activity?build_id={build.id}",
    }


VIEW_PAGES = ["build", "release", "run"]
OWNER_PAGES = ["settings", "api_keys", "owners", "activity"]


@pytest.mark.parametrize("page", VIEW_PAGES + OWNER_PAGES)
def test_owner_sees_every_page(world, users, page):
    response = client_for(users["owner"]).get(page_urls(*world["private"])[page])
    assert response.status_code == 200


@pytest.mark.parametrize("page", VIEW_PAGES + OWNER_PAGES)
@pytest.mark.parametrize("who", ["other", None])
def test_outsiders_get_404_on_a_private_build(world, users, page, who):
    response = client_for(users.get(who)).get(page_urls(*world["private"])[page])
    assert response.status_code in (404, 302)
    if response.status_code == 302:  # owners' pages ask anonymous users to log in first
        assert page in OWNER_PAGES and response["Location"].startswith("/login")


@pytest.mark.parametrize("who", ["other", None])
def test_public_build_releases_and_runs_are_visible_to_all(world, users, who):
    urls = page_urls(*world["public"])
    client = client_for(users.get(who))
    for page in VIEW_PAGES:
        response = client.get(urls[page])
        assert response.status_code == 200, page
        assert b"Approve difference" not in response.content
        assert b"Mark release good" not in response.content


@pytest.mark.parametrize("page", OWNER_PAGES)
def test_public_build_never_shows_keys_owners_settings_or_activity(world, users, page):
    assert client_for(users["other"]).get(page_urls(*world["public"])[page]).status_code == 404


def test_home_lists_own_and_public_builds(world, users):
    owner = client_for(users["owner"]).get("/").content.decode()
    assert "private site" in owner and "public site" in owner
    other = client_for(users["other"]).get("/").content.decode()
    assert "public site" in other and "private site" not in other
    anonymous = client_for().get("/").content.decode()
    assert "public site" in anonymous and "private site" not in anonymous


def test_create_build(users):
    response = client_for(users["owner"]).post("/new", {"name": "Checkout", "public": ""})
    build = Build.objects.get(name="Checkout")
    assert response.status_code == 302 and response["Location"] == f"/build?id={build.id}"
    assert list(build.owners.all()) == [users["owner"]]
    assert AuditLog.objects.filter(
        build=build, action="created_build", user=users["owner"]
    ).exists()


def test_release_page_lists_changed_runs_first_with_counts(world, users):
    build, release, _ = world["private"]
    for name, status in (
        ("/a-same", "diff_not_found"),
        ("/z-changed", "diff_found"),
        ("/b-failed", "failed"),
    ):
        Run.objects.create(release=release, name=name, status=status)
    html = client_for(users["owner"]).get(page_urls(*world["private"])["release"]).content.decode()
    order = [html.index(name) for name in ("/home", "/z-changed", "/b-failed", "/a-same")]
    assert order == sorted(order)
    assert "Approve all changes (2)" in html


def test_approve_and_reject_are_audited(world, users):
    build, release, run = world["private"]
    client = client_for(users["owner"])
    data = {"id": build.id, "name": "r1", "number": 1, "test": "/home"}
    client.post("/run/review", {**data, "decision": "approve"})
    run.refresh_from_db()
    assert run.status == "diff_approved"
    client.post("/run/review", {**data, "decision": "reject"})
    run.refresh_from_db()
    assert run.status == "diff_found"
    actions = list(
        AuditLog.objects.filter(run=run, user=users["owner"]).values_list("action", flat=True)
    )
    assert set(actions) == {"run_diff_approved", "run_diff_found"}


def test_bulk_approve(world, users):
    build, release, _ = world["private"]
    Run.objects.create(release=release, name="/second", status="diff_found")
    client_for(users["owner"]).post(
        "/release/approve_all", {"id": build.id, "name": "r1", "number": 1}
    )
    assert set(release.runs.values_list("status", flat=True)) == {"diff_approved"}


def test_mark_release_good_bad_reviewing(world, users):
    build, release, _ = world["private"]
    client = client_for(users["owner"])
    data = {"id": build.id, "name": "r1", "number": 1}
    client.post("/release/mark", {**data, "status": "good"})
    release.refresh_from_db()
    assert release.status == "good"
    response = client.post("/release/mark", {**data, "status": "bad"}, follow=True)
    assert b"cannot go from good to bad" in response.content
    client.post("/release/mark", {**data, "status": "reviewing"})
    release.refresh_from_db()
    assert release.status == "reviewing"


def test_retry_failed_diff_requeues_it(
    world, users, monkeypatch, django_capture_on_commit_callbacks
):
    build, release, run = world["private"]
    Run.objects.filter(pk=run.pk).update(status="failed", failure_reason="diff failed: boom")
    sent = []
    monkeypatch.setattr(
        "releases.pipeline._send", lambda signature, run_id: sent.append(run_id) or True
    )
    with django_capture_on_commit_callbacks(execute=True):
        client_for(users["owner"]).post(
            "/release/retry", {"id": build.id, "name": "r1", "number": 1}
        )
    run.refresh_from_db()
    release.refresh_from_db()
    assert run.status == "needs_diff" and run.failure_reason == ""
    assert release.status == "processing"
    assert sent == [run.id]


def test_cancel_a_running_attempt(world, users):
    build, release, run = world["private"]
    Release.objects.filter(pk=release.pk).update(status="processing")
    Run.objects.filter(pk=run.pk).update(status="needs_diff")
    client_for(users["owner"]).post("/release/cancel", {"id": build.id, "name": "r1", "number": 1})
    release.refresh_from_db()
    run.refresh_from_db()
    assert release.status == "bad"
    assert run.status == "failed" and run.failure_reason == "cancelled by owner"


@pytest.mark.parametrize(
    "path,data",
    [
        ("/release/mark", {"status": "good"}),
        ("/release/approve_all", {}),
        ("/release/retry", {}),
        ("/release/cancel", {}),
        ("/release/pin", {"pinned": "1"}),
        ("/run/review", {"test": "/home", "decision": "approve"}),
    ],
)
def test_viewers_and_outsiders_cannot_act(world, users, path, data):
    for name, expected in (("private", 404), ("public", 403)):
        build, release, run = world[name]
        response = client_for(users["other"]).post(
            path, {"id": build.id, "name": "r1", "number": 1, **data}
        )
        assert response.status_code == expected, (name, path)
    assert Run.objects.get(pk=world["public"][2].pk).status == "diff_found"


def test_csrf_less_posts_are_refused(world, users):
    build, release, run = world["private"]
    client = client_for(users["owner"], csrf=True)
    for path, data in (
        ("/run/review", {"test": "/home", "decision": "approve"}),
        ("/release/mark", {"status": "good"}),
        ("/release/pin", {"pinned": "1"}),
        ("/new", {"name": "x"}),
    ):
        response = client.post(path, {"id": build.id, "name": "r1", "number": 1, **data})
        assert response.status_code == 403, path
    for path, data in (
        ("/settings", {"name": "hacked"}),
        ("/api_keys", {"purpose": "x"}),
        ("/admins", {"email": "evil@example.com"}),
    ):
        response = client.post(path, {"build_id": build.id, **data})
        assert response.status_code == 403, path
    run.refresh_from_db()
    assert run.status == "diff_found"
    assert not ApiKey.objects.filter(purpose="x").exists()


def test_cross_build_ids_are_refused(world, users):
    """An owner of build A cannot reach build B's run by giving B's names with A's id, nor
    B's run with B's id."""
    other = get_user_model().objects.create_user("intruder", "i@example.com", "pw-intru-1")
    mine = services.create_build(name="mine", owner=other)
    Release.objects.create(build=mine, name="r1", number=1, status="reviewing")
    client = client_for(other)
    private, _, run = world["private"]
    # Same release name and number as the private build's release, but in "mine".
    response = client.post(
        "/run/review",
        {"id": mine.id, "name": "r1", "number": 1, "test": "/home", "decision": "approve"},
    )
    assert response.status_code == 404
    response = client.post(
        "/run/review",
        {"id": private.id, "name": "r1", "number": 1, "test": "/home", "decision": "approve"},
    )
    assert response.status_code == 404
    assert client.get(f"/run?id={mine.id}&name=r1&number=1&test=/home").status_code == 404
    run.refresh_from_db()
    assert run.status == "diff_found"
    # Artifacts, too, only through a build that owns them.
    assert client.get(f"/api/download?build_id={mine.id}&sha1sum={run.image_id}").status_code == 404


def test_api_key_secret_shown_once_and_stored_hashed(world, users):
    build = world["private"][0]
    client = client_for(users["owner"])
    response = client.post("/api_keys", {"build_id": build.id, "purpose": "CI"})
    html = response.content.decode()
    key = ApiKey.objects.get(purpose="CI")
    secret = html.split('id="new-key-secret">')[1].split("<")[0]
    assert key.check_secret(secret) and secret not in key.secret_hash
    assert secret not in client.get(f"/api_keys?build_id={build.id}").content.decode()
    client.post("/api_keys/revoke", {"build_id": build.id, "key_id": key.id})
    key.refresh_from_db()
    assert not key.active
    assert AuditLog.objects.filter(build=build, action="revoked_api_key").exists()


def test_revoking_another_builds_key_is_404(world, users):
    private, public = world["private"][0], world["public"][0]
    key, _ = ApiKey.create(build=public, purpose="theirs")
    response = client_for(users["owner"]).post(
        "/api_keys/revoke", {"build_id": private.id, "key_id": key.id}
    )
    assert response.status_code == 404
    key.refresh_from_db()
    assert key.active


def test_settings_are_saved_and_audited(world, users):
    build = world["private"][0]
    response = client_for(users["owner"]).post(
        "/settings",
        {
            "build_id": build.id,
            "name": "Renamed",
            "public": "on",
            "diff_threshold": "0.2",
            "max_distortion": "0.01",
            "send_email": "on",
            "email_alias": "team@example.com",
            "diff_metric": "yiq",
            "recaptures": "0",
            "flaky_blocks": "on",
            "ignore_selectors": " .clock \n\n#ad > img ",
        },
    )
    assert response.status_code == 302
    build.refresh_from_db()
    assert build.ignore_selectors == ".clock\n#ad > img"
    assert (
        build.name,
        build.public,
        build.diff_threshold,
        build.email_alias,
        build.diff_metric,
        build.recaptures,
        build.flaky_blocks,
    ) == ("Renamed", True, 0.2, "team@example.com", "yiq", 0, True)
    assert AuditLog.objects.filter(build=build, action="changed_settings").exists()
    bad = client_for(users["owner"]).post(
        "/settings",
        {
            "build_id": build.id,
            "name": "x",
            "diff_threshold": "3",
            "max_distortion": "0",
            "diff_metric": "oklab",
            "recaptures": "1",
        },
    )
    assert b"must be between 0 and 1" in bad.content
    unknown = client_for(users["owner"]).post(
        "/settings",
        {
            "build_id": build.id,
            "name": "x",
            "max_distortion": "0",
            "diff_metric": "lab",
            "recaptures": "2",
        },
    )
    assert b"Select a valid choice" in unknown.content
    assert b"must be 0 or 1" in unknown.content
    typo = client_for(users["owner"]).post(
        "/settings",
        {
            "build_id": build.id,
            "name": "x",
            "max_distortion": "0",
            "diff_metric": "oklab",
            "recaptures": "1",
            "ignore_selectors": ".clock\ndiv[",
        },
    )
    assert "&#x27;div[&#x27; is not a CSS selector" in typo.content.decode()
    build.refresh_from_db()
    assert build.ignore_selectors == ".clock\n#ad > img"


def test_owners_invite_remove_and_not_yourself(world, users):
    build = world["private"][0]
    client = client_for(users["owner"])
    client.post("/admins", {"build_id": build.id, "email": "OTHER@example.com"})
    assert build.owners.filter(pk=users["other"].pk).exists()  # existing account: added now
    client.post("/admins", {"build_id": build.id, "email": "new@example.com"})
    assert Invitation.objects.filter(build=build, email="new@example.com").exists()
    response = client.post(
        "/admins/remove", {"build_id": build.id, "user_id": users["owner"].pk}, follow=True
    )
    assert b"cannot remove yourself" in response.content
    assert build.owners.filter(pk=users["owner"].pk).exists()
    client.post("/admins/remove", {"build_id": build.id, "user_id": users["other"].pk})
    assert not build.owners.filter(pk=users["other"].pk).exists()
    # The invited person signs up and logs in: they become an owner.
    newcomer = get_user_model().objects.create_user("newcomer", "new@example.com", "pw-new-123")
    assert Client().login(
        request=RequestFactory().post("/login"), username="newcomer", password="pw-new-123"
    )
    assert build.owners.filter(pk=newcomer.pk).exists()
    assert not Invitation.objects.exists()


def test_activity_is_paged(world, users):
    build = world["private"][0]
    for index in range(120):
        AuditLog.record("report_run", build_id=build.id, message=f"entry {index}")
    client = client_for(users["owner"])
    first = client.get(f"/activity?build_id={build.id}").content.decode()
    assert "entry 119" in first and "entry 10 " not in first and "Older" in first
    assert client.get(f"/activity?build_id={build.id}&page=3").status_code == 200


def test_login_with_password_and_provider_buttons_only_when_configured(users, settings):
    page = Client().get("/login").content.decode()
    assert "Continue with" not in page
    settings.SOCIAL_PROVIDERS = [("github", "GitHub")]
    page = Client().get("/login").content.decode()
    assert "Continue with GitHub" in page and "/oauth/login/github/" in page
    response = Client().post("/login", {"username": "owner", "password": "pw-owner-1"})
    assert response.status_code == 302


def test_release_ready_email_lists_changed_runs(
    world, users, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PUBLIC_URL = "https://depicted.example.com"
    build, release, run = world["private"]
    Release.objects.filter(pk=release.pk).update(status="processing")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.maybe_finish_release(release.id)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "private site: r1 - Ready for review"
    assert message.to == ["owner@example.com"]
    assert "/home" in message.body
    assert "https://depicted.example.com/run?id=" in message.body
    # Plain text: links as they are, not HTML-escaped (&amp; would 404).
    assert "&amp;" not in message.body and "&number=1&test=%2Fhome" in message.body
    assert "&amp;number=1" in message.alternatives[0][0]  # the HTML part escapes, as it must


def test_no_email_when_the_build_says_so(
    world, users, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    build, release, _ = world["private"]
    Build.objects.filter(pk=build.pk).update(send_email=False)
    Release.objects.filter(pk=release.pk).update(status="processing")
    with django_capture_on_commit_callbacks(execute=True):
        services.maybe_finish_release(release.id)
    assert mail.outbox == []


def test_run_page_shows_the_three_images_and_prefetches_the_next(world, users):
    build, release, run = world["private"]
    Run.objects.create(
        release=release, name="/next", status="diff_found", image=run.image, ref_image=run.ref_image
    )
    html = client_for(users["owner"]).get(page_urls(*world["private"])["run"]).content.decode()
    for sha1 in (run.ref_image_id, run.image_id):
        assert f"sha1sum={sha1}" in html
    assert 'rel="prefetch"' in html
    assert 'id="next"' in html and "Approve difference" in html


def test_the_admin_cannot_edit_a_status(keyed, admin_client):
    from releases.models import Release, Run

    release = Release.objects.create(build=keyed.build, name="r", number=1, status="reviewing")
    run = Run.objects.create(release=release, name="/", status="diff_found")
    for url in (
        f"/admin/releases/release/{release.pk}/change/",
        f"/admin/releases/run/{run.pk}/change/",
    ):
        page = admin_client.get(url).content.decode()
        assert 'name="status"' not in page  # shown, not editable
    admin_client.post(
        f"/admin/releases/run/{run.pk}/change/",
        {"release": release.pk, "name": "/", "status": "diff_approved"},
    )
    run.refresh_from_db()
    assert run.status == "diff_found"


@pytest.mark.parametrize("model", ["release", "run"])
def test_the_admin_keeps_http_for_an_address_typed_without_a_scheme(model, rf, admin_user):
    """Said explicitly, so Django 6's change of default (https) changes nothing, and building
    the form warns of nothing."""
    import warnings

    from django.contrib import admin
    from django.utils.deprecation import RemovedInDjango60Warning

    model_admin = admin.site._registry[{"release": Release, "run": Run}[model]]
    request = rf.get("/admin/")
    request.user = admin_user
    with warnings.catch_warnings():
        warnings.simplefilter("error", RemovedInDjango60Warning)
        field = model_admin.get_form(request).base_fields["url"]
    assert field.clean("staging.internal/page") == "http://staging.internal/page"
    assert field.clean("https://example.test/") == "https://example.test/"


def test_page_and_artifact_urls_come_from_one_place(keyed):
    from releases.models import Release
    from releases.templatetags import depicted

    build = keyed.build
    release = Release.objects.create(build=build, name="a b&c", number=2)
    assert depicted.build_url(build) == f"/build?id={build.id}"
    assert depicted.build_page("activity", build) == f"/activity?build_id={build.id}"
    assert depicted.release_url(release) == f"/release?id={build.id}&name=a+b%26c&number=2"
    assert depicted.run_url(release, "/x?y") == (
        f"/run?id={build.id}&name=a+b%26c&number=2&test=%2Fx%3Fy"
    )
    assert depicted.artifact_url(build, "ab" * 20) == (
        f"/api/download?build_id={build.id}&sha1sum={'ab' * 20}"
    )
    assert depicted.artifact_url(build, None) == ""
    # No template builds a query string by hand.
    for template in (ROOT / "releases" / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"\?(id|build_id)=\{\{", text), template


def test_runs_of_a_release_marked_bad_cannot_be_approved(world, users):
    build, release, run = world["private"]
    Release.objects.filter(pk=release.pk).update(status="bad")
    Run.objects.filter(pk=run.pk).update(status="diff_found")
    client = client_for(users["owner"])
    for url, data in (
        ("/run/review", {"test": run.name, "decision": "approve"}),
        ("/release/approve_all", {}),
    ):
        page = client.post(
            url,
            {"id": build.id, "name": release.name, "number": release.number, **data},
            follow=True,
        ).content.decode()
        assert "is marked bad: mark it reviewing again to change its runs" in page
    run.refresh_from_db()
    assert run.status == "diff_found"


def test_the_release_page_shows_thumbnails_never_full_size_screenshots(world, users):
    build, release, run = world["private"]
    small = storage.store_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp").artifact
    build.artifacts.add(small)
    Run.objects.filter(pk=run.pk).update(thumbnail=small)
    run.refresh_from_db()
    html = (
        client_for(users["owner"])
        .get(f"/release?id={build.id}&name={release.name}&number={release.number}")
        .content.decode()
    )
    assert f"sha1sum={small.sha1}" in html
    for full_size in (run.image_id, run.ref_image_id, run.diff_image_id):
        if full_size:
            assert f"sha1sum={full_size}" not in html


def test_the_release_page_groups_changes_by_cause_and_approves_a_group(world, users):
    build, release, run = world["private"]
    labels = ["`a`: color #0072aa → #0066cc"]
    for name in ("/home", "/about", "/blog"):
        Run.objects.update_or_create(
            release=release,
            name=name,
            defaults={
                "status": "diff_found",
                "cause_key": "a" * 40,
                "causes": [{"label": labels[0]}],
                "summary": "`a` ×4: color #0072aa → #0066cc\n`p`: text “x” → “y”",
            },
        )
    Run.objects.create(release=release, name="/alone", status="diff_found", summary="canvas")
    # A client that diffed the pair itself (the original's report_run with a diff_image).
    Run.objects.create(release=release, name="/theirs", status="diff_found", distortion=0.25)
    client = client_for(users["owner"])
    page = client.get(f"/release?id={build.id}&name=r1&number=1").content.decode()
    assert "changed (the client's own diff, distortion 0.2500)" in page
    assert "Changes by cause" in page and labels[0] in page and "3 pages" in page
    assert "Approve these 3" in page
    # The CHANGE column: the summary's first line, and how many lines more.
    assert '`a` ×4: color #0072aa → #0066cc</span> <span class="muted">+1 more' in page
    only_group = client.get(f"/release?id={build.id}&name=r1&number=1&group={'a' * 40}")
    assert "/alone" not in only_group.content.decode()
    # Approving needs the CSRF token like every form...
    refused = client_for(users["owner"], csrf=True).post(
        "/release/approve_group", {"id": build.id, "name": "r1", "number": 1, "group": "a" * 40}
    )
    assert refused.status_code == 403
    # ...and an owner: a viewer of the public build cannot.
    public, public_release, _ = world["public"]
    denied = client_for(users["other"]).post(
        "/release/approve_group", {"id": public.id, "name": "r1", "number": 1, "group": "a" * 40}
    )
    assert denied.status_code == 403
    client.post(
        "/release/approve_group", {"id": build.id, "name": "r1", "number": 1, "group": "a" * 40}
    )
    statuses = dict(release.runs.values_list("name", "status"))
    assert statuses == {
        "/home": "diff_approved",
        "/about": "diff_approved",
        "/blog": "diff_approved",
        "/alone": "diff_found",
        "/theirs": "diff_found",
    }
    assert AuditLog.objects.filter(action="approved_group", user=users["owner"]).count() == 1


def test_an_owner_pins_a_release_and_the_settings_show_storage_and_what_would_be_freed(
    world, users
):
    build, release, run = world["private"]
    client = client_for(users["owner"])
    client.post("/release/pin", {"id": build.id, "name": "r1", "number": 1, "pinned": "1"})
    release.refresh_from_db()
    assert release.pinned
    page = client.get(release.get_absolute_url()).content.decode()
    assert "Pinned · unpin" in page
    assert AuditLog.objects.filter(build=build, action="pinned_release").exists()

    # An old, bad release nothing needs: the settings page says what collecting it frees.
    old = Release.objects.create(build=build, name="old", number=1, status="bad")
    data = b"an old screenshot " * 100
    artifact = services.store_artifact_for(build, data, "image/png")
    Run.objects.create(release=old, name="/gone", status="diff_found", image=artifact)
    long_ago = timezone.now() - timedelta(days=400)
    Release.objects.filter(pk=old.pk).update(created=long_ago)
    Artifact.objects.filter(sha1=artifact.sha1).update(stored_at=long_ago)
    services.update_settings(access.Caller(), build, keep_days=30, keep_releases=1)
    page = client.get(f"/settings?build_id={build.id}").content.decode()
    stored = sum(build.artifacts.values_list("size", flat=True))
    assert f"take <b>{filesizeformat(stored)}</b>" in page
    assert "today that is <b>1 release</b> (1 runs)" in page
    assert f"freeing <b>{filesizeformat(len(data))}</b> in 1 artifact" in page


def test_the_build_page_filters_by_branch(world, users):
    build = world["private"][0]
    caller = access.Caller(user=users["owner"])
    services.create_release(caller, build, name="pr-7", branch="feature", base_branch="main")
    services.create_release(caller, build, name="nightly", branch="main")
    client = client_for(users["owner"])
    page = client.get(f"/build?id={build.id}").content.decode()
    assert 'id="branches"' in page and ">main<" in page and ">feature<" in page
    assert "pr-7" in page and "nightly" in page and "r1" in page
    feature = client.get(f"/build?id={build.id}&branch=feature").content.decode()
    assert "pr-7" in feature and "nightly" not in feature and ">r1<" not in feature
    main = client.get(f"/build?id={build.id}&branch=main").content.decode()
    assert "pr-7" not in main and "nightly" in main and ">r1<" in main
    release = Release.objects.get(name="pr-7")
    Release.objects.filter(pk=release.pk).update(commit_sha="abcdef0123456789")
    page = client.get(release.get_absolute_url()).content.decode()
    assert "On branch <b>feature</b> (baselines from it, else main)" in page
    assert "commit <code>abcdef012345</code>" in page


def test_a_status_token_is_sealed_and_never_shown_again(world, users):
    from releases import sealing, statuses

    build = world["private"][0]
    client = client_for(users["owner"])
    form = {
        "build_id": build.id,
        "name": build.name,
        "diff_metric": "oklab",
        "max_distortion": "0",
        "recaptures": "1",
        "status_provider": "github",
        "status_repository": "not a repo",
    }
    refused = client.post("/settings", form).content.decode()
    assert "GitHub needs owner/repo" in refused and "a token is needed" in refused
    form.update(status_repository="acme/shop", status_token="ghp_t0ken-value")
    assert client.post("/settings", form).status_code == 302
    build.refresh_from_db()
    assert build.status_token and "ghp_t0ken-value" not in build.status_token
    assert sealing.unseal(build.status_token, statuses.TOKEN_PURPOSE) == "ghp_t0ken-value"
    page = client.get(f"/settings?build_id={build.id}").content.decode()
    assert "ghp_t0ken-value" not in page and build.status_token not in page
    activity = " ".join(build.audit_log.values_list("message", flat=True))
    assert "status_token changed" in activity and build.status_token not in activity
    del form["status_token"]  # saved again without one: the token stays
    sealed = build.status_token
    assert client.post("/settings", {**form, "main_branch": "trunk"}).status_code == 302
    build.refresh_from_db()
    assert build.status_token == sealed and build.main_branch == "trunk"
