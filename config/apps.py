from django.apps import AppConfig


class SandgateConfig(AppConfig):
    """The project package as an app, so the console's shared admin (config/admin.py) is discovered."""

    name = "config"
    label = "config"
    verbose_name = "Sandgate"
