"""The dpxdt HTTP API: ``/api/*`` with the original's names, parameters and answers.

Requests are POSTs (form-encoded, multipart or JSON) authenticated with HTTP Basic (API key id
and secret); answers are JSON with ``"success": true`` or an ``"error"`` message. Views parse
and validate parameters, ask ``access`` for the objects and ``services`` to act.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from artifacts import storage

from . import access, parsers, services
from .api_params import (
    BuildParams,
    CreateReleaseParams,
    DownloadParams,
    FindRunParams,
    MarkReleaseParams,
    ReleaseParams,
    ReportRunParams,
    build_for_request,
    params_of,
)
from .models import ARTIFACT_FIELDS, InvalidTransition, Release, Run

# Content types an artifact may be shown as in a browser; anything else is a download.
INLINE_TYPES = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "application/json",
}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "upload too large"


def exception_handler(exc, context):
    """Every error as ``{"error": "<what is wrong>"}`` (plus ``fields`` for bad parameters)."""
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(parsers.too_big(context["request"], getattr(exc, "field", None)))
    if isinstance(exc, access.NotFound):
        exc = exceptions.NotFound(str(exc))
    elif isinstance(exc, access.Forbidden):
        exc = exceptions.PermissionDenied(str(exc))
    elif isinstance(exc, (services.Rejected, InvalidTransition)):
        exc = exceptions.ValidationError({"non_field_errors": [str(exc)]})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError) and isinstance(data, dict):
        parts = []
        for field, messages in data.items():
            text = (
                " ".join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
            )
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        response.data = {"error": "; ".join(parts), "fields": data}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {"error": str(data["detail"])}
    elif isinstance(data, list):
        response.data = {"error": " ".join(str(item) for item in data)}
    return response


# Runs per page of release_status (a 3,000-run release was one 7 MB answer).
MAX_RUNS_PER_PAGE = 1000


def results_url(request, release: Release) -> str:
    path = release.get_absolute_url()
    if settings.PUBLIC_URL:
        return settings.PUBLIC_URL + path
    return request.build_absolute_uri(path)


def release_fields(release: Release) -> dict:
    return {
        "build_id": release.build_id,
        "release_name": release.name,
        "release_number": release.number,
    }


# --- endpoints ------------------------------------------------------------------------------


@extend_schema(request=CreateReleaseParams, summary="Create a new attempt of a named release")
@api_view(["POST"])
def create_release(request):
    params = params_of(CreateReleaseParams, request)
    build = build_for_request(request, params)
    release = services.create_release(
        access.caller_for_request(request),
        build,
        name=params["release_name"],
        url=params["url"],
        branch=params["branch"],
        base_branch=params["base_branch"],
        commit_sha=params["commit_sha"].lower(),
    )
    answer = {"success": True, **release_fields(release), "url": release.url}
    if params["branch"] or params["base_branch"]:  # the original's answer, unless asked
        answer["branch"] = release.branch_of(build)
        answer["base_branch"] = release.base_branch or build.main_branch
    return Response(answer)


@extend_schema(request=FindRunParams, summary="The last known-good run of a name")
@api_view(["POST"])
def find_run(request):
    params = params_of(FindRunParams, request)
    build = build_for_request(request, params)
    run = services.baseline_run(build, params["run_name"], params["branch"], params["base_branch"])
    if run is None:
        where = (
            f" on branch {params['branch']!r}"
            + (f" or {params['base_branch']!r}" if params["base_branch"] else "")
            if params["branch"]
            else ""
        )
        raise exceptions.NotFound(
            f"no good release of build {build.id}{where} has a run named {params['run_name']!r}"
        )
    return Response(
        {
            "success": True,
            **release_fields(run.release),
            "run_name": run.name,
            "url": run.url,
            "image": run.image_id,
            "log": run.log_id,
            "config": run.config_id,
            "layout": run.layout_id,
            **({"branch": run.release.branch_of(build)} if params["branch"] else {}),
        }
    )


@extend_schema(
    request={
        "multipart/form-data": {
            "type": "object",
            "properties": {
                "build_id": {"type": "integer"},
                "file": {"type": "string", "format": "binary"},
            },
        }
    },
    responses={
        200: OpenApiResponse(description="build_id, sha1sum, content_type, size"),
        413: OpenApiResponse(description="larger than DPXDT_MAX_UPLOAD_BYTES"),
    },
    summary="Upload one artifact",
)
@api_view(["POST"])
def upload(request):
    limit = settings.MAX_UPLOAD_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit + 64 * 1024:  # leave room for the form
        raise PayloadTooLarge(
            f"upload of {declared} bytes exceeds the limit of {limit} bytes "
            "(DPXDT_MAX_UPLOAD_BYTES)"
        )
    params = params_of(BuildParams, request)
    build = build_for_request(request, params)
    files = list(request.FILES.values())
    if len(files) != 1:
        raise exceptions.ValidationError(
            {"file": [f"need exactly one uploaded file, got {len(files)}"]}
        )
    upload_file = files[0]
    if upload_file.size > limit:
        raise PayloadTooLarge(
            f"file of {upload_file.size} bytes exceeds the limit of {limit} "
            "bytes (DPXDT_MAX_UPLOAD_BYTES)"
        )
    artifact = services.upload(
        access.caller_for_request(request), build, upload_file, filename=upload_file.name
    )
    return Response(
        {
            "success": True,
            "build_id": build.id,
            "sha1sum": artifact.sha1,
            "content_type": services.label_of(build, artifact)[0],  # this build's, no other's
            "size": artifact.size,
        }
    )


@extend_schema(request=ReportRunParams, summary="Report data for a run")
@api_view(["POST"])
def report_run(request):
    params = params_of(ReportRunParams, request)
    build = build_for_request(request, params)
    values = {field: params[field].lower() for field in ARTIFACT_FIELDS}
    values.update(url=params["url"], ref_url=params["ref_url"])
    services.report_run(
        access.caller_for_request(request),
        build,
        release_name=params["release_name"],
        release_number=params["release_number"],
        run_name=params["run_name"],
        report=services.Report(
            values=values,
            run_failed=params["run_failed"],
            diff_failed=params["diff_failed"],
            distortion=params["distortion"],
        ),
    )
    return Response({"success": True})


@extend_schema(request=ReleaseParams, summary="Mark a release as having all runs reported")
@api_view(["POST"])
def runs_done(request):
    params = params_of(ReleaseParams, request)
    build = build_for_request(request, params)
    release = services.runs_done(
        access.caller_for_request(request),
        build,
        name=params["release_name"],
        number=params["release_number"],
    )
    return Response(
        {
            "success": True,
            **release_fields(release),
            "status": release.status,
            "results_url": results_url(request, release),
        }
    )


class ReleaseStatusParams(ReleaseParams):
    page = serializers.IntegerField(min_value=1, required=False, default=1)
    per_page = serializers.IntegerField(
        min_value=1, max_value=MAX_RUNS_PER_PAGE, required=False, default=MAX_RUNS_PER_PAGE
    )


@extend_schema(
    request=ReleaseStatusParams, summary="A release's status and its runs, a page at a time"
)
@api_view(["GET", "POST"])
def release_status(request):
    """The counts are always of the whole release; ``runs`` holds one page of them (by name),
    and ``next`` is the URL of the following page (null on the last)."""
    params = params_of(ReleaseStatusParams, request)
    build = build_for_request(request, params, act=False)
    release = access.release_in(build, params["release_name"], params["release_number"])
    page, per_page = params["page"], params["per_page"]
    ordered = release.runs.order_by("name")
    total = ordered.count()
    runs = [
        {
            "name": run.name,
            "status": run.status,
            "url": run.url,
            "ref_url": run.ref_url,
            "distortion": run.distortion,
            "changed_pixels": run.changed_pixels,
            "size_changed": run.size_changed,
            "failure_reason": run.failure_reason,
            **{field: getattr(run, f"{field}_id") for field in ARTIFACT_FIELDS},
            "noise_image": run.noise_image_id,
            "noise_pixels": run.noise_pixels,
            # What changed, in the page's terms: one line per cause (at most three, then "and N
            # more"), the causes, and the group the run is in (empty: reviewed on its own).
            "summary": run.summary,
            "causes": run.causes or [],
            "cause_key": run.cause_key,
            "thumbnail": run.thumbnail_id,
            "aligned_diff_image": run.aligned_diff_image_id,
        }
        for run in ordered[(page - 1) * per_page : page * per_page]
    ]
    counts = release.run_counts()
    pages = max(1, -(-total // per_page))
    following = None
    if page < pages:
        query = {
            "build_id": build.id,
            "release_name": release.name,
            "release_number": release.number,
            "page": page + 1,
            "per_page": per_page,
        }
        following = request.build_absolute_uri(f"{request.path}?{urlencode(query)}")
    return Response(
        {
            "success": True,
            **release_fields(release),
            "status": release.status,
            "url": release.url,
            "results_url": results_url(request, release),
            "complete": not any(counts[status] for status in Run.PENDING),
            # Whether the build counts flaky runs (the page differed from itself) as failures.
            "flaky_blocks": build.flaky_blocks,
            "counts": counts,
            "total": total,
            "page": page,
            "per_page": per_page,
            "pages": pages,
            "next": following,
            "runs": runs,
            # The changed runs grouped by identical causes, largest first (the whole release,
            # whatever the page): approve one with approve_group.
            "groups": [group_fields(group) for group in services.cause_groups(release)],
        }
    )


def group_fields(group) -> dict:
    return {
        "key": group.key,
        "label": group.label,
        "causes": group.labels,
        "runs": group.runs,
        "changed": group.changed,
        "approved": group.approved,
    }


class ApproveGroupParams(ReleaseParams):
    group = serializers.RegexField(
        r"^[0-9a-f]{40}$",
        error_messages={"invalid": "must be a group's key (release_status: groups[].key)"},
    )


@extend_schema(
    request=ApproveGroupParams, summary="Approve every changed run of one group of causes"
)
@api_view(["POST"])
def approve_group(request):
    """Approves the group's runs still waiting for review (diff_found), each with the same
    causes and nothing else; one audited action. Answers the names approved."""
    params = params_of(ApproveGroupParams, request)
    build = build_for_request(request, params)
    release = access.release_in(build, params["release_name"], params["release_number"])
    names = services.approve_group(access.caller_for_request(request), release, params["group"])
    return Response(
        {"success": True, **release_fields(release), "approved": len(names), "runs": names}
    )


@extend_schema(request=MarkReleaseParams, summary="Mark a release good or bad")
@api_view(["POST"])
def mark_release(request):
    params = params_of(MarkReleaseParams, request)
    build = build_for_request(request, params)
    release = access.release_in(build, params["release_name"], params["release_number"])
    release = services.mark_release(access.caller_for_request(request), release, params["status"])
    return Response({"success": True, **release_fields(release), "status": release.status})


@extend_schema(
    parameters=[DownloadParams],
    responses={200: OpenApiResponse(description="bytes")},
    summary="Download an artifact owned by the build",
)
@api_view(["GET"])
@permission_classes([AllowAny])  # public builds are readable anonymously; access.* decides
def download(request):
    params = params_of(DownloadParams, request)
    try:
        build = build_for_request(request, params, act=False)
        artifact = access.artifact_in(build, params["sha1sum"])
    except access.NotFound:
        if not request.user.is_authenticated:  # perhaps there, but only for someone signed in
            raise exceptions.NotAuthenticated() from None
        raise
    etag = f'"{artifact.sha1}"'
    # Content-addressed: the bytes behind an ETag never change.
    cache = f"{'public' if build.public else 'private'}, max-age=31536000, immutable"
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        content_type, name = services.label_of(build, artifact)  # this build's, no other's
        response = FileResponse(storage.open_artifact(artifact.sha1), content_type=content_type)
        response["Content-Length"] = str(artifact.size)
        if content_type not in INLINE_TYPES:  # anything but an image is a file to save
            filename = re.sub(r"[^A-Za-z0-9._-]", "_", name) or artifact.sha1
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["ETag"] = etag
    response["Cache-Control"] = cache
    # Uploaded bytes are untrusted: never let a browser run them as a page of this site.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    return response
