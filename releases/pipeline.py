"""The one place where work for the workers is put together and sent.

Signatures are built by task name, so this module imports no task code (``pdiff`` and
``capture`` import ``releases``, never the other way round). Messages carry ids only, and are
sent only after the surrounding transaction commits, so a worker never sees a row that is not
there yet.
"""

import logging

from celery import group
from django.db import transaction
from kombu.exceptions import OperationalError

from celery_app import app

logger = logging.getLogger(__name__)

# What sending raises when the broker is down or unreachable (kombu wraps most of it).
BROKER_ERRORS = (OperationalError, OSError)

DIFF_TASK = "dpxdt.pdiff.diff_run"
CAPTURE_TASK = "dpxdt.capture.screenshot"


def diff_signature(run_id: int):
    return app.signature(DIFF_TASK, args=(run_id,), immutable=True, queue="diff")


def start_diff(run_id: int) -> None:
    """Queue the diff of a run once the current transaction commits."""
    transaction.on_commit(lambda: _send(diff_signature(run_id), run_id))


def capture_signature(run_id: int, side: str):
    return app.signature(CAPTURE_TASK, args=(run_id, side), immutable=True, queue="capture")


def start_captures(run_id: int, sides) -> None:
    """Queue the captures of a run (its page and, for a pair, the reference, in parallel) once
    the current transaction commits. The diff follows from whichever capture lands last: each
    capture recomputes the run's status from the database (no chord, no result backend)."""
    canvas = group(capture_signature(run_id, side) for side in sides)
    transaction.on_commit(lambda: _send(canvas, run_id))


def _send(signature, run_id):
    try:
        signature.apply_async()
    except BROKER_ERRORS:
        # The broker is unreachable. The run stays in needs_diff and the sweeper sends it
        # again once it is past its deadline; the API call that got here has already committed.
        logger.exception("could not queue work for run %s; the sweeper will retry", run_id)
