"""Appeals of refused applications before a council: the permits domain's review subject
(apps.feedback.subjects). The council decides; `apply` moves the application through the permits
services; the applicant reads the verdict on the application's timeline."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from apps.feedback.subjects import ReviewSubject, register_subject

SUBJECT_TYPE = "permits.application"
APPEAL_TASK_TYPE = "permits.appeal"  # for types without a cluster; a council covering "*" or this hears it
GROUNDS_MAX_CHARS = 5000


def task_type_of(application) -> str:
    cluster = application.permit_type.cluster
    return cluster.task_type if cluster else APPEAL_TASK_TYPE


def appeal_of(*, application):
    from apps.feedback.models import ItemKind, ReviewItem

    # tenancy: the application's items, by subject; a shared council's item is another institution's row
    return ReviewItem.all_institutions.filter(
        subject_type=SUBJECT_TYPE, subject_id=str(application.pk), kind=ItemKind.APPEAL
    ).first()


@transaction.atomic
def application_appeal(*, application, person, grounds: str):
    """The applicant appeals a refusal to the council; once per application.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition, Conflict, NoCouncilCovers."""
    from apps.feedback import services as feedback_services
    from apps.feedback.models import ItemKind
    from apps.permits import services
    from apps.permits.models import ApplicationStatus
    from portal.errors import Conflict, PermissionDenied, ValidationFailed

    if person is None or application.applicant_id != person.pk:
        raise PermissionDenied(_("Only the applicant can appeal the refusal."))
    grounds = str(grounds or "").strip()
    if not grounds or len(grounds) > GROUNDS_MAX_CHARS:
        raise ValidationFailed(
            errors={"grounds": [_("Say why you think the refusal is wrong (at most 5000 characters).")]}
        )
    application = services._locked(application)
    if appeal_of(application=application) is not None:
        raise Conflict(_("You have already appealed this refusal."))
    services._move(
        application,
        ApplicationStatus.IN_COUNCIL,
        actor=person,
        reason=_("Appealed to the council: %(grounds)s") % {"grounds": grounds[:1500]},
        action="permits.application.appeal",
        changes={"grounds": grounds},
    )
    item = feedback_services.review_item_submit(
        institution=application.institution,
        kind=ItemKind.APPEAL,
        subject_type=SUBJECT_TYPE,
        subject_id=application.pk,
        task_type=task_type_of(application),
        impact="medium",
        question=_(
            "The applicant appeals the refusal of their %(type)s permit. The refusal: “%(reason)s”. Their grounds: "
            "“%(grounds)s”. Do you uphold the refusal (approve) or grant the permit (reject)?"
        )
        % {"type": application.permit_type.name, "reason": application.decision_reason, "grounds": grounds[:1500]},
        proposed_decision="refuse",
        allowed_decisions=["approve", "refuse"],
        case={
            "application": application.pk,
            "permit_type": application.permit_type.slug,
            "record": application.data,
            "attachments": [a["name"] for a in application.attachments],
            "refusal": application.decision_reason,
            "grounds": grounds,
        },
        citizen=person,
        actor=person,
    )
    return item


def apply(*, item, actor=None) -> None:
    """The verdict decides the appealed application: "approve" issues the permit, anything else refuses
    it again with the council's reasons.

    Raises: ApplicationError (the application is no longer before the council)."""
    from apps.permits import services
    from apps.permits.models import PermitApplication

    # tenancy: the item's subject, in the institution whose case it is
    application = PermitApplication.all_institutions.get(pk=int(item.subject_id), institution=item.owner_of_case)
    services.application_council_decide(
        application=application,
        decision=item.verdict_decision or "",
        council=item.council.name,
        reasons=item.verdict_reasons or [],
    )


def citizen_url(*, item) -> str:
    return f"/i/{item.owner_of_case.slug}/permits/applications/{item.subject_id}/"


def case_page(*, run) -> str | None:
    """The application a cluster run reviews: its page is where the applicant appeals."""
    from apps.permits.models import PermitApplication

    # tenancy: the run's own institution, explicit
    application = PermitApplication.all_institutions.filter(institution=run.institution_id, cluster_run=run).first()
    if application is None:
        return None
    return f"/i/{run.institution.slug}/permits/applications/{application.pk}/"


def register() -> None:
    register_subject(
        ReviewSubject(type=SUBJECT_TYPE, label="Permit application (appeal)", apply=apply, citizen_url=citizen_url)
    )
