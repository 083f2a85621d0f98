from tests.conftest import BLACK, make_png


def good_release(api, name, runs):
    api.create_release(name)
    for run_name, image in runs.items():
        api.report(run_name, release=name, image=image, url=f"https://example.com{run_name}")
    api.post(
        "mark_release",
        {"build_id": api.build_id, "release_name": name, "release_number": 1, "status": "good"},
    )


def test_find_run_returns_the_last_good_run(api):
    old, new = api.upload(make_png()), api.upload(make_png(squares=[(0, 0, 4, BLACK)]))
    good_release(api, "old", {"/home": old})
    good_release(api, "new", {"/home": new})
    response = api.post("find_run", {"build_id": api.build_id, "run_name": "/home"})
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "build_id": api.build_id,
        "release_name": "new",
        "release_number": 1,
        "run_name": "/home",
        "url": "https://example.com/home",
        "image": new,
        "log": None,
        "config": None,
        "layout": None,  # an uploaded screenshot has no layout map
    }


def test_find_run_falls_back_to_an_older_good_release(api):
    image = api.upload(make_png())
    good_release(api, "old", {"/only-old": image})
    good_release(api, "new", {"/other": api.upload(make_png(squares=[(0, 0, 4, BLACK)]))})
    response = api.post("find_run", {"build_id": api.build_id, "run_name": "/only-old"})
    assert response.json()["release_name"] == "old"
    assert response.json()["image"] == image


def test_releases_not_marked_good_are_not_baselines(api):
    api.create_release("reviewing")
    api.report("/home", release="reviewing", image=api.upload(make_png()))
    response = api.post("find_run", {"build_id": api.build_id, "run_name": "/home"})
    assert response.status_code == 404
    assert response.json() == {
        "error": f"no good release of build {api.build_id} has a run named '/home'"
    }


def test_run_name_is_required(api):
    response = api.post("find_run", {"build_id": api.build_id})
    assert response.status_code == 400
    assert response.json()["error"] == "run_name: This field is required."


def test_branches_have_their_own_baselines_and_fall_back_to_their_base(api):
    main, feature = api.upload(make_png()), api.upload(make_png(squares=[(0, 0, 4, BLACK)]))
    good_release(api, "main-1", {"/home": main})
    created = api.post(
        "create_release",
        {
            "build_id": api.build_id,
            "release_name": "pr-1",
            "branch": "feature",
            "base_branch": "main",
            "commit_sha": "ABCDEF1234567",
        },
    ).json()
    assert (created["branch"], created["base_branch"]) == ("feature", "main")
    api.report("/home", release="pr-1", image=feature, url="https://example.com/home")
    api.post(
        "mark_release",
        {"build_id": api.build_id, "release_name": "pr-1", "release_number": 1, "status": "good"},
    )

    def found(**branches):
        answer = api.post("find_run", {"build_id": api.build_id, "run_name": "/home", **branches})
        return answer.json()["image"]

    assert found() == main  # the original's call: the main branch's baseline
    assert found(branch="feature") == feature
    assert found(branch="hotfix") == main  # no good run of its own: the main branch's
    assert found(branch="hotfix", base_branch="feature") == feature
    from releases.models import Release

    assert Release.objects.get(name="pr-1").commit_sha == "abcdef1234567"
    bad = api.post(
        "create_release", {"build_id": api.build_id, "release_name": "x", "branch": "a b"}
    )
    assert bad.status_code == 400 and "branch: not a branch name" in bad.json()["error"]
