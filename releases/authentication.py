"""HTTP Basic authentication with an API key id and secret (the dpxdt API's scheme)."""

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication

from .models import ApiKey


class ApiKeyAuthentication(BasicAuthentication):
    """Username = key id, password = secret.

    No credentials → 401 with ``WWW-Authenticate`` (DRF does that for us); credentials that do
    not match an active key → 403 naming the problem, as the original API did."""

    www_authenticate_realm = "API key required"

    def authenticate_credentials(self, userid, password, request=None):
        key = ApiKey.objects.select_related("build").filter(pk=userid).first()
        # The same message for "no such key" and "wrong secret": a caller learns nothing.
        if key is None or not key.check_secret(password):
            raise exceptions.PermissionDenied("invalid API key or secret")
        if not key.active:
            raise exceptions.PermissionDenied(f"API key {key.id} has been revoked")
        ApiKey.objects.filter(pk=key.pk).update(last_used=timezone.now())
        # request.user is never the key's creator: an API call acts as the key, nothing more.
        return ApiKeyUser(key), key


class ApiKeyUser:
    """The request.user of an API call (request.auth holds the ApiKey)."""

    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    pk = id = None

    def __init__(self, key):
        self.username = f"api-key:{key.id}"

    def __str__(self):
        return self.username
