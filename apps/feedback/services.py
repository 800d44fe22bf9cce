"""Writes of councils and their review queue: items in, recusals, votes, verdicts, escalation.

The council decides; the owning domain applies (apps.feedback.subjects). Every write is
scoped to the council's institution and appends its audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.services import audit_append
from apps.feedback import live
from apps.feedback.models import (
    Council,
    CouncilMember,
    Escalation,
    Impact,
    ItemKind,
    ItemStatus,
    MajorityRule,
    MemberKind,
    Recusal,
    ReviewItem,
    Vote,
    VoteChoice,
)
from apps.feedback.notify import tell
from apps.feedback.subjects import plain, subject_for
from apps.tenancy.models import Institution, Membership, Role
from apps.tenancy.scope import institution_scope
from apps.tenancy.selectors import roles_of
from portal.errors import ApplicationError, Conflict, InvalidTransition, PermissionDenied, ValidationFailed

MAX_REASON = 5000
MAX_QUESTION = 2000
MAX_CASE_BYTES = 500_000


class NoCouncilCovers(ApplicationError):
    code = "no_council"
    status = 409


class DeadlinePassed(ApplicationError):
    code = "deadline_passed"
    status = 409


def _require_admin(*, actor, institution: Institution) -> None:
    if actor is None:  # the node itself (seed, commands, beat)
        return
    if isinstance(actor, str) or Role.INSTITUTION_ADMIN not in roles_of(user=actor, institution=institution):
        raise PermissionDenied(_("Only an institution administrator can manage councils."))


# --- councils -----------------------------------------------------------------------------


def _clean_council(*, institution: Institution, data: dict[str, Any], council: Council | None = None) -> dict:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        errors["name"] = [_("A council needs a name of at most 200 characters.")]
    elif (
        Council.all_institutions.filter(institution=institution, name=name)
        .exclude(pk=getattr(council, "pk", None))
        .exists()
    ):
        errors["name"] = [_("Another council of this institution has this name.")]
    cleaned["name"] = name
    cleaned["description"] = str(data.get("description") or "").strip()[:5000]
    types = data.get("mandate_task_types")
    if not isinstance(types, list) or not types or not all(isinstance(t, str) and 0 < len(t) <= 80 for t in types):
        errors["mandate_task_types"] = [_("Name at least one task type it reviews, or * for all.")]
    else:
        cleaned["mandate_task_types"] = sorted({t.strip() for t in types})
    impacts = data.get("mandate_impacts")
    if not isinstance(impacts, list) or not impacts or not set(impacts) <= set(Impact.values):
        errors["mandate_impacts"] = [_("Choose the impact levels it reviews.")]
    else:
        cleaned["mandate_impacts"] = [i for i in Impact.values if i in impacts]
    for field, low, high, message in (
        ("quorum", 1, 99, _("The quorum is a number of votes between 1 and 99.")),
        ("deadline_hours", 1, 24 * 90, _("The deadline is between 1 hour and 90 days.")),
    ):
        value = data.get(field)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[field] = [message]
        else:
            cleaned[field] = value
    if data.get("majority") not in MajorityRule.values:
        errors["majority"] = [_("Choose a majority rule.")]
    cleaned["majority"] = data.get("majority")
    if data.get("escalation") not in Escalation.values:
        errors["escalation"] = [_("Choose what happens when the deadline passes.")]
    cleaned["escalation"] = data.get("escalation")
    backup = data.get("backup_council")
    if backup is not None and (
        backup.institution_id != institution.pk or (council is not None and backup.pk == council.pk)
    ):
        errors["backup_council"] = [_("The back-up council must be another council of this institution.")]
    if cleaned.get("escalation") == Escalation.BACKUP_COUNCIL and backup is None:
        errors["backup_council"] = [_("Name the back-up council items escalate to.")]
    cleaned["backup_council"] = backup
    strata = data.get("strata_fields") or []
    if (
        not isinstance(strata, list)
        or len(strata) > 5
        or not all(isinstance(s, str) and s.isidentifier() for s in strata)
    ):
        errors["strata_fields"] = [_("At most five strata, each a simple name such as district or age_band.")]
    cleaned["strata_fields"] = strata if isinstance(strata, list) else []
    cleaned["public_record"] = bool(data.get("public_record", True))
    if errors:
        raise ValidationFailed(errors=errors)
    return cleaned


@transaction.atomic
def council_create(*, institution: Institution, actor, **data) -> Council:
    """Create a council (administrators).

    Raises: PermissionDenied, ValidationFailed."""
    _require_admin(actor=actor, institution=institution)
    council = Council.objects.create(institution=institution, **_clean_council(institution=institution, data=data))
    audit_append(
        institution=institution,
        actor=actor,
        action="feedback.council_create",
        target=council,
        changes={"name": council.name, "mandate": [council.mandate_task_types, council.mandate_impacts]},
    )
    return council


@transaction.atomic
def council_update(*, council: Council, actor, **data) -> Council:
    """Change a council's mandate or rules (administrators); open items keep their deadline.

    Raises: PermissionDenied, ValidationFailed."""
    _require_admin(actor=actor, institution=council.institution)
    council = Council.objects.select_for_update().get(pk=council.pk)
    cleaned = _clean_council(institution=council.institution, data=data, council=council)
    before = {f: getattr(council, f) for f in cleaned if f != "backup_council"}
    for field, value in cleaned.items():
        setattr(council, field, value)
    council.save()
    audit_append(
        institution=council.institution,
        actor=actor,
        action="feedback.council_update",
        target=council,
        changes={f: [before[f], getattr(council, f)] for f in before if before[f] != getattr(council, f)},
    )
    return council


@transaction.atomic
def council_member_add(
    *, council: Council, user, kind: str, term_start: dt.date, term_end: dt.date, actor, draw=None
) -> CouncilMember:
    """Seat a person on a council for a term (administrators); they get the council-member role
    in the institution if they lack it (and, with it, the second factor that role requires).

    Raises: PermissionDenied, ValidationFailed, Conflict."""
    from apps.tenancy.services import membership_grant

    institution = council.institution
    _require_admin(actor=actor, institution=institution)
    errors = {}
    if kind not in MemberKind.values:
        errors["kind"] = [_("A member is an official or a citizen drawn by lot.")]
    if not isinstance(term_start, dt.date) or not isinstance(term_end, dt.date) or term_end < term_start:
        errors["term_end"] = [_("The term must end on or after the day it starts.")]
    elif (term_end - term_start).days > 366 * 6:
        errors["term_end"] = [_("A term is at most six years.")]
    if not Membership.objects.filter(institution=institution, user=user).exists():
        errors["user"] = [_("Only members of the institution can sit on its councils.")]
    if errors:
        raise ValidationFailed(errors=errors)
    overlapping = CouncilMember.objects.filter(
        council=council, user=user, ended_at__isnull=True, term_start__lte=term_end, term_end__gte=term_start
    )
    if overlapping.exists():
        raise Conflict(_("%(user)s already sits on this council for part of that term.") % {"user": user})
    if not Membership.objects.filter(institution=institution, user=user, role=Role.COUNCIL_MEMBER).exists():
        membership_grant(institution=institution, user=user, role=Role.COUNCIL_MEMBER, actor=actor)
    try:
        with transaction.atomic():
            member = CouncilMember.objects.create(
                institution=institution,
                council=council,
                user=user,
                kind=kind,
                term_start=term_start,
                term_end=term_end,
                draw=draw,
            )
    except IntegrityError:
        raise Conflict(_("%(user)s already sits on this council for that term.") % {"user": user}) from None
    audit_append(
        institution=institution,
        actor=actor,
        action="feedback.council_member_add",
        target=member,
        changes={"council": council.pk, "user": user.username, "kind": kind, "term": [str(term_start), str(term_end)]},
    )
    return member


@transaction.atomic
def council_member_end(*, member: CouncilMember, actor, reason: str) -> CouncilMember:
    """End a seat before its term (administrators); past votes stay.

    Raises: PermissionDenied, ValidationFailed."""
    _require_admin(actor=actor, institution=member.institution)
    if not str(reason or "").strip():
        raise ValidationFailed(errors={"reason": [_("Say why the seat ends.")]})
    member = CouncilMember.objects.select_for_update().get(pk=member.pk)
    if member.ended_at is None:
        member.ended_at = timezone.now()
        member.save(update_fields=["ended_at"])
        audit_append(
            institution=member.institution,
            actor=actor,
            action="feedback.council_member_end",
            target=member,
            changes={"reason": str(reason).strip()[:2000]},
        )
    return member


# --- the queue ----------------------------------------------------------------------------


def council_for(*, institution: Institution, task_type: str, impact: str) -> Council | None:
    """The council whose mandate covers this task type and impact: the institution's own
    councils first, then councils other institutions share with it (by threshold approval);
    among those, the most specific wins (naming the task type before "*"), then the oldest."""
    from apps.feedback.membership.models import CouncilShare

    # tenancy: explicit institution filters (also called from Celery tasks); shared councils
    # are other institutions' rows, reached only through an active approved share
    own = list(Council.all_institutions.filter(institution=institution).order_by("pk"))
    shared_ids = CouncilShare.all_institutions.filter(shared_with=institution, ended_at__isnull=True).values(
        "council_id"
    )
    shared = list(Council.all_institutions.filter(pk__in=shared_ids).select_related("institution").order_by("pk"))
    for group in (own, shared):
        covering = [c for c in group if c.covers(task_type=task_type, impact=impact)]
        covering.sort(key=lambda c: (task_type not in c.mandate_task_types, c.pk))
        if covering:
            return covering[0]
    return None


def sitting_members(*, council: Council, day: dt.date | None = None) -> list[CouncilMember]:
    day = day or timezone.localdate()
    # tenancy: the council's own rows
    seats = CouncilMember.all_institutions.filter(council=council, ended_at__isnull=True).select_related("user")
    return [m for m in seats.filter(term_start__lte=day, term_end__gte=day)]


@transaction.atomic
def review_item_submit(
    *,
    institution: Institution,
    kind: str,
    subject_type: str,
    subject_id: Any,
    task_type: str,
    impact: str,
    question: str,
    proposed_decision: str,
    allowed_decisions: list[str],
    case: dict,
    citizen=None,
    actor=None,
    council: Council | None = None,
    escalated_from: ReviewItem | None = None,
) -> ReviewItem:
    """Put a case before the council whose mandate covers it; idempotent per subject and kind.

    Raises: ValidationFailed, NoCouncilCovers."""
    errors = {}
    if kind not in ItemKind.values:
        errors["kind"] = ["Unknown kind of item."]
    if subject_for(subject_type) is None:
        errors["subject_type"] = [f"No domain registered the subject type {subject_type!r}."]
    if impact not in Impact.values:
        errors["impact"] = ["Unknown impact level."]
    if not str(question or "").strip() or len(question) > MAX_QUESTION:
        errors["question"] = [f"Ask the question in at most {MAX_QUESTION} characters."]
    case = plain(case or {})
    if len(str(case)) > MAX_CASE_BYTES:
        errors["case"] = ["The case is too large to put before a council."]
    if errors:
        raise ValidationFailed(errors=errors)
    council = council or council_for(institution=institution, task_type=task_type, impact=impact)
    if council is None:
        raise NoCouncilCovers(
            _("No council of %(institution)s reviews %(task_type)s cases of %(impact)s impact.")
            % {"institution": institution.name, "task_type": task_type, "impact": Impact(impact).label}
        )
    case_institution = None if council.institution_id == institution.pk else institution
    existing = ReviewItem.all_institutions.filter(
        council=council,
        subject_type=subject_type,
        subject_id=str(subject_id),
        kind=kind,
        case_institution=case_institution,
    ).first()
    if existing is not None:
        return existing
    # the item is the council's row: written in the council's institution, also when the case
    # comes from an institution the council is shared with
    with institution_scope(council.institution):
        item = ReviewItem.objects.create(
            institution=council.institution,
            council=council,
            kind=kind,
            subject_type=subject_type,
            subject_id=str(subject_id),
            task_type=task_type,
            impact=impact,
            question=str(question).strip(),
            proposed_decision=proposed_decision or "",
            allowed_decisions=list(allowed_decisions or []),
            case=case,
            citizen=citizen,
            case_institution=case_institution,
            deadline=timezone.now() + dt.timedelta(hours=council.deadline_hours),
            escalated_from=escalated_from,
        )
        audit_append(
            institution=council.institution,
            actor=actor,
            action="feedback.item_submit",
            target=item,
            changes={
                "council": council.pk,
                "kind": kind,
                "subject": [subject_type, str(subject_id)],
                "impact": impact,
                "case_institution": case_institution.slug if case_institution else None,
            },
        )
        url = f"/i/{council.institution.slug}/councils/{council.pk}/items/{item.pk}/"
        tell(
            institution=council.institution,
            people=[m.user for m in sitting_members(council=council)],
            title=_("New case for %(council)s: decide by %(deadline)s")
            % {"council": council.name, "deadline": timezone.localtime(item.deadline).strftime("%Y-%m-%d %H:%M")},
            body=item.question,
            url=url,
        )
    if case_institution is not None:
        # the case's own log says where it went
        audit_append(
            institution=case_institution,
            actor=actor,
            action="feedback.item_submit_shared",
            target=item,
            changes={"council": council.pk, "council_institution": council.institution.slug},
        )
    live.broadcast(item=item, event="item_created")
    return item


def _member_of(*, item: ReviewItem, user) -> CouncilMember:
    """Raises: PermissionDenied (not sitting on this council today)."""
    for member in sitting_members(council=item.council):
        if member.user_id == user.pk:
            return member
    raise PermissionDenied(_("Only the council's sitting members review its cases."))


def _open_for_review(item: ReviewItem) -> None:
    """Raises: InvalidTransition, DeadlinePassed."""
    if item.status != ItemStatus.OPEN:
        raise InvalidTransition(
            _("This case is no longer open: it was %(status)s.") % {"status": item.get_status_display().lower()}
        )
    if item.deadline <= timezone.now():
        raise DeadlinePassed(_("The deadline of this case has passed; it is being escalated."))


@transaction.atomic
def review_recuse(*, item: ReviewItem, user, conflict: str) -> Recusal:
    """Declare a conflict of interest and step aside from one case.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition, DeadlinePassed, Conflict."""
    item = ReviewItem.objects.select_for_update().select_related("council").get(pk=item.pk)
    member = _member_of(item=item, user=user)
    _open_for_review(item)
    conflict = str(conflict or "").strip()
    if not conflict or len(conflict) > MAX_REASON:
        raise ValidationFailed(errors={"conflict": [_("Say what the conflict of interest is.")]})
    if Vote.objects.filter(item=item, member=member).exists():
        raise Conflict(_("You have already voted on this case; a vote cannot be withdrawn by recusing."))
    try:
        with transaction.atomic():
            recusal = Recusal.objects.create(institution=item.institution, item=item, member=member, conflict=conflict)
    except IntegrityError:
        raise Conflict(_("You have already recused yourself from this case.")) from None
    audit_append(
        institution=item.institution, actor=user, action="feedback.recuse", target=item, changes={"member": member.pk}
    )
    live.broadcast(item=item, event="recusal")
    _maybe_decide(item=item)
    return recusal


@transaction.atomic
def review_vote(*, item: ReviewItem, user, choice: str, reason: str, amended_decision: str = "") -> Vote:
    """Cast a vote with its reason; the verdict is reached as soon as quorum and majority allow.

    Raises: PermissionDenied, ValidationFailed, InvalidTransition, DeadlinePassed, Conflict."""
    item = ReviewItem.objects.select_for_update().select_related("council", "institution").get(pk=item.pk)
    member = _member_of(item=item, user=user)
    _open_for_review(item)
    errors = {}
    if choice not in VoteChoice.values:
        errors["choice"] = [_("Vote approve, reject or amend.")]
    reason = str(reason or "").strip()
    if not reason:
        errors["reason"] = [_("Give the reason for your vote: it is part of the record.")]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [_("Keep the reason under %(n)s characters.") % {"n": MAX_REASON}]
    amended_decision = str(amended_decision or "").strip()
    if choice == VoteChoice.AMEND:
        if amended_decision not in item.allowed_decisions or amended_decision == item.proposed_decision:
            errors["amended_decision"] = [
                _("Choose the decision you propose instead, one of: %(choices)s.")
                % {"choices": ", ".join(d for d in item.allowed_decisions if d != item.proposed_decision)}
            ]
    else:
        amended_decision = ""
    if errors:
        raise ValidationFailed(errors=errors)
    if Recusal.objects.filter(item=item, member=member).exists():
        raise Conflict(_("You recused yourself from this case."))
    try:
        with transaction.atomic():
            vote = Vote.objects.create(
                institution=item.institution,
                item=item,
                member=member,
                choice=choice,
                amended_decision=amended_decision,
                reason=reason,
            )
    except IntegrityError:
        raise Conflict(_("You have already voted on this case.")) from None
    audit_append(
        institution=item.institution,
        actor=user,
        action="feedback.vote",
        target=item,
        changes={"member": member.pk, "choice": choice, "amended_decision": amended_decision, "reason": reason},
    )
    live.broadcast(item=item, event="vote", choice=choice, votes=Vote.objects.filter(item=item).count())
    _maybe_decide(item=item)
    return vote


def _key(vote: Vote) -> str:
    return f"amend:{vote.amended_decision}" if vote.choice == VoteChoice.AMEND else vote.choice


def _meets(count: int, total: int, rule: str) -> bool:
    if total <= 0:
        return False
    if rule == MajorityRule.UNANIMOUS:
        return count == total
    if rule == MajorityRule.TWO_THIRDS:
        return 3 * count >= 2 * total
    return 2 * count > total


def tally(item: ReviewItem) -> str | None:
    """The winning vote key ("approve", "reject", "amend:<decision>"), or None while undecided.

    Decided as soon as the quorum has voted and one option has the majority of every member
    who may still vote (sitting, not recused), so no later vote could change it; or, once all
    of them have voted, when one option has the majority of the votes cast."""
    council = item.council
    recused = set(Recusal.objects.filter(item=item).values_list("member_id", flat=True))
    eligible = [m for m in sitting_members(council=council) if m.pk not in recused]
    votes = list(Vote.objects.filter(item=item))
    if len(votes) < council.quorum:
        return None
    counts = Counter(_key(v) for v in votes)
    leader, count = max(sorted(counts.items()), key=lambda kv: kv[1])
    if _meets(count, len(eligible), council.majority):
        return leader
    voted = {v.member_id for v in votes}
    if all(m.pk in voted for m in eligible) and _meets(count, len(votes), council.majority):
        return leader
    return None


def _decision_after(item: ReviewItem, key: str) -> str:
    if key == VoteChoice.APPROVE:
        return item.proposed_decision
    if key.startswith("amend:"):
        return key.split(":", 1)[1]
    others = [d for d in item.allowed_decisions if d != item.proposed_decision]
    # rejecting a choice between two decisions is choosing the other; otherwise people decide
    return others[0] if len(others) == 1 else ""


def _maybe_decide(*, item: ReviewItem) -> None:
    key = tally(item)
    if key is None:
        return
    votes = list(Vote.objects.filter(item=item).select_related("member__user"))
    choice = VoteChoice.AMEND if key.startswith("amend:") else key
    item.verdict = choice
    item.verdict_decision = _decision_after(item, key)
    item.verdict_reasons = [v.reason for v in votes if _key(v) == key]
    item.dissent = [
        {"vote": v.choice, "amended_decision": v.amended_decision, "reason": v.reason} for v in votes if _key(v) != key
    ]
    item.decided_at = timezone.now()
    item.transition_to(ItemStatus.DECIDED)
    item.save()
    audit_append(
        institution=item.institution,
        actor=None,
        action="feedback.verdict",
        target=item,
        changes={
            "verdict": item.verdict,
            "decision": item.verdict_decision,
            "votes": len(votes),
            "reasons": item.verdict_reasons,
            "dissent": item.dissent,
        },
    )
    _apply(item=item)
    live.broadcast(item=item, event="verdict", verdict=item.verdict, decision=item.verdict_decision)
    subject = subject_for(item.subject_type)
    url = subject.citizen_url(item=item) if subject and subject.citizen_url else ""
    if item.citizen_id:
        tell(
            institution=item.owner_of_case,
            people=[item.citizen],
            title=_("The council has decided on your case"),
            body=_("Verdict: %(verdict)s. %(reasons)s")
            % {"verdict": item.get_verdict_display(), "reasons": " ".join(item.verdict_reasons)[:1500]},
            url=url,
        )
    from apps.feedback import tasks

    item_id, institution_id = item.pk, item.institution_id
    transaction.on_commit(lambda: tasks.verdict_learn_task.delay(item_id=item_id, institution_id=institution_id))


def _apply(*, item: ReviewItem) -> None:
    """The owning domain applies the verdict through its own service. If it refuses (say the
    case changed meanwhile), the verdict still stands and the refusal is recorded for an
    administrator: a verdict reached is never lost."""
    subject = subject_for(item.subject_type)
    try:
        with transaction.atomic(), institution_scope(item.owner_of_case):
            subject.apply(item=item, actor=None)
    except ApplicationError as error:
        item.apply_error = error.message[:2000]
        item.save(update_fields=["apply_error"])
        audit_append(
            institution=item.institution,
            actor=None,
            action="feedback.apply_refused",
            target=item,
            changes={"error": item.apply_error},
        )
        tell(
            institution=item.owner_of_case,
            people=_admins(item.owner_of_case),
            title=_("A council verdict could not be applied"),
            body=item.apply_error,
            url=f"/i/{item.institution.slug}/councils/{item.council_id}/items/{item.pk}/",
        )
        return
    item.applied_at = timezone.now()
    item.save(update_fields=["applied_at"])
    audit_append(institution=item.institution, actor=None, action="feedback.apply", target=item)


@transaction.atomic
def review_item_apply_again(*, item: ReviewItem, actor) -> ReviewItem:
    """Apply a verdict the domain refused before (an administrator fixed the case meanwhile).

    Raises: PermissionDenied, InvalidTransition."""
    _require_admin(actor=actor, institution=item.owner_of_case)
    item = ReviewItem.objects.select_for_update().select_related("council", "institution").get(pk=item.pk)
    if item.status != ItemStatus.DECIDED or item.applied_at is not None:
        raise InvalidTransition(_("Only a verdict that could not be applied is applied again."))
    audit_append(institution=item.institution, actor=actor, action="feedback.apply_again", target=item)
    item.apply_error = ""
    item.save(update_fields=["apply_error"])
    _apply(item=item)
    return item


def _admins(institution: Institution) -> list:
    return [
        m.user
        for m in Membership.objects.filter(institution=institution, role=Role.INSTITUTION_ADMIN).select_related("user")
    ]


@transaction.atomic
def review_item_escalate(*, item: ReviewItem, now: dt.datetime | None = None) -> ReviewItem:
    """Past its deadline, an open item goes where the council's rules say, and the citizen is told.

    Raises: InvalidTransition (not open, or not yet due)."""
    now = now or timezone.now()
    item = ReviewItem.objects.select_for_update().select_related("council", "institution").get(pk=item.pk)
    if item.status != ItemStatus.OPEN or item.deadline > now:
        raise InvalidTransition(_("Only an open case past its deadline is escalated."))
    council = item.council
    item.transition_to(ItemStatus.ESCALATED)
    item.save(update_fields=["status"])
    target = "institution_admin"
    backup = council.backup_council if council.escalation == Escalation.BACKUP_COUNCIL else None
    if backup is not None and backup.pk != council.pk:
        successor = review_item_submit(
            institution=item.owner_of_case,
            kind=item.kind,
            subject_type=item.subject_type,
            subject_id=item.subject_id,
            task_type=item.task_type,
            impact=item.impact,
            question=item.question,
            proposed_decision=item.proposed_decision,
            allowed_decisions=item.allowed_decisions,
            case=item.case,
            citizen=item.citizen,
            council=backup,
            escalated_from=item,
        )
        item.escalated_to = successor
        item.save(update_fields=["escalated_to"])
        target = f"council {backup.pk}"
    else:
        tell(
            institution=item.institution,
            people=_admins(item.institution),
            title=_("A council missed its deadline: the case is yours to decide"),
            body=item.question,
            url=f"/i/{item.institution.slug}/councils/{council.pk}/items/{item.pk}/",
        )
    audit_append(
        institution=item.institution,
        actor=None,
        action="feedback.escalate",
        target=item,
        changes={"to": target, "deadline": item.deadline.isoformat()},
    )
    if item.citizen_id:
        tell(
            institution=item.owner_of_case,
            people=[item.citizen],
            title=_("Your case is taking longer: it was passed on"),
            body=_("The council did not decide by its deadline; the case has gone to %(to)s.")
            % {"to": backup.name if backup is not None else _("the institution's administrators")},
        )
    live.broadcast(item=item, event="escalated")
    return item


def review_items_escalate_due(*, now: dt.datetime | None = None) -> int:
    """Beat: escalate every open item past its deadline, each in its own transaction."""
    from apps.tenancy.scope import institution_scope

    now = now or timezone.now()
    # tenancy: beat looks across institutions to find due items, then acts in each one's scope
    due = list(
        ReviewItem.all_institutions.filter(status=ItemStatus.OPEN, deadline__lte=now).select_related("institution")
    )
    for item in due:
        with institution_scope(item.institution):
            try:
                review_item_escalate(item=item, now=now)
            except InvalidTransition:
                continue  # decided meanwhile
    return len(due)


def reminder_due(item: ReviewItem, now: dt.datetime) -> bool:
    """Once per item, when a quarter of its time is left (at most a day before the deadline)."""
    window = item.deadline - item.created_at
    lead = min(window / 4, dt.timedelta(hours=24))
    return item.reminded_at is None and item.status == ItemStatus.OPEN and now < item.deadline <= now + lead


@transaction.atomic
def review_item_remind(*, item: ReviewItem, now: dt.datetime | None = None) -> int:
    """Remind the sitting members who have neither voted nor recused; returns how many were told."""
    now = now or timezone.now()
    item = ReviewItem.objects.select_for_update().select_related("council", "institution").get(pk=item.pk)
    if not reminder_due(item, now):
        return 0
    done = set(Vote.objects.filter(item=item).values_list("member_id", flat=True)) | set(
        Recusal.objects.filter(item=item).values_list("member_id", flat=True)
    )
    waiting = [m.user for m in sitting_members(council=item.council) if m.pk not in done]
    item.reminded_at = now
    item.save(update_fields=["reminded_at"])
    tell(
        institution=item.institution,
        people=waiting,
        title=_("Reminder: %(council)s decides by %(deadline)s")
        % {"council": item.council.name, "deadline": timezone.localtime(item.deadline).strftime("%Y-%m-%d %H:%M")},
        body=item.question,
        url=f"/i/{item.institution.slug}/councils/{item.council_id}/items/{item.pk}/",
    )
    return len(waiting)


def review_items_remind_due(*, now: dt.datetime | None = None) -> int:
    """Beat: send the deadline reminders that are due, each item in its own transaction and scope."""
    now = now or timezone.now()
    # tenancy: beat looks across institutions to find due reminders, then acts in each one's scope
    candidates = ReviewItem.all_institutions.filter(
        status=ItemStatus.OPEN, reminded_at__isnull=True, deadline__gt=now, deadline__lte=now + dt.timedelta(hours=24)
    ).select_related("institution")
    sent = 0
    for item in candidates:
        if reminder_due(item, now):
            with institution_scope(item.institution):
                sent += review_item_remind(item=item, now=now)
    return sent
