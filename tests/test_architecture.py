"""Rules of the house that a test can hold later work to."""

from django.apps import apps

from apps.tenancy.models import InstitutionOwned, InstitutionScopedManager

# Models that carry an institution but are not tenant-owned rows, and why.
INSTITUTION_FK_EXCEPTIONS = {
    "tenancy.Membership": "decides the scope itself; read through selectors",
    "audit.AuditEvent": "one log for the node; logins have no institution",
}


def _project_models():
    return [
        m for m in apps.get_models() if m.__module__.startswith("apps.") and not m.__name__.startswith("Historical")
    ]


def test_every_institution_owned_model_uses_the_fail_closed_base():
    offenders = []
    for model in _project_models():
        has_institution = any(f.name == "institution" for f in model._meta.fields)
        fail_closed = issubclass(model, InstitutionOwned) and isinstance(
            model._default_manager, InstitutionScopedManager
        )
        if has_institution and model._meta.label not in INSTITUTION_FK_EXCEPTIONS and not fail_closed:
            offenders.append(model._meta.label)
    assert not offenders, f"Tenant-owned models must subclass InstitutionOwned: {offenders}"


def test_every_app_follows_the_layout():
    missing = []
    for config in apps.get_app_configs():
        if not config.name.startswith("apps."):
            continue
        for module in ("models", "services", "selectors"):
            try:
                __import__(f"{config.name}.{module}")
            except ModuleNotFoundError:
                missing.append(f"{config.name}.{module}")
    assert not missing, f"Each app has models, services and selectors: missing {missing}"


def test_every_scheduled_task_is_known_to_the_worker():
    """A beat entry naming a task the worker never imports fails silently in production."""
    from django.conf import settings

    from portal.celery import app

    app.loader.import_default_modules()
    unknown = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] not in app.tasks]
    assert not unknown, f"Beat schedules tasks the worker does not know: {unknown}"
