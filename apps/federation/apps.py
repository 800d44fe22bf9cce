from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "apps.federation"
    label = "federation"
    verbose_name = "Federation"

    def ready(self) -> None:
        # The handlers this app ships register themselves on import.
        from apps.federation import handlers  # noqa: F401
