"""Process steps before councils: the BPM domain's review subject (apps.feedback.subjects).

A `council.review` service task puts its question before a council (subject id: the
service call); the verdict comes back through `apply`, which resumes the waiting call
with `{"verdict", "decision"}` so the instance goes on (a gateway usually reads `decision`).
"""

from __future__ import annotations

from apps.feedback.subjects import ReviewSubject, register_subject

SUBJECT_TYPE = "bpm.instance"


def apply(*, item, actor=None) -> None:
    """Raises: ApplicationError (the call is no longer waiting)."""
    from apps.bpm import services
    from apps.bpm.models import ServiceCall
    from apps.tenancy.scope import institution_scope

    # tenancy: the item's subject, in the institution whose case it is
    call = ServiceCall.all_institutions.get(pk=int(item.subject_id), institution=item.owner_of_case)
    with institution_scope(item.owner_of_case):
        services.service_call_resume(
            call=call, result={"verdict": item.verdict, "decision": item.verdict_decision}, actor=actor
        )


def register() -> None:
    register_subject(ReviewSubject(type=SUBJECT_TYPE, label="Process step", apply=apply))
