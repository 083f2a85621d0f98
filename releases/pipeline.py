"""The one place where work for the workers is put together and sent.

Signatures are built by task name, so this module imports no task code (``pdiff`` and
``capture`` import ``releases``, never the other way round). Messages carry ids only. What is
sent when is decided by ``releases.services.scheduling``, after the transaction that made the
work commits, so a worker never sees a row that is not there yet.
"""

import logging
import time

# The site's Celery app (celery_app, loaded with Django by dpxdt_site): this app does not
# import it, so that imports keep pointing one way.
from celery import current_app as app
from celery import group
from kombu import Exchange, Queue
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

# What sending raises when the broker is down or unreachable (kombu wraps most of it).
BROKER_ERRORS = (OperationalError, OSError)

DIFF_TASK = "dpxdt.pdiff.diff_run"
CAPTURE_TASK = "dpxdt.capture.screenshot"

# A queue no worker reads, holding one message: if it is gone, the broker lost its messages
# (a Redis restarted without persistence), and with them any work it held.
SENTINEL = Queue("dpxdt.sentinel", Exchange("dpxdt.sentinel", type="direct"), "dpxdt.sentinel")


# A final diff goes after every other message of its queue (Redis serves priority 0 first; the
# filesystem broker keeps plain order). A first look at a run that may need a recapture stays
# at 0: it is cheap (it stops at the first change) and the recapture it asks for keeps the
# capture workers busy, while a final diff unblocks nothing. Measured on the CSS-change
# release of make bench: without it, the capture workers sat idle 16 of 120 slot-seconds
# waiting for first looks queued behind final diffs.
FINAL_DIFF_PRIORITY = 6


def diff_signature(run_id: int, first_look: bool = False):
    priority = 0 if first_look else FINAL_DIFF_PRIORITY
    return app.signature(DIFF_TASK, args=(run_id,), immutable=True, queue="diff", priority=priority)


def capture_signature(run_id: int, side: str):
    return app.signature(CAPTURE_TASK, args=(run_id, side), immutable=True, queue="capture")


def send_diff(run_id: int, first_look: bool = False) -> bool:
    """Send the diff of a run (``first_look``: one that only asks whether the page differs,
    before a recapture); False if the broker could not take it."""
    return _send(diff_signature(run_id, first_look), run_id)


def send_captures(run_id: int, sides) -> bool:
    """Send the captures of a run (its page and, for a pair, the reference, in parallel); the
    diff follows from whichever capture lands last. False if the broker could not take them."""
    return _send(group(capture_signature(run_id, side) for side in sides), run_id)


def _send(signature, run_id) -> bool:
    try:
        signature.apply_async()
    except BROKER_ERRORS:
        logger.exception("could not queue work for run %s; the sweeper will send it", run_id)
        return False
    return True


def broker_lost_messages(connection=None) -> bool:
    """Whether the broker lost the messages it held since the last call (the sentinel queue is
    gone or empty); the sentinel is put back at once. True on the first call ever, which only
    means sending work that is queued already once more (every step is safe to run twice)."""
    with connection or app.connection_for_write() as connection:
        channel = connection.default_channel
        # Not a passive declare: kombu's Redis transport checks a queue's existence without
        # the global key prefix (DPXDT_BROKER_KEY_PREFIX); its length is counted right.
        if channel.queue_declare(queue=SENTINEL.name).message_count:
            return False
        producer = connection.Producer(channel)
        producer.publish(
            {"since": time.time()},
            exchange=SENTINEL.exchange,
            routing_key=SENTINEL.routing_key,
            declare=[SENTINEL],
            retry=False,
        )
        # The sweeper says whether any work was lost with it (a first start loses nothing).
        logger.info("the broker held no sentinel; one is placed")
        return True
