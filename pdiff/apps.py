from django.apps import AppConfig


class PdiffConfig(AppConfig):
    name = "pdiff"
