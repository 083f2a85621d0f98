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
