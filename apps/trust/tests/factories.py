"""Builders of threshold policies and proposals for tests (and the cross-institution sweep)."""

from __future__ import annotations

from apps.tenancy.models import Institution, Role
from apps.trust import services
from apps.trust.models import ActType, ThresholdPolicy, ThresholdProposal
from portal.testing import InstitutionFactory, UserFactory, enrol_totp, member


def admin_of(institution: Institution, username: str):
    user = member(UserFactory(username=username), institution, Role.INSTITUTION_ADMIN)
    enrol_totp(user)
    return user


def admission_policy(*authorities: Institution, k: int = 2) -> ThresholdPolicy:
    existing = ThresholdPolicy.objects.filter(act_type=ActType.ADMIT_INSTITUTION).first()
    return existing or services.threshold_policy_create(
        name="Admission of institutions", act_type=ActType.ADMIT_INSTITUTION, k=k, authorities=list(authorities)
    )


def admission_proposal(*, institution: Institution, actor, slug: str = "city-of-caldera") -> ThresholdProposal:
    return services.threshold_proposal_create(
        institution=institution,
        act_type=ActType.ADMIT_INSTITUTION,
        payload={"name": "City of Caldera", "slug": slug, "kind": "municipality"},
        actor=actor,
    )


def sweep_proposal(world) -> ThresholdProposal:
    """For tests/test_cross_institution.py: an admission Aurelia proposed and must sign (built once)."""
    proposal = getattr(world, "trust_proposal", None)
    if proposal is None:
        ministry = InstitutionFactory(name="Ministry of the Interior", slug="ministry-interior")
        admission_policy(world.aurelia, world.borealis, ministry, k=2)
        proposal = admission_proposal(institution=world.aurelia, actor=world.ada, slug="sweep-city")
        world.trust_proposal = proposal
    return proposal
