"""Logins, throttling, MFA for privileged roles, API tokens."""

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.tenancy.models import Role
from portal.testing import TEST_PASSWORD, UserFactory, current_totp_code, member


def _verified(user):
    EmailAddress.objects.get_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    return user


@pytest.mark.django_db
def test_a_login_and_a_failure_land_in_the_audit_log(client, alice):
    _verified(alice)
    response = client.post(reverse("account_login"), {"login": "alice", "password": "wrong password!"})
    assert response.status_code == 200  # the form again, with its error
    assert "_auth_user_id" not in client.session
    failed = AuditEvent.objects.get(action="identity.login_failed")
    assert failed.changes["attempted_login"] == "alice"
    assert "wrong password" not in str(failed.changes)

    response = client.post(reverse("account_login"), {"login": "alice", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="identity.login", actor_label="alice").count() == 1


@pytest.mark.django_db
def test_repeated_failures_are_throttled(client, alice, settings):
    _verified(alice)
    for _ in range(5):
        client.post(reverse("account_login"), {"login": "alice", "password": "wrong password!"})
    response = client.post(reverse("account_login"), {"login": "alice", "password": TEST_PASSWORD})
    # Even the right password is refused while the account is throttled.
    assert "_auth_user_id" not in client.session
    assert response.status_code == 200
    assert b"Too many failed login attempts" in response.content
    assert AuditEvent.objects.filter(action="identity.login").count() == 0


@pytest.mark.django_db
def test_privileged_roles_are_sent_to_mfa_setup_until_enrolled(client, aurelia):
    carol = member(UserFactory(username="carol"), aurelia, Role.COUNCIL_MEMBER)
    client.force_login(carol)
    response = client.get(reverse("tenancy:dashboard", kwargs={"institution_slug": "aurelia"}))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")
    # The API refuses too, with a problem document.
    response = client.get(f"/api/v1/institutions/{aurelia.slug}/")
    assert response.status_code == 403
    assert response.json()["code"] == "mfa_required"


@pytest.mark.django_db
def test_citizens_need_no_second_factor(client, bob):
    client.force_login(bob)
    response = client.get(reverse("tenancy:dashboard", kwargs={"institution_slug": "aurelia"}))
    assert response.status_code == 200


@pytest.mark.django_db
def test_api_token_for_a_privileged_role_needs_the_totp_code(api_client, ada):
    url = reverse("api-token-create")
    response = api_client.post(url, {"username": "ada", "password": TEST_PASSWORD})
    assert response.status_code == 401
    assert response.json()["code"] == "otp_required"
    assert not AuditEvent.objects.filter(action="identity.api_token.create").exists()

    response = api_client.post(url, {"username": "ada", "password": TEST_PASSWORD, "otp": current_totp_code()})
    assert response.status_code == 201
    token = response.json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api_client.get(reverse("api-me")).json()["username"] == "ada"
    assert AuditEvent.objects.filter(action="identity.api_token.create").count() == 1

    assert api_client.post(reverse("api-token-revoke")).status_code == 204
    assert api_client.get(reverse("api-me")).status_code == 401


@pytest.mark.django_db
def test_api_token_with_a_wrong_password_is_a_problem_and_creates_nothing(api_client, alice):
    from knox.models import AuthToken

    response = api_client.post(reverse("api-token-create"), {"username": "alice", "password": "nope"})
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert AuthToken.objects.count() == 0
