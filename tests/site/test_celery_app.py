from celery_app import app


def test_tasks_are_named_and_routed_to_their_queues():
    app.loader.import_default_modules()
    routes = {
        name: app.amqp.router.route({}, name)["queue"].name
        for name in (
            "dpxdt.capture.screenshot",
            "dpxdt.pdiff.diff_run",
            "dpxdt.releases.sweep_stuck_runs",
            "dpxdt.releases.collect_old_releases",
            "dpxdt.releases.deliver_webhook",
        )
    }
    assert routes == {
        "dpxdt.capture.screenshot": "capture",
        "dpxdt.pdiff.diff_run": "diff",
        "dpxdt.releases.sweep_stuck_runs": "default",
        "dpxdt.releases.collect_old_releases": "default",
        "dpxdt.releases.deliver_webhook": "default",
    }
    for name in routes:
        task = app.tasks[name]
        assert task.acks_late and task.reject_on_worker_lost
    # Every task beat sends exists (retention daily, the sweeper).
    from django.conf import settings

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {"dpxdt.releases.sweep_stuck_runs", "dpxdt.releases.collect_old_releases"}
    assert scheduled <= set(app.tasks)


def test_worker_settings():
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_ignore_result is True
    assert {queue.name for queue in app.conf.task_queues} == {"capture", "diff", "default"}


ALLOCATIONS = """
import sys
import numpy as np
sys.path.insert(0, {root!r})
if {tuned}:
    from celery_app import keep_freed_memory_for_reuse
    assert keep_freed_memory_for_reuse()
def region_of(address):
    for line in open("/proc/self/maps"):
        span, *rest = line.split()
        low, high = (int(part, 16) for part in span.split("-"))
        if low <= address < high:
            return rest[-1] if len(rest) == 5 else "anonymous"
first = np.ones(64 << 20, dtype=np.uint8)  # 64 MB, made and freed, as a task does
where, address = region_of(first.ctypes.data), first.ctypes.data
del first
second = np.ones(64 << 20, dtype=np.uint8)
print(where, second.ctypes.data == address)
"""


def test_a_worker_reuses_freed_memory_instead_of_mapping_it_afresh():
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])

    def run(tuned):
        return subprocess.run(
            [sys.executable, "-c", ALLOCATIONS.format(root=root, tuned=tuned)],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
        ).stdout.split()

    # By default a 64 MB block is a fresh mapping, its pages faulted in on every use; tuned,
    # it comes from the heap and the next task's block reuses the same memory.
    assert run(False)[0] == "anonymous"
    assert run(True) == ["[heap]", "True"]
