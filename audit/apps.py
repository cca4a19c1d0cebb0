from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the login, token and membership receivers)
        from .rls import enable_rls_after_migrate

        # Sent once per migrate for this app, after every app's migrations have run.
        post_migrate.connect(enable_rls_after_migrate, sender=self, dispatch_uid="audit_enable_rls")
