from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "apps.agents"
    label = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Certification into the shared registry is a threshold act of apps.trust.
        from apps.agents import review, services, views
        from apps.agents.negotiation import handlers  # noqa: F401  (registers the contract net's envelope types)
        from apps.trust.effects import ActEffect, register_effect
        from apps.trust.models import ActType

        review.register()  # councils review flagged cluster runs (apps.feedback)
        register_effect(
            ActEffect(
                act_type=ActType.CERTIFY_AGENT,
                validate=services.certification_validate,
                apply=services.certification_apply,
                form_class=views.CertifyAgentForm,
            )
        )
