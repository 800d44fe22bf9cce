"""The review queue: flagged runs reach the council, votes with reasons, recusal, quorum and
majority, the verdict applied by the agents domain, learning from it, escalation, sampling."""

from __future__ import annotations

import datetime as dt
from uuid import uuid4

import pytest
from django.utils import timezone

from apps.agents.clusters import redteam
from apps.agents.clusters import services as cluster_services
from apps.agents.models import AgentReputation, Cluster, ClusterRun, ClusterRunStatus, ReputationSnapshot
from apps.audit.models import AuditEvent
from apps.feedback import services
from apps.feedback.models import CouncilMember, ItemKind, ItemStatus, ReviewItem, Vote
from apps.notifications.models import Notification
from apps.tenancy.scope import institution_scope
from portal.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from portal.testing import UserFactory, member

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()


@pytest.fixture(autouse=True)
def _redteam_engine():
    yield
    redteam.forget_engine()


def _council(institution, name="Permits council", quorum=3, majority="simple", **extra):
    with institution_scope(institution):
        return services.council_create(
            institution=institution,
            actor=None,
            name=name,
            mandate_task_types=[redteam.TASK_TYPE],
            mandate_impacts=["medium", "high"],
            quorum=quorum,
            majority=majority,
            deadline_hours=48,
            escalation=extra.pop("escalation", "institution_admin"),
            **extra,
        )


@pytest.fixture
def council(aurelia):
    return _council(aurelia)


@pytest.fixture
def members(aurelia, council):
    people = []
    with institution_scope(aurelia):
        for i in range(5):
            user = member(UserFactory(username=f"councillor{i}"), aurelia, "citizen")
            services.council_member_add(
                council=council,
                user=user,
                kind="citizen" if i % 2 else "official",
                term_start=TODAY - dt.timedelta(days=1),
                term_end=TODAY + dt.timedelta(days=365),
                actor=None,
            )
            people.append(user)
    return people


@pytest.fixture
def agents(aurelia, ada):
    return [
        redteam.make_agent(aurelia, ada, "Approver A"),
        redteam.make_agent(aurelia, ada, "Approver B"),
        redteam.make_agent(aurelia, ada, "Denier", decision="deny", confidence=0.6),
    ]


def _cluster(aurelia, ada, agents, policy=None, name="Review"):
    with institution_scope(aurelia):
        return cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name=name,
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
            flagging_policy=policy or {},
        )


def _run(cluster, actor, capture):
    with institution_scope(cluster.institution), capture(execute=True):
        run = cluster_services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=actor)
    run.refresh_from_db()
    return run


def _item(run) -> ReviewItem:
    return ReviewItem.all_institutions.get(subject_type="agents.cluster_run", subject_id=str(run.pk))


def _vote(item, user, choice="approve", reason="The record supports it.", amended=""):
    with institution_scope(item.institution):
        return services.review_vote(item=item, user=user, choice=choice, reason=reason, amended_decision=amended)


@pytest.fixture
def flagged(aurelia, ada, alice, agents, members, django_capture_on_commit_callbacks):
    # the denier disagrees with two approvers: a third of the weight dissents, above 0.2
    cluster = _cluster(aurelia, ada, agents, {"max_disagreement": 0.2})
    run = _run(cluster, alice, django_capture_on_commit_callbacks)
    assert run.status == ClusterRunStatus.FLAGGED
    return run


def test_a_flagged_run_reaches_the_council_as_the_agents_saw_it(flagged, council, members):
    item = _item(flagged)
    assert item.council == council and item.kind == ItemKind.FLAGGED_DECISION and item.status == ItemStatus.OPEN
    assert item.proposed_decision == "approve" and item.impact == "medium"
    assert "Disagreement" in item.question
    proposals = item.case["proposals"]
    assert [p["agent"] for p in proposals] == ["Approver A", "Approver B", "Denier"]
    assert all(p["claims"] and p["weight"] is not None for p in proposals)
    assert item.case["record"] == redteam.RECORD
    # every sitting member is told
    told = set(Notification.all_institutions.filter(title__startswith="New case").values_list("recipient", flat=True))
    assert told == {u.pk for u in members}
    assert AuditEvent.objects.filter(action="feedback.item_submit", target_id=str(item.pk)).exists()


