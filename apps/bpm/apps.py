from django.apps import AppConfig


class BpmConfig(AppConfig):
    name = "apps.bpm"
    label = "bpm"
    verbose_name = "BPMN processes"

    def ready(self) -> None:
        from apps.bpm import actions_builtin, review

        actions_builtin.register()  # notify, agents.cluster, council.review, webhook
        review.register()  # councils review "bpm.instance" service tasks (apps.feedback)
