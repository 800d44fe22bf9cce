"""Writes of council membership: volunteers, draws by lot, and sharing a council.

Seats themselves are added and ended by the core services (`council_member_add`,
`council_member_end`); a draw seats the citizens it selects through them. Every write
checks its permission and appends its audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_append
from apps.feedback import draw as sortition
from apps.feedback.membership.models import CouncilShare
from apps.feedback.models import Council, CouncilDraw, CouncilMember, CouncilVolunteer, MemberKind
from apps.feedback.services import _require_admin, council_member_add
from apps.tenancy.models import Institution, Membership, Role
from apps.tenancy.selectors import roles_of
from portal.errors import Conflict, PermissionDenied, ValidationFailed

MAX_SEATS = 99
MAX_STRATUM_VALUE = 60
MAX_SEED = 128
SEED_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII without spaces: easy to copy exactly


def pseudonym(volunteer: CouncilVolunteer) -> str:
    """How a volunteer appears in a draw's public record: never a name."""
    return f"V-{volunteer.pk}"


# --- volunteers ---------------------------------------------------------------------------


def _clean_strata(*, council: Council, strata: Any) -> dict[str, str]:
    """Raises: ValidationFailed."""
    if not isinstance(strata, dict):
        raise ValidationFailed(errors={"strata": [_("Give your strata as field and value pairs.")]})
    errors: dict[str, list[str]] = {}
    unknown = set(strata) - set(council.strata_fields)
    if unknown:
        errors["strata"] = [_("This council does not draw by %(fields)s.") % {"fields": ", ".join(sorted(unknown))}]
    cleaned = {}
    for field in council.strata_fields:
        value = " ".join(str(strata.get(field) or "").split()).lower()
        if not value or len(value) > MAX_STRATUM_VALUE:
            errors[field] = [
                _("Give your %(field)s in at most %(n)s characters.") % {"field": field, "n": MAX_STRATUM_VALUE}
            ]
        cleaned[field] = value
    if errors:
        raise ValidationFailed(errors=errors)
    return cleaned


@transaction.atomic
def council_volunteer(*, council: Council, user, strata: dict) -> CouncilVolunteer:
    """Offer oneself to be drawn by lot for a council (any member of its institution), or
    change one's strata; volunteering again after withdrawing renews the offer.

    Raises: PermissionDenied, ValidationFailed."""
    institution = council.institution
    if not getattr(user, "is_authenticated", False) or not roles_of(user=user, institution=institution):
        raise PermissionDenied(_("Only members of the institution can volunteer for its councils."))
    cleaned = _clean_strata(council=council, strata=strata)
    volunteer = CouncilVolunteer.objects.select_for_update().filter(council=council, user=user).first()
    if volunteer is None:
        volunteer = CouncilVolunteer.objects.create(institution=institution, council=council, user=user, strata=cleaned)
        action, changes = "feedback.volunteer", {"council": council.pk, "strata": cleaned}
    else:
        renewed = volunteer.withdrawn_at is not None
        changes = {"council": council.pk, "strata": [volunteer.strata, cleaned], "renewed": renewed}
        volunteer.strata = cleaned
        if renewed:
            volunteer.withdrawn_at = None
            volunteer.volunteered_at = timezone.now()
        volunteer.save(update_fields=["strata", "withdrawn_at", "volunteered_at"])
        action = "feedback.volunteer_update"
    audit_append(institution=institution, actor=user, action=action, target=volunteer, changes=changes)
    return volunteer


@transaction.atomic
def council_volunteer_withdraw(*, council: Council, user) -> CouncilVolunteer:
    """Withdraw one's offer; draws already made keep their record.

    Raises: Conflict (not volunteering)."""
    volunteer = (
        CouncilVolunteer.objects.select_for_update()
        .filter(council=council, user=user, withdrawn_at__isnull=True)
        .first()
    )
    if volunteer is None:
        raise Conflict(_("You are not volunteering for this council."))
    volunteer.withdrawn_at = timezone.now()
    volunteer.save(update_fields=["withdrawn_at"])
    audit_append(
        institution=council.institution,
        actor=user,
        action="feedback.volunteer_withdraw",
        target=volunteer,
        changes={"council": council.pk},
    )
    return volunteer


# --- draws by lot -------------------------------------------------------------------------


def draw_candidates(*, council: Council, term_start: dt.date, term_end: dt.date) -> list[CouncilVolunteer]:
    """Who a draw for this term would draw from, in draw order: volunteers still offering,
    still members of the institution, not already sitting on the council during the term."""
    sitting = CouncilMember.objects.filter(
        council=council, ended_at__isnull=True, term_start__lte=term_end, term_end__gte=term_start
    ).values("user_id")
    members = Membership.objects.filter(institution=council.institution).values("user_id")
    return list(
        CouncilVolunteer.objects.filter(council=council, withdrawn_at__isnull=True, user_id__in=members)
        .exclude(user_id__in=sitting)
        .select_related("user")
        .order_by("pk")
    )


