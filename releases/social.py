"""Sign-in with an identity provider: an e-mail address is trusted (to link an existing
account, or to claim an owner invitation) only when the provider says it verified it."""

# Providers that report whether they verified the address, and the claim that says so.
# Google and OpenID Connect send ``email_verified``; GitHub's user API does not (its public
# e-mail need not be the account's verified one), so GitHub sign-ins never link by e-mail.
VERIFYING = {"google-oauth2": "email_verified", "oidc": "email_verified"}


def verified_email(backend_name: str, response: dict) -> bool:
    claim = VERIFYING.get(backend_name)
    return bool(claim) and response.get(claim) in (True, "true", "True")


def drop_unverified_email(backend, details, response=None, *args, **kwargs):
    """A social-auth pipeline step, before ``associate_by_email``: an address the provider did
    not verify is dropped, so it neither links an account nor claims an invitation."""
    if details.get("email") and not verified_email(backend.name, response or {}):
        return {"details": {**details, "email": ""}}
    return None
