"""manage.py dpxdt_local update|test DIR [options]: the local tool (same as ``dpxdt``)."""

import sys

from django.core.management.base import BaseCommand

from localtool import cli


class Command(BaseCommand):
    help = "The local YAML-driven screenshot tool: update or test DIR (see `dpxdt --help`)."

    def run_from_argv(self, argv):
        # Arguments are the tool's own; hand them over untouched and exit with its code.
        sys.exit(cli.main(argv[2:]))

    def handle(self, *args, **options):  # call_command() path
        return str(cli.main(list(args)))
