from celery_app import app


def test_tasks_are_named_and_routed_to_their_queues():
    app.loader.import_default_modules()
    routes = {name: app.amqp.router.route({}, name)["queue"].name
              for name in ("dpxdt.capture.screenshot", "dpxdt.pdiff.diff_run",
                           "dpxdt.releases.sweep_stuck_runs")}
    assert routes == {"dpxdt.capture.screenshot": "capture", "dpxdt.pdiff.diff_run": "diff",
                      "dpxdt.releases.sweep_stuck_runs": "default"}
    for name in routes:
        task = app.tasks[name]
        assert task.acks_late and task.reject_on_worker_lost


def test_worker_settings():
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_ignore_result is True
    assert {queue.name for queue in app.conf.task_queues} == {"capture", "diff", "default"}
