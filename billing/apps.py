from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from .models import Price
        from .selectors import prices_forget

        def forget(**kwargs) -> None:
            # At once (this transaction prices with its own change), and again once it commits (a price read
            # in between would be the uncommitted one).
            prices_forget()
            transaction.on_commit(prices_forget)

        post_save.connect(forget, sender=Price, weak=False, dispatch_uid="billing.prices_forget")
        post_delete.connect(forget, sender=Price, weak=False, dispatch_uid="billing.prices_forget_deleted")
