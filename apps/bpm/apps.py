from django.apps import AppConfig


class BpmConfig(AppConfig):
    name = "apps.bpm"
    label = "bpm"
    verbose_name = "BPMN processes"

    def ready(self) -> None:
        from apps.agents.clusters.listeners import register_run_listener
        from apps.bpm import actions_builtin, review, tasks

        actions_builtin.register()  # notify, agents.cluster, council.review, webhook
        review.register()  # councils review "bpm.instance" service tasks (apps.feedback)
        register_run_listener(tasks.cluster_run_listener)  # a finished run resumes its waiting step
