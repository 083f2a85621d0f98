# Load the Celery app with Django, so that tasks sent by the web server use its configuration.
from celery_app import app as celery_app

__all__ = ["celery_app"]