def test_votes_need_a_reason_a_seat_and_no_recusal(flagged, members, charlie, bob):
    item = _item(flagged)
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed):
        _vote(item, members[0], reason="  ")
    with pytest.raises(ValidationFailed):
        _vote(item, members[0], choice="amend", amended="approve")  # amending to the same decision
    for outsider in (bob, charlie):
        with pytest.raises(PermissionDenied):
            _vote(item, outsider)
    with institution_scope(item.institution):
        services.review_recuse(item=item, user=members[1], conflict="The organiser is my sister.")
    with pytest.raises(Conflict):
        _vote(item, members[1])
    assert not Vote.all_institutions.exists()
    assert AuditEvent.objects.count() == events + 1  # the recusal is the only write
    _vote(item, members[0])
    with pytest.raises(Conflict):
        _vote(item, members[0], choice="reject")


def test_quorum_and_majority_reach_the_verdict_which_the_domain_applies(flagged, members):
    item = _item(flagged)
    with institution_scope(item.institution):
        services.review_recuse(item=item, user=members[4], conflict="I work for the organiser.")
    _vote(item, members[0], "approve", "Fee paid, crowd small.")
    _vote(item, members[1], "reject", "The noise rules apply here.")
    _vote(item, members[2], "approve", "No article objects.")
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN  # 2 of 4 eligible is not more than half
    _vote(item, members[3], "approve", "Agreed with the majority of the agents.")
    item.refresh_from_db()
    assert (item.status, item.verdict, item.verdict_decision) == (ItemStatus.DECIDED, "approve", "approve")
    assert len(item.verdict_reasons) == 3
    assert item.dissent == [{"vote": "reject", "amended_decision": "", "reason": "The noise rules apply here."}]
    assert item.applied_at is not None and not item.apply_error
    flagged.refresh_from_db()
    assert flagged.final_decision == "approve" and flagged.council_verdict["item"] == item.pk
    actions = set(AuditEvent.objects.filter(target_id=str(item.pk)).values_list("action", flat=True))
    assert {"feedback.item_submit", "feedback.recuse", "feedback.vote", "feedback.verdict", "feedback.apply"} <= actions
    assert AuditEvent.objects.filter(action="agents.cluster_run_verdict", target_id=str(flagged.pk)).exists()
    with pytest.raises(InvalidTransition):
        _vote(item, members[4])


def test_an_amendment_and_a_rejection_change_the_decision(
    aurelia, ada, alice, agents, members, council, django_capture_on_commit_callbacks
):
    cluster = _cluster(aurelia, ada, agents, {"max_disagreement": 0.2})
    amended = _item(_run(cluster, alice, django_capture_on_commit_callbacks))
    for user in members[:3]:
        _vote(amended, user, "amend", "Deny: the site is too small.", amended="deny")
    amended.refresh_from_db()
    assert (amended.verdict, amended.verdict_decision) == ("amend", "deny")
    rejected = _item(_run(cluster, alice, django_capture_on_commit_callbacks))
    for user in members[:3]:
        _vote(rejected, user, "reject", "Not safe.")
    rejected.refresh_from_db()
    # between two decisions, rejecting one is choosing the other
    assert (rejected.verdict, rejected.verdict_decision) == ("reject", "deny")
    assert ClusterRun.all_institutions.get(pk=int(rejected.subject_id)).final_decision == "deny"


