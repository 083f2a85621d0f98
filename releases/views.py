"""Review pages. Every lookup goes through ``access``; outsiders get 404."""

from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404
from django.shortcuts import render

from . import access, services
from .models import Release, Run

# Runs whose diff needs a human first, then failures, then the rest; stable while reviewing.
_RUN_ORDER = Case(
    When(status__in=[Run.Status.DIFF_FOUND, Run.Status.DIFF_APPROVED], then=Value(0)),
    When(status=Run.Status.FAILED, then=Value(1)),
    default=Value(2), output_field=IntegerField(),
)


def home(request):
    caller = access.caller_for_request(request)
    builds = access.visible_builds(caller).order_by("name")
    return render(request, "releases/home.html", {"builds": builds})


def release(request):
    caller = access.caller_for_request(request)
    try:
        build = access.build_for(caller, request.GET.get("id"))
        release = access.release_in(build, request.GET.get("name", ""), request.GET.get("number"))
    except access.NotFound as exc:
        raise Http404(str(exc)) from None
    runs = release.runs.annotate(group=_RUN_ORDER).order_by("group", "name")
    page = Paginator(runs, 100).get_page(request.GET.get("page"))
    return render(request, "releases/release.html", {
        "build": build, "release": release, "page": page,
        "counts": services.run_counts(release), "Status": Release.Status,
    })
