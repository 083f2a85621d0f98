from django.apps import AppConfig


class LocaltoolConfig(AppConfig):
    name = "localtool"
