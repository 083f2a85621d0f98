"""Which branch, base branch and commit a CI job tests: the tools' flags first, else what the
CI system says in its environment (GitHub Actions, GitLab CI), else git itself. No Django.

GitHub Actions: ``GITHUB_HEAD_REF`` / ``GITHUB_BASE_REF`` in a pull request, else
``GITHUB_REF_NAME``; ``GITHUB_SHA``. GitLab CI: ``CI_MERGE_REQUEST_SOURCE_BRANCH_NAME`` /
``CI_MERGE_REQUEST_TARGET_BRANCH_NAME`` in a merge request, else ``CI_COMMIT_BRANCH``;
``CI_COMMIT_SHA``. Plain git: ``git rev-parse --abbrev-ref HEAD`` and ``git rev-parse HEAD``.

In a GitHub pull request ``GITHUB_SHA`` is the merge commit GitHub made, which the pull request
does not show; the head commit's SHA is read from the event (``GITHUB_EVENT_PATH``,
``pull_request.head.sha``) instead, so the commit status appears on the pull request.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# For each value, the variables that may hold it, in order, per CI system.
SOURCES = {
    "GitHub Actions": {
        "branch": ("GITHUB_HEAD_REF", "GITHUB_REF_NAME"),
        "base_branch": ("GITHUB_BASE_REF",),
        "commit_sha": ("GITHUB_SHA",),
    },
    "GitLab CI": {
        "branch": ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_BRANCH"),
        "base_branch": ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME",),
        "commit_sha": ("CI_COMMIT_SHA",),
    },
}
GIT = {"branch": ["rev-parse", "--abbrev-ref", "HEAD"], "commit_sha": ["rev-parse", "HEAD"]}


@dataclass
class Context:
    branch: str = ""
    base_branch: str = ""
    commit_sha: str = ""
    # value name → where it came from ("--branch", "GITHUB_HEAD_REF", "git rev-parse HEAD")
    sources: dict = field(default_factory=dict)

    def sentence(self) -> str:
        """What the tool says it used, e.g. "branch feature (GITHUB_HEAD_REF), ..."."""
        words = {"branch": "branch", "base_branch": "base branch", "commit_sha": "commit"}
        parts = [
            f"{words[name]} {getattr(self, name)} ({self.sources[name]})"
            for name in words
            if getattr(self, name)
        ]
        return ", ".join(parts) if parts else "no branch or commit (none given or found)"


def _git(arguments: list[str]) -> str:
    try:
        done = subprocess.run(
            ["git", *arguments], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def detect(
    flags: Mapping[str, str | None],
    environ: Mapping[str, str],
    git: Callable[[list[str]], str] = _git,
) -> Context:
    """``flags``: the tool's --branch, --base-branch, --commit-sha (None or "" when not given).
    The first CI system whose variables say anything fills what the flags left; git fills the
    branch and commit when nothing else did (not the base branch: git cannot know it)."""
    context = Context()
    for name in ("branch", "base_branch", "commit_sha"):
        if flags.get(name):
            setattr(context, name, str(flags[name]))
            context.sources[name] = f"--{name.replace('_', '-')}"
    for variables in SOURCES.values():
        if not any(environ.get(v) for names in variables.values() for v in names):
            continue
        for name, candidates in variables.items():
            for variable in candidates:
                if not getattr(context, name) and environ.get(variable):
                    setattr(context, name, environ[variable])
                    context.sources[name] = variable
        break
    if context.sources.get("commit_sha") == "GITHUB_SHA" and environ.get("GITHUB_HEAD_REF"):
        head = _pull_request_head(environ.get("GITHUB_EVENT_PATH", ""))
        if head:
            context.commit_sha = head
            context.sources["commit_sha"] = "GITHUB_EVENT_PATH pull_request.head.sha"
    for name, arguments in GIT.items():
        if not getattr(context, name):
            value = git(arguments)
            if value and value != "HEAD":  # "HEAD": a detached checkout names no branch
                setattr(context, name, value)
                context.sources[name] = "git " + " ".join(arguments)
    return context


def _pull_request_head(path: str) -> str:
    """The pull request's head commit from a GitHub event file ("" when it says none)."""
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8")) if path else {}
    except (OSError, ValueError):
        return ""
    head = (event.get("pull_request") or {}).get("head") or {}
    sha = head.get("sha") if isinstance(head, dict) else None
    return sha if isinstance(sha, str) else ""
