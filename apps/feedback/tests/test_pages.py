"""The council pages: list and admin forms, the queue and who sees it, the case page with its
vote and recusal forms, the verdict on the run page, the public record, the dashboard panel."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from apps.agents.clusters import redteam
from apps.agents.clusters import services as cluster_services
from apps.agents.models import ClusterRun, ClusterRunStatus
from apps.audit.models import AuditEvent
from apps.feedback import services
from apps.feedback.models import Council, ItemStatus, Recusal, ReviewItem, Vote
from apps.tenancy.models import Role
from apps.tenancy.scope import institution_scope
from portal.testing import UserFactory, enrol_totp, member

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()
BASE = "/i/aurelia/councils/"
NODE_EVENTS = ["identity.login", "identity.logout", "identity.api_forbidden", "identity.api_auth_failed"]


@pytest.fixture(autouse=True)
def _redteam_engine():
    yield
    redteam.forget_engine()


def make_council(institution, name="Permits council", task_types=(redteam.TASK_TYPE,), quorum=3, **extra) -> Council:
    with institution_scope(institution):
        return services.council_create(
            institution=institution,
            actor=None,
            name=name,
            mandate_task_types=list(task_types),
            mandate_impacts=["medium", "high"],
            quorum=quorum,
            majority=extra.pop("majority", "simple"),
            deadline_hours=48,
            escalation="institution_admin",
            **extra,
        )


def seat(council, username, first_name="", kind="citizen"):
    """A person of the council's institution seated on it, with the second factor their role needs."""
    with institution_scope(council.institution):
        user = member(UserFactory(username=username, first_name=first_name), council.institution, Role.CITIZEN)
        services.council_member_add(
            council=council,
            user=user,
            kind=kind,
            term_start=TODAY - dt.timedelta(days=1),
            term_end=TODAY + dt.timedelta(days=365),
            actor=None,
        )
    enrol_totp(user)
    return user


def flagged_run(institution, admin, submitter, capture) -> ClusterRun:
    """A real cluster run that the agents flag (two approvers, one denier), so it reaches the council.
    The agents and their cluster are made once per institution."""
    from apps.agents.models import Cluster

    cluster = Cluster.all_institutions.filter(institution=institution, name="Review").first()
    if cluster is None:
        agents = [
            redteam.make_agent(institution, admin, "Approver A"),
            redteam.make_agent(institution, admin, "Approver B"),
            redteam.make_agent(institution, admin, "Denier", decision="deny", confidence=0.6),
        ]
        with institution_scope(institution):
            cluster = cluster_services.cluster_create(
                institution=institution,
                actor=admin,
                name="Review",
                task_type=redteam.TASK_TYPE,
                stages=redteam.stages_of(*[[a] for a in agents]),
                allowed_decisions=["approve", "deny"],
                flagging_policy={"max_disagreement": 0.2},
            )
    with institution_scope(institution), capture(execute=True):
        run = cluster_services.cluster_run_start(cluster=cluster, record=redteam.RECORD, documents={}, actor=submitter)
    run.refresh_from_db()
    assert run.status == ClusterRunStatus.FLAGGED
    return run


def item_of(run) -> ReviewItem:
    return ReviewItem.all_institutions.get(subject_type="agents.cluster_run", subject_id=str(run.pk))


def vote(item, user, choice="approve", reason="The record supports it.", amended=""):
    with institution_scope(item.institution):
        return services.review_vote(item=item, user=user, choice=choice, reason=reason, amended_decision=amended)


@dataclass
class World:
    council: Council
    other: Council
    members: list
    outsider_member: object  # sits on the other council only
    run: ClusterRun
    item: ReviewItem


@pytest.fixture
def world(aurelia, ada, alice, django_capture_on_commit_callbacks) -> World:
    council = make_council(aurelia)
    other = make_council(aurelia, name="Budget council", task_types=["budget.review"])
    members = [seat(council, f"councillor{i}", f"Councillor{i}") for i in range(4)]
    dora = seat(other, "dora", "Dora")
    run = flagged_run(aurelia, ada, alice, django_capture_on_commit_callbacks)
    return World(council, other, members, dora, run, item_of(run))


