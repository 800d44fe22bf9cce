"""Objects of Aurelia for the cross-institution sweep (tests/test_cross_institution.py): a
council with an official, a draw by lot and a share, each made once per sweep world."""

from __future__ import annotations

import datetime as dt
import uuid

from apps.tenancy.scope import institution_scope


def _once(world, name, make):
    if name not in world.__dict__:
        with institution_scope(world.aurelia):
            world.__dict__[name] = make()
    return world.__dict__[name]


def sweep_council(world):
    from apps.feedback.services import council_create

    return _once(
        world,
        "council",
        lambda: council_create(
            institution=world.aurelia,
            actor=world.ada,
            name="Sweep council",
            mandate_task_types=["permits.intake"],
            mandate_impacts=["high"],
            quorum=1,
            majority="simple",
            deadline_hours=24,
            escalation="institution_admin",
            strata_fields=["district"],
        ),
    )


def sweep_member(world):
    from apps.feedback.services import council_member_add

    council = sweep_council(world)
    today = dt.date.today()
    return _once(
        world,
        "council_member",
        lambda: council_member_add(
            council=council,
            user=world.alice,
            kind="official",
            term_start=today,
            term_end=today + dt.timedelta(days=365),
            actor=world.ada,
        ),
    )


def sweep_draw(world):
    from apps.feedback.membership.services import council_draw, council_volunteer

    council = sweep_council(world)
    today = dt.date.today()

    def make():
        council_volunteer(council=council, user=world.ada, strata={"district": "north"})
        return council_draw(
            council=council,
            actor=world.ada,
            seats=1,
            term_start=today,
            term_end=today + dt.timedelta(days=365),
            seed="sweep",
        )

    return _once(world, "council_draw", make)


def sweep_share(world):
    from apps.feedback.membership.models import CouncilShare

    council = sweep_council(world)
    return _once(
        world,
        "council_share",
        lambda: CouncilShare.objects.create(
            institution=world.aurelia, council=council, shared_with=world.borealis, proposal_uid=uuid.uuid4()
        ),
    )