def test_verdicts_against_one_agent_lower_its_reputation_and_raise_the_flag_rate(
    aurelia, ada, alice, members, django_capture_on_commit_callbacks
):
    approvers = [redteam.make_agent(aurelia, ada, f"Right {i}") for i in range(2)]
    stubborn = redteam.make_agent(aurelia, ada, "Stubborn", decision="deny", confidence=0.6)
    # dissent alone does not flag here; every standing decision is audited
    policy = {"max_disagreement": 0.9, "min_confidence": 0.0, "audit_sample_rate": 1.0}
    cluster = _cluster(aurelia, ada, [*approvers, stubborn], policy)

    def score():
        with institution_scope(aurelia):
            snapshot = ReputationSnapshot.objects.order_by("-pk").first()
            return AgentReputation.objects.get(snapshot=snapshot, agent=stubborn).score

    runs = [_run(cluster, alice, django_capture_on_commit_callbacks) for _ in range(3)]
    assert all(not r.flagged and r.sampled_for_audit and r.decision == "approve" for r in runs)
    before = score()
    for run in runs:
        item = _item(run)
        assert item.kind == ItemKind.SAMPLED_AUDIT
        with django_capture_on_commit_callbacks(execute=True):
            for user in members[:3]:
                _vote(item, user, "approve", "The applicant meets the rules.")
    assert score() < before  # the council graph now says the stubborn agent was wrong three times
    cluster.refresh_from_db()
    assert cluster.flagging_policy["watch_agents"] == [str(stubborn.uid)]
    assert cluster.flagging_policy["min_confidence"] == 0.0  # the council changed no standing decision
    assert AuditEvent.objects.filter(action="agents.cluster_calibrate").count() == 1
    after = _run(cluster, alice, django_capture_on_commit_callbacks)
    assert after.flagged and any("watch list" in r for r in after.reasons)


def test_a_standing_decision_the_council_changes_raises_the_minimum_confidence(
    aurelia, ada, alice, agents, members, django_capture_on_commit_callbacks
):
    policy = {"max_disagreement": 0.9, "min_confidence": 0.1, "audit_sample_rate": 1.0}
    run = _run(_cluster(aurelia, ada, agents, policy), alice, django_capture_on_commit_callbacks)
    assert not run.flagged and run.sampled_for_audit
    with django_capture_on_commit_callbacks(execute=True):
        for user in members[:3]:
            _vote(_item(run), user, "reject", "The site cannot hold the crowd.")
    cluster = Cluster.all_institutions.get(pk=run.cluster_id)
    assert cluster.flagging_policy["min_confidence"] == pytest.approx(round(run.confidence + 0.05, 4))
    from apps.agents.clusters.calibration import calibration_report

    report = calibration_report(cluster=cluster)
    assert (report.audited, report.changed, report.audited_error_rate) == (1, 1, 1.0)


def test_the_deadline_escalates_to_the_backup_council_and_tells_the_admins_otherwise(
    aurelia, ada, alice, agents, council, members, django_capture_on_commit_callbacks
):
    item = _item(
        _run(_cluster(aurelia, ada, agents, {"max_disagreement": 0.2}), alice, django_capture_on_commit_callbacks)
    )
    assert services.review_items_escalate_due(now=item.deadline - dt.timedelta(minutes=1)) == 0
    assert services.review_items_escalate_due(now=item.deadline + dt.timedelta(minutes=1)) == 1
    item.refresh_from_db()
    assert item.status == ItemStatus.ESCALATED and item.escalated_to is None
    assert Notification.all_institutions.filter(recipient=ada, title__contains="missed its deadline").exists()
    assert AuditEvent.objects.filter(action="feedback.escalate", target_id=str(item.pk)).exists()

    backup = _council(aurelia, name="Back-up council")
    with institution_scope(aurelia):
        services.council_update(
            council=council,
            actor=None,
            name=council.name,
            mandate_task_types=council.mandate_task_types,
            mandate_impacts=council.mandate_impacts,
            quorum=3,
            majority="simple",
            deadline_hours=48,
            escalation="backup_council",
            backup_council=backup,
        )
    second = _item(_run(Cluster.all_institutions.get(name="Review"), alice, django_capture_on_commit_callbacks))
    services.review_items_escalate_due(now=second.deadline + dt.timedelta(minutes=1))
    second.refresh_from_db()
    assert second.escalated_to.council == backup and second.escalated_to.escalated_from == second