def state():
    return (
        AuditEvent.objects.exclude(action__in=NODE_EVENTS).count(),
        Vote.all_institutions.count(),
        Recusal.all_institutions.count(),
        list(ReviewItem.all_institutions.order_by("pk").values_list("pk", "status", "verdict")),
        list(Council.all_institutions.order_by("pk").values_list("pk", "name", "quorum", "mandate_task_types")),
    )


def item_url(item) -> str:
    return f"{BASE}{item.council_id}/items/{item.pk}/"


# --- the list ----------------------------------------------------------------------------------


def test_every_member_reads_the_councils_and_their_mandates_but_not_their_queues(client, bob, world):
    client.force_login(bob)
    html = client.get(BASE).content.decode()
    assert "Permits council" in html and "Budget council" in html
    assert f"Reviews {redteam.TASK_TYPE} cases with medium, high impact." in html
    assert "At least 3 votes; majority: More than half; 48 hours to decide." in html
    assert f'href="{BASE}{world.council.pk}/"' not in html  # no link to a queue bob cannot see
    assert "Open cases" not in html and "New council" not in html


def test_a_member_sees_the_open_count_and_link_of_their_own_council_only(client, world):
    client.force_login(world.members[0])
    html = client.get(BASE).content.decode()
    assert f'href="{BASE}{world.council.pk}/"' in html and f'href="{BASE}{world.other.pk}/"' not in html
    assert "You sit on it" in html and "Open cases" in html


def test_the_list_pins_its_queries(client, aurelia, ada, django_assert_max_num_queries):
    for i in range(6):
        make_council(aurelia, name=f"Council {i}", task_types=[f"t{i}.review"])
    client.force_login(ada)
    with django_assert_max_num_queries(14):
        response = client.get(BASE)
    assert response.status_code == 200 and response.content.decode().count("hours to decide") == 6


# --- creating and editing -------------------------------------------------------------------------


