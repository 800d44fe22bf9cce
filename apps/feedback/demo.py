"""Demo data of councils: Aurelia's Events council, with an official, citizens drawn by lot
from six volunteers, and the demo's flagged event-permit runs in its queue.

Idempotent: the council, the official's seat, each volunteer and the draw are made only
when missing. The draw uses a seed "announced in advance" (DEMO_SEED), so every fresh
demo draws the same people: jonas, emil and gustav, whose personas in seed_demo are
council members with TOTP from the start.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from apps.feedback import services
from apps.feedback.membership import services as membership_services
from apps.feedback.models import Council, CouncilDraw, CouncilMember, CouncilVolunteer, MemberKind, ReviewItem
from apps.tenancy.scope import institution_scope

COUNCIL_NAME = "Events council"
TASK_TYPE = "permits.event_review"
DEMO_SEED = "aurelia-events-council-2026"
SEATS = 3
# in this order: the order of volunteering is the order of the draw's candidates
VOLUNTEERS = [
    ("dora", {"district": "north", "age_band": "18-44"}),
    ("jonas", {"district": "north", "age_band": "18-44"}),
    ("emil", {"district": "north", "age_band": "45+"}),
    ("fatima", {"district": "north", "age_band": "45+"}),
    ("gustav", {"district": "south", "age_band": "18-44"}),
    ("hana", {"district": "south", "age_band": "45+"}),
]


def seed_demo(*, federation, stdout) -> None:
    aurelia = federation.institutions.get("aurelia")
    adrian, carmen = federation.users.get("adrian"), federation.users.get("carmen")
    if aurelia is None or adrian is None or carmen is None:
        return
    with institution_scope(aurelia):
        council = Council.objects.filter(name=COUNCIL_NAME).first()
        if council is None:
            council = services.council_create(
                institution=aurelia,
                actor=adrian,
                name=COUNCIL_NAME,
                description="Reviews the event permits the agents flag: large crowds, and cases where they disagree.",
                mandate_task_types=[TASK_TYPE],
                mandate_impacts=["medium", "high"],
                quorum=3,
                majority="simple",
                deadline_hours=72,
                escalation="institution_admin",
                strata_fields=["district", "age_band"],
            )
        today = timezone.localdate()
        term_end = today + dt.timedelta(days=365)
        if not CouncilMember.objects.filter(council=council, user=carmen).exists():
            services.council_member_add(
                council=council,
                user=carmen,
                kind=MemberKind.OFFICIAL,
                term_start=today,
                term_end=term_end,
                actor=adrian,
            )
        for username, strata in VOLUNTEERS:
            user = federation.users.get(username)
            if user is not None and not CouncilVolunteer.objects.filter(council=council, user=user).exists():
                membership_services.council_volunteer(council=council, user=user, strata=strata)
        if not CouncilDraw.objects.filter(council=council).exists():
            membership_services.council_draw(
                council=council, actor=adrian, seats=SEATS, term_start=today, term_end=term_end, seed=DEMO_SEED
            )
        queued = _queue_flagged_runs(council)
    draw = CouncilDraw.all_institutions.filter(council=council).order_by("pk").first()
    stdout.write(
        f"Councils: “{COUNCIL_NAME}” of Aurelia, carmen and {SEATS} citizens drawn by lot "
        f"(draw {draw.pk if draw else '-'}); {queued} flagged runs put before it."
    )


def _queue_flagged_runs(council: Council) -> int:
    """The agents' demo ran before the council existed: put its flagged runs in the queue."""
    from apps.agents.models import ClusterRun, ClusterRunStatus
    from apps.agents.review import SUBJECT_TYPE, impact_of, submit_run_for_review

    queued = 0
    reviewed = set(ReviewItem.objects.filter(subject_type=SUBJECT_TYPE).values_list("subject_id", flat=True))
    for run in ClusterRun.objects.filter(task_type=TASK_TYPE, status=ClusterRunStatus.FLAGGED).order_by("pk"):
        # a run no council covers would be reported to the admins at every seeding: skip it
        if str(run.pk) in reviewed or not council.covers(task_type=run.task_type, impact=impact_of(run)):
            continue
        if submit_run_for_review(run=run) is not None:
            queued += 1
    return queued
