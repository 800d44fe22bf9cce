"""The threshold approvals pages: inbox, detail with what is signed, sign with confirmation, propose."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.tenancy.models import Institution
from apps.trust.models import ProposalStatus, ThresholdProposal, ThresholdSignature
from apps.trust.tests.factories import admission_proposal

pytestmark = pytest.mark.django_db


def _page(slug, rest=""):
    return f"/i/{slug}/trust/{rest}"


@pytest.fixture
def proposal(policy, aurelia, ada):
    return admission_proposal(institution=aurelia, actor=ada)


def _snapshot():
    return (
        AuditEvent.objects.count(),
        ThresholdSignature.objects.count(),
        list(ThresholdProposal.all_institutions.values_list("pk", "status")),
        Institution.objects.count(),
    )


def test_inbox_detail_and_signing_flow(client, proposal, aurelia, borealis, ada, beatrice):
    client.force_login(beatrice)
    inbox = client.get(_page("borealis", "proposals/"))
    assert inbox.status_code == 200
    assert "Awaiting your signature" in inbox.content.decode()
    detail = client.get(_page("borealis", f"proposals/{proposal.pk}/"))
    html = detail.content.decode()
    assert proposal.digest in html
    assert "civitas-threshold-proposal-v1" in html
    assert "City of Caldera" in html
    confirm = client.get(_page("borealis", f"proposals/{proposal.pk}/sign/"))
    assert confirm.status_code == 200 and proposal.digest in confirm.content.decode()
    response = client.post(_page("borealis", f"proposals/{proposal.pk}/sign/"), {"digest": proposal.digest})
    assert response.status_code == 302
    assert ThresholdSignature.objects.filter(proposal=proposal, authority=borealis).exists()
    client.force_login(ada)
    response = client.post(_page("aurelia", f"proposals/{proposal.pk}/sign/"), {"digest": proposal.digest})
    assert response.status_code == 302
    assert ThresholdProposal.all_institutions.get(pk=proposal.pk).status == ProposalStatus.APPROVED
    assert Institution.objects.filter(slug="city-of-caldera").exists()
    html = client.get(response["Location"]).content.decode()
    assert "the act has taken effect" in html
    assert html.count("Valid, counts") == 2


def test_signing_a_different_digest_than_shown_changes_nothing(client, proposal, ada):
    client.force_login(ada)
    before = _snapshot()
    response = client.post(_page("aurelia", f"proposals/{proposal.pk}/sign/"), {"digest": "0" * 64})
    assert response.status_code == 409
    assert _snapshot() == before


def test_signing_twice_shows_the_error_and_changes_nothing(client, proposal, ada):
    client.force_login(ada)
    client.post(_page("aurelia", f"proposals/{proposal.pk}/sign/"), {"digest": proposal.digest})
    before = _snapshot()
    response = client.post(_page("aurelia", f"proposals/{proposal.pk}/sign/"), {"digest": proposal.digest})
    assert response.status_code == 409
    assert "already signed" in response.content.decode()
    assert _snapshot() == before


def test_roles_on_pages(client, proposal, alice, bob, charlie):
    for user in (alice, bob):
        client.force_login(user)
        assert client.get(_page("aurelia", "proposals/")).status_code == 403
        before = _snapshot()
        assert (
            client.post(_page("aurelia", f"proposals/{proposal.pk}/sign/"), {"digest": proposal.digest}).status_code
            == 403
        )
        assert client.get(_page("aurelia", "proposals/new/")).status_code == 403
        assert _snapshot() == before
        assert client.get(_page("aurelia", "policies/")).status_code == 200
    client.force_login(charlie)
    before = _snapshot()
    for path in [
        "proposals/",
        f"proposals/{proposal.pk}/",
        f"proposals/{proposal.pk}/sign/",
        "policies/",
        "proposals/new/",
    ]:
        assert client.get(_page("aurelia", path)).status_code == 404
    assert (
        client.post(_page("aurelia", f"proposals/{proposal.pk}/sign/"), {"digest": proposal.digest}).status_code == 404
    )
    assert _snapshot() == before


def test_a_non_authority_admin_gets_404_for_the_proposal(client, proposal, nils):
    client.force_login(nils)
    assert client.get(_page("nordwind", f"proposals/{proposal.pk}/")).status_code == 404
    before = _snapshot()
    assert (
        client.post(_page("nordwind", f"proposals/{proposal.pk}/sign/"), {"digest": proposal.digest}).status_code == 404
    )
    assert _snapshot() == before


def test_propose_through_the_form(client, policy, aurelia, ada):
    client.force_login(ada)
    page = client.get(_page("aurelia", "proposals/new/"))
    assert page.status_code == 200 and 'name="slug"' in page.content.decode()
    before = _snapshot()
    bad = client.post(
        _page("aurelia", "proposals/new/"),
        {
            "act_type": "admit_institution",
            "name": "Caldera",
            "slug": "aurelia",
            "kind": "municipality",
            "expires_in_days": 14,
        },
    )
    assert bad.status_code == 409 and "already exists" in bad.content.decode()
    bad = client.post(
        _page("aurelia", "proposals/new/"),
        {"act_type": "admit_institution", "name": "", "slug": "x", "kind": "castle", "expires_in_days": 0},
    )
    assert bad.status_code == 400
    bad = client.post(_page("aurelia", "proposals/new/"), {"act_type": "certify_agent"})
    assert bad.status_code == 400
    assert _snapshot() == before
    response = client.post(
        _page("aurelia", "proposals/new/"),
        {
            "act_type": "admit_institution",
            "name": "City of Caldera",
            "slug": "caldera",
            "kind": "municipality",
            "expires_in_days": 7,
        },
    )
    assert response.status_code == 302
    proposal = ThresholdProposal.all_institutions.get()
    assert proposal.payload == {"name": "City of Caldera", "slug": "caldera", "kind": "municipality"}
    assert response["Location"] == _page("aurelia", f"proposals/{proposal.pk}/")


def test_withdraw_from_the_page(client, proposal, ada):
    client.force_login(ada)
    response = client.post(_page("aurelia", f"proposals/{proposal.pk}/withdraw/"), {"reason": "Duplicate"})
    assert response.status_code == 302
    assert ThresholdProposal.all_institutions.get(pk=proposal.pk).status == ProposalStatus.REJECTED
    before = _snapshot()
    response = client.post(_page("aurelia", f"proposals/{proposal.pk}/withdraw/"), {"reason": "Again"})
    assert response.status_code == 409
    assert _snapshot() == before


def test_export_download_and_policies_page(client, proposal, ada):
    client.force_login(ada)
    response = client.get(_page("aurelia", f"proposals/{proposal.pk}/export/"))
    assert response.status_code == 200 and response.json()["digest"] == proposal.digest
    assert "attachment" in response["Content-Disposition"]
    html = client.get(_page("aurelia", "policies/")).content.decode()
    assert "Admission of institutions" in html and "2 of 3" in html


def test_list_query_count_is_pinned(client, policy, aurelia, ada, django_assert_max_num_queries):
    for i in range(5):
        admission_proposal(institution=aurelia, actor=ada, slug=f"city-{i}")
    client.force_login(ada)
    with django_assert_max_num_queries(20):
        response = client.get(_page("aurelia", "proposals/"))
    assert response.status_code == 200


def test_the_confirmation_page_says_when_signing_is_not_possible(client, proposal, ada):
    client.force_login(ada)
    client.post(_page("aurelia", f"proposals/{proposal.pk}/sign/"), {"digest": proposal.digest})
    html = client.get(_page("aurelia", f"proposals/{proposal.pk}/sign/")).content.decode()
    assert "cannot sign this proposal" in html and "Yes, sign it" not in html
