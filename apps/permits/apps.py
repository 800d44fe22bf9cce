from django.apps import AppConfig


class PermitsConfig(AppConfig):
    name = "apps.permits"
    label = "permits"
    verbose_name = "Permits"

    def ready(self) -> None:
        # a finished cluster run (or its council's verdict) moves the application it reviews
        from apps.agents.clusters.listeners import register_case_page, register_run_listener
        from apps.permits import process, review
        from apps.permits.tasks import run_changed_listener

        register_run_listener(run_changed_listener)
        # the applicant appeals on the application's page, not on the run's
        register_case_page(review.case_page)
        # appeals of refusals are heard by a council; its verdict comes back through review.apply
        review.register()
        # the service tasks of permit processes: review, issue, inspect (apps/permits/process.py)
        process.register()
