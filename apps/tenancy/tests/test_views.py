"""The institution pages: dashboard per role, members, grant and revoke, the switcher."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.template import loader
from django.urls import reverse
from django.utils import translation

from apps.audit.models import AuditEvent
from apps.tenancy import dashboard
from apps.tenancy.models import Membership, Role
from portal.testing import UserFactory, member

pytestmark = pytest.mark.django_db


def url(name, institution, **kwargs):
    return reverse(name, kwargs={"institution_slug": institution.slug, **kwargs})


def aurelia_pages(aurelia, membership):
    return [
        ("get", url("tenancy:dashboard", aurelia)),
        ("get", url("tenancy:members", aurelia)),
        ("post", url("tenancy:members", aurelia)),
        ("get", url("tenancy:member", aurelia, membership_id=membership.pk)),
        ("get", url("tenancy:member_revoke", aurelia, membership_id=membership.pk)),
        ("post", url("tenancy:member_revoke", aurelia, membership_id=membership.pk)),
    ]


def state():
    """What a rejected request must leave untouched."""
    return (
        sorted(Membership.objects.values_list("user__username", "institution__slug", "role")),
        AuditEvent.objects.count(),
    )


# --- Access ------------------------------------------------------------------------


def test_charlie_gets_404_on_every_aurelia_page_and_nothing_changes(client, aurelia, charlie, ada, alice):
    membership = Membership.objects.get(user=alice, institution=aurelia)
    client.force_login(charlie)
    before = state()
    for method, path in aurelia_pages(aurelia, membership):
        data = {"username": "charlie", "role": Role.INSTITUTION_ADMIN} if method == "post" else None
        response = getattr(client, method)(path, data)
        assert response.status_code == 404, (method, path, response.status_code)
    assert state() == before


def test_a_membership_of_another_institution_is_404_even_for_an_admin(client, ada, charlie, borealis, aurelia):
    borealis_membership = Membership.objects.get(user=charlie, institution=borealis)
    client.force_login(ada)
    for name in ("tenancy:member", "tenancy:member_revoke"):
        assert client.get(url(name, aurelia, membership_id=borealis_membership.pk)).status_code == 404
    before = state()
    assert client.post(url("tenancy:member_revoke", aurelia, membership_id=borealis_membership.pk)).status_code == 404
    assert state() == before


def test_anonymous_visitors_are_sent_to_log_in(client, aurelia):
    response = client.get(url("tenancy:dashboard", aurelia))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("persona", ["bob", "alice"])
def test_members_pages_are_403_for_non_admins_and_change_nothing(client, request, persona, aurelia, ada):
    user = request.getfixturevalue(persona)
    membership = Membership.objects.get(user=ada, institution=aurelia, role=Role.INSTITUTION_ADMIN)
    client.force_login(user)
    before = state()
    assert client.get(url("tenancy:members", aurelia)).status_code == 403
    assert (
        client.post(url("tenancy:members", aurelia), {"username": user.username, "role": "auditor"}).status_code == 403
    )
    assert client.get(url("tenancy:member", aurelia, membership_id=membership.pk)).status_code == 403
    assert client.post(url("tenancy:member_revoke", aurelia, membership_id=membership.pk)).status_code == 403
    assert state() == before
    page = client.get(url("tenancy:members", aurelia))
    assert "You are not allowed to see this page" in page.content.decode()


# --- Dashboard ---------------------------------------------------------------------


def test_citizen_dashboard_says_what_they_can_do_and_shows_no_admin_panels(client, bob, aurelia):
    client.force_login(bob)
    response = client.get(url("tenancy:dashboard", aurelia))
    html = response.content.decode()
    assert response.status_code == 200
    assert "What you can do here" in html
    assert "Recent notifications" in html
    assert "Your work queue" not in html
    assert 'id="panel-members-title"' not in html
    assert "Audit log" not in html
    assert url("tenancy:members", aurelia) not in html  # no navigation link either


def test_civil_servant_dashboard_is_honest_about_the_work_queue(client, alice, aurelia):
    client.force_login(alice)
    html = client.get(url("tenancy:dashboard", aurelia)).content.decode()
    assert "Your work queue" in html
    assert "There are no tasks for you yet." in html
    assert "What you can do here" not in html


def test_admin_and_auditor_dashboard_has_members_and_audit_panels(client, ada, alice, bob, aurelia):
    from django.db import transaction

    from apps.audit.services import audit_append, audit_tree_head_sign

    with transaction.atomic():
        audit_append(institution=aurelia, actor=ada, action="tests.dashboard", target=aurelia)
    audit_tree_head_sign(force=True)
    client.force_login(ada)
    response = client.get(url("tenancy:dashboard", aurelia))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="panel-members-title"' in html
    assert '<p class="figure">3</p>' in html  # ada, alice, bob
    assert "Latest signed tree head" in html
    assert "tests.dashboard" in html
    assert url("tenancy:members", aurelia) in html
    assert "Institution administrator" in html and "Auditor" in html  # her roles


def test_dashboard_shows_recent_notifications_without_javascript(client, bob, alice, aurelia):
    from apps.notifications.services import notification_send
    from apps.tenancy.scope import institution_scope

    with institution_scope(aurelia):
        notification_send(institution=aurelia, recipient=bob, title="Your permit is ready")
        notification_send(institution=aurelia, recipient=alice, title="Not for Bob")
    client.force_login(bob)
    html = client.get(url("tenancy:dashboard", aurelia)).content.decode()
    assert "Your permit is ready" in html
    assert "Not for Bob" not in html
    assert 'data-socket-path="/ws/i/aurelia/notifications/"' in html
    assert 'aria-live="polite"' in html


def test_a_later_app_adds_a_panel_without_changing_the_dashboard(client, alice, aurelia):
    def context(request):
        return {"answer": request.institution.name}

    dashboard.register_panel(Role.CIVIL_SERVANT, "tenancy/tests_panel.html", context, order=1)
    try:
        from django.template import engines

        engine = engines["django"].engine
        from django.template.loaders.locmem import Loader

        # A template that only this test knows, served from memory.
        engine.template_loaders.insert(0, Loader(engine, {"tenancy/tests_panel.html": "<p>panel of {{ answer }}</p>"}))
        try:
            client.force_login(alice)
            html = client.get(url("tenancy:dashboard", aurelia)).content.decode()
        finally:
            engine.template_loaders.pop(0)
    finally:
        dashboard.unregister_panel(Role.CIVIL_SERVANT, "tenancy/tests_panel.html")
    assert "<p>panel of City of Aurelia</p>" in html
    assert html.index("panel of City of Aurelia") < html.index("Your work queue")  # order=1 comes first


def test_register_panel_refuses_an_unknown_role():
    with pytest.raises(ValueError):
        dashboard.register_panel("mayor", "x.html")


def test_a_panel_shows_once_for_a_person_with_two_matching_roles():
    panels = dashboard.panels_for({Role.AUDITOR, Role.INSTITUTION_ADMIN, Role.CITIZEN})
    names = [p.template_name for p in panels]
    assert len(names) == len(set(names))
    assert names[0] == "notifications/panel.html"


# --- Members -----------------------------------------------------------------------


def test_members_page_lists_people_and_roles_in_bounded_queries(
    client, ada, alice, bob, aurelia, django_assert_max_num_queries
):
    for n in range(15):
        member(UserFactory(username=f"extra{n}"), aurelia, Role.CITIZEN)
    client.force_login(ada)
    with django_assert_max_num_queries(12):
        response = client.get(url("tenancy:members", aurelia))
    html = response.content.decode()
    assert response.status_code == 200
    assert "18 people with a role" in html
    for username in ("ada", "alice", "bob", "extra14"):
        assert f'<td class="mono">{username}</td>' in html


def test_ada_grants_a_role_and_it_is_audited(client, ada, bob, aurelia):
    client.force_login(ada)
    events = AuditEvent.objects.count()
    response = client.post(url("tenancy:members", aurelia), {"username": "bob", "role": Role.COUNCIL_MEMBER})
    assert response.status_code == 302
    assert Membership.objects.filter(user=bob, institution=aurelia, role=Role.COUNCIL_MEMBER).exists()
    assert AuditEvent.objects.count() == events + 1
    assert AuditEvent.objects.filter(action="tenancy.membership.grant", actor_label="ada").exists()
    page = client.get(response["Location"])
    assert "Bob is now Council member." in page.content.decode()


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"username": "nobody", "role": Role.CITIZEN}, 400, "No account has this user name."),
        ({"username": "bob", "role": Role.CITIZEN}, 409, "Bob already has this role."),
        ({"username": "bob", "role": "mayor"}, 400, "Select a valid choice."),
        ({"username": "", "role": Role.CITIZEN}, 400, "This field is required."),
    ],
)
def test_bad_grant_input_shows_an_error_and_changes_nothing(client, ada, bob, aurelia, data, status, message):
    client.force_login(ada)
    before = state()
    response = client.post(url("tenancy:members", aurelia), data)
    html = response.content.decode()
    assert response.status_code == status
    assert message in html
    assert "There is a problem" in html
    assert 'aria-invalid="true"' in html or message == "Bob already has this role."
    assert state() == before


def test_a_grant_to_charlie_of_another_institution_works_only_inside_aurelia(client, ada, charlie, aurelia, borealis):
    client.force_login(ada)
    client.post(url("tenancy:members", aurelia), {"username": "charlie", "role": Role.CITIZEN})
    assert Membership.objects.filter(user=charlie, institution=aurelia, role=Role.CITIZEN).exists()
    assert set(Membership.objects.filter(user=charlie, institution=borealis).values_list("role", flat=True)) == {
        Role.CIVIL_SERVANT
    }


def test_revoke_asks_first_then_removes_the_role(client, ada, alice, aurelia):
    membership = Membership.objects.get(user=alice, institution=aurelia)
    client.force_login(ada)
    confirm = client.get(url("tenancy:member_revoke", aurelia, membership_id=membership.pk))
    assert confirm.status_code == 200
    assert "Yes, revoke the role" in confirm.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()

    events = AuditEvent.objects.count()
    response = client.post(url("tenancy:member_revoke", aurelia, membership_id=membership.pk), follow=True)
    assert response.redirect_chain[-1][0] == url("tenancy:members", aurelia)
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEvent.objects.filter(action="tenancy.membership.revoke").count() == 1
    assert AuditEvent.objects.count() == events + 1
    messages = [str(m) for m in get_messages(response.wsgi_request)] or [response.content.decode()]
    assert any("Alice is no longer Civil servant." in m for m in messages)


def test_the_last_administrator_cannot_be_revoked(client, ada, aurelia):
    membership = Membership.objects.get(user=ada, institution=aurelia, role=Role.INSTITUTION_ADMIN)
    client.force_login(ada)
    before = state()
    response = client.post(url("tenancy:member_revoke", aurelia, membership_id=membership.pk))
    assert response.status_code == 409
    assert "An institution must keep at least one administrator." in response.content.decode()
    assert state() == before


def test_member_detail_shows_what_changed(client, ada, bob, aurelia):
    client.force_login(ada)
    client.post(url("tenancy:members", aurelia), {"username": "bob", "role": Role.AUDITOR})
    granted = Membership.objects.get(user=bob, institution=aurelia, role=Role.AUDITOR)
    client.post(url("tenancy:member_revoke", aurelia, membership_id=granted.pk))
    citizen = Membership.objects.get(user=bob, institution=aurelia, role=Role.CITIZEN)

    response = client.get(url("tenancy:member", aurelia, membership_id=citizen.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert "What changed" in html
    assert html.count("<td>Granted</td>") == 2  # citizen (fixture) and auditor
    assert html.count("<td>Revoked</td>") == 1
    assert "<td>Ada</td>" in html  # who did it, from the request
    # The revoked role is history, not a current role.
    current = html[html.index("Current roles") : html.index("What changed")]
    assert "Citizen" in current and "Auditor" not in current


# --- Switching and choosing --------------------------------------------------------


def test_the_switcher_goes_to_the_chosen_institution(client, aurelia, borealis, alice):
    member(alice, borealis, Role.CITIZEN)
    client.force_login(alice)
    html = client.get(url("tenancy:dashboard", aurelia)).content.decode()
    assert 'id="institution-switcher"' in html and '<label for="institution-switcher">' in html
    assert 'value="borealis"' in html
    response = client.get(reverse("institution_switch"), {"institution": "borealis"})
    assert response.status_code == 302
    assert response["Location"] == url("tenancy:dashboard", borealis)


def test_the_switcher_refuses_an_institution_you_are_not_in(client, alice, borealis):
    client.force_login(alice)
    assert client.get(reverse("institution_switch"), {"institution": "borealis"}).status_code == 404
    assert client.get(reverse("institution_switch"), {"institution": "no-such-place"}).status_code == 404


def test_the_switcher_without_a_choice_lists_your_institutions(client, alice, aurelia, borealis):
    member(alice, borealis, Role.CITIZEN)
    client.force_login(alice)
    html = client.get(reverse("institution_switch")).content.decode()
    assert "Choose an institution" in html
    assert url("tenancy:dashboard", aurelia) in html and url("tenancy:dashboard", borealis) in html


def test_a_person_with_no_institution_gets_an_honest_explanation(client):
    client.force_login(UserFactory(username="newcomer"))
    response = client.get(reverse("home"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "You are not a member of any institution yet" in html
    assert "newcomer" in html


def test_home_for_anonymous_visitors_offers_log_in_and_sign_up(client):
    html = client.get(reverse("home")).content.decode()
    assert "Civitas is where ministries" in html
    assert reverse("account_login") in html and reverse("account_signup") in html
    assert 'class="skip-link" href="#main"' in html
    assert '<main id="main"' in html


# --- Layout, language, errors -------------------------------------------------------


def test_layout_has_no_inline_scripts_or_styles(client, ada, aurelia):
    client.force_login(ada)
    for path in (reverse("home"), url("tenancy:dashboard", aurelia), url("tenancy:members", aurelia)):
        html = client.get(path, follow=True).content.decode()
        assert "<script>" not in html and "style=" not in html and "<style" not in html, path
        assert "onclick" not in html and "onchange" not in html


def test_navigation_follows_roles(client, ada, bob, aurelia):
    client.force_login(ada)
    html = client.get(url("tenancy:dashboard", aurelia)).content.decode()
    assert f'href="{url("tenancy:members", aurelia)}"' in html
    assert f'href="{url("notifications:list", aurelia)}"' in html
    assert 'href="/api/docs/"' in html
    assert 'aria-current="page">Dashboard' in html
    assert f'action="{reverse("account_logout")}"' in html  # log out is a POST form


def test_the_portal_speaks_french(client, bob, aurelia):
    client.force_login(bob)
    client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    try:
        html = client.get(url("tenancy:dashboard", aurelia)).content.decode()
    finally:
        translation.activate(settings.LANGUAGE_CODE)  # the request left French active in this thread
    assert '<html lang="fr">' in html
    assert "Notifications récentes" in html
    assert "Ce que vous pouvez faire ici" in html
    assert "Citoyen" in html  # the role, from the model's choices


def test_the_500_page_renders_without_a_request_or_database():
    with translation.override("en"):
        html = loader.get_template("errors/500.html").render()
    assert "Something went wrong on our side" in html
    assert "portal.css" in html


def test_application_errors_are_shown_on_their_template(rf):
    from portal.errors import Conflict

    html = loader.get_template("errors/application_error.html").render({"error": Conflict("It clashes.")}, rf.get("/"))
    assert "It clashes." in html and "conflict" in html and "409" in html
