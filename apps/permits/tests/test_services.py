"""The whole path through the services: apply, agents, confirmation or council, issuance as a
credential that verifies, suspension and reinstatement, revocation, expiry; and what must not happen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.feedback import services as feedback_services
from apps.feedback.models import ReviewItem
from apps.identity.credentials.verify import verify_credential
from apps.identity.wallet.selectors import credentials_held
from apps.notifications.models import Notification
from apps.permits import services
from apps.permits.models import ApplicationEvent, ApplicationStatus, Permit, PermitApplication, PermitStatus, PermitType
from apps.permits.tests.conftest import ANSWERS, make_cluster, make_type, pdf
from apps.tenancy.scope import institution_scope
from portal.errors import InvalidTransition, PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


def _apply(permit_type, applicant, capture, data=None, files=None):
    with institution_scope(permit_type.institution), capture(execute=True):
        application = services.application_create(
            permit_type=permit_type,
            applicant=applicant,
            data=ANSWERS if data is None else data,
            files={"site_plan": pdf()} if files is None else files,
        )
    application.refresh_from_db()
    return application


def _codes(permit: Permit) -> set[str]:
    return {e["code"] for e in verify_credential(permit.credential.document)["errors"]}


def test_a_citizen_applies_agents_propose_a_civil_servant_confirms_and_the_permit_verifies(
    permit_type, bob, alice, ada, django_capture_on_commit_callbacks
):
    application = _apply(permit_type, bob, django_capture_on_commit_callbacks)
    assert application.status == ApplicationStatus.AWAITING_CONFIRMATION
    assert application.agent_decision == "approve"
    assert application.cluster_run.concerns == bob
    assert application.cluster_run.record["crowd_size"] == 120
    assert application.cluster_run.record["permit"]["type"] == "street-event"
    assert application.attachments[0]["content_type"] == "application/pdf"

    with institution_scope(application.institution):
        services.application_decide(application=application, actor=alice, approve=True)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ISSUED
    assert application.decided_by == alice
    permit = Permit.all_institutions.get(application=application)
    document = permit.credential.document
    assert "PermitCredential" in document["type"]
    assert document["credentialSubject"]["permit"]["fields"] == ANSWERS
    bob.refresh_from_db()
    assert document["credentialSubject"]["id"] == bob.did
    assert verify_credential(document)["verified"]
    assert permit.credential in credentials_held(user=bob)  # the wallet entry
    steps = list(ApplicationEvent.all_institutions.filter(application=application).values_list("status_to", flat=True))
    assert steps == ["draft", "submitted", "under_review", "awaiting_confirmation", "approved", "issued"]
    assert AuditEvent.objects.filter(action="permits.permit.issue").count() == 1

    with institution_scope(permit.institution):
        services.permit_suspend(permit=permit, actor=ada, reason="Noise complaints under investigation.")
    assert "suspended" in _codes(permit)
    with institution_scope(permit.institution):
        services.permit_reinstate(permit=permit, actor=ada, reason="Complaints unfounded.")
    assert verify_credential(permit.credential.document)["verified"]
    with institution_scope(permit.institution):
        services.permit_revoke(permit=permit, actor=ada, reason="Licence conditions broken.")
    permit.refresh_from_db()
    assert permit.status == PermitStatus.REVOKED
    assert "revoked" in _codes(permit)
    with pytest.raises(InvalidTransition), institution_scope(permit.institution):
        services.permit_reinstate(permit=permit, actor=ada, reason="No.")


def test_a_civil_servant_overturning_the_agents_must_say_why(
    permit_type, bob, alice, django_capture_on_commit_callbacks
):
    application = _apply(permit_type, bob, django_capture_on_commit_callbacks)
    with pytest.raises(ValidationFailed), institution_scope(application.institution):
        services.application_decide(application=application, actor=alice, approve=False, reason="")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.AWAITING_CONFIRMATION
    with institution_scope(application.institution):
        services.application_decide(application=application, actor=alice, approve=False, reason="The park is booked.")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.REFUSED
    assert application.decision_reason == "The park is booked."
    assert AuditEvent.objects.filter(action="permits.application.overturn").count() == 1
    assert not Permit.all_institutions.exists()
    assert Notification.all_institutions.filter(recipient=bob, body="The park is booked.").exists()


def test_a_flagged_case_goes_to_the_council_and_its_verdict_decides(
    aurelia, ada, bob, council_members, django_capture_on_commit_callbacks
):
    _council, people = council_members
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada, flag=True))
    application = _apply(permit_type, bob, django_capture_on_commit_callbacks)
    assert application.status == ApplicationStatus.IN_COUNCIL
    item = ReviewItem.all_institutions.get(
        subject_type="agents.cluster_run", subject_id=str(application.cluster_run_id)
    )
    assert item.citizen == bob
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        for person in people:
            item.refresh_from_db()
            if item.verdict:
                break
            feedback_services.review_vote(item=item, user=person, choice="reject", reason="The crowd is too large.")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.REFUSED
    assert "The crowd is too large." in application.decision_reason
    assert not Permit.all_institutions.exists()
    steps = list(ApplicationEvent.all_institutions.filter(application=application).values_list("status_to", flat=True))
    assert steps[-2:] == ["in_council", "refused"]


def test_a_council_approval_issues_the_permit(aurelia, ada, bob, council_members, django_capture_on_commit_callbacks):
    _council, people = council_members
    permit_type = make_type(aurelia, ada, cluster=make_cluster(aurelia, ada, flag=True))
    application = _apply(permit_type, bob, django_capture_on_commit_callbacks)
    item = ReviewItem.all_institutions.get(
        subject_type="agents.cluster_run", subject_id=str(application.cluster_run_id)
    )
    with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
        for person in people:
            item.refresh_from_db()
            if item.verdict:
                break
            feedback_services.review_vote(item=item, user=person, choice="approve", reason="Safe enough.")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ISSUED
    assert verify_credential(application.permit.credential.document)["verified"]


def test_without_a_cluster_a_civil_servant_decides_after_asking_for_information(
    plain_type, bob, alice, django_capture_on_commit_callbacks
):
    application = _apply(plain_type, bob, django_capture_on_commit_callbacks, files={})
    assert application.status == ApplicationStatus.SUBMITTED
    with institution_scope(application.institution):
        services.application_request_information(application=application, actor=alice, question="Which corner?")
        with pytest.raises(PermissionDenied):
            services.application_answer(application=application, actor=alice, answer="Mine")
        services.application_answer(
            application=application, actor=bob, answer="North corner.", data={"venue": "square"}
        )
    application.refresh_from_db()
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.data["venue"] == "square"
    with institution_scope(application.institution):
        services.application_decide(application=application, actor=alice, approve=True)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ISSUED


def test_the_applicant_withdraws_and_nobody_else_can(plain_type, bob, alice, django_capture_on_commit_callbacks):
    application = _apply(plain_type, bob, django_capture_on_commit_callbacks, files={})
    with institution_scope(application.institution):
        with pytest.raises(PermissionDenied):
            services.application_withdraw(application=application, actor=alice)
        services.application_withdraw(application=application, actor=bob)
        with pytest.raises(InvalidTransition):
            services.application_decide(application=application, actor=alice, approve=True)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.WITHDRAWN


@pytest.mark.parametrize(
    "data, files, field",
    [
        ({**ANSWERS, "crowd_size": "many"}, None, "crowd_size"),
        ({**ANSWERS, "venue": "moon"}, None, "venue"),
        ({k: v for k, v in ANSWERS.items() if k != "crowd_size"}, None, "crowd_size"),
        ({**ANSWERS, "event_date": "next week"}, None, "event_date"),
        ({**ANSWERS, "secret": 1}, None, "secret"),
        (ANSWERS, {}, "site_plan"),
        (ANSWERS, {"site_plan": SimpleUploadedFile("x.pdf", b"MZ\x90\x00 not a pdf")}, "site_plan"),
        (ANSWERS, {"site_plan": SimpleUploadedFile("x.pdf", b"")}, "site_plan"),
    ],
)
def test_bad_input_changes_nothing(permit_type, bob, data, files, field, settings, django_capture_on_commit_callbacks):
    audit_before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as error:
        _apply(permit_type, bob, django_capture_on_commit_callbacks, data=data, files=files)
    assert field in error.value.extra["errors"]
    assert not PermitApplication.all_institutions.exists()
    assert AuditEvent.objects.count() == audit_before
    import os

    media = os.path.join(settings.MEDIA_ROOT, "permits")
    assert not os.path.isdir(media) or not os.listdir(media)


def test_an_oversized_attachment_is_refused(permit_type, bob, monkeypatch, django_capture_on_commit_callbacks):
    from apps.permits import uploads

    monkeypatch.setattr(uploads, "ATTACHMENT_MAX_BYTES", 10)
    with pytest.raises(ValidationFailed):
        _apply(permit_type, bob, django_capture_on_commit_callbacks, files={"site_plan": pdf()})
    assert not PermitApplication.all_institutions.exists()


def test_wrong_roles_change_nothing(permit_type, plain_type, bob, alice, ada, django_capture_on_commit_callbacks):
    with pytest.raises(PermissionDenied), institution_scope(permit_type.institution):
        services.application_create(permit_type=permit_type, applicant=alice, data=ANSWERS, files={"site_plan": pdf()})
    with pytest.raises(PermissionDenied), institution_scope(permit_type.institution):
        services.permit_type_create(institution=permit_type.institution, actor=alice, name="X", slug="x")
    application = _apply(plain_type, bob, django_capture_on_commit_callbacks, files={})
    with pytest.raises(PermissionDenied), institution_scope(permit_type.institution):
        services.application_decide(application=application, actor=bob, approve=True)
    with pytest.raises(PermissionDenied), institution_scope(permit_type.institution):
        services.application_decide(application=application, actor=ada, approve=True)  # casework, not admin
    with institution_scope(permit_type.institution):
        services.application_decide(application=application, actor=alice, approve=True)
    permit = Permit.all_institutions.get()
    with pytest.raises(PermissionDenied), institution_scope(permit.institution):
        services.permit_suspend(permit=permit, actor=alice, reason="Not mine to do.")
    with pytest.raises(ValidationFailed), institution_scope(permit.institution):
        services.permit_suspend(permit=permit, actor=ada, reason="")
    permit.refresh_from_db()
    assert permit.status == PermitStatus.ACTIVE
    assert verify_credential(permit.credential.document)["verified"]


def test_a_permit_type_schema_is_checked(aurelia, ada):
    bad = [
        {"fields": [{"name": "Bad Name", "type": "text"}]},
        {"fields": [{"name": "x", "type": "colour"}]},
        {"fields": [{"name": "x", "type": "choice", "choices": []}]},
        {"fields": [{"name": "x"}, {"name": "x"}]},
        {"fields": [{"name": "permit"}]},
        {"attachments": ["Site plan!"]},
        {"fee_amount": "-1"},
        {"fee_amount": "1.005"},
        {"fee_currency": "XXX"},
        {"validity_days": 0},
    ]
    for values in bad:
        with pytest.raises(ValidationFailed), institution_scope(aurelia):
            services.permit_type_create(institution=aurelia, actor=ada, name="X", slug="x", **values)
    assert not PermitType.all_institutions.exists()
    permit_type = make_type(aurelia, ada, slug="ok")
    assert permit_type.fee_amount == Decimal("25.00") and permit_type.fee_currency == "EUR"
    assert permit_type.process_key == "street_event_permit"


def test_a_cluster_of_another_institution_is_refused(aurelia, ada, borealis):
    from portal.testing import UserFactory, member

    boris = member(UserFactory(username="boris"), borealis, "institution_admin")
    foreign = make_cluster(borealis, boris, name="Foreign")
    with pytest.raises(ValidationFailed) as error, institution_scope(aurelia):
        services.permit_type_create(institution=aurelia, actor=ada, name="X", slug="x", cluster=foreign)
    assert "cluster" in error.value.extra["errors"]


def test_expiry_and_reminders(plain_type, bob, alice, django_capture_on_commit_callbacks):
    application = _apply(plain_type, bob, django_capture_on_commit_callbacks, files={})
    with institution_scope(application.institution):
        services.application_decide(application=application, actor=alice, approve=True)
    permit = Permit.all_institutions.get()
    soon = permit.valid_until - dt.timedelta(days=5)
    assert services.permits_expiry_sweep(now=soon) == (0, 1)
    assert services.permits_expiry_sweep(now=soon) == (0, 0)  # reminded once
    assert Notification.all_institutions.filter(recipient=bob, title__contains="ends on").count() == 1
    assert services.permits_expiry_sweep(now=permit.valid_until + dt.timedelta(seconds=1)) == (1, 0)
    permit.refresh_from_db()
    assert permit.status == PermitStatus.EXPIRED
    assert "expired" in {
        e["code"]
        for e in verify_credential(permit.credential.document, now=permit.valid_until + dt.timedelta(days=1))["errors"]
    }
    assert services.permits_expiry_sweep(now=timezone.now() + dt.timedelta(days=400)) == (0, 0)


def test_a_refusal_is_appealed_once_and_the_councils_verdict_grants_the_permit(
    permit_type, bob, alice, council_members, django_capture_on_commit_callbacks
):
    from apps.feedback.models import ItemKind
    from apps.permits import review
    from portal.errors import Conflict

    _council, people = council_members
    application = _apply(permit_type, bob, django_capture_on_commit_callbacks)
    with institution_scope(application.institution):
        services.application_decide(application=application, actor=alice, approve=False, reason="Too loud.")
        with pytest.raises(PermissionDenied):
            review.application_appeal(application=application, person=alice, grounds="Not mine.")
        with pytest.raises(ValidationFailed):
            review.application_appeal(application=application, person=bob, grounds="")
        item = review.application_appeal(application=application, person=bob, grounds="The park allows 200 people.")
        with pytest.raises(Conflict):
            review.application_appeal(application=application, person=bob, grounds="Again.")
    assert item.kind == ItemKind.APPEAL and item.citizen == bob
    application.refresh_from_db()
    assert application.status == ApplicationStatus.IN_COUNCIL
    with institution_scope(application.institution), django_capture_on_commit_callbacks(execute=True):
        for person in people:
            item.refresh_from_db()
            if item.verdict:
                break
            # rejecting the proposed "refuse" between two decisions is choosing "approve"
            feedback_services.review_vote(item=item, user=person, choice="reject", reason="The venue is big enough.")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ISSUED
    assert "The venue is big enough." in application.decision_reason
    assert verify_credential(application.permit.credential.document)["verified"]


def test_an_appeal_without_a_council_changes_nothing(plain_type, bob, alice, django_capture_on_commit_callbacks):
    from apps.feedback.services import NoCouncilCovers
    from apps.permits import review

    application = _apply(plain_type, bob, django_capture_on_commit_callbacks, files={})
    with institution_scope(application.institution):
        services.application_decide(application=application, actor=alice, approve=False, reason="No.")
        audit_before = AuditEvent.objects.count()
        with pytest.raises(NoCouncilCovers):
            review.application_appeal(application=application, person=bob, grounds="Please.")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.REFUSED
    assert AuditEvent.objects.count() == audit_before
    assert not ReviewItem.all_institutions.exists()


def test_the_agents_decision_on_an_application_is_appealed_on_the_application_s_page(
    client, permit_type, bob, django_capture_on_commit_callbacks
):
    """The run shows in bob's "decisions about you" (its explanations and model cards), but an
    appeal of the run alone would not move the application: the page sends him to his case."""
    from apps.agents import review as agents_review
    from portal.errors import Conflict

    application = _apply(permit_type, bob, django_capture_on_commit_callbacks)
    run = application.cluster_run
    client.force_login(bob)
    page = client.get(f"/i/{application.institution.slug}/agents/my-decisions/{run.pk}/").content.decode()
    assert f"/permits/applications/{application.pk}/" in page and "Appeal to the council" not in page
    ClusterRunModel = type(run)
    ClusterRunModel.all_institutions.filter(pk=run.pk).update(final_decision="approve")
    run.refresh_from_db()
    with institution_scope(application.institution), pytest.raises(Conflict):
        agents_review.cluster_run_appeal(run=run, person=bob, grounds="I disagree.")
    assert not ReviewItem.all_institutions.exists()


def test_the_agents_read_a_number_with_decimals_as_a_number(aurelia, ada, bob, django_capture_on_commit_callbacks):
    """Answers keep a decimal as exact text; a rule comparing it, or a model scaling it, gets a number."""
    from apps.agents import services as agent_services
    from apps.agents.clusters import services as cluster_services
    from apps.agents.models import Agent, AgentStatus, ClusterRun

    with institution_scope(aurelia):
        agent = agent_services.agent_register(
            institution=aurelia,
            actor=ada,
            name="Long events",
            purpose="Refuses events over 2.25 hours.",
            capabilities=["permits.decimal"],
            engine="rules",
            config={
                "rule_set": "decimal",
                "version": "1",
                "rules": [
                    {
                        "id": "long",
                        "version": "1",
                        "expression": "duration > 2.25",
                        "decision": "deny",
                        "explanation": "Too long.",
                    }
                ],
                "default_decision": "approve",
                "default_explanation": "Short enough.",
            },
        )
    Agent.all_institutions.filter(pk=agent.pk).update(status=AgentStatus.CERTIFIED)  # fixture shortcut
    with institution_scope(aurelia):
        cluster = cluster_services.cluster_create(
            institution=aurelia,
            actor=ada,
            name="Decimals",
            task_type="permits.decimal",
            stages=[{"name": "rules", "agents": [str(agent.uid)]}],
            allowed_decisions=["approve", "deny"],
        )
        permit_type = services.permit_type_create(
            institution=aurelia,
            actor=ada,
            name="Concert",
            slug="concert",
            fields=[{"name": "duration", "label": "Hours", "type": "number", "required": True}],
            attachments=[],
            fee_amount="0",
            fee_currency="EUR",
            validity_days=1,
            cluster=cluster,
        )
    decisions = {}
    for hours in ("2.5", "2"):
        with institution_scope(aurelia), django_capture_on_commit_callbacks(execute=True):
            application = services.application_create(
                permit_type=permit_type, applicant=bob, data={"duration": hours}, files={}
            )
        application.refresh_from_db()
        assert application.data["duration"] == (hours if "." in hours else int(hours))  # stored exactly
        run = ClusterRun.all_institutions.get(pk=application.cluster_run_id)
        assert run.record["duration"] == float(hours)
        decisions[hours] = application.agent_decision
    assert decisions == {"2.5": "deny", "2": "approve"}
