"""Tenant-owned models fail closed, and every way in sets the scope."""

import pytest
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.notifications.models import Notification
from apps.notifications.services import notification_send
from apps.tenancy import services
from apps.tenancy.models import Membership, Role
from apps.tenancy.scope import (
    TenancyScopeMissing,
    TenancyViolation,
    current_institution,
    institution_scope,
    institution_task,
)
from portal.errors import Conflict, PermissionDenied, ValidationFailed


@pytest.mark.django_db
def test_default_manager_refuses_to_query_without_scope(aurelia, ada):
    with institution_scope(aurelia):
        notification_send(institution=aurelia, recipient=ada, title="Hello")
    with pytest.raises(TenancyScopeMissing):
        list(Notification.objects.all())
    # The explicit cross-institution manager still works, and says so at the call site.
    assert Notification.all_institutions.count() == 1


@pytest.mark.django_db
def test_scope_only_returns_rows_of_the_institution_in_scope(aurelia, borealis, ada, charlie):
    with institution_scope(aurelia):
        notification_send(institution=aurelia, recipient=ada, title="For Aurelia")
    with institution_scope(borealis):
        notification_send(institution=borealis, recipient=charlie, title="For Borealis")
        assert [n.title for n in Notification.objects.all()] == ["For Borealis"]
    with institution_scope(aurelia):
        assert [n.title for n in Notification.objects.all()] == ["For Aurelia"]
    assert current_institution() is None


@pytest.mark.django_db
def test_writing_another_institutions_row_inside_a_scope_is_refused(aurelia, borealis, ada):
    with institution_scope(borealis), pytest.raises(TenancyViolation):
        Notification(institution=aurelia, recipient=ada, title="smuggled").save()
    assert Notification.all_institutions.count() == 0


@pytest.mark.django_db
def test_task_decorator_runs_the_body_in_the_institutions_scope(aurelia):
    seen = {}

    @institution_task
    def body(*, institution_id):
        seen["scope"] = current_institution()

    body(institution_id=aurelia.pk)
    assert seen["scope"] == aurelia
    assert current_institution() is None


@pytest.mark.django_db
def test_institution_create_validates_and_audits(db):
    with pytest.raises(ValidationFailed) as excinfo:
        services.institution_create(name="", kind="castle")
    assert set(excinfo.value.extra["errors"]) == {"name", "slug", "kind"}
    assert AuditEvent.objects.count() == 0

    city = services.institution_create(name="City of Caldera", kind="municipality")
    assert city.slug == "city-of-caldera"
    assert city.did.endswith(":institutions:city-of-caldera")
    assert AuditEvent.objects.filter(action="tenancy.institution.create", target_id=str(city.pk)).count() == 1

    with pytest.raises(Conflict):
        services.institution_create(name="City of Caldera", kind="municipality")
    assert AuditEvent.objects.filter(action="tenancy.institution.create").count() == 1


@pytest.mark.django_db
def test_only_admins_grant_roles_and_every_change_is_audited(aurelia, ada, alice, bob):
    with pytest.raises(PermissionDenied):
        services.membership_grant(institution=aurelia, user=bob, role=Role.AUDITOR, actor=alice)
    assert not Membership.objects.filter(user=bob, role=Role.AUDITOR).exists()
    assert not AuditEvent.objects.filter(action="tenancy.membership.grant").exists()

    membership = services.membership_grant(institution=aurelia, user=bob, role=Role.AUDITOR, actor=ada)
    event = AuditEvent.objects.get(action="tenancy.membership.grant")
    assert event.actor_label == "ada" and event.changes == {"user": "bob", "role": "auditor"}

    with pytest.raises(Conflict):
        services.membership_grant(institution=aurelia, user=bob, role=Role.AUDITOR, actor=ada)

    services.membership_revoke(membership=membership, actor=ada)
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.filter(action="tenancy.membership.revoke").count() == 1


@pytest.mark.django_db
def test_the_last_administrator_cannot_be_removed(aurelia, ada):
    admin_role = Membership.objects.get(user=ada, role=Role.INSTITUTION_ADMIN)
    with pytest.raises(Conflict):
        services.membership_revoke(membership=admin_role, actor=ada)
    assert Membership.objects.filter(pk=admin_role.pk).exists()


@pytest.mark.django_db
def test_a_failed_write_leaves_no_audit_event(aurelia, ada, bob):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.membership_grant(institution=aurelia, user=bob, role=Role.AUDITOR, actor=ada)
        raise RuntimeError("crash after the write, before commit")
    assert not Membership.objects.filter(user=bob, role=Role.AUDITOR).exists()
    assert not AuditEvent.objects.filter(action="tenancy.membership.grant").exists()
