"""/api/approve_group and release_status's groups: changed runs grouped by identical causes,
a group approved at once (one audited action), only inside the key's own build and release."""

import pytest

from releases.models import AuditLog, Build, Release, Run

LINKS = [{"kind": "style", "label": "`a`: color #0072aa → #0066cc", "line": "`a` ×3: color"}]
WORDS = [*LINKS, {"kind": "text", "label": "`p`: text “a” → “b”", "line": "`p`: text"}]


@pytest.fixture
def changed(api):
    """A reviewing release of five changed runs: three with the link colour alone, two with
    the link colour and a word, one changed by pixels alone (no group)."""
    api.create_release()
    release = Release.objects.get()
    release.status = "reviewing"
    release.save()
    for n, (key, causes) in enumerate(
        [("a" * 40, LINKS)] * 3 + [("b" * 40, WORDS)] * 2 + [("", [])], start=1
    ):
        Run.objects.create(
            release=release,
            name=f"/p{n}",
            status="diff_found",
            cause_key=key,
            causes=causes,
            summary="\n".join(c["line"] for c in causes) or "1 block changed at y=0–9 (after)",
        )
    return release


def approve(api, group, name="r1"):
    return api.post(
        "approve_group",
        {"build_id": api.build_id, "release_name": name, "release_number": 1, "group": group},
    )


def test_release_status_lists_the_groups_largest_first(api, changed):
    body = api.get(
        "release_status", {"build_id": api.build_id, "release_name": "r1", "release_number": 1}
    ).json()
    assert [(g["key"], g["runs"], g["changed"]) for g in body["groups"]] == [
        ("a" * 40, ["/p1", "/p2", "/p3"], 3),
        ("b" * 40, ["/p4", "/p5"], 2),
    ]
    assert body["groups"][1]["causes"] == [c["label"] for c in WORDS]
    assert body["groups"][1]["label"] == "; ".join(c["label"] for c in WORDS)
    run = {r["name"]: r for r in body["runs"]}["/p4"]
    assert run["cause_key"] == "b" * 40 and run["summary"] == "`a` ×3: color\n`p`: text"
    assert run["causes"] == WORDS


def test_approving_a_group_approves_its_runs_and_nothing_else(api, changed):
    response = approve(api, "b" * 40)
    assert response.status_code == 200, response.content
    assert response.json()["approved"] == 2 and response.json()["runs"] == ["/p4", "/p5"]
    statuses = dict(Run.objects.values_list("name", "status"))
    assert {name for name, s in statuses.items() if s == "diff_approved"} == {"/p4", "/p5"}
    entry = AuditLog.objects.get(action="approved_group")
    assert entry.api_key_id == api.keyed.key_id
    assert entry.message == "2 runs: " + "; ".join(c["label"] for c in WORDS)
    assert approve(api, "b" * 40).json()["approved"] == 0  # again: nothing left to approve


def test_an_unknown_group_is_404_and_a_malformed_one_400(api, changed):
    response = approve(api, "c" * 40)
    assert response.status_code == 404 and "no group" in response.json()["error"]
    response = approve(api, "not a key")
    assert response.status_code == 400 and response.json()["error"].startswith("group: ")


def test_a_marked_release_refuses_until_it_is_reviewed_again(api, changed):
    changed.status = "good"
    changed.save()
    response = approve(api, "a" * 40)
    assert response.status_code == 400 and "marked good" in response.json()["error"]
    assert not Run.objects.filter(status="diff_approved").exists()


def test_a_key_of_another_build_cannot_approve_its_groups(api, changed, make_build):
    from tests.conftest import Api

    other = make_build("Other")
    Release.objects.create(build=other.build, name="r1", number=1, status="reviewing")
    intruder = Api(api.client, other)
    response = intruder.post(
        "approve_group",
        {"build_id": api.build_id, "release_name": "r1", "release_number": 1, "group": "a" * 40},
    )
    assert response.status_code in (403, 404)
    # Its own build's release of the same name holds no such group.
    response = intruder.post(
        "approve_group",
        {
            "build_id": other.build.id,
            "release_name": "r1",
            "release_number": 1,
            "group": "a" * 40,
        },
    )
    assert response.status_code == 404
    assert not Run.objects.filter(status="diff_approved").exists()
    assert Build.objects.count() == 2
