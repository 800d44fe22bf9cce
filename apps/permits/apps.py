from django.apps import AppConfig


class PermitsConfig(AppConfig):
    name = "apps.permits"
    label = "permits"
    verbose_name = "Permits"

    def ready(self) -> None:
        # a finished cluster run (or its council's verdict) moves the application it reviews
        from apps.agents.clusters.listeners import register_run_listener
        from apps.permits import review
        from apps.permits.tasks import run_changed_listener

        register_run_listener(run_changed_listener)
        # appeals of refusals are heard by a council; its verdict comes back through review.apply
        review.register()
