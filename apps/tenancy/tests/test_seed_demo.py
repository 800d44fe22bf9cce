"""The demo federation: what `seed_demo` creates, that it creates it once, and `demo_totp`."""

from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent, SignedTreeHead
from apps.identity.models import Credential, ResidenceRequest, ResidenceRequestStatus, SigningKey, User
from apps.identity.oauth.models import IntegratorClient
from apps.identity.wallet.selectors import credentials_held_with_state
from apps.notifications.models import Notification
from apps.tenancy.management.commands.seed_demo import DEMO_PASSWORD, PERSONAS, demo_totp_secret
from apps.tenancy.models import Institution, InstitutionKind, Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def development(settings):
    settings.DEBUG = True  # pytest-django forces DEBUG off; seed_demo is for development nodes


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    return (
        {
            model.__name__: model.objects.count()
            for model in (Institution, User, Membership, EmailAddress, Authenticator, AuditEvent, SignedTreeHead)
        }
        | {
            model.__name__: model.all_institutions.count()
            for model in (IntegratorClient, ResidenceRequest, Credential, Notification)
        }
        | {"SigningKey": SigningKey.objects.count()}
    )


def test_five_institutions_of_every_kind_the_demo_needs(development):
    seed()

    assert dict(Institution.objects.values_list("slug", "kind")) == {
        "ministry-interior": InstitutionKind.MINISTRY,
        "aurelia": InstitutionKind.MUNICIPALITY,
        "borealis": InstitutionKind.MUNICIPALITY,
        "nordwind": InstitutionKind.ENTERPRISE,
        "audit-office": InstitutionKind.AUDIT_OFFICE,
    }
    assert Institution.objects.get(slug="aurelia").name == "City of Aurelia"
    assert all(did.startswith("did:web:") for did in Institution.objects.values_list("did", flat=True))


def test_every_role_has_a_persona_who_can_sign_in(development):
    seed()

    assert set(Membership.objects.values_list("role", flat=True)) == set(Role.values)
    for persona in PERSONAS:
        user = User.objects.get(username=persona.username)
        assert user.check_password(DEMO_PASSWORD)
        assert EmailAddress.objects.filter(user=user, email=user.email, verified=True, primary=True).exists()


def test_roles_that_require_mfa_have_totp_with_the_printed_secret(development, settings):
    output = seed()

    for persona in PERSONAS:
        user = User.objects.get(username=persona.username)
        roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
        totp = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
        if roles & set(settings.CIVITAS_MFA_REQUIRED_ROLES):
            assert totp is not None, persona.username
            assert demo_totp_secret(persona.username) in output
        elif Role.CITIZEN in roles:
            assert totp is None  # citizens sign in with a password alone (unless drawn onto a council)
    assert "demo-password-2026" in output


def test_the_demo_is_in_the_audit_log_sequenced_and_signed(development):
    seed()

    assert AuditEvent.objects.filter(action="tenancy.institution.create").count() == 5
    assert AuditEvent.objects.filter(action="tenancy.membership.grant").count() == Membership.objects.count()
    assert not AuditEvent.objects.filter(sequence__isnull=True).exists()
    head = SignedTreeHead.objects.order_by("-tree_size").first()
    assert head is not None and head.tree_size == AuditEvent.objects.count()


def test_seeding_twice_changes_nothing(development):
    seed()
    first = row_counts()
    passwords = dict(User.objects.values_list("username", "password"))

    output = seed()

    assert row_counts() == first
    assert dict(User.objects.values_list("username", "password")) == passwords
    assert "0 new audit event(s)" in output
    assert first["IntegratorClient"] == 1 and first["ResidenceRequest"] == 2 and first["Credential"] >= 1
    assert "client secret: shown only when the client was created" in output


def test_ivan_s_integrator_client_is_registered_by_nordwind_s_admin_and_its_secret_printed_once(development):
    output = seed()

    client = IntegratorClient.all_institutions.select_related("application", "institution", "created_by").get()
    application = client.application
    assert client.institution.slug == "nordwind" and client.created_by.username == "nils"
    assert application.client_type == application.CLIENT_CONFIDENTIAL
    assert application.authorization_grant_type == application.GRANT_CLIENT_CREDENTIALS
    assert client.service_user is not None
    assert AuditEvent.objects.filter(action="identity.integrator_client.create").count() == 1
    assert application.client_id in output
    secret = output.split("client secret: ", 1)[1].split()[0]
    assert check_password(secret, application.client_secret)  # the printed secret is the client's
    assert f"/i/nordwind/integrators/{client.pk}/" in output and "Rotate the secret" in output

    again = seed()

    assert application.client_id in again and secret not in again


def test_residence_requests_one_waiting_and_clara_s_credential_in_her_wallet(development):
    seed()

    cyril = ResidenceRequest.all_institutions.get(applicant__username="cyril")
    assert cyril.institution.slug == "borealis" and cyril.status == ResidenceRequestStatus.SUBMITTED
    clara = ResidenceRequest.all_institutions.select_related("decided_by", "credential").get(
        applicant__username="clara"
    )
    assert clara.institution.slug == "aurelia" and clara.status == ResidenceRequestStatus.APPROVED
    assert clara.decided_by.username == "sam"
    assert AuditEvent.objects.filter(action="identity.residence.approve", actor_label="sam").exists()
    held = credentials_held_with_state(user=User.objects.get(username="clara"))
    assert [h.credential.pk for h in held] == [clara.credential.pk]
    assert held[0].state == "valid"
    assert "ResidenceCredential" in held[0].credential.document["type"]


def test_refuses_to_seed_a_production_node(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG=true"):
        call_command("seed_demo", stdout=StringIO())

    assert Institution.objects.count() == 0
    assert User.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_demo_totp_prints_a_code_the_login_accepts(development):
    seed()
    out = StringIO()

    call_command("demo_totp", "audra", stdout=out, stderr=StringIO())

    code = out.getvalue().strip()
    authenticator = Authenticator.objects.get(user__username="audra", type=Authenticator.Type.TOTP)
    assert len(code) == 6
    assert TOTP(authenticator).validate_code(code)


def test_demo_totp_never_shows_a_code_that_is_not_the_demo_s(development, ada):
    seed()
    audra = User.objects.get(username="audra")
    Authenticator.objects.filter(user=audra).delete()
    TOTP.activate(audra, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")  # audra enrolled her own app

    with pytest.raises(CommandError, match="not a demo persona"):
        call_command("demo_totp", ada.username, stdout=StringIO())
    with pytest.raises(CommandError, match="own authenticator"):
        call_command("demo_totp", "audra", stdout=StringIO())
    with pytest.raises(CommandError, match="password alone"):
        call_command("demo_totp", "clara", stdout=StringIO())
