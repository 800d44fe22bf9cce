from django.apps import AppConfig


class TrustConfig(AppConfig):
    name = "apps.trust"
    label = "trust"
    verbose_name = "Trust"

    def ready(self) -> None:
        # The effects this app ships register themselves on import; other apps register
        # theirs in their own ready() with apps.trust.effects.register_effect.
        from apps.trust import effects  # noqa: F401
