"""The owners' pages of a build: its settings, API keys, owners and activity."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from . import access, forms, services, statuses
from .models import Build
from .viewhelpers import access_errors, caller_of


@login_required
@access_errors
def build_settings(request):
    build = access.build_to_manage(
        caller_of(request), request.GET.get("build_id") or request.POST.get("build_id")
    )
    # The form gets its own copy: validating a ModelForm writes into its instance, and the
    # service compares against the saved values to audit what changed.
    form = forms.SettingsForm(request.POST or None, instance=Build.objects.get(pk=build.pk))
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in forms.SettingsForm.Meta.fields}
        if form.cleaned_data["status_token"]:
            values["status_token"] = statuses.seal_token(form.cleaned_data["status_token"])
        services.update_settings(caller_of(request), build, **values)
        messages.success(request, "Settings saved.")
        return redirect(reverse("settings") + f"?build_id={build.id}")
    return render(
        request,
        "releases/settings.html",
        {
            "build": build,
            "form": form,
            "keep": services.retention.policy_of(build),
            "stored": services.retention.storage_of(build),
            "would_free": services.retention.collect(build, dry_run=True),
        },
    )


@login_required
@access_errors
def api_keys(request):
    build = access.build_to_manage(
        caller_of(request), request.GET.get("build_id") or request.POST.get("build_id")
    )
    form = forms.ApiKeyForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        key, secret = services.create_api_key(
            caller_of(request), build, form.cleaned_data["purpose"]
        )
        form = forms.ApiKeyForm()
        messages.success(
            request, f"Created API key {key.id}. Copy its secret now: it is shown only this once."
        )
    keys = build.api_keys.order_by("-created")
    return render(
        request,
        "releases/api_keys.html",
        {
            "build": build,
            "form": form,
            "keys": keys,
            "new_secret": secret,
            "new_key": keys.first() if secret else None,
        },
    )


@login_required
@require_POST
@access_errors
def revoke_api_key(request):
    build = access.build_to_manage(caller_of(request), request.POST.get("build_id"))
    try:
        key = services.revoke_api_key(caller_of(request), build, request.POST.get("key_id", ""))
    except access.NotFound as exc:
        raise Http404(str(exc)) from None
    messages.success(request, f"Revoked API key {key.id}.")
    return redirect(reverse("api_keys") + f"?build_id={build.id}")


@login_required
@access_errors
def owners(request):
    build = access.build_to_manage(
        caller_of(request), request.GET.get("build_id") or request.POST.get("build_id")
    )
    form = forms.InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        result = services.invite_owner(caller_of(request), build, email)
        messages.success(
            request,
            {
                "added": f"{email} is now an owner.",
                "invited": f"Invited {email}: they become an owner when they sign in.",
                "already": f"{email} is already an owner or invited.",
            }[result],
        )
        return redirect(reverse("owners") + f"?build_id={build.id}")
    return render(
        request,
        "releases/owners.html",
        {
            "build": build,
            "form": form,
            "owners": build.owners.order_by("username"),
            "invitations": build.invitations.all(),
        },
    )


@login_required
@require_POST
@access_errors
def remove_owner(request):
    build = access.build_to_manage(caller_of(request), request.POST.get("build_id"))
    if request.POST.get("email"):
        services.cancel_invitation(caller_of(request), build, request.POST["email"])
    else:
        services.remove_owner(caller_of(request), build, request.POST.get("user_id"))
    messages.success(request, "Removed.")
    return redirect(reverse("owners") + f"?build_id={build.id}")


@login_required
@require_GET
@access_errors
def activity(request):
    build = access.build_to_manage(caller_of(request), request.GET.get("build_id"))
    entries = build.audit_log.select_related("user", "api_key", "release", "run")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    deliveries = build.webhook_deliveries.select_related("release")[:50]
    return render(
        request, "releases/activity.html", {"build": build, "page": page, "deliveries": deliveries}
    )
