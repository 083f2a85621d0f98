"""Which branch and commit the CI tools report, from each CI system's variables and git."""

import pytest

from localtool import cienv

SHA = "0123456789abcdef0123456789abcdef01234567"


def no_git(arguments):
    return ""


@pytest.mark.parametrize(
    "environ, expected, sources",
    [
        (  # GitHub Actions, a pull request
            {
                "GITHUB_HEAD_REF": "feature/x",
                "GITHUB_BASE_REF": "main",
                "GITHUB_REF_NAME": "12/merge",
                "GITHUB_SHA": SHA,
            },
            ("feature/x", "main", SHA),
            ("GITHUB_HEAD_REF", "GITHUB_BASE_REF", "GITHUB_SHA"),
        ),
        (  # GitHub Actions, a push (GITHUB_HEAD_REF is set but empty)
            {"GITHUB_HEAD_REF": "", "GITHUB_REF_NAME": "main", "GITHUB_SHA": SHA},
            ("main", "", SHA),
            ("GITHUB_REF_NAME", None, "GITHUB_SHA"),
        ),
        (  # GitLab CI, a merge request
            {
                "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "fix",
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "develop",
                "CI_COMMIT_SHA": SHA,
            },
            ("fix", "develop", SHA),
            (
                "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
                "CI_COMMIT_SHA",
            ),
        ),
        (  # GitLab CI, a branch pipeline
            {"CI_COMMIT_BRANCH": "main", "CI_COMMIT_SHA": SHA},
            ("main", "", SHA),
            ("CI_COMMIT_BRANCH", None, "CI_COMMIT_SHA"),
        ),
    ],
)
def test_each_ci_systems_variables(environ, expected, sources):
    found = cienv.detect({}, environ, no_git)
    assert (found.branch, found.base_branch, found.commit_sha) == expected
    names = ("branch", "base_branch", "commit_sha")
    assert tuple(found.sources.get(name) for name in names) == sources


def test_flags_win_and_git_fills_the_rest():
    answers = {"rev-parse --abbrev-ref HEAD": "topic", "rev-parse HEAD": SHA}
    found = cienv.detect(
        {"branch": None, "base_branch": "release-2", "commit_sha": None},
        {},
        lambda arguments: answers[" ".join(arguments)],
    )
    assert (found.branch, found.base_branch, found.commit_sha) == ("topic", "release-2", SHA)
    assert found.sentence() == (
        "branch topic (git rev-parse --abbrev-ref HEAD), base branch release-2 (--base-branch), "
        f"commit {SHA} (git rev-parse HEAD)"
    )
    flagged = cienv.detect({"branch": "mine"}, {"GITHUB_HEAD_REF": "theirs"}, no_git)
    assert (flagged.branch, flagged.sources["branch"]) == ("mine", "--branch")


def test_a_detached_checkout_names_no_branch():
    found = cienv.detect({}, {}, lambda arguments: "HEAD" if "--abbrev-ref" in arguments else "")
    assert found.branch == "" and found.sentence() == "no branch or commit (none given or found)"


def test_real_git_in_a_repository(tmp_path, monkeypatch):
    import subprocess

    subprocess.run(["git", "init", "-q", "-b", "trunk", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        + ["commit", "-q", "--allow-empty", "-m", "one"],
        check=True,
    )
    monkeypatch.chdir(tmp_path)
    found = cienv.detect({}, {})
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert (found.branch, found.commit_sha) == ("trunk", head)


def test_a_github_pull_request_reports_its_head_commit_not_the_merge(tmp_path):
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"head": {"sha": "' + "f" * 40 + '"}}}')
    environ = {
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_BASE_REF": "main",
        "GITHUB_SHA": SHA,  # the merge commit
        "GITHUB_EVENT_PATH": str(event),
    }
    found = cienv.detect({}, environ, no_git)
    assert found.commit_sha == "f" * 40
    assert found.sources["commit_sha"] == "GITHUB_EVENT_PATH pull_request.head.sha"
    assert cienv.detect({}, {**environ, "GITHUB_EVENT_PATH": ""}, no_git).commit_sha == SHA
    push = cienv.detect(
        {}, {"GITHUB_REF_NAME": "main", "GITHUB_SHA": SHA, "GITHUB_EVENT_PATH": str(event)}, no_git
    )
    assert push.commit_sha == SHA  # not a pull request: the pushed commit itself
