"""The threshold approvals API: roles, tenancy, problem documents, and nothing changed on errors."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.tenancy.models import Institution
from apps.trust.models import ProposalStatus, ThresholdProposal, ThresholdSignature
from apps.trust.tests.factories import admission_proposal
from portal.testing import api_as

pytestmark = pytest.mark.django_db

BASE = "/api/v1/institutions/{slug}/trust/"


def _url(slug, rest=""):
    return BASE.format(slug=slug) + rest


@pytest.fixture
def proposal(policy, aurelia, ada):
    return admission_proposal(institution=aurelia, actor=ada)


def _domain_events() -> int:
    """Audit events of changes; refusals themselves are audited by the API's zero-trust layer."""
    return AuditEvent.objects.exclude(action__in=["identity.api_forbidden", "identity.api_auth_failed"]).count()


def _unchanged(func):
    before = (
        _domain_events(),
        ThresholdSignature.objects.count(),
        list(ThresholdProposal.all_institutions.values_list("pk", "status")),
    )
    func()
    after = (
        _domain_events(),
        ThresholdSignature.objects.count(),
        list(ThresholdProposal.all_institutions.values_list("pk", "status")),
    )
    assert after == before


def test_create_sign_and_take_effect_over_the_api(policy, aurelia, borealis, ada, beatrice):
    response = api_as(ada).post(
        _url("aurelia", "proposals/"),
        {
            "act_type": "admit_institution",
            "payload": {"name": "City of Caldera", "slug": "caldera", "kind": "municipality"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "proposed" and body["k"] == 2 and body["can_sign"] and body["can_withdraw"]
    assert body["canonical"].startswith('{"act_type":"admit_institution"')
    proposal_id = body["id"]
    response = api_as(ada).post(_url("aurelia", f"proposals/{proposal_id}/sign/"))
    assert response.status_code == 200 and response.json()["valid_signatures"] == 1
    # Borealis finds it in its own inbox, under its own slug.
    inbox = api_as(beatrice).get(_url("borealis", "proposals/")).json()
    assert [p["id"] for p in inbox["results"]] == [proposal_id]
    response = api_as(beatrice).post(_url("borealis", f"proposals/{proposal_id}/sign/"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "approved" and body["valid_signatures"] == 2
    assert [s["counted"] for s in body["signatures"]] == [True, True]
    assert body["signatures"][0]["signed_by"] is None  # Aurelia's signer is Aurelia's business
    assert body["signatures"][1]["signed_by"] == "beatrice"
    assert Institution.objects.filter(slug="caldera").exists()
    # The export verifies anywhere, anonymously.
    export = api_as(beatrice).get(_url("borealis", f"proposals/{proposal_id}/export/")).json()
    from rest_framework.test import APIClient

    report = APIClient().post("/api/v1/trust/verify/", export, format="json").json()
    assert report["effective"] and report["valid_signatures"] == 2 and report["digest"] == body["digest"]


def test_roles(proposal, aurelia, alice, bob, ada):
    # A civil servant and a citizen may not read the inbox nor sign.
    for user in (alice, bob):
        assert api_as(user).get(_url("aurelia", "proposals/")).status_code == 403
        _unchanged(lambda u=user: api_as(u).post(_url("aurelia", f"proposals/{proposal.pk}/sign/")))
        assert api_as(user).post(_url("aurelia", f"proposals/{proposal.pk}/sign/")).status_code == 403
    # Everyone in the institution sees the policies.
    assert api_as(bob).get(_url("aurelia", "policies/")).status_code == 200


def test_an_auditor_reads_but_cannot_propose(policy, aurelia, alice):
    from apps.tenancy.models import Role
    from portal.testing import enrol_totp, member

    member(alice, aurelia, Role.AUDITOR)
    enrol_totp(alice)
    assert api_as(alice).get(_url("aurelia", "proposals/")).status_code == 200
    response = api_as(alice).post(
        _url("aurelia", "proposals/"),
        {"act_type": "admit_institution", "payload": {"name": "X", "slug": "x", "kind": "ngo"}},
        format="json",
    )
    assert response.status_code == 403
    assert not ThresholdProposal.all_institutions.exists()


def test_charlie_gets_404(proposal, charlie):
    for path in ["proposals/", f"proposals/{proposal.pk}/", f"proposals/{proposal.pk}/export/", "policies/"]:
        response = api_as(charlie).get(_url("aurelia", path))
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")
    _unchanged(lambda: api_as(charlie).post(_url("aurelia", f"proposals/{proposal.pk}/sign/")))


def test_a_non_authority_does_not_see_the_proposal(proposal, nordwind, nils):
    assert api_as(nils).get(_url("nordwind", "proposals/")).json()["results"] == []
    assert api_as(nils).get(_url("nordwind", f"proposals/{proposal.pk}/")).status_code == 404
    _unchanged(lambda: api_as(nils).post(_url("nordwind", f"proposals/{proposal.pk}/sign/")))
    assert api_as(nils).post(_url("nordwind", f"proposals/{proposal.pk}/sign/")).status_code == 404


def test_bad_input_is_a_problem_document_and_changes_nothing(policy, ada, proposal):
    for body in [
        {},
        {"act_type": "launch_rockets", "payload": {}},
        {"act_type": "admit_institution", "payload": {"name": "", "slug": "x", "kind": "ngo"}},
        {"act_type": "admit_institution", "payload": {"name": "X", "slug": "aurelia", "kind": "ngo"}},
        {"act_type": "admit_institution", "payload": {"name": "X", "slug": "x", "kind": "ngo"}, "expires_in_days": 0},
        {"act_type": "certify_agent", "payload": {}},
    ]:
        response = None

        def post(b=body):
            nonlocal response
            response = api_as(ada).post(_url("aurelia", "proposals/"), b, format="json")

        _unchanged(post)
        assert response.status_code in (400, 409), (body, response.status_code)
        assert response["Content-Type"].startswith("application/problem+json")


def test_signing_twice_is_a_conflict(proposal, ada):
    api_as(ada).post(_url("aurelia", f"proposals/{proposal.pk}/sign/"))
    response = None

    def again():
        nonlocal response
        response = api_as(ada).post(_url("aurelia", f"proposals/{proposal.pk}/sign/"))

    _unchanged(again)
    assert response.status_code == 409 and response.json()["code"] == "conflict"


def test_withdraw(proposal, ada, beatrice):
    response = api_as(beatrice).post(_url("borealis", f"proposals/{proposal.pk}/withdraw/"), {}, format="json")
    assert response.status_code == 403
    response = api_as(ada).post(
        _url("aurelia", f"proposals/{proposal.pk}/withdraw/"), {"reason": "typo"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == ProposalStatus.REJECTED
    response = api_as(ada).post(_url("aurelia", f"proposals/{proposal.pk}/withdraw/"), {}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


def test_the_list_query_count_is_pinned(policy, aurelia, ada, django_assert_max_num_queries):
    for i in range(5):
        admission_proposal(institution=aurelia, actor=ada, slug=f"city-{i}")
    client = api_as(ada)
    with django_assert_max_num_queries(12):
        response = client.get(_url("aurelia", "proposals/"))
    assert response.json()["count"] == 5
    with django_assert_max_num_queries(12):
        client.get(_url("aurelia", "policies/"))


def test_verify_endpoint_rejects_garbage_without_error(db):
    from rest_framework.test import APIClient

    response = APIClient().post("/api/v1/trust/verify/", {"format": "nope"}, format="json")
    assert response.status_code == 200 and response.json()["effective"] is False
