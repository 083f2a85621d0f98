from celery import shared_task

from . import services


@shared_task(name="dpxdt.releases.sweep_stuck_runs", queue="default", acks_late=True,
             reject_on_worker_lost=True, soft_time_limit=240, time_limit=300)
def sweep_stuck_runs():
    return services.sweep_stuck_runs()
