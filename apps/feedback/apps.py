from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "apps.feedback"
    label = "feedback"
    verbose_name = "Councils and human feedback"

    def ready(self) -> None:
        # the review subjects the portal's own domains bring (each domain registers its own)
        from apps.feedback import subjects  # noqa: F401
        from apps.feedback.membership import forms, services
        from apps.trust.effects import ActEffect, register_effect
        from apps.trust.models import ActType

        # sharing a council with another institution is a threshold act of apps.trust
        register_effect(
            ActEffect(
                act_type=ActType.SHARE_COUNCIL,
                validate=services.share_validate,
                apply=services.share_apply,
                form_class=forms.ShareCouncilForm,
            )
        )