def _council_form(**overrides):
    data = {
        "name": "Housing council",
        "description": "Reviews housing allocations.",
        "mandate_task_types": "housing.allocate\n\nhousing.evict\n",
        "mandate_impacts": ["high", "critical"],
        "quorum": "5",
        "majority": "two_thirds",
        "deadline_hours": "96",
        "escalation": "institution_admin",
        "backup_council": "",
        "strata_fields": "district\nage_band",
        "public_record": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_only_admins_reach_the_council_forms(client, bob, world):
    before = state()
    for user in (bob, world.members[0]):
        client.force_login(user)
        assert client.get(BASE + "new/").status_code == 403
        assert client.post(BASE + "new/", _council_form()).status_code == 403
        assert client.post(f"{BASE}{world.council.pk}/edit/", _council_form()).status_code == 403
    assert state() == before


def test_an_admin_creates_and_edits_a_council_through_the_form(client, ada, aurelia, world):
    client.force_login(ada)
    assert 'id="id_mandate_impacts_group"' in client.get(BASE + "new/").content.decode()
    response = client.post(BASE + "new/", _council_form())
    council = Council.all_institutions.get(name="Housing council")
    assert response.status_code == 302 and response["Location"] == f"{BASE}{council.pk}/"
    assert council.institution == aurelia
    assert council.mandate_task_types == ["housing.allocate", "housing.evict"]
    assert (council.mandate_impacts, council.quorum, council.majority) == (["high", "critical"], 5, "two_thirds")
    assert council.strata_fields == ["district", "age_band"] and council.public_record
    assert AuditEvent.objects.filter(action="feedback.council_create", target_id=str(council.pk)).exists()

    edit = f"{BASE}{council.pk}/edit/"
    assert 'value="Housing council"' in client.get(edit).content.decode()
    data = _council_form(escalation="backup_council", backup_council=str(world.other.pk), public_record=None)
    assert client.post(edit, data).status_code == 302
    council.refresh_from_db()
    assert council.backup_council == world.other and not council.public_record


def test_a_bad_council_form_says_why_and_changes_nothing(client, ada, world):
    client.force_login(ada)
    before = state()
    response = client.post(BASE + "new/", _council_form(name="Budget council", mandate_impacts=None, quorum="0"))
    html = response.content.decode()
    assert response.status_code == 400
    assert "Choose the impact levels it reviews." in html and 'href="#id_mandate_impacts_group"' in html
    assert "nothing was changed" in html
    # the backup council is required when escalating to one
    response = client.post(BASE + "new/", _council_form(escalation="backup_council"))
    assert response.status_code == 400 and "Name the back-up council" in response.content.decode()
    # the service's own check (a taken name) comes back on the form too
    response = client.post(BASE + "new/", _council_form(name="Budget council"))
    assert response.status_code == 400 and "Another council of this institution has this name." in (
        response.content.decode()
    )
    assert state() == before


# --- the queue -----------------------------------------------------------------------------------


def test_the_queue_is_for_its_members_admins_and_auditors(client, aurelia, alice, bob, ada, world):
    queue = f"{BASE}{world.council.pk}/"
    auditor = member(UserFactory(username="audra"), aurelia, Role.AUDITOR)
    enrol_totp(auditor)
    for user in (world.members[0], ada, auditor):
        client.force_login(user)
        response = client.get(queue)
        assert response.status_code == 200, user
        assert f'href="{item_url(world.item)}"' in response.content.decode()
    for user in (alice, bob, world.outsider_member):  # dora sits on the budget council only
        client.force_login(user)
        assert client.get(queue).status_code == 403, user
        assert client.get(item_url(world.item)).status_code == 403, user


def test_a_member_of_council_a_cannot_see_council_b(client, world, aurelia):
    client.force_login(world.members[0])
    assert client.get(f"{BASE}{world.other.pk}/").status_code == 403
    client.force_login(world.outsider_member)
    assert client.get(f"{BASE}{world.other.pk}/").status_code == 200
    assert client.get(f"{BASE}{world.council.pk}/").status_code == 403


def test_another_institution_gets_404(client, charlie, world):
    client.force_login(charlie)
    before = state()
    for path in (BASE, f"{BASE}{world.council.pk}/", item_url(world.item)):
        assert client.get(path).status_code == 404
    assert client.post(item_url(world.item) + "vote/", {"choice": "approve", "reason": "x"}).status_code == 404
    assert state() == before


def test_the_queue_lists_open_cases_first_then_decided_ones(
    client, aurelia, ada, alice, world, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    decided = item_of(flagged_run(aurelia, ada, alice, django_capture_on_commit_callbacks))
    for user in world.members[:3]:
        vote(decided, user)
    for _ in range(3):
        flagged_run(aurelia, ada, alice, django_capture_on_commit_callbacks)
    client.force_login(world.members[0])
    with django_assert_max_num_queries(17):
        response = client.get(f"{BASE}{world.council.pk}/")
    html = response.content.decode()
    assert html.count("left</span>") == 4  # the open ones, with their time left
    assert html.index(item_url(world.item)) < html.index("Decided and escalated cases") < html.index(item_url(decided))
    assert "Approve the proposed decision" in html  # the decided case's verdict
    # the fragment the live page fetches holds the same lists, without the page around it
    fragment = client.get(f"{BASE}{world.council.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and item_url(decided) in fragment


# --- the case ------------------------------------------------------------------------------------


def test_the_case_is_shown_as_the_agents_saw_it(client, world):
    client.force_login(world.members[0])
    html = client.get(item_url(world.item)).content.decode()
    assert world.item.question.split(":")[0] in html
    assert "<code>applicant.age</code></dt><dd>34</dd>" in html and "<code>crowd_size</code></dt><dd>120</dd>" in html
    for name in ("Approver A", "Approver B", "Denier"):
        assert name in html
    assert "Claims and their evidence" in html and "Reputation weight" in html
    assert "The record supports this decision." in html and "Record field <code>crowd_size</code>: 120" in html
    assert "<dd>0.333</dd>" in html  # the denier's reputation weight, a third of the vote
    assert "Why the agents flagged it" in html
    assert 'name="choice"' in html and 'name="conflict"' in html and 'name="amended_decision"' in html
    assert '<option value="deny">deny</option>' in html  # the decision instead: only the other one
    assert '<option value="approve">' not in html
    assert 'aria-live="polite"' in html and "No member has voted yet." in html


def test_an_admin_reads_the_case_but_is_offered_no_vote(client, ada, world):
    client.force_login(ada)
    html = client.get(item_url(world.item)).content.decode()
    assert "Approver A" in html and 'name="choice"' not in html and "only the council's sitting members vote" in html


def test_a_public_model_card_is_linked(client, world):
    from apps.agents.models import Agent, ModelCard

    agent = Agent.all_institutions.get(name="Denier")
    ModelCard.all_institutions.update_or_create(agent=agent, institution=agent.institution, defaults={"public": True})
    client.force_login(world.members[0])
    html = client.get(item_url(world.item)).content.decode()
    assert f'href="/agents/{agent.uid}/model-card/"' in html
    other = Agent.all_institutions.get(name="Approver A")
    assert f'href="/agents/{other.uid}/model-card/"' not in html


def test_a_member_votes_with_a_reason_through_the_page(client, world):
    client.force_login(world.members[0])
    response = client.post(item_url(world.item) + "vote/", {"choice": "approve", "reason": "Fee paid, crowd small."})
    assert response.status_code == 302 and response["Location"] == item_url(world.item)
    cast = Vote.all_institutions.get()
    assert (cast.member.user, cast.choice, cast.reason) == (world.members[0], "approve", "Fee paid, crowd small.")
    assert AuditEvent.objects.filter(action="feedback.vote", target_id=str(world.item.pk)).count() == 1
    html = client.get(item_url(world.item)).content.decode()
    assert "Fee paid, crowd small." in html and "You have voted on this case." in html
    assert 'name="choice"' not in html  # one vote per member: the form is gone


@pytest.mark.parametrize(
    "data, message",
    [
        ({"choice": "approve", "reason": "  "}, "Give the reason for your vote"),
        ({"reason": "Because."}, "Vote approve, reject or amend."),
        ({"choice": "amend", "reason": "Deny it."}, "Choose the decision you propose instead."),
        ({"choice": "amend", "amended_decision": "approve", "reason": "Same."}, "Select a valid choice"),
    ],
)
def test_a_bad_vote_says_why_and_changes_nothing(client, world, data, message):
    client.force_login(world.members[0])
    before = state()
    response = client.post(item_url(world.item) + "vote/", data)
    html = response.content.decode()
    assert response.status_code == 400 and message in html
    assert 'role="alert"' in html and "nothing was changed" in html
    assert state() == before


def test_service_refusals_are_shown_and_change_nothing(client, ada, world):
    item = world.item
    # recused: the service refuses the vote (Conflict)
    with institution_scope(item.institution):
        services.review_recuse(item=item, user=world.members[1], conflict="My cousin organises it.")
    client.force_login(world.members[1])
    before = state()
    response = client.post(item_url(item) + "vote/", {"choice": "approve", "reason": "Fine."})
    assert response.status_code == 409 and "You recused yourself from this case." in response.content.decode()
    # an administrator who does not sit on the council (PermissionDenied)
    client.force_login(ada)
    response = client.post(item_url(item) + "vote/", {"choice": "approve", "reason": "Fine."})
    assert response.status_code == 403 and "Only the council&#x27;s sitting members" in response.content.decode()
    # past the deadline (DeadlinePassed)
    ReviewItem.all_institutions.filter(pk=item.pk).update(deadline=item.deadline - dt.timedelta(days=30))
    client.force_login(world.members[0])
    response = client.post(item_url(item) + "vote/", {"choice": "approve", "reason": "Fine."})
    assert response.status_code == 409 and "The deadline of this case has passed" in response.content.decode()
    assert state() == before


def test_a_decided_case_refuses_votes_with_a_clear_message(client, world):
    for user in world.members[:3]:
        vote(world.item, user)
    world.item.refresh_from_db()
    assert world.item.status == ItemStatus.DECIDED
    client.force_login(world.members[3])
    before = state()
    response = client.post(item_url(world.item) + "vote/", {"choice": "reject", "reason": "Too late?"})
    assert response.status_code == 409 and "This case is no longer open" in response.content.decode()
    assert state() == before


def test_a_member_recuses_through_the_page_and_a_conflict_is_required(client, world):
    client.force_login(world.members[2])
    before = state()
    response = client.post(item_url(world.item) + "recuse/", {"conflict": ""})
    assert response.status_code == 400 and "Say what the conflict of interest is." in response.content.decode()
    assert state() == before
    response = client.post(item_url(world.item) + "recuse/", {"conflict": "I work for the organiser."})
    assert response.status_code == 302
    recusal = Recusal.all_institutions.get()
    assert recusal.member.user == world.members[2] and recusal.conflict == "I work for the organiser."
    html = client.get(item_url(world.item)).content.decode()
    assert "You recused yourself from this case." in html and 'name="choice"' not in html


def test_the_verdict_is_shown_on_the_case_and_to_the_citizen_on_the_run_page(client, alice, world):
    vote(world.item, world.members[0], "approve", "Fee paid.")
    vote(world.item, world.members[1], "reject", "Noise rules apply.")
    vote(world.item, world.members[2], "approve", "Crowd is small.")
    client.force_login(world.members[3])
    response = client.post(item_url(world.item) + "vote/", {"choice": "approve", "reason": "Agreed."})
    assert response.status_code == 302
    world.item.refresh_from_db()
    assert world.item.status == ItemStatus.DECIDED
    html = client.get(item_url(world.item)).content.decode()
    assert "The council's verdict" in html and "Noise rules apply." in html and "Applied on" in html
    assert 'name="choice"' not in html
    # the person who put the case sees the verdict on the run's page
    client.force_login(alice)
    html = client.get(f"/i/aurelia/agents/runs/{world.run.pk}/").content.decode()
    assert "Council verdict" in html and "Fee paid." in html and "Noise rules apply." in html
    assert "Permits council" in html


def test_the_case_fragment_is_the_deliberation_only(client, world):
    vote(world.item, world.members[0], "approve", "Fee paid.")
    client.force_login(world.members[1])
    fragment = client.get(item_url(world.item), headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and 'id="item-live"' in fragment and "Fee paid." in fragment
    assert 'data-status="open"' in fragment and "Approver A" not in fragment


# --- the public record -----------------------------------------------------------------------------


def test_the_public_record_shows_verdicts_without_names(client, world):
    vote(world.item, world.members[0], "approve", "The fee is paid.")
    vote(world.item, world.members[1], "reject", "The square is too small.")
    vote(world.item, world.members[2], "approve", "Safe enough.")
    vote(world.item, world.members[3], "approve", "Agreed.")
    client.logout()
    response = client.get(f"/councils/aurelia/{world.council.pk}/record/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Public record of Permits council" in html and redteam.TASK_TYPE in html
    assert "The fee is paid." in html and "The square is too small." in html
    assert "approve 3, reject 1, amend 0" in html
    for name in ("councillor", "Councillor", "alice", "Alice", "ada"):
        assert name not in html, name
    assert "crowd_size" not in html and "applicant" not in html  # no field of the record


def test_a_council_without_a_public_record_is_404_and_so_is_another_institutions_slug(client, world, borealis, aurelia):
    private = make_council(aurelia, name="Closed council", task_types=["closed.review"], public_record=False)
    assert client.get(f"/councils/aurelia/{private.pk}/record/").status_code == 404
    assert client.get(f"/councils/borealis/{world.council.pk}/record/").status_code == 404
    assert client.get(f"/councils/nowhere/{world.council.pk}/record/").status_code == 404


def test_the_public_record_pins_its_queries(
    client, aurelia, ada, alice, world, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    for _ in range(3):
        item = item_of(flagged_run(aurelia, ada, alice, django_capture_on_commit_callbacks))
        for user in world.members[:3]:
            vote(item, user)
    with django_assert_max_num_queries(6):
        response = client.get(f"/councils/aurelia/{world.council.pk}/record/")
    assert response.content.decode().count("approve 3, reject 0, amend 0") == 3


# --- the dashboard and the navigation ------------------------------------------------------------


def test_the_dashboard_lists_the_cases_awaiting_the_members_vote(client, world):
    client.force_login(world.members[0])
    html = client.get("/i/aurelia/").content.decode()
    assert "Council review: cases awaiting your vote" in html and f'href="{item_url(world.item)}"' in html
    assert "1 case is waiting for your vote." in html
    assert "once the review queue is switched on" not in html  # the placeholder panel is gone
    vote(world.item, world.members[0])
    html = client.get("/i/aurelia/").content.decode()
    assert "No case is waiting for your vote." in html
    client.force_login(world.outsider_member)  # the budget council's member: not this case
    assert f'href="{item_url(world.item)}"' not in client.get("/i/aurelia/").content.decode()


def test_the_navigation_links_to_the_councils(client, bob):
    client.force_login(bob)
    assert f'href="{BASE}"' in client.get("/i/aurelia/").content.decode()


def test_a_verdict_the_domain_refuses_is_shown_and_an_admin_applies_it_again(client, aurelia, ada, world):
    from apps.feedback.subjects import ReviewSubject, register_subject
    from portal.errors import InvalidTransition

    def refuse(*, item, actor=None):
        raise InvalidTransition("The permit was withdrawn meanwhile.")

    subject = register_subject(ReviewSubject(type="tests.refusing_case", label="A refusing case", apply=refuse))
    with institution_scope(aurelia):
        item = services.review_item_submit(
            institution=aurelia,
            kind="critical_act",
            subject_type=subject.type,
            subject_id="7",
            task_type=redteam.TASK_TYPE,
            impact="high",
            question="Grant it?",
            proposed_decision="approve",
            allowed_decisions=["approve", "deny"],
            case={"record": {"crowd_size": 10}},
            council=world.council,
        )
    for user in world.members[:3]:
        vote(item, user, "reject", "Too risky.")
    client.force_login(world.members[0])
    html = client.get(item_url(item)).content.decode()
    assert "The verdict stands but could not be applied: The permit was withdrawn meanwhile." in html
    assert "<dd>deny</dd>" in html and "Applied on" not in html
    assert "Apply the verdict again" not in html  # members cannot; administrators can
    url = item_url(item) + "apply-again/"
    assert client.post(url).status_code == 403

    # the domain now accepts: an administrator applies it again, and the refusal is cleared
    accepted = []
    from apps.feedback import subjects

    subjects._SUBJECTS[subject.type] = ReviewSubject(
        type=subject.type, label=subject.label, apply=lambda *, item, actor=None: accepted.append(item.pk)
    )
    client.force_login(ada)
    assert "Apply the verdict again" in client.get(item_url(item)).content.decode()
    response = client.post(url, follow=True)
    assert "The verdict is applied." in response.content.decode() and accepted == [item.pk]
    item.refresh_from_db()
    assert item.applied_at is not None and not item.apply_error
    assert AuditEvent.objects.filter(action="feedback.apply_again", target_id=str(item.pk)).exists()
    again = client.post(url, follow=True).content.decode()
    assert "Only a verdict that could not be applied is applied again." in again
    assert accepted == [item.pk]
    subjects._SUBJECTS.pop(subject.type)


def test_an_escalated_case_shows_where_it_went(client, aurelia, world):
    with institution_scope(aurelia):
        services.council_update(
            council=world.council,
            actor=None,
            name=world.council.name,
            mandate_task_types=world.council.mandate_task_types,
            mandate_impacts=world.council.mandate_impacts,
            quorum=3,
            majority="simple",
            deadline_hours=48,
            escalation="backup_council",
            backup_council=world.other,
        )
    services.review_items_escalate_due(now=world.item.deadline + dt.timedelta(minutes=1))
    successor = ReviewItem.all_institutions.get(escalated_from=world.item)
    client.force_login(world.members[0])
    html = client.get(f"{BASE}{world.council.pk}/").content.decode()
    assert "Escalated — to Budget council" in html and "No case is waiting for this council." in html
    assert "The deadline passed: the case went to Budget council." in client.get(item_url(world.item)).content.decode()
    client.force_login(world.outsider_member)  # dora sits on the back-up council
    html = client.get(item_url(successor)).content.decode()
    assert "Passed on from" in html and "Permits council, which missed its deadline" in html
    assert 'name="choice"' in html
