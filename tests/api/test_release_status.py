from tests.conftest import BLACK, make_png


def test_release_status_lists_every_run(api):
    api.create_release()
    before = api.upload(make_png())
    after = api.upload(make_png(squares=[(0, 0, 5, BLACK)]))
    api.report("/b-baseline", image=before, url="https://example.com/b")
    api.report("/a-pair", image=after, ref_image=before)
    api.report("/c-failed", run_failed="timeout")
    response = api.get(
        "release_status", {"build_id": api.build_id, "release_name": "r1", "release_number": 1}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "receiving"
    assert body["complete"] is False
    assert body["counts"]["needs_diff"] == 1
    assert body["counts"]["no_diff_needed"] == 1
    assert body["counts"]["failed"] == 1
    assert [run["name"] for run in body["runs"]] == ["/a-pair", "/b-baseline", "/c-failed"]
    pair = body["runs"][0]
    assert pair["status"] == "needs_diff"
    assert pair["image"] == after and pair["ref_image"] == before
    assert body["runs"][2]["failure_reason"] == "run failed: timeout"


def test_release_status_by_post(api):
    api.create_release()
    response = api.post(
        "release_status", {"build_id": api.build_id, "release_name": "r1", "release_number": 1}
    )
    assert response.status_code == 200
    assert response.json()["runs"] == []
    assert response.json()["complete"] is True


def test_release_status_of_an_unknown_release(api):
    response = api.get(
        "release_status", {"build_id": api.build_id, "release_name": "zz", "release_number": 1}
    )
    assert response.status_code == 404


def test_runs_come_a_page_at_a_time_with_complete_counts(api):
    api.create_release()
    image = api.upload(make_png())
    for n in range(5):
        api.report(f"/page{n}", image=image)  # five baselines
    api.report("/failed", run_failed="boom")
    seen, url = [], None
    query = {"build_id": api.build_id, "release_name": "r1", "release_number": 1, "per_page": 2}
    body = api.get("release_status", query).json()
    while True:
        assert body["counts"]["no_diff_needed"] == 5 and body["counts"]["failed"] == 1
        assert (body["total"], body["per_page"], body["pages"]) == (6, 2, 3)
        seen += [run["name"] for run in body["runs"]]
        url = body["next"]
        if url is None:
            break
        assert url.startswith("http://testserver/api/release_status?")
        body = api.client.get(url, HTTP_AUTHORIZATION=api.keyed.auth_header).json()
    assert seen == ["/failed"] + [f"/page{n}" for n in range(5)]  # by name, each once


def test_a_page_is_at_most_a_thousand_runs(api):
    api.create_release()
    query = {"build_id": api.build_id, "release_name": "r1", "release_number": 1}
    assert api.get("release_status", {**query, "per_page": 1001}).status_code == 400
    body = api.get("release_status", query).json()
    assert (body["per_page"], body["page"], body["next"]) == (1000, 1, None)
