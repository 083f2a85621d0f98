"""What every view of the review UI shares: who is asking, how refusals are shown (a 404, a
403, or the reason on the page the form came from), where a form goes back to."""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect

from . import access, services
from .models import InvalidTransition


def caller_of(request):
    return access.caller_for_request(request)


def access_errors(view):
    """Views look objects up through ``access``; what it refuses is a 404 (not found, or not
    yours to see) or a 403 (yours to see, not to change), rendered as the site's error pages.
    An action the services refuse in the current state (``Rejected``, a move the state
    machines do not allow) changes nothing: its reason is shown on the page the form came
    from."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except access.NotFound as exc:
            raise Http404(str(exc)) from None
        except access.Forbidden as exc:
            raise PermissionDenied(str(exc)) from None
        except (services.Rejected, InvalidTransition) as exc:
            messages.error(request, str(exc))
            return back(request, _referring_page(request))

    return wrapper


def _ours(target: str) -> bool:
    return target.startswith("/") and not target.startswith("//") and "\\" not in target


def _referring_page(request) -> str:
    """The page of this site a form was posted from (its path), else the home page."""
    referer = urlsplit(request.META.get("HTTP_REFERER", ""))
    target = referer.path + (f"?{referer.query}" if referer.query else "")
    return target if referer.netloc == request.get_host() and _ours(target) else "/"


def back(request, fallback):
    """Redirect to the page the form came from when it is one of ours."""
    target = request.POST.get("next", "")
    return redirect(target if _ours(target) else fallback)
