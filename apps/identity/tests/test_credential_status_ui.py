"""Civil servants suspend, reinstate and revoke from the credential's page."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.identity.credentials.services import credential_issue
from apps.identity.credentials.verify import verify_credential
from apps.identity.models import Credential, CredentialStatus
from apps.tenancy.scope import institution_scope


@pytest.fixture
def credential(aurelia, alice):
    with institution_scope(aurelia):
        return credential_issue(
            institution=aurelia,
            subject={"id": "did:example:holder", "permit": "Market stall, plot 17"},
            types=["PermitCredential"],
            actor=alice,
        )


def _status_url(credential):
    return reverse("credentials:status", kwargs={"institution_slug": "aurelia", "credential_id": credential.uuid})


def _detail(client, credential):
    url = reverse("credentials:detail", kwargs={"institution_slug": "aurelia", "credential_id": credential.uuid})
    return client.get(url).content.decode()


@pytest.mark.django_db
def test_suspend_then_reinstate_then_revoke_from_the_page(client, alice, credential):
    client.force_login(alice)
    assert 'value="suspend"' in _detail(client, credential)

    response = client.post(_status_url(credential), {"action": "suspend", "reason": "Inspection pending"}, follow=True)
    assert "verifiers now see it as suspended" in response.content.decode()
    credential.refresh_from_db()
    assert credential.status == CredentialStatus.SUSPENDED
    assert [e["code"] for e in verify_credential(credential.document)["errors"]] == ["suspended"]

    client.post(_status_url(credential), {"action": "reinstate", "reason": "Inspection passed"})
    credential.refresh_from_db()
    assert credential.status == CredentialStatus.ACTIVE
    assert verify_credential(credential.document)["verified"] is True

    client.post(_status_url(credential), {"action": "revoke", "reason": "Stall closed", "confirm_final": "yes"})
    credential.refresh_from_db()
    assert credential.status == CredentialStatus.REVOKED
    assert [e["code"] for e in verify_credential(credential.document)["errors"]] == ["revoked"]
    assert 'value="reinstate"' not in _detail(client, credential)
    reasons = list(
        AuditEvent.objects.filter(target_id=str(credential.pk), action__startswith="identity.credential.")
        .exclude(action="identity.credential.issue")
        .values_list("changes__reason", flat=True)
    )
    assert reasons == ["Inspection pending", "Inspection passed", "Stall closed"]


@pytest.mark.django_db
def test_revoking_needs_the_confirmation_and_changes_nothing_without_it(client, alice, credential):
    client.force_login(alice)
    events = AuditEvent.objects.count()
    response = client.post(_status_url(credential), {"action": "revoke", "reason": "oops"}, follow=True)
    assert "Revocation is final" in response.content.decode()
    credential.refresh_from_db()
    assert credential.status == CredentialStatus.ACTIVE
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_an_impossible_change_is_explained_and_changes_nothing(client, alice, credential):
    client.force_login(alice)
    events = AuditEvent.objects.count()
    response = client.post(_status_url(credential), {"action": "reinstate", "reason": ""}, follow=True)
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode() or "message--error" in response.content.decode()
    assert Credential.all_institutions.get(pk=credential.pk).status == CredentialStatus.ACTIVE
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_an_auditor_reads_but_cannot_change(client, ada, credential, aurelia):
    from apps.tenancy.models import Membership

    Membership.objects.filter(user=ada, institution=aurelia, role="institution_admin").delete()
    client.force_login(ada)
    assert 'value="suspend"' not in _detail(client, credential)
    client.post(_status_url(credential), {"action": "suspend", "reason": "no"})
    assert Credential.all_institutions.get(pk=credential.pk).status == CredentialStatus.ACTIVE


@pytest.mark.django_db
def test_citizens_get_403(client, bob, credential):
    client.force_login(bob)
    assert client.post(_status_url(credential), {"action": "suspend"}).status_code == 403
    assert Credential.all_institutions.get(pk=credential.pk).status == CredentialStatus.ACTIVE
