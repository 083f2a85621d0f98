"""``manage.py dpxdt_gc [--dry-run] [--build ID]``: retention now (releases/services/retention.py),
as the daily beat task does it."""

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from releases.models import Build
from releases.services import retention


class Command(BaseCommand):
    help = (
        "Collect old releases (older than the build's keep_days, beyond its newest "
        "keep_releases; never a baseline, one in review or a pinned one) and delete the "
        "artifacts nothing needs any more."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be collected; change nothing"
        )
        parser.add_argument("--build", type=int, metavar="ID", help="only this build")

    def handle(self, *args, dry_run=False, build=None, **options):
        if build is not None and not Build.objects.filter(pk=build).exists():
            raise CommandError(f"no build with id {build}")
        done = retention.collect_all(build_id=build, dry_run=dry_run)
        verb = "would collect" if dry_run else "collected"
        for each in done:
            if each.releases or each.kept_baselines:
                self.stdout.write(
                    f"build {each.build_id}: {verb} {each.releases} releases ({each.runs} runs), "
                    f"{each.artifacts} artifacts, {filesizeformat(each.bytes)}"
                    + (
                        f"; {each.kept_baselines} kept for their baselines"
                        if each.kept_baselines
                        else ""
                    )
                )
        releases = sum(each.releases for each in done)
        freed = sum(each.bytes for each in done)
        self.stdout.write(
            f"{'would free' if dry_run else 'freed'} {filesizeformat(freed)} "
            f"({sum(each.artifacts for each in done)} artifacts) from {releases} releases"
        )
