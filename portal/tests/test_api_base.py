"""The API's shared behaviour: problem+json errors, authentication, pagination, schema."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.tenancy.models import Membership
from portal.testing import api_as


@pytest.mark.django_db
def test_anonymous_calls_get_a_401_problem(api_client, aurelia):
    response = api_client.get(f"/api/v1/institutions/{aurelia.slug}/members/")
    assert response.status_code in (401, 403)
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert body["status"] == response.status_code
    assert body["code"] in {"not_authenticated", "authentication_failed"}
    assert body["type"].endswith(body["code"])


@pytest.mark.django_db
def test_validation_errors_name_the_fields_and_change_nothing(aurelia, ada):
    before = (Membership.objects.count(), AuditEvent.objects.count())
    response = api_as(ada).post(
        f"/api/v1/institutions/{aurelia.slug}/members/", {"username": "", "role": "emperor"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert set(body["errors"]) == {"username", "role"}
    assert (Membership.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.django_db
def test_a_domain_error_becomes_a_problem_with_its_stable_code(aurelia, ada, bob):
    response = api_as(ada).post(
        f"/api/v1/institutions/{aurelia.slug}/members/", {"username": "bob", "role": "citizen"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


@pytest.mark.django_db
def test_unknown_user_is_a_validation_problem(aurelia, ada):
    response = api_as(ada).post(
        f"/api/v1/institutions/{aurelia.slug}/members/", {"username": "nobody", "role": "citizen"}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()["errors"]


@pytest.mark.django_db
def test_admin_grants_and_revokes_over_the_api(aurelia, ada, bob):
    client = api_as(ada)
    response = client.post(
        f"/api/v1/institutions/{aurelia.slug}/members/", {"username": "bob", "role": "auditor"}, format="json"
    )
    assert response.status_code == 201, response.json()
    membership_id = response.json()["id"]
    assert AuditEvent.objects.filter(action="tenancy.membership.grant").count() == 1
    assert client.delete(f"/api/v1/institutions/{aurelia.slug}/members/{membership_id}/").status_code == 204
    assert not Membership.objects.filter(pk=membership_id).exists()


@pytest.mark.django_db
def test_a_non_admin_cannot_grant_and_nothing_changes(aurelia, alice, bob):
    before = (Membership.objects.count(), AuditEvent.objects.count())
    response = api_as(alice).post(
        f"/api/v1/institutions/{aurelia.slug}/members/", {"username": "bob", "role": "auditor"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    # Zero trust: the refusal itself is audited (identity.api_forbidden); nothing else changed.
    assert (Membership.objects.count(), AuditEvent.objects.exclude(action="identity.api_forbidden").count()) == before
    assert AuditEvent.objects.filter(action="identity.api_forbidden").count() == 1


@pytest.mark.django_db
def test_malformed_json_is_a_problem(aurelia, ada):
    response = api_as(ada).generic(
        "POST", f"/api/v1/institutions/{aurelia.slug}/members/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


@pytest.mark.django_db
def test_member_list_is_paginated_and_its_queries_are_pinned(aurelia, ada, alice, bob, django_assert_max_num_queries):
    from portal.testing import UserFactory, member

    for i in range(30):
        member(UserFactory(username=f"resident{i}"), aurelia, "citizen")
    client = api_as(ada)
    with django_assert_max_num_queries(8):
        response = client.get(f"/api/v1/institutions/{aurelia.slug}/members/?page_size=20")
    body = response.json()
    assert body["count"] == 34 and len(body["results"]) == 20 and body["next"]


@pytest.mark.django_db
def test_institutions_list_shows_only_mine(aurelia, borealis, alice):
    response = api_as(alice).get(reverse("api-institutions"))
    assert [i["slug"] for i in response.json()] == ["aurelia"]


def test_openapi_schema_validates_without_warnings():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


@pytest.mark.django_db
def test_schema_and_docs_pages_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_an_institution_endpoint_must_declare_its_roles():
    from portal.api import InstitutionScopedAPIView

    with pytest.raises(TypeError, match="required_roles"):

        class Forgetful(InstitutionScopedAPIView):
            def get(self, request, institution_slug):
                return None


@pytest.mark.django_db
def test_citizens_do_not_see_who_else_belongs(aurelia, bob):
    response = api_as(bob).get(f"/api/v1/institutions/{aurelia.slug}/members/")
    assert response.status_code == 403


@pytest.mark.django_db
def test_an_unknown_api_url_is_a_problem_document(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")
