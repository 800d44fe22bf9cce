from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "apps.feedback"
    label = "feedback"
    verbose_name = "Councils and human feedback"

    def ready(self) -> None:
        # the review subjects the portal's own domains bring (each domain registers its own)
        from apps.feedback import subjects  # noqa: F401