@transaction.atomic
def council_draw(
    *, council: Council, actor, seats: Any, term_start: Any, term_end: Any, seed: str | None = None
) -> CouncilDraw:
    """Draw citizens by lot from the volunteers, stratified by the council's strata, and seat
    them for the term (administrators). The seed is chosen here unless given (say a public
    lottery number); it is recorded with everything needed to re-run the draw.

    Raises: PermissionDenied, ValidationFailed, Conflict."""
    institution = council.institution
    _require_admin(actor=actor, institution=institution)
    council = Council.objects.select_for_update().get(pk=council.pk)  # one draw of a council at a time
    errors: dict[str, list[str]] = {}
    if isinstance(seats, str) and seats.isdigit():
        seats = int(seats)
    if isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= MAX_SEATS:
        errors["seats"] = [_("Draw between 1 and %(n)s seats.") % {"n": MAX_SEATS}]
    if not isinstance(term_start, dt.date) or not isinstance(term_end, dt.date) or term_end < term_start:
        errors["term_end"] = [_("The term must end on or after the day it starts.")]
    elif (term_end - term_start).days > 366 * 6:
        errors["term_end"] = [_("A term is at most six years.")]
    seed = str(seed).strip() if seed else secrets.token_hex(32)
    if not SEED_PATTERN.match(seed):
        errors["seed"] = [
            _("A seed is 1 to %(n)s visible characters without spaces, such as a published lottery number.")
            % {"n": MAX_SEED}
        ]
    if errors:
        raise ValidationFailed(errors=errors)
    volunteers = draw_candidates(council=council, term_start=term_start, term_end=term_end)
    if seats > len(volunteers):
        raise ValidationFailed(
            errors={
                "seats": [
                    _("Only %(n)s volunteers can be drawn for this term; draw at most that many seats.")
                    % {"n": len(volunteers)}
                ]
            }
        )
    fields = list(council.strata_fields)
    candidates = [{"ref": pseudonym(v), "strata": {f: str(v.strata.get(f, "")) for f in fields}} for v in volunteers]
    result = sortition.draw(seed=seed, candidates=candidates, strata_fields=fields, seats=seats)
    record = CouncilDraw.objects.create(
        institution=institution,
        council=council,
        algorithm=result.algorithm,
        seed=seed,
        seats=seats,
        strata_fields=fields,
        candidates=candidates,
        quotas=result.quotas,
        selected=result.selected,
        term_start=term_start,
        term_end=term_end,
        drawn_by=actor if actor is not None and not isinstance(actor, str) else None,
    )
    audit_append(
        institution=institution,
        actor=actor,
        action="feedback.council_draw",
        target=record,
        changes={
            "council": council.pk,
            "algorithm": result.algorithm,
            "seed": seed,
            "seats": seats,
            "candidates": len(candidates),
            "quotas": result.quotas,
            "selected": result.selected,
            "term": [str(term_start), str(term_end)],
        },
    )
    by_ref = {pseudonym(v): v for v in volunteers}
    for ref in result.selected:
        council_member_add(
            council=council,
            user=by_ref[ref].user,
            kind=MemberKind.CITIZEN,
            term_start=term_start,
            term_end=term_end,
            actor=actor,
            draw=record,
        )
    return record


# --- sharing a council (the "share_council" threshold act) ---------------------------------


