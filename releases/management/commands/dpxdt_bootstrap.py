"""Create (or reuse) an admin user, a build owned by it and an API key for it.

Prints one JSON line: build_id, api_key, api_secret, username and, when the user was created
here, password. Run it again and you get the same user and build with a fresh key (secrets
are stored hashed, so an old one cannot be shown again).
"""

import json
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from releases import services
from releases.models import ApiKey, Build


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--build", default="Primary build", help="name of the build")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON line only"
        )

    def handle(self, *args, username, build, as_json, **options):
        password = None
        with transaction.atomic():
            user = get_user_model().objects.filter(username=username).first()
            if user is None:
                password = secrets.token_urlsafe(12)
                user = get_user_model().objects.create_superuser(
                    username=username, password=password, email=""
                )
            existing = Build.objects.filter(name=build, owners=user).order_by("id").first()
            target = existing or services.create_build(name=build, owner=user)
            key, secret = ApiKey.create(build=target, purpose="dpxdt_bootstrap", created_by=user)
        result = {
            "build_id": target.id,
            "api_key": key.id,
            "api_secret": secret,
            "username": username,
        }
        if password:
            result["password"] = password
        if as_json:
            self.stdout.write(json.dumps(result, sort_keys=True))
        else:
            for name, value in result.items():
                self.stdout.write(f"{name}: {value}")
