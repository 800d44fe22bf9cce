"""Demo data of the trust app: the admission policy, and one admission awaiting signatures."""

from __future__ import annotations

from apps.tenancy.scope import institution_scope
from apps.trust import selectors, services
from apps.trust.models import ActType

ADMISSION_AUTHORITIES = ("ministry-interior", "audit-office", "aurelia", "borealis")
DEMO_PROPOSAL_SLUG = "city-of-caldera"


def seed_demo(*, federation, stdout) -> None:
    """Idempotent: creates only what is missing."""
    institutions = federation.institutions
    if selectors.policy_for_act(act_type=ActType.ADMIT_INSTITUTION) is None:
        services.threshold_policy_create(
            name="Admission of institutions",
            act_type=ActType.ADMIT_INSTITUTION,
            k=3,
            authorities=[institutions[slug] for slug in ADMISSION_AUTHORITIES if slug in institutions],
            actor="seed_demo",
        )
    ministry, admin = institutions.get("ministry-interior"), federation.users.get("ines")
    if ministry is None or admin is None or institutions.get(DEMO_PROPOSAL_SLUG):
        return
    pending = selectors.proposals_visible_to(institution=ministry).filter(
        act_type=ActType.ADMIT_INSTITUTION, payload__slug=DEMO_PROPOSAL_SLUG
    )
    if pending.exists():
        return
    with institution_scope(ministry):
        proposal = services.threshold_proposal_create(
            institution=ministry,
            act_type=ActType.ADMIT_INSTITUTION,
            payload={"name": "City of Caldera", "slug": DEMO_PROPOSAL_SLUG, "kind": "municipality"},
            actor=admin,
        )
        services.threshold_proposal_sign(proposal=proposal, authority=ministry, actor=admin)
    stdout.write("Trust: an admission of the City of Caldera awaits two more authority signatures.")
