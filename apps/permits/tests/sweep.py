"""What the cross-institution sweep needs from permits: Aurelia's permit type, an application and a permit."""

from __future__ import annotations

SWEEP_ATTACHMENT = "site_plan"


def sweep_permit_type(world):
    if "permit_type" not in world.__dict__:
        from apps.permits.services import permit_type_create
        from apps.tenancy.scope import institution_scope

        with institution_scope(world.aurelia):
            world.__dict__["permit_type"] = permit_type_create(
                institution=world.aurelia,
                actor=world.ada,
                name="Sweep permit",
                slug="sweep-permit",
                fields=[{"name": "note", "type": "text"}],
            )
    return world.__dict__["permit_type"]


def sweep_application(world):
    """An application of Aurelia, decided by alice (so a permit exists), made once."""
    if "permit_application" not in world.__dict__:
        from apps.permits import services
        from apps.permits.models import PermitApplication
        from apps.tenancy.scope import institution_scope
        from portal.testing import UserFactory, member

        applicant = member(UserFactory(username="sweep-citizen"), world.aurelia, "citizen")
        with institution_scope(world.aurelia):
            application = services.application_create(
                permit_type=sweep_permit_type(world), applicant=applicant, data={"note": "sweep"}
            )
            services.application_decide(application=application, actor=world.alice, approve=True)
        # fixture shortcut: an attachment entry without writing to MEDIA_ROOT (the page answers 410 for it)
        PermitApplication.all_institutions.filter(pk=application.pk).update(  # tenancy: the sweep's own row
            attachments=[
                {
                    "name": SWEEP_ATTACHMENT,
                    "path": "permits/sweep-not-stored.pdf",
                    "original_name": "plan.pdf",
                    "content_type": "application/pdf",
                    "size": 10,
                }
            ]
        )
        application.refresh_from_db()
        world.__dict__["permit_application"] = application
    return world.__dict__["permit_application"]


def sweep_permit(world):
    from apps.permits.models import Permit

    return Permit.all_institutions.get(application=sweep_application(world))  # tenancy: the sweep's own row


def sweep_inspection(world):
    """A scheduled inspection of the sweep permit (its type has no conditions: medium, at once), made once."""
    if "inspection" not in world.__dict__:
        from apps.permits import inspections
        from apps.tenancy.scope import institution_scope

        with institution_scope(world.aurelia):
            world.__dict__["inspection"] = inspections.inspection_schedule(
                permit=sweep_permit(world), kind="routine", actor=world.ada
            )
    return world.__dict__["inspection"]


def sweep_violation(world):
    """An open violation of the sweep permit, made once (fixture shortcut: created directly, the sweep
    only needs an object of Aurelia's to ask for)."""
    if "violation" not in world.__dict__:
        import datetime as dt

        from apps.permits.models import Violation

        world.__dict__["violation"] = Violation.all_institutions.create(  # tenancy: the sweep's own row
            institution=world.aurelia,
            permit=sweep_permit(world),
            inspection=sweep_inspection(world),
            condition="Sweep condition",
            cure_by=dt.date.today() + dt.timedelta(days=14),
        )
    return world.__dict__["violation"]