def test_a_vote_after_the_deadline_is_refused(flagged, members):
    item = _item(flagged)
    ReviewItem.all_institutions.filter(pk=item.pk).update(deadline=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(services.DeadlinePassed):
        _vote(item, members[0])
    assert not Vote.all_institutions.exists()


def test_without_a_covering_council_the_run_stays_flagged_and_admins_are_told(
    aurelia, ada, alice, agents, django_capture_on_commit_callbacks
):
    run = _run(_cluster(aurelia, ada, agents, {"max_disagreement": 0.2}), alice, django_capture_on_commit_callbacks)
    assert run.status == ClusterRunStatus.FLAGGED and not ReviewItem.all_institutions.exists()
    assert AuditEvent.objects.filter(action="agents.cluster_run_unreviewed", target_id=str(run.pk)).exists()
    assert Notification.all_institutions.filter(recipient=ada, title__contains="no council").exists()


def test_a_citizen_of_another_institution_cannot_sit_on_the_council(council, charlie):
    with institution_scope(council.institution), pytest.raises(ValidationFailed):
        services.council_member_add(
            council=council, user=charlie, kind="citizen", term_start=TODAY, term_end=TODAY, actor=None
        )
    assert not CouncilMember.all_institutions.filter(council=council).exists()


def test_a_council_shared_with_another_institution_hears_its_cases(
    aurelia, borealis, ada, members, council, django_capture_on_commit_callbacks
):
    """Borealis has no council of its own; Aurelia's is shared with it (approval tested in
    test_membership): Borealis's flagged run is heard there and the verdict lands on Borealis's run."""
    from apps.feedback.membership.models import CouncilShare

    with institution_scope(aurelia):
        CouncilShare.objects.create(institution=aurelia, council=council, shared_with=borealis, proposal_uid=uuid4())
    admin = member(UserFactory(username="boreal-admin"), borealis, "institution_admin")
    applicant = member(UserFactory(username="boreal-citizen"), borealis, "citizen")
    agents = [
        redteam.make_agent(borealis, None, "B approver"),
        redteam.make_agent(borealis, None, "B denier", decision="deny", confidence=0.6),
    ]
    with institution_scope(borealis):
        cluster = cluster_services.cluster_create(
            institution=borealis,
            actor=admin,
            name="Borealis review",
            task_type=redteam.TASK_TYPE,
            stages=redteam.stages_of(*[[a] for a in agents]),
            allowed_decisions=["approve", "deny"],
            flagging_policy={"max_disagreement": 0.2},
        )
    with institution_scope(borealis), django_capture_on_commit_callbacks(execute=True):
        run = cluster_services.cluster_run_start(
            cluster=cluster, record=redteam.RECORD, documents={}, actor=admin, concerns=applicant
        )
    item = _item(run)
    assert item.institution == aurelia and item.council == council and item.case_institution == borealis
    assert AuditEvent.objects.filter(action="feedback.item_submit_shared", institution=borealis).exists()
    with django_capture_on_commit_callbacks(execute=True):
        for user in members[:3]:
            _vote(item, user, "amend", "Deny: the site is too small.", amended="deny")
    run.refresh_from_db()
    assert run.final_decision == "deny" and run.council_verdict["council"] == council.name
    told = Notification.all_institutions.get(recipient=applicant, title="The council has decided on your case")
    assert told.institution == borealis
    assert told.url == f"/i/{borealis.slug}/agents/my-decisions/{run.pk}/"


def test_members_who_have_not_voted_are_reminded_once_before_the_deadline(flagged, members):
    item = _item(flagged)
    _vote(item, members[0])
    with institution_scope(item.institution):
        services.review_recuse(item=item, user=members[1], conflict="My neighbour.")
    early = item.deadline - dt.timedelta(hours=20)  # 48 h window: a quarter is 12 h
    assert services.review_items_remind_due(now=early) == 0
    late = item.deadline - dt.timedelta(hours=11)
    assert services.review_items_remind_due(now=late) == 3
    reminded = set(
        Notification.all_institutions.filter(title__startswith="Reminder").values_list("recipient", flat=True)
    )
    assert reminded == {u.pk for u in members[2:]}
    assert services.review_items_remind_due(now=late + dt.timedelta(hours=1)) == 0
