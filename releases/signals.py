from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from . import services


@receiver(user_logged_in)
def claim_invitations(sender, user, **kwargs):
    services.claim_invitations(user)
