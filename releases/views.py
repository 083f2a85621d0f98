"""The review UI. Every object is found through ``access``: outsiders get 404, viewers of a
public build get read-only pages, owners (and superusers) act. Every POST is CSRF-protected
(Django's middleware) and every action writes the audit log (through ``services``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, Count, IntegerField, Max, Q, Value, When
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from artifacts import storage
from common import findings

from . import access, forms, services
from .models import AuditLog, Release, Run
from .templatetags.depicted import artifact_url
from .viewhelpers import access_errors, back, caller_of

S = Run.Status
RUNS_PER_PAGE = 100
# Groups of changes by cause listed on a release page (the rest: their runs are in the list).
MAX_GROUPS_SHOWN = 50
LOG_PREVIEW_BYTES = 200_000

# Runs whose diff needs a human first (approved ones stay there, so paging is stable while
# someone reviews), then failures, then the rest; by name inside each group.
RUN_GROUP = Case(
    When(status__in=[S.DIFF_FOUND, S.DIFF_APPROVED], then=Value(0)),
    When(status=S.FAILED, then=Value(1)),
    When(status__in=[S.DATA_PENDING, S.NEEDS_DIFF], then=Value(2)),
    When(status=S.FLAKY, then=Value(3)),
    default=Value(4),
    output_field=IntegerField(),
)


def site_context(request):
    """Template context for every page: the configured sign-in providers."""
    return {"social_providers": settings.SOCIAL_PROVIDERS}


def _run_summary(counts: dict) -> dict:
    total = sum(counts.values())
    pending = counts[S.DATA_PENDING] + counts[S.NEEDS_DIFF]
    failures = counts[S.DIFF_FOUND] + counts[S.FAILED]
    tested = total - counts[S.NO_DIFF_NEEDED] - counts[S.FAILED]
    complete = tested - pending
    return {
        "total": total,
        "pending": pending,
        "failures": failures,
        "tested": tested,
        "complete": complete,
        "baselines": counts[S.NO_DIFF_NEEDED],
        **counts,
    }


# --- pages ----------------------------------------------------------------------------------


@require_GET
@access_errors
def home(request):
    builds = (
        access.visible_builds(caller_of(request))
        .annotate(last_release=Max("releases__created"))
        .order_by("name")
    )
    if request.user.is_authenticated:
        owned = set(request.user.builds.values_list("id", flat=True))
    else:
        owned = set()
    return render(
        request, "releases/home.html", {"builds": builds, "owned": owned, "form": forms.BuildForm()}
    )


@login_required
@require_POST
@access_errors
def new_build(request):
    form = forms.BuildForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "releases/home.html",
            {"builds": access.visible_builds(caller_of(request)), "form": form},
            status=400,
        )
    build = services.create_build(
        name=form.cleaned_data["name"], owner=request.user, public=form.cleaned_data["public"]
    )
    messages.success(request, f"Created build {build.name}.")
    return redirect(reverse("build") + f"?id={build.id}")


@require_GET
@access_errors
def build(request):
    build = access.build_for(caller_of(request), request.GET.get("id"))
    # The branches releases were made on (the main branch first), and the one shown, if any.
    branches = sorted(
        {name or build.main_branch for name in build.releases.values_list("branch", flat=True)},
        key=lambda name: (name != build.main_branch, name),
    )
    branch = request.GET.get("branch", "")
    releases = (
        build.releases.filter(services.on_branch(build, branch)) if branch else build.releases
    )
    # Release names, newest activity first, paged; then their attempts with run counts in
    # one query (no query per row).
    names = releases.values("name").annotate(latest=Max("created")).order_by("-latest", "name")
    page = Paginator(names, 10).get_page(request.GET.get("page"))
    attempts = (
        releases.filter(name__in=[row["name"] for row in page])
        .annotate(
            **{f"n_{status}": Count("runs", filter=Q(runs__status=status)) for status in S.values}
        )
        .order_by("-number")
    )
    groups: dict[str, list] = {row["name"]: [] for row in page}
    for release in attempts:
        counts = {status: getattr(release, f"n_{status}") for status in S.values}
        groups[release.name].append((release, _run_summary(counts)))
    return render(
        request,
        "releases/build.html",
        {
            "build": build,
            "page": page,
            "groups": groups.items(),
            "can_act": access.can_act(caller_of(request), build),
            "branches": branches if len(branches) > 1 else [],
            "branch": branch,
        },
    )


@require_GET
@access_errors
def release(request):
    build = access.build_for(caller_of(request), request.GET.get("id"))
    release = access.release_in(build, request.GET.get("name", ""), request.GET.get("number"))
    counts = release.run_counts()
    runs = (
        release.runs.annotate(group=RUN_GROUP)
        .order_by("group", "name")
        .only(
            "id",
            "name",
            "status",
            "distortion",
            "changed_pixels",
            "size_changed",
            "failure_reason",
            "image",
            "ref_image",
            "diff_image",
            "thumbnail",
            "release_id",
            "summary",
            "cause_key",
        )
    )
    status_filter = request.GET.get("status")
    if status_filter in S.values:
        runs = runs.filter(status=status_filter)
    groups = services.cause_groups(release)
    group_filter = request.GET.get("group", "")
    shown_group = next((group for group in groups if group.key == group_filter), None)
    if shown_group is not None:
        runs = runs.filter(cause_key=group_filter)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    last_mark = (
        AuditLog.objects.filter(release=release, action__in=AuditLog.MARKS)
        .select_related("user", "api_key")
        .first()
    )
    return render(
        request,
        "releases/release.html",
        {
            "build": build,
            "release": release,
            "page": page,
            "summary": _run_summary(counts),
            "status_filter": status_filter,
            "statuses": S.choices,
            "last_mark": last_mark,
            "can_act": access.can_act(caller_of(request), build),
            "Status": Release.Status,
            "groups": groups[:MAX_GROUPS_SHOWN],
            "more_groups": max(0, len(groups) - MAX_GROUPS_SHOWN),
            "shown_group": shown_group,
        },
    )


@require_GET
@access_errors
def run(request):
    build = access.build_for(caller_of(request), request.GET.get("id"))
    release = access.release_in(build, request.GET.get("name", ""), request.GET.get("number"))
    run = access.run_in(release, request.GET.get("test") or "")
    ordered = release.runs.annotate(group=RUN_GROUP)
    group = ordered.get(pk=run.pk).group
    previous = (
        ordered.filter(Q(group__lt=group) | Q(group=group, name__lt=run.name))
        .order_by("-group", "-name")
        .only("name", "image", "ref_image", "diff_image")
        .first()
    )
    following = (
        ordered.filter(Q(group__gt=group) | Q(group=group, name__gt=run.name))
        .order_by("group", "name")
        .only("name", "image", "ref_image", "diff_image")
        .first()
    )
    diff_log = _text_artifact(run.diff_log_id)
    return render(
        request,
        "releases/run.html",
        {
            "build": build,
            "release": release,
            "run": run,
            "previous": previous,
            "next": following,
            "can_act": access.can_act(caller_of(request), build),
            "log": _text_artifact(run.log_id),
            "ref_log": _text_artifact(run.ref_log_id),
            "config": _text_artifact(run.config_id),
            "ref_config": _text_artifact(run.ref_config_id),
            "diff_log": diff_log,
            "findings": (
                findings.from_log(diff_log, noise_pixels=run.noise_pixels)
                if run.status not in Run.PENDING
                else None
            ),
            "images": {
                side: artifact_url(build, getattr(run, f"{field}_id"))
                for side, field in (
                    ("before", "ref_image"),
                    ("after", "image"),
                    ("diff", "diff_image"),
                    ("aligned", "aligned_diff_image"),
                    ("noise", "noise_image"),
                )
            },
            "release_link": release.get_absolute_url(),
            "previous_link": release.run_url(previous.name) if previous else "",
            "next_link": release.run_url(following.name) if following else "",
        },
    )


def _text_artifact(sha1):
    if not sha1:
        return None
    try:
        with storage.open_artifact(sha1) as handle:
            data = handle.read(LOG_PREVIEW_BYTES + 1)
    except storage.ArtifactMissing:
        return "(the stored bytes of this artifact are missing)"
    text = data[:LOG_PREVIEW_BYTES].decode("utf-8", errors="replace")
    return text + (
        "\n… (truncated; download for the rest)" if len(data) > LOG_PREVIEW_BYTES else ""
    )


# --- actions on releases and runs -----------------------------------------------------------


def _post_release(request):
    build = access.build_for(caller_of(request), request.POST.get("id"), act=True)
    return build, access.release_in(build, request.POST.get("name", ""), request.POST.get("number"))


@login_required
@require_POST
@access_errors
def mark_release(request):
    build, release = _post_release(request)
    status = request.POST.get("status")
    if status not in (Release.Status.GOOD, Release.Status.BAD, Release.Status.REVIEWING):
        raise Http404("unknown status")
    services.mark_release(caller_of(request), release, status)
    messages.success(request, f"Marked {release.name} #{release.number} {status}.")
    return redirect(release.get_absolute_url())


@login_required
@require_POST
@access_errors
def pin_release(request):
    build, release = _post_release(request)
    pinned = request.POST.get("pinned") == "1"
    services.pin_release(caller_of(request), release, pinned)
    messages.success(
        request,
        f"{'Pinned' if pinned else 'Unpinned'} {release.name} #{release.number}"
        + (": it is never collected." if pinned else "."),
    )
    return redirect(release.get_absolute_url())


@login_required
@require_POST
@access_errors
def approve_all(request):
    build, release = _post_release(request)
    count = services.approve_all(caller_of(request), release)
    messages.success(request, f"Approved {count} changed runs.")
    return redirect(release.get_absolute_url())


@login_required
@require_POST
@access_errors
def approve_group(request):
    build, release = _post_release(request)
    names = services.approve_group(caller_of(request), release, request.POST.get("group", ""))
    messages.success(request, f"Approved {len(names)} runs of one group of changes.")
    return back(request, release.get_absolute_url())


@login_required
@require_POST
@access_errors
def retry_runs(request):
    build, release = _post_release(request)
    run_name = request.POST.get("test") or None
    count = services.retry_failed(caller_of(request), release, run_name)
    messages.success(
        request,
        f"Retrying {count} failed runs."
        if count
        else "Nothing to retry: these failures were reported by a client.",
    )
    return back(request, release.get_absolute_url())


@login_required
@require_POST
@access_errors
def cancel_release(request):
    build, release = _post_release(request)
    services.cancel_release(caller_of(request), release)
    messages.success(request, f"Cancelled {release.name} #{release.number}.")
    return redirect(release.get_absolute_url())


@login_required
@require_POST
@access_errors
def review_run(request):
    build, release = _post_release(request)
    run = access.run_in(release, request.POST.get("test") or "")
    decision = request.POST.get("decision")
    if decision == "approve":
        services.approve_run(caller_of(request), run)
    elif decision == "reject":
        services.reject_run(caller_of(request), run)
    else:
        raise Http404("unknown decision")
    return back(request, release.run_url(run.name))