def share_validate(payload: Any) -> dict[str, Any]:
    """The payload of a "share_council" proposal, made in the owner's scope: the owner's
    council, and an institution the policy lets consent (one of its authorities).

    Raises: ValidationFailed, Conflict."""
    from apps.tenancy.scope import current_institution
    from apps.trust.models import ActType, ProposalStatus, ThresholdProposal
    from apps.trust.selectors import policy_for_act

    owner = current_institution()
    if owner is None:  # fail closed: the proposer's scope says whose council it may be
        raise ValidationFailed(errors={"council": [_("A council is shared by the institution it belongs to.")]})
    if not isinstance(payload, dict):
        raise ValidationFailed(errors={"payload": [_("The payload must be an object.")]})
    errors: dict[str, list[str]] = {}
    council_id = payload.get("council")
    if isinstance(council_id, str) and council_id.isdigit():
        council_id = int(council_id)
    council = (
        Council.objects.filter(institution=owner, pk=council_id).first()
        if isinstance(council_id, int) and not isinstance(council_id, bool)
        else None
    )
    if council is None:
        errors["council"] = [_("This institution has no such council.")]
    slug = str(payload.get("shared_with") or "").strip()
    shared_with = Institution.objects.filter(slug=slug).first()
    if shared_with is None or shared_with.pk == owner.pk:
        errors["shared_with"] = [_("Name another institution of the federation by its short name.")]
    unknown = set(payload) - {"council", "shared_with", "owner", "council_name"}
    if unknown:
        errors["payload"] = [_("Unknown fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}]
    if errors:
        raise ValidationFailed(errors=errors)
    policy = policy_for_act(act_type=ActType.SHARE_COUNCIL)
    if policy is not None and not policy.authorities.filter(pk=shared_with.pk).exists():
        raise ValidationFailed(
            errors={
                "shared_with": [
                    _("%(institution)s is not an authority of the sharing policy, so it could not consent.")
                    % {"institution": shared_with.name}
                ]
            }
        )
    if CouncilShare.objects.filter(council=council, shared_with=shared_with, ended_at__isnull=True).exists():
        raise Conflict(_("This council is already shared with %(institution)s.") % {"institution": shared_with.name})
    pending = ThresholdProposal.objects.filter(
        institution=owner, act_type=ActType.SHARE_COUNCIL, status=ProposalStatus.PROPOSED
    )
    if any(
        p.is_open and p.payload.get("council") == council.pk and p.payload.get("shared_with") == shared_with.slug
        for p in pending
    ):
        raise Conflict(
            _("Sharing this council with %(institution)s already awaits signatures.")
            % {"institution": shared_with.name}
        )
    return {"council": council.pk, "council_name": council.name, "owner": owner.slug, "shared_with": shared_with.slug}


def share_apply(*, proposal, actor) -> dict[str, Any]:
    """Runs in the owner's scope once k authorities signed, the institution served among them
    (its cases would go before another institution's council: it must consent itself).

    Raises: Conflict."""
    payload = proposal.payload
    shared_with = Institution.objects.filter(slug=payload["shared_with"]).first()
    # tenancy: the proposal's own institution (the effect runs in its scope)
    council = Council.all_institutions.filter(institution=proposal.institution, pk=payload["council"]).first()
    if council is None or shared_with is None:
        raise Conflict(_("The council or the institution of this proposal no longer exists."))
    if not proposal.signatures.filter(authority=shared_with).exists():
        raise Conflict(
            _("%(institution)s must sign this proposal itself before its council is shared with it.")
            % {"institution": shared_with.name}
        )
    if CouncilShare.objects.filter(council=council, shared_with=shared_with, ended_at__isnull=True).exists():
        raise Conflict(_("This council is already shared with %(institution)s.") % {"institution": shared_with.name})
    share = CouncilShare.objects.create(
        institution=council.institution, council=council, shared_with=shared_with, proposal_uid=proposal.uid
    )
    audit_append(
        institution=council.institution,
        actor=actor,
        action="feedback.council_share",
        target=share,
        changes={"council": council.pk, "shared_with": shared_with.slug, "proposal": str(proposal.uid)},
    )
    return {"share": share.pk, "council": council.pk, "shared_with": shared_with.slug}


@transaction.atomic
def council_share_propose(*, council: Council, shared_with_slug: str, actor, expires_in_days: int | None = None):
    """Propose sharing a council of this institution with another (administrators); it is
    shared once the "share_council" policy's authorities, the other institution among
    them, have signed.

    Raises: PermissionDenied, ValidationFailed, Conflict."""
    from apps.tenancy.scope import institution_scope
    from apps.trust.models import ActType
    from apps.trust.services import DEFAULT_PROPOSAL_DAYS, threshold_proposal_create

    with institution_scope(council.institution):
        return threshold_proposal_create(
            institution=council.institution,
            act_type=ActType.SHARE_COUNCIL,
            payload={"council": council.pk, "shared_with": shared_with_slug},
            actor=actor,
            expires_in_days=expires_in_days or DEFAULT_PROPOSAL_DAYS,
        )


@transaction.atomic
def council_share_end(*, share: CouncilShare, actor, reason: str, institution: Institution) -> CouncilShare:
    """End a share (an administrator of the owner or of the institution served: either may
    stop it alone). The event is in the owner's log, which the share belongs to.

    Raises: PermissionDenied, ValidationFailed, Conflict."""
    if institution.pk not in (share.institution_id, share.shared_with_id):
        raise PermissionDenied(_("Only the two institutions of a shared council can end the sharing."))
    if actor is None or Role.INSTITUTION_ADMIN not in roles_of(user=actor, institution=institution):
        raise PermissionDenied(_("Only an institution administrator can end the sharing of a council."))
    reason = str(reason or "").strip()
    if not reason or len(reason) > 2000:
        raise ValidationFailed(errors={"reason": [_("Say why the sharing ends, in at most 2000 characters.")]})
    # tenancy: the share is the owner's row; the institution served may end it too
    share = CouncilShare.all_institutions.select_for_update().get(pk=share.pk)
    if share.ended_at is not None:
        raise Conflict(_("This sharing has already ended."))
    from apps.tenancy.scope import institution_scope

    share.ended_at = timezone.now()
    share.end_reason = reason
    with institution_scope(share.institution):  # the owner's row, whoever ends it
        share.save(update_fields=["ended_at", "end_reason"])
    audit_append(
        institution=share.institution,
        actor=actor,
        action="feedback.council_share_end",
        target=share,
        changes={"by": institution.slug, "reason": reason},
    )
    return share
